#!/usr/bin/env node
// `make bench-mesh`: the whole chain at fleet scale, on the mesh lab (docs/attribution.md): the
// API server, the operator as the image runs it (in the chart's memory limit), istiod built from
// the pinned module, R Xboard sidecar stand-ins behind one entry point, M other sidecars
// (xds-clients), Prometheus as deploy/istio ships it (in a memory cgroup), XrayR's fleet
// (xrayr-traffic) on its real 60 s schedule with 1 % of the VPS answered 503, and churn (a
// registration, a retirement and an address change in turn, one a second).
//
// Two runs side by side, each on a fresh lab:
//   default   Istio's default telemetry for Xboard (MESH_TELEMETRY=default) at BENCH_MESH_DEFAULT_VPS
//             (2,000: at 10,000 x 3 pods it needs more memory than the machine has)
//   project   deploy/istio's profile at BENCH_MESH_VPS (10,000), with istiod's side first
// Telemetry (issue 16), per run: head series in all and per VPS, Prometheus's peak and steady RSS
// and CPU, each reader's queries (Kiali's graph and health queries, verify, the operator's poll,
// every dashboard panel; Kiali's own pages when KIALI_BIN names a Kiali server), the generator's
// per-VPS counts against Prometheus's, the failing VPS's error rate, a retired VPS's series gone
// from the sidecars within the eviction time (bench/mesh-telemetry.mjs).
// istiod's side (issue 17), project run: backfill (until every node is Ready, until every Xboard
// sidecar names every VPS; istiod's peak RSS, heap and CPU), churn at 1 and at 10 changes a second
// (register -> every Xboard sidecar p50/p99/max; what every sidecar received per change; istiod
// CPU per change), an istiod restart, and (BENCH_MESH_KNOBS=1) each istiod setting turned one at
// a time (bench/mesh-istiod.mjs). After every phase each Xboard sidecar's index must equal the
// Ready nodes. Prints both tables; writes .reports/bench-mesh.json. Not part of make test.
//   BENCH_MESH_VPS (10000)  BENCH_MESH_DEFAULT_VPS (2000)  BENCH_MESH_SIDECARS (3)
//   BENCH_MESH_PLAIN (50)  BENCH_MESH_RUNS (default,project)  BENCH_MESH_KNOBS (0)
//   BENCH_MESH_CHURN_SECONDS (120)  BENCH_MESH_WARMUP_SECONDS (240)  BENCH_MESH_PERIOD_SECONDS (60)
//   BENCH_MESH_EVICTION_WAIT_SECONDS (660: 2 x the profile's 5m interval and a minute)
//   BENCH_MESH_PROMETHEUS_LIMIT_GIB (12)  BENCH_MESH_SERVICEENTRY (0)  KIALI_BIN (unset)
//   ENTRY_WRITES_PER_SECOND (the operator's default): passed to the operator
/* global setInterval, clearInterval */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parse as parseYaml } from "yaml";
import { freePort, getText, killAll, labScripts, metricSum, say, sleep, start, stop, until } from "./mesh-lib.mjs";
import { churnPhase, deliveryLatencies, Fleet, Istiod, kubeHelpers, NS, restartPhase, sidecarCounters, sidecarsWhole, startPlainSidecars } from "./mesh-istiod.mjs";
import { confinePrometheus, telemetryPhase } from "./mesh-telemetry.mjs";

const repo = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const { operatorArgv } = await import(join(repo, "test/e2e/support/entrypoint.ts"));
const { memoryCgroup } = await import(join(repo, "test/e2e/support/cgroup.ts"));
const operatorCommand = operatorArgv(repo, process.execPath);
if (!existsSync(operatorCommand.at(-1))) throw new Error("dist/bundle is missing: run npm run build first");

