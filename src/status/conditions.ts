// Status: turn a plan's verdict into the XrayrNode's status, keeping lastTransitionTime when
// the condition's status did not change, and telling whether anything changed at all, so the
// reconciler writes status only on a real change.
import type { Condition, XrayrNodeStatus } from "../api/v1alpha1/types.js";
import { READY, readyCondition } from "../domain/readiness.js";
import type { Verdict } from "../plan/plan.js";

export function nextStatus(
  current: XrayrNodeStatus | undefined,
  verdict: Verdict,
  generation: number | undefined,
  entryName: string | undefined,
  now: Date,
): XrayrNodeStatus {
  const previous = readyCondition(current);
  const status: Condition["status"] = verdict.ready ? "True" : "False";
  const ready: Condition = {
    type: READY,
    status,
    reason: verdict.reason,
    message: verdict.message,
    lastTransitionTime: previous?.status === status ? previous.lastTransitionTime : rfc3339(now),
    ...(generation !== undefined ? { observedGeneration: generation } : {}),
  };
  const others = (current?.conditions ?? []).filter((c) => c.type !== READY);
  const next: XrayrNodeStatus = { ...current, conditions: [...others, ready] };
  if (generation !== undefined) next.observedGeneration = generation;
  if (entryName !== undefined) next.workloadEntry = entryName;
  else delete next.workloadEntry;
  return next;
}

/** Semantic equality of two statuses, as far as this operator writes them. */
export function sameStatus(a: XrayrNodeStatus | undefined, b: XrayrNodeStatus): boolean {
  if (a === undefined || a.observedGeneration !== b.observedGeneration || a.workloadEntry !== b.workloadEntry) return false;
  const ca = a.conditions ?? [];
  const cb = b.conditions ?? [];
  return (
    ca.length === cb.length &&
    ca.every((c) => {
      const d = cb.find((x) => x.type === c.type);
      return (
        d !== undefined &&
        d.status === c.status &&
        d.reason === c.reason &&
        d.message === c.message &&
        d.lastTransitionTime === c.lastTransitionTime &&
        d.observedGeneration === c.observedGeneration
      );
    })
  );
}

// metav1.Time precision: whole seconds, as the API server writes them elsewhere.
export function rfc3339(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, "Z");
}
