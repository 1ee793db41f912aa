import * as k8s from "@kubernetes/client-node";
import { apiMessage, classifyApiError, networkCause } from "./api-errors.js";

const apiError = (code: number, headers: Record<string, string> = {}, message = "nope") =>
  new k8s.ApiException(code, "call failed", JSON.stringify({ kind: "Status", message }), headers);

describe("classifyApiError", () => {
  it.each([
    [400, "rejected"],
    [401, "rejected"],
    [403, "rejected"],
    [422, "rejected"],
    [404, "not-found"],
    [410, "not-found"],
    [409, "transient"],
    [429, "transient"],
    [500, "transient"],
    [503, "transient"],
  ])("HTTP %i is %s", (code, kind) => {
    expect(classifyApiError(apiError(code)).kind).toBe(kind);
  });

  it("treats a call that got no answer (timeout, reset) as transient", () => {
    expect(classifyApiError(new Error("fetch failed"))).toEqual({ kind: "transient" });
    expect(classifyApiError(new DOMException("The operation timed out.", "TimeoutError"))).toEqual({ kind: "transient" });
  });

  it("reads Retry-After in seconds, capped at five minutes", () => {
    expect(classifyApiError(apiError(429, { "retry-after": "3" }))).toEqual({ kind: "transient", code: 429, retryAfterMs: 3000 });
    expect(classifyApiError(apiError(429, { "retry-after": "86400" })).retryAfterMs).toBe(300_000);
    expect(classifyApiError(apiError(429, { "retry-after": "soon" })).retryAfterMs).toBeUndefined();
  });

  it("keeps a webhook's denial rejected and its message whole", () => {
    const denied = apiError(403, {}, 'admission webhook "deny.example" denied the request: no new entries');
    expect(classifyApiError(denied).kind).toBe("rejected");
    expect(apiMessage(denied)).toBe('admission webhook "deny.example" denied the request: no new entries');
  });
});

describe("networkCause", () => {
  it("reads the socket's code through fetch's and client-node's wrapping", () => {
    const socket = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:9"), { code: "ECONNREFUSED" });
    const fetchFailed = new TypeError("fetch failed", { cause: socket });
    expect(networkCause(new Error("request failed", { cause: fetchFailed }))).toBe("connection refused");
    expect(networkCause(new TypeError("fetch failed", { cause: new AggregateError([Object.assign(new Error("x"), { code: "ENOTFOUND" })]) }))).toBe("host not found");
    expect(networkCause(new DOMException("The operation was aborted due to timeout", "TimeoutError"))).toBe("timed out");
  });

  it("is undefined for anything that is not a failed connection", () => {
    expect(networkCause(new Error("boom"))).toBeUndefined();
    expect(networkCause("text")).toBeUndefined();
  });
});
