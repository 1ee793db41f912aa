// One term of leadership on in-memory caches and a recording writer: what a term starts, what
// it writes under its fence, how its failures are counted, and that it ends with its fence.
import { pino } from "pino";
import { FakeApiServer, status } from "../../test/support/api-server.js";
import { MemoryCache } from "../../test/support/memory-cache.js";
import { RecordingWriter } from "../../test/support/recording-writer.js";
import type { XrayrNode } from "../api/v1alpha1/types.js";
import { systemClock } from "../controller/clock.js";
import { NotLeaderError, type Fence } from "../controller/fence.js";
import { WorkQueue } from "../controller/workqueue.js";
import type { WorkloadEntry } from "../istio/workloadentry.js";
import type { WorkloadGroup } from "../istio/workloadgroup.js";
import { OperatorMetrics } from "../observability/metrics.js";
import { AddressExpectations, NameExpectations } from "../reconcile/expectations.js";
import { watchFleet } from "../reconcile/watches.js";
import { Observe } from "./observe.js";
import { lead, type TermDeps } from "./term.js";

const NS = "airport-prod";
const node = (name: string, address: string): XrayrNode => ({
  metadata: { name, namespace: NS, uid: `uid-${name}`, generation: 1, creationTimestamp: "2026-11-01T00:00:00Z" },
  spec: { address, country: "jp" },
});

function setup(traffic?: TermDeps["config"]["traffic"]) {
  const caches = { nodes: new MemoryCache<XrayrNode>(), entries: new MemoryCache<WorkloadEntry>(), groups: new MemoryCache<WorkloadGroup>() };
  const expectations = { entries: new AddressExpectations(systemClock), groups: new NameExpectations(systemClock) };
  const queue = new WorkQueue({});
  const fleet = watchFleet(caches, expectations, (keys) => { for (const k of keys) queue.add(k); });
  const metrics = new OperatorMetrics();
  const writer = new RecordingWriter();
  writer.echo = caches;
  const fenced: Fence[] = [];
  const leading = new AbortController();
  const fence: Fence = { signal: leading.signal, stamp: { holder: "pod-a", epoch: 1 }, check: () => undefined };
  const deps: TermDeps = {
    config: {
      namespace: NS,
      appLabel: "xrayr",
      serviceAccount: "xrayr-vm",
      addressPolicy: "public",
      workers: 2,
      resyncMs: 300_000,
      traffic,
      leaderElection: { enabled: true, leaseName: "l", identity: "pod-a", leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 },
    },
    caches,
    fleet,
    expectations,
    queue,
    writerFor: (f) => { fenced.push(f); return writer; },
    observe: new Observe(metrics, pino({ level: "silent" })),
    log: pino({ level: "silent" }),
  };
  return { caches, writer, metrics, deps, fence, fenced, end: () => { leading.abort(); } };
}

async function until(what: string, ok: () => boolean | Promise<boolean>): Promise<void> {
  for (let i = 0; i < 300; i++) {
    if (await ok()) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function count(metrics: OperatorMetrics, name: string, labels: Record<string, string>): Promise<number> {
  const values = (await metrics.registry.getSingleMetric(name)?.get())?.values ?? [];
  return values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l))?.value ?? 0;
}

describe("a term of leadership", () => {
  test("queues every node at its start, writes under its own fence, and ends with it", async () => {
    const { caches, writer, deps, fence, fenced, end } = setup();
    caches.nodes.put(node("jp-01", "45.76.1.1"));
    caches.nodes.put(node("jp-02", "45.76.1.2"));
    const term = lead(fence, deps);
    try {
      await until("both nodes Ready", () => writer.statuses.length === 2);
      expect(fenced).toEqual([fence]);
      expect(writer.calls.filter((c) => c.startsWith("create-group")).sort()).toEqual(["create-group jp-01", "create-group jp-02"]);
    } finally {
      end();
      await term;
    }
    // Ended: a node added now is not reconciled by this term.
    caches.nodes.put(node("jp-03", "45.76.1.3"));
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(writer.calls.some((c) => c.includes("jp-03"))).toBe(false);
  });

  test("counts a write refused for want of leadership as terminal (not retried), and an address conflict in the gauge", async () => {
    const { caches, writer, metrics, deps, fence, end } = setup();
    caches.nodes.put({ ...node("jp-old", "45.76.1.9"), metadata: { ...node("jp-old", "45.76.1.9").metadata, creationTimestamp: "2026-10-01T00:00:00Z" } });
    caches.nodes.put(node("jp-new", "45.76.1.9"));
    const term = lead(fence, deps);
    try {
      await until("the conflict counted", async () => (await count(metrics, "xrayr_mesh_address_conflicts", {})) === 1);
      writer.failApply = new NotLeaderError("the lease is gone");
      caches.nodes.put(node("jp-03", "45.76.1.3"));
      await until("the fenced reconcile counted", async () => (await count(metrics, "xrayr_mesh_reconcile_total", { result: "terminal" })) === 1);
    } finally {
      end();
      await term;
    }
    expect(await count(metrics, "xrayr_mesh_reconcile_total", { result: "error" })).toBe(0);
  });

  test("with a Prometheus URL the term also runs the traffic reporter (a Prometheus that fails is counted, nothing written)", async () => {
    const prometheus = new FakeApiServer(() => status(503, "Unavailable", "not ready"));
    const kc = await prometheus.start();
    try {
      const url = kc.getCurrentCluster()?.server ?? "";
      const traffic = { prometheusUrl: url, destination: "xboard", window: "2m", pollMs: 60_000, minWriteMs: 300_000, errorThreshold: 0.01, maxWritesPerSecond: 5 };
      const { writer, metrics, deps, fence, end } = setup(traffic);
      const term = lead(fence, deps);
      try {
        await until("a traffic poll", async () => (await count(metrics, "xrayr_mesh_traffic_prometheus_faults_total", { why: "unreachable" })) === 1);
        expect(prometheus.requests[0]?.path).toBe("/api/v1/query");
      } finally {
        end();
        await term;
      }
      expect(writer.calls.filter((c) => c.startsWith("traffic"))).toEqual([]);
    } finally {
      await prometheus.stop();
    }
  });
});
