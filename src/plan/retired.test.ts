import type { XrayrNode } from "../api/v1alpha1/types.js";
import { controlledBy } from "../domain/ownership.js";
import type { WorkloadEntry } from "../istio/workloadentry.js";
import { planRetired, RETIRED_GRACE_MS } from "./retired.js";

const NS = "airport-prod";
const owner = (uid: string): XrayrNode => ({ metadata: { name: "jp-01", namespace: NS, uid }, spec: { address: "45.76.1.1", country: "jp" } });
const entry = (name: string, ownerUid: string, extra: Partial<WorkloadEntry["metadata"]> = {}): WorkloadEntry => ({
  apiVersion: "networking.istio.io/v1",
  kind: "WorkloadEntry",
  metadata: { name, namespace: NS, uid: `e-${name}`, ownerReferences: [controlledBy(owner(ownerUid))], ...extra },
  spec: { address: "45.76.1.1" },
});

describe("planRetired", () => {
  const retired = new Map([["old", 0], ["recent", 9_000]]);
  const input = (entries: WorkloadEntry[]) => ({ namespace: NS, entries, group: undefined, retiredAt: (uid: string) => retired.get(uid), now: 10_000 });

  test("deletes, uid-guarded, what is past its grace; looks again when the next one's grace ends", () => {
    const plan = planRetired(input([entry("a", "old"), entry("b", "recent"), entry("c", "live")]));
    expect(plan.entries).toEqual([{ kind: "delete", namespace: NS, name: "a", uid: "e-a", address: "45.76.1.1", why: expect.stringContaining("garbage collector") as unknown }]);
    expect(plan.groups).toEqual([]);
    expect(plan.recheckAfterMs).toBe(9_000 + RETIRED_GRACE_MS - 10_000);
  });

  test("nothing for an entry already being deleted, or one whose node the watch never showed deleted", () => {
    expect(planRetired(input([entry("a", "old", { deletionTimestamp: "2026-11-26T12:00:00Z" }), entry("c", "live")]))).toEqual({ entries: [], groups: [] });
  });
});
