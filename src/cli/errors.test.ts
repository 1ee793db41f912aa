import * as k8s from "@kubernetes/client-node";
import { CliError, writeFailure } from "./errors.js";

const api = (code: number, message: string) => new k8s.ApiException(code, "x", JSON.stringify({ kind: "Status", message }), {});

describe("writeFailure: a failed write's exit status", () => {
  test.each([
    [422, 'XrayrNode.mesh.sigma.io "x" is invalid: spec.country: Invalid value'],
    [409, "the object has been modified"],
    [403, 'xrayrnodes.mesh.sigma.io "x" is forbidden: User "u" cannot patch resource'],
    [404, 'namespaces "nope" not found'],
  ])("the API server refused it (HTTP %i): exit 1, its message", (code, message) => {
    const e = writeFailure(api(code, message), "https://k8s:6443");
    expect(e).toBeInstanceOf(CliError);
    expect(e.exitCode).toBe(1);
    expect(e.message).toContain(message);
  });

  test("credentials refused (401) and an unreachable cluster are setup errors: exit 2", () => {
    expect(writeFailure(api(401, "Unauthorized")).exitCode).toBe(2);
    const refused = Object.assign(new TypeError("fetch failed"), { cause: { code: "ECONNREFUSED" } });
    const e = writeFailure(refused, "https://k8s:6443");
    expect(e.exitCode).toBe(2);
    expect(e.message).toBe("cannot reach the API server at https://k8s:6443/ (connection refused): is the cluster up, and is this the kubeconfig for it?");
  });

  test("a CliError keeps its own exit status", () => {
    expect(writeFailure(new CliError("refused", 1)).exitCode).toBe(1);
  });
});
