#!/usr/bin/env node
// Kiali's own pages at fleet scale (issue 16, item 6): starts a Kiali server given by path,
// against a lab's API server and Prometheus, and times and weighs exactly the requests Kiali's
// UI makes for the pages operations open, cold (first request after start) and warm (the same
// request again, as the UI's refresh makes it).
//
// KIALI_BIN is a Kiali server built from kiali/kiali's main branch; nothing in this repository
// builds or ships it. The requests are copied from Kiali's UI (kiali/kiali frontend/src):
//   - graph page (pages/Graph/GraphPage.tsx -> services/GraphDataSource.ts, defaults in
//     reducers/GraphDataState.ts and the server's ui_defaults): GET api/namespaces/graph with
//     duration (the server's ui_defaults.metrics_per_refresh, Kiali's default 1m: 60s), graphType,
//     includeIdleEdges=false, injectServiceNodes=true,
//     boxBy=cluster,namespace (plus app for app graphs), refreshInterval=60000, the appenders the
//     UI always asks for (deadNode,serviceEntry,meshCheck,workloadEntry,health) plus istio
//     (Display > Service nodes' badges, on by default) and ambient when the server reports ambient,
//     rateGrpc=requests, rateHttp=requests, rateTcp=sent, ambientTraffic=none unless ambient;
//   - the same workload graph with the "Response time p95" edge label (the UI then adds the
//     responseTime appender and responseTime=95) and Display > "Service nodes" off
//     (injectServiceNodes=false): per-VPS latency. With service nodes on, Kiali labels only the
//     injected service -> workload edge, never the callers' edges (appender/response_time.go,
//     kiali-2297), so this is how an operator reads a VPS's latency;
//   - workload list (pages/WorkloadList/WorkloadListPage.tsx): GET api/clusters/workloads with
//     health and istioResources as the list's toggles (both on by default: ui_defaults.list),
//     and with health off;
//   - one VPS's workload page (pages/WorkloadDetails/WorkloadDetailsPage.tsx, WorkloadInfo.tsx):
//     GET api/namespaces/<ns>/workloads/<vps>?validate=true&rateInterval=<duration>&health=true, then in
//     parallel its overview's node graph (GraphDataSource.fetchForWorkload) and the Istio objects
//     selecting it (api/namespaces/<ns>/istio?objects=...&workloadSelector=<its labels>).
// Kiali's config is the chart's (deploy/istio/observability/kiali-values.yaml) with what a local
// run needs instead: anonymous auth, loopback, Istio's debug API off (no istiod to call), and a
// write timeout long enough to measure a slow answer (the server's default, 30 s, cuts the
// connection: the result records whether the shipped timeout would have been exceeded).
//
// Used by `make bench-mesh` (import benchKiali) and on its own against a running mesh lab:
//   KIALI_BIN=~/.cache/xrayr-mesh-lab/kiali-<commit>/kiali node bench/kiali.mjs
//     KIALI_BIN may list several servers, colon-separated (KIALI_LABELS names them, comma-
//     separated): each is measured in turn against the same lab and traffic
//     LAB_DIR (.lab)       the lab: $LAB_DIR/kubeconfig and $LAB_DIR/endpoints.json's prometheus
//     KIALI_VPS            the VPS whose page is opened (default: the first VPS in the graph)
//     KIALI_NAMESPACE (airport-prod)  KIALI_REPORT (.reports/kiali.json)
//     KIALI_REQUEST_TIMEOUT_S (900)   KIALI_PPROF=1 serves Go's pprof on Kiali's port
//     KIALI_MEMORY_LIMIT (the chart's limits.memory, e.g. 1Gi; "none": no limit; one per KIALI_BIN,
//     comma-separated, empty for the chart's): Kiali runs in a memory cgroup of that size, as in
//     its pod; killed at it, or past KIALI_REQUEST_TIMEOUT_S, it is restarted for the next page
//     KIALI_SETTLE_MAX_S (300): the longest wait for Kiali to be idle after it starts
/* global setTimeout, clearTimeout, Buffer, performance, structuredClone, URL */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync, openSync, closeSync } from "node:fs";
import { request } from "node:http";
import { createServer } from "node:net";
import { basename, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { createGunzip } from "node:zlib";
import { parse as parseYaml, stringify as stringifyYaml } from "yaml";

const repo = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const WEB_ROOT = "/kiali";
// Kiali's server default (config.go, Server.WriteTimeout): a slower answer never reaches the UI.
const SHIPPED_WRITE_TIMEOUT_MS = 30_000;
// A graph body larger than this is weighed but not parsed (the node process would not hold it).
const PARSE_LIMIT_BYTES = 400 * 1024 * 1024;

/** Kiali's config: the chart's values, with what a loopback run against a lab needs instead. */
export function kialiConfig({ port, metricsPort, prometheusUrl, cluster, pprof = false, valuesFile = join(repo, "deploy/istio/observability/kiali-values.yaml") }) {
  const values = parseYaml(readFileSync(valuesFile, "utf8")) ?? {};
  const conf = structuredClone(values);
  conf.auth = { strategy: "anonymous" };
  conf.deployment = { ...(conf.deployment ?? {}), view_only_mode: true };
  conf.kubernetes_config = { ...(conf.kubernetes_config ?? {}), cluster_name: cluster };
  const ext = (conf.external_services ??= {});
  ext.prometheus = { ...(ext.prometheus ?? {}), url: prometheusUrl };
  ext.grafana = { ...(ext.grafana ?? {}), enabled: false };
  ext.tracing = { ...(ext.tracing ?? {}), enabled: false };
  // No istiod debug endpoint in the lab to call (proxy status, registry).
  ext.istio = { ...(ext.istio ?? {}), istio_api_enabled: false };
  conf.login_token = { signing_key: randomBytes(16).toString("hex") };
  conf.server = {
    ...(conf.server ?? {}),
    address: "127.0.0.1",
    port,
    web_root: WEB_ROOT,
    write_timeout: "15m",
    // Kiali's own metrics: per-appender, marshal and Prometheus query times of each request.
    observability: { metrics: { enabled: true, port: metricsPort } },
    profiler: { enabled: pprof },
  };
  return conf;
}

async function freePort() {
  return new Promise((res, rej) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
    s.on("error", rej);
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function currentContext(kubeconfig) {
  const kc = parseYaml(readFileSync(kubeconfig, "utf8"));
  const ctx = kc["current-context"];
  if (typeof ctx !== "string" || ctx === "") throw new Error(`${kubeconfig}: no current-context`);
  return ctx;
}

/** /proc/<pid>: CPU seconds used so far and peak RSS (MiB). */
function procStats(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const ticks = Number(f[11]) + Number(f[12]); // utime + stime, in clock ticks (100/s on Linux)
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const hwm = /VmHWM:\s+(\d+) kB/.exec(status);
    const rss = /VmRSS:\s+(\d+) kB/.exec(status);
    return { cpuS: ticks / 100, peakRssMiB: hwm ? Number(hwm[1]) / 1024 : NaN, rssMiB: rss ? Number(rss[1]) / 1024 : NaN };
  } catch {
    return { cpuS: NaN, peakRssMiB: NaN, rssMiB: NaN };
  }
}

/**
 * Starts Kiali on a free loopback port (inside `cgroup` when given: test/e2e/support/cgroup.ts)
 * and waits until it answers the namespace list (its kube cache synced), then until it is idle.
 * Returns { url, metricsUrl, pid, exited(), stop() }; stop() ends it (SIGTERM, then SIGKILL).
 */
export async function startKiali({ kialiBin, kubeconfig, prometheusUrl, cluster = "airport-prod", workDir, pprof = false, cgroup, settleMaxS = 300, log = () => {} }) {
  if (!kialiBin || !existsSync(kialiBin)) throw new Error(`KIALI_BIN ${JSON.stringify(kialiBin)}: no such file (a Kiali server built from kiali/kiali main)`);
  if (!existsSync(kubeconfig)) throw new Error(`kubeconfig ${kubeconfig}: no such file`);
  mkdirSync(workDir, { recursive: true });
  const port = await freePort();
  const metricsPort = await freePort();
  const configFile = join(workDir, "kiali-config.yaml");
  writeFileSync(configFile, stringifyYaml(kialiConfig({ port, metricsPort, prometheusUrl, cluster, pprof })), { mode: 0o600 });
  const logFile = join(workDir, "kiali.log");
  const out = openSync(logFile, "w");
  let argv = [kialiBin, "run", "--kubeconfig", kubeconfig, "--no-browser", "--cluster-name-overrides", `${currentContext(kubeconfig)}=${cluster}`, "-c", configFile, "-l", "warn"];
  if (cgroup !== undefined) argv = cgroup.wrap(argv);
  const child = spawn(argv[0], argv.slice(1), { stdio: ["ignore", out, out], detached: false });
  closeSync(out);
  let exited = null;
  child.on("exit", (code, signal) => (exited = { code, signal }));
  const url = `http://127.0.0.1:${port}${WEB_ROOT}`;
  const stop = async () => {
    if (exited !== null) return;
    child.kill("SIGTERM");
    for (let i = 0; i < 50 && exited === null; i++) await sleep(100);
    if (exited === null) child.kill("SIGKILL");
    for (let i = 0; i < 50 && exited === null; i++) await sleep(100);
  };
  const t0 = performance.now();
  for (;;) {
    if (exited !== null) throw new Error(`Kiali exited (${JSON.stringify(exited)}) before it was ready; see ${logFile}:\n${readFileSync(logFile, "utf8").slice(-2000)}`);
    try {
      const r = await get(url, "/api/namespaces", { timeoutMs: 5000 });
      if (r.status === 200 && JSON.parse(r.body.toString()).some((n) => n.name)) break;
    } catch {
      // not listening yet
    }
    if (performance.now() - t0 > 180_000) {
      await stop();
      throw new Error(`Kiali not ready after 180 s; see ${logFile}`);
    }
    await sleep(500);
  }
  const readyS = (performance.now() - t0) / 1000;
  // Kiali computes every namespace's health in the background right after it starts (its health
  // monitor); a user arrives later. Wait until it is idle (under 0.04 CPU-s a second for 3 s),
  // at most settleMaxS: a Kiali whose health refresh outlasts its period is never idle.
  let last = procStats(child.pid).cpuS;
  let quiet = 0;
  while (quiet < 3 && performance.now() - t0 < settleMaxS * 1000) {
    await sleep(1000);
    const now = procStats(child.pid).cpuS;
    quiet = now - last < 0.04 ? quiet + 1 : 0;
    last = now;
  }
  const settledS = (performance.now() - t0) / 1000;
  const idle = quiet >= 3;
  log(`Kiali ready at ${url} in ${readyS.toFixed(1)} s, ${idle ? "idle" : "still busy"} after ${settledS.toFixed(1)} s (${last.toFixed(1)} CPU-s; pid ${child.pid}, log ${logFile})`);
  return { url, metricsUrl: `http://127.0.0.1:${metricsPort}/metrics`, pid: child.pid, exited: () => exited, stop, logFile, readyS, settledS, idle, startCpuS: last };
}

/**
 * One GET as the browser makes it (gzip accepted): status, time to the last byte, bytes on the
 * wire and decoded, and the decoded body when it is small enough to parse.
 */
function get(base, path, { timeoutMs = 900_000, keepBody = true } = {}) {
  return new Promise((res, rej) => {
    const u = new URL(base + path);
    const t0 = performance.now();
    const req = request(u, { method: "GET", headers: { accept: "application/json", "accept-encoding": "gzip" } }, (resp) => {
      let wire = 0;
      let decoded = 0;
      const chunks = [];
      let keep = keepBody;
      resp.on("data", (c) => (wire += c.length));
      const body = resp.headers["content-encoding"] === "gzip" ? resp.pipe(createGunzip()) : resp;
      body.on("data", (c) => {
        decoded += c.length;
        if (keep) {
          if (decoded > PARSE_LIMIT_BYTES) {
            keep = false;
            chunks.length = 0;
          } else chunks.push(c);
        }
      });
      body.on("end", () => {
        clearTimeout(timer);
        res({ status: resp.statusCode ?? 0, ms: performance.now() - t0, wireBytes: wire, bytes: decoded, body: keep ? Buffer.concat(chunks) : null });
      });
      body.on("error", (e) => {
        clearTimeout(timer);
        rej(e);
      });
    });
    const timer = setTimeout(() => req.destroy(new Error(`GET ${path}: no answer in ${timeoutMs / 1000} s`)), timeoutMs);
    req.on("error", (e) => {
      clearTimeout(timer);
      rej(e);
    });
    req.end();
  });
}

/**
 * Sums of Kiali's own duration histograms: per graph appender, graph generation and marshal,
 * Prometheus queries (all groups). The difference across a request is where its time went (the
 * background health monitor and graph refresh may add a little).
 */
async function kialiTimers(metricsUrl) {
  if (metricsUrl === undefined) return null;
  let text;
  try {
    const r = await get(metricsUrl, "", { timeoutMs: 10_000 });
    text = r.body.toString();
  } catch {
    return null;
  }
  const sums = {};
  for (const line of text.split("\n")) {
    const m = /^kiali_(graph_appender|graph_generation|graph_marshal|prometheus_processing)_duration_seconds_sum(\{[^}]*\})? (\S+)$/.exec(line);
    if (m === null) continue;
    const appender = m[1] === "graph_appender" ? /appender="([^"]*)"/.exec(m[2] ?? "")?.[1] : undefined;
    const key = appender !== undefined ? `appender:${appender}` : m[1];
    sums[key] = (sums[key] ?? 0) + Number(m[3]);
  }
  return sums;
}

