// The mesh lab for the attribution e2e: starts test/lab/mesh-up.sh on the suite's lab (istiod,
// Xboard's pods with a sidecar stand-in each behind the NLB stand-in, fake Xboard, Prometheus),
// and gives the tests handles on each part: Prometheus's HTTP API, istiod's debug API, each
// stand-in's address index and stats config, fake Xboard's fault injection, and the XrayR
// traffic generator (a child process with ground-truth counters).
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import { kubectl } from "./kube.js";
import { lab, REPO } from "./lab.js";
import { registerLabProcess } from "./lab-pids.js";
import { freePort } from "./operator.js";
import { note, pending, secondsSince, waitFor } from "./wait.js";

export interface Endpoints {
  apiserver: string;
  kubeconfig: string;
  istiodDebug: string;
  istiodXds: string;
  istiodMonitoring: string;
  prometheus: string;
  prometheusVersion: string;
  promtool: string;
  /** The entry point XrayR calls: the NLB stand-in in front of Xboard's pods. */
  xboard: string;
  xboardNlbAdmin: string;
  /** Pod 0's sidecar; sidecarAdmins has every pod's, in pod order. */
  sidecarAdmin: string;
  sidecarAdmins: string[];
  xboardPods: string[];
  telemetry: "project" | "default";
  xboardAdmin: string;
  xboardToken: string;
  clusterId: string;
  trafficGenerator: string;
  /** xds-clients: the mesh's other sidecars (not Xboard's) as delta xDS clients. */
  xdsClients: string;
  scrapeInterval: string;
}

function run(cmd: string, args: string[], env: Record<string, string>, timeoutMs: number): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { cwd: REPO, env: { ...process.env, ...env }, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024, encoding: "utf8" }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === "number" ? err.code : -1, out: `${stdout}${stderr}` });
    });
  });
}

/** The lab directory the mesh goes into; undefined when the suite runs on a cluster that is not a lab. */
export function meshLabDir(): string | undefined {
  return lab().labDir;
}

/**
 * Starts the mesh parts on the suite's lab (mesh-up.sh is idempotent; the first run builds
 * istiod and the stand-in, minutes on a cold cache) and returns its endpoints.
 */
export async function startMesh(opts: { scrapeInterval?: string; replicas?: number; telemetry?: "project" | "default"; podAnnotations?: Record<string, string> } = {}): Promise<Endpoints> {
  const labDir = meshLabDir();
  if (labDir === undefined) throw new Error("the mesh lab needs the suite's own lab (E2E_KUBECONFIG without a lab dir)");
  const t0 = Date.now();
  // MESH_DEPLOY_ISTIO=0: deploy/istio's objects are not on the attribution path (but Xboard's
  // Telemetry, which mesh-up applies anyway), and other e2e files judge a lab without them (doctor).
  const env: Record<string, string> = {
    LAB_DIR: labDir,
    SCRAPE_INTERVAL: opts.scrapeInterval ?? "1s",
    MESH_DEPLOY_ISTIO: "0",
    XBOARD_REPLICAS: String(opts.replicas ?? 1),
    MESH_TELEMETRY: opts.telemetry ?? "project",
    XBOARD_POD_ANNOTATIONS: Object.entries(opts.podAnnotations ?? {})
      .map(([k, v]) => `${k}=${v}`)
      .join(" "),
  };
  const r = await run(join(REPO, "test/lab/mesh-up.sh"), [], env, 40 * 60_000);
  if (r.code !== 0) throw new Error(`test/lab/mesh-up.sh failed (exit ${r.code}):\n${r.out.slice(-4000)}`);
  note(`mesh up in ${secondsSince(t0)}`);
  return JSON.parse(readFileSync(join(labDir, "endpoints.json"), "utf8")) as Endpoints;
}

/**
 * Has the mesh's Prometheus scrape an operator's /metrics (job xrayr-mesh-operator, file SD as
 * mesh_scrape in test/lab/lib.sh writes it), so the dashboard's operator panels have data.
 */
