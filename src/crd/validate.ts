// The XrayrNode spec and name rules in zod, mirroring exactly what admission enforces with the
// CRD from src/crd/manifest.ts (OpenAPI schema + CEL). Both read their patterns from
// src/api/v1alpha1/patterns.ts. test/fixtures/validation-table.json is the shared truth: the unit test
// replays it here, the lab replays it against a real kube-apiserver.
//
// Admission behaviours mirrored here, besides the rules themselves:
//   - unknown spec fields are pruned (not an error) -> zod strips them;
//   - a null in a non-nullable field is pruned before defaulting (apiextensions-apiserver
//     PruneNonNullableNullsWithoutDefaults), so `version: null` becomes "v1", `vpsId: null`
//     disappears, `address: null` is "required", `labels: {k: null}` drops the key;
//   - spec.version is defaulted to "v1" when absent.

import { z } from "zod";
import { checkAddressPolicy, parseAddress, type AddressPolicy, type PolicyResult } from "./address.js";
import { COUNTRY_CODE_SET } from "./countries.js";
import {
  ADDRESS_MAX_LENGTH,
  DEFAULT_VERSION,
  DNS1123_LABEL_MAX_LENGTH,
  DNS1123_LABEL_PATTERN,
  LABEL_VALUE_MAX_LENGTH,
  LABEL_VALUE_NONEMPTY_PATTERN,
  LABEL_VALUE_PATTERN,
  LOCALITY_MAX_LENGTH,
  LOCALITY_PATTERN,
  MAX_LABELS,
  QUALIFIED_NAME_PATTERN,
  QUALIFIED_NAME_PREFIX_MAX_LENGTH,
  RESERVED_LABEL_KEY_PATTERN,
  RESERVED_LABEL_KEYS_TEXT,
  RESERVED_NODE_NAMES,
  RESERVED_NODE_NAMES_TEXT,
  regex,
} from "../api/v1alpha1/patterns.js";
import type { XrayrNode } from "../api/v1alpha1/types.js";
import type { ValidationIssue, ValidSpec, Validity } from "../domain/validity.js";

const DNS1123_LABEL_RE = regex(DNS1123_LABEL_PATTERN);
const LABEL_VALUE_NONEMPTY_RE = regex(LABEL_VALUE_NONEMPTY_PATTERN);
const LABEL_VALUE_RE = regex(LABEL_VALUE_PATTERN);
const QUALIFIED_NAME_RE = regex(QUALIFIED_NAME_PATTERN);
const RESERVED_LABEL_KEY_RE = regex(RESERVED_LABEL_KEY_PATTERN);
const LOCALITY_RE = regex(LOCALITY_PATTERN);

const q = (v: unknown): string => (typeof v === "string" ? JSON.stringify(v) : describeType(v));

/** A value as a message shows it: "missing", "null", "a list", "an object", a quoted string, "number 45". */
export function describeType(v: unknown): string {
  if (v === undefined) return "missing";
  if (v === null) return "null";
  if (Array.isArray(v)) return "a list";
  if (typeof v === "object") return "an object";
  if (typeof v === "string") return JSON.stringify(v);
  if (typeof v === "number" || typeof v === "boolean" || typeof v === "bigint") return `${typeof v} ${String(v)}`;
  return typeof v;
}

// --- single-value rules, each returning a full sentence or undefined -----------------------

export const LABEL_VALUE_RULE_TEXT =
  "at most 63 characters, alphanumerics plus '-', '_' and '.', starting and ending with an alphanumeric";

/** `field` names the value in the message (the fleet CLI passes its own column names). */
export function addressProblem(s: string, field = "spec.address"): string | undefined {
  if (s.length > ADDRESS_MAX_LENGTH) {
    return `${field} ${q(s)} is too long (${s.length} characters; an IP address has at most ${ADDRESS_MAX_LENGTH}).`;
  }
  const r = parseAddress(s);
  return r.ok ? undefined : `${field} ${q(s)} ${r.reason}.`;
}

export function countryProblem(s: string, field = "spec.country"): string | undefined {
  if (COUNTRY_CODE_SET.has(s)) return undefined;
  const lower = s.toLowerCase();
  let hint = "";
  if (lower === "uk") hint = ` (the ISO code for the United Kingdom is "gb")`;
  else if (lower === "eu") hint = ` ("eu" is not a country)`;
  else if (COUNTRY_CODE_SET.has(lower)) hint = ` (write it in lower case: ${JSON.stringify(lower)})`;
  return `${field} ${q(s)} is not an officially assigned ISO 3166-1 alpha-2 country code in lower case, e.g. "de"${hint}.`;
}

