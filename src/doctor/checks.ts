// xrayr-mesh doctor's checks: everything per-VPS attribution needs, each a small pure function
// of facts read from the cluster, returning a verdict, what it saw, and the fix. The CLI
// (src/cli/doctor.ts) gathers the facts; a fact that could not be read is a warning on the
// checks that need it.
import type * as k8s from "@kubernetes/client-node";
import type { OwnerReference, XrayrNode } from "../api/v1alpha1/types.js";
import type { AddressPolicy } from "../crd/address.js";
import { validateNode } from "../crd/validate.js";
import { contestedAddresses, nodeClaim, type Claim } from "../domain/claims.js";
import { CRDS, notInstalled } from "../domain/crds.js";
import type { WorkloadEntry } from "../istio/workloadentry.js";
import { groupName } from "../domain/group-name.js";
import { controllerUid, describeController, isOurs, xrayrNodeController } from "../domain/ownership.js";
import { isReady, readyCondition } from "../domain/readiness.js";

export type Verdict = "pass" | "warn" | "fail";

export interface CheckResult {
  check: string;
  verdict: Verdict;
  detail: string;
  /** What to do; empty when the check passes. */
  fix: string;
}

/** A fact read from the cluster, or why it could not be read. `undefined` value: not found. */
export type Fact<T> = { ok: true; value: T } | { ok: false; error: string };

export interface IstioResource {
  metadata: { name?: string; namespace?: string; labels?: Record<string, string>; ownerReferences?: OwnerReference[] };
  spec?: { metadata?: { labels?: Record<string, string> }; workloadSelector?: { labels?: Record<string, string> }; hosts?: string[] };
}

export interface DoctorFacts {
  namespace: string;
  xboardSelector: string;
  xboardService: string;
  istioNamespace: string;
  leaseName: string;
  /** The operator's ADDRESS_POLICY: which nodes are valid, so which claim an address. */
  addressPolicy: AddressPolicy;
  crds: Fact<ReadonlySet<string>>;
  namespaceObject: Fact<k8s.V1Namespace | undefined>;
  xboardPods: Fact<k8s.V1Pod[]>;
  istiod: Fact<k8s.V1Deployment[]>;
  service: Fact<k8s.V1Service | undefined>;
  workloadGroups: Fact<IstioResource[]>;
  serviceEntries: Fact<IstioResource[]>;
  entries: Fact<WorkloadEntry[]>;
  nodes: Fact<XrayrNode[]>;
  lease: Fact<k8s.V1Lease | undefined>;
  now: Date;
}

const pass = (check: string, detail: string): CheckResult => ({ check, verdict: "pass", detail, fix: "" });
const warn = (check: string, detail: string, fix: string): CheckResult => ({ check, verdict: "warn", detail, fix });
const fail = (check: string, detail: string, fix: string): CheckResult => ({ check, verdict: "fail", detail, fix });
const unreadable = (check: string, what: string, error: string): CheckResult => warn(check, `could not read ${what}: ${error}`, "run doctor with credentials that may read it");

/** The Istio CRDs: the operator's two, and ServiceEntry's, which Istio installs with them and doctor reads (the serviceentry check). */
export const ISTIO_CRDS = [CRDS.workloadentries, CRDS.workloadgroups, CRDS.serviceentries];
const PROXY = "istio-proxy";

export function checkIstioCrds(f: DoctorFacts): CheckResult {
  const c = "istio-crds";
  if (!f.crds.ok) return unreadable(c, "CustomResourceDefinitions", f.crds.error);
  const crds = f.crds.value;
  const missing = ISTIO_CRDS.filter((crd) => !crds.has(crd.name));
  if (missing.length === 0) return pass(c, "WorkloadEntry, WorkloadGroup and ServiceEntry CRDs are installed");
  return fail(c, missing.map((crd) => notInstalled(crd)).join("; "), missing[0]?.fix ?? "");
}

export function checkXrayrNodeCrd(f: DoctorFacts): CheckResult {
  const c = "xrayrnode-crd";
  if (!f.crds.ok) return unreadable(c, "CustomResourceDefinitions", f.crds.error);
  const crd = CRDS.xrayrnodes;
  return f.crds.value.has(crd.name) ? pass(c, `${crd.name} is installed`) : fail(c, notInstalled(crd), crd.fix);
}