function timerDelta(before, after) {
  if (before === null || after === null) return undefined;
  const d = {};
  for (const [k, v] of Object.entries(after)) {
    const x = v - (before[k] ?? 0);
    if (x >= 0.005) d[k] = Number(x.toFixed(2));
  }
  return d;
}

/** "1m", "2m", "1h" ... in seconds (the UI's duration labels). */
function durationSeconds(label) {
  const m = /^(\d+)([smhd])$/.exec(label);
  if (m === null) throw new Error(`ui_defaults.metrics_per_refresh ${JSON.stringify(label)}: not a duration`);
  return Number(m[1]) * { s: 1, m: 60, h: 3600, d: 86400 }[m[2]];
}

const qs = (params) =>
  Object.entries(params)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`)
    .join("&");

/**
 * The graph page's request (GraphDataSource.fetchGraphData with GraphPage's defaults), key order
 * as axios serializes the UI's params object.
 */
export function graphQuery({ namespace, graphType, duration = 60, ambient = false, responseTime, injectServiceNodes = true }) {
  let appenders = "deadNode,serviceEntry,meshCheck,workloadEntry,health,istio";
  if (ambient) appenders += ",ambient";
  if (responseTime !== undefined) appenders += ",responseTime";
  const boxBy = ["cluster", "namespace", ...(graphType === "app" || graphType === "versionedApp" ? ["app"] : [])].join(",");
  return qs({
    duration: `${duration}s`,
    graphType,
    includeIdleEdges: false,
    injectServiceNodes,
    boxBy,
    refreshInterval: 60000,
    waypoints: ambient ? false : undefined,
    responseTime,
    ambientTraffic: ambient ? "total" : "none",
    appenders,
    rateGrpc: "requests",
    rateHttp: "requests",
    rateTcp: "sent",
    namespaces: namespace,
  });
}

/** The node graph a workload page's overview draws (GraphDataSource.fetchForWorkload). */
function workloadNodeGraphQuery({ cluster, duration, ambient = false }) {
  let appenders = "deadNode,serviceEntry,meshCheck,workloadEntry,health,istio";
  if (ambient) appenders += ",ambient";
  appenders += ",securityPolicy,responseTime,throughput";
  return qs({
    duration: `${duration}s`,
    graphType: "workload",
    includeIdleEdges: false,
    injectServiceNodes: true,
    refreshInterval: 60000,
    waypoints: ambient ? true : undefined,
    responseTime: "95",
    throughputType: "request",
    ambientTraffic: ambient ? "total" : "none",
    appenders,
    rateGrpc: "requests",
    rateHttp: "requests",
    rateTcp: "sent",
    clusterName: cluster,
  });
}

const WORKLOAD_ISTIO_OBJECTS = [
  "networking.istio.io/v1, Kind=Gateway",
  "gateway.networking.k8s.io/v1, Kind=Gateway",
  "security.istio.io/v1, Kind=AuthorizationPolicy",
  "security.istio.io/v1, Kind=PeerAuthentication",
  "networking.istio.io/v1, Kind=Sidecar",
  "security.istio.io/v1, Kind=RequestAuthentication",
  "networking.istio.io/v1alpha3, Kind=EnvoyFilter",
  "networking.istio.io/v1, Kind=WorkloadGroup",
  "inference.networking.k8s.io/v1, Kind=InferencePool",
].join(";");

/**
 * What a graph shows of the fleet: VPS nodes (workload or versioned-app nodes of the fleet's app
 * whose workload is not the fleet's group `xrayr`), their edges with a request rate, with
 * errors, with a latency label, and the longest hasWorkloadEntry list any node carries.
 */
export function graphPicture(body, { app = "xrayr", namespace }) {
  if (body === null) return { parsed: false };
  const g = JSON.parse(body.toString());
  const nodes = g.elements?.nodes ?? [];
  const edges = g.elements?.edges ?? [];
  const byId = new Map(nodes.map((n) => [n.data.id, n.data]));
  let maxEntries = 0;
  let entries = 0;
  const vps = new Set();
  const appNodes = [];
  for (const { data: n } of nodes) {
    const we = Array.isArray(n.hasWorkloadEntry) ? n.hasWorkloadEntry.length : 0;
    maxEntries = Math.max(maxEntries, we);
    entries += we;
    if (n.namespace !== namespace || n.app !== app || n.isBox) continue;
    // a VPS: a workload node, or a versioned-app node (Kiali makes one per workload), whose
    // workload is not the fleet's group
    if ((n.nodeType === "workload" || n.nodeType === "app") && n.workload !== undefined && n.workload !== "" && n.workload !== app) vps.add(n.id);
    if (n.nodeType === "app") appNodes.push(n.version ? `${n.app}/${n.version}` : n.app);
  }
  let withRate = 0;
  let withErrors = 0;
  let withLatency = 0;
  for (const { data: e } of edges) {
    if (!vps.has(e.source)) continue;
    const rates = e.traffic?.rates ?? {};
    if (Number(rates.http ?? 0) > 0) withRate++;
    if (Number(rates.httpPercentErr ?? 0) > 0) withErrors++;
    if (e.responseTime !== undefined && Number(e.responseTime) > 0) withLatency++;
  }
  const vpsWithTraffic = [...vps].map((id) => byId.get(id)?.workload).filter((w) => w !== undefined);
  return {
    parsed: true,
    nodes: nodes.length,
    edges: edges.length,
    vpsNodes: vps.size,
    vpsEdgesWithRate: withRate,
    vpsEdgesWithErrors: withErrors,
    vpsEdgesWithLatency: withLatency,
    appNodes: appNodes.length,
    workloadEntryBadges: entries,
    maxWorkloadEntriesPerNode: maxEntries,
    firstVps: vpsWithTraffic.sort()[0],
  };
}

/**
 * Times and weighs Kiali's pages. `kiali` is the running server ({ url, metricsUrl, pid,
 * exited() }); when it dies during a request (killed at its memory limit, say), `restart()` gives
 * a new one and the request is recorded as failed. Every request is made twice: cold (the first
 * since Kiali started; the namespace graph a cache miss) and warm (right after; the graph served
 * from Kiali's graph cache, the lists from its warmed caches).
 */
export async function measureKiali({
  kiali: first,
  restart = () => Promise.reject(new Error("Kiali stopped answering and measureKiali was given no restart")),
  oomKills = () => 0, namespace = "airport-prod", cluster = "airport-prod", app = "xrayr", vps, timeoutMs = 900_000, log = () => {} }) {
  const requests = [];
  let kiali = first;
  let peakRssMiB = 0;
  const deaths = [];
  const one = async (name, path, { parse = false } = {}) => {
    const timersBefore = await kialiTimers(kiali.metricsUrl);
    const before = procStats(kiali.pid);
    const kills = oomKills();
    let r;
    try {
      r = await get(kiali.url, path, { timeoutMs, keepBody: parse });
    } catch (e) {
      const rec = { name, path, error: String(e.message ?? e) };
      peakRssMiB = Math.max(peakRssMiB, before.peakRssMiB || 0);
      for (let i = 0; i < 20 && kiali.exited() === null; i++) await sleep(100);
      if (kiali.exited() !== null) {
        const oom = oomKills() > kills;
        rec.error = `Kiali died (${oom ? "OOM-killed at its memory limit" : JSON.stringify(kiali.exited())}) during the request`;
        deaths.push(name);
        log(`${name}: ${rec.error}; restarting it`);
        kiali = await restart();
      } else {
        // timed out: Kiali may still be working on it; the next page gets a fresh one
        log(`${name}: ${rec.error}; restarting Kiali`);
        kiali = await restart(kiali);
      }
      requests.push(rec);
      log(`${name}: ${rec.error}`);
      return { ...rec, body: null };
    }
    const after = procStats(kiali.pid);
    peakRssMiB = Math.max(peakRssMiB, after.peakRssMiB || 0);
    const spent = timerDelta(timersBefore, await kialiTimers(kiali.metricsUrl));
    const rec = {
      name,
      path,
      status: r.status,
      ms: Math.round(r.ms),
      bytes: r.bytes,
      wireBytes: r.wireBytes,
      kialiCpuS: Number((after.cpuS - before.cpuS).toFixed(2)),
      overShippedTimeout: r.ms > SHIPPED_WRITE_TIMEOUT_MS,
      kialiSeconds: spent,
    };
    if (r.status !== 200) rec.error = `HTTP ${r.status}: ${(r.body ?? Buffer.alloc(0)).toString().slice(0, 300)}`;
    requests.push(rec);
    log(`${name}: ${rec.status} ${rec.ms} ms, ${(rec.bytes / 1e6).toFixed(2)} MB (${(rec.wireBytes / 1e6).toFixed(2)} MB gzip), Kiali CPU ${rec.kialiCpuS} s${spent !== undefined && Object.keys(spent).length > 0 ? `, in ${JSON.stringify(spent)}` : ""}`);
    return { ...rec, body: r.body };
  };
  const coldWarm = async (name, path, opts) => {
    const cold = await one(`${name} cold`, path, opts);
    // no warm request after a failed cold one: there is nothing in Kiali's caches to warm
    const warm = cold.error === undefined ? await one(`${name} warm`, path, { parse: false }) : { ...cold, body: null };
    return { cold, warm };
  };

  const serverConfig = await one("config", "/api/config", { parse: true });
  const sc = serverConfig.body !== null ? JSON.parse(serverConfig.body.toString()) : {};
  const ambient = sc.ambientEnabled === true;
  // The UI's duration: ui_defaults.metrics_per_refresh (AuthenticationController.tsx).
  const duration = durationSeconds(sc.kialiFeatureFlags?.uiDefaults?.metricsPerRefresh ?? "1m");

  // The UI asks for a graph with refreshInterval=60000: Kiali caches it for the session and
  // regenerates it in the background every minute until the session's graph options change or
  // it is left alone for 10 minutes (kiali_internal.graph_cache). Measured once, for the workload
  // graph: Kiali's CPU over one refresh period while the page stays open. Then, so that one
  // page's refresh does not load the next measurement, the job is stopped as a request with
  // refreshInterval=0 stops it (a graph of istio-system, which costs nothing here).
  const stopRefresh = async () => {
    await one("stop graph refresh", `/api/namespaces/graph?${qs({ duration: "60s", graphType: "app", refreshInterval: 0, appenders: "", namespaces: "istio-system" })}`);
  };
  const refreshCost = async () => {
    const before = procStats(kiali.pid);
    await sleep(65_000);
    return Number((procStats(kiali.pid).cpuS - before.cpuS).toFixed(1));
  };
  const pictures = {};
  const graphs = {};
  let refreshCpuS;
  for (const [key, graphType, responseTime] of [
    ["kialiWorkloadGraph", "workload", undefined],
    ["kialiWorkloadGraphLatency", "workload", "95"],
    ["kialiAppGraph", "app", undefined],
    ["kialiVersionedAppGraph", "versionedApp", undefined],
  ]) {
    const injectServiceNodes = responseTime === undefined;
    graphs[key] = await coldWarm(key, `/api/namespaces/graph?${graphQuery({ namespace, graphType, duration, ambient, responseTime, injectServiceNodes })}`, { parse: true });
    pictures[key] = graphPicture(graphs[key].cold.body, { app, namespace });
    graphs[key].cold.body = null;
    if (key === "kialiWorkloadGraph" && graphs[key].cold.error === undefined) {
      refreshCpuS = await refreshCost();
      log(`workload graph left open: Kiali used ${refreshCpuS} CPU-s in the next 65 s`);
    }
    await stopRefresh();
  }

  const listPath = (health) => `/api/clusters/workloads?${qs({ health, istioResources: true, namespaces: namespace, clusterName: cluster })}`;
  const list = await coldWarm("kialiWorkloadList", listPath(true), { parse: true });
  const listNoHealth = await coldWarm("kialiWorkloadListNoHealth", listPath(false));
  let listed = [];
  if (list.cold.body !== null && list.cold.status === 200) listed = JSON.parse(list.cold.body.toString()).workloads ?? [];
  // A VPS is a workload whose workload-name label is its own name (the operator's per-node group).
  const vpsName = vps ?? pictures.kialiWorkloadGraph.firstVps ?? listed.find((w) => w.labels?.["service.istio.io/workload-name"] === w.name)?.name;
  if (vpsName === undefined) throw new Error(`no VPS workload in ${namespace}: neither the workload graph nor the workload list shows one`);

  // A workload page: its details (with health), then its overview's node graph and Istio objects.
  const page = async (label) => {
    const t0 = performance.now();
    const details = await one(`kialiVpsPage ${label} details`, `/api/namespaces/${namespace}/workloads/${encodeURIComponent(vpsName)}?${qs({ validate: true, rateInterval: `${duration}s`, health: true, clusterName: cluster })}`, { parse: true });
    let labels = {};
    let health = null;
    if (details.body !== null && details.status === 200) {
      const w = JSON.parse(details.body.toString());
      labels = w.labels ?? {};
      health = { workloadEntries: (w.workloadEntries ?? []).map((e) => e.name), status: w.health?.status ?? null, requests: w.health?.requests ?? null };
    }
    const selector = Object.entries(labels).map(([k, v]) => (v ? `${k}=${v}` : k)).join(",");
    const [nodeGraph] = await Promise.all([
      one(`kialiVpsPage ${label} graph`, `/api/namespaces/${namespace}/workloads/${encodeURIComponent(vpsName)}/graph?${workloadNodeGraphQuery({ cluster, duration, ambient })}`, { parse: true }),
      selector === "" ? Promise.resolve(null) : one(`kialiVpsPage ${label} istio`, `/api/namespaces/${namespace}/istio?${qs({ objects: WORKLOAD_ISTIO_OBJECTS, workloadSelector: selector, clusterName: cluster })}`),
    ]);
    return { ms: Math.round(performance.now() - t0), details, nodeGraph, health, picture: graphPicture(nodeGraph.body, { app, namespace }) };
  };
  const pageCold = await page("cold");
  const pageWarm = await page("warm");

  const mb = (b) => Number(((b ?? NaN) / 1e6).toFixed(2));
  const out = { vps: vpsName, ambient, durationS: duration };
  for (const [key, { cold, warm }] of Object.entries(graphs)) {
    // null: the request failed (out.errors says why)
    out[key] = cold.ms ?? null;
    out[`${key}Warm`] = warm.ms ?? null;
    out[`${key}MB`] = mb(cold.bytes);
    out[`${key}GzipMB`] = mb(cold.wireBytes);
  }
  out.kialiWorkloadList = list.cold.ms ?? null;
  out.kialiWorkloadListWarm = list.warm.ms ?? null;
  out.kialiWorkloadListMB = mb(list.cold.bytes);
  out.kialiWorkloadListNoHealth = listNoHealth.cold.ms ?? null;
  out.kialiWorkloadListNoHealthWarm = listNoHealth.warm.ms ?? null;
  out.kialiWorkloadListCount = listed.length;
  out.kialiWorkloadGraphRefreshCpuSPerMin = refreshCpuS;
  out.kialiVpsPage = pageCold.ms;
  out.kialiVpsPageWarm = pageWarm.ms;
  out.kialiVpsPageDetails = pageCold.details.ms ?? null;
  out.kialiVpsPageGraph = pageCold.nodeGraph.ms ?? null;
  out.kialiVpsPageHealth = pageCold.health;
  out.pictures = { ...pictures, kialiVpsPageGraph: pageCold.picture };
  const failed = requests.filter((r) => r.error !== undefined);
  out.errors = failed.map((r) => `${r.name}: ${r.error}`);
  out.overShippedTimeout = requests.filter((r) => r.overShippedTimeout).map((r) => r.name);
  out.kialiPeakRssMiB = Math.round(Math.max(peakRssMiB, procStats(kiali.pid).peakRssMiB || 0));
  out.kialiDiedDuring = deaths;
  out.requests = requests;
  return out;
}

/** The memory limit the chart gives Kiali (kiali-values.yaml deployment.resources.limits.memory). */
export function chartMemoryLimit(valuesFile = join(repo, "deploy/istio/observability/kiali-values.yaml")) {
  const raw = parseYaml(readFileSync(valuesFile, "utf8"))?.deployment?.resources?.limits?.memory;
  return parseMemory(raw, valuesFile);
}

function parseMemory(raw, where) {
  const m = /^(\d+)(Mi|Gi)$/.exec(String(raw));
  if (m === null) throw new Error(`${where}: memory ${JSON.stringify(raw)}: expected NMi or NGi`);
  return { text: raw, bytes: Number(m[1]) * (m[2] === "Gi" ? 1 << 30 : 1 << 20) };
}

/**
 * Start Kiali, measure, stop it: the object of measureKiali, plus the memory limit it ran in.
 * Kiali runs in a memory cgroup at `memoryLimit` ({ text, bytes }; default the chart's), as in
 * its pod, or without one when memoryLimit is null or no cgroup can be made here (said in the
 * result). Killed at the limit, it is restarted for the next page.
 */
export async function benchKiali({ kialiBin, kubeconfig, prometheusUrl, namespace = "airport-prod", cluster = "airport-prod", app = "xrayr", vps, workDir, pprof = false, timeoutMs, settleMaxS, memoryLimit = chartMemoryLimit(), log = () => {} }) {
  let cgroup;
  let memoryNote = "no limit";
  if (memoryLimit !== null) {
    const { memoryCgroup } = await import(join(repo, "test/e2e/support/cgroup.ts"));
    const cg = memoryCgroup("bench-kiali", memoryLimit.bytes);
    if ("unavailable" in cg) memoryNote = `no limit (${cg.unavailable})`;
    else {
      cgroup = cg;
      memoryNote = memoryLimit.text;
    }
  }
  const start = () => startKiali({ kialiBin, kubeconfig, prometheusUrl, cluster, workDir, pprof, cgroup, settleMaxS, log });
  const first = await start();
  let current = first;
  try {
    const result = await measureKiali({
      kiali: first,
      restart: async (running) => {
        if (running !== undefined) await running.stop();
        return (current = await start());
      },
      oomKills: () => cgroup?.oomKills() ?? 0,
      namespace,
      cluster,
      app,
      vps,
      timeoutMs,
      log,
    });
    // The cgroup's own peak also covers a Kiali killed at the limit, whose RSS died with it.
    const cgroupPeakMiB = (cgroup?.peakBytes() ?? 0) / 2 ** 20;
    return {
      ...result,
      kialiPeakRssMiB: Math.round(Math.max(result.kialiPeakRssMiB, cgroupPeakMiB)),
      kialiMemoryLimit: memoryNote,
      kialiOomKills: cgroup?.oomKills() ?? 0,
      kialiStartS: Number(first.settledS.toFixed(1)),
      kialiIdleAfterStart: first.idle,
      kialiStartCpuS: Number(first.startCpuS.toFixed(1)),
    };
  } finally {
    await current.stop();
    cgroup?.remove();
  }
}

function table(r) {
  const rows = [
    ["workload graph", r.kialiWorkloadGraph, r.kialiWorkloadGraphWarm, r.kialiWorkloadGraphMB, r.pictures.kialiWorkloadGraph],
    ["workload graph, p95, no svc nodes", r.kialiWorkloadGraphLatency, r.kialiWorkloadGraphLatencyWarm, r.kialiWorkloadGraphLatencyMB, r.pictures.kialiWorkloadGraphLatency],
    ["app graph", r.kialiAppGraph, r.kialiAppGraphWarm, r.kialiAppGraphMB, r.pictures.kialiAppGraph],
    ["versioned-app graph", r.kialiVersionedAppGraph, r.kialiVersionedAppGraphWarm, r.kialiVersionedAppGraphMB, r.pictures.kialiVersionedAppGraph],
    ["workload list (health on)", r.kialiWorkloadList, r.kialiWorkloadListWarm, r.kialiWorkloadListMB, null],
    ["workload list (health off)", r.kialiWorkloadListNoHealth, r.kialiWorkloadListNoHealthWarm, NaN, null],
    [`VPS page (${r.vps})`, r.kialiVpsPage, r.kialiVpsPageWarm, NaN, r.pictures.kialiVpsPageGraph],
  ];
  const lines = [`duration ${r.durationS}s (ui_defaults.metrics_per_refresh)`, `${"page".padEnd(32)} ${"cold ms".padStart(9)} ${"warm ms".padStart(9)} ${"MB".padStart(8)}  what it shows`];
  for (const [name, cold, warm, mbv, p] of rows) {
    const shows = p === null ? "" : !p.parsed ? "(too large to parse)" : `${p.nodes} nodes, ${p.vpsNodes} VPS, rate ${p.vpsEdgesWithRate}, errors ${p.vpsEdgesWithErrors}, latency ${p.vpsEdgesWithLatency}, app nodes ${p.appNodes}, max WE/node ${p.maxWorkloadEntriesPerNode}`;
    const ms = (v) => (v === null || v === undefined ? "failed" : String(v));
    const mbText = mbv === null || mbv === undefined || Number.isNaN(mbv) ? "" : String(mbv);
    lines.push(`${name.padEnd(32)} ${ms(cold).padStart(9)} ${ms(warm).padStart(9)} ${mbText.padStart(8)}  ${cold === null ? "" : shows}`);
  }
  lines.push(`workload graph left open: Kiali ${r.kialiWorkloadGraphRefreshCpuSPerMin} CPU-s a minute (its background refresh); started and ${r.kialiIdleAfterStart ? "idle" : "still busy"} after ${r.kialiStartS} s (${r.kialiStartCpuS} CPU-s)`);
  lines.push(`Kiali memory limit ${r.kialiMemoryLimit}, OOM kills ${r.kialiOomKills}${r.kialiDiedDuring.length > 0 ? ` (died during: ${r.kialiDiedDuring.join(", ")})` : ""}`);
  lines.push(`Kiali peak RSS ${r.kialiPeakRssMiB} MiB; workloads listed ${r.kialiWorkloadListCount}; VPS health: ${JSON.stringify(r.kialiVpsPageHealth)}`);
  if (r.overShippedTimeout.length > 0) lines.push(`over Kiali's shipped 30 s write timeout (the UI would get an error): ${r.overShippedTimeout.join(", ")}`);
  if (r.errors.length > 0) lines.push(`errors: ${r.errors.join("; ")}`);
  return lines.join("\n");
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const labDir = resolve(process.env.LAB_DIR ?? join(repo, ".lab"));
  const endpoints = JSON.parse(readFileSync(join(labDir, "endpoints.json"), "utf8"));
  const say = (s) => process.stderr.write(`[bench-kiali ${new Date().toISOString().slice(11, 19)}] ${s}\n`);
  // KIALI_BIN may name several servers (colon-separated, e.g. Kiali main and a patched build):
  // each is started, measured and stopped in turn against the same lab and traffic.
  const bins = (process.env.KIALI_BIN ?? "").split(":").filter((b) => b !== "");
  if (bins.length === 0) throw new Error("KIALI_BIN: name a Kiali server binary (built from kiali/kiali main)");
  const labels = (process.env.KIALI_LABELS ?? "").split(",").filter((l) => l !== "");
  const limits = (process.env.KIALI_MEMORY_LIMIT ?? "").split(",");
  const limitOf = (i) => {
    const raw = limits[i] ?? limits[0] ?? "";
    return raw === "" ? chartMemoryLimit() : raw === "none" ? null : parseMemory(raw, "KIALI_MEMORY_LIMIT");
  };
  const report = {};
  for (const [i, kialiBin] of bins.entries()) {
    const label = labels[i] ?? (bins.length === 1 ? "kiali" : basename(dirname(kialiBin)));
    say(`${label}: ${kialiBin}`);
    report[label] = await benchKiali({
      kialiBin,
      kubeconfig: endpoints.kubeconfig ?? join(labDir, "kubeconfig"),
      prometheusUrl: endpoints.prometheus,
      namespace: process.env.KIALI_NAMESPACE ?? "airport-prod",
      vps: process.env.KIALI_VPS,
      workDir: join(labDir, "kiali", label),
      pprof: process.env.KIALI_PPROF === "1",
      timeoutMs: Number(process.env.KIALI_REQUEST_TIMEOUT_S ?? 900) * 1000,
      memoryLimit: limitOf(i),
      settleMaxS: Number(process.env.KIALI_SETTLE_MAX_S ?? 300),
      log: say,
    });
    console.log(`\n${label} (${kialiBin})\n${table(report[label])}`);
  }
  const file = resolve(process.env.KIALI_REPORT ?? join(repo, ".reports/kiali.json"));
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, JSON.stringify(bins.length === 1 ? Object.values(report)[0] : report, null, 2) + "\n");
  say(`figures in ${file}`);
}
