// Wiring: informers on XrayrNodes and WorkloadEntries in one namespace, a work queue keyed by
// node, the XrayrNode reconciler behind leader election, and the probe/metrics server.
// Everything else lives in the modules it calls; this file only connects them.
import * as k8s from "@kubernetes/client-node";
import type { Server } from "node:http";
import type { Logger } from "pino";
import { KubeWriter, apiMessage } from "./apply/writer.js";
import type { Config } from "./config.js";
import {
  Controller,
  LeaderElector,
  ResilientInformer,
  WorkQueue,
  coordinationLeaseLock,
  defaultControllerRateLimiter,
  objectKey,
  splitKey,
} from "./controller/index.js";
import { GROUP, PLURAL, VERSION, type XrayrNode } from "./crd/types.js";
import { MANAGED_BY_LABEL, MANAGER } from "./desired/workloadentry.js";
import { WE_GROUP, WE_PLURAL, WE_VERSION, type WorkloadEntry } from "./istio/workloadentry.js";
import type { OperatorMetrics } from "./observability/metrics.js";
import { startServer } from "./observability/server.js";
import { XrayrNodeReconciler } from "./reconcile/reconciler.js";
import { validateNode } from "./reconcile/validate-node.js";
import { PrometheusClient } from "./traffic/prometheus.js";
import { TrafficReporter } from "./traffic/reporter.js";

export interface Operator {
  /** Resolves when the operator has stopped: after stop(), or when leadership is lost. */
  done: Promise<"stopped" | "lost-leadership">;
  /** Graceful stop: drain in-flight reconciles, hand the lease back, close the server. */
  stop(): Promise<void>;
}

