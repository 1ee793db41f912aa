// The operator's verdict on a node's spec: the CRD's own rules (admission should already have
// enforced them; objects written before a CRD upgrade may not meet them) plus the address
// policy, which only the operator knows.
import type { AddressPolicy } from "../crd/address.js";
import { checkAddressPolicy } from "../crd/address.js";
import type { XrayrNode } from "../crd/types.js";
import { validateXrayrNode } from "../crd/validate.js";
import type { Validation } from "../plan/plan.js";

export function validateNode(node: XrayrNode, policy: AddressPolicy): Validation {
  const result = validateXrayrNode({ metadata: { name: node.metadata.name }, spec: node.spec });
  if (!result.ok) return result;
  const policyResult = checkAddressPolicy(result.spec.address, policy);
  if (!policyResult.ok) {
    return { ok: false, issues: [{ field: "spec.address", value: result.spec.address, message: `spec.address: ${policyResult.message}` }] };
  }
  return result;
}