const N = Number(process.env.BENCH_MESH_VPS ?? 10000);
const R = Number(process.env.BENCH_MESH_SIDECARS ?? 3);
const M = Number(process.env.BENCH_MESH_PLAIN ?? 50);
const N_DEFAULT = Number(process.env.BENCH_MESH_DEFAULT_VPS ?? 2000);
const RUNS = (process.env.BENCH_MESH_RUNS ?? "default,project").split(",").filter((r) => r !== "");
for (const r of RUNS) if (r !== "default" && r !== "project") throw new Error(`BENCH_MESH_RUNS: ${r} is neither default nor project`);
const WARMUP_SECONDS = Number(process.env.BENCH_MESH_WARMUP_SECONDS ?? 240);
const PERIOD_SECONDS = Number(process.env.BENCH_MESH_PERIOD_SECONDS ?? 60);
const EVICTION_WAIT_SECONDS = Number(process.env.BENCH_MESH_EVICTION_WAIT_SECONDS ?? 660);
const PROMETHEUS_LIMIT = Number(process.env.BENCH_MESH_PROMETHEUS_LIMIT_GIB ?? 12) * (1 << 30);
const KIALI_BIN = process.env.KIALI_BIN;
const KNOBS = process.env.BENCH_MESH_KNOBS === "1";
const CHURN_SECONDS = Number(process.env.BENCH_MESH_CHURN_SECONDS ?? 120);
// BENCH_MESH_SERVICEENTRY=1: the run with the optional fleet-wide ServiceEntry applied (as
// deploy/istio shipped it before; the "before" of docs/benchmarks.md).
const SERVICE_ENTRY = process.env.BENCH_MESH_SERVICEENTRY === "1";
const LAB_DIR = resolve(process.env.LAB_DIR ?? join(repo, ".lab-bench-mesh"));
const WORK = `${LAB_DIR}-work`;
mkdirSync(WORK, { recursive: true });
mkdirSync(join(repo, ".reports"), { recursive: true });
const lab = labScripts(repo, LAB_DIR);

function chartMemoryLimit() {
  const raw = parseYaml(readFileSync(join(repo, "charts/xrayr-mesh-operator/values.yaml"), "utf8")).resources.limits.memory;
  const m = /^(\d+)(Mi|Gi)$/.exec(raw);
  if (m === null) throw new Error(`chart memory limit ${raw}: expected NMi or NGi`);
  return Number(m[1]) * (m[2] === "Gi" ? 1 << 30 : 1 << 20);
}

async function startOperator(ep, env = {}) {
  const port = await freePort();
  const made = memoryCgroup("xrayr-bench-mesh", chartMemoryLimit());
  const cgroup = "dir" in made ? made : undefined;
  const p = start("operator", cgroup !== undefined ? cgroup.wrap(operatorCommand) : operatorCommand, {
    PATH: process.env.PATH, HOME: process.env.HOME,
    AIRPORT_NAMESPACE: NS, AIRPORT_KUBECONFIG: lab.kubeconfig, LEADER_ELECTION: "false",
    // The fleet calls from loopback addresses (the generator binds them).
    ADDRESS_POLICY: "any", METRICS_ADDR: `127.0.0.1:${port}`, POD_NAME: "bench-mesh", LOG_LEVEL: "warn",
    PROMETHEUS_URL: ep.prometheus,
    ...(process.env.ENTRY_WRITES_PER_SECOND ? { ENTRY_WRITES_PER_SECOND: process.env.ENTRY_WRITES_PER_SECOND } : {}),
    ...env,
  }, WORK);
  return { ...p, port, cgroup };
}

/** The operator's entry write pace so far (xrayr_mesh_entry_write_wait_seconds, _waits_total). */
async function entryPace(op) {
  const text = await getText(`http://127.0.0.1:${op.port}/metrics`);
  return {
    writes: metricSum(text, "xrayr_mesh_entry_write_wait_seconds_count") ?? 0,
    heldBack: metricSum(text, "xrayr_mesh_entry_write_waits_total") ?? 0,
    waitSeconds: metricSum(text, "xrayr_mesh_entry_write_wait_seconds_sum") ?? 0,
  };
}

/** The R Xboard sidecars' admin URLs (endpoints.json lists them; a one-sidecar lab has one). */
function xboardSidecars(ep) {
  return ep.sidecarAdmins ?? [ep.sidecarAdmin];
}

