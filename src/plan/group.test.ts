import type { XrayrNode } from "../api/v1alpha1/types.js";
import { desiredWorkloadGroup } from "../desired/workloadgroup.js";
import type { WorkloadGroup } from "../istio/workloadgroup.js";
import { compareGroup, groupWaitsForEntry, planGroup, type GroupInput } from "./group.js";

const opts = { appLabel: "xrayr", serviceAccount: "xrayr-vm" };
const node = (name: string, uid = `uid-${name}`): XrayrNode => ({
  metadata: { name, namespace: "airport-prod", uid, generation: 1, creationTimestamp: "2026-01-01T00:00:00Z" },
  spec: { address: "203.0.114.1", country: "jp" },
});
const a = node("jp-01");
const desired = desiredWorkloadGroup(a, opts);
const groupOf = (n: XrayrNode, edit: (g: WorkloadGroup) => void = () => undefined): WorkloadGroup => {
  const g = structuredClone(desiredWorkloadGroup(n, opts));
  g.metadata.uid = `group-${n.metadata.uid ?? ""}`;
  edit(g);
  return g;
};
const input = (live?: WorkloadGroup, createUnseen = false): GroupInput => ({ node: a, desired, live, createUnseen });

describe("planGroup", () => {
  test("no group yet: create it; WorkloadGroupReady once done", () => {
    const p = planGroup(input());
    expect(p.steps).toEqual([{ kind: "apply-group", group: desired, why: "create" }]);
    expect(p.verdict).toMatchObject({ ready: true, reason: "Reconciled" });
    expect(p.verdict.message).toContain("Kiali shows the VPS as workload jp-01");
  });

  test("its group in place: nothing to write; our create not yet seen: not created twice", () => {
    expect(planGroup(input(groupOf(a))).steps).toEqual([]);
    expect(planGroup(input(undefined, true)).steps).toEqual([]);
  });

  test("a label added to its workload labels narrows Kiali's selector: drift, repaired", () => {
    const live = groupOf(a, (g) => { g.spec.metadata = { labels: { ...g.spec.metadata?.labels, version: "v1" } }; });
    expect(planGroup(input(live)).steps).toEqual([{ kind: "apply-group", group: desired, why: "drift" }]);
    expect(compareGroup(groupOf(a, (g) => { g.metadata.labels = { ...g.metadata.labels, team: "ops" }; }), desired)).toBeUndefined();
    expect(compareGroup(groupOf(a, (g) => { g.metadata.annotations = { "mesh.sigma.io/applied-hash": "old" }; }), desired)).toBe("update");
  });

  test("a group left by an earlier XrayrNode of this name is replaced", () => {
    const earlier = groupOf(node("jp-01", "uid-earlier"));
    expect(planGroup(input(earlier)).steps).toEqual([
      { kind: "delete-group", namespace: "airport-prod", name: "jp-01", uid: earlier.metadata.uid, why: "left by an earlier XrayrNode of this name" },
      { kind: "apply-group", group: desired, why: "create" },
    ]);
  });

  test("a group of that name that is not ours: untouched, GroupNameTaken, saying the traffic is attributed all the same", () => {
    const foreign = groupOf(a, (g) => { g.metadata.ownerReferences = []; g.metadata.labels = { team: "edge" }; });
    const p = planGroup(input(foreign));
    expect(p.steps).toEqual([]);
    expect(p.verdict).toMatchObject({ ready: false, reason: "GroupNameTaken" });
    expect(p.verdict.message).toContain("WorkloadGroup airport-prod/jp-01 already exists and is not owned by this XrayrNode (controlled by no object)");
    expect(p.verdict.message).toContain("its traffic is attributed");
  });

  test("a group controlled by a node of another name is not taken for a leftover, whatever its labels", () => {
    const other = groupOf(node("jp-77"), (g) => { g.metadata.name = "jp-01"; });
    expect(planGroup(input(other))).toMatchObject({ steps: [], verdict: { reason: "GroupNameTaken" } });
  });

  test("while the entry is not in place the group waits for it, naming Ready's reason", () => {
    expect(groupWaitsForEntry({ ready: false, reason: "AddressConflict", message: "x" })).toEqual({
      ready: false,
      reason: "EntryNotReady",
      message: "the WorkloadGroup follows the node's WorkloadEntry, which is not in place (Ready is False: AddressConflict)",
    });
  });
});