function hasSidecar(p: k8s.V1Pod): boolean {
  return (p.spec?.containers ?? []).some((c) => c.name === PROXY) || (p.spec?.initContainers ?? []).some((c) => c.name === PROXY && c.restartPolicy === "Always");
}

function readyCount(p: k8s.V1Pod): { ready: number; total: number } {
  const statuses = [...(p.status?.containerStatuses ?? []), ...(p.status?.initContainerStatuses ?? []).filter((s) => s.name === PROXY)];
  const total = (p.spec?.containers ?? []).length + (p.spec?.initContainers ?? []).filter((c) => c.name === PROXY && c.restartPolicy === "Always").length;
  return { ready: statuses.filter((s) => s.ready).length, total };
}

const podName = (p: k8s.V1Pod): string => p.metadata?.name ?? "?";
const some = (names: string[]): string => `${names.slice(0, 5).join(", ")}${names.length > 5 ? ` and ${names.length - 5} more` : ""}`;

export function checkInjectionLabel(f: DoctorFacts): CheckResult {
  const c = "namespace-injection";
  if (!f.namespaceObject.ok) return unreadable(c, `namespace ${f.namespace}`, f.namespaceObject.error);
  const ns = f.namespaceObject.value;
  if (ns === undefined) return fail(c, `namespace ${f.namespace} does not exist`, `kubectl create namespace ${f.namespace}`);
  const labels = ns.metadata?.labels ?? {};
  if (labels["istio-injection"] === "enabled") return pass(c, `${f.namespace} has istio-injection=enabled`);
  if (labels["istio.io/rev"] !== undefined && labels["istio-injection"] !== "disabled") return pass(c, `${f.namespace} has istio.io/rev=${labels["istio.io/rev"]}`);
  const fix = `kubectl label namespace ${f.namespace} istio-injection=enabled, then restart the Xboard pods`;
  const pods = f.xboardPods.ok ? f.xboardPods.value : [];
  if (pods.length > 0 && pods.every(hasSidecar)) return warn(c, `${f.namespace} has no injection label, but every Xboard pod has a sidecar (injected per pod)`, fix);
  return fail(c, `${f.namespace} has neither istio-injection=enabled nor istio.io/rev`, fix);
}

export function checkXboardSidecars(f: DoctorFacts): CheckResult {
  const c = "xboard-sidecar";
  if (!f.xboardPods.ok) return unreadable(c, "pods", f.xboardPods.error);
  const pods = f.xboardPods.value;
  const fix = `enable sidecar injection for ${f.namespace} and restart Xboard (kubectl -n ${f.namespace} rollout restart deployment -l ${f.xboardSelector})`;
  if (pods.length === 0) return fail(c, `no pods match ${f.xboardSelector} in ${f.namespace}`, `deploy Xboard in ${f.namespace} with the label ${f.xboardSelector} (or pass --xboard-selector)`);
  const without = pods.filter((p) => !hasSidecar(p)).map(podName);
  if (without.length > 0) return fail(c, `${without.length} of ${pods.length} Xboard pods have no ${PROXY}: ${some(without)}`, fix);
  const notReady = pods.filter((p) => { const r = readyCount(p); return r.ready < r.total; }).map((p) => { const r = readyCount(p); return `${podName(p)} ${r.ready}/${r.total}`; });
  if (notReady.length > 0) return fail(c, `${notReady.length} of ${pods.length} Xboard pods are not fully ready: ${some(notReady)}`, `kubectl -n ${f.namespace} describe pod ${notReady[0]?.split(" ")[0] ?? ""}`);
  const counts = pods.map((p) => { const r = readyCount(p); return `${r.ready}/${r.total}`; });
  return pass(c, `${pods.length} Xboard pods, all with ${PROXY} and ready (${[...new Set(counts)].join(", ")})`);
}

function envOf(d: k8s.V1Deployment, name: string): string | undefined {
  for (const ct of d.spec?.template.spec?.containers ?? []) {
    const e = ct.env?.find((x) => x.name === name);
    if (e !== undefined) return e.value;
  }
  return undefined;
}

