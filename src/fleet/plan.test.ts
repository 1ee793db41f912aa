import type { XrayrNode } from "../crd/types.js";
import { desiredFleet } from "./desired.js";
import { REGISTERED_BY_LABEL, SYNCED_BY_LABEL, SYNC_MANAGER, VPS_ID_LABEL } from "./labels.js";
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
});