export function scrapeOperator(name: string, metricsUrl: string): void {
  const labDir = meshLabDir();
  if (labDir === undefined) throw new Error("no lab dir");
  const file = join(labDir, "prometheus", "targets", `${name}.json`);
  writeFileSync(`${file}.tmp`, `${JSON.stringify([{ targets: [new URL(metricsUrl).host], labels: { pod: name } }])}\n`);
  renameSync(`${file}.tmp`, file);
}

export async function stopMesh(): Promise<void> {
  const labDir = meshLabDir();
  if (labDir === undefined) return;
  const r = await run(join(REPO, "test/lab/mesh-down.sh"), [], { LAB_DIR: labDir }, 60_000);
  if (r.code !== 0) throw new Error(`test/lab/mesh-down.sh failed (exit ${r.code}):\n${r.out.slice(-2000)}`);
}

async function getJson<T>(url: string, init?: RequestInit): Promise<T> {
  const r = await fetch(url, { ...init, signal: AbortSignal.timeout(10_000) });
  const text = await r.text();
  if (!r.ok) throw new Error(`${init?.method ?? "GET"} ${url}: HTTP ${r.status}: ${text.slice(0, 500)}`);
  return (text === "" ? undefined : JSON.parse(text)) as T;
}

// ---- Prometheus ------------------------------------------------------------------------------

export interface PromSample {
  metric: Record<string, string>;
  value: number;
}

export class Prometheus {
  constructor(readonly url: string) {}

  /** An instant query, now or at `at` (Unix seconds: queries that must agree share one). */
  async query(promql: string, at?: number): Promise<PromSample[]> {
    const body = new URLSearchParams({ query: promql });
    if (at !== undefined) body.set("time", String(at));
    const r = await getJson<{ status: string; error?: string; data: { resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] } }>(
      `${this.url}/api/v1/query`,
      { method: "POST", body, headers: { "content-type": "application/x-www-form-urlencoded" } },
    );
    if (r.status !== "success") throw new Error(`PromQL ${promql}: ${r.error ?? r.status}`);
    return r.data.result.map((s) => ({ metric: s.metric, value: Number(s.value[1]) }));
  }

  /** Prometheus's own view of its targets: every active target up and scraped. */
  async targetsUp(): Promise<boolean> {
    const r = await getJson<{ data: { activeTargets: { health: string }[] } }>(`${this.url}/api/v1/targets`);
    return r.data.activeTargets.length > 0 && r.data.activeTargets.every((t) => t.health === "up");
  }

  async rules(): Promise<{ name: string; rules: { name: string; query: string; health: string; state?: string; lastError?: string; type: string }[] }[]> {
    const r = await getJson<{ data: { groups: { name: string; rules: { name: string; query: string; health: string; state?: string; lastError?: string; type: string }[] }[] } }>(`${this.url}/api/v1/rules`);
    return r.data.groups;
  }

  async alerts(): Promise<{ labels: Record<string, string>; state: string; value: string }[]> {
    const r = await getJson<{ data: { alerts: { labels: Record<string, string>; state: string; value: string }[] } }>(`${this.url}/api/v1/alerts`);
    return r.data.alerts;
  }
}

// ---- istiod and the sidecar stand-in ---------------------------------------------------------

export interface IstiodWorkload {
  uid: string;
  name: string;
  namespace: string;
  workloadName?: string;
  canonicalName?: string;
  canonicalRevision?: string;
  clusterId?: string;
  addresses?: string[];
}

/** istiod's ambient index as its debug API serves it (/debug/ambientz), addresses decoded. */
export async function istiodWorkloads(ep: Endpoints): Promise<(IstiodWorkload & { address: string[] })[]> {
  const r = await getJson<{ workloads: IstiodWorkload[] | null }>(`${ep.istiodDebug}/ambientz`);
  return (r.workloads ?? []).map((w) => ({ ...w, address: (w.addresses ?? []).map(decodeAddress) }));
}

