// Who controls an object: the one controller ownerReference, read the same way by the
// reconciler, the watch mapping, `status` and doctor.
import { GROUP, KIND, type OwnerReference } from "../api/v1alpha1/types.js";

interface Owned {
  metadata: { ownerReferences?: OwnerReference[] };
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
export function describeController(obj: Owned & { metadata: { labels?: Record<string, string> } }, managedByLabel: string): string {
  const ref = controllerRef(obj);
  if (ref !== undefined) return `controlled by ${ref.kind} ${ref.name}`;
  const manager = obj.metadata.labels?.[managedByLabel];
  return manager !== undefined ? `managed by ${manager} but controlled by no object` : "controlled by no object";
}

function groupOf(apiVersion: string): string {
  return apiVersion.includes("/") ? apiVersion.slice(0, apiVersion.indexOf("/")) : "";
}
