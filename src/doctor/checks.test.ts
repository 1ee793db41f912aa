import type * as k8s from "@kubernetes/client-node";
import type { XrayrNode } from "../api/v1alpha1/types.js";
import type { WorkloadEntry } from "../istio/workloadentry.js";
import { CRDS } from "../domain/crds.js";
import { MANAGED_BY_LABEL, MANAGER } from "../domain/ownership.js";
import { desiredWorkloadGroup } from "../desired/workloadgroup.js";
import { ISTIO_CRDS, runChecks, type DoctorFacts, type IstioResource } from "./checks.js";

const now = new Date("2026-01-01T00:00:30Z");
const ok = <T>(value: T) => ({ ok: true as const, value });

function xboardPod(name: string, extra: { env?: boolean; ready?: boolean; sidecar?: boolean } = {}): k8s.V1Pod {
  return {
    metadata: { name, labels: { app: "xboard" } },
    spec: {
      containers: [
        { name: "xboard" },
        ...(extra.sidecar === false ? [] : [{ name: "istio-proxy", env: extra.env === false ? [] : [{ name: "PEER_METADATA_DISCOVERY", value: "true" }] }]),
      ],
    },
    status: { containerStatuses: [{ name: "xboard", ready: true, restartCount: 0, image: "", imageID: "" }, { name: "istio-proxy", ready: extra.ready ?? true, restartCount: 0, image: "", imageID: "" }] },
  };
}

function node(name: string, address: string, ready = "True", reason = "Reconciled", createdAt = "2026-01-01T00:00:00Z"): XrayrNode {
  return { metadata: { name, uid: `uid-${name}`, creationTimestamp: createdAt }, spec: { address, country: "jp" }, status: { conditions: [{ type: "Ready", status: ready as "True", reason, message: "", lastTransitionTime: "" }] } };
}

/** The entry the operator writes for node `owner` (named <node>-<hash>), or a foreign one (owner null). */
const entry = (name: string, address?: string, owner: string | null = name.replace(/-[0-9a-f]{8}$/, "")): WorkloadEntry => ({
  apiVersion: "networking.istio.io/v1",
  kind: "WorkloadEntry",
  metadata: {
    name,
    labels: { [MANAGED_BY_LABEL]: MANAGER },
    ...(owner !== null ? { ownerReferences: [{ apiVersion: "mesh.sigma.io/v1alpha1", kind: "XrayrNode", name: owner, uid: `uid-${owner}`, controller: true }] } : {}),
  },
  spec: { ...(address !== undefined ? { address } : {}), labels: { app: "xrayr", country: "jp", version: "v1", "service.istio.io/workload-name": owner ?? name } },
});

/** The WorkloadGroup the operator writes for node `name`. */
function nodeGroup(name: string): IstioResource {
  return desiredWorkloadGroup({ metadata: { name, namespace: "airport-prod", uid: `uid-${name}` }, spec: { address: "45.0.0.1", country: "jp" } }, { appLabel: "xrayr", serviceAccount: "xrayr-vm" });
}

function healthy(): DoctorFacts {
  return {
    namespace: "airport-prod",
    xboardSelector: "app=xboard",
    xboardService: "xboard",
    istioNamespace: "istio-system",
    leaseName: "xrayr-mesh-operator",
    addressPolicy: "public",
    crds: ok(new Set([...ISTIO_CRDS, CRDS.xrayrnodes].map((c) => c.name))),
    namespaceObject: ok({ metadata: { name: "airport-prod", labels: { "istio-injection": "enabled" } } }),
    xboardPods: ok([xboardPod("xboard-1"), xboardPod("xboard-2")]),
    istiod: ok([{ metadata: { name: "istiod" }, spec: { selector: {}, template: { spec: { containers: [{ name: "discovery", env: [{ name: "PILOT_ENABLE_AMBIENT", value: "true" }] }] } } }, status: { availableReplicas: 1 } }]),
    service: ok({ metadata: { name: "xboard" }, spec: { type: "LoadBalancer", externalTrafficPolicy: "Local" } }),
    workloadGroups: ok([{ metadata: { name: "xrayr" }, spec: { metadata: { labels: { app: "xrayr" } } } }, nodeGroup("a"), nodeGroup("b")]),
    // As shipped: no fleet-wide ServiceEntry (deploy/istio/optional/); another service's entry only.
    serviceEntries: ok([{ metadata: { name: "payments-vm" }, spec: { workloadSelector: { labels: { app: "payments" } } } }]),
    entries: ok([entry("a-0123abcd", "45.0.0.1"), entry("b-4567cdef", "45.0.0.2")]),
    nodes: ok([node("a", "45.0.0.1"), node("b", "45.0.0.2")]),
    lease: ok({ metadata: { name: "xrayr-mesh-operator" }, spec: { holderIdentity: "op-1", renewTime: new Date("2026-01-01T00:00:25Z"), leaseDurationSeconds: 15 } }),
    now,
  };
}