/** The objects of one kind in istiod's config store, as its debug API serves them (/debug/configz). */
export async function istiodConfigs(ep: Endpoints, kind: string): Promise<{ kind: string; metadata: { name: string; namespace: string; uid?: string } }[]> {
  const all = await getJson<{ kind: string; metadata: { name: string; namespace: string; uid?: string } }[] | null>(`${ep.istiodDebug}/configz`);
  return (all ?? []).filter((c) => c.kind === kind);
}

function decodeAddress(b64: string): string {
  const raw = Buffer.from(b64, "base64");
  if (raw.length === 4) return [...raw].join(".");
  const text = raw.toString("utf8");
  return /^[0-9a-fA-F:.]+$/.test(text) ? text : b64;
}

export interface StandinMeta {
  uid: string;
  name: string;
  namespace: string;
  workloadName: string;
  canonicalName: string;
  canonicalRevision: string;
  clusterId: string;
  identity: string;
  stored: string;
}

export interface StandinIndex {
  addresses: Record<string, StandinMeta>;
  uids: Record<string, string[]>;
  updates: number;
}

/** A stand-in's address index (pod 0's unless `admin` names another): what that Xboard pod's sidecar would name each caller address. */
export function standinIndex(ep: Endpoints, admin = ep.sidecarAdmin): Promise<StandinIndex> {
  return getJson<StandinIndex>(`${admin}/debug/workloads`);
}

