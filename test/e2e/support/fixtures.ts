// XrayrNode fixtures and the expectations the operator's contract sets on them.
// Every object a test file creates carries the label e2e.mesh.sigma.io/suite=<file tag>, so
// the file can delete exactly its own objects; leftovers of earlier runs are removed at start.
//
// A node's entry is found by its label mesh.sigma.io/xrayr-node=<node>, never by name: it is
// named <node>-<8 hex>, a digest of what the sidecar reads (address, app, version,
// serviceAccount), and gets a new name whenever one of those changes (docs/attribution.md).
import { randomBytes } from "node:crypto";
import { entryName } from "../../../src/domain/entry-name.js";
import { adminClient, NODE_API_VERSION, type Condition, type Meta, type NodeSpec, type WorkloadEntry, type WorkloadGroup, type XrayrNode } from "./kube.js";
import { NAMESPACE } from "./lab.js";
import { pending, pool, waitFor, type Pending } from "./wait.js";

export const SUITE_LABEL = "e2e.mesh.sigma.io/suite";
export const MANAGED_BY = "app.kubernetes.io/managed-by";
export const OPERATOR_NAME = "xrayr-mesh-operator";
export const ENTRY_SERVICE_ACCOUNT = "xrayr-vm";
export const ENTRY_APP = "xrayr";
/** On every entry's metadata: the node it stands for. */
export const NODE_LABEL = "mesh.sigma.io/xrayr-node";
/** On every entry's spec.labels: Istio's source_workload, the node's name (not the entry's). */
export const WORKLOAD_NAME_LABEL = "service.istio.io/workload-name";

/** Label selector for the entries of node `name`. */
export function nodeSelector(name: string): string {
  return `${NODE_LABEL}=${name}`;
}

/** The name the operator must give the entry of `node` for its current spec (its own function). */
export function expectedEntryName(node: XrayrNode): string {
  return entryName(node.metadata.name, {
    address: node.spec.address,
    app: ENTRY_APP,
    version: node.spec.version ?? "v1",
    serviceAccount: ENTRY_SERVICE_ACCOUNT,
  });
}

/** The entries labelled as node `name`'s (the operator's own and any hand-made look-alike). */
export function nodeEntries(name: string): Promise<WorkloadEntry[]> {
  return adminClient().entries.list(nodeSelector(name));
}

export function readyCondition(node: XrayrNode | undefined): Condition | undefined {
  return node?.status?.conditions?.find((c) => c.type === "Ready");
}

/** The labels the operator must put on the entry's spec for node `name`. */
export function expectedWorkloadLabels(name: string, spec: NodeSpec): Record<string, string> {
  return {
    ...(spec.labels ?? {}),
    app: ENTRY_APP,
    version: spec.version ?? "v1",
    country: spec.country,
    "security.istio.io/tlsMode": "disabled",
    [WORKLOAD_NAME_LABEL]: name,
  };
}

function sameMap(a: Record<string, string> | undefined, b: Record<string, string>): boolean {
  const ak = Object.keys(a ?? {}).sort();
  const bk = Object.keys(b).sort();
  return ak.length === bk.length && ak.every((k, i) => k === bk[i] && a?.[k] === b[k]);
}

/** What is wrong with `entry` as the entry of `node`; empty when it is exactly right. */
export function entryProblems(node: XrayrNode, entry: WorkloadEntry | undefined): string[] {
  if (entry === undefined) return ["no WorkloadEntry"];
  const p: string[] = [];
  const wantName = expectedEntryName(node);
  if (entry.metadata.name !== wantName) p.push(`name ${entry.metadata.name} != ${wantName} (<node>-<digest of address, app, version, serviceAccount>)`);
  if (entry.metadata.deletionTimestamp !== undefined) p.push("entry is being deleted");
  if (entry.spec.address !== node.spec.address) p.push(`spec.address ${String(entry.spec.address)} != ${node.spec.address}`);
  const want = expectedWorkloadLabels(node.metadata.name, node.spec);
  if (!sameMap(entry.spec.labels, want)) p.push(`spec.labels ${JSON.stringify(entry.spec.labels)} != ${JSON.stringify(want)}`);
  if (entry.spec.serviceAccount !== ENTRY_SERVICE_ACCOUNT) p.push(`spec.serviceAccount ${String(entry.spec.serviceAccount)} != ${ENTRY_SERVICE_ACCOUNT}`);
  if (node.spec.locality !== undefined && entry.spec.locality !== node.spec.locality) p.push(`spec.locality ${String(entry.spec.locality)} != ${node.spec.locality}`);
  if (entry.metadata.labels?.[MANAGED_BY] !== OPERATOR_NAME) p.push(`metadata.labels[${MANAGED_BY}] = ${String(entry.metadata.labels?.[MANAGED_BY])}`);
  if (entry.metadata.labels?.[NODE_LABEL] !== node.metadata.name) p.push(`metadata.labels[${NODE_LABEL}] = ${String(entry.metadata.labels?.[NODE_LABEL])}`);
  const wantRef = { apiVersion: NODE_API_VERSION, kind: "XrayrNode", name: node.metadata.name, uid: node.metadata.uid, controller: true, blockOwnerDeletion: true };
  const refs = entry.metadata.ownerReferences ?? [];
  if (refs.length !== 1 || JSON.stringify(sortKeys(refs[0] ?? {})) !== JSON.stringify(sortKeys(wantRef))) {
    p.push(`ownerReferences ${JSON.stringify(refs)} != [${JSON.stringify(wantRef)}]`);
  }
  return p;
}

