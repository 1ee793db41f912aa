#!/usr/bin/env node
// `make bench-sync`: how much `xrayr-mesh sync` costs over the bare minimum. Times a sync of a
// 5,000-row VPS list into an empty namespace (the whole command: read, list, plan, apply) and a
// bare client creating the same 5,000 XrayrNodes with plain POSTs at the same concurrency, on a
// lab (LAB_DIR, default .lab-bench, started if needed and stopped afterwards unless it was
// already up or BENCH_KEEP_LAB=1), without an operator. Prints both times and the ratio.
//   BENCH_ROWS (5000)  BENCH_CONCURRENCY (8)  BENCH_KUBECONFIG (use that cluster instead of a lab)
/* global process, setTimeout */
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import * as k8s from "@kubernetes/client-node";

const repo = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const cli = join(repo, "dist/bundle/xrayr-mesh.mjs");
if (!existsSync(cli)) throw new Error("dist/ is missing: run npm run build first");
// The rows are a test fixture, not part of dist/: Node strips the types of the .ts itself.
const { syntheticFleet } = await import(join(repo, "test/support/synthetic-fleet.ts"));
const { desiredFleet } = await import(join(repo, "dist/fleet/desired.js"));
// The bare client pools connections as the CLI does: the comparison is of the writes, not of
// client-node's default of a new TLS connection per request.
const { PooledKubeConfig } = await import(join(repo, "dist/controller/kubeconfig.js"));

const rows = Number(process.env.BENCH_ROWS ?? 5000);
const concurrency = Number(process.env.BENCH_CONCURRENCY ?? 8);
const namespace = "airport-prod";
const say = (s) => process.stderr.write(`[bench] ${s}\n`);

let kubeconfig = process.env.BENCH_KUBECONFIG;
let labDir;
let startedLab = false;
if (kubeconfig === undefined || kubeconfig === "") {
  labDir = resolve(process.env.LAB_DIR ?? join(repo, ".lab-bench"));
  startedLab = !existsSync(join(labDir, "ready"));
  say(`lab in ${labDir}${startedLab ? " (starting it)" : " (already up)"}`);
  execFileSync(join(repo, "test/lab/lab-up.sh"), [], { env: { ...process.env, LAB_DIR: labDir }, stdio: ["ignore", "ignore", "inherit"] });
  kubeconfig = join(labDir, "kubeconfig");
}

const kc = new PooledKubeConfig();
kc.loadFromFile(kubeconfig);
const custom = kc.makeApiClient(k8s.CustomObjectsApi);
const base = { group: "mesh.sigma.io", version: "v1alpha1", plural: "xrayrnodes", namespace };
const SELECTOR = "mesh.sigma.io/synced-by=xrayr-mesh-sync";

async function clean() {
  await custom.deleteCollectionNamespacedCustomObject({ ...base, labelSelector: SELECTOR });
  for (;;) {
    const left = (await custom.listNamespacedCustomObject({ ...base, labelSelector: SELECTOR, limit: 1 })).items.length;
    if (left === 0) return;
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function pool(items, limit, fn) {
  let next = 0;
  await Promise.all(Array.from({ length: limit }, async () => {
    while (next < items.length) await fn(items[next++]);
  }));
}

const fleet = syntheticFleet({ count: rows, firstOctet: 50, idBase: 900_000 });
const dir = mkdtempSync(join(tmpdir(), "xrayr-mesh-bench-"));
const file = join(dir, "vps.json");
writeFileSync(file, JSON.stringify({ items: fleet.rows }));
const objects = desiredFleet(fleet.rows, { namespace, addressPolicy: "public" }).nodes.map((n) => n.object);
if (objects.length !== rows) throw new Error(`expected ${rows} valid rows, got ${objects.length}`);

function timeSync() {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, [cli, "sync", "--from", file, "--concurrency", String(concurrency)], {
    env: { ...process.env, AIRPORT_KUBECONFIG: kubeconfig, AIRPORT_NAMESPACE: namespace },
    encoding: "utf8",
    maxBuffer: 256 * 1024 * 1024,
  });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0 || !r.stdout.includes(`Applied: ${rows} created`)) throw new Error(`sync failed (${r.status}):\n${r.stderr}\n${r.stdout.slice(-2000)}`);
  return ms;
}

async function timeBare() {
  const t0 = process.hrtime.bigint();
  await pool(objects, concurrency, (body) => custom.createNamespacedCustomObject({ ...base, body }));
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

try {
  await clean();
  say(`warm-up: 200 creates`);
  await pool(objects.slice(0, 200), concurrency, (body) => custom.createNamespacedCustomObject({ ...base, body }));
  await clean();
  say(`bare client: ${rows} creates at concurrency ${concurrency}`);
  const bare = await timeBare();
  await clean();
  say(`xrayr-mesh sync: ${rows} rows at concurrency ${concurrency}`);
  const sync = timeSync();
  await clean();
  const line = (name, ms) => `${name.padEnd(34)} ${(ms / 1000).toFixed(2).padStart(7)} s  ${((rows / ms) * 1000).toFixed(0).padStart(5)} objects/s`;
  process.stdout.write(
    [
      `rows ${rows}, concurrency ${concurrency}, ${labDir !== undefined ? "lab" : kubeconfig}`,
      line("bare client (POST each object)", bare),
      line("xrayr-mesh sync (whole command)", sync),
      `ratio sync / bare: ${(sync / bare).toFixed(2)}`,
      "",
    ].join("\n"),
  );
} finally {
  if (startedLab && process.env.BENCH_KEEP_LAB !== "1") {
    execFileSync(join(repo, "test/lab/lab-down.sh"), [], { env: { ...process.env, LAB_DIR: labDir }, stdio: ["ignore", "ignore", "inherit"] });
  }
}