/** A stand-in's own metrics (envoy_workload_discovery_total, standin_wds_*, standin_lds_*, standin_inbound_chain_generation). */
export async function standinMetric(ep: Endpoints, name: string, admin = ep.sidecarAdmin): Promise<number> {
  const text = await (await fetch(`${admin}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
  const line = text.split("\n").find((l) => l.startsWith(`${name} `));
  return line === undefined ? Number.NaN : Number(line.split(" ")[1]);
}

export interface StandinStatsConfig {
  bootstrap: { histogramBucketSettings: { prefix: string; buckets: number[] }[] | null; flushInterval: number; evictionInterval: number; warnings?: string[] };
  chain?: { name: string; generation: number; forPort: boolean; recording: boolean; stats: { drop: string[]; overrides: Record<string, Record<string, string>>; additions: Record<string, string[]>; problems: string[] | null } };
}

/** The istio.stats configuration a stand-in runs: istiod's inbound chain for Xboard's port, and the bootstrap from the pod's annotations. */
export function standinStatsConfig(admin: string): Promise<StandinStatsConfig> {
  return getJson<StandinStatsConfig>(`${admin}/debug/stats-config`);
}

// ---- fake Xboard -----------------------------------------------------------------------------

export async function injectFault(ep: Endpoints, nodeId: string, fault: { status: number; ratio?: number; delayMs?: number }): Promise<void> {
  await getJson(`${ep.xboardAdmin}/faults/${encodeURIComponent(nodeId)}`, { method: "PUT", body: JSON.stringify({ ratio: 1, ...fault }) });
}

export async function clearFault(ep: Endpoints, nodeId: string): Promise<void> {
  await getJson(`${ep.xboardAdmin}/faults/${encodeURIComponent(nodeId)}`, { method: "DELETE" });
}

/**
 * One request to the Xboard entry point from a chosen local address, optionally with an
 * X-Forwarded-For header: what a caller behind a proxy looks like to the sidecar.
 */
export function callXboard(ep: Endpoints, opts: { from: string; xff?: string; nodeId: string }): Promise<number> {
  const u = new URL(`${ep.xboard}/api/v1/server/UniProxy/config`);
  u.search = new URLSearchParams({ node_id: opts.nodeId, node_type: "vless", token: ep.xboardToken }).toString();
  return new Promise((resolve, reject) => {
    const req = request(u, { localAddress: opts.from, headers: opts.xff === undefined ? {} : { "x-forwarded-for": opts.xff }, agent: false, timeout: 10_000 }, (res) => {
      res.resume();
      res.on("end", () => {
        resolve(res.statusCode ?? 0);
      });
    });
    req.on("error", reject);
    req.end();
  });
}

// ---- the XrayR traffic generator -------------------------------------------------------------

export interface NodeCounters {
  responses: number;
  errors: number;
  byCode: Record<string, number>;
  byPath: Record<string, number>;
  byAddress: Record<string, number>;
  cycles: number;
  firstResponse?: string;
  lastResponse?: string;
}

export interface TrafficNode {
  address: string;
  nodeId: string;
  nodeType: string;
  running: boolean;
  counters: NodeCounters;
}

const generators = new Set<TrafficGenerator>();
let hookInstalled = false;

/** xrayr-traffic as a child process (registered in the lab's pids/ so lab-down stops a leftover). */
export class TrafficGenerator {
  private exitInfo: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  private readonly exited: Promise<void>;

  private constructor(
    private readonly child: ChildProcess,
    readonly admin: string,
    readonly logFile: string,
    private readonly pidBase: string | undefined,
  ) {
    this.exited = new Promise((resolve) => {
      child.once("exit", (code, signal) => {
        this.exitInfo = { code, signal };
        generators.delete(this);
        if (this.pidBase !== undefined) {
          rmSync(`${this.pidBase}.pid`, { force: true });
          rmSync(`${this.pidBase}.start`, { force: true });
        }
        resolve();
      });
    });
  }

  static async start(ep: Endpoints, { periodMs }: { periodMs: number }): Promise<TrafficGenerator> {
    const state = lab();
    const dir = join(state.stateDir, "traffic");
    mkdirSync(dir, { recursive: true });
    const ready = join(dir, `admin-${process.pid}-${Date.now()}`);
    const logFile = join(state.stateDir, "logs", `xrayr-traffic-${process.pid}.log`);
    mkdirSync(join(state.stateDir, "logs"), { recursive: true });
    const fd = openSync(logFile, "a");
    let child: ChildProcess;
    try {
      child = spawn(ep.trafficGenerator, ["--xboard", ep.xboard, "--token", ep.xboardToken, "--period", `${periodMs}ms`, "--admin", "127.0.0.1:0", "--ready-file", ready], {
        stdio: ["ignore", fd, fd],
      });
    } finally {
      closeSync(fd);
    }
    let pidBase: string | undefined;
    if (state.labDir !== undefined && child.pid !== undefined && existsSync(join(state.labDir, "pids"))) {
      try {
        const stat = readFileSync(`/proc/${child.pid}/stat`, "utf8");
        const fields = stat.slice(stat.lastIndexOf(") ") + 2).split(" ");
        pidBase = join(state.labDir, "pids", `e2e-xrayr-traffic-${child.pid}`);
        writeFileSync(`${pidBase}.start`, `${fields[19] ?? ""}\n`);
        writeFileSync(`${pidBase}.pid`, `${child.pid}\n`);
      } catch {
        pidBase = undefined;
      }
    }
    if (!hookInstalled) {
      hookInstalled = true;
      process.on("exit", () => {
        for (const g of generators) g.child.kill("SIGKILL");
      });
    }
    const admin = await waitFor(
      "xrayr-traffic admin address",
      () => (existsSync(ready) ? `http://${readFileSync(ready, "utf8").trim()}` : child.exitCode !== null ? Promise.reject(new Error(`xrayr-traffic exited ${String(child.exitCode)}`)) : pending("no ready file yet")),
      { timeoutMs: 10_000, intervalMs: 50 },
    );
    const g = new TrafficGenerator(child, admin, logFile, pidBase);
    generators.add(g);
    return g;
  }

  async put(name: string, spec: { address: string; nodeId: string; nodeType?: string }): Promise<void> {
    await getJson(`${this.admin}/nodes/${encodeURIComponent(name)}`, { method: "PUT", body: JSON.stringify({ nodeType: "vless", ...spec }) });
  }

  async stop(name: string): Promise<void> {
    await getJson(`${this.admin}/nodes/${encodeURIComponent(name)}/stop`, { method: "POST" });
  }

  async start(name: string): Promise<void> {
    await getJson(`${this.admin}/nodes/${encodeURIComponent(name)}/start`, { method: "POST" });
  }

  async remove(name: string): Promise<void> {
    await getJson(`${this.admin}/nodes/${encodeURIComponent(name)}`, { method: "DELETE" });
  }

  async nodes(): Promise<Record<string, TrafficNode>> {
    return getJson<Record<string, TrafficNode>>(`${this.admin}/nodes`);
  }

  async close(): Promise<void> {
    if (this.exitInfo !== undefined) return;
    this.child.kill("SIGTERM");
    const t = setTimeout(() => this.child.kill("SIGKILL"), 5000);
    await this.exited;
    clearTimeout(t);
  }
}

