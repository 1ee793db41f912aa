// Which nodes an informer event concerns, and the indices that answer it. Events only say which
// keys to look at (the reconciler reads the caches itself), but choosing those keys well is
// what keeps a fleet of 10,000 cheap: a node's peers on an address are found by index, not by a
// scan, and an event that cannot change any plan enqueues nothing.
import { objectKey } from "../controller/keys.js";
import type { XrayrNode } from "../api/v1alpha1/types.js";
import { nodeNameOfEntry } from "../domain/entry-name.js";
import type { WorkloadEntry } from "../istio/workloadentry.js";
import { controllerName } from "../domain/ownership.js";
import { GroupIndex } from "./group-index.js";

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

function unique(keys: string[]): string[] {
  return [...new Set(keys)];
}