const date = new Date().toISOString();
let commit = "";
try {
  commit = (await import("node:child_process")).execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: repo, encoding: "utf8" }).trim();
} catch {
  // not a git checkout: the report says so
}

/** A fresh lab with `profile`'s telemetry: n XrayrNodes, the operator, every sidecar whole. */
async function setUp(profile, n, withPlain) {
  say(`${profile}: ${n} VPS, ${R} Xboard sidecars${withPlain ? `, ${M} other sidecars` : ""}; lab ${LAB_DIR}`);
  lab.down();
  lab.up();
  lab.meshUp({ XBOARD_REPLICAS: String(R), SCRAPE_INTERVAL: "15s", MESH_TELEMETRY: profile });
  const ep = lab.endpoints();
  const prom = confinePrometheus(lab, memoryCgroup, PROMETHEUS_LIMIT);
  const sidecars = xboardSidecars(ep);
  const kube = kubeHelpers(lab.kubeconfig);
  const istiod = new Istiod(lab, ep);
  await fleetServiceEntry(kube, SERVICE_ENTRY);
  const plain = withPlain ? await startPlainSidecars({ binary: ep.xdsClients, ep, m: M, workDir: WORK, kube }) : undefined;
  const fleet = new Fleet({ kubeconfig: lab.kubeconfig });
  const created = await fleet.createCold(n, 32); // not measured: the fleet exists before the operator starts
  say(`${n} XrayrNodes created in ${created.toFixed(1)} s (no operator yet)`);
  return { ep, prom, sidecars, kube, istiod, plain, fleet };
}

/** Churn at 1/s in the background (the fleet's life while the telemetry is read). */
function backgroundChurn(fleet) {
  return () => {
    let stopped = false;
    const running = (async () => { while (!stopped) await fleet.churn(1, 10); })();
    return { stop: async () => { stopped = true; await running; } };
  };
}

const kialiBench = KIALI_BIN === undefined ? undefined : (ep) => async ({ vps }) => {
  const { benchKiali } = await import("./kiali.mjs");
  return benchKiali({ kialiBin: KIALI_BIN, kubeconfig: lab.kubeconfig, prometheusUrl: ep.prometheus, cluster: ep.clusterId, vps, workDir: join(WORK, "kiali"), timeoutMs: 300_000, log: say });
};

async function telemetry(profile, ctx, evictionWaitS) {
  const from = ctx.fleet.changes.length;
  const t = await telemetryPhase({
    repo, lab, ep: ctx.ep, fleet: ctx.fleet, sidecars: ctx.sidecars, prom: ctx.prom, profile, workDir: WORK,
    periodS: PERIOD_SECONDS, warmupS: WARMUP_SECONDS, churn: backgroundChurn(ctx.fleet), evictionWaitS, kiali: kialiBench?.(ctx.ep),
  });
  // The churn under traffic: register -> every Xboard sidecar, as in the istiod phases.
  t.churnUnderTraffic = { changes: ctx.fleet.changes.length - from, delivery: await deliveryLatencies(ctx.sidecars, ctx.fleet.changes.slice(from)) };
  t.whole = await sidecarsWhole(ctx.sidecars, ctx.fleet, 120_000);
  return t;
}

/** Istio's default telemetry at the size that fits: the "before" of the side-by-side table. */
async function defaultRun() {
  const ctx = await setUp("default", N_DEFAULT, false);
  const op = await startOperator(ctx.ep);
  try {
    await until("every node Ready", async () => (await ctx.fleet.readyNodes()).size >= N_DEFAULT, 1_800_000, 2_000);
    await sidecarsWhole(ctx.sidecars, ctx.fleet, 300_000);
    // Istio's default keeps a caller's series until the pod restarts: no eviction to wait for.
    return await telemetry("default", ctx, 0);
  } finally {
    await stop(op);
    op.cgroup?.remove();
  }
}

