import { CRDS, notInstalled, NotInstalledError } from "./crds.js";

describe("the not-installed sentence", () => {
  test("names the CRD, where, and (beside it) what installs it", () => {
    expect(notInstalled(CRDS.xrayrnodes)).toBe("the XrayrNode CRD (xrayrnodes.mesh.sigma.io) is not installed in the cluster");
    expect(notInstalled(CRDS.workloadentries, "https://10.0.0.1/")).toBe(
      "Istio's WorkloadEntry CRD (workloadentries.networking.istio.io) is not installed in the cluster at https://10.0.0.1/",
    );
    expect(CRDS.xrayrnodes.fix).toContain("kubectl apply --server-side -k deploy/crds");
    expect(CRDS.workloadgroups.fix).toContain("install Istio first");
  });

  test("the error carries the CRD and says the sentence", () => {
    const e = new NotInstalledError(CRDS.workloadgroups);
    expect(e.message).toBe(notInstalled(CRDS.workloadgroups));
    expect(e.crd).toBe(CRDS.workloadgroups);
  });
});
