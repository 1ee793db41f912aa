// A node's validity, as one type for every part that asks: the operator's reconcile, `sync`,
// `register` and doctor. The verdict itself is made in one place, crd/validate.ts (validateNode:
// the CRD's rules as admission enforces them, plus the address policy only the operator knows).
import type { XrayrNodeSpec } from "../api/v1alpha1/types.js";

/** A spec that has passed validation, as admission stores it: the version defaulted. */
export type ValidSpec = XrayrNodeSpec & { version: string };

export interface ValidationIssue {
  /** Dotted field path as admission reports it: "metadata.name", "spec.address", "spec.labels", ... */
  field: string;
  /** The offending value (for spec.labels: the offending key, label value, or the whole map). */
  value: unknown;
  /** A full sentence naming the field and the value. */
  message: string;
}

/** Valid, with the spec as admission stores it; or not, with every issue found. */
export type Validity = { ok: true; spec: ValidSpec } | { ok: false; issues: ValidationIssue[] };
