// Prometheus metrics for the operator. Label values are bounded sets (results, verbs,
// resources, countries); xrayr_mesh_node_info, one series per registered node, is served beside
// them (node-info.ts).
// Node's process metrics keep their standard names (process_*, nodejs_*) so stock dashboards
// and alerts find them.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

export class OperatorMetrics {
  readonly registry = new Registry();
  /** Countries of the entries this operator manages, read at scrape time. */
  managedEntryCountries: () => Iterable<string> = () => [];
  // After controller-runtime's set (controller_runtime_reconcile_*, workqueue_*), each with the
  // controller's name, so a second controller in this process gets its own series.
  readonly reconciles = new Counter({
    name: "xrayr_mesh_reconcile_total",
    help:
      "Reconciles by outcome: success, requeue (looked at again later, without error), error (retried as the error policy says: " +
      "backoff, or every 15 s for a write the API server refused) or terminal (not retried: the write was fenced after this replica's leadership ended)",
    labelNames: ["controller", "result"] as const,
    registers: [this.registry],
  });
  readonly reconcileDuration = new Histogram({
    name: "xrayr_mesh_reconcile_duration_seconds",
    help: "Time to reconcile one key, API calls included",
    labelNames: ["controller"] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly queueDepth = new Gauge({
    name: "xrayr_mesh_workqueue_depth",
    help: "Keys waiting in the work queue (on a standby: every key seen, drained once it leads)",
    labelNames: ["controller"] as const,
    registers: [this.registry],
  });
  readonly queueAdds = new Counter({
    name: "xrayr_mesh_workqueue_adds_total",
    help: "Keys added to the work queue (an add of a key already waiting is not counted)",
    labelNames: ["controller"] as const,
    registers: [this.registry],
  });
  readonly queueWorkDuration = new Histogram({
    name: "xrayr_mesh_workqueue_work_duration_seconds",
    help: "Time from taking a key off the queue to finishing with it",
    labelNames: ["controller"] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly retries = new Counter({
    name: "xrayr_mesh_workqueue_retries_total",
    help: "Keys requeued with backoff after a failed reconcile",
    labelNames: ["controller"] as const,
    registers: [this.registry],
  });
  readonly entries = new Gauge({
    name: "xrayr_mesh_workload_entries",
    help: "WorkloadEntries of this operator (its managed-by label, controlled by an XrayrNode), by country",
    labelNames: ["country"] as const,
    registers: [this.registry],
    collect: () => {
      this.entries.reset();
      for (const country of this.managedEntryCountries()) this.entries.inc({ country });
    },
  });
  readonly conflicts = new Gauge({
    name: "xrayr_mesh_address_conflicts",
    help: "XrayrNodes refused because an older node holds their address",
    registers: [this.registry],
  });
  readonly leader = new Gauge({
    name: "xrayr_mesh_leader",
    help: "1 while this replica holds the leader lease",
    registers: [this.registry],
  });
  readonly informerRestarts = new Counter({
    name: "xrayr_mesh_informer_restarts_total",
    help: "Informer restarts after a watch or list failure, by resource",
    labelNames: ["resource"] as const,
    registers: [this.registry],
  });
  readonly informerLists = new Counter({
    name: "xrayr_mesh_informer_lists_total",
    help: "Full lists of a resource into the informer cache (the first, and every relist after 410 Gone), by resource",
    labelNames: ["resource"] as const,
    registers: [this.registry],
  });
  readonly trafficWrites = new Counter({
    name: "xrayr_mesh_traffic_status_writes_total",
    help: "status.traffic writes by reason: first, state (silent/active), errors (threshold crossed), refresh",
    labelNames: ["why"] as const,
    registers: [this.registry],
  });
  readonly prometheusFaults = new Counter({
    name: "xrayr_mesh_traffic_prometheus_faults_total",
    help:
      "Traffic polls that wrote nothing because Prometheus failed (unreachable) or answered with no XrayR -> Xboard edge while nodes " +
      "were active (empty: a fleet does not go silent in one poll; after 5 minutes of an empty edge it is believed)",
    labelNames: ["why"] as const,
    registers: [this.registry],
  });
  // The entry write pace (ENTRY_WRITES_PER_SECOND): how often and how long it held writes back.
  // Waits that stay near 0 say the pace does not bind; a steady share of waits says the operator
  // would go faster than istiod is meant to take entries.
  readonly entryWriteWaits = new Counter({
    name: "xrayr_mesh_entry_write_waits_total",
    help: "WorkloadEntry writes (create, patch, delete) that the entry write pace (ENTRY_WRITES_PER_SECOND) held back before sending, by verb",
    labelNames: ["verb"] as const,
    registers: [this.registry],
  });
  readonly entryWriteWait = new Histogram({
    name: "xrayr_mesh_entry_write_wait_seconds",
    help: "Time each WorkloadEntry write waited for its turn under ENTRY_WRITES_PER_SECOND (0 when not held back), by verb",
    labelNames: ["verb"] as const,
    buckets: [0, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });
  readonly writes = new Counter({
    name: "xrayr_mesh_kube_writes_total",
    help: "Write requests this replica sent to the API server, by verb, resource and outcome",
    labelNames: ["verb", "resource", "outcome"] as const,
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }
}
