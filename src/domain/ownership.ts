// Ownership, both ways: the marks the operator writes on every object it makes for a node (its
// manager label, the node's label, the applied-state digest, the node as controller) and the
// reading of them, by the planner, the watch mapping, the metrics, `status` and doctor.
import { API_VERSION, GROUP, KIND, type OwnerReference, type XrayrNode } from "../api/v1alpha1/types.js";

/** The value of app.kubernetes.io/managed-by on every object we write, and our field manager. */
export const MANAGER = "xrayr-mesh-operator";
export const MANAGED_BY_LABEL = "app.kubernetes.io/managed-by";
/** The node an entry or group was written for, for selectors (`kubectl -l mesh.sigma.io/xrayr-node=<node>`). */
export const NODE_LABEL = "mesh.sigma.io/xrayr-node";
/** Records which desired state was last applied, so keys we dropped are noticed and removed. */
export const APPLIED_HASH_ANNOTATION = "mesh.sigma.io/applied-hash";

interface Owned {
  metadata: { ownerReferences?: OwnerReference[]; labels?: Record<string, string> };
}

/** The ownerReference that makes `node` the controller of what we write for it (GC removes it with the node). */
export function controlledBy(node: Pick<XrayrNode, "metadata">): OwnerReference {
  const { name, uid } = node.metadata;
  // Objects from the API server always carry both; a missing one is a programming error.
  if (name === undefined) throw new Error("XrayrNode has no metadata.name");
  if (uid === undefined) throw new Error("XrayrNode has no metadata.uid");
  return { apiVersion: API_VERSION, kind: KIND, name, uid, controller: true, blockOwnerDeletion: true };
}

/**
 * Ours: written by this operator (its managed-by label) for an XrayrNode that controls it. Both
 * marks, because each alone is someone else's too: a person can copy the label onto a hand-made
 * entry, and `kubectl delete --cascade=orphan` leaves our label on an entry no node controls. Only
 * what is ours is counted as the operator's, or deleted as left over by a node that is gone.
 */
export function isOurs(obj: Owned): boolean {
  return obj.metadata.labels?.[MANAGED_BY_LABEL] === MANAGER && controllerUid(obj) !== undefined;
}

/**
 * Ours, and controlled by an XrayrNode of this very name that is not this node (uid): an earlier
 * incarnation, gone since names are unique in a namespace. An object controlled by a node of
 * another name is never taken for this node's leftover, whatever its labels say.
 */
export function isLeftByEarlierNode(obj: Owned, name: string, uid: string): boolean {
  return isOurs(obj) && controllerUid(obj) !== uid && controllerName(obj) === name;
}

/** The object's controller reference, whatever its kind. */
export function controllerRef(obj: Owned): OwnerReference | undefined {
  return obj.metadata.ownerReferences?.find((r) => r.controller === true);
}

/** The controller reference, if the controller is an XrayrNode. */
export function xrayrNodeController(obj: Owned): OwnerReference | undefined {
  const ref = controllerRef(obj);
  return ref !== undefined && ref.kind === KIND && groupOf(ref.apiVersion) === GROUP ? ref : undefined;
}

/** The uid of the controlling XrayrNode, if an XrayrNode controls the object. */
export function controllerUid(obj: Owned): string | undefined {
  return xrayrNodeController(obj)?.uid;
}

/** The name of the controlling XrayrNode, if an XrayrNode controls the object. */
export function controllerName(obj: Owned): string | undefined {
  return xrayrNodeController(obj)?.name;
}

/** "controlled by Kind name", for messages. */
export function describeController(obj: Owned): string {
  const ref = controllerRef(obj);
  if (ref !== undefined) return `controlled by ${ref.kind} ${ref.name}`;
  const manager = obj.metadata.labels?.[MANAGED_BY_LABEL];
  return manager !== undefined ? `managed by ${manager} but controlled by no object` : "controlled by no object";
}

function groupOf(apiVersion: string): string {
  return apiVersion.includes("/") ? apiVersion.slice(0, apiVersion.indexOf("/")) : "";
}
