import type { XrayrNode } from "../api/v1alpha1/types.js";
import { desiredWorkloadEntry } from "../desired/workloadentry.js";
import type { ValidSpec } from "../domain/validity.js";
import { entryName } from "../domain/entry-name.js";
import type { WorkloadEntry } from "../istio/workloadentry.js";
import { compareEntry, planNode as planOrWait, type Plan, type PlanInput } from "./plan.js";

const opts = { appLabel: "xrayr", serviceAccount: "xrayr-vm" };

function node(name: string, address: string, createdAt = "2026-01-01T00:00:00Z", uid = `uid-${name}`, version = "v1"): XrayrNode {
  return { metadata: { name, namespace: "airport-prod", uid, generation: 1, creationTimestamp: createdAt }, spec: { address, country: "jp", version } };
}
function valid(n: XrayrNode): ValidSpec {
  return { address: n.spec.address, country: n.spec.country, version: n.spec.version ?? "v1" };
}
function liveOf(n: XrayrNode, edit: (e: WorkloadEntry) => void = () => undefined): WorkloadEntry {
  const e = structuredClone(desiredWorkloadEntry(n, valid(n), opts));
  e.metadata.uid = `entry-${e.metadata.name ?? ""}-${n.metadata.uid ?? ""}`;
  e.metadata.resourceVersion = "7";
  edit(e);
  return e;
}
function input(n: XrayrNode, live: WorkloadEntry[] = [], peers: XrayrNode[] = [], foreign: WorkloadEntry[] = [], liveOwners = new Set(peers.map((p) => p.metadata.uid ?? ""))): PlanInput {
  const all = [...live, ...foreign];
  const desired = desiredWorkloadEntry(n, valid(n), opts);
  return {
    node: n,
    validation: { ok: true, spec: valid(n) },
    desired,
    claims: [n, ...peers].map((p) => ({ name: p.metadata.name ?? "", address: p.spec.address, createdAt: String(p.metadata.creationTimestamp) })),
    entries: live,
    atTarget: all.find((e) => e.metadata.name === desired.metadata.name),
    onAddress: all.filter((e) => e.spec.address === n.spec.address).map((entry) => ({ entry, ownerExists: liveOwners.has(entry.metadata.ownerReferences?.[0]?.uid ?? "") })),
    unseenWriteOnAddress: false,
  };
}
type Act = Extract<Plan, { kind: "act" }>;
// Most plans here must act; one that waits instead fails the test where it happens.
function planNode(i: PlanInput): Act {
  const p = planOrWait(i);
  if (p.kind !== "act") throw new Error(`expected a plan that acts, got a wait: ${p.why}`);
  return p;
}
const kinds = (p: { steps: { kind: string }[] }) => p.steps.map((s) => s.kind);