export function checkIstiodAmbient(f: DoctorFacts): CheckResult {
  const c = "istiod-ambient";
  if (!f.istiod.ok) return unreadable(c, `deployments in ${f.istioNamespace}`, f.istiod.error);
  const fix = "istioctl install --set values.pilot.env.PILOT_ENABLE_AMBIENT=true (Helm istiod chart: --set pilot.env.PILOT_ENABLE_AMBIENT=true)";
  const ds = f.istiod.value;
  if (ds.length === 0) return fail(c, `istiod does not run: no istiod Deployment in ${f.istioNamespace}`, `install istiod in ${f.istioNamespace}: ${fix}`);
  const running = ds.filter((d) => (d.status?.availableReplicas ?? 0) > 0);
  if (running.length === 0) return fail(c, `istiod (${ds.map((d) => d.metadata?.name ?? "?").join(", ")}) has no available replica`, `kubectl -n ${f.istioNamespace} describe deployment ${ds[0]?.metadata?.name ?? "istiod"}`);
  const off = running.filter((d) => envOf(d, "PILOT_ENABLE_AMBIENT") !== "true").map((d) => d.metadata?.name ?? "?");
  if (off.length > 0) return fail(c, `istiod ${off.join(", ")} runs without PILOT_ENABLE_AMBIENT=true`, fix);
  return pass(c, `istiod runs with PILOT_ENABLE_AMBIENT=true (${running.map((d) => d.metadata?.name ?? "?").join(", ")})`);
}

