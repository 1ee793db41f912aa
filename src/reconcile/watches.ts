// Which nodes an informer event concerns, and the indices that answer it. Events only say which
// keys to look at (the reconciler reads the caches itself), but choosing those keys well is
// what keeps a fleet of 10,000 cheap: a node's peers on an address are found by index, not by a
// scan, and an event that cannot change any plan enqueues nothing.
import type { InformerEventHandler } from "../controller/informer.js";
import { objectKey, splitKey } from "../controller/keys.js";
import type { XrayrNode } from "../api/v1alpha1/types.js";
import { nodeNameOfEntry } from "../domain/entry-name.js";
import { nodeNameOfGroup } from "../domain/group-name.js";
import type { WorkloadEntry } from "../istio/workloadentry.js";
import type { WorkloadGroup } from "../istio/workloadgroup.js";
import { controllerName, controllerRef, controllerUid } from "../domain/ownership.js";
import type { AddressExpectations, NameExpectations } from "./expectations.js";
import { GroupIndex } from "./group-index.js";

/** What watching needs of an informer: its cache, and its events. */
export interface WatchedCache<T> {
  get(name: string, namespace?: string): T | undefined;
  addEventHandler(handler: InformerEventHandler<T>): void;
}

/** The questions a reconcile asks of the caches beyond "get by name", answered by index. */
export interface FleetLookups {
  /** The nodes whose spec.address is `address` (the asking node included). */
  nodesOn(address: string): XrayrNode[];
  /** Live entries controlled by an XrayrNode named `name` in `namespace`. */
  entriesOf(name: string, namespace: string): WorkloadEntry[];
  /** Live entries on `address` in `namespace`. */
  entriesOn(address: string, namespace: string): WorkloadEntry[];
  /** Whether the XrayrNode controlling `entry` still exists (same name and uid). */
  ownerExists(entry: WorkloadEntry): boolean;
  /** When the node watch saw the XrayrNode of `uid` deleted (Date.now()), if it did lately. */
  retiredAt(uid: string): number | undefined;
}

export interface FleetCaches {
  nodes: WatchedCache<XrayrNode>;
  entries: WatchedCache<WorkloadEntry>;
  groups: WatchedCache<WorkloadGroup>;
}

/** Our writes until the watch shows them: entries by address (decision 0010), groups by name. */
export interface FleetExpectations {
  entries: AddressExpectations;
  groups: NameExpectations;
}

/**
 * Watches the caches: keeps the indices, tells the expectations what the watch has shown, and
 * hands `enqueue` the keys each event concerns. Returns the lookups the reconciler asks.
 */
