// The operator's traffic loop (leader only, off unless a Prometheus URL is configured): every
// poll, read the XrayR -> Xboard edge from Prometheus, and write status.traffic on the nodes
// whose numbers are worth a write under the policy in status.ts.
import type { Logger } from "pino";
import { errorFields } from "../controller/api-errors.js";
import { type Clock, sleep, systemClock } from "../controller/clock.js";
import { pool } from "../controller/pool.js";
import type { XrayrNode } from "../api/v1alpha1/types.js";
import { isReady } from "../domain/readiness.js";
import type { PrometheusClient } from "./prometheus.js";
import type { EdgeScope } from "./queries.js";
import { readPanel } from "./read.js";
import { type DueWrite, looksLikeOutage, nextTraffic, selectWrites, type TrafficDecision, type TrafficPolicy, type TrafficStatus } from "./status.js";

export interface TrafficReporterDeps {
  prometheus: PrometheusClient;
  scope: EdgeScope;
  app: string;
  nodes: { list(): readonly XrayrNode[] };
  write: (node: XrayrNode, traffic: TrafficStatus) => Promise<void>;
  policy: TrafficPolicy;
  pollMs: number;
  /** The fleet's budget: writes per second over a poll, spaced evenly; the rest wait a poll. */
  maxWritesPerSecond: number;
  log: Logger;
  /** Called after each successful write, with the policy's reason for it. */
  onWritten?: (why: NonNullable<TrafficDecision["why"]>) => void;
  /** Called when a poll writes nothing because Prometheus failed or answered with no edge at all. */
  onPrometheusFault?: (why: "unreachable" | "empty") => void;
  now?: () => Date;
  clock?: Clock;
}

// Writes in flight at once: enough to refresh a thousand nodes in seconds, few enough that a
// state change across the fleet (Prometheus back after an outage) does not flood the API server.
const WRITE_CONCURRENCY = 4;
// How long an empty edge counts as a Prometheus fault (a lost scrape target, a restart) before
// it is believed: longer than such outages usually last, short enough that a fleet that really
// stopped is reported within minutes.
const EMPTY_EDGE_GRACE_MS = 5 * 60_000;

export class TrafficReporter {
  private readonly now: () => Date;
  private readonly clock: Clock;
  /** When Prometheus first answered with an empty edge while nodes were active (clock ms). */
  private emptySince: number | undefined;

  constructor(private readonly deps: TrafficReporterDeps) {
    this.now = deps.now ?? (() => new Date());
    this.clock = deps.clock ?? systemClock;
  }

  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      try {
        await this.pollOnce();
      } catch (err) {
        // Without numbers we write nothing: a Prometheus outage must not mark the fleet silent.
        this.deps.onPrometheusFault?.("unreachable");
        this.deps.log.warn({ error: { message: err instanceof Error ? err.message : String(err) } }, "traffic poll failed; status.traffic left as is");
      }
      await sleep(this.clock, this.deps.pollMs, signal);
    }
  }

  /** One poll; returns how many nodes were written. */
  async pollOnce(): Promise<number> {
    const { prometheus, scope } = this.deps;
    // Ready as domain/readiness.ts says; a node being deleted is left out only because writing
    // its status.traffic would be a write for nothing (node_info still counts it until it is gone).
    const ready = this.deps.nodes.list().filter((n) => n.metadata.deletionTimestamp === undefined && isReady(n));
    const panel = await readPanel(prometheus, scope, ready.map((n) => n.metadata.name ?? ""), this.deps.app);
    if (looksLikeOutage(panel, ready.map((n) => n.status?.traffic))) {
      this.emptySince ??= this.clock.now();
      // A fleet that really went quiet all at once (its token revoked, say) is news after all:
      // once the edge has been empty for the grace period, it is written like any answer.
      if (this.clock.now() - this.emptySince < EMPTY_EDGE_GRACE_MS) {
        this.deps.onPrometheusFault?.("empty");
        this.deps.log.warn({ nodes: ready.length }, "Prometheus answered with no XrayR -> Xboard traffic at all while nodes were active: taken as a Prometheus fault; status.traffic left as is");
        return 0;
      }
    } else {
      this.emptySince = undefined;
    }
    const byName = new Map(panel.nodes.map((t) => [t.name, t]));
    const now = this.now();
    const due: DueWrite<XrayrNode>[] = [];
    for (const node of ready) {
      const t = byName.get(node.metadata.name ?? "");
      if (t === undefined) continue;
      const prev = node.status?.traffic;
      const d = nextTraffic(prev, t, now, this.deps.policy);
      if (d.write && d.why !== undefined) due.push({ node, decision: { ...d, why: d.why }, lastWrittenMs: prev === undefined ? undefined : Date.parse(prev.observedAt) });
    }
    const { maxWritesPerSecond, pollMs } = this.deps;
    const chosen = selectWrites(due, (maxWritesPerSecond * pollMs) / 1000);
    // Spaced over the poll at the budget's rate: a burst of a whole poll's writes at once would
    // be the very spike the budget exists to prevent.
    const gapMs = 1000 / maxWritesPerSecond;
    const start = this.clock.now();
    let written = 0;
    await pool(chosen, WRITE_CONCURRENCY, async (item, slot) => {
      const wait = start + slot * gapMs - this.clock.now();
      if (wait > 0) await sleep(this.clock, wait);
      try {
        await this.deps.write(item.node, item.decision.next);
        written++;
        this.deps.onWritten?.(item.decision.why);
      } catch (err) {
        this.deps.log.warn({ namespace: item.node.metadata.namespace, name: item.node.metadata.name, error: errorFields(err) }, "could not write status.traffic");
      }
    });
    if (due.length > chosen.length) this.deps.log.debug({ due: due.length, written: chosen.length }, "traffic writes over the fleet budget wait for the next poll");
    if (written > 0) this.deps.log.debug({ written, unknownRps: panel.unknownRps }, "traffic status written");
    return written;
  }
}
