#!/usr/bin/env node
// `make bench-mesh`: the whole chain at fleet scale, on the mesh lab (docs/attribution.md): the
// API server, the operator as the image runs it, istiod built from the pinned module, R Xboard
// sidecar stand-ins behind one entry point, M other sidecars (xds-clients), Prometheus as
// deploy/istio ships it, XrayR's fleet (xrayr-traffic) on its real schedule with 1 % of the VPS
// answered 5xx, and churn (a registration, a retirement and an address change in turn).
//
// istiod's side (issue 17), per run:
//   backfill   all N XrayrNodes exist, the operator starts: until every node is Ready (the
//              operator's backfill) and until every Xboard sidecar names every VPS (the
//              sidecars'); istiod's peak RSS, heap and CPU over it
//   churn      at 1 and at 10 changes a second: register -> every Xboard sidecar names the VPS
//              (p50/p99/max, from the time each sidecar stored the address); what every sidecar
//              received per change, by type; istiod's CPU per change
//   restart    istiod stopped and started at N: until every sidecar is whole; gRPC limit errors
//   knobs      (BENCH_MESH_KNOBS=1) each of deploy/istio's istiod settings turned, one at a time
// After every phase each Xboard sidecar's index must equal the Ready nodes (no stale address, no
// missing one). Not part of make test.
//   BENCH_MESH_VPS (10000)  BENCH_MESH_SIDECARS (3)  BENCH_MESH_PLAIN (50)
//   BENCH_MESH_PHASES (istiod)  BENCH_MESH_KNOBS (0)  BENCH_MESH_CHURN_SECONDS (120)
//   ENTRY_WRITES_PER_SECOND (the operator's default): passed to the operator
/* global setInterval, clearInterval */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parse as parseYaml } from "yaml";
import { freePort, getText, killAll, labScripts, metricSum, say, sleep, start, stop, until } from "./mesh-lib.mjs";
import { churnPhase, Fleet, Istiod, kubeHelpers, NS, restartPhase, sidecarCounters, sidecarsWhole, startPlainSidecars } from "./mesh-istiod.mjs";

const repo = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const { operatorArgv } = await import(join(repo, "test/e2e/support/entrypoint.ts"));
const { memoryCgroup } = await import(join(repo, "test/e2e/support/cgroup.ts"));
const operatorCommand = operatorArgv(repo, process.execPath);
if (!existsSync(operatorCommand.at(-1))) throw new Error("dist/bundle is missing: run npm run build first");

const N = Number(process.env.BENCH_MESH_VPS ?? 10000);
const R = Number(process.env.BENCH_MESH_SIDECARS ?? 3);
const M = Number(process.env.BENCH_MESH_PLAIN ?? 50);
const PHASES = new Set((process.env.BENCH_MESH_PHASES ?? "istiod").split(","));
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

const result = { vps: N, sidecars: R, plainSidecars: M, serviceEntry: SERVICE_ENTRY, date: new Date().toISOString(), commit: "" };
try {
  result.commit = (await import("node:child_process")).execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: repo, encoding: "utf8" }).trim();
} catch {
  // not a git checkout: the report says so
}

