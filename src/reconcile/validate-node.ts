// The operator's verdict on a node's spec: the CRD's own rules (admission should already have
// enforced them; objects written before a CRD upgrade may not meet them) plus the address
// policy, which only the operator knows. The fleet CLI applies the same function to its rows.
import type { AddressPolicy } from "../crd/address.js";
import type { XrayrNode } from "../api/v1alpha1/types.js";
import { validateSpecWithPolicy } from "../crd/validate.js";
import type { Validation } from "../plan/plan.js";

export function validateNode(node: XrayrNode, policy: AddressPolicy): Validation {
  return validateSpecWithPolicy(node.metadata.name, node.spec, policy);
}
