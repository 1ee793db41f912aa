#!/usr/bin/env node
// `make bench-scale`: the operator at fleet scale against the two references that matter, all
// measured in this one run on this machine, each contender on a fresh lab with the same N
// XrayrNodes created first (by the Go baseline's fast creator) and the same number of workers:
//   floor     a bare client doing exactly the writes a new node needs: create its
//             WorkloadEntry, patch its status (the Go client of ../shared/perf/baseline `floor`),
//             and create its WorkloadGroup (a bare client here, bareGroupCreates: the Go floor
//             predates the groups), at the same concurrency, one after the other;
//   go        a plain controller-runtime operator doing the same core reconcile
//             (../shared/perf/baseline `operator`, built with `go build` in its folder);
//   operator  this operator as the image starts it (test/e2e/support/entrypoint.ts), leader
//             election off, in a memory cgroup
//             limited to the chart's default memory limit, as a container would be.
// Time is from the contender's start until every node is Ready (the baseline's watch-based
// `wait-ready`). Then, for this operator only: steady RSS, a restart with a full resync (CPU
// seconds and writes), a forced relist (the API server restarted after the collections moved
// on: its watch cache answers 410 and the informers list again) under the memory limit, and
// live creates at a steady rate (create -> Ready latency). Last, `xrayr-mesh sync` of the same
// number of rows against a bare client (bench/sync-bench.js). Not part of make test.
//   BENCH_NODES (10000)  BENCH_WORKERS (4)  BENCH_LIVE_RATE (50/s)  BENCH_LIVE_COUNT (500)
//   BENCH_CONTENDERS (floor,go,operator,sync)  BENCH_MEMORY_LIMIT (the chart's, e.g. 256Mi)
/* global setTimeout, clearTimeout, Buffer, fetch, performance */
import { execFileSync, spawn } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readSync, statSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import * as k8s from "@kubernetes/client-node";
import { parse as parseYaml } from "yaml";

const repo = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const { operatorArgv } = await import(join(repo, "test/e2e/support/entrypoint.ts"));
const operatorCommand = operatorArgv(repo, process.execPath);
if (!existsSync(operatorCommand.at(-1))) throw new Error("dist/bundle is missing: run npm run build first");
const { PooledKubeConfig } = await import(join(repo, "dist/controller/kubeconfig.js"));
const { desiredWorkloadGroup } = await import(join(repo, "dist/desired/workloadgroup.js"));
const { parseMetrics, sumMetric } = await import(join(repo, "test/e2e/support/metrics.ts"));
const { memoryCgroup } = await import(join(repo, "test/e2e/support/cgroup.ts"));

const N = Number(process.env.BENCH_NODES ?? 10000);
const WORKERS = Number(process.env.BENCH_WORKERS ?? 4);
const LIVE_RATE = Number(process.env.BENCH_LIVE_RATE ?? 50);
const LIVE_COUNT = Number(process.env.BENCH_LIVE_COUNT ?? 500);
const CONTENDERS = new Set((process.env.BENCH_CONTENDERS ?? "floor,go,operator,sync").split(","));
const NS = "airport-prod";
const LAB_DIR = resolve(process.env.LAB_DIR ?? join(repo, ".lab-bench-scale"));
const WORK = join(LAB_DIR + "-work");
mkdirSync(WORK, { recursive: true });
const say = (s) => process.stderr.write(`[bench-scale ${new Date().toISOString().slice(11, 19)}] ${s}\n`);

function memoryLimitBytes() {
  const raw = process.env.BENCH_MEMORY_LIMIT ?? parseYaml(readFileSync(join(repo, "charts/xrayr-mesh-operator/values.yaml"), "utf8")).resources.limits.memory;
  const m = /^(\d+)(Mi|Gi)$/.exec(raw);
  if (m === null) throw new Error(`memory limit ${raw}: expected NMi or NGi`);
  return { text: raw, bytes: Number(m[1]) * (m[2] === "Gi" ? 1 << 30 : 1 << 20) };
}
const LIMIT = memoryLimitBytes();

