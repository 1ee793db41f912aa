import { isGroupReady, isReady, readyCondition } from "./readiness.js";

const cond = (type: string, status: "True" | "False" | "Unknown") => ({ type, status, reason: "R", message: "", lastTransitionTime: "2026-12-01T00:00:00Z" });

describe("isReady", () => {
  test.each([
    ["Ready True", [cond("Ready", "True")], true],
    ["Ready False", [cond("Ready", "False")], false],
    ["Ready Unknown", [cond("Ready", "Unknown")], false],
    ["only another condition True", [cond("WorkloadGroupReady", "True")], false],
    ["no conditions", [], false],
  ])("%s: %s", (_what, conditions, want) => {
    expect(isReady({ status: { conditions } })).toBe(want);
  });

  test("no status at all is not Ready, and has no Ready condition", () => {
    expect(isReady({})).toBe(false);
    expect(readyCondition(undefined)).toBeUndefined();
  });
});

describe("isGroupReady", () => {
  test("reads WorkloadGroupReady only, never Ready", () => {
    expect(isGroupReady({ status: { conditions: [cond("Ready", "True"), cond("WorkloadGroupReady", "False")] } })).toBe(false);
    expect(isGroupReady({ status: { conditions: [cond("Ready", "False"), cond("WorkloadGroupReady", "True")] } })).toBe(true);
  });
});