describe("planNode", () => {
  const a = node("jp-01", "203.0.114.1");
  const target = entryName("jp-01", { address: "203.0.114.1", app: "xrayr", version: "v1", serviceAccount: "xrayr-vm" });

  test("no entry yet: create <node>-<hash> and report Ready", () => {
    const p = planNode(input(a));
    expect(p.steps).toEqual([{ kind: "apply", entry: desiredWorkloadEntry(a, valid(a), opts), why: "create" }]);
    expect(p.entryName).toBe(target);
    expect(target).toMatch(/^jp-01-[0-9a-f]{8}$/);
    expect(p.verdict).toMatchObject({ ready: true, reason: "Reconciled" });
    expect(p.verdict.message).toContain("203.0.114.1");
  });

  test("matching entry: nothing to write", () => {
    expect(planNode(input(a, [liveOf(a)])).steps).toEqual([]);
  });

  test("extra labels someone else added are not ours to remove: still nothing to write", () => {
    const live = liveOf(a, (e) => {
      e.metadata.labels = { ...e.metadata.labels, team: "ops" };
      e.spec.labels = { ...e.spec.labels, extra: "x" };
    });
    expect(planNode(input(a, [live])).steps).toEqual([]);
  });

  test.each([
    ["address edited by hand", (e: WorkloadEntry) => { e.spec.address = "203.0.114.99"; }],
    ["workload label edited by hand", (e: WorkloadEntry) => { e.spec.labels = { ...e.spec.labels, app: "evil" }; }],
    ["workload label removed by hand", (e: WorkloadEntry) => { delete e.spec.labels?.country; }],
    ["workload name label removed by hand", (e: WorkloadEntry) => { delete e.spec.labels?.["service.istio.io/workload-name"]; }],
    ["ownership label removed", (e: WorkloadEntry) => { delete e.metadata.labels?.["app.kubernetes.io/managed-by"]; }],
    ["serviceAccount removed", (e: WorkloadEntry) => { delete e.spec.serviceAccount; }],
  ])("drift (%s) is put back in place", (_what, edit) => {
    const p = planNode(input(a, [liveOf(a, edit)]));
    expect(p.steps).toEqual([{ kind: "apply", entry: desiredWorkloadEntry(a, valid(a), opts), why: "drift" }]);
  });

  test.each([
    ["address", node("jp-01", "203.0.114.2")],
    ["version", node("jp-01", "203.0.114.1", undefined, undefined, "v2")],
  ])("a %s change deletes the old entry first, then creates one under a new name", (_what, changed) => {
    const old = liveOf(a);
    const p = planNode(input(changed, [old]));
    // The dry run of the replacement comes before the delete: a refusal leaves the old entry.
    expect(kinds(p)).toEqual(["check", "delete", "apply"]);
    expect(p.steps[0]).toMatchObject({ kind: "check", entry: { metadata: { name: p.entryName } } });
    expect(p.steps[1]).toMatchObject({ kind: "delete", name: old.metadata.name, uid: old.metadata.uid });
    const created = p.steps[2];
    expect(created?.kind === "apply" && created.entry.metadata.name).not.toBe(old.metadata.name);
    expect(p.entryName).not.toBe(old.metadata.name);
  });

  test("a country or extra-label change stays in place (the sidecar does not read them)", () => {
    const moved = { ...a, spec: { ...a.spec, country: "hk" } };
    const p = planNode({ ...input(moved, [liveOf(a)]), validation: { ok: true, spec: { ...valid(a), country: "hk" } } });
    expect(kinds(p)).toEqual(["apply"]);
    expect(p.entryName).toBe(target);
    expect(p.steps[0]?.kind === "apply" && p.steps[0].why).toBe("update");
  });

  test("invalid spec: InvalidSpec with the issues' messages, and our entries removed", () => {
    const p = planNode({
      ...input(a, [liveOf(a)]),
      validation: { ok: false, issues: [{ field: "spec.address", value: "10.0.0.1", message: "spec.address \"10.0.0.1\" is private" }] },
    });
    expect(p.verdict).toMatchObject({ ready: false, reason: "InvalidSpec" });
    expect(p.verdict.message).toContain("spec.address");
    expect(p.steps).toEqual([expect.objectContaining({ kind: "delete", name: target })]);
  });

  test("invalid spec without an entry: nothing to delete", () => {
    const p = planNode({ ...input(a), validation: { ok: false, issues: [{ field: "spec.country", value: "xx", message: "bad" }] } });
    expect(p.steps).toEqual([]);
  });

  describe("one IP, one workload", () => {
    const older = node("jp-old", "203.0.114.5", "2026-01-01T00:00:00Z");
    const newer = node("jp-new", "203.0.114.5", "2026-01-02T00:00:00Z");

    test("the newer node gets AddressConflict naming the older, and no entry", () => {
      const p = planNode(input(newer, [], [older]));
      expect(p.steps).toEqual([]);
      expect(p.verdict).toMatchObject({ ready: false, reason: "AddressConflict" });
      expect(p.verdict.message).toContain("airport-prod/jp-old");
    });

    test("the older node keeps its entry", () => {
      expect(planNode(input(older, [liveOf(older)], [newer])).steps).toEqual([]);
    });

    test("a node that moves onto a taken address loses its own entry", () => {
      const p = planNode(input(newer, [liveOf(node("jp-new", "203.0.114.6", "2026-01-02T00:00:00Z"))], [older]));
      expect(kinds(p)).toEqual(["delete"]);
    });

    test("once the older is gone, the newer gets its entry", () => {
      expect(kinds(planNode(input(newer)))).toEqual(["apply"]);
    });

    test("the older node's entry still on the address is deleted first when its node is gone", () => {
      const left = liveOf(older);
      const p = planNode(input(newer, [], [], [left], new Set()));
      expect(p.steps[1]).toMatchObject({ kind: "delete", name: left.metadata.name, uid: left.metadata.uid });
      expect(kinds(p)).toEqual(["check", "delete", "apply"]);
    });

    test("while the address's old holder still exists (moving away), the newer node waits", () => {
      const holder = liveOf(older);
      const moved = { ...older, spec: { ...older.spec, address: "203.0.114.50" } };
      const p = planOrWait(input(newer, [], [moved], [holder]));
      expect(p.kind).toBe("wait");
      expect(p.kind === "wait" && p.why).toContain("jp-old");
      expect(p.kind === "wait" && p.afterMs).toBeGreaterThan(0);
    });

    test("two nodes swapping addresses cannot wait for each other: each removes its own old entry meanwhile", () => {
      const x = node("jp-x", "203.0.114.60");
      const y = node("jp-y", "203.0.114.61");
      const xMoved = { ...x, spec: { ...x.spec, address: "203.0.114.61" } };
      const yMoved = { ...y, spec: { ...y.spec, address: "203.0.114.60" } };
      const [xOld, yOld] = [liveOf(x), liveOf(y)];
      // Both moves seen before either node's pass: each finds the other's entry on its new address.
      for (const [moved, own, other] of [[xMoved, xOld, yOld], [yMoved, yOld, xOld]] as const) {
        const p = planNode(input(moved, [own], [], [other], new Set([other.metadata.ownerReferences?.[0]?.uid ?? ""])));
        expect(kinds(p)).toEqual(["check", "delete"]);
        expect(p.steps[1]).toMatchObject({ kind: "delete", name: own.metadata.name, uid: own.metadata.uid });
        expect(p.verdict).toMatchObject({ ready: false, reason: "AddressInUse" });
        expect(p.verdict.message).toContain(`XrayrNode airport-prod/${other.metadata.ownerReferences?.[0]?.name ?? ""}'s entry ${other.metadata.name ?? ""}`);
        expect(p.recheckAfterMs).toBeGreaterThan(0);
        expect(p.entryName).toBeUndefined();
      }
      // x's old entry gone: y's new address is free, so y is replaced as any move is; then x's.
      expect(kinds(planNode(input(yMoved, [yOld])))).toEqual(["check", "delete", "apply"]);
      expect(kinds(planNode(input(xMoved)))).toEqual(["apply"]);
    });

    test("a node with nothing of its own to remove still just waits for the holder to move", () => {
      const p = planOrWait(input(newer, [], [], [liveOf(older)], new Set([older.metadata.uid ?? ""])));
      expect(p.kind).toBe("wait");
    });

    test("while a write of ours on the address is not in the cache yet, no create is planned", () => {
      const p = planOrWait({ ...input(newer), unseenWriteOnAddress: true });
      expect(p.kind === "wait" && p.why).toContain("not in the cache yet");
    });

    test("an unseen write elsewhere does not hold back a node whose entry is in place", () => {
      expect(planNode({ ...input(older, [liveOf(older)]), unseenWriteOnAddress: true }).steps).toEqual([]);
    });
  });

  describe("an entry no XrayrNode controls on the address", () => {
    const orphan = (address: string, owner?: { kind: string; name: string }): WorkloadEntry => ({
      apiVersion: "networking.istio.io/v1",
      kind: "WorkloadEntry",
      metadata: {
        name: "left-behind",
        namespace: "airport-prod",
        uid: "orphan-uid",
        labels: { "app.kubernetes.io/managed-by": "xrayr-mesh-operator" },
        ...(owner === undefined ? {} : { ownerReferences: [{ apiVersion: "networking.istio.io/v1", kind: owner.kind, name: owner.name, uid: "g", controller: true }] }),
      },
      spec: { address },
    });

    test("blocks the node with UnownedEntry naming the entry, and no second entry beside it", () => {
      const p = planNode(input(a, [], [], [orphan("203.0.114.1")]));
      expect(p.steps).toEqual([]);
      expect(p.verdict).toMatchObject({ ready: false, reason: "UnownedEntry" });
      expect(p.verdict.message).toContain("airport-prod/left-behind");
      expect(p.verdict.message).toContain("kubectl -n airport-prod delete workloadentry left-behind");
    });

    test("an entry controlled by something other than an XrayrNode (a WorkloadGroup's) blocks too", () => {
      const p = planNode(input(a, [], [], [orphan("203.0.114.1", { kind: "WorkloadGroup", name: "xrayr" })]));
      expect(p.verdict).toMatchObject({ reason: "UnownedEntry" });
      expect(p.verdict.message).toContain("controlled by WorkloadGroup xrayr");
    });

    test("the node's own entry on the address stays; an old one elsewhere goes", () => {
      const moved = node("jp-01", "203.0.114.9");
      const p = planNode(input(a, [liveOf(a), liveOf(moved)], [], [orphan("203.0.114.1")]));
      expect(p.steps).toEqual([expect.objectContaining({ kind: "delete", name: liveOf(moved).metadata.name })]);
      expect(p.verdict).toMatchObject({ reason: "UnownedEntry" });
    });
  });

  test("an entry of the target name we do not own: NameTaken, untouched", () => {
    const foreign: WorkloadEntry = {
      apiVersion: "networking.istio.io/v1",
      kind: "WorkloadEntry",
      metadata: { name: target, namespace: "airport-prod", uid: "x", labels: { "app.kubernetes.io/managed-by": "helm" } },
      spec: { address: "198.51.101.1" },
    };
    const p = planNode(input(a, [], [], [foreign]));
    expect(p.steps).toEqual([]);
    expect(p.verdict).toMatchObject({ ready: false, reason: "NameTaken" });
    expect(p.verdict.message).toContain("managed by helm");
  });

  test("entries left by an earlier node of the same name are deleted first", () => {
    const previous = node("jp-01", "203.0.114.1", "2025-12-01T00:00:00Z", "uid-previous");
    const left = liveOf(previous);
    const p = planNode(input(a, [left]));
    expect(p.steps[1]).toMatchObject({ kind: "delete", uid: left.metadata.uid });
    expect(kinds(p)).toEqual(["check", "delete", "apply"]);
  });

  test("an entry controlled by a node of another name is not adopted as stale, whatever its labels", () => {
    const other = node("jp-77", "203.0.114.1", "2025-12-01T00:00:00Z", "uid-other");
    const forged = liveOf(other, (e) => { e.metadata.name = target; });
    const p = planNode(input(a, [], [], [forged]));
    expect(p.steps).toEqual([]);
    expect(p.verdict).toMatchObject({ reason: "NameTaken" });
  });
});

describe("compareEntry", () => {
  test("different applied hash means update even when fields look equal", () => {
    const a = node("n", "203.0.114.1");
    const live = liveOf(a, (e) => { e.metadata.annotations = { "mesh.sigma.io/applied-hash": "old" }; });
    expect(compareEntry(live, desiredWorkloadEntry(a, valid(a), opts))).toBe("update");
  });

  test("fields someone else set where we set nothing are not drift", () => {
    const a = node("n", "203.0.114.1");
    const bare = desiredWorkloadEntry(a, valid(a), { appLabel: "xrayr", serviceAccount: "" });
    const live = structuredClone(bare);
    live.spec.serviceAccount = "hand-set";
    live.spec.locality = "eu/west";
    expect(compareEntry(live, bare)).toBeUndefined();
  });
});
