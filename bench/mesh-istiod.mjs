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
/* global fetch, performance */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import * as k8s from "@kubernetes/client-node";
import { cpuSeconds, getJson, getText, metricSum, peakRss, quantile, resetPeak, rss, say, send, sleep, start, stop, until } from "./mesh-lib.mjs";

export const NS = "airport-prod";
const XN = { group: "mesh.sigma.io", version: "v1alpha1", namespace: NS, plural: "xrayrnodes" };

/** Loopback addresses the generator can call from: every 127/8 address is local on Linux. */
export function vpsAddress(i) {
  return `127.${10 + Math.floor(i / 62500)}.${Math.floor(i / 250) % 250}.${(i % 250) + 1}`;
}

/**
 * The fleet as the benchmark drives it: names, addresses, the generator's view. Node i of the
 * cold fleet is `vps-<i>` on vpsAddress(i); every later registration or address change takes a
 * fresh address (never one seen before), so the time a sidecar stored it is the time it learned
 * of that change.
 */
export class Fleet {
  constructor({ kubeconfig, generator, errorEvery }) {
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(kubeconfig);
    this.api = kc.makeApiClient(k8s.CustomObjectsApi);
    this.generator = generator; // admin URL of xrayr-traffic, or undefined
    this.errorEvery = errorEvery; // every k-th node id answered 5xx by fake Xboard (1 %: 100)
    this.next = 0;
    this.live = new Map(); // name -> { address, nodeId }
    this.changes = []; // { kind, name, address, at (epoch ms) }
    this.touched = new Set(); // nodes a churn change picked (at once, before its write is sent)
  }

  body(name, address) {
    return { apiVersion: "mesh.sigma.io/v1alpha1", kind: "XrayrNode", metadata: { name, namespace: NS }, spec: { address, country: "jp" } };
  }

  /** Creates n nodes, `concurrency` POSTs in flight (a bare client: sigma-api's registrations). */
  async createCold(n, concurrency = 8) {
    const t0 = performance.now();
    const names = [];
    for (let i = 0; i < n; i++) names.push([`vps-${String(i).padStart(5, "0")}`, vpsAddress(i)]);
    this.next = n;
    let k = 0;
    await Promise.all(Array.from({ length: concurrency }, async () => {
      while (k < names.length) {
        const [name, address] = names[k++];
        await this.api.createNamespacedCustomObject({ ...XN, body: this.body(name, address) });
        this.live.set(name, { address, nodeId: String(this.live.size + 1) });
      }
    }));
    return (performance.now() - t0) / 1000;
  }

  nodeSpec(name) {
    const n = this.live.get(name);
    return { address: n.address, nodeId: n.nodeId, nodeType: "vless" };
  }

  /** Every node into the generator (it starts calling one XrayR period later). */
  async startTraffic() {
    for (const name of this.live.keys()) await send("PUT", `${this.generator}/nodes/${name}`, this.nodeSpec(name));
  }

  async register() {
    const i = this.next++;
    const name = `vps-${String(i).padStart(5, "0")}`;
    const address = vpsAddress(i);
    this.touched.add(name); // a new node is not a victim of this run's churn
    const at = Date.now();
    await this.api.createNamespacedCustomObject({ ...XN, body: this.body(name, address) });
    this.live.set(name, { address, nodeId: String(i + 1) });
    this.changes.push({ kind: "register", name, address, at });
    if (this.generator !== undefined) await send("PUT", `${this.generator}/nodes/${name}`, this.nodeSpec(name));
  }

  /**
   * The oldest live node no churn change has picked yet, reserved at once: changes run
   * concurrently at 10/s, and two must never pick the same node (a retire and an address change
   * of one node would race). Map order is insertion order: the cold fleet first.
   */
  victim() {
    for (const name of this.live.keys()) {
      if (!this.touched.has(name)) {
        this.touched.add(name);
        return name;
      }
    }
    throw new Error("every node has been changed once: churn for less time or with a larger fleet");
  }

  async retire() {
    const name = this.victim();
    const at = Date.now();
    await this.api.deleteNamespacedCustomObject({ ...XN, name });
    const address = this.live.get(name).address;
    this.live.delete(name);
    this.changes.push({ kind: "retire", name, address, at });
    if (this.generator !== undefined) await send("DELETE", `${this.generator}/nodes/${name}`);
  }

