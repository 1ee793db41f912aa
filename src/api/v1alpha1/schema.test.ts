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

// Every field of the status type, each set: `Required` makes the compiler demand a value for each
// field the type has, and an object literal may hold no field the type lacks.
const everyField: Required<XrayrNodeStatus> = {
  observedGeneration: 1,
  conditions: status.conditions ?? [],
  workloadEntry: "jp-01-0a1b2c3d",
  writtenBy: { holder: "pod-a", epoch: 3 },
  traffic,
};

describe("the status types derived from the status schema", () => {
  it("the schema lists every status field the types have, and no other", () => {
    expect(Object.keys(xrayrNodeStatusSchema.properties).sort()).toEqual(Object.keys(everyField).sort());
  });
});
