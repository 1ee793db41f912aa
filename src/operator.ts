// Wiring: informers on XrayrNodes, WorkloadEntries and WorkloadGroups in one namespace, a work queue keyed by
// node, the XrayrNode reconciler behind leader election, and the probe/metrics server.
// Everything else lives in the modules it calls; this file only connects them.
import * as k8s from "@kubernetes/client-node";
import type { Server } from "node:http";
import type { Logger } from "pino";
import { KubeWriter, writeTimeoutFor } from "./apply/writer.js";
import type { Config } from "./config.js";
import { apiMessage, errorFields, statusCode } from "./controller/api-errors.js";
import { withSignal } from "./controller/call-options.js";
import { systemClock } from "./controller/clock.js";
import { Controller } from "./controller/controller.js";
import { type Fence, unfencedUntil } from "./controller/fence.js";
import { ResilientInformer } from "./controller/informer.js";
import { objectKey, splitKey } from "./controller/keys.js";
import { PooledKubeConfig } from "./controller/kubeconfig.js";
import { coordinationLeaseLock, LeaderElector } from "./controller/leaderelection.js";
import { defaultControllerRateLimiter } from "./controller/ratelimiter.js";
import { WorkQueue } from "./controller/workqueue.js";
import { GROUP, PLURAL, VERSION, type XrayrNode } from "./api/v1alpha1/types.js";
import { validateNode } from "./crd/validate.js";
import { CRDS, notInstalled, type RequiredCrd } from "./domain/crds.js";
import { isOurs } from "./domain/ownership.js";
import { isReady } from "./domain/readiness.js";
import { WE_GROUP, WE_PLURAL, WE_VERSION, type WorkloadEntry } from "./istio/workloadentry.js";
import { WG_GROUP, WG_PLURAL, WG_VERSION, type WorkloadGroup } from "./istio/workloadgroup.js";
import type { OperatorMetrics } from "./observability/metrics.js";
import { NodeInfoSeries } from "./observability/node-info.js";
import { startServer } from "./observability/server.js";
import { errorPolicy } from "./reconcile/error-policy.js";
import { AddressExpectations, NameExpectations } from "./reconcile/expectations.js";
import { XrayrNodeReconciler } from "./reconcile/reconciler.js";
import { watchFleet } from "./reconcile/watches.js";
import { PrometheusClient } from "./traffic/prometheus.js";
import { TrafficReporter } from "./traffic/reporter.js";

// Long enough for a slow API server to answer a large list, short enough that a missing CRD
// or RoleBinding ends in a clear error and a restart rather than a pod that is never ready.
const SYNC_TIMEOUT_MS = 120_000;
// One page of a list; a hung list otherwise blocks the informer's restart loop for good.
const LIST_PAGE_TIMEOUT_MS = 30_000;
// The controller's name in its metrics and logs.
const CONTROLLER = "xrayrnode";
// Liveness: an informer failing for this long (about ten restarts at the 30 s backoff cap).
const INFORMER_DOWN_LIMIT_MS = 5 * 60_000;

export interface Operator {
  /** Resolves when the operator has stopped: after stop(), or when leadership is lost. */
  done: Promise<"stopped" | "lost-leadership">;
  /** Graceful stop: drain in-flight reconciles, hand the lease back, close the server. */
  stop(): Promise<void>;
}

