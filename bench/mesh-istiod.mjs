// istiod's side of `make bench-mesh` (issue 17): what the fleet costs the control plane and the
// mesh's proxies. The instruments:
//   - Xboard's sidecars: the R stand-ins' workload index (what Envoy's metadata_discovery holds),
//     each address stamped with the time it was stored, and their WDS bytes;
//   - the mesh's other sidecars: xds-clients (test/lab/sidecar-standin/cmd/xds-clients), Go delta
//     xDS clients subscribing as Envoy does, counting pushes and bytes per type;
//   - istiod: /proc (RSS, its peak, CPU seconds) and its own metrics (heap, pushes).
// The fleet is changed through the real path: XrayrNodes written to the API server, the operator
// turning them into entries and groups; the generator (xrayr-traffic) follows every change so the
// telemetry side sees the churn too.
// The fleet, the sidecars' indexes and counters and the comparisons are test/support/mesh-churn.ts's,
// shared with the regression guard of make test (test/e2e/istiod-churn.e2e.test.ts); this file
// adds what only the benchmark does: processes, istiod's /proc readings, the phases.
/* global fetch, URL */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { cpuSeconds, getJson, getText, metricSum, peakRss, resetPeak, rss, say, sleep, start, stop, until } from "./mesh-lib.mjs";

const shared = await import(new URL("../test/support/mesh-churn.ts", import.meta.url).href);
export const { NS, vpsAddress, Fleet, sidecarIndex, sidecarCounters, compareIndex, sidecarsWhole, deliveryLatencies, kubeHelpers, plainCounters } = shared;
const { plainSidecarLayout, pushesBetween, PLAIN_TYPES } = shared;

// ---- the mesh's other sidecars --------------------------------------------------------------

/** xds-clients: M proxies, some beside Xboard in airport-prod, the rest in other namespaces. */
export async function startPlainSidecars({ binary, ep, m, workDir, kube }) {
  const { proxies, beside, others } = await plainSidecarLayout(kube, m);
  const port = 20000 + Math.floor(Math.random() * 20000);
  const admin = `http://127.0.0.1:${port}`;
  const p = start("xds-clients", [binary, "--xds", ep.istiodXds, "--admin", `127.0.0.1:${port}`, "--proxies", proxies, "--cluster-id", ep.clusterId], process.env, workDir);
  await until("the plain sidecars' first answers", async () => (await fetch(`${admin}/readyz`)).ok, 120_000, 500);
  say(`plain sidecars: ${proxies}`);
  return { ...p, admin, beside, others };
}

// ---- istiod ---------------------------------------------------------------------------------

export class Istiod {
  constructor(lab, ep) {
    this.lab = lab;
    this.ep = ep;
  }
  get pid() {
    return this.lab.pid("istiod");
  }
  async heapMiB() {
    const text = await getText(this.ep.istiodMonitoring);
    return (metricSum(text, "go_memstats_heap_inuse_bytes") ?? NaN) / (1 << 20);
  }
  /** CPU seconds, RSS and its peak since the last mark. */
  mark() {
    const pid = this.pid;
    resetPeak(pid);
    const cpu = cpuSeconds(pid);
    const t = Date.now();
    return () => ({ cpu: cpuSeconds(pid) - cpu, wall: (Date.now() - t) / 1000, peakMiB: peakRss(pid) / (1 << 20), rssMiB: rss(pid) / (1 << 20) });
  }
}

/**
 * One churn phase: `rate` changes a second for `seconds`, then the sidecars must agree with the
 * Ready nodes. Returns delivery latencies, what the sidecars received per change, istiod's CPU
 * per change (its idle rate, measured just before, taken off).
 */
