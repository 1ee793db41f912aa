// Status: turn the plans' verdicts into the XrayrNode's status, keeping each condition's
// lastTransitionTime when its status did not change (cert-manager's condition helper), and
// telling whether anything changed at all, so the reconciler writes status only on a real change.
// Two conditions: Ready (the WorkloadEntry is in place: the VPS's traffic is attributed) and
// WorkloadGroupReady (Kiali can open the VPS as a workload), docs/decisions/0013.
import type { Condition, GroupReason, XrayrNodeStatus } from "../api/v1alpha1/types.js";
import { GROUP_READY, READY } from "../domain/readiness.js";
import type { Verdict } from "../plan/plan.js";

export interface Verdicts {
  ready: Verdict;
  group: Verdict<GroupReason>;
}

export function nextStatus(
  current: XrayrNodeStatus | undefined,
  verdicts: Verdicts,
  generation: number | undefined,
  entryName: string | undefined,
  now: Date,
): XrayrNodeStatus {
  const ours = [READY, GROUP_READY];
  const others = (current?.conditions ?? []).filter((c) => !ours.includes(c.type));
  const next: XrayrNodeStatus = {
    ...current,
    conditions: [...others, condition(current, READY, verdicts.ready, generation, now), condition(current, GROUP_READY, verdicts.group, generation, now)],
  };
  if (generation !== undefined) next.observedGeneration = generation;
  if (entryName !== undefined) next.workloadEntry = entryName;
  else delete next.workloadEntry;
  return next;
}

function condition(current: XrayrNodeStatus | undefined, type: string, verdict: Verdict<string>, generation: number | undefined, now: Date): Condition {
  const previous = current?.conditions?.find((c) => c.type === type);
  const status: Condition["status"] = verdict.ready ? "True" : "False";
  return {
    type,
    status,
    reason: verdict.reason,
    message: verdict.message,
    lastTransitionTime: previous?.status === status ? previous.lastTransitionTime : rfc3339(now),
    ...(generation !== undefined ? { observedGeneration: generation } : {}),
  };
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