/**
 * What is wrong with `entries`, every entry labelled as the node's, as the node's entries: there
 * must be exactly one, and it must be exactly right.
 */
export function nodeEntryProblems(node: XrayrNode, entries: readonly WorkloadEntry[]): string[] {
  if (entries.length === 1) return entryProblems(node, entries[0]);
  if (entries.length === 0) return [`no WorkloadEntry labelled ${nodeSelector(node.metadata.name)}`];
  return [`${entries.length} WorkloadEntries labelled ${nodeSelector(node.metadata.name)}, want one: ${entries.map((e) => e.metadata.name).join(", ")}`];
}

function sortKeys(o: object): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** What is wrong with the node's status for a Ready=True verdict on its current generation. */
export function statusProblems(node: XrayrNode): string[] {
  const p: string[] = [];
  const ready = readyCondition(node);
  if (ready?.status !== "True" || ready.reason !== "Reconciled") p.push(`Ready ${ready?.status ?? "missing"}/${ready?.reason ?? "-"}: ${ready?.message ?? ""}`);
  if (node.status?.observedGeneration !== node.metadata.generation) {
    p.push(`status.observedGeneration ${String(node.status?.observedGeneration)} != metadata.generation ${String(node.metadata.generation)}`);
  }
  const entry = expectedEntryName(node);
  if (node.status?.workloadEntry !== entry) p.push(`status.workloadEntry ${String(node.status?.workloadEntry)} != ${entry}`);
  return p;
}

export interface Converged {
  node: XrayrNode;
  entry: WorkloadEntry;
}

/** Reads a node and its entries and reports whether they match the contract: one exact entry. */
export async function probeConverged(name: string): Promise<Converged | Pending> {
  const node = await adminClient().nodes.find(name);
  if (node === undefined) return pending(`XrayrNode ${name} does not exist`);
  const entries = await nodeEntries(name);
  const problems = [...nodeEntryProblems(node, entries), ...statusProblems(node)];
  const entry = entries[0];
  if (problems.length > 0 || entry === undefined) {
    return pending({ node: name, generation: node.metadata.generation, problems, status: node.status, entries: entries.map((e) => ({ name: e.metadata.name, spec: e.spec })) });
  }
  return { node, entry };
}

/** Waits until the node is Ready with an exact entry, for its current generation. */
export function waitConverged(name: string, timeoutMs: number): Promise<Converged> {
  return waitFor(`XrayrNode ${name} Ready with an exact WorkloadEntry`, () => probeConverged(name), { timeoutMs, intervalMs: 50 });
}

/** Waits until the node's Ready condition has `reason` (and status) for its current generation. */
export function waitReason(name: string, reason: string, timeoutMs: number, status = "False"): Promise<XrayrNode> {
  return waitFor(
    `XrayrNode ${name} Ready=${status} ${reason}`,
    async () => {
      const node = await adminClient().nodes.find(name);
      const c = readyCondition(node);
      if (node !== undefined && c?.reason === reason && c.status === status && node.status?.observedGeneration === node.metadata.generation) return node;
      return pending({ exists: node !== undefined, generation: node?.metadata.generation, status: node?.status });
    },
    { timeoutMs, intervalMs: 100 },
  );
}

/** Waits until no entry is labelled as node `name`'s (after the node was deleted, or refused). */
export function waitNodeEntriesGone(name: string, timeoutMs: number): Promise<true> {
  return waitFor(
    `no WorkloadEntry labelled ${nodeSelector(name)}`,
    async () => {
      const left = await nodeEntries(name);
      return left.length === 0 ? true : pending(left.map((e) => ({ name: e.metadata.name, uid: e.metadata.uid, deletionTimestamp: e.metadata.deletionTimestamp, owners: e.metadata.ownerReferences })));
    },
    { timeoutMs, intervalMs: 100 },
  );
}