  async moveAddress() {
    const name = this.victim();
    const address = vpsAddress(this.next++);
    const at = Date.now();
    await this.api.patchNamespacedCustomObject({ ...XN, name, body: { spec: { address } } }, k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch));
    this.live.get(name).address = address;
    this.changes.push({ kind: "address", name, address, at });
    if (this.generator !== undefined) await send("PUT", `${this.generator}/nodes/${name}`, this.nodeSpec(name));
  }

  /** `rate` changes a second for `seconds`, cycling register, retire, address change. */
  async churn(rate, seconds) {
    const from = this.changes.length;
    const kinds = [() => this.register(), () => this.retire(), () => this.moveAddress()];
    const gap = 1000 / rate;
    const t0 = performance.now();
    const total = Math.round(rate * seconds);
    const inFlight = [];
    for (let i = 0; i < total; i++) {
      const wait = t0 + i * gap - performance.now();
      if (wait > 0) await sleep(wait);
      inFlight.push(kinds[i % kinds.length]());
    }
    await Promise.all(inFlight);
    return this.changes.slice(from);
  }

  /** Nodes whose Ready condition is True, name -> address (what every Xboard sidecar must hold). */
  async readyNodes() {
    const out = new Map();
    let _continue;
    do {
      const page = await this.api.listNamespacedCustomObject({ ...XN, limit: 2000, _continue });
      for (const n of page.items) {
        if (n.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True")) out.set(n.metadata.name, n.spec.address);
      }
      _continue = page.metadata?.continue; // the raw list: metadata.continue
    } while (_continue);
    return out;
  }
}

// ---- Xboard's sidecars (the stand-ins' workload index) --------------------------------------

/** The stand-in's index: address -> { workloadName, stored (epoch ms) } for entries of the fleet. */
export async function sidecarIndex(admin) {
  const snap = await getJson(`${admin}/debug/workloads`, 60_000);
  const out = new Map();
  for (const [address, m] of Object.entries(snap.addresses)) {
    if (m.namespace !== NS || m.canonicalName !== "xrayr") continue;
    out.set(address, { workload: m.workloadName, stored: Date.parse(m.stored) });
  }
  return out;
}

export async function sidecarCounters(admin) {
  const text = await getText(`${admin}/stats/prometheus`);
  return {
    index: metricSum(text, "envoy_workload_discovery_total") ?? 0,
    responses: metricSum(text, "standin_wds_responses_total") ?? 0,
    bytes: metricSum(text, "standin_wds_bytes_total") ?? 0,
    connects: metricSum(text, "standin_wds_connects_total") ?? 0,
  };
}

/**
 * Whether one sidecar's index is exactly the Ready nodes: every Ready node's address names that
 * node, and no fleet address is held that no Ready node has (a stale address: traffic from it
 * would be attributed to a VPS that left it).
 */
export function compareIndex(index, ready) {
  const missing = [];
  const wrong = [];
  const stale = [];
  const want = new Map();
  for (const [name, address] of ready) want.set(address, name);
  for (const [address, name] of want) {
    const got = index.get(address);
    if (got === undefined) missing.push(`${name}@${address}`);
    else if (got.workload !== name) wrong.push(`${address}: ${got.workload} (want ${name})`);
  }
  for (const [address, got] of index) if (!want.has(address)) stale.push(`${got.workload}@${address}`);
  return { ok: missing.length + wrong.length + stale.length === 0, missing, wrong, stale };
}

/** Every Xboard sidecar against the Ready nodes; waits up to timeoutMs for them to agree. */
export async function sidecarsWhole(sidecars, fleet, timeoutMs) {
  const t0 = Date.now();
  let last;
  for (;;) {
    const ready = await fleet.readyNodes();
    const results = await Promise.all(sidecars.map(async (s) => compareIndex(await sidecarIndex(s), ready)));
    last = { ready: ready.size, results };
    if (results.every((r) => r.ok)) return { ok: true, seconds: (Date.now() - t0) / 1000, ready: ready.size };
    if (Date.now() - t0 > timeoutMs) break;
    await sleep(2_000);
  }
  const brief = last.results.map((r) => ({ missing: r.missing.length, wrong: r.wrong.length, stale: r.stale.length, examples: [...r.missing, ...r.wrong, ...r.stale].slice(0, 3) }));
  return { ok: false, seconds: (Date.now() - t0) / 1000, ready: last.ready, sidecars: brief };
}

/**
 * For each registration and address change, when every Xboard sidecar had stored its address:
 * the latest of the R stored times minus the time the XrayrNode was written (ms). A change no
 * sidecar holds (yet) is counted as not delivered.
 */
export async function deliveryLatencies(sidecars, changes) {
  const indices = await Promise.all(sidecars.map((s) => sidecarIndex(s)));
  const latencies = [];
  let undelivered = 0;
  for (const c of changes) {
    if (c.kind === "retire") continue;
    const stored = indices.map((ix) => ix.get(c.address));
    if (stored.some((s) => s === undefined || s.workload !== c.name)) {
      undelivered++;
      continue;
    }
    latencies.push(Math.max(...stored.map((s) => s.stored)) - c.at);
  }
  return { count: latencies.length, undelivered, p50: quantile(latencies, 0.5), p99: quantile(latencies, 0.99), max: latencies.length ? Math.max(...latencies) : NaN };
}

// ---- the mesh's other sidecars --------------------------------------------------------------

