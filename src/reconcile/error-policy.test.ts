import * as k8s from "@kubernetes/client-node";
import { FencedWriteError } from "../apply/writer.js";
import { NotLeaderError } from "../controller/fence.js";
import { errorPolicy, failureVerdict, REJECTED_RETRY_MS } from "./error-policy.js";

const api = (code: number, message: string, headers: Record<string, string> = {}) => new k8s.ApiException(code, "x", JSON.stringify({ kind: "Status", message }), headers);
const entry = { kind: "WorkloadEntry" as const, namespace: "airport-prod", name: "jp-01-0a1b2c3d" };

describe("the error policy: what a failed write means, for the key", () => {
  test.each([
    ["a webhook's denial (403)", api(403, "denied"), { requeue: "after", afterMs: REJECTED_RETRY_MS }],
    ["an invalid object (422)", api(422, "invalid"), { requeue: "after", afterMs: REJECTED_RETRY_MS }],
    ["no answer", new Error("fetch failed"), { requeue: "backoff" }],
    ["a conflict (409)", api(409, "conflict"), { requeue: "backoff" }],
    ["a 429 with Retry-After", api(429, "slow down", { "retry-after": "7" }), { requeue: "backoff", notBeforeMs: 7_000 }],
    ["the fence refusing (leadership over)", new NotLeaderError("gone"), { requeue: "never" }],
    ["the fencing policy refusing", new FencedWriteError("refused"), { requeue: "never" }],
  ] as const)("%s", (_what, err, action) => {
    expect(errorPolicy("airport-prod/jp-01", err)).toEqual(action);
  });
});

describe("the error policy: what a failed write means, for the node's condition", () => {
  test("refused: ApplyRejected with the server's message, said to be tried every 15 s", () => {
    expect(failureVerdict(api(403, 'admission webhook "deny" denied the request: frozen'), entry)).toEqual({
      ready: false,
      reason: "ApplyRejected",
      message: 'WorkloadEntry jp-01-0a1b2c3d was refused: admission webhook "deny" denied the request: frozen; tried again every 15 s',
    });
    expect(failureVerdict(api(403, "frozen"), { ...entry, dryRun: true }).message).toBe(
      "the replacement WorkloadEntry jp-01-0a1b2c3d was refused in a dry run, so the current entry stays: frozen; tried again every 15 s",
    );
  });

  test("anything else: ApplyFailed naming the object, retried with backoff", () => {
    expect(failureVerdict(new Error("connection reset"), { kind: "WorkloadGroup", namespace: "airport-prod", name: "jp-01" })).toEqual({
      ready: false,
      reason: "ApplyFailed",
      message: "writing WorkloadGroup airport-prod/jp-01 failed: connection reset; retrying with backoff",
    });
  });
});