/** Waits until no WorkloadEntry of that name exists. */
export function waitEntryGone(name: string, timeoutMs: number): Promise<true> {
  return waitFor(
    `WorkloadEntry ${name} to be gone`,
    async () => {
      const e = await adminClient().entries.find(name);
      return e === undefined ? true : pending({ uid: e.metadata.uid, deletionTimestamp: e.metadata.deletionTimestamp, owners: e.metadata.ownerReferences });
    },
    { timeoutMs, intervalMs: 100 },
  );
}

function randomOctet(): number {
  return 1 + (randomBytes(1)[0] ?? 0) % 254;
}

/**
 * Fixtures of one test file: unique node names, unique addresses (127.B.x.y, B random per
 * file; only data, nothing connects to them), the file's label, and cleanup.
 */
export class Fleet {
  readonly selector: string;
  private readonly id = randomBytes(3).toString("hex");
  private readonly octet = randomOctet();
  private names = 0;
  private addresses = 0;

  constructor(readonly tag: string) {
    this.selector = `${SUITE_LABEL}=${tag}`;
  }

  name(prefix: string): string {
    return `${prefix}-${this.id}-${++this.names}`;
  }

  address(): string {
    const n = ++this.addresses;
    return `127.${this.octet}.${Math.floor(n / 250) % 250}.${1 + (n % 250)}`;
  }

  /** A valid node manifest (not created). */
  manifest(name: string, spec: Partial<NodeSpec> = {}): XrayrNode {
    return {
      apiVersion: NODE_API_VERSION,
      kind: "XrayrNode",
      metadata: { name, namespace: NAMESPACE, labels: { [SUITE_LABEL]: this.tag } },
      spec: { address: spec.address ?? this.address(), country: "de", ...spec },
    };
  }

  async create(prefix: string, spec: Partial<NodeSpec> = {}): Promise<XrayrNode> {
    return adminClient().nodes.create(this.manifest(this.name(prefix), spec));
  }

  /** One pass over this file's nodes and all managed entries and groups: what is not converged yet (each node: exactly one exact entry, and its group). */
  // withGroups: false skips the groups, for a poll over thousands of nodes where a third list
  // a second is a load on the API server of its own; a node's group is created before its Ready
  // status is written, so one pass with them once the nodes are Ready still finds a missing one.
  async convergence({ withGroups = true }: { withGroups?: boolean } = {}): Promise<{ nodes: number; entries: number; groups: number; problems: string[] }> {
    const { nodes, entries, groups } = adminClient();
    const [nodeList, entryList, groupList] = await Promise.all([
      nodes.list(this.selector),
      entries.list(`${MANAGED_BY}=${OPERATOR_NAME}`),
      withGroups ? groups.list(`${MANAGED_BY}=${OPERATOR_NAME}`) : Promise.resolve(undefined),
    ]);
    const groupOf = new Map((groupList ?? []).map((g) => [g.metadata.name, g]));
    const byNode = new Map<string, WorkloadEntry[]>();
    for (const e of entryList) {
      const n = e.metadata.labels?.[NODE_LABEL] ?? "";
      byNode.set(n, [...(byNode.get(n) ?? []), e]);
    }
    const problems: string[] = [];
    for (const n of nodeList) {
      const p = [...statusProblems(n), ...nodeEntryProblems(n, byNode.get(n.metadata.name) ?? []), ...(groupList === undefined ? [] : groupProblems(n, groupOf.get(n.metadata.name)))];
      if (p.length > 0) problems.push(`${n.metadata.name}: ${p.join("; ")}`);
    }
    return { nodes: nodeList.length, entries: entryList.length, groups: groupList?.length ?? 0, problems };
  }

  /** Creates `count` nodes with bounded concurrency; onCreated sees the running total. */
  async createMany(prefix: string, count: number, concurrency: number, onCreated?: (done: number) => Promise<void> | void): Promise<XrayrNode[]> {
    let done = 0;
    const names = Array.from({ length: count }, () => this.name(prefix));
    return pool(names, concurrency, async (name) => {
      const created = await adminClient().nodes.create(this.manifest(name));
      done++;
      await onCreated?.(done);
      return created;
    });
  }

  /** Deletes every node and entry of this file (and, with all=true, of any e2e file) and waits until the nodes are gone. */
  async cleanup({ all = false, timeoutMs = 60_000 }: { all?: boolean; timeoutMs?: number } = {}): Promise<void> {
    const selector = all ? SUITE_LABEL : this.selector;
    await deleteAndWait(selector, timeoutMs);
  }
}