/** xds-clients: M proxies, some beside Xboard in airport-prod, the rest in other namespaces. */
export async function startPlainSidecars({ binary, ep, m, workDir, kube }) {
  const beside = Math.max(2, Math.round(m / 10));
  const others = Math.max(0, m - beside);
  // The namespaces and Services a real mesh has around airport-prod: mysql and redis beside
  // Xboard (their sidecars import airport-prod's services), and two other teams' namespaces.
  for (const ns of ["shop", "payments"]) await kube.ensureNamespace(ns);
  await kube.ensureService(NS, "mysql", 3306, "mysql");
  await kube.ensureService(NS, "redis", 6379, "redis");
  await kube.ensureService("shop", "web", 80, "http");
  await kube.ensureService("payments", "api", 80, "http");
  const spec = [`${NS}/mysql=${Math.ceil(beside / 2)}`, `${NS}/redis=${Math.floor(beside / 2)}`];
  if (others > 0) spec.push(`shop/web=${Math.ceil(others / 2)}`);
  if (others > 1) spec.push(`payments/api=${Math.floor(others / 2)}`);
  const port = 20000 + Math.floor(Math.random() * 20000);
  const admin = `http://127.0.0.1:${port}`;
  const p = start("xds-clients", [binary, "--xds", ep.istiodXds, "--admin", `127.0.0.1:${port}`, "--proxies", spec.join(","), "--cluster-id", ep.clusterId], process.env, workDir);
  await until("the plain sidecars' first answers", async () => (await fetch(`${admin}/readyz`)).ok, 120_000, 500);
  say(`plain sidecars: ${spec.join(", ")}`);
  return { ...p, admin, beside, others };
}

/** Bytes and pushes the plain sidecars received, per type, summed per group (beside / elsewhere). */
export async function plainCounters(admin) {
  const s = await getJson(`${admin}/stats`);
  const sum = (pred) => {
    const out = { clients: 0 };
    for (const [ns, g] of Object.entries(s.byNamespace)) {
      if (!pred(ns)) continue;
      out.clients += g.clients;
      for (const [t, c] of Object.entries(g.byType)) {
        out[t] ??= { responses: 0, bytes: 0 };
        out[t].responses += c.responses;
        out[t].bytes += c.bytes;
      }
    }
    return out;
  };
  return { beside: sum((ns) => ns === NS), elsewhere: sum((ns) => ns !== NS), clients: s.clients };
}

export function counterDelta(after, before) {
  const out = {};
  for (const [k, v] of Object.entries(after)) {
    if (typeof v === "number") out[k] = v - (before[k] ?? 0);
    else if (v !== null && typeof v === "object" && !Array.isArray(v)) out[k] = counterDelta(v, before[k] ?? {});
  }
  return out;
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

/** Kubernetes objects the benchmark needs around the mesh (namespaces, plain Services). */
export function kubeHelpers(kubeconfig) {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(kubeconfig);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  const exists = (e) => e?.code === 409;
  return {
    custom,
    async ensureNamespace(name) {
      await core.createNamespace({ body: { metadata: { name } } }).catch((e) => { if (!exists(e)) throw e; });
    },
    async ensureService(ns, name, port, protocol) {
      const body = { metadata: { name, namespace: ns, labels: { app: name } }, spec: { selector: { app: name }, ports: [{ name: `${protocol}-${name}`, port, targetPort: port, appProtocol: protocol === "http" ? "http" : "tcp" }] } };
      await core.createNamespacedService({ namespace: ns, body }).catch((e) => { if (!exists(e)) throw e; });
    },
  };
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
  const plainDelta = counterDelta(pl1, pl0);
  const perChange = (g) => {
    const out = {};
    let bytes = 0;
    let responses = 0;
    for (const t of ["cds", "lds", "eds", "rds"]) {
      const c = g[t] ?? { responses: 0, bytes: 0 };
      out[t] = { responses: c.responses / n, bytes: c.bytes / n };
      bytes += c.bytes;
      responses += c.responses;
    }
    return { ...out, bytesPerChangePerSidecar: g.clients ? bytes / n / g.clients : 0, responses, bytes };
  };
  const xbBytes = xb1.reduce((a, c, i) => a + c.bytes - xb0[i].bytes, 0);
  const xbResponses = xb1.reduce((a, c, i) => a + c.responses - xb0[i].responses, 0);
  const cpuPerChangeMs = ((use.cpu - idleRate * use.wall) / n) * 1000;
  return {
    rate, seconds, changes: n, delivery, whole,
    xboard: { wdsBytesPerChangePerSidecar: xbBytes / n / sidecars.length, wdsResponsesPerChangePerSidecar: xbResponses / n / sidecars.length },
    plainBeside: perChange({ ...plainDelta.beside, clients: pl1.beside.clients }),
    plainElsewhere: perChange({ ...plainDelta.elsewhere, clients: pl1.elsewhere.clients }),
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
