// xrayr-mesh doctor: reads what attribution depends on from the live cluster, runs the checks
// of src/doctor/checks.ts and prints pass / warn / fail with the fix for each. Exit status 1
// when any check fails.
import type { AddressPolicy } from "../crd/address.js";
import { statusCode } from "../controller/api-errors.js";
import { ClusterReads } from "../apply/cluster-reads.js";
import { XrayrNodeClient } from "../apply/xrayrnodes.js";
import { runChecks, type DoctorFacts, type Fact, type IstioResource } from "../doctor/checks.js";
import type { Context } from "./context.js";
import { describeError } from "./errors.js";
import { print, table, type Format, type Printable } from "./output.js";
import type { CheckResult } from "../doctor/checks.js";

export interface DoctorOptions {
  output: Format;
  xboardSelector: string;
  xboardService: string;
  istioNamespace: string;
  leaseName: string;
  addressPolicy: AddressPolicy;
}

async function fact<T>(read: () => Promise<T>, server: string, ifNotFound?: () => T): Promise<Fact<T>> {
  try {
    return { ok: true, value: await read() };
  } catch (err) {
    if (statusCode(err) === 404 && ifNotFound !== undefined) return { ok: true, value: ifNotFound() };
    return { ok: false, error: describeError(err, server) };
  }
}

export async function gatherFacts(ctx: Context, opts: DoctorOptions): Promise<DoctorFacts> {
  const ns = ctx.namespace;
  const read = new ClusterReads(ctx.kc);
  // The first read also tells whether the cluster answers at all: if not, one sentence and out.
  const crdNames = await read.crdNames();
  const s = ctx.server;
  const [namespaceObject, xboardPods, istiod, service, workloadGroups, serviceEntries, entries, nodes, lease] = await Promise.all([
    fact(() => read.namespace(ns), s, () => undefined),
    fact(() => read.pods(ns, opts.xboardSelector), s, () => []),
    fact(() => read.deployments(opts.istioNamespace, "app=istiod"), s, () => []),
    fact(() => read.service(ns, opts.xboardService), s, () => undefined),
    fact(() => read.istio<IstioResource>(ns, "workloadgroups"), s, () => []),
    fact(() => read.istio<IstioResource>(ns, "serviceentries"), s, () => []),
    fact(() => read.entries(ns), s, () => []),
    fact(() => new XrayrNodeClient(ctx.kc, ns).list(), s, () => []),
    fact(() => read.lease(ns, opts.leaseName), s, () => undefined),
  ]);
  return {
    namespace: ns,
    xboardSelector: opts.xboardSelector,
    xboardService: opts.xboardService,
    istioNamespace: opts.istioNamespace,
    leaseName: opts.leaseName,
    addressPolicy: opts.addressPolicy,
    crds: { ok: true, value: crdNames },
    namespaceObject,
    xboardPods,
    istiod,
    service,
    workloadGroups,
    serviceEntries,
    entries,
    nodes,
    lease,
    now: new Date(),
  };
}

/** The checks' results as doctor prints them. */
export function doctorView(results: readonly CheckResult[], namespace: string, server: string): Printable {
  return {
    data: () => ({ namespace, server, results }),
    table: () => {
      const failed = results.filter((r) => r.verdict === "fail").length;
      const warned = results.filter((r) => r.verdict === "warn").length;
      const rows = results.flatMap((r) => [[r.verdict.toUpperCase(), r.check, r.detail], ...(r.fix !== "" ? [["", "", `fix: ${r.fix}`]] : [])]);
      return `Doctor for ${namespace} at ${server}\n${table(["VERDICT", "CHECK", "DETAIL"], rows)}\n${results.length - failed - warned} passed, ${warned} warned, ${failed} failed.`;
    },
  };
}

export async function runDoctor(ctx: Context, opts: DoctorOptions): Promise<number> {
  const results = runChecks(await gatherFacts(ctx, opts));
  print(doctorView(results, ctx.namespace, ctx.server), opts.output);
  return results.some((r) => r.verdict === "fail") ? 1 : 0;
}
