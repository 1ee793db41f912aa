import type { AuditEvent } from "../e2e/support/audit.js";
import { writesWithoutLease } from "../e2e/support/lease-audit.js";

const t = (s: number): string => new Date(Date.UTC(2026, 0, 1, 0, 0, s)).toISOString();
let id = 0;
const ev = (user: string, verb: string, resource: string, name: string, s: number, code = 200): AuditEvent => ({
  auditID: String(++id),
  stage: "ResponseComplete",
  verb,
  requestURI: "/",
  user: { username: user },
  objectRef: { resource, name },
  responseStatus: { code },
  requestReceivedTimestamp: t(s),
  stageTimestamp: t(s),
});

describe("writesWithoutLease", () => {
  const users = new Set(["a", "b"]);
  it("accepts writes by the holder within its lease, and flags a write after another took over or after expiry", () => {
    const events = [
      ev("a", "update", "leases", "L", 0),
      ev("a", "create", "workloadentries", "e1", 1),
      ev("a", "update", "leases", "L", 2),
      ev("a", "patch", "xrayrnodes", "n1", 5), // 3 s into a 4 s lease: fine
      ev("b", "update", "leases", "L", 10),
      ev("a", "create", "workloadentries", "late", 11), // a stale leader's write arriving late
      ev("b", "create", "workloadentries", "e2", 12),
      ev("b", "create", "workloadentries", "e3", 30), // b stopped renewing 20 s ago
      ev("a", "create", "workloadentries", "refused", 12, 429),
      ev("lab-admin", "create", "xrayrnodes", "n2", 12),
    ];
    expect(writesWithoutLease(events, users, "L", 4000).map((v) => [v.kind, v.user, v.write, v.lastLeaseWrite])).toEqual([
      ["after-takeover", "a", "create workloadentries late", { user: "b", msBefore: 1000 }],
      ["lapsed", "b", "create workloadentries e3", { user: "b", msBefore: 20_000 }],
    ]);
  });
});
