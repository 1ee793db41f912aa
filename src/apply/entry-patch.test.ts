import type { WorkloadEntry } from "../istio/workloadentry.js";
import { entryUpdatePatch, ownedKeys } from "./entry-patch.js";

const M = "xrayr-mesh-operator";

function live(fields: unknown, extra: Partial<WorkloadEntry["spec"]> = {}): WorkloadEntry {
  return {
    apiVersion: "networking.istio.io/v1",
    kind: "WorkloadEntry",
    metadata: {
      name: "jp-01-0123abcd",
      namespace: "airport-prod",
      resourceVersion: "42",
      labels: { app: "xrayr", provider: "vultr", "team.example/owner": "ops" },
      managedFields: [
        { manager: M, operation: "Update", fieldsV1: fields },
        // Another writer's fields are never removed by ours.
        { manager: "kubectl-label", operation: "Update", fieldsV1: { "f:metadata": { "f:labels": { "f:team.example/owner": {} } } } },
        // Our status-less resource has no subresource entries of ours; one would not count.
        { manager: M, operation: "Update", subresource: "status", fieldsV1: { "f:spec": { "f:locality": {} } } },
      ],
    },
    spec: { address: "45.76.1.1", labels: { app: "xrayr", provider: "vultr" }, ...extra },
  };
}

const desired: WorkloadEntry = {
  apiVersion: "networking.istio.io/v1",
  kind: "WorkloadEntry",
  metadata: { name: "jp-01-0123abcd", namespace: "airport-prod", labels: { app: "xrayr" }, annotations: { "mesh.sigma.io/applied-hash": "b" } },
  spec: { address: "45.76.1.1", labels: { app: "xrayr", country: "de" }, serviceAccount: "xrayr-vm" },
};

const ours = {
  "f:metadata": { "f:labels": { ".": {}, "f:app": {}, "f:provider": {} }, "f:annotations": { "f:mesh.sigma.io/applied-hash": {} } },
  "f:spec": { "f:address": {}, "f:labels": { "f:app": {}, "f:provider": {} }, "f:locality": {}, "f:serviceAccount": {} },
};

describe("ownedKeys", () => {
  test("reads a manager's keys under a path from fieldsV1, Apply or Update, not subresources", () => {
    const e = live(ours);
    expect([...ownedKeys(e.metadata.managedFields, M, ["spec", "labels"])].sort()).toEqual(["app", "provider"]);
    expect([...ownedKeys(e.metadata.managedFields, M, ["spec"])].sort()).toEqual(["address", "labels", "locality", "serviceAccount"]);
    expect(ownedKeys([{ manager: M, operation: "Apply", fieldsV1: ours }], M, ["metadata", "labels"]).has("provider")).toBe(true);
    expect(ownedKeys(undefined, M, ["spec"]).size).toBe(0);
    expect(ownedKeys([{ manager: M, fieldsV1: "not a field set" }], M, ["spec"]).size).toBe(0);
  });
});

describe("entryUpdatePatch", () => {
  test("sets what is wanted, removes what we own and no longer want, leaves others' fields alone", () => {
    expect(entryUpdatePatch(live(ours, { locality: "ap/1" }), desired, M)).toEqual({
      metadata: {
        resourceVersion: "42",
        labels: { app: "xrayr", provider: null },
        annotations: { "mesh.sigma.io/applied-hash": "b" },
      },
      spec: {
        address: "45.76.1.1",
        labels: { app: "xrayr", country: "de", provider: null },
        serviceAccount: "xrayr-vm",
        locality: null,
      },
    });
  });

  test("an optional field we never owned is not touched", () => {
    const patch = entryUpdatePatch(live({ "f:spec": { "f:labels": {} } }, { locality: "someone/else" }), desired, M) as { spec: Record<string, unknown> };
    expect(patch.spec).not.toHaveProperty("locality");
  });
});