export async function startOperator(config: Config, log: Logger, metrics: OperatorMetrics): Promise<Operator> {
  const kc = new k8s.KubeConfig();
  if (config.kubeconfig !== undefined) kc.loadFromFile(config.kubeconfig);
  else kc.loadFromCluster();
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  const ns = config.namespace;

  const informer = <T extends k8s.KubernetesObject>(group: string, version: string, plural: string) =>
    new ResilientInformer<T>({
      kubeConfig: kc,
      path: `/apis/${group}/${version}/namespaces/${ns}/${plural}`,
      list: async () =>
        (await custom.listNamespacedCustomObject({ group, version, namespace: ns, plural })) as k8s.KubernetesListObject<T>,
      hooks: {
        onRestart: ({ attempt, delayMs, error }) => {
          metrics.informerRestarts.inc({ resource: plural });
          log.warn({ resource: plural, attempt, delayMs, err: apiMessage(error) }, "informer stopped; restarting");
        },
        onHandlerError: (error, event) => {
          log.error({ resource: plural, event, err: apiMessage(error) }, "informer event handler failed");
        },
      },
    });
  const nodes = informer<XrayrNode & k8s.KubernetesObject>(GROUP, VERSION, PLURAL);
  const entries = informer<WorkloadEntry & k8s.KubernetesObject>(WE_GROUP, WE_VERSION, WE_PLURAL);

  const queue = new WorkQueue({
    rateLimiter: defaultControllerRateLimiter(),
    metrics: { depth: (n) => { metrics.queueDepth.set(n); }, retry: () => { metrics.retries.inc(); } },
  });
  const conflicts = new Set<string>();
  const writer = new KubeWriter(kc, (verb, resource, outcome) => { metrics.writes.inc({ verb, resource, outcome }); }, config.leaderElection.identity);
  const reconciler = new XrayrNodeReconciler({
    nodes,
    entries,
    writer,
    options: { appLabel: config.appLabel, serviceAccount: config.serviceAccount },
    validate: (node) => validateNode(node, config.addressPolicy),
    log,
    onVerdict: (key, verdict) => {
      if (verdict?.reason === "AddressConflict") conflicts.add(key);
      else conflicts.delete(key);
      metrics.conflicts.set(conflicts.size);
    },
  });

  // Events only say which keys to look at. A node's address change also concerns every node on
  // its old and new address: one of them may now win or lose the address.
  const enqueuePeers = (address: string | undefined): void => {
    if (address === undefined) return;
    for (const n of nodes.list()) if (n.spec.address === address) queue.add(objectKey(n));
  };
  nodes.addEventHandler({
    onAdd: (n) => { queue.add(objectKey(n)); enqueuePeers(n.spec.address); },
    onUpdate: (n, old) => {
      queue.add(objectKey(n));
      if (old?.spec.address !== n.spec.address) { enqueuePeers(old?.spec.address); enqueuePeers(n.spec.address); }
    },
    onDelete: (n) => { queue.add(objectKey(n)); enqueuePeers(n.spec.address); },
  });
  entries.addEventHandler({
    onAdd: (e) => { queue.add(objectKey(e)); },
    onUpdate: (e) => { queue.add(objectKey(e)); },
    onDelete: (e) => { queue.add(objectKey(e)); },
  });
  metrics.managedEntryCountries = function* () {
    for (const e of entries.list()) {
      if (e.metadata.labels?.[MANAGED_BY_LABEL] === MANAGER) yield e.spec.labels?.country ?? "unknown";
    }
  };

  const controller = new Controller({
    name: "xrayrnode",
    queue,
    reconcile: (key) => reconciler.reconcile(key),
    workers: config.workers,
    onResult: (r) => {
      metrics.reconcileDuration.observe(r.durationSeconds);
      if (r.outcome === "error") {
        metrics.reconciles.inc({ result: "error" });
        const { namespace, name } = splitKey(r.key);
        log.warn({ namespace, name, retries: r.retries, err: apiMessage(r.error) }, "reconcile failed; requeued with backoff");
      } else {
        metrics.reconciles.inc({ result: r.outcome });
      }
    },
  });
  controller.resyncEvery(config.resyncMs, () => nodes.list().map((n) => objectKey(n)));

  const server: Server = await startServer(config.metrics.host, config.metrics.port, metrics.registry, {
    live: () => true,
    ready: () => nodes.hasSynced() && entries.hasSynced(),
  });
  log.info({ namespace: ns, metrics: `${config.metrics.host}:${config.metrics.port}`, policy: config.addressPolicy }, "operator starting");

  nodes.start();
  entries.start();
  const running = new AbortController();
  await Promise.all([nodes.waitForSync(running.signal), entries.waitForSync(running.signal)]);
  log.info({ nodes: nodes.list().length, entries: entries.list().length }, "caches synced");

  const traffic =
    config.traffic === undefined
      ? undefined
      : new TrafficReporter({
          prometheus: new PrometheusClient(config.traffic.prometheusUrl),
          scope: { namespace: ns, destination: config.traffic.destination, window: config.traffic.window },
          app: config.appLabel,
          nodes,
          write: (node, t) => writer.patchNodeTraffic(node, t),
          policy: { minIntervalMs: config.traffic.minWriteMs, errorThreshold: config.traffic.errorThreshold },
          pollMs: config.traffic.pollMs,
          log,
        });

  const lead = async (leading: AbortSignal): Promise<void> => {
    metrics.leader.set(1);
    log.info({ identity: config.leaderElection.identity, traffic: traffic !== undefined }, "leading: reconciling");
    for (const n of nodes.list()) queue.add(objectKey(n));
    await Promise.all([controller.run(leading), traffic?.run(leading)]);
  };

  let lostLeadership = false;
  let work: Promise<void>;
  if (config.leaderElection.enabled) {
    const le = config.leaderElection;
    const elector = new LeaderElector({
      lock: coordinationLeaseLock(kc.makeApiClient(k8s.CoordinationV1Api), ns, le.leaseName),
      identity: le.identity,
      leaseDurationMs: le.leaseDurationMs,
      renewDeadlineMs: le.renewDeadlineMs,
      retryPeriodMs: le.retryPeriodMs,
      callbacks: {
        onStartedLeading: lead,
        onStoppedLeading: () => {
          metrics.leader.set(0);
          if (!running.signal.aborted) lostLeadership = true;
        },
        onNewLeader: (id) => { log.info({ leader: id }, "leader observed"); },
      },
      onError: (err, phase) => { log.warn({ phase, err: apiMessage(err) }, "leader election call failed"); },
    });
    work = elector.run(running.signal);
  } else {
    work = lead(running.signal);
  }

  const done = work.then(async () => {
    await Promise.all([nodes.stop(), entries.stop()]);
    await new Promise<void>((resolve) => server.close(() => { resolve(); }));
    return lostLeadership ? ("lost-leadership" as const) : ("stopped" as const);
  });
  return {
    done,
    stop: async () => {
      running.abort();
      await done;
    },
  };
}
