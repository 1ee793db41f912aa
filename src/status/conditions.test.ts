import type { GroupReason } from "../api/v1alpha1/types.js";
import type { Verdict } from "../plan/plan.js";
import { nextStatus, sameStatus, type Verdicts } from "./conditions.js";

const t0 = new Date("2026-11-26T10:00:00.123Z");
const t1 = new Date("2026-11-26T11:00:00Z");
const ok = { ready: true, reason: "Reconciled" as const, message: "fine" };
const conflict = { ready: false, reason: "AddressConflict" as const, message: "taken" };
const groupOk: Verdict<GroupReason> = { ready: true, reason: "Reconciled", message: "group fine" };
const groupTaken: Verdict<GroupReason> = { ready: false, reason: "GroupNameTaken", message: "someone's group" };
const v = (ready: Verdict, group: Verdict<GroupReason> = groupOk): Verdicts => ({ ready, group });

describe("nextStatus", () => {
  test("sets Ready and WorkloadGroupReady with observedGeneration, the entry name and a seconds-precision time", () => {
    const s = nextStatus(undefined, v(ok), 4, "jp-01", t0);
    expect(s).toEqual({
      observedGeneration: 4,
      workloadEntry: "jp-01",
      conditions: [
        { type: "Ready", status: "True", reason: "Reconciled", message: "fine", lastTransitionTime: "2026-11-26T10:00:00Z", observedGeneration: 4 },
        { type: "WorkloadGroupReady", status: "True", reason: "Reconciled", message: "group fine", lastTransitionTime: "2026-11-26T10:00:00Z", observedGeneration: 4 },
      ],
    });
  });

  test("the group's verdict never moves Ready: a taken group name leaves Ready True", () => {
    const s = nextStatus(undefined, v(ok, groupTaken), 1, "jp-01", t0);
    expect(s.conditions?.map((c) => [c.type, c.status, c.reason])).toEqual([
      ["Ready", "True", "Reconciled"],
      ["WorkloadGroupReady", "False", "GroupNameTaken"],
    ]);
  });

  test("keeps each lastTransitionTime while its status stays the same, even if the reason changes", () => {
    const first = nextStatus(undefined, v(conflict), 1, undefined, t0);
    const second = nextStatus(first, v({ ...conflict, reason: "InvalidSpec" }, groupTaken), 2, undefined, t1);
    expect(second.conditions?.[0]?.lastTransitionTime).toBe("2026-11-26T10:00:00Z");
    expect(second.conditions?.[1]?.lastTransitionTime).toBe("2026-11-26T11:00:00Z");
    const third = nextStatus(second, v(ok, groupTaken), 3, "n", t1);
    expect(third.conditions?.[0]?.lastTransitionTime).toBe("2026-11-26T11:00:00Z");
    expect(third.conditions?.[1]?.lastTransitionTime).toBe("2026-11-26T11:00:00Z");
  });

  test("drops the entry name when the node has no entry", () => {
    const s = nextStatus(nextStatus(undefined, v(ok), 1, "n", t0), v(conflict), 2, undefined, t1);
    expect(s).not.toHaveProperty("workloadEntry");
  });

  test("leaves other conditions alone", () => {
    const current = { conditions: [{ type: "Traffic", status: "True" as const, reason: "Active", message: "", lastTransitionTime: "x" }] };
    expect(nextStatus(current, v(ok), 1, "n", t0).conditions?.map((c) => c.type)).toEqual(["Traffic", "Ready", "WorkloadGroupReady"]);
  });
});

describe("sameStatus", () => {
  test("an unchanged verdict at a later time is the same status: no write", () => {
    const s = nextStatus(undefined, v(ok), 1, "n", t0);
    expect(sameStatus(s, nextStatus(s, v(ok), 1, "n", t1))).toBe(true);
  });

  test.each([
    ["message", v({ ...ok, message: "other" }), 1],
    ["generation", v(ok), 2],
    ["status", v(conflict), 1],
    ["group status", v(ok, groupTaken), 1],
  ] as const)("a different %s is a change", (_what, verdicts, gen) => {
    const s = nextStatus(undefined, v(ok), 1, "n", t0);
    expect(sameStatus(s, nextStatus(s, verdicts, gen, "n", t1))).toBe(false);
  });

  test("no status yet is always a change", () => {
    expect(sameStatus(undefined, nextStatus(undefined, v(ok), 1, "n", t0))).toBe(false);
  });
});
