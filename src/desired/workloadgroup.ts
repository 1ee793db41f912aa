// Desired state: the WorkloadGroup for one XrayrNode. Pure.
//
// Kiali lists as workloads only pod owners and WorkloadGroups; a WorkloadEntry alone is not one,
// so a VPS's node in the workload graph opened "Workload not found" (issue 12). A group named
// after the node, whose workload labels select exactly that node's entry, is the workload Kiali
// finds: one replica, its own entry. istiod reads a group only when a proxy connects asking to
// auto-register into it, or for the health checks its `probe` asks for; neither happens here
// (nothing runs on a VPS, and no probe is set), so the group changes nothing on the attribution
// path (docs/attribution.md, "What Kiali shows per VPS").
import type { XrayrNode } from "../api/v1alpha1/types.js";
import { groupName } from "../domain/group-name.js";
import { APPLIED_HASH_ANNOTATION, controlledBy, MANAGED_BY_LABEL, MANAGER, NODE_LABEL } from "../domain/ownership.js";
import { WG_API_VERSION, WG_KIND, type WorkloadGroup } from "../istio/workloadgroup.js";
import { WORKLOAD_NAME_LABEL, appliedHash, required, sortKeys, type EntryOptions } from "./workloadentry.js";

/**
 * The labels that make a group the workload of exactly one node's entry: `app` (Kiali's app)
 * and the workload name, which only that node's entry carries among its workload labels
 * (desiredWorkloadEntry sets it to the node's name, and a node's own labels may not set it).
 */
export function groupWorkloadLabels(node: string, opts: Pick<EntryOptions, "appLabel">): Record<string, string> {
  return sortKeys({ app: opts.appLabel, [WORKLOAD_NAME_LABEL]: node });
}

export function desiredWorkloadGroup(node: XrayrNode, opts: EntryOptions): WorkloadGroup {
  const nodeName = required(node.metadata.name, "metadata.name");
  const name = groupName(nodeName);
  const group: WorkloadGroup = {
    apiVersion: WG_API_VERSION,
    kind: WG_KIND,
    metadata: {
      name,
      namespace: required(node.metadata.namespace, "metadata.namespace"),
      labels: sortKeys({ [MANAGED_BY_LABEL]: MANAGER, [NODE_LABEL]: nodeName, app: opts.appLabel }),
      ownerReferences: [controlledBy(node)],
    },
    spec: {
      metadata: { labels: groupWorkloadLabels(nodeName, opts) },
      // Required by the CRD. Read only for a proxy auto-registering into the group, which never
      // happens for a VPS; the service account is the entries' own so the two never disagree.
      template: opts.serviceAccount === "" ? {} : { serviceAccount: opts.serviceAccount },
    },
  };
  group.metadata.annotations = { [APPLIED_HASH_ANNOTATION]: appliedHash(group) };
  return group;
}
