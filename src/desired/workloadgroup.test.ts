import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parse } from "yaml";
import type { XrayrNode } from "../api/v1alpha1/types.js";
import type { WorkloadEntry } from "../istio/workloadentry.js";
import type { WorkloadGroup } from "../istio/workloadgroup.js";
import { desiredWorkloadEntry } from "./workloadentry.js";
import type { ValidSpec } from "../domain/validity.js";
import { desiredWorkloadGroup, groupWorkloadLabels } from "./workloadgroup.js";

const opts = { appLabel: "xrayr", serviceAccount: "xrayr-vm" };
const node = (name: string, uid = `uid-${name}`): XrayrNode => ({
  metadata: { name, namespace: "airport-prod", uid, generation: 1 },
  spec: { address: "203.0.114.7", country: "jp" },
});

/**
 * Kiali's rule for the entries of a WorkloadGroup workload, as kiali/kiali reads it:
 * business/workloads.go, fetchWorkloadsFromCluster (and fetchWorkload), case
 * kubernetes.WorkloadGroups: `selector := labels.Set(wg.Spec.Metadata.Labels).AsSelector()`, then
 * kubernetes/filters.go, FilterWorkloadEntriesBySelector: an empty selector selects no entry,
 * otherwise every entry of the namespace whose spec.labels (the workload labels, not
 * metadata.labels) the selector matches, i.e. that carries each of the group's labels with the
 * same value. The workload's labels are the group's own (models/workload.go parses the group into
 * the workload with the selected entries as its replicas). A group without spec.metadata gets no entries.
 */
function kialiEntriesOf(group: WorkloadGroup, namespaceEntries: readonly WorkloadEntry[]): WorkloadEntry[] {
  const selector = Object.entries(group.spec.metadata?.labels ?? {});
  if (selector.length === 0) return [];
  return namespaceEntries.filter((e) => selector.every(([k, v]) => e.spec.labels?.[k] === v));
}

describe("desiredWorkloadGroup", () => {
  const n = node("jp-tokyo-01");
  const group = desiredWorkloadGroup(n, opts);

  test("named after the node, in its namespace, controlled by it so the garbage collector removes it with the node", () => {
    expect(group).toMatchObject({ apiVersion: "networking.istio.io/v1", kind: "WorkloadGroup", metadata: { name: "jp-tokyo-01", namespace: "airport-prod" } });
    expect(group.metadata.ownerReferences).toEqual([
      { apiVersion: "mesh.sigma.io/v1alpha1", kind: "XrayrNode", name: "jp-tokyo-01", uid: "uid-jp-tokyo-01", controller: true, blockOwnerDeletion: true },
    ]);
    expect(group.metadata.labels).toEqual({ app: "xrayr", "app.kubernetes.io/managed-by": "xrayr-mesh-operator", "mesh.sigma.io/xrayr-node": "jp-tokyo-01" });
  });

  test("workload labels app and the workload name; the template the CRD requires; no probe (istiod's health checks)", () => {
    expect(group.spec.metadata).toEqual({ labels: { app: "xrayr", "service.istio.io/workload-name": "jp-tokyo-01" } });
    expect(group.spec.template).toEqual({ serviceAccount: "xrayr-vm" });
    expect(group.spec).not.toHaveProperty("probe");
    // No auto-registration annotation: istiod would treat the group's entries as its own to clean up.
    expect(Object.keys(group.metadata.annotations ?? {})).toEqual(["mesh.sigma.io/applied-hash"]);
    expect(desiredWorkloadGroup(n, { ...opts, serviceAccount: "" }).spec.template).toEqual({});
  });
});

describe("Kiali's lookup: each node's group selects exactly that node's entry", () => {
  // Nodes Kiali's rule could confuse: one name a prefix of another, one whose name looks like
  // an entry's (<node>-<8 hex>), another version, extra labels, the same address history.
  const specs: [string, Partial<ValidSpec>][] = [
    ["jp-01", {}],
    ["jp-01-b", {}],
    ["jp-0", { version: "v25.3.6" }],
    ["hk-01-0123abcd", { labels: { provider: "vultr", tier: "gold" } }],
    ["de-9", { version: "v2", locality: "eu-central-1" }],
  ];
  const entries = specs.map(([name, extra], i) =>
    desiredWorkloadEntry(node(name), { address: `203.0.114.${i + 1}`, country: "jp", version: "v1", ...extra }, opts),
  );
  const foreignEntry: WorkloadEntry = { apiVersion: "networking.istio.io/v1", kind: "WorkloadEntry", metadata: { name: "vm-1", namespace: "airport-prod" }, spec: { address: "198.51.100.1", labels: { app: "xrayr" } } };
  const all = [...entries, foreignEntry];

  test.each(specs.map(([name], i) => [name, i] as const))("%s", (name, i) => {
    const selected = kialiEntriesOf(desiredWorkloadGroup(node(name), opts), all);
    expect(selected.map((e) => e.metadata.name)).toEqual([entries[i]?.metadata.name]);
  });

  test("the labels are those of desiredWorkloadGroup, and every entry carries its own node's", () => {
    for (const [name] of specs) expect(desiredWorkloadGroup(node(name), opts).spec.metadata?.labels).toEqual(groupWorkloadLabels(name, opts));
    for (const e of entries) {
      const owner = e.metadata.ownerReferences?.[0]?.name ?? "";
      expect(e.spec.labels).toMatchObject(groupWorkloadLabels(owner, opts));
    }
  });

  test("the fleet's group (deploy/istio/workloadgroup.yaml) still has every entry of the app as its replicas", () => {
    const fleetGroup = parse(readFileSync(fileURLToPath(new URL("../../deploy/istio/workloadgroup.yaml", import.meta.url)), "utf8")) as WorkloadGroup;
    expect(fleetGroup.metadata.name).toBe("xrayr");
    expect(kialiEntriesOf(fleetGroup, all).map((e) => e.metadata.name)).toEqual(all.map((e) => e.metadata.name));
  });
});
