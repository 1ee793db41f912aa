import { pino } from "pino";
import { MemoryCache } from "../../test/support/memory-cache.js";
import type { XrayrNode } from "../api/v1alpha1/types.js";
import { MANAGED_BY_LABEL, MANAGER } from "../domain/ownership.js";
import type { WorkloadEntry } from "../istio/workloadentry.js";
import { OperatorMetrics } from "../observability/metrics.js";
import { Observe, ourEntryCountries, readyNodes } from "./observe.js";

async function value(metrics: OperatorMetrics, name: string, labels: Record<string, string> = {}): Promise<number | undefined> {
  const metric = metrics.registry.getSingleMetric(name);
  if (metric === undefined) throw new Error(`no metric ${name}`);
  const { values } = await metric.get();
  return values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l))?.value;
}

function setup() {
  const metrics = new OperatorMetrics();
  const lines: { level: number; msg: string; obj: Record<string, unknown> }[] = [];
  const log = pino({ level: "info" }, { write: (s: string) => { const o = JSON.parse(s) as { level: number; msg: string }; lines.push({ level: o.level, msg: o.msg, obj: o }); } });
  return { metrics, observe: new Observe(metrics, log), lines };
}

const ok = { ready: true, reason: "Reconciled" as const, message: "" };
const conflict = { ready: false, reason: "AddressConflict" as const, message: "" };

describe("Observe", () => {
  test("the conflicts gauge counts nodes refused for an address, each once, and forgets a node that is fixed or gone", async () => {
    const { metrics, observe } = setup();
    observe.verdict("ns/a", conflict);
    observe.verdict("ns/a", conflict);
    observe.verdict("ns/b", conflict);
    expect(await value(metrics, "xrayr_mesh_address_conflicts")).toBe(2);
    observe.verdict("ns/a", ok);
    observe.verdict("ns/b", undefined);
    expect(await value(metrics, "xrayr_mesh_address_conflicts")).toBe(0);
  });

  test("a reconcile is counted by its outcome; one that failed is logged with what becomes of its key", async () => {
    const { metrics, observe, lines } = setup();
    observe.reconciled({ controller: "xrayrnode", key: "ns/a", outcome: "success", durationSeconds: 0.01, retries: 0 });
    observe.reconciled({ controller: "xrayrnode", key: "ns/a", outcome: "terminal", durationSeconds: 0.01, retries: 0, error: new Error("lost the lease"), action: { requeue: "never" } });
    observe.reconciled({ controller: "xrayrnode", key: "ns/b", outcome: "error", durationSeconds: 0.01, retries: 2, error: new Error("boom"), action: { requeue: "backoff" } });
    for (const result of ["success", "terminal", "error"]) expect(await value(metrics, "xrayr_mesh_reconcile_total", { result })).toBe(1);
    expect(lines.map((l) => [l.msg, l.obj["name"], l.obj["requeue"]])).toEqual([
      ["reconcile failed", "a", { requeue: "never" }],
      ["reconcile failed", "b", { requeue: "backoff" }],
    ]);
  });

  test("writes, informer restarts and lists, traffic writes and faults, and leading are counted as they happen", async () => {
    const { metrics, observe } = setup();
    observe.write("create", "workloadentries", "ok");
    const hooks = observe.informer("xrayrnodes");
    hooks.onRestart?.({ attempt: 1, delayMs: 200, error: new Error("reset") });
    hooks.onListed?.({ items: 3, durationMs: 5 });
    observe.traffic().onWritten("first");
    observe.traffic().onPrometheusFault("empty");
    observe.leading(true);
    expect(await value(metrics, "xrayr_mesh_kube_writes_total", { verb: "create", resource: "workloadentries", outcome: "ok" })).toBe(1);
    expect(await value(metrics, "xrayr_mesh_informer_restarts_total", { resource: "xrayrnodes" })).toBe(1);
    expect(await value(metrics, "xrayr_mesh_informer_lists_total", { resource: "xrayrnodes" })).toBe(1);
    expect(await value(metrics, "xrayr_mesh_traffic_status_writes_total", { why: "first" })).toBe(1);
    expect(await value(metrics, "xrayr_mesh_traffic_prometheus_faults_total", { why: "empty" })).toBe(1);
    expect(await value(metrics, "xrayr_mesh_leader")).toBe(1);
    observe.leading(false);
    expect(await value(metrics, "xrayr_mesh_leader")).toBe(0);
  });

  test("each entry write's turn is observed with its wait; only a write held back counts as a wait", async () => {
    const { metrics, observe } = setup();
    observe.entryTurn("create", 0);
    observe.entryTurn("create", 0.03);
    observe.entryTurn("delete", 0.2);
    expect(await value(metrics, "xrayr_mesh_entry_write_waits_total", { verb: "create" })).toBe(1);
    expect(await value(metrics, "xrayr_mesh_entry_write_waits_total", { verb: "delete" })).toBe(1);
    const { values } = await metrics.entryWriteWait.get();
    const of = (verb: string, name: string, le?: number) => values.find((v) => v.labels["verb"] === verb && v.metricName === name && (le === undefined || (v.labels as Record<string, string | number>)["le"] === le))?.value;
    expect(of("create", "xrayr_mesh_entry_write_wait_seconds_count")).toBe(2);
    expect(of("create", "xrayr_mesh_entry_write_wait_seconds_bucket", 0)).toBe(1);
    expect(of("create", "xrayr_mesh_entry_write_wait_seconds_sum")).toBeCloseTo(0.03);
    expect(of("delete", "xrayr_mesh_entry_write_wait_seconds_bucket", 0.1)).toBe(0);
    expect(of("delete", "xrayr_mesh_entry_write_wait_seconds_bucket", 0.25)).toBe(1);
  });

  test("the queue's hooks feed its metrics under the controller's name", async () => {
    const { metrics, observe } = setup();
    const q = observe.queue();
    q.add?.("ns/a");
    q.retry?.("ns/a");
    q.depth?.(7);
    expect(await value(metrics, "xrayr_mesh_workqueue_adds_total", { controller: "xrayrnode" })).toBe(1);
    expect(await value(metrics, "xrayr_mesh_workqueue_retries_total", { controller: "xrayrnode" })).toBe(1);
    expect(await value(metrics, "xrayr_mesh_workqueue_depth", { controller: "xrayrnode" })).toBe(7);
  });
});

