// How an existing WorkloadGroup of ours is brought to its desired state in place: the same rule
// as entries (entry-patch.ts: created by POST, so changed by a JSON merge patch under the same
// manager that removes exactly the keys that manager owns and no longer wants), with one
// difference: the group's workload labels are a selector (Kiali picks the group's entries by
// them), so every key there that is not ours is removed too, whoever set it. Pure.
import type { WorkloadGroup } from "../istio/workloadgroup.js";
import { ownedKeys, withRemovals } from "./entry-patch.js";

/** The merge patch that turns `live` into `desired`, with the live resourceVersion as a precondition. */
export function groupUpdatePatch(live: WorkloadGroup, desired: WorkloadGroup, manager: string): Record<string, unknown> {
  const mf = live.metadata.managedFields;
  const selector: Record<string, string | null> = { ...desired.spec.metadata?.labels };
  for (const k of Object.keys(live.spec.metadata?.labels ?? {})) if (!(k in selector)) selector[k] = null;
  const sa = desired.spec.template.serviceAccount;
  const template =
    sa !== undefined ? { serviceAccount: sa } : ownedKeys(mf, manager, ["spec", "template"]).has("serviceAccount") ? { serviceAccount: null } : {};
  return {
    metadata: {
      resourceVersion: live.metadata.resourceVersion,
      labels: withRemovals(mf, manager, ["metadata", "labels"], desired.metadata.labels),
      annotations: withRemovals(mf, manager, ["metadata", "annotations"], desired.metadata.annotations),
    },
    spec: { metadata: { labels: selector }, template },
  };
}