export function watchFleet(caches: FleetCaches, seenBy: FleetExpectations, enqueue: (keys: readonly string[]) => void, now: () => number = Date.now): FleetLookups {
  const { nodes, entries, groups } = caches;
  const expectations = seenBy.entries;
  const index = new FleetIndex();
  const retired = new Retirements(now);
  nodes.addEventHandler({
    onAdd: (n) => { enqueue(index.nodeChanged(n)); },
    onUpdate: (n, old) => { enqueue(index.nodeChanged(n, old)); },
    onDelete: (n) => {
      retired.add(n.metadata.uid ?? "");
      enqueue(index.nodeDeleted(n));
    },
  });
  const seen = (e: WorkloadEntry): void => { expectations.observedPresent(e.metadata.namespace ?? "", e.metadata.name ?? ""); };
  entries.addEventHandler({
    onAdd: (e) => { seen(e); enqueue(index.entryChanged(e)); },
    onUpdate: (e) => { seen(e); enqueue(index.entryChanged(e)); },
    onDelete: (e) => {
      expectations.observedGone(e.metadata.namespace ?? "", e.metadata.name ?? "", e.metadata.uid ?? "");
      enqueue(index.entryDeleted(e));
    },
  });
  // A group is named after its node: an event concerns that node, if it exists (or was just
  // retired: its group is a leftover) and the event changed something its plan reads (a status
  // or resourceVersion alone does not).
  const groupNode = (g: WorkloadGroup): string[] => {
    const ns = g.metadata.namespace ?? "";
    const name = nodeNameOfGroup(g.metadata.name ?? "");
    return nodes.get(name, ns) === undefined && retired.at(controllerUid(g) ?? "") === undefined ? [] : [`${ns}/${name}`];
  };
  groups.addEventHandler({
    onAdd: (g) => {
      // The echo of our own create: the plan has counted the group as present since it sent it
      // (the create's expectation), so seeing it changes no plan. Anyone else's group, or ours
      // from before a restart, is looked at.
      const echo = seenBy.groups.observedPresent(g.metadata.namespace ?? "", g.metadata.name ?? "");
      const node = nodes.get(nodeNameOfGroup(g.metadata.name ?? ""), g.metadata.namespace);
      if (!(echo && node !== undefined && controllerUid(g) === node.metadata.uid)) enqueue(groupNode(g));
    },
    onUpdate: (g, old) => {
      seenBy.groups.observedPresent(g.metadata.namespace ?? "", g.metadata.name ?? "");
      if (old === undefined || groupPlanInputsChanged(old, g)) enqueue(groupNode(g));
    },
    onDelete: (g) => {
      seenBy.groups.observedGone(g.metadata.namespace ?? "", g.metadata.name ?? "");
      enqueue(groupNode(g));
    },
  });
  const lookup = <T>(cache: WatchedCache<T>, keys: readonly string[]): T[] =>
    keys.flatMap((key) => {
      const { namespace, name } = splitKey(key);
      const o = cache.get(name, namespace);
      return o === undefined ? [] : [o];
    });
  return {
    nodesOn: (address) => lookup(nodes, index.nodesByAddress.keys(address)),
    entriesOf: (name, namespace) => lookup(entries, index.entriesByNode.keys(`${namespace}/${name}`)),
    entriesOn: (address, namespace) => lookup(entries, index.entriesByAddress.keys(address)).filter((e) => e.metadata.namespace === namespace),
    ownerExists: (e) => {
      const owner = controllerName(e);
      return owner !== undefined && nodes.get(owner, e.metadata.namespace)?.metadata.uid === controllerUid(e);
    },
    retiredAt: (uid) => retired.at(uid),
  };
}

// How long a retirement is remembered: longer than any write of ours can take to land (the
// writer's timeout) and than the garbage collector should ever need; after a restart the
// garbage collector alone removes what is left.
const RETIREMENT_MEMORY_MS = 10 * 60_000;

/** The uids of XrayrNodes the node watch saw deleted lately, and when. */
class Retirements {
  // Insertion order is time order: the expired ones are at the front.
  private readonly byUid = new Map<string, number>();

  constructor(private readonly now: () => number) {}

  add(uid: string): void {
    if (uid === "") return;
    const t = this.now();
    this.byUid.set(uid, t);
    for (const [u, at] of this.byUid) {
      if (t - at <= RETIREMENT_MEMORY_MS) break;
      this.byUid.delete(u);
    }
  }

  at(uid: string): number | undefined {
    const at = this.byUid.get(uid);
    return at !== undefined && this.now() - at <= RETIREMENT_MEMORY_MS ? at : undefined;
  }
}

export class FleetIndex {
  /** Node keys by spec.address. */
  readonly nodesByAddress = new GroupIndex();
  /** Entry keys by the key of the XrayrNode that controls them. */
  readonly entriesByNode = new GroupIndex();
  /** Entry keys by spec.address. */
  readonly entriesByAddress = new GroupIndex();

  /**
   * A node was added or changed: the node itself, and every node on its old and new address
   * (one of them may now win or lose it). Nothing when only fields no plan reads changed.
   */
  nodeChanged(node: XrayrNode, old?: XrayrNode): string[] {
    const key = objectKey(node);
    const before = this.nodesByAddress.set(key, node.spec.address);
    if (old !== undefined && !planInputsChanged(old, node)) return [];
    return unique([key, ...(before !== node.spec.address && before !== undefined ? this.nodesByAddress.keys(before) : []), ...this.nodesByAddress.keys(node.spec.address)]);
  }