export async function stopAllGenerators(): Promise<void> {
  await Promise.all([...generators].map((g) => g.close()));
}

// ---- promtool --------------------------------------------------------------------------------

/**
 * Runs the lab's promtool (the version deploy/istio ships) `test rules` with a test file (YAML
 * text) written next to the rule files: its rule_files may name the shipped rules
 * (shipped/xrayr-mesh.yml, deploy/istio's file as is) or the lab's (rules/xrayr-mesh.yml,
 * recording windows scaled to the lab). Returns promtool's verdict and output.
 */
export async function promtoolTest(ep: Endpoints, testYaml: string): Promise<{ ok: boolean; out: string }> {
  const labDir = meshLabDir();
  if (labDir === undefined) throw new Error("no lab dir");
  const f = join(labDir, "prometheus", `promtool-test-${process.pid}-${Date.now()}.yml`);
  writeFileSync(f, testYaml);
  const r = await run(ep.promtool, ["test", "rules", f], {}, 60_000);
  return { ok: r.code === 0, out: r.out };
}

/** Each pod's sidecar access log (the stand-ins' logs), concatenated. */
export function sidecarLogs(ep: Endpoints): string {
  const labDir = meshLabDir() ?? "";
  return ep.xboardPods.map((_, i) => readFileSync(join(labDir, "logs", `sidecar-standin-${i}.log`), "utf8")).join("\n");
}

// ---- deploy/istio's objects ------------------------------------------------------------------

const DEPLOY_ISTIO_MANAGER = "xrayr-e2e-deploy-istio";

/**
 * Applies deploy/istio's kustomization (what phase 2 of docs/install.md applies) to the lab and
 * returns the undo: every object it applied deleted again but the Namespace, whose labels it
 * releases (applied once more by the same field manager without them), so the files that judge a
 * bare lab (doctor) see one whatever the order.
 */
