import type { XrayrNode } from "../api/v1alpha1/types.js";
import { REGISTERED_BY_LABEL, SYNCED_BY_LABEL, SYNC_MANAGER } from "../fleet/labels.js";
import { MANAGED_BY_LABEL, MANAGER } from "../domain/ownership.js";
import { VPS_ID_LABEL } from "../domain/vps.js";
import type { WorkloadEntry } from "../istio/workloadentry.js";
import { render } from "./output.js";
import { sourceOf, statusRows, statusView } from "./status.js";

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

describe("statusView", () => {
  const conditions = (ready: "True" | "False", reason: string, group?: { status: "True" | "False"; reason: string }) => [
    { type: "Ready", status: ready, reason, message: `${reason} message`, lastTransitionTime: "2026-12-01T00:00:00Z" },
    ...(group === undefined ? [] : [{ type: "WorkloadGroupReady", status: group.status, reason: group.reason, message: "", lastTransitionTime: "2026-12-01T00:00:00Z" }]),
  ];
  const nodes = [
    { ...node("a"), status: { conditions: conditions("True", "Reconciled", { status: "True", reason: "Reconciled" }) } },
    { ...node("b"), status: { conditions: conditions("True", "Reconciled", { status: "False", reason: "GroupNameTaken" }) } },
    { ...node("c"), status: { conditions: conditions("False", "AddressConflict") } },
  ];
  const rows = statusRows(nodes, [], new Date("2026-12-02T00:00:00Z"));

  test("wide adds the group: yes when in place, else its reason; Ready is counted as every part reads it", () => {
    const text = render(statusView(rows, "airport-prod", undefined), "wide").split("\n");
    expect(text[0]).toMatch(/^NAME\s+ADDRESS\s+COUNTRY\s+READY\s+REASON\s+ENTRY\s+AGE\s+VERSION\s+VPS\s+SOURCE\s+WORKLOADENTRY\s+GROUP\s+MESSAGE$/);
    expect(text.slice(1, 4).map((l) => l.split(/\s{2,}/)[11])).toEqual(["yes", "GroupNameTaken", "-"]);
    expect(text[4]).toBe("3 nodes, 2 ready, 0 with a WorkloadEntry.");
  });

  test("json is the rows without their age; an empty namespace is a sentence for people and [] for scripts", () => {
    const json = JSON.parse(render(statusView(rows, "airport-prod", undefined), "json")) as Record<string, unknown>[];
    expect(json.map((r) => [r["name"], r["group"], "age" in r])).toEqual([["a", "yes", false], ["b", "GroupNameTaken", false], ["c", "-", false]]);
    expect(render(statusView([], "airport-prod", "jp"), "table")).toBe("No XrayrNodes in airport-prod with country jp.\n");
    expect(render(statusView([], "airport-prod", undefined), "json")).toBe("[]\n");
  });
});