export async function startOperator(config: Config, log: Logger, metrics: OperatorMetrics): Promise<Operator> {
  // The audit log tells replicas apart by this: they share one ServiceAccount.
  const kc = new PooledKubeConfig(`xrayr-mesh-operator/${config.leaderElection.identity}`);
  if (config.kubeconfig !== undefined) kc.loadFromFile(config.kubeconfig);
  else kc.loadFromCluster();
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  const ns = config.namespace;

  const lastError = new Map<string, unknown>();
  // A list that 404s means the resource's CRD is not installed: said at once, not after the
  // sync timeout, and the process ends so that the pod's restarts show it.
  const crdsMissing = new AbortController();
  const MISSING: Record<string, RequiredCrd> = { [PLURAL]: CRDS.xrayrnodes, [WE_PLURAL]: CRDS.workloadentries, [WG_PLURAL]: CRDS.workloadgroups };
  // Every missing CRD, ours first; a second after the first 404, so each informer's first list has answered.
  const missingCrds = (): Error =>
    new Error([PLURAL, WE_PLURAL, WG_PLURAL].filter((p) => statusCode(lastError.get(p)) === 404).map((p) => MISSING[p]).flatMap((c) => (c === undefined ? [] : [`${notInstalled(c)}: ${c.fix}`])).join("; "));
  let missingTimer: NodeJS.Timeout | undefined;
  const informer = <T extends k8s.KubernetesObject>(group: string, version: string, plural: string) =>
    new ResilientInformer<T>({
      kubeConfig: kc,
      path: `/apis/${group}/${version}/namespaces/${ns}/${plural}`,
      listPage: async (token, limit) =>
        (await custom.listNamespacedCustomObject(
          { group, version, namespace: ns, plural, limit, _continue: token },
          withSignal(AbortSignal.timeout(LIST_PAGE_TIMEOUT_MS)),
        )) as k8s.KubernetesListObject<T>,
      hooks: {
        onRestart: ({ attempt, delayMs, error }) => {
          lastError.set(plural, error);
          if (statusCode(error) === 404) missingTimer ??= setTimeout(() => { crdsMissing.abort(missingCrds()); }, 1_000);
          metrics.informerRestarts.inc({ resource: plural });
          log.warn({ resource: plural, attempt, delayMs, error: errorFields(error) }, "informer stopped; restarting");
        },
        onListed: ({ items, durationMs }) => {
          metrics.informerLists.inc({ resource: plural });
          log.info({ resource: plural, items, durationMs }, "listed into the cache");
        },
        onHandlerError: (error, event) => {
          log.error({ resource: plural, event, error: errorFields(error) }, "informer event handler failed");
        },
      },
    });
  const nodes = informer<XrayrNode & k8s.KubernetesObject>(GROUP, VERSION, PLURAL);
  const entries = informer<WorkloadEntry & k8s.KubernetesObject>(WE_GROUP, WE_VERSION, WE_PLURAL);
  const groups = informer<WorkloadGroup & k8s.KubernetesObject>(WG_GROUP, WG_VERSION, WG_PLURAL);
  const informers = [nodes, entries, groups];

  const queue = new WorkQueue({
    rateLimiter: defaultControllerRateLimiter(),
    metrics: {
      depth: (n) => { metrics.queueDepth.set({ controller: CONTROLLER }, n); },
      add: () => { metrics.queueAdds.inc({ controller: CONTROLLER }); },
      retry: () => { metrics.retries.inc({ controller: CONTROLLER }); },
      workDuration: (seconds) => { metrics.queueWorkDuration.observe({ controller: CONTROLLER }, seconds); },
    },
  });
  const conflicts = new Set<string>();
  const expectations = { entries: new AddressExpectations(systemClock), groups: new NameExpectations(systemClock) };
  const fleet = watchFleet({ nodes, entries, groups }, expectations, (keys) => {
    for (const key of keys) queue.add(key);
  });
  const nodeInfo = new NodeInfoSeries(function* () {
    for (const n of nodes.list()) if (isReady(n)) yield n;
  });
  metrics.managedEntryCountries = function* () {
    for (const e of entries.list()) {
      if (isOurs(e)) yield e.spec.labels?.country ?? "unknown";
    }
  };

  const writeTimeoutMs = config.leaderElection.enabled
    ? writeTimeoutFor(config.leaderElection.leaseDurationMs, config.leaderElection.renewDeadlineMs)
    : undefined;
  const running = new AbortController();
  let lostLeadership = false;

  // Everything that writes lives for one term of leadership: its writer is fenced by that term,
  // so nothing planned or started under it is sent after it ends (docs/decisions/0009).
  const lead = async (fence: Fence): Promise<void> => {
    metrics.leader.set(1);
    const writer = new KubeWriter(kc, (verb, resource, outcome) => { metrics.writes.inc({ verb, resource, outcome }); }, config.leaderElection.identity, fence, writeTimeoutMs);
    const reconciler = new XrayrNodeReconciler({
      nodes,
      entries,
      groups,
      fleet,
      expectations,
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
    const controller = new Controller({
      name: CONTROLLER,
      queue,
      reconcile: (key) => reconciler.reconcile(key),
      errorPolicy,
      workers: config.workers,
      onResult: (r) => {
        metrics.reconcileDuration.observe({ controller: CONTROLLER }, r.durationSeconds);
        metrics.reconciles.inc({ controller: CONTROLLER, result: r.outcome });
        if (r.outcome === "error" || r.outcome === "terminal") {
          const { namespace, name } = splitKey(r.key);
          log.warn({ namespace, name, retries: r.retries, action: r.action, error: errorFields(r.error) }, "reconcile failed");
        }
      },
    });
    controller.resyncEvery(config.resyncMs, () => nodes.list().map((n) => objectKey(n)));
    const traffic =
      config.traffic === undefined
        ? undefined
        : new TrafficReporter({
            prometheus: new PrometheusClient(config.traffic.prometheusUrl),
            scope: { namespace: ns, destination: config.traffic.destination, window: config.traffic.window },
            app: config.appLabel,
            nodes,
            write: (node, t) => writer.patchNodeTraffic(node, t),
            maxWritesPerSecond: config.traffic.maxWritesPerSecond,
            policy: { minIntervalMs: config.traffic.minWriteMs, errorThreshold: config.traffic.errorThreshold },
            pollMs: config.traffic.pollMs,
            log,
            onWritten: (why) => { metrics.trafficWrites.inc({ why }); },
            onPrometheusFault: (why) => { metrics.prometheusFaults.inc({ why }); },
          });
    log.info({ identity: config.leaderElection.identity, epoch: fence.stamp?.epoch, traffic: traffic !== undefined }, "leading: reconciling");
    for (const n of nodes.list()) queue.add(objectKey(n));
    await Promise.all([controller.run(fence.signal), traffic?.run(fence.signal)]);
  };

  const elector = config.leaderElection.enabled
    ? new LeaderElector({
        lock: coordinationLeaseLock(kc.makeApiClient(k8s.CoordinationV1Api), ns, config.leaderElection.leaseName),
        identity: config.leaderElection.identity,
        leaseDurationMs: config.leaderElection.leaseDurationMs,
        renewDeadlineMs: config.leaderElection.renewDeadlineMs,
        retryPeriodMs: config.leaderElection.retryPeriodMs,
        callbacks: {
          onStartedLeading: (fence) => lead(fence),
          onStoppedLeading: () => {
            metrics.leader.set(0);
            if (!running.signal.aborted) lostLeadership = true;
          },
          onNewLeader: (id) => { log.info({ leader: id }, "leader observed"); },
        },
        onError: (err, phase) => { log.warn({ phase, error: errorFields(err) }, "leader election call failed"); },
      })
    : undefined;

  const server: Server = await startServer(config.metrics.host, config.metrics.port, metrics.registry, {
    // An informer that has not listed for this long is past what its restarts can mend (a
    // client stuck on a dead connection, say): a failing probe gets a fresh process.
    live: () => Math.max(...informers.map((i) => i.downForMs())) < INFORMER_DOWN_LIMIT_MS,
    ready: () => informers.every((i) => i.hasSynced()),
  }, () => nodeInfo.text());
  const shutdown = async (): Promise<void> => {
    await Promise.all(informers.map((i) => i.stop()));
    await new Promise<void>((resolve) => server.close(() => { resolve(); }));
  };
  log.info({ namespace: ns, metrics: `${config.metrics.host}:${config.metrics.port}`, policy: config.addressPolicy }, "operator starting");

  for (const i of informers) i.start();
  // A missing CRD or Role shows up as a list that keeps failing: stop with the cause instead of
  // waiting forever behind a liveness probe that cannot tell.
  const syncDeadline = AbortSignal.any([running.signal, AbortSignal.timeout(SYNC_TIMEOUT_MS), crdsMissing.signal]);
  const synced = await Promise.all(informers.map((i) => i.waitForSync(syncDeadline)));
  if (!synced.every(Boolean)) {
    await shutdown();
    if (crdsMissing.signal.aborted) throw missingCrds();
    const which = [PLURAL, WE_PLURAL, WG_PLURAL].filter((_p, i) => synced[i] !== true).join(" and ");
    const cause = [...lastError.values()].map((e) => apiMessage(e)).join("; ");
    throw new Error(`could not list ${which} in ${ns} within ${SYNC_TIMEOUT_MS / 1000} s${cause !== "" ? `: ${cause}` : ""} (is the CRD installed and the Role bound?)`);
  }
  clearTimeout(missingTimer);
  log.info({ nodes: nodes.list().length, entries: entries.list().length, groups: groups.list().length }, "caches synced");

  const work = elector !== undefined ? elector.run(running.signal) : lead(unfencedUntil(running.signal));
  const done = work.then(async () => {
    await shutdown();
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
