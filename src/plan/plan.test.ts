import type { XrayrNode } from "../crd/types.js";
import { desiredWorkloadEntry, type ValidSpec } from "../desired/workloadentry.js";
import type { WorkloadEntry } from "../istio/workloadentry.js";
import { compareEntry, planNode, type PlanInput } from "./plan.js";

const opts = { appLabel: "xrayr", serviceAccount: "xrayr-vm" };

function node(name: string, address: string, createdAt = "2026-01-01T00:00:00Z", uid = `uid-${name}`): XrayrNode {
  return { metadata: { name, namespace: "airport-prod", uid, generation: 1, creationTimestamp: createdAt }, spec: { address, country: "jp" } };
}
function valid(n: XrayrNode): ValidSpec {
  return { address: n.spec.address, country: n.spec.country, version: "v1" };
}
function input(n: XrayrNode, live?: WorkloadEntry, peers: XrayrNode[] = []): PlanInput {
  return {
    node: n,
    validation: { ok: true, spec: valid(n) },
    claims: [n, ...peers].map((p) => ({ name: p.metadata.name ?? "", address: p.spec.address, createdAt: String(p.metadata.creationTimestamp) })),
    live,
    options: opts,
  };
}
function liveOf(n: XrayrNode, edit: (e: WorkloadEntry) => void = () => undefined): WorkloadEntry {
  const e = structuredClone(desiredWorkloadEntry(n, valid(n), opts));
  e.metadata.uid = `entry-${n.metadata.uid ?? ""}`;
  e.metadata.resourceVersion = "7";
  edit(e);
  return e;
}

