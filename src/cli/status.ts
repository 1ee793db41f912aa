// xrayr-mesh status: one line a node: name, address, country, Ready and its reason, whether
// it has a WorkloadEntry (one of ours the node controls: entries are named <node>-<hash>, so never
// found by the node's name), and age. `wide` adds version, VPS id, who wrote it, the entry's
// name, its WorkloadGroup and the Ready message; json and yaml print the same facts as a list.
import { ClusterReads } from "../apply/cluster-reads.js";
import { XrayrNodeClient } from "../apply/xrayrnodes.js";
import type { XrayrNode } from "../api/v1alpha1/types.js";
import { isSynced, REGISTERED_BY_LABEL } from "../fleet/labels.js";
import { normaliseCountry, vpsIdOf } from "../domain/vps.js";
import type { WorkloadEntry } from "../istio/workloadentry.js";
import { controllerUid, isOurs } from "../domain/ownership.js";
import { groupCondition, isGroupReady, isReady, readyCondition } from "../domain/readiness.js";
import type { Context } from "./context.js";
import { age, print, table, type Format, type Printable } from "./output.js";

export interface NodeStatusRow {
  name: string;
  address: string;
  country: string;
  /** The Ready condition's status, as the API server holds it ("Unknown" before the first). */
  ready: string;
  /** Ready as every part reads it (domain/readiness.ts). */
  isReady: boolean;
  reason: string;
  message: string;
  /** Its WorkloadGroup: "yes" when in place (WorkloadGroupReady), else that condition's reason; "-" before the first. */
  group: string;
  /** The node controls a WorkloadEntry. */
  entry: boolean;
  /** The names of the entries it controls (one when converged; sorted). */
  entries: string[];
  age: string;
  createdAt: string | undefined;
  version: string;
  vpsId: string;
  source: string;
}

/** Who owns the node: sigma-api's label wins over sync's (see isSynced), then sync, else "other". */
export function sourceOf(n: XrayrNode): string {
  const registeredBy = n.metadata.labels?.[REGISTERED_BY_LABEL];
  if (registeredBy !== undefined) return registeredBy;
  if (isSynced(n)) return "sync";
  return "other";
}

export function statusRows(nodes: readonly XrayrNode[], entries: readonly WorkloadEntry[], now = new Date()): NodeStatusRow[] {
  // An entry is the node's when it is ours and the node controls it (an XrayrNode owner
  // reference with its uid), whatever its name.
  const controlled = new Map<string, string[]>();
  for (const e of entries) {
    const uid = controllerUid(e);
    if (uid !== undefined && isOurs(e)) controlled.set(uid, [...(controlled.get(uid) ?? []), e.metadata.name ?? ""]);
  }
  return [...nodes]
    .sort((a, b) => (a.metadata.name ?? "").localeCompare(b.metadata.name ?? ""))
    .map((n) => {
      const c = readyCondition(n.status);
      const g = groupCondition(n.status);
      const created = n.metadata.creationTimestamp;
      const own = n.metadata.uid === undefined ? [] : [...(controlled.get(n.metadata.uid) ?? [])].sort();
      return {
        name: n.metadata.name ?? "",
        address: n.spec.address,
        country: n.spec.country,
        ready: c?.status ?? "Unknown",
        isReady: isReady(n),
        reason: c?.reason ?? "Pending",
        message: c?.message ?? "",
        group: g === undefined ? "-" : isGroupReady(n) ? "yes" : g.reason,
        entry: own.length > 0,
        entries: own,
        age: age(created, now),
        createdAt: created === undefined ? undefined : new Date(created).toISOString(),
        version: n.spec.version ?? "v1",
        vpsId: vpsIdOf(n) ?? "",
        source: sourceOf(n),
      };
    });
}

/** The rows as status prints them. */
export function statusView(rows: readonly NodeStatusRow[], namespace: string, country: string | undefined): Printable {
  return {
    data: () => rows.map(({ age: _a, ...r }) => r),
    table: (wide) => {
      if (rows.length === 0) return `No XrayrNodes in ${namespace}${country !== undefined ? ` with country ${country}` : ""}.`;
      const header = ["NAME", "ADDRESS", "COUNTRY", "READY", "REASON", "ENTRY", "AGE", ...(wide ? ["VERSION", "VPS", "SOURCE", "WORKLOADENTRY", "GROUP", "MESSAGE"] : [])];
      const body = rows.map((r) => [
        r.name,
        r.address,
        r.country,
        r.ready,
        r.reason,
        r.entry ? "yes" : "no",
        r.age,
        ...(wide ? [r.version, r.vpsId || "-", r.source, r.entries.join(",") || "-", r.group, r.message] : []),
      ]);
      const ready = rows.filter((r) => r.isReady).length;
      return `${table(header, body)}\n${rows.length} nodes, ${ready} ready, ${rows.filter((r) => r.entry).length} with a WorkloadEntry.`;
    },
  };
}

export async function runStatus(ctx: Context, opts: { country?: string; output: Format }): Promise<number> {
  // Nodes first: on a cluster missing CRDs, ours is the one to name.
  const nodes = await new XrayrNodeClient(ctx.kc, ctx.namespace).list();
  const entries = await new ClusterReads(ctx.kc).entries(ctx.namespace);
  const country = opts.country !== undefined ? normaliseCountry(opts.country) : undefined;
  const rows = statusRows(country === undefined ? nodes : nodes.filter((n) => n.spec.country === country), entries);
  print(statusView(rows, ctx.namespace, country), opts.output);
  return 0;
}