async function istiodRun() {
  say(`istiod: ${N} VPS, ${R} Xboard sidecars, ${M} other sidecars; lab ${LAB_DIR}`);
  lab.down();
  lab.up();
  lab.meshUp({ XBOARD_REPLICAS: String(R), SCRAPE_INTERVAL: "15s" });
  const ep = lab.endpoints();
  const sidecars = xboardSidecars(ep);
  const kube = kubeHelpers(lab.kubeconfig);
  const istiod = new Istiod(lab, ep);
  await fleetServiceEntry(kube, SERVICE_ENTRY);
  const plain = await startPlainSidecars({ binary: ep.xdsClients, ep, m: M, workDir: WORK, kube });
  const generator = undefined; // the telemetry phase adds the fleet's traffic
  const fleet = new Fleet({ kubeconfig: lab.kubeconfig, generator });
  const created = await fleet.createCold(N);
  say(`${N} XrayrNodes created in ${created.toFixed(1)} s (no operator yet)`);
  const heap0 = await istiod.heapMiB();

  // ---- backfill ----
  const use = istiod.mark();
  let heapPeak = heap0;
  const heapTimer = setInterval(() => { istiod.heapMiB().then((h) => { heapPeak = Math.max(heapPeak, h); }, () => {}); }, 2_000);
  const t0 = Date.now();
  const op = await startOperator(ep);
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

  // ---- restart ----
  result.restart = await restartPhase({ lab, labDir: LAB_DIR, istiod, fleet, sidecars, plain });
  say(`restart at ${N}: istiod ready ${result.restart.istiodReadySeconds.toFixed(1)} s, every sidecar whole ${result.restart.wholeSeconds.toFixed(1)} s, gRPC limit errors ${result.restart.grpcLimitErrors.length}; heap ${result.restart.heapMiB.toFixed(0)} MiB, RSS ${result.restart.rssMiB.toFixed(0)} MiB`);

  if (KNOBS) result.knobs = await knobs({ ep, fleet, sidecars, plain, istiod, kube });

  await stop(op);
  op.cgroup?.remove();
  await stop(plain);
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

try {
  if (PHASES.has("istiod")) await istiodRun();
} finally {
  killAll();
  if (process.env.BENCH_MESH_KEEP_LAB !== "1") lab.down();
}

const json = join(repo, ".reports/bench-mesh.json");
const prev = existsSync(json) ? JSON.parse(readFileSync(json, "utf8")) : {};
const istiodReport = result.backfill === undefined ? undefined : {
  vps: N, sidecars: R, plainSidecars: M,
  registerToSidecarP99Ms: result.churn["1/s"].delivery.p99,
  registerToSidecarP99MsAt10PerSecond: result.churn["10/s"].delivery.p99,
  plainSidecarBytesPerChange: Math.max(result.churn["1/s"].plainBeside.bytesPerChangePerSidecar, result.churn["1/s"].plainElsewhere.bytesPerChangePerSidecar),
  backfillSeconds: result.backfill.sidecarSeconds,
  operatorBackfillSeconds: result.backfill.operatorSeconds,
  istiodPeakRssMiB: result.backfill.istiodPeakRssMiB,
  istiodCpuMsPerVps: result.backfill.istiodCpuMsPerVps,
  entryWritesHeldBack: result.backfill.entryPace.heldBack,
  restartWholeSeconds: result.restart.wholeSeconds,
  detail: result,
};
const key = SERVICE_ENTRY ? "istiodWithServiceEntry" : "istiod";
writeFileSync(json, JSON.stringify({ ...prev, ...(istiodReport ? { [key]: istiodReport } : {}) }, null, 2));
if (istiodReport !== undefined) {
  const c1 = result.churn["1/s"], c10 = result.churn["10/s"];
  console.log([
    `istiod at ${N} VPS, ${R} Xboard sidecars, ${M} other sidecars${SERVICE_ENTRY ? ", with the fleet-wide ServiceEntry" : ""} (${result.date.slice(0, 10)}, ${result.commit})`,
    `backfill: operator ${result.backfill.operatorSeconds.toFixed(1)} s, every Xboard sidecar ${result.backfill.sidecarSeconds.toFixed(1)} s (x${result.backfill.ratio.toFixed(2)}); istiod peak RSS ${result.backfill.istiodPeakRssMiB.toFixed(0)} MiB, heap peak ${result.backfill.istiodHeapMiB.peak.toFixed(0)} MiB, CPU ${result.backfill.istiodCpuSeconds.toFixed(1)} s (${result.backfill.istiodCpuMsPerVps.toFixed(1)} ms a VPS); entry pace held back ${result.backfill.entryPace.heldBack} of ${result.backfill.entryPace.writes} writes (${result.backfill.entryPace.waitSeconds.toFixed(1)} s)`,
    `churn            register->sidecar p50/p99/max ms   beside Xboard B/change   elsewhere B/change   Xboard WDS B/change   istiod CPU-ms/change`,
    ...[["1/s", c1], ["10/s", c10]].map(([k, c]) => `${k.padEnd(16)} ${`${c.delivery.p50}/${c.delivery.p99}/${c.delivery.max}`.padStart(34)}   ${c.plainBeside.bytesPerChangePerSidecar.toFixed(0).padStart(22)}   ${c.plainElsewhere.bytesPerChangePerSidecar.toFixed(0).padStart(18)}   ${c.xboard.wdsBytesPerChangePerSidecar.toFixed(0).padStart(19)}   ${c.istiod.cpuPerChangeMs.toFixed(1).padStart(20)}`),
    `restart at ${N}: every sidecar whole ${result.restart.wholeSeconds.toFixed(1)} s, gRPC limit errors ${result.restart.grpcLimitErrors.length}`,
  ].join("\n"));
}
