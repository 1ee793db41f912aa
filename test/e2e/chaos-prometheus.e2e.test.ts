// Chaos on the mesh lab (test/lab/mesh-up.sh): Prometheus loses the Xboard sidecar's scrape
// target for 3 minutes (its job, Istio's kubernetes-pods, removed from prometheus.yml and the config reloaded, as a broken
// ServiceMonitor or relabelling would do), so every istio_* series goes stale at once while the
// fleet keeps calling. The operator's traffic reporter must take that for a Prometheus fault: no
// status.traffic write at all during it (audit log), every node still Active on its object, and
// xrayr_mesh_traffic_prometheus_faults_total rising. Then the target comes back and the
// reporter carries on.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parse, stringify } from "yaml";
import { auditOffset, auditSince, summarize, writesBy } from "./support/audit.js";
import { e2eFile, withLogs } from "./support/harness.js";
import { adminClient, type XrayrNode } from "./support/kube.js";
import { OPERATOR_USER } from "./support/lab.js";
import { meshLabDir, Prometheus, scrapeOperator, startMesh, stopAllGenerators, stopMesh, TrafficGenerator, type Endpoints } from "./support/mesh.js";
import { sumMetric } from "./support/metrics.js";
import { startOperator, type OperatorProcess } from "./support/operator.js";
import { note, pending, sleep, waitFor } from "./support/wait.js";

const fleet = e2eFile("chaos-prom");
const N = 5;
const OUTAGE_MS = 3 * 60_000;
const skip = meshLabDir() === undefined;
const maybe = skip ? describe.skip : describe;

let ep: Endpoints;
let prom: Prometheus;
let op: OperatorProcess;
let gen: TrafficGenerator;

beforeAll(async () => {
  if (skip) return;
  ep = await startMesh({ scrapeInterval: "1s" });
  prom = new Prometheus(ep.prometheus);
  op = await startOperator({
    name: "chaos-prom",
    env: { PROMETHEUS_URL: ep.prometheus, TRAFFIC_WINDOW: "10s", TRAFFIC_POLL_SECONDS: "2", TRAFFIC_MIN_WRITE_SECONDS: "60" },
  });
  scrapeOperator("chaos-prom", op.metricsUrl);
  gen = await TrafficGenerator.start(ep, { periodMs: 1000 });
}, 45 * 60_000);

afterAll(async () => {
  if (skip) return;
  await stopAllGenerators();
  await stopMesh();
}, 60_000);

function promConfig(): string {
  const labDir = meshLabDir();
  if (labDir === undefined) throw new Error("no lab dir");
  return join(labDir, "prometheus", "prometheus.yml");
}

async function reloadPrometheus(): Promise<void> {
  const r = await fetch(`${ep.prometheus}/-/reload`, { method: "POST", signal: AbortSignal.timeout(10_000) });
  if (!r.ok) throw new Error(`Prometheus reload: HTTP ${r.status} ${await r.text()}`);
}

// What the reporter reads, over its window: empty once the target's samples stop.
const SIDECAR_RATE = 'sum(rate(istio_requests_total{reporter="destination"}[10s]))';

async function trafficState(name: string): Promise<string | undefined> {
  const n: XrayrNode | undefined = await adminClient().nodes.find(name);
  return (n?.status as { traffic?: { state?: string } } | undefined)?.traffic?.state;
}

maybe("chaos: Prometheus loses the sidecar's scrape target", () => {
  it(
    "3 minutes without the sidecar's series: no status.traffic write, every node still Active, prometheus faults counted",
    withLogs("chaos prometheus target", async () => {
      const nodes = await Promise.all(Array.from({ length: N }, (_, i) => fleet.create("prom", { vpsId: String(201 + i) })));
      for (const [i, n] of nodes.entries()) await gen.put(n.metadata.name, { address: n.spec.address, nodeId: String(201 + i) });
      await Promise.all(nodes.map((n) => gen.start(n.metadata.name)));
      await waitFor(
        "every node Active in status.traffic",
        async () => {
          const states = await Promise.all(nodes.map((n) => trafficState(n.metadata.name)));
          return states.every((s) => s === "Active") ? true : pending({ states });
        },
        // The first write (before any traffic) said Silent; a change follows a minute after it.
        { timeoutMs: 120_000, intervalMs: 1000 },
      );

      const original = readFileSync(promConfig(), "utf8");
      const doc = parse(original) as { scrape_configs: { job_name: string }[] };
      const without = { ...doc, scrape_configs: doc.scrape_configs.filter((j) => j.job_name !== "kubernetes-pods") };
      expect(without.scrape_configs.length).toBe(doc.scrape_configs.length - 1);
      const faultsBefore = sumMetric(await op.metrics(), "xrayr_mesh_traffic_prometheus_faults_total");
      const auditFrom = auditOffset();
      const t0 = Date.now();
      writeFileSync(promConfig(), stringify(without));
      let notActive: Record<string, string | undefined> = {};
      try {
        await reloadPrometheus();
        await waitFor(
          "the sidecar's series gone from Prometheus",
          async () => ((await prom.query(SIDECAR_RATE)).length === 0 ? true : pending("still there")),
          { timeoutMs: 30_000, intervalMs: 500 },
        );
        note(`chaos prometheus: sidecar series gone ${Date.now() - t0} ms after the target was removed`);
        // Watch the node objects throughout: a single Silent (or any other) state is a failure.
        while (Date.now() - t0 < OUTAGE_MS) {
          for (const n of nodes) {
            const s = await trafficState(n.metadata.name);
            if (s !== "Active") notActive = { ...notActive, [n.metadata.name]: s };
          }
          await sleep(2_000);
        }
      } finally {
        writeFileSync(promConfig(), original);
        await reloadPrometheus();
      }
      const outageEnd = Date.now();
      const faultsDuring = sumMetric(await op.metrics(), "xrayr_mesh_traffic_prometheus_faults_total") - faultsBefore;
      const statusWrites = writesBy(auditSince(auditFrom), { user: OPERATOR_USER, resource: "xrayrnodes/status" }).filter(
        (e) => Date.parse(e.requestReceivedTimestamp ?? "") < outageEnd,
      );
      note(`chaos prometheus: ${((outageEnd - t0) / 1000).toFixed(0)} s without the target: prometheus faults +${faultsDuring}, status writes ${statusWrites.length}, states other than Active ${JSON.stringify(notActive)}`);
      expect(notActive).toEqual({});
      expect(summarize(statusWrites)).toEqual({});
      expect(faultsDuring).toBeGreaterThan(10);
      expect(op.alive).toBe(true);

      // Back: the series return and the reporter reads them again (its fault counter stops).
      await waitFor("the sidecar's series back", async () => ((await prom.query(SIDECAR_RATE)).length > 0 ? true : pending("not yet")), { timeoutMs: 30_000, intervalMs: 500 });
      await sleep(15_000);
      const settled = sumMetric(await op.metrics(), "xrayr_mesh_traffic_prometheus_faults_total");
      await sleep(10_000);
      expect(sumMetric(await op.metrics(), "xrayr_mesh_traffic_prometheus_faults_total")).toBe(settled);
      expect(await Promise.all(nodes.map((n) => trafficState(n.metadata.name)))).toEqual(nodes.map(() => "Active"));
    }),
    OUTAGE_MS + 300_000,
  );
});