  /** A node is gone: itself (its verdict is dropped) and the nodes that may now take its address. */
  nodeDeleted(node: XrayrNode): string[] {
    const key = objectKey(node);
    this.nodesByAddress.delete(key);
    return unique([key, ...this.nodesByAddress.keys(node.spec.address)]);
  }

  /**
   * An entry was added or changed: the node that controls it or, for an entry no XrayrNode
   * controls, the node whose entry name it takes, which may now be NameTaken or free, and the
   * nodes on its address, which it now blocks (UnownedEntry).
   */
  entryChanged(entry: WorkloadEntry): string[] {
    const key = objectKey(entry);
    let before: string | undefined;
    if (entry.spec.address !== undefined) before = this.entriesByAddress.set(key, entry.spec.address);
    else this.entriesByAddress.delete(key);
    const node = nodeKeyOfEntry(entry);
    const owned = controllerName(entry) !== undefined;
    if (owned && node !== undefined) this.entriesByNode.set(key, node);
    else this.entriesByNode.delete(key);
    return unique([...(node === undefined ? [] : [node]), ...(owned ? [] : this.nodesOn(entry.spec.address, before))]);
  }

  /** An entry is gone: its node, and, if no XrayrNode controlled it, the nodes it blocked. */
  entryDeleted(entry: WorkloadEntry): string[] {
    const key = objectKey(entry);
    this.entriesByNode.delete(key);
    this.entriesByAddress.delete(key);
    const node = nodeKeyOfEntry(entry);
    const owned = controllerName(entry) !== undefined;
    return unique([...(node === undefined ? [] : [node]), ...(owned ? [] : this.nodesOn(entry.spec.address))]);
  }

  private nodesOn(...addresses: (string | undefined)[]): string[] {
    return addresses.flatMap((a) => (a === undefined || a === "" ? [] : this.nodesByAddress.keys(a)));
  }
}

/** The key of the node an entry belongs to: its controller, else the node its name is derived from. */
export function nodeKeyOfEntry(entry: WorkloadEntry): string | undefined {
  const name = controllerName(entry) ?? nodeNameOfEntry(entry.metadata.name ?? "");
  return name === undefined ? undefined : `${entry.metadata.namespace ?? ""}/${name}`;
}

/**
 * Whether a node's new version can plan differently from the old: its identity, spec
 * (generation), deletion, or the status fields the reconciler owns (someone else clearing a
 * condition must be repaired). Labels, annotations and status.traffic are read by no plan: a
 * traffic write or sync's bookkeeping would otherwise reconcile the node and its peers again.
 */
export function planInputsChanged(old: XrayrNode, node: XrayrNode): boolean {
  const a = old.metadata;
  const b = node.metadata;
  return (
    a.uid !== b.uid ||
    a.generation !== b.generation ||
    a.deletionTimestamp !== b.deletionTimestamp ||
    // generation already tracks the spec where the status subresource is on; the spec itself
    // is compared too so that correctness does not hang on that.
    JSON.stringify(old.spec) !== JSON.stringify(node.spec) ||
    old.status?.observedGeneration !== node.status?.observedGeneration ||
    old.status?.workloadEntry !== node.status?.workloadEntry ||
    JSON.stringify(old.status?.conditions) !== JSON.stringify(node.status?.conditions)
  );
}

/** Whether a group's new version can plan differently: what compareGroup and the ownership checks read. */
export function groupPlanInputsChanged(old: WorkloadGroup, group: WorkloadGroup): boolean {
  const a = old.metadata;
  const b = group.metadata;
  return (
    a.uid !== b.uid ||
    a.deletionTimestamp !== b.deletionTimestamp ||
    JSON.stringify(controllerRef(old)) !== JSON.stringify(controllerRef(group)) ||
    JSON.stringify(a.labels) !== JSON.stringify(b.labels) ||
    JSON.stringify(a.annotations) !== JSON.stringify(b.annotations) ||
    JSON.stringify(old.spec.metadata) !== JSON.stringify(group.spec.metadata) ||
    old.spec.template.serviceAccount !== group.spec.template.serviceAccount
  );
}

function unique(keys: string[]): string[] {
  return [...new Set(keys)];
}
