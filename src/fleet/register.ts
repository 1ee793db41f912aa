// What sigma-api's register handler writes: one XrayrNode, applied (server-side) by the field
// manager "sigma-api", labelled as registered by it and with the VPS id. The Rust example in
// examples/sigma-api-register builds the same object; `xrayr-mesh register` is its twin.
import type { AddressPolicy } from "../crd/address.js";
import { API_VERSION, KIND, type XrayrNode } from "../api/v1alpha1/types.js";
import { validateSpecWithPolicy } from "../crd/validate.js";
import type { ValidationIssue } from "../domain/validity.js";
import { normaliseCountry, VPS_ID_LABEL, vpsIdOf } from "../domain/vps.js";
import { REGISTERED_BY_LABEL, SIGMA_API_MANAGER } from "./labels.js";

export interface Registration {
  name: string;
  address: string;
  /** Any case; written as normaliseCountry spells it. */
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
      country: normaliseCountry(reg.country),
      ...(reg.version !== undefined ? { version: reg.version } : {}),
      ...(reg.vpsId !== undefined ? { vpsId: reg.vpsId } : {}),
    },
  };
}

/** The node's problems as admission and the operator's address policy would see them. */
export function registrationProblems(node: XrayrNode, policy: AddressPolicy): ValidationIssue[] {
  const v = validateSpecWithPolicy(node.metadata.name, node.spec, policy, {
    policyMessage: (_address, refusal) => `${refusal.message.replace("(set ADDRESS_POLICY=any to allow)", "(pass --address-policy=any to allow)")}.`,
  });
  return v.ok ? [] : v.issues;
}

/**
 * Why registering `reg` over the live node of the same name would take over another VPS's node,
 * or undefined when it would not: the live node stands for a VPS id (label or spec.vpsId) and
 * the registration names another one, or none. `xrayr-mesh register --force` (and the Rust
 * example's `--force`) overrides it.
 */
export function registrationConflict(existing: XrayrNode | undefined, reg: Registration): string | undefined {
  if (existing === undefined) return undefined;
  const liveId = vpsIdOf(existing);
  if (liveId === undefined || liveId === reg.vpsId) return undefined;
  const ns = existing.metadata.namespace !== undefined ? `${existing.metadata.namespace}/` : "";
  const mine = reg.vpsId !== undefined ? `VPS ${reg.vpsId}` : "a registration without --vps-id";
  return `XrayrNode ${ns}${reg.name} already stands for VPS ${liveId}, not ${mine}: pick the name of this VPS (docs/fleet-format.md's naming rule), or pass --force to take the node over.`;
}
