import { nextStatus, sameStatus } from "./conditions.js";

const t0 = new Date("2026-11-26T10:00:00.123Z");
const t1 = new Date("2026-11-26T11:00:00Z");
const ok = { ready: true, reason: "Reconciled" as const, message: "fine" };
const conflict = { ready: false, reason: "AddressConflict" as const, message: "taken" };

describe("nextStatus", () => {
  test("sets Ready with observedGeneration, the entry name and a seconds-precision time", () => {
    const s = nextStatus(undefined, ok, 4, "jp-01", t0);
    expect(s).toEqual({
      observedGeneration: 4,
      workloadEntry: "jp-01",
      conditions: [{ type: "Ready", status: "True", reason: "Reconciled", message: "fine", lastTransitionTime: "2026-11-26T10:00:00Z", observedGeneration: 4 }],
    });
  });

  test("keeps lastTransitionTime while the status stays the same, even if the reason changes", () => {
    const first = nextStatus(undefined, conflict, 1, undefined, t0);
    const second = nextStatus(first, { ...conflict, reason: "InvalidSpec" }, 2, undefined, t1);
    expect(second.conditions?.[0]?.lastTransitionTime).toBe("2026-11-26T10:00:00Z");
    const third = nextStatus(second, ok, 3, "n", t1);
    expect(third.conditions?.[0]?.lastTransitionTime).toBe("2026-11-26T11:00:00Z");
  });

  test("drops the entry name when the node has no entry", () => {
    const s = nextStatus(nextStatus(undefined, ok, 1, "n", t0), conflict, 2, undefined, t1);
    expect(s).not.toHaveProperty("workloadEntry");
  });

  test("leaves other conditions alone", () => {
    const current = { conditions: [{ type: "Traffic", status: "True" as const, reason: "Active", message: "", lastTransitionTime: "x" }] };
    expect(nextStatus(current, ok, 1, "n", t0).conditions?.map((c) => c.type)).toEqual(["Traffic", "Ready"]);
  });
});

describe("sameStatus", () => {
  test("an unchanged verdict at a later time is the same status: no write", () => {
    const s = nextStatus(undefined, ok, 1, "n", t0);
    expect(sameStatus(s, nextStatus(s, ok, 1, "n", t1))).toBe(true);
  });

  test.each([
    ["message", { ...ok, message: "other" }, 1],
    ["generation", ok, 2],
    ["status", conflict, 1],
  ] as const)("a different %s is a change", (_what, verdict, gen) => {
    const s = nextStatus(undefined, ok, 1, "n", t0);
    expect(sameStatus(s, nextStatus(s, verdict, gen, "n", t1))).toBe(false);
  });

  test("no status yet is always a change", () => {
    expect(sameStatus(undefined, nextStatus(undefined, ok, 1, "n", t0))).toBe(false);
  });
});