describe("planNode", () => {
  const a = node("jp-01", "203.0.114.1");

  test("no entry yet: create it and report Ready", () => {
    const p = planNode(input(a));
    expect(p.action.kind).toBe("apply");
    expect(p.action.kind === "apply" && p.action.why).toBe("create");
    expect(p.verdict).toMatchObject({ ready: true, reason: "Reconciled" });
    expect(p.verdict?.message).toContain("203.0.114.1");
    expect(p.entryName).toBe("jp-01");
  });

  test("matching entry: nothing to write", () => {
    expect(planNode(input(a, liveOf(a))).action).toEqual({ kind: "none" });
  });

  test("extra labels someone else added are not ours to remove: still nothing to write", () => {
    const live = liveOf(a, (e) => {
      e.metadata.labels = { ...e.metadata.labels, "team": "ops" };
      e.spec.labels = { ...e.spec.labels, extra: "x" };
    });
    expect(planNode(input(a, live)).action).toEqual({ kind: "none" });
  });

  test.each([
    ["address edited by hand", (e: WorkloadEntry) => { e.spec.address = "203.0.114.99"; }],
    ["workload label edited by hand", (e: WorkloadEntry) => { e.spec.labels = { ...e.spec.labels, app: "evil" }; }],
    ["workload label removed by hand", (e: WorkloadEntry) => { delete e.spec.labels?.country; }],
    ["ownership label removed", (e: WorkloadEntry) => { delete e.metadata.labels?.["app.kubernetes.io/managed-by"]; }],
    ["serviceAccount removed", (e: WorkloadEntry) => { delete e.spec.serviceAccount; }],
  ])("drift (%s) is put back", (_what, edit) => {
    const p = planNode(input(a, liveOf(a, edit)));
    expect(p.action.kind === "apply" && p.action.why).toBe("drift");
  });

  test("a spec change is an update", () => {
    const moved = { ...a, spec: { ...a.spec, address: "203.0.114.2" } };
    const p = planNode(input(moved, liveOf(a)));
    expect(p.action.kind === "apply" && p.action.why).toBe("update");
    expect(p.action.kind === "apply" && p.action.entry.spec.address).toBe("203.0.114.2");
  });

  test("invalid spec: InvalidSpec with the issues' messages, and our entry removed", () => {
    const p = planNode({
      ...input(a, liveOf(a)),
      validation: { ok: false, issues: [{ field: "spec.address", value: "10.0.0.1", message: "spec.address \"10.0.0.1\" is private" }] },
    });
    expect(p.verdict).toMatchObject({ ready: false, reason: "InvalidSpec" });
    expect(p.verdict?.message).toContain("spec.address");
    expect(p.action).toMatchObject({ kind: "delete", name: "jp-01", uid: "entry-uid-jp-01" });
  });

  test("invalid spec without an entry: nothing to delete", () => {
    const p = planNode({ ...input(a), validation: { ok: false, issues: [{ field: "spec.country", value: "xx", message: "bad" }] } });
    expect(p.action).toEqual({ kind: "none" });
  });

  describe("one IP, one workload", () => {
    const older = node("jp-old", "203.0.114.5", "2026-01-01T00:00:00Z");
    const newer = node("jp-new", "203.0.114.5", "2026-01-02T00:00:00Z");

    test("the newer node gets AddressConflict naming the older, and no entry", () => {
      const p = planNode(input(newer, undefined, [older]));
      expect(p.action).toEqual({ kind: "none" });
      expect(p.verdict).toMatchObject({ ready: false, reason: "AddressConflict" });
      expect(p.verdict?.message).toContain("airport-prod/jp-old");
    });

    test("the older node keeps its entry", () => {
      expect(planNode(input(older, liveOf(older), [newer])).action).toEqual({ kind: "none" });
    });

    test("a node that moves onto a taken address loses its own entry", () => {
      const p = planNode(input(newer, liveOf(node("jp-new", "203.0.114.6", "2026-01-02T00:00:00Z")), [older]));
      expect(p.action.kind).toBe("delete");
    });

    test("once the older is gone, the newer gets its entry", () => {
      expect(planNode(input(newer)).action.kind).toBe("apply");
    });
  });

  test("an entry of that name we do not own: NameTaken, untouched", () => {
    const foreign: WorkloadEntry = {
      apiVersion: "networking.istio.io/v1",
      kind: "WorkloadEntry",
      metadata: { name: "jp-01", namespace: "airport-prod", uid: "x", labels: { "app.kubernetes.io/managed-by": "helm" } },
      spec: { address: "198.51.101.1" },
    };
    const p = planNode(input(a, foreign));
    expect(p.action).toEqual({ kind: "none" });
    expect(p.verdict).toMatchObject({ ready: false, reason: "NameTaken" });
    expect(p.verdict?.message).toContain("managed by helm");
  });

  test("an entry left by an earlier node of the same name is ours: delete it, then look again", () => {
    const previous = node("jp-01", "203.0.114.1", "2025-12-01T00:00:00Z", "uid-previous");
    const p = planNode(input(a, liveOf(previous)));
    expect(p.action).toMatchObject({ kind: "delete", uid: "entry-uid-previous" });
    expect(p.verdict).toBeUndefined();
  });
});

test("an entry controlled by a node of another name is not adopted as stale, whatever its labels", () => {
  const a = node("jp-01", "203.0.114.1");
  const other = node("jp-77", "203.0.114.1", "2025-12-01T00:00:00Z", "uid-other");
  const forged = liveOf(other, (e) => { e.metadata.name = "jp-01"; });
  const p = planNode(input(a, forged));
  expect(p.action).toEqual({ kind: "none" });
  expect(p.verdict).toMatchObject({ reason: "NameTaken" });
});

describe("compareEntry", () => {
  test("fields someone else set where we set nothing are not drift", () => {
    const a = node("n", "203.0.114.1");
    const bare = desiredWorkloadEntry(a, valid(a), { appLabel: "xrayr", serviceAccount: "" });
    const live = structuredClone(bare);
    live.spec.serviceAccount = "hand-set";
    live.spec.locality = "eu/west";
    expect(compareEntry(live, bare)).toBeUndefined();
  });

  test("different applied hash means update even when fields look equal", () => {
    const a = node("n", "203.0.114.1");
    const live = liveOf(a, (e) => { e.metadata.annotations = { "mesh.sigma.io/applied-hash": "old" }; });
    expect(compareEntry(live, desiredWorkloadEntry(a, valid(a), opts))).toBe("update");
  });
});
