// Traffic on the XrayrNode itself: what `kubectl get xn` shows about a node's calls to Xboard,
// and when it is worth a write. Writes stay bounded: at most one per node per `minIntervalMs`
// in steady state, sooner only when the node changes state (silent <-> active) or crosses the
// error threshold. Pure.
import { rfc3339 } from "../status/conditions.js";
import type { TrafficStatus } from "../api/v1alpha1/types.js";
import type { NodeTraffic } from "./panel.js";

export type { TrafficStatus };


export interface TrafficPolicy {
  /** Steady state: at most one write per node per this many ms. */
  minIntervalMs: number;
  /** Error ratio above which a node counts as failing. */
  errorThreshold: number;
}

// Even a state change waits this long after the last write of the node: a node on the edge of
// silence or of the threshold must not turn every poll into a write.
const STATE_WRITE_FLOOR_MS = 60_000;
// Refreshes of nodes first seen together would otherwise stay in step, a burst of the whole
// fleet every interval; each node's interval is longer by its own fixed share of up to 20 %.
const REFRESH_SPREAD = 0.2;
// Crossing back below the threshold takes falling under half of it, so a ratio wobbling around
// the threshold is not a stream of changes.
const RECOVERY_FRACTION = 0.5;

export interface TrafficDecision {
  next: TrafficStatus;
  write: boolean;
  why?: "first" | "state" | "errors" | "refresh";
}

export function nextTraffic(prev: TrafficStatus | undefined, t: NodeTraffic, now: Date, policy: TrafficPolicy): TrafficDecision {
  const active = t.rps > 0;
  const next: TrafficStatus = {
    state: active ? "Active" : "Silent",
    requestsPerMinute: round(t.rps * 60, 2),
    errorRatio: round(t.errorRatio, 4),
    observedAt: rfc3339(now),
  };
  if (t.p99Ms !== undefined && Number.isFinite(t.p99Ms)) next.p99Ms = round(t.p99Ms, 1);
  const lastSeen = active ? next.observedAt : prev?.lastSeen;
  if (lastSeen !== undefined) next.lastSeen = lastSeen;

  // The hysteresis lives in the status itself: "was failing" read back from a stored ratio
  // would forget, after every refresh write, a node that is recovering but not yet recovered.
  const wasFailing = prev?.failing ?? (prev !== undefined && prev.errorRatio > policy.errorThreshold);
  next.failing = failing(next.errorRatio, policy, wasFailing);

  if (prev === undefined) return { next, write: true, why: "first" };
  const age = now.getTime() - Date.parse(prev.observedAt);
  // An unreadable observedAt counts as old: better one write than a node stuck unrefreshed.
  const olderThan = (ms: number): boolean => !(age < ms);
  if (olderThan(STATE_WRITE_FLOOR_MS)) {
    if (prev.state !== next.state) return { next, write: true, why: "state" };
    if (next.failing !== wasFailing) return { next, write: true, why: "errors" };
  }
  if (olderThan(policy.minIntervalMs * (1 + REFRESH_SPREAD * spread(t.name)))) return { next, write: true, why: "refresh" };
  return { next, write: false };
}

// What a person is waiting to see comes first: a node gone silent or back, then one crossing the
// error threshold, then a node's first numbers; refreshes of unchanged numbers last.
const WHY_ORDER: Record<NonNullable<TrafficDecision["why"]>, number> = { state: 0, errors: 1, first: 2, refresh: 3 };

export interface DueWrite<N> {
  node: N;
  decision: TrafficDecision & { why: NonNullable<TrafficDecision["why"]> };
  /** When the node's status.traffic was last written (ms since the epoch), if ever. */
  lastWrittenMs?: number;
}

/**
 * The fleet-wide budget: at most `budget` of the due writes, state changes first and, within a
 * reason, the node written longest ago first. What is left stays due and is chosen again at
 * the next poll, so a refresh is late rather than lost.
 */
export function selectWrites<N>(due: readonly DueWrite<N>[], budget: number): DueWrite<N>[] {
  const rank = (d: DueWrite<N>): number => WHY_ORDER[d.decision.why];
  return [...due]
    .sort((a, b) => rank(a) - rank(b) || (a.lastWrittenMs ?? -Infinity) - (b.lastWrittenMs ?? -Infinity))
    .slice(0, Math.max(0, Math.floor(budget)));
}

/**
 * Whether an answer from Prometheus is an outage rather than news: no XrayR -> Xboard series at
 * all (no node, no unknown caller) while nodes were Active at their last write. A whole fleet
 * does not go silent in one poll; a Prometheus that lost its Xboard targets, or answers from an
 * empty head block after a restart, does. Written Silent, every node would stay so for a write
 * interval after the numbers came back.
 */
export function looksLikeOutage(panel: { edge: { rps: number }; unknownRps: number; nodes: readonly { rps: number }[] }, previous: Iterable<TrafficStatus | undefined>): boolean {
  if (panel.edge.rps > 0 || panel.unknownRps > 0 || panel.nodes.some((n) => n.rps > 0)) return false;
  for (const p of previous) if (p?.state === "Active") return true;
  return false;
}

/** Above the threshold; a node that was failing stays so until it is under half of it. */
function failing(ratio: number, policy: TrafficPolicy, wasFailing: boolean): boolean {
  return wasFailing ? ratio >= policy.errorThreshold * RECOVERY_FRACTION : ratio > policy.errorThreshold;
}

function round(v: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

/** A fixed number in [0, 1) per name (FNV-1a), so a node keeps its place in the spread. */
function spread(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193) >>> 0;
  return h / 2 ** 32;
}