// ---- the lab and the baseline -------------------------------------------------------------
const labEnv = { ...process.env, LAB_DIR };
function labDown() {
  execFileSync(join(repo, "test/lab/lab-down.sh"), [], { env: labEnv, stdio: ["ignore", "ignore", "inherit"] });
}
function freshLab() {
  labDown();
  execFileSync(join(repo, "test/lab/lab-up.sh"), [], { env: labEnv, stdio: ["ignore", "ignore", "inherit"] });
}
const kubeconfig = join(LAB_DIR, "kubeconfig");
const baselineBin = execFileSync(join(repo, "test/lab/build.sh"), ["baseline"], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] }).trim();
const baselineEnv = () => ({ ...process.env, KUBECONFIG: kubeconfig });
function baseline(...args) {
  return execFileSync(baselineBin, args, { env: baselineEnv(), encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
}
function seconds(text, what) {
  const m = /([\d.]+) s\b/.exec(text);
  if (m === null) throw new Error(`${what}: no time in ${JSON.stringify(text)}`);
  return Number(m[1]);
}
/** A fresh lab holding N XrayrNodes and nothing else. */
function labWithNodes(n) {
  freshLab();
  const out = baseline("create", "-ns", NS, "-n", String(n), "-c", "8");
  say(out.trim());
}

// Writes in the audit log (write verbs only, see test/lab/audit-policy.yaml) by the lab's admin
// user, which every contender uses, after a byte offset.
const auditLog = join(LAB_DIR, "audit.log");
const auditOffset = () => (existsSync(auditLog) ? statSync(auditLog).size : 0);
function auditWrites(offset) {
  const size = statSync(auditLog).size;
  const buf = Buffer.alloc(size - offset);
  const fd = openSync(auditLog, "r");
  readSync(fd, buf, 0, buf.length, offset);
  closeSync(fd);
  const byKind = {};
  let total = 0;
  for (const line of buf.toString("utf8").split("\n")) {
    if (line === "") continue;
    const e = JSON.parse(line);
    if (e.user?.username !== "lab-admin") continue;
    const kind = `${e.verb} ${e.objectRef?.resource ?? "?"}${e.objectRef?.subresource !== undefined ? `/${e.objectRef.subresource}` : ""}`;
    byKind[kind] = (byKind[kind] ?? 0) + 1;
    total++;
  }
  return { total, byKind };
}

// ---- processes ----------------------------------------------------------------------------
function procStatus(pid, field) {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m === null ? 0 : Number(m[1]) * 1024;
}
const rss = (pid) => procStatus(pid, "VmRSS");
const peakRss = (pid) => procStatus(pid, "VmHWM");
const resetPeak = (pid) => { writeFileSync(`/proc/${pid}/clear_refs`, "5"); };
const CLK_TCK = 100;
function cpuSeconds(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(") ") + 2).split(" ");
  return (Number(f[11]) + Number(f[12])) / CLK_TCK;
}
const mib = (b) => `${(b / (1 << 20)).toFixed(0)} MiB`;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function freePort() {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.once("error", fail);
    s.listen(0, "127.0.0.1", () => { const { port } = s.address(); s.close(() => ok(port)); });
  });
}

// Every process the benchmark starts, until it exits: a run that fails midway kills the rest,
// or a wait-ready left behind spins against the stopped lab and skews the next run.
const running = new Set();
function start(name, argv, env) {
  const log = join(WORK, `${name}.log`);
  const fd = openSync(log, "w");
  const child = spawn(argv[0], argv.slice(1), { env, stdio: ["ignore", fd, fd] });
  closeSync(fd);
  running.add(child);
  const exited = new Promise((r) => child.once("exit", (code, signal) => { running.delete(child); r({ code, signal }); }));
  return { child, exited, log };
}
async function stop(p) {
  p.child.kill("SIGTERM");
  const t = setTimeout(() => p.child.kill("SIGKILL"), 15_000);
  await p.exited;
  clearTimeout(t);
}
/** Runs the baseline's watch-based timer to completion: seconds until n nodes are Ready. */
async function waitReady(n) {
  const p = start("wait-ready", [baselineBin, "wait-ready", "-ns", NS, "-n", String(n)], baselineEnv());
  const r = await p.exited;
  const out = readFileSync(p.log, "utf8");
  if (r.code !== 0) throw new Error(`wait-ready failed: ${out}`);
  return seconds(out, "wait-ready");
}

async function startOperator(name, env, cgroup) {
  const port = await freePort();
  const argv = operatorCommand;
  const p = start(name, cgroup !== undefined ? cgroup.wrap(argv) : argv, {
    PATH: process.env.PATH, HOME: process.env.HOME,
    AIRPORT_NAMESPACE: NS, AIRPORT_KUBECONFIG: kubeconfig, LEADER_ELECTION: "false", WORKERS: String(WORKERS),
    ADDRESS_POLICY: "public", METRICS_ADDR: `127.0.0.1:${port}`, POD_NAME: name,
    // The entry write pace (default 100/s) binds a cold backlog of 10,000: set it to see without.
    ...(process.env.ENTRY_WRITES_PER_SECOND ? { ENTRY_WRITES_PER_SECOND: process.env.ENTRY_WRITES_PER_SECOND } : {}),
    ...env,
  });
  const metrics = async () => parseMetrics(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text());
  return { ...p, pid: p.child.pid, metrics, port };
}
async function until(what, fn, timeoutMs, intervalMs = 200) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(intervalMs);
  }
}

