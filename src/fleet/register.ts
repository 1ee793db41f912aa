// What sigma-api's register handler writes: one XrayrNode, applied (server-side) by the field
// manager "sigma-api", labelled as registered by it and with the VPS id. The Rust example in
// examples/sigma-api-register builds the same object; `xrayr-mesh register` is its twin.
import { checkAddressPolicy, type AddressPolicy } from "../crd/address.js";
import { API_VERSION, KIND, type XrayrNode } from "../crd/types.js";
import { validateXrayrNode, type ValidationIssue } from "../crd/validate.js";
import { REGISTERED_BY_LABEL, SIGMA_API_MANAGER, VPS_ID_LABEL } from "./labels.js";

export interface Registration {
  name: string;
  address: string;
  /** Any case; written in lower case. */
  country: string;
  version?: string;
  vpsId?: string;
}

export function registrationNode(reg: Registration, namespace: string): XrayrNode {
  return {
    apiVersion: API_VERSION,
    kind: KIND,
    metadata: {
      name: reg.name,
      namespace,
      labels: { [REGISTERED_BY_LABEL]: SIGMA_API_MANAGER, ...(reg.vpsId !== undefined ? { [VPS_ID_LABEL]: reg.vpsId } : {}) },
    },
    spec: {
      address: reg.address,
      country: reg.country.toLowerCase(),
      ...(reg.version !== undefined ? { version: reg.version } : {}),
      ...(reg.vpsId !== undefined ? { vpsId: reg.vpsId } : {}),
    },
  };
}

/** The node's problems as admission and the operator's address policy would see them. */
export function registrationProblems(node: XrayrNode, policy: AddressPolicy): ValidationIssue[] {
  const v = validateXrayrNode(node);
  if (!v.ok) return v.issues;
  const p = checkAddressPolicy(v.spec.address, policy);
  return p.ok ? [] : [{ field: "spec.address", value: v.spec.address, message: `${p.message.replace(/ADDRESS_POLICY=any/, "--address-policy=any")}.` }];
}
