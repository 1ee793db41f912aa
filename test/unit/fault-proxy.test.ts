import { kubeRequest, matches, releaseAt, ruleFor, statusBody, type Rule } from "../lab/fault-proxy.js";

describe("fault proxy: reading a request", () => {
  it.each([
    ["GET", "/apis/networking.istio.io/v1/namespaces/airport-prod/workloadentries?watch=true&resourceVersion=5", { verb: "watch", resource: "workloadentries", namespace: "airport-prod" }],
    ["GET", "/apis/networking.istio.io/v1/namespaces/airport-prod/workloadentries?limit=500", { verb: "list", resource: "workloadentries", namespace: "airport-prod" }],
    ["POST", "/apis/networking.istio.io/v1/namespaces/airport-prod/workloadentries", { verb: "create", resource: "workloadentries" }],
    ["PATCH", "/apis/mesh.sigma.io/v1alpha1/namespaces/airport-prod/xrayrnodes/jp-1/status", { verb: "patch", resource: "xrayrnodes", name: "jp-1", subresource: "status" }],
    ["DELETE", "/apis/networking.istio.io/v1/namespaces/airport-prod/workloadentries/jp-1-abc", { verb: "delete", name: "jp-1-abc" }],
    ["PUT", "/apis/coordination.k8s.io/v1/namespaces/airport-prod/leases/xrayr-mesh-operator", { verb: "update", resource: "leases" }],
    ["POST", "/api/v1/namespaces/airport-prod/events", { verb: "create", resource: "events" }],
    ["GET", "/api/v1/namespaces", { verb: "list", resource: "namespaces" }],
    ["GET", "/version", { verb: "get", resource: "" }],
  ])("%s %s", (method, url, want) => {
    expect(kubeRequest(method, url)).toMatchObject(want);
  });
});

describe("fault proxy: rules", () => {
  const entryCreate = kubeRequest("POST", "/apis/networking.istio.io/v1/namespaces/ns/workloadentries");
  const statusPatch = kubeRequest("PATCH", "/apis/mesh.sigma.io/v1alpha1/namespaces/ns/xrayrnodes/a/status");

  it("matches on every field given, a resource with or without its subresource", () => {
    expect(matches(undefined, entryCreate, "/x")).toBe(true);
    expect(matches({ verbs: ["create", "patch"] }, entryCreate, "/x")).toBe(true);
    expect(matches({ verbs: ["list"] }, entryCreate, "/x")).toBe(false);
    expect(matches({ resources: ["xrayrnodes/status"] }, statusPatch, "/x")).toBe(true);
    expect(matches({ resources: ["xrayrnodes"] }, statusPatch, "/x")).toBe(true);
    expect(matches({ resources: ["xrayrnodes"], verbs: ["create"] }, statusPatch, "/x")).toBe(false);
    expect(matches({ path: "/status$" }, statusPatch, "/apis/mesh.sigma.io/v1alpha1/namespaces/ns/xrayrnodes/a/status")).toBe(true);
  });

  it("picks the first live rule of the action; an expired one no longer applies", () => {
    const rules: Rule[] = [
      { id: "old", spec: { action: "status", code: 500 }, until: 1000 },
      { id: "storm", spec: { action: "status", code: 429, retryAfterSeconds: 2, match: { verbs: ["create"] } }, until: undefined },
      { id: "hold", spec: { action: "stall" }, until: undefined },
    ];
    expect(ruleFor(rules, "status", entryCreate, "/x", 500)?.id).toBe("old");
    expect(ruleFor(rules, "status", entryCreate, "/x", 1000)?.id).toBe("storm");
    expect(ruleFor(rules, "status", statusPatch, "/x", 1000)).toBeUndefined();
    expect(ruleFor(rules, "stall", statusPatch, "/x", 1000)?.id).toBe("hold");
  });

  it("delays chunks without ever reordering them, also when the delay ends mid-stream", () => {
    let last = 0;
    const out = [
      [0, 5000],
      [100, 5000],
      [200, 0], // the delay was lifted: still behind the chunk ahead
      [6000, 0],
    ].map(([at = 0, ms = 0]) => (last = releaseAt(at, ms, last)));
    expect(out).toEqual([5000, 5100, 5100, 6000]);
  });

  it("answers in the API server's Status form", () => {
    expect(JSON.parse(statusBody(429, "slow down"))).toEqual({ kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message: "slow down", reason: "TooManyRequests", code: 429 });
  });
});
