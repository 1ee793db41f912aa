import type { WorkloadGroup } from "../istio/workloadgroup.js";
import { groupUpdatePatch } from "./group-patch.js";

const M = "xrayr-mesh-operator";

const live: WorkloadGroup = {
  apiVersion: "networking.istio.io/v1",
  kind: "WorkloadGroup",
  metadata: {
    name: "jp-01",
    namespace: "airport-prod",
    resourceVersion: "42",
    labels: { app: "xrayr", old: "x", "team.example/owner": "ops" },
    managedFields: [
      { manager: M, operation: "Update", fieldsV1: { "f:metadata": { "f:labels": { "f:app": {}, "f:old": {} } }, "f:spec": { "f:template": { "f:serviceAccount": {} } } } },
      { manager: "kubectl-label", operation: "Update", fieldsV1: { "f:metadata": { "f:labels": { "f:team.example/owner": {} } } } },
    ],
  },
  spec: { metadata: { labels: { app: "xrayr", "service.istio.io/workload-name": "jp-01", version: "v1" } }, template: { serviceAccount: "xrayr-vm" } },
};

const desired: WorkloadGroup = {
  apiVersion: "networking.istio.io/v1",
  kind: "WorkloadGroup",
  metadata: { name: "jp-01", namespace: "airport-prod", labels: { app: "xrayr" }, annotations: { "mesh.sigma.io/applied-hash": "b" } },
  spec: { metadata: { labels: { app: "xrayr", "service.istio.io/workload-name": "jp-01" } }, template: {} },
};

describe("groupUpdatePatch", () => {
  const patch = groupUpdatePatch(live, desired, M);

  test("the workload labels become exactly ours: a key anyone added to the selector is removed", () => {
    expect(patch).toMatchObject({ spec: { metadata: { labels: { app: "xrayr", "service.istio.io/workload-name": "jp-01", version: null } } } });
  });

  test("elsewhere only keys our manager owns and no longer wants are removed; the precondition is the live version", () => {
    expect(patch).toMatchObject({
      metadata: { resourceVersion: "42", labels: { app: "xrayr", old: null }, annotations: { "mesh.sigma.io/applied-hash": "b" } },
      spec: { template: { serviceAccount: null } },
    });
    expect((patch.metadata as { labels: Record<string, unknown> }).labels).not.toHaveProperty("team.example/owner");
  });
});