export function labelValueProblem(field: string, s: string, allowEmpty: boolean): string | undefined {
  if (s === "" && !allowEmpty) return `${field} ${q(s)} must not be empty.`;
  if (s.length > LABEL_VALUE_MAX_LENGTH) {
    return `${field} ${q(s)} is too long (${s.length} characters; a label value has at most ${LABEL_VALUE_MAX_LENGTH}).`;
  }
  const re = allowEmpty ? LABEL_VALUE_RE : LABEL_VALUE_NONEMPTY_RE;
  return re.test(s) ? undefined : `${field} ${q(s)} is not a valid Kubernetes label value (${LABEL_VALUE_RULE_TEXT}).`;
}

export function localityProblem(s: string): string | undefined {
  if (s.length <= LOCALITY_MAX_LENGTH && LOCALITY_RE.test(s)) return undefined;
  return (
    `spec.locality ${q(s)} must be region[/zone[/subzone]]: 1 to 3 non-empty segments separated by "/", ` +
    `each a label value (${LABEL_VALUE_RULE_TEXT}).`
  );
}

/** Syntax of a label key (Kubernetes qualified name). */
export function labelKeySyntaxProblem(k: string): string | undefined {
  const slash = k.indexOf("/");
  if (QUALIFIED_NAME_RE.test(k) && (slash === -1 || slash <= QUALIFIED_NAME_PREFIX_MAX_LENGTH)) return undefined;
  return (
    `spec.labels key ${q(k)} is not a valid Kubernetes label key: [prefix/]name, where name is ${LABEL_VALUE_RULE_TEXT} ` +
    `and the optional prefix is a lower-case DNS subdomain of at most ${QUALIFIED_NAME_PREFIX_MAX_LENGTH} characters.`
  );
}

export function labelKeyReservedProblem(k: string): string | undefined {
  if (!RESERVED_LABEL_KEY_RE.test(k)) return undefined;
  return `spec.labels key ${q(k)} is reserved: the operator or Istio gives meaning to ${RESERVED_LABEL_KEYS_TEXT}.`;
}

/** Whether `s` is a Kubernetes DNS-1123 label (what namespace and node names must be). */
export function isDns1123Label(s: string): boolean {
  return s.length <= DNS1123_LABEL_MAX_LENGTH && DNS1123_LABEL_RE.test(s);
}

/** The node name rule: a DNS-1123 label, and none of the names Kiali already gives a meaning. */
export function nameProblem(name: string | undefined): string | undefined {
  if (name === undefined || name === "") return "metadata.name is required.";
  if (!isDns1123Label(name)) {
    return (
      `metadata.name ${q(name)} must be a DNS-1123 label (at most ${DNS1123_LABEL_MAX_LENGTH} characters, lower-case ` +
      `alphanumerics and '-', starting and ending with an alphanumeric): it becomes the WorkloadEntry name and Istio's source_workload.`
    );
  }
  if (RESERVED_NODE_NAMES.includes(name)) {
    return `metadata.name ${q(name)} is reserved: a node's name becomes Istio's source_workload, and Kiali already uses ${RESERVED_NODE_NAMES_TEXT}.`;
  }
  return undefined;
}

// --- the zod schema ----------------------------------------------------------------------

function stringField(field: string) {
  return z.string({
    error: (iss) =>
      iss.input === undefined ? `${field} is required.` : `${field} must be a string, not ${describeType(iss.input)}.`,
  });
}

function check(problem: (s: string) => string | undefined) {
  return (s: string, ctx: z.RefinementCtx<string>): void => {
    const message = problem(s);
    if (message !== undefined) ctx.addIssue({ code: "custom", message, input: s });
  };
}

const labelsSchema = z
  .record(
    z.string(),
    z.string({ error: (iss) => `spec.labels value ${describeType(iss.input)} must be a string.` }),
    { error: (iss) => `spec.labels must be a map of strings, not ${describeType(iss.input)}.` },
  )
  .superRefine((labels, ctx) => {
    const keys = Object.keys(labels);
    if (keys.length > MAX_LABELS) {
      ctx.addIssue({
        code: "custom",
        input: labels,
        message: `spec.labels has ${keys.length} entries; at most ${MAX_LABELS} are allowed.`,
      });
    }
    for (const [k, v] of Object.entries(labels)) {
      const keyMsg = labelKeySyntaxProblem(k) ?? labelKeyReservedProblem(k);
      if (keyMsg !== undefined) ctx.addIssue({ code: "custom", input: k, message: keyMsg });
      const valueMsg = labelValueProblem(`spec.labels[${JSON.stringify(k)}] value`, v, true);
      if (valueMsg !== undefined) ctx.addIssue({ code: "custom", input: v, message: valueMsg });
    }
  });

/** Admission drops nulls of non-nullable fields (all of ours) before defaulting; so do we. */
function pruneNulls(v: unknown): unknown {
  if (v === null || typeof v !== "object" || Array.isArray(v)) return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) {
    if (x !== null) out[k] = pruneNulls(x);
  }
  return out;
}

