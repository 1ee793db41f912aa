import type { XrayrNode } from "../api/v1alpha1/types.js";
import { APPLIED_HASH_ANNOTATION } from "../domain/ownership.js";
import { appliedHash, desiredWorkloadEntry } from "./workloadentry.js";
import type { ValidSpec } from "../domain/validity.js";
import { entryName, nodeNameOfEntry } from "../domain/entry-name.js";

const node: XrayrNode = {
  metadata: { name: "jp-tokyo-01", namespace: "airport-prod", uid: "uid-1", generation: 3 },
  spec: { address: "203.0.114.7", country: "jp" },
};
const spec: ValidSpec = { address: "203.0.114.7", country: "jp", version: "v2", labels: { tier: "gold" }, locality: "ap-northeast-1/apne1-az1" };
const opts = { appLabel: "xrayr", serviceAccount: "xrayr-vm" };

describe("desiredWorkloadEntry", () => {
  const entry = desiredWorkloadEntry(node, spec, opts);

  test("names, places and addresses the entry after the node", () => {
    expect(entry.apiVersion).toBe("networking.istio.io/v1");
    expect(entry.kind).toBe("WorkloadEntry");
    expect(entry.metadata.name).toBe(entryName("jp-tokyo-01", { address: "203.0.114.7", app: "xrayr", version: "v2", serviceAccount: "xrayr-vm" }));
    expect(entry.metadata.name).toMatch(/^jp-tokyo-01-[0-9a-f]{8}$/);
    expect(entry.metadata.namespace).toBe("airport-prod");
    expect(entry.spec.address).toBe("203.0.114.7");
    expect(entry.spec.serviceAccount).toBe("xrayr-vm");
    expect(entry.spec.locality).toBe("ap-northeast-1/apne1-az1");
  });

  test("workload labels: operator's keys win over the node's extra labels", () => {
    expect(entry.spec.labels).toEqual({
      app: "xrayr",
      country: "jp",
      "security.istio.io/tlsMode": "disabled",
      "service.istio.io/workload-name": "jp-tokyo-01",
      tier: "gold",
      version: "v2",
    });
  });

  test("metadata marks ownership and plaintext, and never the auto-registration keys", () => {
    const labels = entry.metadata.labels ?? {};
    expect(labels["app.kubernetes.io/managed-by"]).toBe("xrayr-mesh-operator");
    expect(labels["security.istio.io/tlsMode"]).toBe("disabled");
    for (const forbidden of ["istio.io/autoRegistrationGroup", "istio.io/workloadController", "proxy.istio.io/health-checks-enabled"]) {
      expect(labels).not.toHaveProperty([forbidden]);
      expect(entry.metadata.annotations ?? {}).not.toHaveProperty([forbidden]);
    }
  });

  test("is controlled by the node, so the garbage collector removes it with the node", () => {
    expect(entry.metadata.ownerReferences).toEqual([
      { apiVersion: "mesh.sigma.io/v1alpha1", kind: "XrayrNode", name: "jp-tokyo-01", uid: "uid-1", controller: true, blockOwnerDeletion: true },
    ]);
  });

  test("optional fields stay unset when not asked for", () => {
    const bare = desiredWorkloadEntry(node, { address: "2001:4860::8888", country: "us", version: "v1" }, { appLabel: "xrayr", serviceAccount: "" });
    expect(bare.spec).not.toHaveProperty("serviceAccount");
    expect(bare.spec).not.toHaveProperty("locality");
  });

  test("the applied hash is stable and changes with any applied field", () => {
    expect(entry.metadata.annotations?.[APPLIED_HASH_ANNOTATION]).toBe(appliedHash(entry));
    expect(desiredWorkloadEntry(node, spec, opts).metadata.annotations).toEqual(entry.metadata.annotations);
    const moved = desiredWorkloadEntry(node, { ...spec, address: "203.0.114.8" }, opts);
    const relabelled = desiredWorkloadEntry(node, { ...spec, labels: {} }, opts);
    const hashes = new Set([entry, moved, relabelled].map((e) => e.metadata.annotations?.[APPLIED_HASH_ANNOTATION]));
    expect(hashes.size).toBe(3);
  });

  test("the name changes with every field the sidecar reads, and only with those", () => {
    const base = { address: "203.0.114.7", app: "xrayr", version: "v2", serviceAccount: "xrayr-vm" };
    const names = new Set([
      entryName("n", base),
      entryName("n", { ...base, address: "203.0.114.8" }),
      entryName("n", { ...base, app: "other" }),
      entryName("n", { ...base, version: "v3" }),
      entryName("n", { ...base, serviceAccount: "" }),
    ]);
    expect(names.size).toBe(5);
    const relabelled = desiredWorkloadEntry(node, { ...spec, country: "hk", labels: { tier: "silver" } }, opts);
    expect(relabelled.metadata.name).toBe(entry.metadata.name);
  });

  test("label order does not change the hash", () => {
    const a = desiredWorkloadEntry(node, { ...spec, labels: { a: "1", b: "2" } }, opts);
    const b = desiredWorkloadEntry(node, { ...spec, labels: { b: "2", a: "1" } }, opts);
    expect(a.metadata.annotations).toEqual(b.metadata.annotations);
  });
});

describe("nodeNameOfEntry", () => {
  test("is entryName read backwards, and nothing else", () => {
    const id = { address: "45.76.1.1", app: "xrayr", version: "v1", serviceAccount: "xrayr-vm" };
    for (const node of ["jp-01", "a-b-c", "x".repeat(63)]) expect(nodeNameOfEntry(entryName(node, id))).toBe(node);
    expect(nodeNameOfEntry("jp-01")).toBeUndefined();
    expect(nodeNameOfEntry("jp-01-0123abc")).toBeUndefined();
  });
});
