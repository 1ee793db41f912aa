// Whether a node is Ready: its Ready condition is True, which the reconciler sets once the node's
// WorkloadEntry is in place, so the VPS's traffic is attributed to it. The traffic reporter, the
// node_info series, `verify`, `status` and doctor all ask this one question. Whether Kiali can
// open the VPS as a workload (its WorkloadGroup) is a condition of its own, beside Ready and
// never part of it (docs/decisions/0013).
import type { Condition, XrayrNode, XrayrNodeStatus } from "../api/v1alpha1/types.js";

export const READY = "Ready";
export const GROUP_READY = "WorkloadGroupReady";

export function readyCondition(status: XrayrNodeStatus | undefined): Condition | undefined {
  return status?.conditions?.find((c) => c.type === READY);
}

export function groupCondition(status: XrayrNodeStatus | undefined): Condition | undefined {
  return status?.conditions?.find((c) => c.type === GROUP_READY);
}

export function isReady(node: Pick<XrayrNode, "status">): boolean {
  return readyCondition(node.status)?.status === "True";
}

/** Whether the node's WorkloadGroup is in place (Kiali can open the VPS as a workload). */
export function isGroupReady(node: Pick<XrayrNode, "status">): boolean {
  return groupCondition(node.status)?.status === "True";
}
