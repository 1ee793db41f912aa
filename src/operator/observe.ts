// What the operator tells: every hook from the runtime's parts into the metrics and the log, so
// the composition root only connects them. Each hook is a decision about what is counted (the
// conflicts gauge, which nodes node_info lists, which entries the entries gauge counts, how a
// reconcile's outcome is labelled and logged), and has its test in observe.test.ts.
import type { Logger } from "pino";
import type { XrayrNode } from "../api/v1alpha1/types.js";
import type { WriteCounter } from "../apply/writer.js";
import { errorFields } from "../controller/api-errors.js";
import type { ReconcileReport } from "../controller/controller.js";
import type { InformerHooks } from "../controller/informer.js";
import { splitKey } from "../controller/keys.js";
import type { WorkQueueMetrics } from "../controller/workqueue.js";
import { isOurs } from "../domain/ownership.js";
import { isReady } from "../domain/readiness.js";
import type { WorkloadEntry } from "../istio/workloadentry.js";
import type { OperatorMetrics } from "../observability/metrics.js";
import type { Verdict } from "../plan/plan.js";

/** The controller's name in its metrics and logs. */
export const CONTROLLER = "xrayrnode";

interface Lister<T> {
  list(): readonly T[];
}

export class Observe {
  // Nodes refused because an older node holds their address, by key: a gauge of the current
  // count, so a node is counted once however often it is reconciled, and dropped when it is gone.
  private readonly conflicts = new Set<string>();

  constructor(
    private readonly metrics: OperatorMetrics,
    private readonly log: Logger,
  ) {}

  /** An informer's restarts, lists and failed handlers. */
  informer(resource: string): InformerHooks {
    const { metrics, log } = this;
    return {
      onRestart: ({ attempt, delayMs, error }) => {
        metrics.informerRestarts.inc({ resource });
        log.warn({ resource, attempt, delayMs, error: errorFields(error) }, "informer stopped; restarting");
      },
      onListed: ({ items, durationMs }) => {
        metrics.informerLists.inc({ resource });
        log.info({ resource, items, durationMs }, "listed into the cache");
      },
      onHandlerError: (error, event) => {
        log.error({ resource, event, error: errorFields(error) }, "informer event handler failed");
      },
    };
  }

  /** The work queue's depth, adds, retries and work time. */
  queue(): WorkQueueMetrics {
    const { metrics } = this;
    const controller = CONTROLLER;
    return {
      depth: (n) => { metrics.queueDepth.set({ controller }, n); },
      add: () => { metrics.queueAdds.inc({ controller }); },
      retry: () => { metrics.retries.inc({ controller }); },
      workDuration: (seconds) => { metrics.queueWorkDuration.observe({ controller }, seconds); },
    };
  }

  /** Every reconcile, counted by its outcome; a failed one logged with what becomes of its key. */
  reconciled(r: ReconcileReport): void {
    this.metrics.reconcileDuration.observe({ controller: CONTROLLER }, r.durationSeconds);
    this.metrics.reconciles.inc({ controller: CONTROLLER, result: r.outcome });
    if (r.outcome !== "error" && r.outcome !== "terminal") return;
    const { namespace, name } = splitKey(r.key);
    this.log.warn({ namespace, name, retries: r.retries, requeue: r.action, error: errorFields(r.error) }, "reconcile failed");
  }

  /** A node's Ready verdict after a pass (undefined: the node is gone). */
  verdict(key: string, verdict: Verdict | undefined): void {
    if (verdict?.reason === "AddressConflict") this.conflicts.add(key);
    else this.conflicts.delete(key);
    this.metrics.conflicts.set(this.conflicts.size);
  }

  /** Each write sent to the API server, by verb, resource and outcome. */
  readonly write: WriteCounter = (verb, resource, outcome) => { this.metrics.writes.inc({ verb, resource, outcome }); };

  /** Each entry write's turn under the entry write pace: its wait, and whether it was held back. */
  readonly entryTurn = (verb: string, waitedSeconds: number): void => {
    this.metrics.entryWriteWait.observe({ verb }, waitedSeconds);
    if (waitedSeconds > 0) this.metrics.entryWriteWaits.inc({ verb });
  };

  /** The traffic reporter's writes and Prometheus faults. */
  traffic(): { onWritten: (why: string) => void; onPrometheusFault: (why: "unreachable" | "empty") => void } {
    return {
      onWritten: (why) => { this.metrics.trafficWrites.inc({ why }); },
      onPrometheusFault: (why) => { this.metrics.prometheusFaults.inc({ why }); },
    };
  }

  /** Leading or not (xrayr_mesh_leader). */
  leading(leads: boolean): void {
    this.metrics.leader.set(leads ? 1 : 0);
  }
}

/** node_info's nodes: the Ready ones (their traffic is attributed to them), read at scrape time. */
export function readyNodes(nodes: Lister<XrayrNode>): () => Iterable<XrayrNode> {
  return function* () {
    for (const n of nodes.list()) if (isReady(n)) yield n;
  };
}

/** The entries gauge's countries: one per entry of ours, read at scrape time. */
export function ourEntryCountries(entries: Lister<WorkloadEntry>): () => Iterable<string> {
  return function* () {
    for (const e of entries.list()) if (isOurs(e)) yield e.spec.labels?.country ?? "unknown";
  };
}