function hasPeerMetadataDiscovery(p: k8s.V1Pod): boolean {
  const proxy = [...(p.spec?.containers ?? []), ...(p.spec?.initContainers ?? [])].find((c) => c.name === PROXY);
  if (proxy?.env?.some((e) => e.name === "PEER_METADATA_DISCOVERY" && e.value === "true") === true) return true;
  const ann = p.metadata?.annotations?.["proxy.istio.io/config"];
  return ann !== undefined && /PEER_METADATA_DISCOVERY["']?\s*:\s*["']?true/.test(ann);
}

export function checkPeerMetadataDiscovery(f: DoctorFacts): CheckResult {
  const c = "peer-metadata-discovery";
  if (!f.xboardPods.ok) return unreadable(c, "pods", f.xboardPods.error);
  const fix = `annotate the Xboard pod template: proxy.istio.io/config: '{"proxyMetadata":{"PEER_METADATA_DISCOVERY":"true"}}', then restart Xboard`;
  const pods = f.xboardPods.value;
  if (pods.length === 0) return fail(c, `no Xboard pods (${f.xboardSelector}) to carry PEER_METADATA_DISCOVERY`, fix);
  const without = pods.filter((p) => !hasPeerMetadataDiscovery(p)).map(podName);
  if (without.length > 0) return fail(c, `${without.length} of ${pods.length} Xboard pods lack PEER_METADATA_DISCOVERY=true: ${some(without)}`, fix);
  return pass(c, `all ${pods.length} Xboard pods set PEER_METADATA_DISCOVERY=true`);
}

/** The AWS Load Balancer Controller's annotations for an NLB with IP targets (deploy/istio/xboard/service-nlb-ip.patch.yaml). */
export const NLB_TARGET_TYPE_ANNOTATION = "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type";
export const NLB_TARGET_GROUP_ATTRIBUTES_ANNOTATION = "service.beta.kubernetes.io/aws-load-balancer-target-group-attributes";

/** The target-group attributes annotation ("k=v,k=v") as a map. */
function targetGroupAttributes(annotations: Record<string, string>): Map<string, string> {
  const out = new Map<string, string>();
  for (const kv of (annotations[NLB_TARGET_GROUP_ATTRIBUTES_ANNOTATION] ?? "").split(",")) {
    const eq = kv.indexOf("=");
    if (eq > 0) out.set(kv.slice(0, eq).trim(), kv.slice(eq + 1).trim());
  }
  return out;
}

export function checkClientAddress(f: DoctorFacts): CheckResult {
  const c = "xboard-client-ip";
  if (!f.service.ok) return unreadable(c, `service ${f.xboardService}`, f.service.error);
  const svc = f.service.value;
  const patch = `kubectl -n ${f.namespace} patch service ${f.xboardService} -p '{"spec":{"externalTrafficPolicy":"Local"}}'`;
  const nlbPatch = `kubectl -n ${f.namespace} patch service ${f.xboardService} --patch-file deploy/istio/xboard/service-nlb-ip.patch.yaml`;
  const bothFixes = `either (A, on EKS) an NLB with IP targets and client IP preservation: ${nlbPatch}; or (B) externalTrafficPolicy: Local: ${patch}`;
  if (svc === undefined) return fail(c, `service ${f.namespace}/${f.xboardService} does not exist`, `expose Xboard as a LoadBalancer Service named ${f.xboardService} (or pass --xboard-service) keeping client addresses: ${bothFixes}`);
  const type = svc.spec?.type ?? "ClusterIP";
  if (type === "LoadBalancer" || type === "NodePort") {
    if (svc.spec?.externalTrafficPolicy === "Local") return pass(c, `${f.xboardService} is a ${type} with externalTrafficPolicy: Local (client addresses preserved)`);
    const annotations = svc.metadata?.annotations ?? {};
    const ipTargets = type === "LoadBalancer" && annotations[NLB_TARGET_TYPE_ANNOTATION]?.trim().toLowerCase() === "ip";
    const preserve = targetGroupAttributes(annotations).get("preserve_client_ip.enabled")?.toLowerCase() === "true";
    if (ipTargets && preserve) return pass(c, `${f.xboardService} is an NLB with IP targets and preserve_client_ip.enabled=true (client addresses preserved)`);
    const policy = `externalTrafficPolicy: ${svc.spec?.externalTrafficPolicy ?? "Cluster"}`;
    if (ipTargets) {
      return fail(c, `${f.xboardService} is an NLB with IP targets but without preserve_client_ip.enabled=true in ${NLB_TARGET_GROUP_ATTRIBUTES_ANNOTATION}: the NLB's own address reaches Xboard`, bothFixes);
    }
    return fail(c, `${f.xboardService} is a ${type} with ${policy} and no NLB IP targets: nodes SNAT the client address away`, bothFixes);
  }
  return warn(c, `${f.xboardService} is a ${type} Service: client addresses survive only if whatever is in front of it keeps them`, `expose Xboard through a LoadBalancer keeping client addresses: ${bothFixes}`);
}

const subset = (want: Record<string, string> | undefined, have: Record<string, string> | undefined): boolean =>
  want !== undefined && Object.keys(want).length > 0 && Object.entries(want).every(([k, v]) => have?.[k] === v);

/** The operator's entries: ours (domain/ownership.ts), whatever their names (<node>-<hash>). */
function nodeEntries(f: DoctorFacts): WorkloadEntry[] {
  return f.entries.ok ? f.entries.value.filter(isOurs) : [];
}

function entryLabelSets(f: DoctorFacts): Record<string, string>[] {
  return nodeEntries(f).map((e) => e.spec.labels ?? {});
}

/** The fleet's WorkloadGroup (deploy/istio): Kiali's grouping of every VPS. The operator's own per-node groups are node-workloadgroups'. */
export function checkWorkloadGroup(f: DoctorFacts): CheckResult {
  const c = "workloadgroup";
  if (!f.workloadGroups.ok) return unreadable(c, "WorkloadGroups", f.workloadGroups.error);
  const fix = `apply the WorkloadGroup for the XrayR VMs (template labels app: xrayr) in ${f.namespace} (see deploy/istio/)`;
  const groups = f.workloadGroups.value.filter((g) => !isOurs(g));
  if (groups.length === 0) return fail(c, `no WorkloadGroup in ${f.namespace}`, fix);
  const entries = entryLabelSets(f);
  const matching = groups.filter((g) => entries.length === 0 ? g.spec?.metadata?.labels?.app !== undefined : entries.every((l) => subset(g.spec?.metadata?.labels, l)));
  if (matching.length === 0) return fail(c, `${groups.length} WorkloadGroup(s), none whose template labels match the entries' labels`, fix);
  return pass(c, `WorkloadGroup ${matching.map((g) => g.metadata.name ?? "?").join(", ")} matches ${entries.length} entries`);
}

/**
 * Each node's own WorkloadGroup, the workload Kiali opens for the VPS (decision 0012): for every
 * node with an entry of ours, a group of the node's name that the node controls and whose
 * workload labels, as a selector, pick that entry (Kiali's rule: the group's labels over the
 * entry's spec.labels).
 */
export function checkNodeWorkloadGroups(f: DoctorFacts): CheckResult {
  const c = "node-workloadgroups";
  if (!f.workloadGroups.ok) return unreadable(c, "WorkloadGroups", f.workloadGroups.error);
  if (!f.nodes.ok) return unreadable(c, "XrayrNodes", f.nodes.error);
  const groups = new Map(f.workloadGroups.value.map((g) => [g.metadata.name ?? "", g]));
  const entriesOf = new Map<string, WorkloadEntry[]>();
  for (const e of nodeEntries(f)) entriesOf.set(controllerUid(e) ?? "", [...(entriesOf.get(controllerUid(e) ?? "") ?? []), e]);
  const withEntry = f.nodes.value.filter((n) => (entriesOf.get(n.metadata.uid ?? "")?.length ?? 0) > 0);
  if (withEntry.length === 0) return pass(c, "no XrayrNode has an entry yet: no group to check");
  const problems = withEntry.flatMap((n) => {
    const name = n.metadata.name ?? "?";
    const g = groups.get(groupName(name));
    if (g === undefined) return [`${name} (no WorkloadGroup ${groupName(name)})`];
    if (controllerUid(g) !== n.metadata.uid) return [`${name} (WorkloadGroup ${groupName(name)} is ${describeController(g)}, not by this node: GroupNameTaken)`];
    const selected = (entriesOf.get(n.metadata.uid ?? "") ?? []).filter((e) => subset(g.spec?.metadata?.labels, e.spec.labels));
    return selected.length === 0 ? [`${name} (its WorkloadGroup's workload labels select none of its entries)`] : [];
  });
  if (problems.length === 0) return pass(c, `${withEntry.length} XrayrNodes with an entry, each with its own WorkloadGroup selecting it (Kiali opens each VPS as a workload)`);
  return fail(
    c,
    `${problems.length} of ${withEntry.length} XrayrNodes with an entry have no WorkloadGroup of their own selecting it, so Kiali cannot open their VPS as a workload: ${some(problems)}`,
    "the operator creates and repairs each node's group: check that an operator leads (operator-lease) and read the node's WorkloadGroupReady condition (xrayr-mesh status -o wide); delete or rename a group of the node's name that another owner holds",
  );
}

/**
 * The fleet-wide ServiceEntry is optional (deploy/istio/optional/): attribution and Kiali's
 * per-VPS nodes do without it, and while it selects the entries every entry change resends its
 * whole endpoint list to each airport-prod sidecar that imports it. Absent passes; present warns
 * with that cost, so whoever applied it knows what it takes at fleet scale.
 */
export function checkServiceEntry(f: DoctorFacts): CheckResult {
  const c = "serviceentry";
  if (!f.serviceEntries.ok) return unreadable(c, "ServiceEntries", f.serviceEntries.error);
  const entries = entryLabelSets(f);
  const selecting = f.serviceEntries.value.flatMap((s) => {
    const selector = s.spec?.workloadSelector?.labels;
    if (selector === undefined) return [];
    // Judged by the entries it selects: with none (no fleet yet) it costs nothing.
    const n = entries.filter((l) => subset(selector, l)).length;
    return n > 0 ? [{ name: s.metadata.name ?? "?", n }] : [];
  });
  if (selecting.length === 0) {
    return pass(c, `no ServiceEntry selects the XrayrNodes' entries, as shipped (the fleet-wide xrayr-nodes ServiceEntry is optional: deploy/istio/optional/)`);
  }
  const which = selecting.map((s) => `${s.name} (${s.n} of ${entries.length} entries)`).join(", ");
  return warn(
    c,
    `ServiceEntry ${which} selects the XrayrNodes' entries: each entry change resends its whole endpoint list to every sidecar in ${f.namespace} ` +
      "that imports it (measured at 2,000 VPS: 220 KB per change per sidecar, ~70 istiod CPU-ms per change against 2.6 without, register -> Xboard sidecar p99 5.6-10 s at 10 changes/s against 0.4 s)",
    `keep it only if Kiali's service xrayr-nodes is worth that; otherwise kubectl -n ${f.namespace} delete serviceentry ${selecting.map((s) => s.name).join(" ")} (docs/install.md, "istiod at fleet scale")`,
  );
}

/** How far this machine's clock may be off the operator's before an old renewTime fails. */
export const LEASE_CLOCK_MARGIN_SECONDS = 30;

export function checkOperatorLease(f: DoctorFacts): CheckResult {
  const c = "operator-lease";
  if (!f.lease.ok) return unreadable(c, `lease ${f.leaseName}`, f.lease.error);
  const fix = `run the operator in ${f.namespace} with leader election on (deploy/operator, or the chart)`;
  const l = f.lease.value;
  if (l === undefined) return fail(c, `no Lease ${f.namespace}/${f.leaseName}: the operator is not running (or runs without leader election)`, fix);
  const holder = l.spec?.holderIdentity;
  const renew = l.spec?.renewTime !== undefined ? new Date(l.spec.renewTime) : undefined;
  const duration = l.spec?.leaseDurationSeconds ?? 15;
  // A leader that shuts down gracefully hands the Lease back (holder ""): normal during a rollout.
  if (holder === undefined || holder === "" || renew === undefined) {
    return warn(c, `Lease ${f.leaseName} has no holder: no leader right now; a rollout or restart may be in progress`, `if it stays so, ${fix}; kubectl -n ${f.namespace} get pods shows whether the operator runs`);
  }
  // renewTime was written by the leader's clock and is compared with this machine's: allow a margin.
  const ago = Math.round((f.now.getTime() - renew.getTime()) / 1000);
  const clocks = `by this machine's clock against the leader's renewTime`;
  if (ago > duration + LEASE_CLOCK_MARGIN_SECONDS) {
    return fail(c, `Lease ${f.leaseName} held by ${holder} was last renewed ${ago}s ago (${clocks}; duration ${duration}s, margin ${LEASE_CLOCK_MARGIN_SECONDS}s for clock skew): no operator is renewing it`, `${fix}; if the operator runs, check this machine's clock`);
  }
  if (ago > duration) {
    return warn(c, `Lease ${f.leaseName} held by ${holder} was last renewed ${ago}s ago (${clocks}), past its ${duration}s duration: a failover may be in progress, or the clocks differ`, `run doctor again in a minute; if it persists, ${fix}`);
  }
  return pass(c, `the operator ${holder} holds the Lease ${f.leaseName} (renewed ${Math.max(0, ago)}s ago ${clocks})`);
}

export function checkNodesReady(f: DoctorFacts): CheckResult {
  const c = "nodes-ready";
  if (!f.nodes.ok) return unreadable(c, "XrayrNodes", f.nodes.error);
  const nodes = f.nodes.value;
  if (nodes.length === 0) return warn(c, `no XrayrNodes in ${f.namespace}`, "register nodes (sigma-api) or run xrayr-mesh sync");
  const bad = nodes.filter((n) => !isReady(n));
  if (bad.length === 0) return pass(c, `all ${nodes.length} XrayrNodes are Ready`);
  const why = bad.map((n) => `${n.metadata.name ?? "?"} (${readyCondition(n.status)?.reason ?? "no status yet"})`);
  return fail(c, `${bad.length} of ${nodes.length} XrayrNodes are not Ready: ${some(why)}`, "xrayr-mesh status --output wide shows each reason and message");
}

/**
 * Addresses claimed by more than one node, each with the node that holds it by the operator's
 * rule (domain/claims.ts over the operator's own validation): the name doctor gives is the one
 * the losers' AddressConflict condition and `sync` give. An invalid node claims nothing (it has
 * no entry; nodes-ready reports it).
 */
export function checkAddressConflicts(f: DoctorFacts): CheckResult {
  const c = "address-conflicts";
  if (!f.nodes.ok) return unreadable(c, "XrayrNodes", f.nodes.error);
  const claims = f.nodes.value.flatMap((n): Claim[] => {
    const claim = nodeClaim(n, validateNode(n, f.addressPolicy));
    return claim !== undefined ? [claim] : [];
  });
  const contested = contestedAddresses(claims).map((x) => `${x.address}: held by ${x.holder.name}, also claimed by ${x.others.map((o) => o.name).join(", ")}`);
  const addresses = new Set(claims.map((x) => x.address)).size;
  if (contested.length === 0) return pass(c, `${addresses} addresses, each claimed by one valid node`);
  return fail(
    c,
    `${contested.length} addresses are claimed by more than one valid node (the oldest holds it, ties to the smaller name): ${some(contested)}`,
    "retire the stale node (xrayr-mesh retire NAME) or correct its address; the holder keeps the entry meanwhile",
  );
}

/**
 * One workload per address, one entry per node. The sidecar keys its workload store by address
 * and never overwrites: an entry added while another holds its address is ignored, and the
 * other's later removal clears the address (docs/attribution.md), so two entries on one address
 * break attribution of that address, possibly until Xboard's pods restart.
 */
export function checkWorkloadEntries(f: DoctorFacts): CheckResult {
  const c = "workload-entries";
  if (!f.entries.ok) return unreadable(c, "WorkloadEntries", f.entries.error);
  const entries = f.entries.value;
  const byAddress = new Map<string, string[]>();
  for (const e of entries) {
    const a = e.spec.address;
    if (a !== undefined && a !== "") byAddress.set(a, [...(byAddress.get(a) ?? []), e.metadata.name ?? "?"]);
  }
  const byNode = new Map<string, string[]>();
  for (const e of nodeEntries(f)) {
    const uid = controllerUid(e) ?? "";
    byNode.set(uid, [...(byNode.get(uid) ?? []), e.metadata.name ?? "?"]);
  }
  const nodeName = new Map((f.nodes.ok ? f.nodes.value : []).map((n) => [n.metadata.uid ?? "", n.metadata.name ?? "?"]));
  const ownerName = (uid: string): string =>
    nodeName.get(uid) ?? nodeEntries(f).map(xrayrNodeController).find((r) => r?.uid === uid)?.name ?? uid;
  const shared = [...byAddress].filter(([, names]) => names.length > 1).map(([a, names]) => `${a}: ${names.sort().join(", ")}`);
  const doubled = [...byNode].filter(([, names]) => names.length > 1).map(([uid, names]) => `XrayrNode ${ownerName(uid)}: ${names.sort().join(", ")}`);
  const problems: string[] = [];
  const fixes: string[] = [];
  if (shared.length > 0) {
    problems.push(`${shared.length} addresses are held by more than one WorkloadEntry (the sidecar maps an address to one workload): ${some(shared)}`);
    fixes.push(
      `delete the entry that should not hold the address (kubectl -n ${f.namespace} get workloadentries -L mesh.sigma.io/xrayr-node; an XrayrNode's entry carries that label), ` +
        "then restart Xboard's pods: a sidecar that saw both may keep the address unmapped or mapped to the wrong node",
    );
  }
  if (doubled.length > 0) {
    problems.push(`${doubled.length} XrayrNodes control more than one WorkloadEntry: ${some(doubled)}`);
    fixes.push("the operator deletes all but the current one (status.workloadEntry) on its next reconcile; if they stay, check that an operator leads (operator-lease) and read its log");
  }
  if (problems.length > 0) return fail(c, problems.join("; "), fixes.join("; "));
  return pass(c, `${entries.length} WorkloadEntries, ${byNode.size} of them XrayrNodes' (one each); no address held by two`);
}

export const CHECKS = [
  checkIstioCrds,
  checkXrayrNodeCrd,
  checkInjectionLabel,
  checkXboardSidecars,
  checkIstiodAmbient,
  checkPeerMetadataDiscovery,
  checkClientAddress,
  checkWorkloadGroup,
  checkNodeWorkloadGroups,
  checkServiceEntry,
  checkOperatorLease,
  checkNodesReady,
  checkAddressConflicts,
  checkWorkloadEntries,
];

export function runChecks(f: DoctorFacts): CheckResult[] {
  return CHECKS.map((check) => check(f));
}
