// How an existing WorkloadEntry is brought to its desired state in place. Entries are created
// with a plain POST (server-side apply costs the API server markedly more, and a backfill of
// the fleet is nothing but creates), so the operator's fields are owned by its manager through
// an Update operation, not an Apply; a later server-side apply would then never remove a label
// the node dropped (the Update entry still owns it). An in-place update is therefore a JSON
// merge patch under the same manager, which removes exactly the fields that manager owns and
// no longer wants, as read from the live object's managedFields. Pure.
import type { ManagedFieldsEntry } from "../api/v1alpha1/types.js";
import type { WorkloadEntry } from "../istio/workloadentry.js";

type FieldSet = Record<string, unknown>;

/** The keys under `path` (e.g. ["spec", "labels"]) that `manager` owns, read from an object's managedFields. */
export function ownedKeys(managedFields: readonly ManagedFieldsEntry[] | undefined, manager: string, path: readonly string[]): Set<string> {
  const keys = new Set<string>();
  for (const m of managedFields ?? []) {
    // Apply or Update: an entry written by an older operator (server-side apply) counts too.
    if (m.manager !== manager || (m.subresource ?? "") !== "") continue;
    let node: unknown = m.fieldsV1;
    for (const part of path) node = isFieldSet(node) ? node[`f:${part}`] : undefined;
    if (!isFieldSet(node)) continue;
    for (const k of Object.keys(node)) if (k.startsWith("f:")) keys.add(k.slice(2));
  }
  return keys;
}

/** Whether `manager` owns the field at `path` itself (e.g. ["spec", "locality"]). */
function ownsField(managedFields: readonly ManagedFieldsEntry[] | undefined, manager: string, path: readonly string[]): boolean {
  const parent = path.slice(0, -1);
  const leaf = path.at(-1) ?? "";
  return ownedKeys(managedFields, manager, parent).has(leaf);
}

function isFieldSet(v: unknown): v is FieldSet {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

/** `want`, plus null (remove) for every key `manager` owns under `path` that `want` lacks. */
export function withRemovals(
  managedFields: readonly ManagedFieldsEntry[] | undefined,
  manager: string,
  path: readonly string[],
  want: Record<string, string> | undefined,
): Record<string, string | null> {
  const out: Record<string, string | null> = { ...want };
  for (const k of ownedKeys(managedFields, manager, path)) if (!(k in out)) out[k] = null;
  return out;
}

/**
 * The merge patch that turns `live` into `desired` for the fields `manager` sets, with the
 * live resourceVersion as a precondition (a concurrent change is a 409 and a retry, never a
 * lost write).
 */
export function entryUpdatePatch(live: WorkloadEntry, desired: WorkloadEntry, manager: string): Record<string, unknown> {
  const mf = live.metadata.managedFields;
  const optional = (field: "serviceAccount" | "locality"): Record<string, string | null> => {
    const v = desired.spec[field];
    if (v !== undefined) return { [field]: v };
    return ownsField(mf, manager, ["spec", field]) ? { [field]: null } : {};
  };
  return {
    metadata: {
      resourceVersion: live.metadata.resourceVersion,
      labels: withRemovals(mf, manager, ["metadata", "labels"], desired.metadata.labels),
      annotations: withRemovals(mf, manager, ["metadata", "annotations"], desired.metadata.annotations),
    },
    spec: {
      address: desired.spec.address,
      labels: withRemovals(mf, manager, ["spec", "labels"], desired.spec.labels),
      ...optional("serviceAccount"),
      ...optional("locality"),
    },
  };
}
