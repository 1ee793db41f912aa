import type { XrayrNode } from "../api/v1alpha1/types.js";
import { REGISTERED_BY_LABEL, SYNCED_BY_LABEL, SYNC_MANAGER } from "../fleet/labels.js";
import { MANAGED_BY_LABEL, MANAGER } from "../domain/ownership.js";
import { VPS_ID_LABEL } from "../domain/vps.js";
import type { WorkloadEntry } from "../istio/workloadentry.js";
import { sourceOf, statusRows } from "./status.js";

const node = (name: string, labels: Record<string, string> = {}): XrayrNode => ({
  metadata: { name, uid: `uid-${name}`, labels },
  spec: { address: "45.0.0.1", country: "jp" },
});
const entry = (name: string, owner: { kind: string; apiVersion: string; uid: string }): WorkloadEntry => ({
  apiVersion: "networking.istio.io/v1",
  kind: "WorkloadEntry",
  metadata: { name, labels: { [MANAGED_BY_LABEL]: MANAGER }, ownerReferences: [{ ...owner, name, controller: true }] },
  spec: {},
});

describe("statusRows", () => {
  test("an entry is the node's only when that XrayrNode controls it, whatever its name", () => {
    const nodes = [node("a"), node("b"), node("c")];
    const xn = { kind: "XrayrNode", apiVersion: "mesh.sigma.io/v1alpha1" };
    const entries = [
      entry("a-0123abcd", { ...xn, uid: "uid-a" }),
      entry("b-4567cdef", { kind: "ConfigMap", apiVersion: "v1", uid: "uid-b" }), // same uid, not an XrayrNode
      entry("c", { ...xn, uid: "uid-other" }), // the node's name, someone else's entry
    ];
    expect(statusRows(nodes, entries).map((r) => [r.name, r.entry, r.entries])).toEqual([
      ["a", true, ["a-0123abcd"]],
      ["b", false, []],
      ["c", false, []],
    ]);
  });

  test("every entry a node controls is listed (two while something is wrong)", () => {
    const xn = { kind: "XrayrNode", apiVersion: "mesh.sigma.io/v1alpha1", uid: "uid-a" };
    const rows = statusRows([node("a")], [entry("a-ffff0000", xn), entry("a", xn)]);
    expect(rows.map((r) => [r.entry, r.entries])).toEqual([[true, ["a", "a-ffff0000"]]]);
  });

  test("an entry the node controls but we did not write (no managed-by label) is not the node's", () => {
    const xn = { kind: "XrayrNode", apiVersion: "mesh.sigma.io/v1alpha1", uid: "uid-a" };
    const handMade = entry("a-ffff0000", xn);
    handMade.metadata.labels = {};
    expect(statusRows([node("a")], [handMade]).map((r) => [r.entry, r.entries])).toEqual([[false, []]]);
  });

  test("source: sigma-api's label wins over sync's (a node registered over a synced one is sigma-api's)", () => {
    expect(sourceOf(node("a", { [SYNCED_BY_LABEL]: SYNC_MANAGER }))).toBe("sync");
    expect(sourceOf(node("a", { [SYNCED_BY_LABEL]: SYNC_MANAGER, [REGISTERED_BY_LABEL]: "sigma-api", [VPS_ID_LABEL]: "1" }))).toBe("sigma-api");
    expect(sourceOf(node("a"))).toBe("other");
  });
});