/** deploy/istio's profile at N, istiod's side first (backfill, churn, restart), then the telemetry. */
async function projectRun() {
  const ctx = await setUp("project", N, true);
  const { ep, sidecars, istiod, plain, fleet, kube } = ctx;
  const result = {};
  const heap0 = await istiod.heapMiB();

  // ---- backfill ----
  const use = istiod.mark();
  let heapPeak = heap0;
  const heapTimer = setInterval(() => { istiod.heapMiB().then((h) => { heapPeak = Math.max(heapPeak, h); }, () => {}); }, 2_000);
  const t0 = Date.now();
  const op = await startOperator(ep);
  try {
    const operatorDone = until("every node Ready", async () => ((await fleet.readyNodes()).size >= N ? (Date.now() - t0) / 1000 : undefined), 1_800_000, 2_000);
    const sidecarsDone = until("every Xboard sidecar holding every VPS", async () => {
      const c = await Promise.all(sidecars.map(sidecarCounters));
      return c.every((x) => x.index >= N) ? (Date.now() - t0) / 1000 : undefined;
    }, 1_800_000, 500);
    const [operatorSeconds, sidecarSeconds] = await Promise.all([operatorDone, sidecarsDone]);
    clearInterval(heapTimer);
    const backfill = use();
    const whole = await sidecarsWhole(sidecars, fleet, 120_000);
    const pace = await entryPace(op);
    result.backfill = {
      entryPace: pace,
      operatorSeconds, sidecarSeconds, ratio: sidecarSeconds / operatorSeconds,
      istiodPeakRssMiB: backfill.peakMiB, istiodHeapMiB: { before: heap0, peak: heapPeak, after: await istiod.heapMiB() },
      istiodCpuSeconds: backfill.cpu, istiodCpuMsPerVps: (backfill.cpu / N) * 1000, whole,
    };
    say(`backfill: operator ${operatorSeconds.toFixed(1)} s, sidecars ${sidecarSeconds.toFixed(1)} s (x${(sidecarSeconds / operatorSeconds).toFixed(2)}); istiod peak RSS ${backfill.peakMiB.toFixed(0)} MiB, heap peak ${heapPeak.toFixed(0)} MiB, ${backfill.cpu.toFixed(1)} CPU-s (${((backfill.cpu / N) * 1000).toFixed(1)} ms a VPS); whole ${whole.ok}; entry pace: ${pace.heldBack} of ${pace.writes} entry writes held back, ${pace.waitSeconds.toFixed(1)} s in all`);

    // ---- churn ----
    result.churn = {};
    for (const rate of [1, 10]) {
      const seconds = rate === 1 ? CHURN_SECONDS : Math.max(30, CHURN_SECONDS / 2);
      const r = await churnPhase({ fleet, sidecars, plain, istiod, rate, seconds });
      result.churn[`${rate}/s`] = r;
      say(`churn ${rate}/s (${r.changes} changes): register -> every Xboard sidecar p50 ${r.delivery.p50} ms, p99 ${r.delivery.p99} ms, max ${r.delivery.max} ms, undelivered ${r.delivery.undelivered}; plain sidecars beside Xboard ${r.plainBeside.bytesPerChangePerSidecar.toFixed(0)} B/change, elsewhere ${r.plainElsewhere.bytesPerChangePerSidecar.toFixed(0)} B/change; istiod ${r.istiod.cpuPerChangeMs.toFixed(1)} CPU-ms/change; whole ${r.whole.ok}`);
    }

    // ---- the telemetry, with the fleet calling ----
    result.telemetry = await telemetry("project", ctx, EVICTION_WAIT_SECONDS);

    // ---- restart ----
    result.restart = await restartPhase({ lab, labDir: LAB_DIR, istiod, fleet, sidecars, plain });
    say(`restart at ${N}: istiod ready ${result.restart.istiodReadySeconds.toFixed(1)} s, every sidecar whole ${result.restart.wholeSeconds.toFixed(1)} s, gRPC limit errors ${result.restart.grpcLimitErrors.length}; heap ${result.restart.heapMiB.toFixed(0)} MiB, RSS ${result.restart.rssMiB.toFixed(0)} MiB`);

    if (KNOBS) result.knobs = await knobs({ ep, fleet, sidecars, plain, istiod, kube });
  } finally {
    clearInterval(heapTimer);
    await stop(op);
    op.cgroup?.remove();
    if (plain !== undefined) await stop(plain);
  }
  return result;
}

