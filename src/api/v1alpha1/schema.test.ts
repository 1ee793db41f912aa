import type { FromSchema } from "./schema.js";
import { xrayrNodeStatusSchema, type TrafficStatus, type XrayrNodeStatus } from "./status.js";

// Type-level checks, enforced by `npm run typecheck` (make check): the types follow the schema.
const traffic: TrafficStatus = { state: "Active", requestsPerMinute: 3, errorRatio: 0, observedAt: "2026-12-01T00:00:00Z" };
// @ts-expect-error: "Busy" is not in the schema's enum
const badState: TrafficStatus = { ...traffic, state: "Busy" };
// @ts-expect-error: observedAt is required by the schema
const missing: TrafficStatus = { state: "Silent", requestsPerMinute: 0, errorRatio: 0 };
const status: XrayrNodeStatus = {
  conditions: [{ type: "Ready", status: "True", reason: "Reconciled", message: "ok", lastTransitionTime: "2026-12-01T00:00:00Z" }],
  writtenBy: { holder: "pod-a", epoch: 3 },
  traffic,
};
type Nested = FromSchema<{ type: "object"; required: ["a"]; properties: { a: { type: "array"; items: { type: "integer" } }; b: { type: "boolean" } } }>;
const nested: Nested = { a: [1, 2] };

// Only the compiler reads these.
export const typeChecks = [badState, missing, status, nested];

describe("the status types derived from the status schema", () => {
  it("the schema lists every status field the types have", () => {
    expect(Object.keys(xrayrNodeStatusSchema.properties).sort()).toEqual(["conditions", "observedGeneration", "traffic", "workloadEntry", "writtenBy"]);
  });
});
