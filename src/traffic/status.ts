// Traffic on the XrayrNode itself: what `kubectl get xn` shows about a node's calls to Xboard,
// and when it is worth a write. Writes stay bounded: at most one per node per `minIntervalMs`
// in steady state, sooner only when the node changes state (silent <-> active) or crosses the
// error threshold. Pure.
import type { NodeTraffic } from "./panel.js";

export interface TrafficStatus {
  state: "Active" | "Silent";
  requestsPerMinute: number;
  /** Kiali's error ratio over the window, 0..1. */
  errorRatio: number;
  /** Omitted while there are no latency samples. */
  p99Ms?: number;
  /** Last time traffic was seen (RFC 3339); omitted if never seen by this operator. */
  lastSeen?: string;
  /** When these numbers were measured (RFC 3339). */
  observedAt: string;
}

export interface TrafficPolicy {
  minIntervalMs: number;
  errorThreshold: number;
}

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

  if (prev === undefined) return { next, write: true, why: "first" };
  if (prev.state !== next.state) return { next, write: true, why: "state" };
  if (prev.errorRatio > policy.errorThreshold !== next.errorRatio > policy.errorThreshold) return { next, write: true, why: "errors" };
  const age = now.getTime() - Date.parse(prev.observedAt);
  if (!(age < policy.minIntervalMs)) return { next, write: true, why: "refresh" };
  return { next, write: false };
}

function round(v: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

function rfc3339(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, "Z");
}
