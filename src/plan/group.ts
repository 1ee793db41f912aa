// Plan: the node's WorkloadGroup (desired/workloadgroup.ts), Kiali's handle on the VPS's entry.
// Pure, and apart from the entry's plan: the group never decides whether the VPS's traffic is
// attributed (the entry does, and Ready says so); its own verdict is the node's
// WorkloadGroupReady condition (docs/decisions/0013). Planned only once the entry is in place,
// and carried out after it.
import type { GroupReason, XrayrNode } from "../api/v1alpha1/types.js";
import { APPLIED_HASH_ANNOTATION, controllerUid, describeController, isLeftByEarlierNode } from "../domain/ownership.js";
import type { WorkloadGroup } from "../istio/workloadgroup.js";
import { includes, sameMap } from "./maps.js";
import type { Verdict } from "./plan.js";

export type GroupAction =
  | { kind: "apply-group"; group: WorkloadGroup; why: "create" | "update" | "drift" }
  | { kind: "delete-group"; namespace: string; name: string; uid: string; why: string };

export interface GroupInput {
  node: XrayrNode;
  /** The group the node should have (desired/workloadgroup.ts). */
  desired: WorkloadGroup;
  /** The live group of that name, whoever controls it. */
  live: WorkloadGroup | undefined;
  /** A create of that group by us that the watch has not shown yet (the cache would say it is missing). */
  createUnseen: boolean;
}

export interface GroupPlan {
  steps: GroupAction[];
  /** The WorkloadGroupReady condition once the steps are done. */
  verdict: Verdict<GroupReason>;
}

export function planGroup(input: GroupInput): GroupPlan {
  const { node, desired, live, createUnseen } = input;
  const ns = node.metadata.namespace ?? "";
  const name = node.metadata.name ?? "";
  const uid = node.metadata.uid ?? "";
  const groupName = desired.metadata.name ?? "";
  const inPlace: Verdict<GroupReason> = {
    ready: true,
    reason: "Reconciled",
    message: `WorkloadGroup ${ns}/${groupName} selects the node's WorkloadEntry: Kiali shows the VPS as workload ${name}`,
  };
  const create: GroupAction = { kind: "apply-group", group: desired, why: "create" };
  if (live === undefined) return { steps: createUnseen ? [] : [create], verdict: inPlace };
  if (controllerUid(live) === uid) {
    const why = compareGroup(live, desired);
    return { steps: why === undefined ? [] : [{ kind: "apply-group", group: desired, why }], verdict: inPlace };
  }
  if (isLeftByEarlierNode(live, name, uid)) {
    const del: GroupAction = { kind: "delete-group", namespace: ns, name: groupName, uid: live.metadata.uid ?? "", why: "left by an earlier XrayrNode of this name" };
    return { steps: [del, create], verdict: inPlace };
  }
  // Someone else's group of this name is left untouched and reported, like NameTaken for an
  // entry; the node's traffic is attributed all the same (Ready stays True).
  return {
    steps: [],
    verdict: {
      ready: false,
      reason: "GroupNameTaken",
      message:
        `WorkloadGroup ${ns}/${groupName} already exists and is not owned by this XrayrNode (${describeController(live)}); ` +
        `it is left untouched. The node's entry is in place and its traffic is attributed, but Kiali shows that group as ` +
        `workload ${name}: delete or rename the group, or rename this node`,
    },
  };
}

/** The WorkloadGroupReady verdict while the node's entry is not in place: the group waits for it. */
export function groupWaitsForEntry(entryVerdict: Verdict): Verdict<GroupReason> {
  return {
    ready: false,
    reason: "EntryNotReady",
    message: `the WorkloadGroup follows the node's WorkloadEntry, which is not in place (Ready is False: ${entryVerdict.reason})`,
  };
}

/** Why the live group must be re-applied, or undefined when it already matches. */
export function compareGroup(live: WorkloadGroup, desired: WorkloadGroup): "update" | "drift" | undefined {
  if (live.metadata.annotations?.[APPLIED_HASH_ANNOTATION] !== desired.metadata.annotations?.[APPLIED_HASH_ANNOTATION]) {
    return "update";
  }
  // The workload labels are a selector (Kiali picks the group's entries by them): a key added by
  // anyone narrows it, so they must be exactly ours. Elsewhere only the fields we set count.
  const same =
    sameMap(live.spec.metadata?.labels, desired.spec.metadata?.labels) &&
    (desired.spec.template.serviceAccount === undefined || live.spec.template.serviceAccount === desired.spec.template.serviceAccount) &&
    includes(live.metadata.labels, desired.metadata.labels);
  return same ? undefined : "drift";
}
