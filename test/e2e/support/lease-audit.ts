// Who held the Lease when: read back from the audit log, the API server's own record, so a
// replica's write can be checked against the lease it held at that moment, not against what
// the replica believed.
import { resourceOf, type AuditEvent } from "./audit.js";

const ok = (e: AuditEvent): boolean => e.stage === "ResponseComplete" && (e.responseStatus?.code ?? 0) >= 200 && (e.responseStatus?.code ?? 0) < 300;
const WRITES = new Set(["create", "update", "patch", "delete", "deletecollection"]);

export interface LeaseViolation {
  /** after-takeover: another replica had written the Lease since this one's last renewal (the
   * lease had moved on: a stale leader's write); lapsed: this replica was still the Lease's
   * last writer, but longer ago than the lease duration (nobody had taken over yet). */
  kind: "after-takeover" | "lapsed";
  user: string;
  write: string;
  at: string;
  /** Whose lease write came last before it, and how long before. */
  lastLeaseWrite: { user: string; msBefore: number } | undefined;
}

/**
 * Successful writes by `users` (other than to the Lease itself) received when the last successful
 * write of the Lease was not theirs, or was theirs but more than `leaseDurationMs` before: a
 * replica writing without holding the lease. Lease writes count from when they were stored.
 */
export function writesWithoutLease(events: readonly AuditEvent[], users: ReadonlySet<string>, leaseName: string, leaseDurationMs: number): LeaseViolation[] {
  const holds = events
    .filter((e) => ok(e) && e.objectRef?.resource === "leases" && e.objectRef.name === leaseName && WRITES.has(e.verb))
    .map((e) => ({ user: e.user.username, at: Date.parse(e.stageTimestamp ?? e.requestReceivedTimestamp ?? "") }))
    .sort((a, b) => a.at - b.at);
  const out: LeaseViolation[] = [];
  for (const e of events) {
    if (!ok(e) || !users.has(e.user.username) || !WRITES.has(e.verb) || e.objectRef?.resource === "leases") continue;
    const at = Date.parse(e.requestReceivedTimestamp ?? "");
    let last: { user: string; at: number } | undefined;
    for (const h of holds) {
      if (h.at > at) break;
      last = h;
    }
    if (last !== undefined && last.user === e.user.username && at - last.at <= leaseDurationMs) continue;
    out.push({
      kind: last !== undefined && last.user !== e.user.username ? "after-takeover" : "lapsed",
      user: e.user.username,
      write: `${e.verb} ${resourceOf(e)} ${e.objectRef?.name ?? ""}`,
      at: e.requestReceivedTimestamp ?? "",
      lastLeaseWrite: last === undefined ? undefined : { user: last.user, msBefore: at - last.at },
    });
  }
  return out;
}
