// One term of leadership: everything that writes lives for it. Its writer is fenced by the term
// (docs/decisions/0009), so nothing planned or started under it is sent after it ends; the
// reconcile loop and, with a Prometheus URL, the traffic reporter run until the term's signal
// aborts, and every node is queued at its start (a new leader trusts nothing it did not see).
import type { Logger } from "pino";
import type { XrayrNode } from "../api/v1alpha1/types.js";
import type { Writer } from "../apply/writer.js";
import type { Config } from "../config.js";
import { Controller } from "../controller/controller.js";
import type { Fence } from "../controller/fence.js";
import { objectKey } from "../controller/keys.js";
import type { WorkQueue } from "../controller/workqueue.js";
import { validateNode } from "../crd/validate.js";
import type { WorkloadEntry } from "../istio/workloadentry.js";
import type { WorkloadGroup } from "../istio/workloadgroup.js";
import { errorPolicy } from "../reconcile/error-policy.js";
import { XrayrNodeReconciler } from "../reconcile/reconciler.js";
import type { FleetExpectations, FleetLookups } from "../reconcile/watches.js";
import { PrometheusClient } from "../traffic/prometheus.js";
import { TrafficReporter } from "../traffic/reporter.js";
import { CONTROLLER, type Observe } from "./observe.js";

interface Cache<T> {
  get(name: string, namespace?: string): T | undefined;
  list(): readonly T[];
}

export interface TermDeps {
  config: Pick<Config, "namespace" | "appLabel" | "serviceAccount" | "addressPolicy" | "workers" | "resyncMs" | "traffic" | "leaderElection">;
  caches: { nodes: Cache<XrayrNode>; entries: Cache<WorkloadEntry>; groups: Cache<WorkloadGroup> };
  fleet: FleetLookups;
  expectations: FleetExpectations;
  queue: WorkQueue;
  /** The term's writer, fenced by it. */
  writerFor: (fence: Fence) => Writer;
  observe: Observe;
  log: Logger;
}

/** Leads until `fence.signal` aborts; resolves once in-flight reconciles and traffic writes have drained. */
export async function lead(fence: Fence, deps: TermDeps): Promise<void> {
  const { config, caches, queue, observe, log } = deps;
  const writer = deps.writerFor(fence);
  const reconciler = new XrayrNodeReconciler({
    ...caches,
    fleet: deps.fleet,
    expectations: deps.expectations,
    writer,
    options: { appLabel: config.appLabel, serviceAccount: config.serviceAccount },
    validate: (node) => validateNode(node, config.addressPolicy),
    log,
    onVerdict: (key, verdict) => { observe.verdict(key, verdict); },
  });
  const controller = new Controller({
    name: CONTROLLER,
    queue,
    reconcile: (key) => reconciler.reconcile(key),
    errorPolicy,
    workers: config.workers,
    onResult: (r) => { observe.reconciled(r); },
  });
  controller.resyncEvery(config.resyncMs, () => caches.nodes.list().map((n) => objectKey(n)));
  const traffic =
    config.traffic === undefined
      ? undefined
      : new TrafficReporter({
          prometheus: new PrometheusClient(config.traffic.prometheusUrl),
          scope: { namespace: config.namespace, destination: config.traffic.destination, window: config.traffic.window },
          app: config.appLabel,
          nodes: caches.nodes,
          write: (node, t) => writer.patchNodeTraffic(node, t),
          maxWritesPerSecond: config.traffic.maxWritesPerSecond,
          policy: { minIntervalMs: config.traffic.minWriteMs, errorThreshold: config.traffic.errorThreshold },
          pollMs: config.traffic.pollMs,
          log,
          ...observe.traffic(),
        });
  log.info({ identity: config.leaderElection.identity, epoch: fence.stamp?.epoch, traffic: traffic !== undefined }, "leading: reconciling");
  for (const n of caches.nodes.list()) queue.add(objectKey(n));
  await Promise.all([controller.run(fence.signal), traffic?.run(fence.signal)]);
}