// ---- the contenders -----------------------------------------------------------------------
const rows = [];
const result = {};

async function floor() {
  labWithNodes(N);
  const off = auditOffset();
  const out = baseline("floor", "-ns", NS, "-n", String(N), "-c", String(WORKERS));
  say(out.trim());
  const groups = await bareGroupCreates(WORKERS);
  say(`floor: ${groups.count} groups c=${WORKERS}: ${groups.seconds.toFixed(2)} s`);
  result.floor = { seconds: seconds(out, "floor") + groups.seconds, writes: auditWrites(off) };
}

/** The third write of a new node: its WorkloadGroup, exactly as the operator makes it, one POST
 * each under `WORKERS` concurrent loops of a bare client-node client (no informer, no queue). */
async function bareGroupCreates(c) {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(kubeconfig);
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  const nodes = (await custom.listNamespacedCustomObject({ group: "mesh.sigma.io", version: "v1alpha1", namespace: NS, plural: "xrayrnodes" })).items.slice(0, N);
  const t0 = performance.now();
  let next = 0;
  await Promise.all(Array.from({ length: c }, async () => {
    while (next < nodes.length) {
      const body = desiredWorkloadGroup(nodes[next++], { appLabel: "xrayr", serviceAccount: "xrayr-vm" });
      await custom.createNamespacedCustomObject({ group: "networking.istio.io", version: "v1", namespace: NS, plural: "workloadgroups", body, fieldManager: "floor" });
    }
  }));
  return { count: nodes.length, seconds: (performance.now() - t0) / 1000 };
}

async function goOperator() {
  labWithNodes(N);
  const off = auditOffset();
  const timer = waitReady(N);
  const op = start("go-operator", [baselineBin, "operator", "-ns", NS, "-c", String(WORKERS)], baselineEnv());
  const s = await timer;
  await sleep(2_000); // its last status writes' watch events
  const peak = peakRss(op.child.pid);
  const steady = rss(op.child.pid);
  await stop(op);
  say(`go operator: ${s} s, peak RSS ${mib(peak)}`);
  result.go = { seconds: s, peak, steady, writes: auditWrites(off) };
}

