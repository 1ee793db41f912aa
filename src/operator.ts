// The composition root: the operator assembled from its parts, top to bottom. Caches on
// XrayrNodes, WorkloadEntries and WorkloadGroups in one namespace (operator/caches.ts), a work
// queue keyed by node fed by the watch mapping (reconcile/watches.ts), the metrics and log hooks
// (operator/observe.ts), one term of leadership that reconciles and reports traffic
// (operator/term.ts, operator/leadership.ts), and the probe and metrics server
// (operator/probes.ts). Every decision lives in those modules, each with its unit test; this file
// only connects them, and src/operator.test.ts holds its own two: caches that cannot be filled
// stop what was started, and stop() ends the term and closes the server.
import * as k8s from "@kubernetes/client-node";
import type { Logger } from "pino";
import { KubeWriter } from "./apply/writer.js";
import type { Config } from "./config.js";
import { systemClock } from "./controller/clock.js";
import { WritePace } from "./controller/pace.js";
import type { Fence } from "./controller/fence.js";
import { operatorKubeConfig } from "./controller/kubeconfig.js";
import { coordinationLeaseLock } from "./controller/leaderelection.js";
import { defaultControllerRateLimiter } from "./controller/ratelimiter.js";
import { WorkQueue } from "./controller/workqueue.js";
import type { OperatorMetrics } from "./observability/metrics.js";
import { NodeInfoSeries } from "./observability/node-info.js";
import { startServer } from "./observability/server.js";
import { Caches } from "./operator/caches.js";
import { leadershipFor, serveOneTerm, type Ending } from "./operator/leadership.js";
import { Observe, ourEntryCountries, readyNodes } from "./operator/observe.js";
import { probes } from "./operator/probes.js";
import { lead } from "./operator/term.js";
import { AddressExpectations, NameExpectations } from "./reconcile/expectations.js";
import { watchFleet } from "./reconcile/watches.js";

export interface Operator {
  /** Resolves when the operator has stopped: after stop(), or when leadership is lost. */
  done: Promise<Ending>;
  /** Graceful stop: drain in-flight reconciles, hand the lease back, close the server. */
  stop(): Promise<void>;
}

export async function startOperator(config: Config, log: Logger, metrics: OperatorMetrics): Promise<Operator> {
  const { namespace, leaderElection: election } = config;
  // The audit log tells replicas apart by the User-Agent: they share one ServiceAccount.
  const kc = operatorKubeConfig(config.kubeconfig, `xrayr-mesh-operator/${election.identity}`);
  const observe = new Observe(metrics, log);

  const caches = new Caches({ kc, namespace, hooks: (resource) => observe.informer(resource) });
  const queue = new WorkQueue({ rateLimiter: defaultControllerRateLimiter(), metrics: observe.queue() });
  const expectations = { entries: new AddressExpectations(systemClock), groups: new NameExpectations(systemClock) };
  const fleet = watchFleet(caches, expectations, (keys) => {
    for (const key of keys) queue.add(key);
  });
  const nodeInfo = new NodeInfoSeries(readyNodes(caches.nodes));
  metrics.managedEntryCountries = ourEntryCountries(caches.entries);

  const lease = () => coordinationLeaseLock(kc.makeApiClient(k8s.CoordinationV1Api), namespace, election.leaseName);
  const leadership = leadershipFor(election, lease, { onLeading: (leads) => { observe.leading(leads); }, log });

  const server = await startServer(config.metrics.host, config.metrics.port, metrics.registry, probes(caches.all), () => nodeInfo.text());
  const shutdown = async (): Promise<void> => {
    await caches.stop();
    await new Promise<void>((resolve) => server.close(() => { resolve(); }));
  };
  log.info({ namespace, metrics: `${config.metrics.host}:${config.metrics.port}`, policy: config.addressPolicy }, "operator starting");

  caches.start();
  try {
    await caches.sync();
  } catch (err) {
    await shutdown();
    throw err;
  }
  log.info({ nodes: caches.nodes.list().length, entries: caches.entries.list().length, groups: caches.groups.list().length }, "caches synced");

  const running = new AbortController();
  // One pace for the process, across terms of leadership: a new term does not get a new burst.
  const entryPace = new WritePace(config.entryWritesPerSecond, observe.entryTurn);
  const writerFor = (fence: Fence): KubeWriter => new KubeWriter(kc, observe.write, election.identity, fence, leadership.writeTimeoutMs, entryPace);
  const term = (fence: Fence): Promise<void> => lead(fence, { config, caches, fleet, expectations, queue, observe, log, writerFor });
  const done = serveOneTerm(leadership.options, term, running.signal).then(async (how) => {
    await shutdown();
    return how;
  });
  return {
    done,
    stop: async () => {
      running.abort();
      await done;
    },
  };
}