describe("what the scrape-time series list", () => {
  const ready = (name: string, status: "True" | "False"): XrayrNode => ({
    metadata: { name, namespace: "ns" },
    spec: { address: "45.0.0.1", country: "jp" },
    status: { conditions: [{ type: "Ready", status, reason: "R", message: "", lastTransitionTime: "2026-12-01T00:00:00Z" }] },
  });

  test("node_info lists the Ready nodes only", () => {
    const nodes = new MemoryCache<XrayrNode>();
    nodes.put(ready("a", "True"));
    nodes.put(ready("b", "False"));
    nodes.put({ metadata: { name: "c", namespace: "ns" }, spec: { address: "45.0.0.3", country: "de" } });
    expect([...readyNodes(nodes)()].map((n) => n.metadata.name)).toEqual(["a"]);
  });

  test("the entries gauge counts our entries by country, and no one else's", async () => {
    const entries = new MemoryCache<WorkloadEntry>();
    const ref = { apiVersion: "mesh.sigma.io/v1alpha1", kind: "XrayrNode", name: "a", uid: "u", controller: true };
    const e = (name: string, labels: Record<string, string>, country?: string, owned = true): WorkloadEntry => ({
      apiVersion: "networking.istio.io/v1",
      kind: "WorkloadEntry",
      metadata: { name, namespace: "ns", labels, ...(owned ? { ownerReferences: [ref] } : {}) },
      spec: { labels: country === undefined ? {} : { country } },
    });
    entries.put(e("a-1", { [MANAGED_BY_LABEL]: MANAGER }, "jp"));
    entries.put(e("b-1", { [MANAGED_BY_LABEL]: MANAGER }, "jp"));
    entries.put(e("c-1", { [MANAGED_BY_LABEL]: MANAGER }));
    entries.put(e("d-1", { [MANAGED_BY_LABEL]: MANAGER }, "de", false)); // orphaned: no node controls it
    entries.put(e("hand-made", {}, "de"));
    expect([...ourEntryCountries(entries)()].sort()).toEqual(["jp", "jp", "unknown"]);
    const metrics = new OperatorMetrics();
    metrics.managedEntryCountries = ourEntryCountries(entries);
    expect(await value(metrics, "xrayr_mesh_workload_entries", { country: "jp" })).toBe(2);
  });
});