async function ourOperator() {
  labWithNodes(N);
  const made = memoryCgroup("xrayr-bench", LIMIT.bytes);
  const cgroup = "dir" in made ? made : undefined;
  if (cgroup === undefined) say(`no memory limit: ${made.unavailable}`);
  const off = auditOffset();
  const timer = waitReady(N);
  let op = await startOperator("operator", {}, cgroup);
  const s = await Promise.race([timer, op.exited.then((e) => { throw new Error(`the operator exited before all nodes were Ready (${JSON.stringify(e)}; OOM kills ${cgroup?.oomKills() ?? "n/a"}): ${readFileSync(op.log, "utf8").slice(-2000)}`); })]);
  const peak = peakRss(op.pid);
  // What the entry write pace held back (ENTRY_WRITES_PER_SECOND): its turns' waits, summed.
  const paced = sumMetric(await op.metrics(), "xrayr_mesh_entry_write_wait_seconds_sum");
  await sleep(5_000);
  const steady = rss(op.pid);
  const writes = auditWrites(off);
  say(`operator: ${s} s, peak RSS ${mib(peak)}, steady ${mib(steady)}, ${writes.total} writes, entry writes held back by the pace ${paced.toFixed(1)} s in all (ENTRY_WRITES_PER_SECOND ${process.env.ENTRY_WRITES_PER_SECOND ?? "default"})`);
  result.operator = { seconds: s, peak, steady, writes, pacedSeconds: paced, limit: cgroup !== undefined ? LIMIT.text : "none" };

  // A restart with a short resync period: the start-up pass and the next resync each reconcile
  // every node and, converged, write nothing. CPU is measured over the resync pass alone.
  await stop(op);
  const resyncOff = auditOffset();
  const t0 = Date.now();
  op = await startOperator("operator-resync", { RESYNC_SECONDS: "30" }, cgroup);
  const reconciles = async () => sumMetric(await op.metrics(), "xrayr_mesh_reconcile_total");
  await until("the start-up pass", async () => (await reconciles()) >= N, 300_000);
  const restartSeconds = (Date.now() - t0) / 1000;
  const cpu0 = cpuSeconds(op.pid);
  const r0 = await reconciles();
  const resyncStart = Date.now();
  // Polled every 5 s, as a scrape is not free at this size (one xrayr_mesh_node_info series a
  // node): polling every 0.5 s made the window's CPU mostly our own scrapes. Their cost is
  // measured on its own below.
  await until("one full resync", async () => (await reconciles()) >= r0 + N, 120_000, 5_000);
  const cpu1 = cpuSeconds(op.pid);
  const resyncWall = (Date.now() - resyncStart) / 1000;
  const resyncWrites = auditWrites(resyncOff).total;
  const metricWrites = sumMetric(await op.metrics(), "xrayr_mesh_kube_writes_total");
  const SCRAPES = 10;
  const scrapeCpu0 = cpuSeconds(op.pid);
  for (let i = 0; i < SCRAPES; i++) await op.metrics();
  const scrapeMs = ((cpuSeconds(op.pid) - scrapeCpu0) / SCRAPES) * 1000;
  say(`restart: all ${N} reconciled ${restartSeconds.toFixed(1)} s after start; resync CPU ${(cpu1 - cpu0).toFixed(2)} s (window ${resyncWall.toFixed(1)} s, includes the 30 s wait and a scrape every 5 s), writes ${resyncWrites} (metric ${metricWrites}); one /metrics scrape ${scrapeMs.toFixed(0)} ms CPU`);
  result.resync = { restartSeconds, cpu: cpu1 - cpu0, writes: resyncWrites, metricWrites, scrapeMs };

  // A forced relist: write something else so the collections' resourceVersions fall behind
  // etcd's, restart the API server (its new watch cache starts at the current revision), and
  // the informers' watches come back with 410 and list everything again.
  const kc = new PooledKubeConfig();
  kc.loadFromFile(kubeconfig);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const lists = async () => sumMetric(await op.metrics(), "xrayr_mesh_informer_lists_total");
  const lists0 = await lists();
  resetPeak(op.pid);
  const cgPeak0 = cgroup?.peakBytes();
  await core.createNamespacedConfigMap({ namespace: NS, body: { metadata: { name: "bench-bump" }, data: { at: String(Date.now()) } } });
  const t1 = Date.now();
  execFileSync(join(repo, "test/lab/restart-apiserver.sh"), [], { env: labEnv, stdio: ["ignore", "ignore", "inherit"] });
  let relisted = true;
  await until("both informers relisted", async () => (await lists()) >= lists0 + 2, 120_000).catch(() => { relisted = false; });
  const relistSeconds = (Date.now() - t1) / 1000;
  await sleep(3_000);
  const alive = op.child.exitCode === null && op.child.signalCode === null;
  const relistPeak = alive ? peakRss(op.pid) : NaN;
  const oom = cgroup?.oomKills() ?? 0;
  say(`relist: ${relisted ? "done" : "NOT SEEN"} ${relistSeconds.toFixed(1)} s after the restart began, peak RSS ${mib(relistPeak)}, cgroup peak ${cgroup !== undefined ? mib(cgroup.peakBytes() ?? 0) : "-"} (before ${cgPeak0 !== undefined ? mib(cgPeak0) : "-"}), OOM kills ${oom}, alive ${alive}`);
  result.relist = { relisted, seconds: relistSeconds, peak: relistPeak, oom, alive };

  // Live: nodes created at a steady rate while N exist; create -> Ready seen on a watch.
  result.live = await live(kc);
  await stop(op);
  cgroup?.remove();
}

async function live(kc) {
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  const createdAt = new Map();
  const latencies = [];
  const watch = new k8s.Watch(kc);
  let done;
  const all = new Promise((r) => { done = r; });
  const req = await watch.watch(`/apis/mesh.sigma.io/v1alpha1/namespaces/${NS}/xrayrnodes`, { labelSelector: "bench=live" }, (_phase, obj) => {
    const name = obj.metadata?.name;
    const t = createdAt.get(name);
    if (t === undefined) return;
    if (obj.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True")) {
      latencies.push(performance.now() - t);
      createdAt.delete(name);
      if (latencies.length === LIVE_COUNT) done();
    }
  }, () => {});
  const gap = 1000 / LIVE_RATE;
  const t0 = performance.now();
  const pending = [];
  for (let i = 0; i < LIVE_COUNT; i++) {
    const wait = t0 + i * gap - performance.now();
    if (wait > 0) await sleep(wait);
    const name = `live-${String(i).padStart(5, "0")}`;
    createdAt.set(name, performance.now());
    pending.push(custom.createNamespacedCustomObject({
      group: "mesh.sigma.io", version: "v1alpha1", namespace: NS, plural: "xrayrnodes",
      body: { apiVersion: "mesh.sigma.io/v1alpha1", kind: "XrayrNode", metadata: { name, labels: { bench: "live" } }, spec: { address: `46.${Math.floor(i / 250)}.${i % 250}.9`, country: "de" } },
    }));
  }
  await Promise.all(pending);
  const rate = LIVE_COUNT / ((performance.now() - t0) / 1000);
  await Promise.race([all, sleep(60_000)]);
  req.abort();
  latencies.sort((a, b) => a - b);
  const q = (p) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? NaN;
  const r = { count: latencies.length, rate, p50: q(0.5), p99: q(0.99), max: latencies.at(-1) ?? NaN };
  say(`live: ${r.count}/${LIVE_COUNT} Ready, ${rate.toFixed(1)} creates/s, p50 ${r.p50.toFixed(0)} ms, p99 ${r.p99.toFixed(0)} ms`);
  return r;
}

