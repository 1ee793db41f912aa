// The measuring side of istiod under VPS churn (issue 17), in one place for its two users:
// `make bench-mesh` (bench/mesh-istiod.mjs) and the regression guard of `make test`
// (test/e2e/istiod-churn.e2e.test.ts). What it measures:
//   - the fleet, changed through the real path (XrayrNodes written to the API server; the operator
//     turns them into entries and groups): registrations, retirements, address changes at a rate;
//   - Xboard's sidecars: each stand-in's workload index (what Envoy's metadata_discovery holds),
//     every address stamped with the time it was stored, compared with the Ready nodes;
//   - the mesh's other sidecars: xds-clients' counters per namespace and xDS type.
// Plain Node loads this file as is (bench/*.mjs import it; Node strips the types), so it imports
// node: modules and client-node only, and uses no TypeScript that needs more than stripping.
import * as k8s from "@kubernetes/client-node";

export const NS = "airport-prod";
const XN = { group: "mesh.sigma.io", version: "v1alpha1", namespace: NS, plural: "xrayrnodes" };

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function getJson<T>(url: string, timeoutMs = 30_000): Promise<T> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  if (!res.ok) throw new Error(`GET ${url}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

export async function getText(url: string, timeoutMs = 30_000): Promise<string> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  if (!res.ok) throw new Error(`GET ${url}: ${res.status}`);
  return res.text();
}

export async function send(method: string, url: string, body?: unknown): Promise<void> {
  const res = await fetch(url, {
    method,
    headers: body === undefined ? {} : { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(30_000),
  });
  if (!res.ok) throw new Error(`${method} ${url}: ${res.status} ${await res.text()}`);
}

/** One sample of a Prometheus text exposition, summed over all series of that name. */
export function metricSum(text: string, name: string): number | undefined {
  let sum = 0;
  let found = false;
  for (const line of text.split("\n")) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== " " && rest[0] !== "{") continue;
    sum += Number(line.slice(line.lastIndexOf(" ") + 1));
    found = true;
  }
  return found ? sum : undefined;
}

/** The q-quantile (0..1) of numbers, nearest rank; NaN for none. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))] ?? NaN;
}

/** Loopback addresses the generator can call from: every 127/8 address is local on Linux. */
export function vpsAddress(i: number): string {
  return `127.${10 + Math.floor(i / 62500)}.${Math.floor(i / 250) % 250}.${(i % 250) + 1}`;
}

export interface Change {
  kind: "register" | "retire" | "address";
  name: string;
  address: string;
  /** When the XrayrNode write was sent (epoch ms). */
  at: number;
}

interface LiveNode {
  address: string;
  nodeId: string;
}

interface NodeObject {
  metadata: { name: string };
  spec: { address: string };
  status?: { conditions?: { type: string; status: string }[] };
}

export interface FleetOptions {
  kubeconfig: string;
  /** Admin URL of xrayr-traffic, which then follows every change; none: no traffic. */
  generator?: string | undefined;
  /** Labels on every XrayrNode made (an e2e file's suite label, to find and delete its own). */
  labels?: Record<string, string>;
}

/**
 * The fleet as the benchmark and the guard drive it. Node i of the cold fleet is `vps-<i>` on
 * vpsAddress(i); every later registration or address change takes a fresh address (never one seen
 * before), so the time a sidecar stored it is the time it learned of that change.
 */
export class Fleet {
  readonly api: k8s.CustomObjectsApi;
  /** xrayr-traffic's admin URL: bench-mesh's telemetry phase sets it when the fleet starts calling. */
  generator: string | undefined;
  readonly labels: Record<string, string>;
  next = 0;
  readonly live = new Map<string, LiveNode>();
  readonly changes: Change[] = [];
  /** Nodes a churn change picked (at once, before its write is sent). */
  readonly touched = new Set<string>();

  constructor({ kubeconfig, generator, labels = {} }: FleetOptions) {
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(kubeconfig);
    this.api = kc.makeApiClient(k8s.CustomObjectsApi);
    this.generator = generator;
    this.labels = labels;
  }

  body(name: string, address: string): object {
    return { apiVersion: "mesh.sigma.io/v1alpha1", kind: "XrayrNode", metadata: { name, namespace: NS, labels: this.labels }, spec: { address, country: "jp" } };
  }

  /** Creates n nodes, `concurrency` POSTs in flight (a bare client: sigma-api's registrations); returns seconds. */
  async createCold(n: number, concurrency = 8): Promise<number> {
    const t0 = performance.now();
    const names: [string, string][] = [];
    for (let i = 0; i < n; i++) names.push([`vps-${String(i).padStart(5, "0")}`, vpsAddress(i)]);
    this.next = n;
    let k = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (k < names.length) {
          const [name, address] = names[k++] ?? ["", ""];
          await this.api.createNamespacedCustomObject({ ...XN, body: this.body(name, address) });
          this.live.set(name, { address, nodeId: String(this.live.size + 1) });
        }
      }),
    );
    return (performance.now() - t0) / 1000;
  }

  nodeSpec(name: string): { address: string; nodeId: string; nodeType: string } {
    const n = this.live.get(name);
    if (n === undefined) throw new Error(`no live node ${name}`);
    return { address: n.address, nodeId: n.nodeId, nodeType: "vless" };
  }

  /** Every node into the generator (it starts calling one XrayR period later). */
  async startTraffic(): Promise<void> {
    const g = this.generator;
    if (g === undefined) throw new Error("the fleet has no traffic generator");
    for (const name of this.live.keys()) await send("PUT", `${g}/nodes/${name}`, this.nodeSpec(name));
  }

  async register(): Promise<void> {
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
  victim(): string {
    for (const name of this.live.keys()) {
      if (!this.touched.has(name)) {
        this.touched.add(name);
        return name;
      }
    }
    throw new Error("every node has been changed once: churn for less time or with a larger fleet");
  }

  async retire(): Promise<void> {
    const name = this.victim();
    const at = Date.now();
    await this.api.deleteNamespacedCustomObject({ ...XN, name });
    const address = this.nodeSpec(name).address;
    this.live.delete(name);
    this.changes.push({ kind: "retire", name, address, at });
    if (this.generator !== undefined) await send("DELETE", `${this.generator}/nodes/${name}`);
  }

  async moveAddress(): Promise<void> {
    const name = this.victim();
    const address = vpsAddress(this.next++);
    const at = Date.now();
    await this.api.patchNamespacedCustomObject({ ...XN, name, body: { spec: { address } } }, k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch));
    const node = this.live.get(name);
    if (node !== undefined) node.address = address;
    this.changes.push({ kind: "address", name, address, at });
    if (this.generator !== undefined) await send("PUT", `${this.generator}/nodes/${name}`, this.nodeSpec(name));
  }

  /** `rate` changes a second for `seconds`, cycling register, retire, address change. */
  async churn(rate: number, seconds: number): Promise<Change[]> {
    const from = this.changes.length;
    const change = (i: number): Promise<void> => (i % 3 === 0 ? this.register() : i % 3 === 1 ? this.retire() : this.moveAddress());
    const gap = 1000 / rate;
    const t0 = performance.now();
    const total = Math.round(rate * seconds);
    const inFlight: Promise<void>[] = [];
    for (let i = 0; i < total; i++) {
      const wait = t0 + i * gap - performance.now();
      if (wait > 0) await sleep(wait);
      inFlight.push(change(i));
    }
    await Promise.all(inFlight);
    return this.changes.slice(from);
  }

  /** Nodes whose Ready condition is True, name -> address (what every Xboard sidecar must hold). */
  async readyNodes(): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    const labelSelector = Object.entries(this.labels).map(([k, v]) => `${k}=${v}`).join(",") || undefined;
    let _continue: string | undefined;
    do {
      const page = (await this.api.listNamespacedCustomObject({ ...XN, limit: 2000, _continue, labelSelector })) as { items: NodeObject[]; metadata?: { continue?: string } };
      for (const n of page.items) {
        if (n.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") === true) out.set(n.metadata.name, n.spec.address);
      }
      _continue = page.metadata?.continue; // the raw list: metadata.continue
    } while (_continue !== undefined && _continue !== "");
    return out;
  }
}

// ---- Xboard's sidecars (the stand-ins' workload index) --------------------------------------

export interface Held {
  workload: string;
  /** When the stand-in stored this address's workload (epoch ms). */
  stored: number;
}

/** The stand-in's index: address -> { workload, stored } for entries of the fleet. */
export async function sidecarIndex(admin: string): Promise<Map<string, Held>> {
  const snap = await getJson<{ addresses: Record<string, { namespace: string; canonicalName: string; workloadName: string; stored: string }> }>(`${admin}/debug/workloads`, 60_000);
  const out = new Map<string, Held>();
  for (const [address, m] of Object.entries(snap.addresses)) {
    if (m.namespace !== NS || m.canonicalName !== "xrayr") continue;
    out.set(address, { workload: m.workloadName, stored: Date.parse(m.stored) });
  }
  return out;
}

export interface SidecarCounters {
  /** Workloads in the index (envoy_workload_discovery_total). */
  index: number;
  responses: number;
  bytes: number;
  connects: number;
}

export async function sidecarCounters(admin: string): Promise<SidecarCounters> {
  const text = await getText(`${admin}/stats/prometheus`);
  return {
    index: metricSum(text, "envoy_workload_discovery_total") ?? 0,
    responses: metricSum(text, "standin_wds_responses_total") ?? 0,
    bytes: metricSum(text, "standin_wds_bytes_total") ?? 0,
    connects: metricSum(text, "standin_wds_connects_total") ?? 0,
  };
}

export interface IndexComparison {
  ok: boolean;
  missing: string[];
  wrong: string[];
  stale: string[];
}

/**
 * Whether one sidecar's index is exactly the Ready nodes: every Ready node's address names that
 * node, and no fleet address is held that no Ready node has (a stale address: traffic from it
 * would be attributed to a VPS that left it).
 */
export function compareIndex(index: ReadonlyMap<string, Held>, ready: ReadonlyMap<string, string>): IndexComparison {
  const missing: string[] = [];
  const wrong: string[] = [];
  const stale: string[] = [];
  const want = new Map<string, string>();
  for (const [name, address] of ready) want.set(address, name);
  for (const [address, name] of want) {
    const got = index.get(address);
    if (got === undefined) missing.push(`${name}@${address}`);
    else if (got.workload !== name) wrong.push(`${address}: ${got.workload} (want ${name})`);
  }
  for (const [address, got] of index) if (!want.has(address)) stale.push(`${got.workload}@${address}`);
  return { ok: missing.length + wrong.length + stale.length === 0, missing, wrong, stale };
}

export interface Whole {
  ok: boolean;
  seconds: number;
  ready: number;
  /** When not ok: per sidecar, how many addresses are missing, wrong, stale, with examples. */
  sidecars?: { missing: number; wrong: number; stale: number; examples: string[] }[];
}

/** Every Xboard sidecar against the Ready nodes; waits up to timeoutMs for them to agree. */
export async function sidecarsWhole(sidecars: readonly string[], fleet: Fleet, timeoutMs: number): Promise<Whole> {
  const t0 = Date.now();
  for (;;) {
    const ready = await fleet.readyNodes();
    const results = await Promise.all(sidecars.map(async (s) => compareIndex(await sidecarIndex(s), ready)));
    if (results.every((r) => r.ok)) return { ok: true, seconds: (Date.now() - t0) / 1000, ready: ready.size };
    if (Date.now() - t0 > timeoutMs) {
      const brief = results.map((r) => ({ missing: r.missing.length, wrong: r.wrong.length, stale: r.stale.length, examples: [...r.missing, ...r.wrong, ...r.stale].slice(0, 3) }));
      return { ok: false, seconds: (Date.now() - t0) / 1000, ready: ready.size, sidecars: brief };
    }
    await sleep(2_000);
  }
}

export interface Delivery {
  count: number;
  undelivered: number;
  p50: number;
  p99: number;
  max: number;
}

/**
 * For each registration and address change, when every Xboard sidecar had stored its address:
 * the latest of the R stored times minus the time the XrayrNode was written (ms). A change no
 * sidecar holds (yet) is counted as not delivered.
 */
export async function deliveryLatencies(sidecars: readonly string[], changes: readonly Change[]): Promise<Delivery> {
  const indices = await Promise.all(sidecars.map((s) => sidecarIndex(s)));
  const latencies: number[] = [];
  let undelivered = 0;
  for (const c of changes) {
    if (c.kind === "retire") continue;
    const stored = indices.map((ix) => ix.get(c.address));
    const held = stored.filter((s): s is Held => s !== undefined && s.workload === c.name);
    if (held.length < stored.length) {
      undelivered++;
      continue;
    }
    latencies.push(Math.max(...held.map((s) => s.stored)) - c.at);
  }
  return { count: latencies.length, undelivered, p50: quantile(latencies, 0.5), p99: quantile(latencies, 0.99), max: latencies.length > 0 ? Math.max(...latencies) : NaN };
}

// ---- the mesh's other sidecars --------------------------------------------------------------

/** Kubernetes objects around the mesh (namespaces, plain Services). */
export interface KubeHelpers {
  core: k8s.CoreV1Api;
  custom: k8s.CustomObjectsApi;
  ensureNamespace(name: string): Promise<void>;
  ensureService(ns: string, name: string, port: number, protocol: string): Promise<void>;
}

export function kubeHelpers(kubeconfig: string): KubeHelpers {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(kubeconfig);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  const exists = (e: unknown): boolean => (e as { code?: number } | undefined)?.code === 409;
  const tolerateExists = (e: unknown): void => {
    if (!exists(e)) throw e;
  };
  return {
    core,
    custom,
    async ensureNamespace(name) {
      await core.createNamespace({ body: { metadata: { name } } }).catch(tolerateExists);
    },
    async ensureService(ns, name, port, protocol) {
      const body = {
        metadata: { name, namespace: ns, labels: { app: name } },
        spec: { selector: { app: name }, ports: [{ name: `${protocol}-${name}`, port, targetPort: port, appProtocol: protocol === "http" ? "http" : "tcp" }] },
      };
      await core.createNamespacedService({ namespace: ns, body }).catch(tolerateExists);
    },
  };
}

/**
 * M plain sidecars as a real mesh has them around airport-prod: mysql's and redis's beside Xboard
 * (about a tenth, at least 2; their sidecars import airport-prod's services) and the rest in two
 * other teams' namespaces. Makes their namespaces and Services; returns xds-clients' --proxies.
 */
export async function plainSidecarLayout(kube: KubeHelpers, m: number): Promise<{ proxies: string; beside: number; others: number }> {
  const beside = Math.max(2, Math.round(m / 10));
  const others = Math.max(0, m - beside);
  for (const ns of ["shop", "payments"]) await kube.ensureNamespace(ns);
  await kube.ensureService(NS, "mysql", 3306, "mysql");
  await kube.ensureService(NS, "redis", 6379, "redis");
  await kube.ensureService("shop", "web", 80, "http");
  await kube.ensureService("payments", "api", 80, "http");
  const spec = [`${NS}/mysql=${Math.ceil(beside / 2)}`, `${NS}/redis=${Math.floor(beside / 2)}`];
  if (others > 0) spec.push(`shop/web=${Math.ceil(others / 2)}`);
  if (others > 1) spec.push(`payments/api=${Math.floor(others / 2)}`);
  return { proxies: spec.join(","), beside, others };
}

export interface TypeCounters {
  responses: number;
  bytes: number;
  resources: number;
  removed: number;
}

/** xds-clients' GET /stats. */
export interface PlainStats {
  byNamespace: Record<string, { clients: number; byType: Record<string, TypeCounters> }>;
  clients: { node: string; connects: number; synced: boolean; byType: Record<string, TypeCounters>; lastError?: string }[];
}

/** The xDS types a plain sidecar subscribes to (xds-clients' short names). */
export const PLAIN_TYPES = ["cds", "lds", "eds", "rds"] as const;
export type PlainType = (typeof PLAIN_TYPES)[number];

/** What a group of plain sidecars received, per xDS type. */
export interface GroupCounters {
  clients: number;
  byType: Record<string, { responses: number; bytes: number }>;
}

/** Bytes and pushes the plain sidecars received, per type, summed per group (beside Xboard / elsewhere). */
export async function plainCounters(admin: string): Promise<{ beside: GroupCounters; elsewhere: GroupCounters; clients: PlainStats["clients"] }> {
  const s = await getJson<PlainStats>(`${admin}/stats`);
  const sum = (pred: (ns: string) => boolean): GroupCounters => {
    const out: GroupCounters = { clients: 0, byType: {} };
    for (const [ns, g] of Object.entries(s.byNamespace)) {
      if (!pred(ns)) continue;
      out.clients += g.clients;
      for (const [t, c] of Object.entries(g.byType)) {
        const acc = (out.byType[t] ??= { responses: 0, bytes: 0 });
        acc.responses += c.responses;
        acc.bytes += c.bytes;
      }
    }
    return out;
  };
  return { beside: sum((ns) => ns === NS), elsewhere: sum((ns) => ns !== NS), clients: s.clients };
}

/** What a group received between two readings, per plain xDS type. */
export function pushesBetween(before: GroupCounters, after: GroupCounters): Record<PlainType, { responses: number; bytes: number }> {
  const at = (g: GroupCounters, t: string): { responses: number; bytes: number } => g.byType[t] ?? { responses: 0, bytes: 0 };
  const one = (t: PlainType): { responses: number; bytes: number } => ({ responses: at(after, t).responses - at(before, t).responses, bytes: at(after, t).bytes - at(before, t).bytes });
  return { cds: one("cds"), lds: one("lds"), eds: one("eds"), rds: one("rds") };
}