export async function churnPhase({ fleet, sidecars, plain, istiod, rate, seconds, idleSeconds = 15 }) {
  const idle = istiod.mark();
  await sleep(idleSeconds * 1000);
  const idleRate = idle().cpu / idleSeconds;
  const xb0 = await Promise.all(sidecars.map(sidecarCounters));
  const pl0 = await plainCounters(plain.admin);
  const m = istiod.mark();
  const changes = await fleet.churn(rate, seconds);
  const whole = await sidecarsWhole(sidecars, fleet, 60_000);
  const use = m();
  const xb1 = await Promise.all(sidecars.map(sidecarCounters));
  const pl1 = await plainCounters(plain.admin);
  const delivery = await deliveryLatencies(sidecars, changes);
  const n = changes.length;
  const perChange = (before, after) => {
    const got = pushesBetween(before, after);
    const out = {};
    let bytes = 0;
    let responses = 0;
    for (const t of PLAIN_TYPES) {
      out[t] = { responses: got[t].responses / n, bytes: got[t].bytes / n };
      bytes += got[t].bytes;
      responses += got[t].responses;
    }
    return { ...out, bytesPerChangePerSidecar: after.clients ? bytes / n / after.clients : 0, responses, bytes };
  };
  const xbBytes = xb1.reduce((a, c, i) => a + c.bytes - xb0[i].bytes, 0);
  const xbResponses = xb1.reduce((a, c, i) => a + c.responses - xb0[i].responses, 0);
  const cpuPerChangeMs = ((use.cpu - idleRate * use.wall) / n) * 1000;
  return {
    rate, seconds, changes: n, delivery, whole,
    xboard: { wdsBytesPerChangePerSidecar: xbBytes / n / sidecars.length, wdsResponsesPerChangePerSidecar: xbResponses / n / sidecars.length },
    plainBeside: perChange(pl0.beside, pl1.beside),
    plainElsewhere: perChange(pl0.elsewhere, pl1.elsewhere),
    istiod: { cpuPerChangeMs, idleCpuPerSecond: idleRate, peakMiB: use.peakMiB },
  };
}

/** Lines matching re in the lab's logs written after `offsets` (from logOffsets). */
export function logOffsets(labDir) {
  const dir = join(labDir, "logs");
  return new Map(readdirSync(dir).map((f) => [f, statSync(join(dir, f)).size]));
}
export function logLinesSince(labDir, offsets, re) {
  const dir = join(labDir, "logs");
  const out = [];
  for (const f of readdirSync(dir)) {
    const text = readFileSync(join(dir, f), "utf8").slice(offsets.get(f) ?? 0);
    for (const line of text.split("\n")) if (re.test(line)) out.push(`${f}: ${line.slice(0, 300)}`);
  }
  return out;
}
// What a gRPC message over a limit looks like on either side (grpc-go's words).
const GRPC_LIMIT = /ResourceExhausted|larger than max|message too large/i;

/** Stops istiod and starts it again (with env, if given); times until every sidecar is whole. */
export async function restartPhase({ lab, labDir, istiod, fleet, sidecars, plain, env = [] }) {
  const logs = logOffsets(labDir);
  const before = await Promise.all(sidecars.map(sidecarCounters));
  const t0 = Date.now();
  lab.restartIstiod(...env);
  const ready = (Date.now() - t0) / 1000;
  // Reconnected (a new stream each) and answered since, then the index must equal the fleet.
  await until("every Xboard sidecar reconnected", async () => {
    const now = await Promise.all(sidecars.map(sidecarCounters));
    return now.every((c, i) => c.connects > before[i].connects && c.responses > before[i].responses);
  }, 180_000, 250);
  const whole = await sidecarsWhole(sidecars, fleet, 180_000);
  await until("every plain sidecar answered again", async () => (await fetch(`${plain.admin}/readyz`)).ok, 180_000, 500);
  const seconds = (Date.now() - t0) / 1000;
  const clientErrors = (await getJson(`${plain.admin}/stats`)).clients.map((c) => c.lastError).filter((e) => e && GRPC_LIMIT.test(e));
  const logErrors = logLinesSince(labDir, logs, GRPC_LIMIT);
  const mark = istiod.mark();
  return { istiodReadySeconds: ready, wholeSeconds: seconds, whole, grpcLimitErrors: [...clientErrors, ...logErrors].slice(0, 5), heapMiB: await istiod.heapMiB(), rssMiB: mark().rssMiB };
}

export { peakRss, rss, stop };