async function syncBench() {
  labDown();
  const out = execFileSync(process.execPath, [join(repo, "bench/sync-bench.js")], {
    env: { ...labEnv, BENCH_ROWS: String(N) },
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
  });
  const ratio = Number(/ratio sync \/ bare: ([\d.]+)/.exec(out)?.[1]);
  result.sync = { ratio, text: out.trim() };
}

try {
  say(`${N} nodes, ${WORKERS} workers, memory limit ${LIMIT.text}, contenders ${[...CONTENDERS].join(",")}; lab ${LAB_DIR}`);
  if (CONTENDERS.has("floor")) await floor();
  if (CONTENDERS.has("go")) await goOperator();
  if (CONTENDERS.has("operator")) await ourOperator();
  if (CONTENDERS.has("sync")) await syncBench();
} finally {
  for (const child of running) child.kill("SIGKILL");
  labDown();
}

// ---- the table ----------------------------------------------------------------------------
const f = result.floor?.seconds;
const x = (s) => (f !== undefined && s !== undefined ? `${(s / f).toFixed(2)}` : "-");
const perNode = (w) => (w === undefined ? "-" : (w.total / N).toFixed(2));
rows.push(`nodes ${N}, workers ${WORKERS}, cold backlog (all nodes exist, contender starts, until every node is Ready)`);
rows.push(`contender                 time      x floor   peak RSS   steady RSS   writes/node`);
const row = (name, r) => rows.push(`${name.padEnd(24)} ${r === undefined ? "-" : `${r.seconds.toFixed(1)} s`.padStart(8)}  ${x(r?.seconds).padStart(8)}   ${r?.peak !== undefined ? mib(r.peak).padStart(8) : "       -"}   ${r?.steady !== undefined ? mib(r.steady).padStart(10) : "         -"}   ${perNode(r?.writes).padStart(11)}`);
row("floor (bare clients)", result.floor);
row("controller-runtime (Go)", result.go);
row(`this operator (${result.operator?.limit ?? "-"} limit)`, result.operator);
if (result.operator !== undefined && result.go !== undefined) rows.push(`this operator / controller-runtime: ${(result.operator.seconds / result.go.seconds).toFixed(2)}`);
for (const name of ["floor", "go", "operator"]) {
  if (result[name] !== undefined) rows.push(`writes by ${name}: ${JSON.stringify(result[name].writes.byKind)}`);
}
if (result.resync !== undefined) rows.push(`restart + full resync of ${N}: start-up pass ${result.resync.restartSeconds.toFixed(1)} s; resync ${result.resync.cpu.toFixed(2)} CPU-s, ${result.resync.writes} writes (audit); a /metrics scrape ${result.resync.scrapeMs.toFixed(0)} ms CPU`);
if (result.relist !== undefined) rows.push(`forced relist (410) of ${N} nodes + entries: ${result.relist.relisted ? `${result.relist.seconds.toFixed(1)} s` : "not observed"}, peak RSS ${mib(result.relist.peak)}, OOM kills ${result.relist.oom}, survived ${result.relist.alive}`);
if (result.live !== undefined) rows.push(`live: ${result.live.count}/${LIVE_COUNT} created at ${result.live.rate.toFixed(1)}/s with ${N} present: create -> Ready p50 ${result.live.p50.toFixed(0)} ms, p99 ${result.live.p99.toFixed(0)} ms, max ${result.live.max.toFixed(0)} ms`);
if (result.sync !== undefined) rows.push(result.sync.text);
console.log(rows.join("\n"));
writeFileSync(join(WORK, "result.json"), JSON.stringify(result, null, 2));