const SE = { group: "networking.istio.io", version: "v1", namespace: NS, plural: "serviceentries", name: "xrayr-nodes" };
const seFile = () => ["deploy/istio/optional/serviceentry.yaml", "deploy/istio/serviceentry.yaml"].map((f) => join(repo, f)).find((f) => existsSync(f));
/** Makes the fleet-wide ServiceEntry present or absent; returns whether it was there. */
async function fleetServiceEntry(kube, want) {
  const had = await kube.custom.getNamespacedCustomObject(SE).then(() => true, () => false);
  if (want && !had) await kube.custom.createNamespacedCustomObject({ ...SE, body: parseYaml(readFileSync(seFile(), "utf8")) });
  if (!want && had) await kube.custom.deleteNamespacedCustomObject(SE);
  return had;
}

// Each knob turned on its own, with churn at 1/s for a minute and at 10/s for half a minute,
// back to deploy/istio's setting after.
async function knobs({ fleet, sidecars, plain, istiod, kube }) {
  const out = {};
  const churn = async (label) => {
    const r = {};
    for (const [rate, seconds] of [[1, 60], [10, 30]]) {
      const c = await churnPhase({ fleet, sidecars, plain, istiod, rate, seconds });
      say(`knob ${label}, ${rate}/s: p50 ${c.delivery.p50} ms, p99 ${c.delivery.p99} ms, undelivered ${c.delivery.undelivered}, beside ${c.plainBeside.bytesPerChangePerSidecar.toFixed(0)} B/change, elsewhere ${c.plainElsewhere.bytesPerChangePerSidecar.toFixed(0)} B/change, istiod ${c.istiod.cpuPerChangeMs.toFixed(1)} CPU-ms/change, whole ${c.whole.ok}`);
      r[`${rate}/s`] = c;
    }
    return { ...r, heapMiB: await istiod.heapMiB() };
  };
  const withEnv = async (k, v, shipped) => {
    lab.restartIstiod(`${k}=${v}`);
    await sidecarsWhole(sidecars, fleet, 180_000);
    const r = await churn(`${k}=${v}`);
    lab.restartIstiod(`${k}=${shipped}`);
    await sidecarsWhole(sidecars, fleet, 180_000);
    return r;
  };
  // Knobs are compared without the fleet-wide ServiceEntry (its own knob, last): its EDS pushes
  // reach the Xboard sidecars too and would hide what a setting does to the workload pushes.
  const hadSe = await fleetServiceEntry(kube, false);
  await sleep(5_000);
  out.baseline = await churn("as shipped, no ServiceEntry");
  out.k8sSelectOff = await withEnv("PILOT_ENABLE_K8S_SELECT_WORKLOAD_ENTRIES", "false", "true");
  out.edsDebounceOff = await withEnv("PILOT_ENABLE_EDS_DEBOUNCE", "false", "true");
  out.debounceMax1s = await withEnv("PILOT_DEBOUNCE_MAX", "1s", "10s");
  out.scopedAddressPushes = await withEnv("AMBIENT_SCOPED_ADDRESS_PUSHES", "true", "false");
  // The fleet-wide ServiceEntry: every airport-prod sidecar imports it, so each change resends
  // its N endpoints to each of them.
  await fleetServiceEntry(kube, true);
  await sleep(10_000);
  out.serviceEntry = await churn("xrayr-nodes ServiceEntry");
  await fleetServiceEntry(kube, hadSe);
  return out;
}


const runs = {};
try {
  if (RUNS.includes("default")) runs.default = await defaultRun();
  if (RUNS.includes("project")) runs.project = await projectRun();
} finally {
  killAll();
  if (process.env.BENCH_MESH_KEEP_LAB !== "1") lab.down();
}