export async function applyDeployIstio(): Promise<{ applied: string[]; undo: () => Promise<void> }> {
  const rendered = await kubectl(["kustomize", join(REPO, "deploy/istio")]);
  if (rendered.code !== 0) throw new Error(`kubectl kustomize deploy/istio: ${rendered.stderr}`);
  const docs = parseAllDocuments(rendered.stdout).map((d) => d.toJSON() as { kind: string; metadata: { name: string; namespace?: string } } | null);
  const objects = docs.filter((o): o is NonNullable<typeof o> => o !== null);
  const input = objects.map((o) => JSON.stringify(o)).join("\n");
  // What the lab already had (mesh-up applies Xboard's Telemetry in every case): the undo leaves
  // it, or the files after this one would run with Istio's default telemetry.
  const existed = new Set<string>();
  for (const o of objects) {
    const g = await kubectl(["get", o.kind, o.metadata.name, ...(o.metadata.namespace !== undefined ? ["-n", o.metadata.namespace] : []), "--ignore-not-found", "-o", "name"]);
    if (g.code === 0 && g.stdout.trim() !== "") existed.add(`${o.kind}/${o.metadata.namespace ?? ""}/${o.metadata.name}`);
  }
  const r = await kubectl(["apply", "--server-side", "--force-conflicts", `--field-manager=${DEPLOY_ISTIO_MANAGER}`, "-f", "-"], { input });
  if (r.code !== 0) throw new Error(`applying deploy/istio: ${r.stderr}`);
  const undo = async (): Promise<void> => {
    for (const o of [...objects].reverse()) {
      if (o.kind !== "Namespace" && existed.has(`${o.kind}/${o.metadata.namespace ?? ""}/${o.metadata.name}`)) continue;
      const args =
        o.kind === "Namespace"
          ? ["apply", "--server-side", "--force-conflicts", `--field-manager=${DEPLOY_ISTIO_MANAGER}`, "-f", "-"]
          : ["delete", o.kind, o.metadata.name, ...(o.metadata.namespace !== undefined ? ["-n", o.metadata.namespace] : []), "--ignore-not-found"];
      const input = o.kind === "Namespace" ? JSON.stringify({ apiVersion: "v1", kind: "Namespace", metadata: { name: o.metadata.name } }) : undefined;
      const u = await kubectl(args, input === undefined ? {} : { input });
      if (u.code !== 0) throw new Error(`undoing deploy/istio's ${o.kind} ${o.metadata.name}: ${u.stderr}`);
    }
  };
  return { applied: objects.map((o) => `${o.kind}/${o.metadata.name}`), undo };
}

// ---- the mesh's other sidecars -----------------------------------------------------------------

/** xds-clients as a child process (registered in the lab's pids/ so lab-down stops a leftover). */
export class PlainSidecars {
  private constructor(
    private readonly child: ChildProcess,
    readonly admin: string,
    readonly logFile: string,
    private readonly exited: Promise<void>,
  ) {}

  /** Starts the proxies of `proxies` (xds-clients' --proxies) on istiod and waits until every one has its first answers. */
  static async start(ep: Endpoints, proxies: string): Promise<PlainSidecars> {
    const state = lab();
    mkdirSync(join(state.stateDir, "logs"), { recursive: true });
    const logFile = join(state.stateDir, "logs", `xds-clients-${process.pid}.log`);
    const port = await freePort();
    const fd = openSync(logFile, "a");
    let child: ChildProcess;
    try {
      child = spawn(ep.xdsClients, ["--xds", ep.istiodXds, "--admin", `127.0.0.1:${port}`, "--proxies", proxies, "--cluster-id", ep.clusterId], { stdio: ["ignore", fd, fd] });
    } finally {
      closeSync(fd);
    }
    const exited = new Promise<void>((resolve) => child.once("exit", () => { resolve(); }));
    registerLabProcess("e2e-xds-clients", child.pid, exited);
    process.once("exit", () => child.kill("SIGKILL"));
    const p = new PlainSidecars(child, `http://127.0.0.1:${port}`, logFile, exited);
    await waitFor(
      `xds-clients (${proxies}) answered for everything they subscribed`,
      async () => {
        if (child.exitCode !== null) throw new Error(`xds-clients exited ${String(child.exitCode)}: ${readFileSync(logFile, "utf8").slice(-2000)}`);
        const r = await fetch(`${p.admin}/readyz`, { signal: AbortSignal.timeout(5000) });
        return r.ok ? true : pending(await r.text());
      },
      { timeoutMs: 120_000, intervalMs: 500 },
    );
    return p;
  }

  async close(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill("SIGTERM");
    const t = setTimeout(() => this.child.kill("SIGKILL"), 5000);
    await this.exited;
    clearTimeout(t);
  }
}
