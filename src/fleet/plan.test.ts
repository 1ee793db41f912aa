import type { XrayrNode } from "../api/v1alpha1/types.js";
import { desiredFleet } from "./desired.js";
import { REGISTERED_BY_LABEL, SYNCED_BY_LABEL, SYNC_MANAGER } from "./labels.js";
import { VPS_ID_LABEL } from "../domain/vps.js";
import { planCounts, planSync } from "./plan.js";

const opts = { namespace: "airport-prod", addressPolicy: "public" as const };
const row = (id: number, ip: string, over: Record<string, unknown> = {}) => ({ id, hostname: `node-${id}.example`, ip, country: "de", status: "active", ...over });

/** The live object the API server would hold after sync applied this row (version defaulted). */
function liveOf(doc: unknown[], name: string, extra: Partial<XrayrNode["metadata"]> = {}): XrayrNode {
  const d = desiredFleet(doc, opts).nodes.find((n) => n.name === name);
  if (d === undefined) throw new Error(name);
  return { ...d.object, metadata: { ...d.object.metadata, uid: `uid-${name}`, ...extra }, spec: { ...d.object.spec, version: d.spec.version } };
}

function foreign(name: string, address: string, labels: Record<string, string> = {}, vpsId?: string): XrayrNode {
  return {
    metadata: { name, namespace: "airport-prod", uid: `uid-${name}`, labels },
    spec: { address, country: "de", ...(vpsId !== undefined ? { vpsId } : {}) },
  };
}

