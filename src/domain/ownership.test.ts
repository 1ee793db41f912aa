import type { OwnerReference } from "../api/v1alpha1/types.js";
import { controlledBy, describeController, isOurs, MANAGED_BY_LABEL, MANAGER } from "./ownership.js";

const node = { metadata: { name: "jp-01", uid: "uid-1" } };
const xn: OwnerReference = controlledBy(node);
const obj = (labels: Record<string, string>, refs: OwnerReference[]) => ({ metadata: { labels, ownerReferences: refs } });

describe("ownership", () => {
  test("controlledBy makes the node the controller, blocking its deletion until the GC has the dependant", () => {
    expect(xn).toEqual({ apiVersion: "mesh.sigma.io/v1alpha1", kind: "XrayrNode", name: "jp-01", uid: "uid-1", controller: true, blockOwnerDeletion: true });
    expect(() => controlledBy({ metadata: { name: "jp-01" } })).toThrow("XrayrNode has no metadata.uid");
  });

  test.each([
    ["our label and an XrayrNode controller", { [MANAGED_BY_LABEL]: MANAGER }, [xn], true],
    ["our label, no controller (orphaned by --cascade=orphan)", { [MANAGED_BY_LABEL]: MANAGER }, [], false],
    ["our label, an XrayrNode owner that is not the controller", { [MANAGED_BY_LABEL]: MANAGER }, [{ ...xn, controller: false }], false],
    ["our label, controlled by something else", { [MANAGED_BY_LABEL]: MANAGER }, [{ ...xn, kind: "ConfigMap", apiVersion: "v1" }], false],
    ["an XrayrNode controller, someone else's label", { [MANAGED_BY_LABEL]: "helm" }, [xn], false],
    ["an XrayrNode controller, no label (made by hand)", {}, [xn], false],
  ])("%s: ours is %s", (_what, labels, refs, want) => {
    expect(isOurs(obj(labels, refs))).toBe(want);
  });

  test("describeController names the controller, or the manager that left no controller", () => {
    expect(describeController(obj({}, [xn]))).toBe("controlled by XrayrNode jp-01");
    expect(describeController(obj({ [MANAGED_BY_LABEL]: MANAGER }, []))).toBe("managed by xrayr-mesh-operator but controlled by no object");
    expect(describeController(obj({}, []))).toBe("controlled by no object");
  });
});
