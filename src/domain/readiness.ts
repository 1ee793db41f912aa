// Whether a node is Ready: its Ready condition is True, which the reconciler sets once the node's
// WorkloadEntry is in place, so the VPS's traffic is attributed to it. The traffic reporter, the
// node_info series, `verify`, `status` and doctor all ask this one question.
import type { Condition, XrayrNode, XrayrNodeStatus } from "../api/v1alpha1/types.js";

export const READY = "Ready";

export function readyCondition(status: XrayrNodeStatus | undefined): Condition | undefined {
  return status?.conditions?.find((c) => c.type === READY);
}

export function isReady(node: Pick<XrayrNode, "status">): boolean {
  return readyCondition(node.status)?.status === "True";
}