describe("planSync", () => {
  const rows = [row(1, "45.0.0.1"), row(2, "45.0.0.2"), row(3, "45.0.0.3", { xrayr_version: "v2" })];

  test("an empty namespace: everything is created", () => {
    const p = planSync(desiredFleet(rows, opts), [], { prune: false });
    expect(planCounts(p)).toMatchObject({ rows: 3, create: 3, update: 0, delete: 0, unchanged: 0, invalid: 0 });
  });

  test("the same list again: all unchanged, nothing to write", () => {
    const live = ["node-1", "node-2", "node-3"].map((n, i) => liveOf(rows, `${n}-${i + 1}`));
    const p = planSync(desiredFleet(rows, opts), live, { prune: true });
    expect(planCounts(p)).toMatchObject({ create: 0, update: 0, delete: 0, unchanged: 3 });
  });

  test("a changed IP, version or label is an update that names the difference", () => {
    const live = [
      liveOf(rows, "node-1-1", {}),
      { ...liveOf(rows, "node-2-2"), spec: { ...liveOf(rows, "node-2-2").spec, version: "v9" } },
      { ...liveOf(rows, "node-3-3"), metadata: { ...liveOf(rows, "node-3-3").metadata, labels: { [SYNCED_BY_LABEL]: SYNC_MANAGER } } },
    ];
    const moved = [row(1, "45.0.0.9"), rows[1], rows[2]];
    const p = planSync(desiredFleet(moved, opts), live, { prune: false });
    expect(p.update.map((u) => [u.desired.name, u.reason])).toEqual([
      ["node-1-1", 'spec.address: "45.0.0.1" -> "45.0.0.9"'],
      ["node-2-2", 'spec.version: "v9" -> "v1"'],
      ["node-3-3", 'label mesh.sigma.io/vps-id: (none) -> "3"'],
    ]);
  });

  test("prune deletes synced nodes whose VPS is retired or gone, never anything else", () => {
    const live = [
      liveOf(rows, "node-1-1"),
      liveOf(rows, "node-2-2"),
      liveOf(rows, "node-3-3"),
      foreign("hand-made", "45.9.9.9"),
      foreign("registered", "45.9.9.8", { [REGISTERED_BY_LABEL]: "sigma-api", [VPS_ID_LABEL]: "77" }, "77"),
    ];
    const next = [row(1, "45.0.0.1"), row(2, "45.0.0.2", { status: "retired" })];
    const pruned = planSync(desiredFleet(next, opts), live, { prune: true });
    expect(pruned.delete.map((d) => [d.name, d.reason])).toEqual([
      ["node-2-2", "VPS 2 is retired (row 2)"],
      ["node-3-3", "VPS 3 is not in the list"],
    ]);
    expect(pruned.delete[0]?.uid).toBe("uid-node-2-2");
    const dry = planSync(desiredFleet(next, opts), live, { prune: false });
    expect(dry.delete).toEqual([]);
    expect(dry.prunable.map((d) => d.name)).toEqual(["node-2-2", "node-3-3"]);
  });

  test("a synced node whose row is invalid this time is kept, not pruned", () => {
    const live = [liveOf(rows, "node-1-1")];
    const p = planSync(desiredFleet([row(1, "10.0.0.1")], opts), live, { prune: true });
    expect(p.delete).toEqual([]);
    expect(p.invalid.map((i) => i.field)).toEqual(["ip"]);
  });

  test("a renamed VPS: the new name is created and the old node pruned", () => {
    const live = [liveOf(rows, "node-1-1")];
    const p = planSync(desiredFleet([row(1, "45.0.0.1", { hostname: "renamed" })], opts), live, { prune: true });
    expect(p.create.map((c) => c.desired.name)).toEqual(["renamed-1"]);
    expect(p.delete.map((d) => [d.name, d.reason])).toEqual([["node-1-1", "VPS 1 is now named renamed-1"]]);
    expect(p.delete[0]?.replacement).toBe("renamed-1"); // the CLI deletes it only after renamed-1 is created
    // Without prune the old node keeps the address: the row is reported, not sent to a conflict.
    const dry = planSync(desiredFleet([row(1, "45.0.0.1", { hostname: "renamed" })], opts), live, { prune: false });
    expect(dry.create).toEqual([]);
    expect(dry.invalid[0]?.message).toContain("is used by XrayrNode node-1-1 (run with --prune to delete it)");
  });

  test("a name or an address held by an object sync did not create makes the row invalid", () => {
    const live = [foreign("node-1-1", "45.1.1.1"), foreign("other", "45.0.0.2")];
    const p = planSync(desiredFleet(rows, opts), live, { prune: true });
    expect(p.invalid.map((i) => [i.row, i.field, i.message])).toEqual([
      [1, "hostname", "the node name node-1-1 is taken by an XrayrNode not created by sync; sync does not touch it."],
      [2, "ip", 'ip "45.0.0.2" is used by XrayrNode other (not created by sync); one address is one node.'],
    ]);
    expect(p.delete).toEqual([]);
    expect(p.create.map((c) => c.desired.name)).toEqual(["node-3-3"]);
  });

  describe("who holds an address: the operator's claim rule (valid nodes only, oldest first, ties to the smaller name)", () => {
    const at = (n: XrayrNode, createdAt: string): XrayrNode => ({ ...n, metadata: { ...n.metadata, creationTimestamp: createdAt } });
    const zzOld = at(foreign("zz-old", "45.0.0.7"), "2026-01-01T00:00:01Z");
    const aaNew = at(foreign("aa-new", "45.0.0.7"), "2026-01-01T00:00:02Z");

    test("the refusal names the oldest valid claim, whatever the list order", () => {
      for (const live of [[aaNew, zzOld], [zzOld, aaNew]]) {
        const p = planSync(desiredFleet([row(1, "45.0.0.7")], opts), live, { prune: false });
        expect(p.invalid.map((i) => i.message)).toEqual(['ip "45.0.0.7" is used by XrayrNode zz-old (not created by sync); one address is one node.']);
      }
    });

    test("equal creation times fall to the smaller name", () => {
      const p = planSync(desiredFleet([row(1, "45.0.0.7")], opts), [at(zzOld, "2026-01-01T00:00:02Z"), aaNew], { prune: false });
      expect(p.invalid[0]?.message).toContain("is used by XrayrNode aa-new");
    });

    test("an invalid node claims nothing: the row is created", () => {
      const legacy = { ...zzOld, spec: { ...zzOld.spec, country: "UK" } };
      const p = planSync(desiredFleet([row(1, "45.0.0.7")], opts), [legacy], { prune: false });
      expect(p.invalid).toEqual([]);
      expect(p.create.map((c) => c.desired.name)).toEqual(["node-1-1"]);
      // Under --address-policy any a private address claims; under public it does not.
      const priv = [{ ...zzOld, spec: { ...zzOld.spec, address: "10.0.0.7" } }];
      const anyOpts = { ...opts, addressPolicy: "any" as const };
      expect(planSync(desiredFleet([row(1, "10.0.0.7")], anyOpts), priv, { prune: false }).invalid[0]?.message).toContain("is used by XrayrNode zz-old");
    });

    test("a synced node that holds its address by the rule is not refused for a younger node on it", () => {
      const own = at(liveOf(rows, "node-1-1"), "2026-01-01T00:00:00Z");
      const younger = at(foreign("intruder", "45.0.0.1"), "2026-01-01T00:00:05Z");
      const p = planSync(desiredFleet(rows, opts), [younger, own], { prune: false });
      expect(p.invalid).toEqual([]);
      expect(p.unchanged.map((u) => u.desired.name)).toContain("node-1-1");
      // ... but an older foreign node does hold it, and is named.
      const older = at(foreign("first", "45.0.0.1"), "2025-12-31T00:00:00Z");
      const q = planSync(desiredFleet(rows, opts), [own, older], { prune: false });
      expect(q.invalid.map((i) => [i.row, i.message])).toEqual([[1, 'ip "45.0.0.1" is used by XrayrNode first (not created by sync); one address is one node.']]);
    });

    test("two synced rows swapping addresses do not block each other", () => {
      const live = [liveOf(rows, "node-1-1"), liveOf(rows, "node-2-2")];
      const p = planSync(desiredFleet([row(1, "45.0.0.2"), row(2, "45.0.0.1")], opts), live, { prune: false });
      expect(p.invalid).toEqual([]);
      expect(p.update.map((u) => u.desired.name)).toEqual(["node-1-1", "node-2-2"]);
    });
  });

  test("normalised rows are warnings in the plan, not invalid rows; a row refused by the plan carries no warning", () => {
    const doc = [row(1, "2A01:4F8::1", { hostname: "HK_Relay" }), row(2, "45.0.0.7", { hostname: "Edge_2" })];
    const p = planSync(desiredFleet(doc, opts), [foreign("holder", "45.0.0.7")], { prune: false });
    expect(p.warnings.map((w) => [w.row, w.field, w.became])).toEqual([
      [1, "hostname", "hk-relay-1"],
      [1, "ip", "2a01:4f8::1"],
    ]);
    expect(planCounts(p)).toMatchObject({ create: 1, invalid: 1, invalidRows: 1, warnedRows: 1 });
  });

  test("a VPS sigma-api registered itself is left to it", () => {
    const live = [foreign("jp-1", "45.0.0.1", { [REGISTERED_BY_LABEL]: "sigma-api", [VPS_ID_LABEL]: "1" }, "1")];
    const p = planSync(desiredFleet(rows, opts), live, { prune: true });
    expect(p.unchanged.map((u) => [u.desired.name, u.reason])).toEqual([["node-1-1", "registered outside sync as XrayrNode jp-1; left to its owner"]]);
    expect(p.create).toHaveLength(2);
  });

  test("an address moving from a pruned node to a new one is fine with prune", () => {
    const live = [liveOf(rows, "node-1-1")];
    const p = planSync(desiredFleet([row(1, "45.0.0.1", { status: "retired" }), row(9, "45.0.0.1")], opts), live, { prune: true });
    expect(p.create.map((c) => c.desired.name)).toEqual(["node-9-9"]);
    expect(p.delete.map((d) => d.name)).toEqual(["node-1-1"]);
    expect(p.skipped).toEqual([{ row: 1, id: "1", status: "retired" }]);
  });

  test("objects being deleted are not live", () => {
    const live = [{ ...foreign("x", "45.0.0.1"), metadata: { name: "x", deletionTimestamp: "2026-01-01T00:00:00Z" } }];
    expect(planSync(desiredFleet(rows, opts), live, { prune: true }).create).toHaveLength(3);
  });

  test("a renamed VPS whose new name is held by another node keeps its old node (nothing valid lost to bad input)", () => {
    const live = [liveOf(rows, "node-1-1"), foreign("renamed-1", "45.9.9.9")];
    const doc = [row(1, "45.0.0.1", { hostname: "renamed" })];
    const p = planSync(desiredFleet(doc, opts), live, { prune: true });
    expect(p.create).toEqual([]);
    expect(p.invalid.map((i) => [i.row, i.field])).toEqual([[1, "hostname"]]);
    expect(p.delete).toEqual([]);
    const dry = planSync(desiredFleet(doc, opts), live, { prune: false });
    expect(dry.prunable).toEqual([]); // --prune would not delete it either
  });

  test("a rename refused also keeps the old node's address held: another row on it is refused, not created", () => {
    // VPS 1 moves to 45.0.0.5 under a name someone else holds; VPS 2 wants VPS 1's old address.
    const live = [liveOf(rows, "node-1-1"), foreign("renamed-1", "45.9.9.9")];
    const doc = [row(1, "45.0.0.5", { hostname: "renamed" }), row(2, "45.0.0.1")];
    const p = planSync(desiredFleet(doc, opts), live, { prune: true });
    expect(p.delete).toEqual([]);
    expect(p.create).toEqual([]);
    expect(p.invalid.map((i) => [i.row, i.field, i.message])).toEqual([
      [1, "hostname", "the node name renamed-1 is taken by an XrayrNode not created by sync; sync does not touch it."],
      [2, "ip", 'ip "45.0.0.1" is used by XrayrNode node-1-1; one address is one node.'],
    ]);
  });

  test("a rename whose new node exists already (updated or unchanged) deletes the old one without waiting", () => {
    const renamedDoc = [row(1, "45.0.0.1", { hostname: "renamed" })];
    const live = [{ ...liveOf(rows, "node-1-1"), spec: { ...liveOf(rows, "node-1-1").spec, address: "45.0.0.7" } }, liveOf(renamedDoc, "renamed-1")];
    const p = planSync(desiredFleet(renamedDoc, opts), live, { prune: true });
    expect(p.unchanged.map((u) => u.desired.name)).toEqual(["renamed-1"]);
    expect(p.delete.map((d) => [d.name, d.replacement])).toEqual([["node-1-1", "renamed-1"]]);
  });

  test("a node sigma-api registered over a synced one is sigma-api's: never updated or pruned by sync", () => {
    // register (forced apply by sigma-api) over a node sync created keeps sync's label, owned by sync's field manager.
    const taken = (extra: Record<string, string> = {}): XrayrNode => {
      const n = liveOf(rows, "node-1-1");
      return { ...n, metadata: { ...n.metadata, labels: { ...n.metadata.labels, [REGISTERED_BY_LABEL]: "sigma-api", ...extra } }, spec: { ...n.spec, version: "v7" } };
    };
    const p = planSync(desiredFleet(rows, opts), [taken()], { prune: true });
    expect(p.update).toEqual([]);
    expect(p.unchanged.find((u) => u.desired.id === "1")?.reason).toBe("registered outside sync as XrayrNode node-1-1; left to its owner");
    const retired = planSync(desiredFleet([row(1, "45.0.0.1", { status: "retired" })], opts), [taken()], { prune: true });
    expect(retired.delete).toEqual([]);
    const gone = planSync(desiredFleet([], opts), [taken()], { prune: true });
    expect(gone.delete).toEqual([]);
    // Registered under another VPS id (a forced register writes spec.vpsId and the label): the name is not sync's to take.
    const as77 = { ...taken({ [VPS_ID_LABEL]: "77" }), spec: { ...taken().spec, vpsId: "77" } };
    const other = planSync(desiredFleet(rows, opts), [as77], { prune: true });
    expect(other.invalid[0]?.message).toBe("the node name node-1-1 is taken by an XrayrNode registered by sigma-api; sync does not touch it.");
    // Only the label changed (kubectl label): spec.vpsId is the truth, so the node is still VPS 1's.
    const relabelled = planSync(desiredFleet(rows, opts), [taken({ [VPS_ID_LABEL]: "77" })], { prune: true });
    expect(relabelled.invalid).toEqual([]);
    expect(relabelled.unchanged.find((u) => u.desired.id === "1")?.reason).toBe("registered outside sync as XrayrNode node-1-1; left to its owner");
  });

  test("a synced node whose VPS is retired is pruned even when the retired row has no ip, hostname or country", () => {
    const live = [liveOf(rows, "node-1-1")];
    const p = planSync(desiredFleet([{ id: 1, status: "retired", ip: null }], opts), live, { prune: true });
    expect(p.invalid).toEqual([]);
    expect(p.delete.map((d) => [d.name, d.reason])).toEqual([["node-1-1", "VPS 1 is retired (row 1)"]]);
  });
});