const specObject = z.object(
  {
    address: stringField("spec.address").superRefine(check((s) => addressProblem(s))),
    country: stringField("spec.country").superRefine(check((s) => countryProblem(s))),
    version: stringField("spec.version")
      .superRefine(check((s) => labelValueProblem("spec.version", s, false)))
      .default(DEFAULT_VERSION),
    vpsId: stringField("spec.vpsId")
      .superRefine(check((s) => labelValueProblem("spec.vpsId", s, false)))
      .optional(),
    labels: labelsSchema.optional(),
    locality: stringField("spec.locality").superRefine(check(localityProblem)).optional(),
  },
  {
    error: (iss) =>
      iss.input === undefined ? "spec is required." : `spec must be an object, not ${describeType(iss.input)}.`,
  },
);

/**
 * The XrayrNode spec as admission sees it: nulls pruned, unknown fields stripped, version
 * defaulted, every rule of the CRD checked.
 */
export const xrayrNodeSpecSchema = z.preprocess(pruneNulls, specObject);

// Compile-time checks that what the schema parses is exactly domain/validity.ts's ValidSpec.
type Parsed = z.output<typeof specObject>;
const _parsedIsValidSpec = (s: Parsed): ValidSpec => s;
const _validSpecIsParsed = (s: ValidSpec): Parsed => s;

function toIssue(iss: z.core.$ZodIssue): ValidationIssue {
  const [top, key] = iss.path;
  const field = typeof top === "string" ? `spec.${top}` : "spec";
  if (top === "labels" && typeof key === "string" && iss.code === "invalid_type") {
    // The record's value schema cannot see its key; name it here.
    const message = `spec.labels[${JSON.stringify(key)}] must be a string, not ${describeType(iss.input)}.`;
    return { field, value: iss.input, message };
  }
  return { field, value: iss.input, message: iss.message };
}

/** Validate an XrayrNode's name and spec exactly as admission would. */
export function validateXrayrNode(obj: { metadata: { name?: string }; spec: unknown }): Validity {
  const issues: ValidationIssue[] = [];
  const nameMsg = nameProblem(obj.metadata.name);
  if (nameMsg !== undefined) issues.push({ field: "metadata.name", value: obj.metadata.name, message: nameMsg });
  const r = xrayrNodeSpecSchema.safeParse(obj.spec, { reportInput: true });
  if (!r.success) issues.push(...r.error.issues.map(toIssue));
  if (issues.length > 0 || !r.success) return { ok: false, issues };
  return { ok: true, spec: r.data };
}

/** Why the address policy refused an address (kind, range and the operator's sentence). */
export type PolicyRefusal = Extract<PolicyResult, { ok: false }>;

export interface SpecPolicyOptions {
  /**
   * The message of the policy issue; default `spec.address: <the policy's sentence>` (the
   * operator's wording). The CLI passes its own to name --address-policy or its row fields.
   */
  policyMessage?: (address: string, refusal: PolicyRefusal) => string;
}

/**
 * A node's name and spec checked as admission would (validateXrayrNode) plus the address
 * policy, which only the operator (and the CLI on its behalf) knows. The policy is checked
 * whenever spec.address itself is a valid address, so its issue is reported alongside any
 * other field's; it is the one issue with field "spec.address" on a well-formed address.
 * One implementation for the operator's verdict, `xrayr-mesh register` and `xrayr-mesh sync`.
 */
export function validateSpecWithPolicy(name: string | undefined, spec: unknown, policy: AddressPolicy, opts: SpecPolicyOptions = {}): Validity {
  const v = validateXrayrNode({ metadata: { name }, spec });
  const address = v.ok ? v.spec.address : addressOf(spec);
  const p = address !== undefined && parseAddress(address).ok ? checkAddressPolicy(address, policy) : undefined;
  if (p === undefined || p.ok) return v;
  const message = opts.policyMessage?.(address ?? "", p) ?? `spec.address: ${p.message}`;
  const issue: ValidationIssue = { field: "spec.address", value: address, message };
  return { ok: false, issues: [...(v.ok ? [] : v.issues), issue] };
}

/**
 * The operator's verdict on a node: the CRD's own rules (admission should already have enforced
 * them; objects written before a CRD upgrade may not meet them) plus the address policy. The
 * reconciler, `sync`'s plan and doctor judge live nodes with this one function.
 */
export function validateNode(node: Pick<XrayrNode, "metadata" | "spec">, policy: AddressPolicy): Validity {
  return validateSpecWithPolicy(node.metadata.name, node.spec, policy);
}

function addressOf(spec: unknown): string | undefined {
  if (typeof spec !== "object" || spec === null) return undefined;
  const a = (spec as { address?: unknown }).address;
  return typeof a === "string" ? a : undefined;
}
