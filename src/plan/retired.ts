// Plan: what is left of a retired XrayrNode. Its entry and group are the garbage collector's to
// remove (they are owned by the node), and it usually does so in well under a second. It can be
// late: its workers paused while its monitors resync after a change in the API surface (a CRD
// installed or removed), a backlog after a mass retirement at its default 20 requests/s,
// or an entry of ours that landed after the node was gone (a write released late by a stalled
// connection, a cache that had not seen the delete yet), which it must first notice as a
// dependent of an absent owner. Meanwhile Xboard's sidecars keep attributing the retired VPS's
// address to it. So what the node watch saw retired and is still there after a grace the garbage
// collector normally needs is removed by us, uid-guarded (docs/decisions/0015). Pure.
import { controllerUid } from "../domain/ownership.js";
import type { WorkloadEntry } from "../istio/workloadentry.js";
import type { WorkloadGroup } from "../istio/workloadgroup.js";
import type { GroupAction } from "./group.js";
import type { EntryAction } from "./plan.js";

// The garbage collector's turn first: racing it on every retirement would double the deletes.
export const RETIRED_GRACE_MS = 2_000;

export interface RetiredInput {
  namespace: string;
  /** Live entries controlled by an XrayrNode of this name. */
  entries: readonly WorkloadEntry[];
  /** The live group of the node's group name, whoever controls it. */
  group: WorkloadGroup | undefined;
  /** When the node watch saw the XrayrNode of this uid deleted; undefined if it did not. */
  retiredAt: (uid: string) => number | undefined;
  now: number;
}

export interface RetiredPlan {
  entries: EntryAction[];
  groups: GroupAction[];
  /** Leftovers whose grace has not run out yet: look again this soon. */
  recheckAfterMs?: number;
}

export function planRetired(input: RetiredInput): RetiredPlan {
  const { namespace, entries, group, retiredAt, now } = input;
  // Only objects whose controller the watch saw deleted: one whose node the cache has not seen
  // yet (a lagging node watch) is someone's live entry, not a leftover.
  const due = (o: WorkloadEntry | WorkloadGroup): number | undefined => {
    const uid = controllerUid(o);
    const at = uid === undefined || o.metadata.deletionTimestamp !== undefined ? undefined : retiredAt(uid);
    return at === undefined ? undefined : at + RETIRED_GRACE_MS;
  };
  const overdue = (o: WorkloadEntry | WorkloadGroup): boolean => (due(o) ?? Infinity) <= now;
  const why = "its XrayrNode was deleted and the garbage collector has not removed it";
  const pending = [...entries, ...(group === undefined ? [] : [group])].flatMap((o) => {
    const d = due(o);
    return d !== undefined && d > now ? [d - now] : [];
  });
  return {
    entries: entries.filter(overdue).map((e) => ({ kind: "delete", namespace, name: e.metadata.name ?? "", uid: e.metadata.uid ?? "", address: e.spec.address, why })),
    groups: group !== undefined && overdue(group) ? [{ kind: "delete-group", namespace, name: group.metadata.name ?? "", uid: group.metadata.uid ?? "", why }] : [],
    ...(pending.length > 0 ? { recheckAfterMs: Math.min(...pending) } : {}),
  };
}
