import type { XrayrNode } from "../crd/types.js";
import { REGISTERED_BY_LABEL, SYNCED_BY_LABEL, SYNC_MANAGER, VPS_ID_LABEL } from "../fleet/labels.js";
import type { WorkloadEntry } from "../istio/workloadentry.js";
import { sourceOf, statusRows } from "./status.js";

const node = (name: string, labels: Record<string, string> = {}): XrayrNode => ({
  metadata: { name, uid: `uid-${name}`, labels },
  spec: { address: "45.0.0.1", country: "jp" },
});
const entry = (name: string, owner: { kind: string; apiVersion: string; uid: string }): WorkloadEntry => ({
  apiVersion: "networking.istio.io/v1",
  kind: "WorkloadEntry",
  metadata: { name, ownerReferences: [{ ...owner, name, controller: true }] },
  spec: {},
});

describe("statusRows", () => {
  test("an entry is the node's only when that XrayrNode controls it", () => {
    const nodes = [node("a"), node("b")];
    const entries = [
      entry("a", { kind: "XrayrNode", apiVersion: "mesh.sigma.io/v1alpha1", uid: "uid-a" }),
      entry("b", { kind: "ConfigMap", apiVersion: "v1", uid: "uid-b" }), // same uid, not an XrayrNode
    ];
    expect(statusRows(nodes, entries).map((r) => [r.name, r.entry])).toEqual([["a", true], ["b", false]]);
  });

  test("source: sigma-api's label wins over sync's (a node registered over a synced one is sigma-api's)", () => {
    expect(sourceOf(node("a", { [SYNCED_BY_LABEL]: SYNC_MANAGER }))).toBe("sync");
    expect(sourceOf(node("a", { [SYNCED_BY_LABEL]: SYNC_MANAGER, [REGISTERED_BY_LABEL]: "sigma-api", [VPS_ID_LABEL]: "1" }))).toBe("sigma-api");
    expect(sourceOf(node("a"))).toBe("other");
  });
});
