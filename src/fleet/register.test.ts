import type { XrayrNode } from "../api/v1alpha1/types.js";
import { REGISTERED_BY_LABEL, SYNCED_BY_LABEL, SYNC_MANAGER } from "./labels.js";
import { VPS_ID_LABEL } from "../domain/vps.js";
import { registrationConflict, registrationNode, registrationProblems } from "./register.js";

const reg = { name: "jp-tokyo-01-1001", address: "45.76.83.243", country: "JP", vpsId: "1001" };
const live = (labels: Record<string, string>, vpsId?: string): XrayrNode => ({
  metadata: { name: reg.name, namespace: "airport-prod", labels },
  spec: { address: "45.76.83.243", country: "jp", ...(vpsId !== undefined ? { vpsId } : {}) },
});

describe("registrationNode and registrationProblems", () => {
  test("the object sigma-api applies", () => {
    expect(registrationNode(reg, "airport-prod")).toEqual({
      apiVersion: "mesh.sigma.io/v1alpha1",
      kind: "XrayrNode",
      metadata: { name: reg.name, namespace: "airport-prod", labels: { [REGISTERED_BY_LABEL]: "sigma-api", [VPS_ID_LABEL]: "1001" } },
      spec: { address: "45.76.83.243", country: "jp", vpsId: "1001" },
    });
  });

  test("schema problems and the address policy, with the CLI's flag in the message", () => {
    expect(registrationProblems(registrationNode(reg, "airport-prod"), "public")).toEqual([]);
    const priv = registrationProblems(registrationNode({ ...reg, address: "10.0.0.1" }, "airport-prod"), "public");
    expect(priv.map((p) => p.message)).toEqual([
      "address 10.0.0.1 is in a private range (10.0.0.0/8); the operator's ADDRESS_POLICY=public refuses it (pass --address-policy=any to allow).",
    ]);
    expect(registrationProblems(registrationNode({ ...reg, address: "10.0.0.1" }, "airport-prod"), "any")).toEqual([]);
    const bad = registrationProblems(registrationNode({ ...reg, name: "Bad_Name", country: "uk" }, "airport-prod"), "public");
    expect(bad.map((p) => p.field)).toEqual(["metadata.name", "spec.country"]);
  });
});

describe("registrationConflict", () => {
  test("a new name, the same VPS, or a node without a VPS id: no conflict", () => {
    expect(registrationConflict(undefined, reg)).toBeUndefined();
    expect(registrationConflict(live({ [REGISTERED_BY_LABEL]: "sigma-api", [VPS_ID_LABEL]: "1001" }, "1001"), reg)).toBeUndefined();
    expect(registrationConflict(live({ [SYNCED_BY_LABEL]: SYNC_MANAGER, [VPS_ID_LABEL]: "1001" }, "1001"), reg)).toBeUndefined();
    expect(registrationConflict(live({}), reg)).toBeUndefined();
  });

  test("a node standing for another VPS (label or spec.vpsId) is refused in one sentence", () => {
    const msg = registrationConflict(live({ [SYNCED_BY_LABEL]: SYNC_MANAGER, [VPS_ID_LABEL]: "2002" }, "2002"), reg);
    expect(msg).toBe(
      "XrayrNode airport-prod/jp-tokyo-01-1001 already stands for VPS 2002, not VPS 1001: pick the name of this VPS (docs/fleet-format.md's naming rule), or pass --force to take the node over.",
    );
    expect(registrationConflict(live({}, "2002"), reg)).toContain("already stands for VPS 2002");
    const { vpsId: _drop, ...anonymous } = reg;
    expect(registrationConflict(live({ [VPS_ID_LABEL]: "1001" }), anonymous)).toContain("not a registration without --vps-id");
  });
});