/**
 * Deletes nodes and entries with the label selector and waits until no such node is left.
 * The entries the operator made for those nodes are deleted first, directly, rather than left
 * to the garbage collector: at its 20 qps, hundreds of them would keep it busy long enough to
 * slow down the next file's garbage-collection scenario (which tests it on its own). Meant for
 * when no operator runs; entries of nodes that are gone afterwards are deleted as well.
 */
export async function deleteAndWait(selector: string, timeoutMs: number): Promise<void> {
  const { nodes, entries, groups } = adminClient();
  const doomed = new Set((await nodes.list(selector)).map((n) => n.metadata.uid));
  const ownedByDoomed = (o: { metadata: Meta }): boolean => (o.metadata.ownerReferences ?? []).some((r) => r.kind === "XrayrNode" && doomed.has(r.uid));
  // Each node's WorkloadGroup too: as many objects again for the garbage collector otherwise.
  const ownedGroups = (await groups.list(`${MANAGED_BY}=${OPERATOR_NAME}`)).filter(ownedByDoomed);
  await pool((await entries.list(`${MANAGED_BY}=${OPERATOR_NAME}`)).filter(ownedByDoomed), 20, (e) => entries.delete(e.metadata.name));
  await pool(ownedGroups, 20, (g) => groups.delete(g.metadata.name));
  await nodes.deleteAll(selector);
  await entries.deleteAll(selector);
  await waitFor(
    `XrayrNodes with ${selector} to be deleted`,
    async () => {
      const left = await nodes.list(selector);
      return left.length === 0 ? true : pending(`${left.length} left, e.g. ${left.slice(0, 3).map((n) => n.metadata.name).join(", ")}`);
    },
    { timeoutMs, intervalMs: 250 },
  );
  await pool(await orphanEntries(), 20, (e) => entries.delete(e.metadata.name));
  const live = new Set((await nodes.list()).map((n) => n.metadata.uid));
  const orphanGroups = (await groups.list(`${MANAGED_BY}=${OPERATOR_NAME}`)).filter((g) => !(g.metadata.ownerReferences ?? []).some((r) => r.kind === "XrayrNode" && live.has(r.uid)));
  await pool(orphanGroups, 20, (g) => groups.delete(g.metadata.name));
}

/** What is wrong with a node's WorkloadGroup: missing, not controlled by it, or not selecting its entry's workload name. */
function groupProblems(n: XrayrNode, g: WorkloadGroup | undefined): string[] {
  if (g === undefined) return ["no WorkloadGroup"];
  const p: string[] = [];
  if (!(g.metadata.ownerReferences ?? []).some((r) => r.controller === true && r.kind === "XrayrNode" && r.uid === n.metadata.uid)) p.push("group not controlled by the node");
  if (g.spec.metadata?.labels?.["service.istio.io/workload-name"] !== n.metadata.name) p.push(`group labels ${JSON.stringify(g.spec.metadata?.labels)}`);
  return p;
}

/** Entries managed by the operator whose XrayrNode owner no longer exists. */
export async function orphanEntries(): Promise<WorkloadEntry[]> {
  const { nodes, entries } = adminClient();
  const all = await entries.list(`${MANAGED_BY}=${OPERATOR_NAME}`);
  const live = new Set((await nodes.list()).map((n) => n.metadata.uid));
  return all.filter((e) => !(e.metadata.ownerReferences ?? []).some((r) => r.kind === "XrayrNode" && live.has(r.uid)));
}

/** Waits until every WorkloadEntry managed by the operator in the namespace has a live owner. */
export async function waitNoOrphanEntries(timeoutMs: number): Promise<void> {
  await waitFor(
    "no WorkloadEntry without a live XrayrNode owner",
    async () => {
      const orphans = await orphanEntries();
      return orphans.length === 0 ? true : pending(`${orphans.length} orphans, e.g. ${orphans.slice(0, 3).map((e) => e.metadata.name).join(", ")}`);
    },
    { timeoutMs, intervalMs: 250 },
  );
}

/** True for an entry labelled as node `node`'s or controlled by it. */
export function ofNode(node: XrayrNode): (e: WorkloadEntry) => boolean {
  return (e) =>
    e.metadata.labels?.[NODE_LABEL] === node.metadata.name ||
    (e.metadata.ownerReferences ?? []).some((r) => r.controller === true && r.kind === "XrayrNode" && r.uid === node.metadata.uid);
}