const verdicts = (f: DoctorFacts) => Object.fromEntries(runChecks(f).map((r) => [r.check, r.verdict]));

describe("doctor checks", () => {
  test("a cluster with everything passes every check", () => {
    const results = runChecks(healthy());
    expect(results.filter((r) => r.verdict !== "pass")).toEqual([]);
    expect(results.every((r) => r.fix === "")).toBe(true);
  });

  test("the bare lab: Istio CRDs only, no Xboard, no istiod", () => {
    const f: DoctorFacts = {
      ...healthy(),
      namespaceObject: ok({ metadata: { name: "airport-prod" } }),
      xboardPods: ok([]),
      istiod: ok([]),
      service: ok(undefined),
      workloadGroups: ok([]),
      serviceEntries: ok([]),
      lease: ok(undefined),
    };
    expect(verdicts(f)).toEqual({
      "istio-crds": "pass",
      "xrayrnode-crd": "pass",
      "namespace-injection": "fail",
      "xboard-sidecar": "fail",
      "istiod-ambient": "fail",
      "peer-metadata-discovery": "fail",
      "xboard-client-ip": "fail",
      workloadgroup: "fail",
      "node-workloadgroups": "fail",
      serviceentry: "pass",
      "operator-lease": "fail",
      "nodes-ready": "pass",
      "address-conflicts": "pass",
      "workload-entries": "pass",
    });
    expect(runChecks(f).filter((r) => r.verdict === "fail").every((r) => r.fix.length > 0)).toBe(true);
  });

  test("each failure names what is wrong", () => {
    const f = healthy();
    f.xboardPods = ok([xboardPod("xboard-1", { env: false, ready: false }), xboardPod("xboard-2", { sidecar: false })]);
    f.istiod = ok([{ metadata: { name: "istiod" }, spec: { selector: {}, template: { spec: { containers: [{ name: "discovery" }] } } }, status: { availableReplicas: 1 } }]);
    f.service = ok({ metadata: { name: "xboard" }, spec: { type: "LoadBalancer", externalTrafficPolicy: "Cluster" } });
    f.lease = ok({ metadata: {}, spec: { holderIdentity: "op-1", renewTime: new Date("2025-12-31T23:59:00Z"), leaseDurationSeconds: 15 } });
    f.nodes = ok([node("a", "45.0.0.1"), node("b", "45.0.0.1", "False", "AddressConflict")]);
    const byCheck = Object.fromEntries(runChecks(f).map((r) => [r.check, r]));
    expect(byCheck["xboard-sidecar"]?.detail).toBe("1 of 2 Xboard pods have no istio-proxy: xboard-2");
    expect(byCheck["istiod-ambient"]?.detail).toBe("istiod istiod runs without PILOT_ENABLE_AMBIENT=true");
    expect(byCheck["peer-metadata-discovery"]?.verdict).toBe("fail");
    expect(byCheck["xboard-client-ip"]?.fix).toContain('"externalTrafficPolicy":"Local"');
    expect(byCheck["operator-lease"]?.detail).toContain("last renewed 90s ago (by this machine's clock against the leader's renewTime; duration 15s, margin 30s for clock skew)");
    expect(byCheck["nodes-ready"]?.detail).toBe("1 of 2 XrayrNodes are not Ready: b (AddressConflict)");
    expect(byCheck["address-conflicts"]?.detail).toBe(
      "1 addresses are claimed by more than one valid node (the oldest holds it, ties to the smaller name): 45.0.0.1: held by a, also claimed by b",
    );
  });

  const conflicts = (nodes: XrayrNode[], addressPolicy: DoctorFacts["addressPolicy"] = "public") =>
    runChecks({ ...healthy(), nodes: ok(nodes), addressPolicy }).find((r) => r.check === "address-conflicts");

  test("address-conflicts names the holder by the operator's claim rule, not by list order or name", () => {
    const older = node("zz-old", "45.0.0.7", "True", "Reconciled", "2026-01-01T00:00:01Z");
    const newer = node("aa-new", "45.0.0.7", "False", "AddressConflict", "2026-01-01T00:00:02Z");
    const twin = node("mm-twin", "45.0.0.7", "False", "AddressConflict", "2026-01-01T00:00:02Z");
    for (const order of [[newer, older, twin], [twin, older, newer]]) {
      expect(conflicts(order)?.detail).toContain("45.0.0.7: held by zz-old, also claimed by aa-new, mm-twin");
    }
  });

  test("address-conflicts: an invalid node claims nothing (the operator gives it no entry)", () => {
    const valid = node("b", "45.0.0.1");
    const legacy: XrayrNode = { ...node("a", "45.0.0.1", "False", "InvalidSpec", "2025-01-01T00:00:00Z"), spec: { address: "45.0.0.1", country: "UK" } };
    expect(conflicts([legacy, valid])).toMatchObject({ verdict: "pass", detail: "1 addresses, each claimed by one valid node" });
    // Under ADDRESS_POLICY=public a private address is invalid; under any it claims.
    const priv = [node("p", "10.0.0.1", "True", "Reconciled", "2025-01-01T00:00:00Z"), node("q", "10.0.0.1")];
    expect(conflicts(priv)?.verdict).toBe("pass");
    expect(conflicts(priv, "any")?.detail).toContain("10.0.0.1: held by p, also claimed by q");
  });

  const entriesCheck = (entries: WorkloadEntry[]) => runChecks({ ...healthy(), entries: ok(entries) }).find((r) => r.check === "workload-entries");

  test("workload-entries: entries are matched to nodes by controller, not by name", () => {
    // A foreign entry named like a node is not that node's; it holds its own address.
    const r = entriesCheck([entry("a-0123abcd", "45.0.0.1"), entry("b-4567cdef", "45.0.0.2"), entry("a", "192.0.2.1", null)]);
    expect(r).toMatchObject({ verdict: "pass", detail: "3 WorkloadEntries, 2 of them XrayrNodes' (one each); no address held by two" });
  });

  test("workload-entries: two entries on one address fail, whoever owns them; so does a node with two entries", () => {
    const shared = entriesCheck([entry("a-0123abcd", "45.0.0.1"), entry("b-4567cdef", "45.0.0.1"), entry("vm-x", "45.0.0.1", null)]);
    expect(shared?.verdict).toBe("fail");
    expect(shared?.detail).toBe("1 addresses are held by more than one WorkloadEntry (the sidecar maps an address to one workload): 45.0.0.1: a-0123abcd, b-4567cdef, vm-x");
    expect(shared?.fix).toContain("restart Xboard's pods");
    const doubled = entriesCheck([entry("a-0123abcd", "45.0.0.1"), entry("a-89abcdef", "45.0.0.9", "a")]);
    expect(doubled?.verdict).toBe("fail");
    expect(doubled?.detail).toBe("1 XrayrNodes control more than one WorkloadEntry: XrayrNode a: a-0123abcd, a-89abcdef");
  });

  test("workloadgroup and serviceentry judge the XrayrNodes' entries only, not a foreign entry's labels", () => {
    const foreign = { ...entry("vm-x", "192.0.2.1", null), spec: { address: "192.0.2.1", labels: { app: "other" } } };
    const otherSe = { metadata: { name: "other-vms" }, spec: { workloadSelector: { labels: { app: "other" } } } };
    const v = verdicts({ ...healthy(), entries: ok([entry("a-0123abcd", "45.0.0.1"), foreign]), serviceEntries: ok([otherSe]) });
    expect([v.workloadgroup, v.serviceentry]).toEqual(["pass", "pass"]);
  });

  test("serviceentry: the fleet-wide ServiceEntry is optional; absent passes, present warns with its per-change cost", () => {
    const check = (f: Partial<DoctorFacts>) => runChecks({ ...healthy(), ...f }).find((r) => r.check === "serviceentry");
    expect(check({})).toMatchObject({ verdict: "pass", fix: "" });
    expect(check({})?.detail).toContain("optional: deploy/istio/optional/");
    expect(check({ serviceEntries: ok([]) })?.verdict).toBe("pass");

    const fleetSe = { metadata: { name: "xrayr-nodes" }, spec: { workloadSelector: { labels: { app: "xrayr" } } } };
    const present = check({ serviceEntries: ok([fleetSe]) });
    expect(present?.verdict).toBe("warn");
    expect(present?.detail).toContain("ServiceEntry xrayr-nodes (2 of 2 entries) selects the XrayrNodes' entries");
    expect(present?.detail).toContain("220 KB per change per sidecar");
    expect(present?.fix).toContain("kubectl -n airport-prod delete serviceentry xrayr-nodes");
    // One that selects only some entries costs the same per change of those: still named.
    const some = { metadata: { name: "jp-only" }, spec: { workloadSelector: { labels: { app: "xrayr", country: "jp" } } } };
    const partial = check({ serviceEntries: ok([some]), entries: ok([entry("a-0123abcd", "45.0.0.1"), { ...entry("b-4567cdef", "45.0.0.2"), spec: { address: "45.0.0.2", labels: { app: "xrayr", country: "us" } } }]) });
    expect(partial).toMatchObject({ verdict: "warn" });
    expect(partial?.detail).toContain("jp-only (1 of 2 entries)");
    // No entries yet: nothing to resend.
    expect(check({ serviceEntries: ok([fleetSe]), entries: ok([]) })?.verdict).toBe("pass");
    expect(check({ serviceEntries: { ok: false, error: "forbidden" } })?.verdict).toBe("warn");
  });

  test("node-workloadgroups: every node with an entry needs its own group, controlled by it, selecting its entry", () => {
    const check = (groups: IstioResource[]) => runChecks({ ...healthy(), workloadGroups: ok(groups) }).find((r) => r.check === "node-workloadgroups");
    const fleet = { metadata: { name: "xrayr" }, spec: { metadata: { labels: { app: "xrayr" } } } };
    expect(check([fleet, nodeGroup("a"), nodeGroup("b")])).toMatchObject({ verdict: "pass", detail: "2 XrayrNodes with an entry, each with its own WorkloadGroup selecting it (Kiali opens each VPS as a workload)" });
    const taken = { metadata: { name: "b", labels: { team: "edge" } }, spec: { metadata: { labels: { app: "xrayr" } } } };
    const narrowed = nodeGroup("a");
    narrowed.spec = { metadata: { labels: { ...narrowed.spec?.metadata?.labels, version: "v9" } } };
    const r = check([fleet, narrowed, taken]);
    expect(r?.verdict).toBe("fail");
    expect(r?.detail).toBe(
      "2 of 2 XrayrNodes with an entry have no WorkloadGroup of their own selecting it, so Kiali cannot open their VPS as a workload: " +
        "a (its WorkloadGroup's workload labels select none of its entries), b (WorkloadGroup b is controlled by no object, not by this node: GroupNameTaken)",
    );
    expect(check([fleet, nodeGroup("a")])?.detail).toContain("b (no WorkloadGroup b)");
  });

  test("the fleet's workloadgroup check counts the fleet's group, not the operator's per-node groups", () => {
    const oneNode = { ...healthy(), entries: ok([entry("a-0123abcd", "45.0.0.1")]), nodes: ok([node("a", "45.0.0.1")]) };
    // A node's own group selects its one entry; it is still not the fleet's group.
    expect(runChecks({ ...oneNode, workloadGroups: ok([nodeGroup("a")]) }).find((r) => r.check === "workloadgroup")?.verdict).toBe("fail");
  });

  test("a fact that could not be read is a warning, not a verdict", () => {
    const f = { ...healthy(), lease: { ok: false as const, error: "not allowed" } };
    expect(runChecks(f).find((r) => r.check === "operator-lease")).toMatchObject({ verdict: "warn", detail: "could not read lease xrayr-mesh-operator: not allowed" });
  });

  test("no injection label, but sidecars injected per pod: a warning", () => {
    const f = { ...healthy(), namespaceObject: ok({ metadata: { name: "airport-prod" } }) };
    expect(verdicts(f)["namespace-injection"]).toBe("warn");
  });

  const svc = (annotations: Record<string, string>, spec: k8s.V1ServiceSpec = { type: "LoadBalancer" }): k8s.V1Service => ({ metadata: { name: "xboard", annotations }, spec });
  // deploy/istio/xboard/service-nlb-ip.patch.yaml, as docs/install.md recommends on EKS
  const NLB_IP = {
    "service.beta.kubernetes.io/aws-load-balancer-type": "external",
    "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type": "ip",
    "service.beta.kubernetes.io/aws-load-balancer-scheme": "internet-facing",
    "service.beta.kubernetes.io/aws-load-balancer-target-group-attributes": "preserve_client_ip.enabled=true",
  };
  const clientIp = (service: k8s.V1Service | undefined) => runChecks({ ...healthy(), service: ok(service) }).find((r) => r.check === "xboard-client-ip");

  test("the recommended EKS setup passes: an NLB with IP targets and client IP preservation, without externalTrafficPolicy Local", () => {
    expect(clientIp(svc(NLB_IP))).toMatchObject({ verdict: "pass", fix: "" });
    const among = { ...NLB_IP, "service.beta.kubernetes.io/aws-load-balancer-target-group-attributes": "deregistration_delay.timeout_seconds=30, preserve_client_ip.enabled=true" };
    expect(clientIp(svc(among))?.verdict).toBe("pass");
    expect(clientIp(svc({}, { type: "LoadBalancer", externalTrafficPolicy: "Local" }))?.verdict).toBe("pass");
  });

  test("an NLB with IP targets but no client IP preservation, or no NLB and Cluster policy, fails naming both fixes", () => {
    const { ["service.beta.kubernetes.io/aws-load-balancer-target-group-attributes"]: _attrs, ...noPreserve } = NLB_IP;
    for (const s of [svc(noPreserve), svc({ ...NLB_IP, "service.beta.kubernetes.io/aws-load-balancer-target-group-attributes": "preserve_client_ip.enabled=false" }), svc({}), undefined]) {
      const r = clientIp(s);
      expect(r?.verdict).toBe("fail");
      expect(r?.fix).toContain("deploy/istio/xboard/service-nlb-ip.patch.yaml");
      expect(r?.fix).toContain('"externalTrafficPolicy":"Local"');
    }
    expect(clientIp(svc(noPreserve))?.detail).toContain("without preserve_client_ip.enabled=true");
  });

  const lease = (holderIdentity: string, renewTime: string) => ok({ metadata: { name: "xrayr-mesh-operator" }, spec: { holderIdentity, renewTime: new Date(renewTime), leaseDurationSeconds: 15 } });
  const leaseCheck = (l: ReturnType<typeof lease>) => runChecks({ ...healthy(), lease: l }).find((r) => r.check === "operator-lease");

  test("a Lease handed back by a graceful shutdown (holder \"\") is a warning: no leader right now", () => {
    const r = leaseCheck(lease("", "2026-01-01T00:00:20Z"));
    expect(r?.verdict).toBe("warn");
    expect(r?.detail).toContain("no leader right now; a rollout or restart may be in progress");
  });

  test("renewTime is compared across clocks: a late renewal within the margin warns, beyond it fails, a future one passes", () => {
    expect(leaseCheck(lease("op-1", "2026-01-01T00:00:10Z"))?.verdict).toBe("warn"); // 20s ago, duration 15s
    expect(leaseCheck(lease("op-1", "2025-12-31T23:59:46Z"))?.verdict).toBe("warn"); // 44s ago: within 15s + 30s
    expect(leaseCheck(lease("op-1", "2025-12-31T23:59:44Z"))?.verdict).toBe("fail"); // 46s ago
    const ahead = leaseCheck(lease("op-1", "2026-01-01T00:00:50Z")); // the leader's clock runs ahead
    expect(ahead).toMatchObject({ verdict: "pass" });
    expect(ahead?.detail).toContain("by this machine's clock");
  });
});
