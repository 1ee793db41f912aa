// The plumbing `make bench-mesh` (bench/mesh.mjs) stands on: processes it starts and always stops,
// /proc readings (RSS, its peak, CPU seconds), polling, the mesh lab's scripts. Plain Node, like
// bench/scale.mjs, so it runs as is with the project's Node 24; the HTTP readers, the metric sum
// and the quantile are test/support/mesh-churn.ts's (shared with the e2e guard; Node strips its
// types), re-exported here.
/* global setTimeout, clearTimeout, URL */
import { execFileSync, spawn } from "node:child_process";
import { closeSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";

const shared = await import(new URL("../test/support/mesh-churn.ts", import.meta.url).href);
export const { getJson, getText, metricSum, quantile, send, sleep } = shared;
export const mib = (bytes) => bytes / (1 << 20);

export function say(s) {
  process.stderr.write(`[bench-mesh ${new Date().toISOString().slice(11, 19)}] ${s}\n`);
}

// ---- /proc --------------------------------------------------------------------------------
function procStatus(pid, field) {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m === null ? 0 : Number(m[1]) * 1024;
}
export const rss = (pid) => procStatus(pid, "VmRSS");
export const peakRss = (pid) => procStatus(pid, "VmHWM");
/** Resets VmHWM to the current RSS, so a later peakRss covers one phase only. */
export const resetPeak = (pid) => writeFileSync(`/proc/${pid}/clear_refs`, "5");
const CLK_TCK = 100;
export function cpuSeconds(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(") ") + 2).split(" ");
  return (Number(f[11]) + Number(f[12])) / CLK_TCK;
}

// ---- processes ----------------------------------------------------------------------------
// Every process the benchmark starts, until it exits: a run that fails midway kills the rest.
const running = new Set();
export function start(name, argv, env, workDir) {
  const log = join(workDir, `${name}.log`);
  const fd = openSync(log, "a");
  const child = spawn(argv[0], argv.slice(1), { env, stdio: ["ignore", fd, fd] });
  closeSync(fd);
  running.add(child);
  const exited = new Promise((r) => child.once("exit", (code, signal) => { running.delete(child); r({ code, signal }); }));
  return { child, pid: child.pid, exited, log };
}
export async function stop(p) {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return;
  p.child.kill("SIGTERM");
  const t = setTimeout(() => p.child.kill("SIGKILL"), 15_000);
  await p.exited;
  clearTimeout(t);
}
export function killAll() {
  for (const child of running) child.kill("SIGKILL");
}

export function freePort() {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.once("error", fail);
    s.listen(0, "127.0.0.1", () => { const { port } = s.address(); s.close(() => ok(port)); });
  });
}

/** Polls fn until it returns something other than undefined/false; throws after timeoutMs. */
export async function until(what, fn, timeoutMs, intervalMs = 200) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    await sleep(intervalMs);
  }
}

// ---- the lab ------------------------------------------------------------------------------
export function labScripts(repo, labDir) {
  const env = { ...process.env, LAB_DIR: labDir };
  const run = (script, args = [], extraEnv = {}) =>
    execFileSync(join(repo, "test/lab", script), args, { env: { ...env, ...extraEnv }, stdio: ["ignore", "ignore", "inherit"] });
  const pid = (name) => Number(readFileSync(join(labDir, "pids", `${name}.pid`), "utf8").trim());
  return {
    down: () => run("lab-down.sh"),
    up: () => run("lab-up.sh"),
    meshUp: (extraEnv) => run("mesh-up.sh", [], extraEnv),
    restartIstiod: (...kv) => run("restart-istiod.sh", kv),
    pid,
    endpoints: () => JSON.parse(readFileSync(join(labDir, "endpoints.json"), "utf8")),
    kubeconfig: join(labDir, "kubeconfig"),
  };
}