// ---- the report -----------------------------------------------------------------------------
const json = join(repo, ".reports/bench-mesh.json");
const prev = existsSync(json) ? JSON.parse(readFileSync(json, "utf8")) : {};
const stamp = { date, commit };
const report = { ...prev };
const telemetryOf = (t) => t === undefined ? undefined : { ...stamp, ...t };
if (runs.default !== undefined) report.default = telemetryOf(runs.default);
const p = runs.project;
if (p !== undefined) {
  report.project = telemetryOf(p.telemetry);
  const c1 = p.churn["1/s"];
  report[SERVICE_ENTRY ? "istiodWithServiceEntry" : "istiod"] = {
    ...stamp, vps: N, sidecars: R, plainSidecars: M,
    registerToSidecarP99Ms: c1.delivery.p99,
    registerToSidecarP99MsAt10PerSecond: p.churn["10/s"].delivery.p99,
    registerToSidecarP99MsUnderTraffic: p.telemetry.churnUnderTraffic.delivery.p99,
    plainSidecarBytesPerChange: Math.max(c1.plainBeside.bytesPerChangePerSidecar, c1.plainElsewhere.bytesPerChangePerSidecar),
    backfillSeconds: p.backfill.sidecarSeconds,
    operatorBackfillSeconds: p.backfill.operatorSeconds,
    istiodPeakRssMiB: p.backfill.istiodPeakRssMiB,
    istiodCpuMsPerVps: p.backfill.istiodCpuMsPerVps,
    entryWritesHeldBack: p.backfill.entryPace.heldBack,
    restartWholeSeconds: p.restart.wholeSeconds,
    detail: { backfill: p.backfill, churn: p.churn, restart: p.restart, knobs: p.knobs },
  };
}
writeFileSync(json, JSON.stringify(report, null, 2) + "\n");

const out = [];
const fmt = (v, d = 0) => (v === undefined || v === null || Number.isNaN(v) ? "-" : typeof v === "number" ? v.toFixed(d) : String(v));
const profiles = ["default", "project"].filter((k) => runs[k] !== undefined).map((k) => [k, k === "default" ? runs.default : runs.project.telemetry]);
if (profiles.length > 0) {
  out.push(`Telemetry: XrayR -> Xboard through ${R} Xboard sidecars, every VPS on XrayR's ${PERIOD_SECONDS} s schedule, 1 % answered 503, churn 1/s (${date.slice(0, 10)}, ${commit})`);
  const rows = [
    ["VPS", (t) => fmt(t.vps)],
    ["head series", (t) => fmt(t.headSeries)],
    ["Xboard inbound istio_* series per VPS (max)", (t) => `${fmt(t.seriesPerVps, 1)} (${fmt(t.seriesPerVpsMax)})`],
    ["head series per VPS", (t) => fmt(t.headSeriesPerVps, 1)],
    ["Prometheus peak / steady RSS MiB", (t) => `${fmt(t.prometheusPeakRssMiB)} / ${fmt(t.prometheusSteadyRssMiB)}`],
    ["Prometheus CPU (cores, mean)", (t) => fmt(t.prometheusCpuCores, 2)],
    ["Kiali graph query ms", (t) => fmt(t.queriesMs.kialiGraph)],
    ["Kiali health, one VPS / xboard ms", (t) => `${fmt(t.queriesMs.kialiHealth)} / ${fmt(t.queriesMs.kialiHealthXboard)}`],
    ["verify ms (whole command)", (t) => fmt(t.queriesMs.verify)],
    ["operator's status.traffic read ms", (t) => fmt(t.queriesMs.operatorPoll)],
    ["slowest dashboard panel ms", (t) => `${fmt(t.queriesMs.panelsMax)} (${t.queries.panelsMax.panel ?? "-"})`],
    ["Kiali workload / app / versioned-app graph ms", (t) => `${fmt(t.queriesMs.kialiWorkloadGraph)} / ${fmt(t.queriesMs.kialiAppGraph)} / ${fmt(t.queriesMs.kialiVersionedAppGraph)}`],
    ["Kiali workload graph MB", (t) => fmt(t.kialiWorkloadGraphMB, 1)],
    ["Kiali workload list / a VPS's page ms", (t) => `${fmt(t.queriesMs.kialiWorkloadList)} / ${fmt(t.queriesMs.kialiVpsPage)}`],
    ["VPS within 2 % of ground truth", (t) => `${t.groundTruth.within2Percent}/${t.groundTruth.compared} (worst ${fmt(t.groundTruth.worstDeviation * 100, 2)} %)`],
    ["503 VPS error ratio (min) / clean VPS with 5xx", (t) => `${fmt(t.groundTruth.failingErrorRatioMin, 3)} / ${t.groundTruth.cleanVpsWithErrors}`],
    ["retired under traffic: still on a sidecar (after wait)", (t) => `${t.eviction.stillOnASidecar}/${t.eviction.retired} (${t.eviction.olderThanWaitStillThere} older than ${t.eviction.waitS} s)`],
    ["register -> sidecar p99 ms under traffic", (t) => fmt(t.churnUnderTraffic.delivery.p99)],
  ];
  out.push(`${"".padEnd(52)} ${profiles.map(([k]) => k.padStart(22)).join(" ")}`);
  for (const [label, f] of rows) out.push(`${label.padEnd(52)} ${profiles.map(([, t]) => f(t).padStart(22)).join(" ")}`);
}
if (p !== undefined) {
  const c1 = p.churn["1/s"], c10 = p.churn["10/s"];
  out.push("", `istiod at ${N} VPS, ${R} Xboard sidecars, ${M} other sidecars${SERVICE_ENTRY ? ", with the fleet-wide ServiceEntry" : ""} (${date.slice(0, 10)}, ${commit})`);
  out.push(`backfill: operator ${p.backfill.operatorSeconds.toFixed(1)} s, every Xboard sidecar ${p.backfill.sidecarSeconds.toFixed(1)} s (x${p.backfill.ratio.toFixed(2)}); istiod peak RSS ${p.backfill.istiodPeakRssMiB.toFixed(0)} MiB, heap peak ${p.backfill.istiodHeapMiB.peak.toFixed(0)} MiB, CPU ${p.backfill.istiodCpuSeconds.toFixed(1)} s (${p.backfill.istiodCpuMsPerVps.toFixed(1)} ms a VPS); entry pace held back ${p.backfill.entryPace.heldBack} of ${p.backfill.entryPace.writes} writes (${p.backfill.entryPace.waitSeconds.toFixed(1)} s)`);
  out.push(`churn            register->sidecar p50/p99/max ms   beside Xboard B/change   elsewhere B/change   Xboard WDS B/change   istiod CPU-ms/change`);
  for (const [k, c] of [["1/s", c1], ["10/s", c10]]) {
    out.push(`${k.padEnd(16)} ${`${c.delivery.p50}/${c.delivery.p99}/${c.delivery.max}`.padStart(34)}   ${c.plainBeside.bytesPerChangePerSidecar.toFixed(0).padStart(22)}   ${c.plainElsewhere.bytesPerChangePerSidecar.toFixed(0).padStart(18)}   ${c.xboard.wdsBytesPerChangePerSidecar.toFixed(0).padStart(19)}   ${c.istiod.cpuPerChangeMs.toFixed(1).padStart(20)}`);
  }
  out.push(`restart at ${N}: every sidecar whole ${p.restart.wholeSeconds.toFixed(1)} s, gRPC limit errors ${p.restart.grpcLimitErrors.length}`);
  const lost = [p.backfill.whole, c1.whole, c10.whole, p.telemetry.whole, p.restart.whole].filter((w) => !w.ok).length;
  out.push(`every Xboard sidecar's index equal to the Ready nodes after every phase: ${lost === 0 ? "yes" : `NO (${lost} phases)`}`);
}
console.log(out.join("\n"));
say(`figures in ${json}`);
