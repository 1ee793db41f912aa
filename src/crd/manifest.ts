// The XrayrNode CustomResourceDefinition. deploy/crds/mesh.sigma.io_xrayrnodes.yaml is rendered
// from xrayrNodeCrd() by `npm run crds`; src/crd/manifest.test.ts fails when the two drift.
//
// Every rule here has a twin in src/crd/validate.ts; both take their patterns from
// src/crd/patterns.ts. OpenAPI `pattern` and CEL `matches()` are Go RE2, zod is JavaScript
// RegExp; the patterns are written in the common subset.

import { Document, isScalar, isSeq, visit } from "yaml";
import { COUNTRY_CODES } from "./countries.js";
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
} from "./patterns.js";
import { GROUP, KIND, PLURAL, SHORT_NAME, VERSION } from "./types.js";

export const CRD_NAME = `${PLURAL}.${GROUP}`;
export const CRD_FILE = `deploy/crds/${GROUP}_${PLURAL}.yaml`;

export interface ValidationRule {
  rule: string;
  message?: string;
  messageExpression?: string;
  fieldPath?: string;
  reason?: string;
}

export interface JsonSchemaProps {
  type?: "object" | "array" | "string" | "integer" | "boolean" | "number";
  description?: string;
  format?: string;
  required?: string[];
  properties?: Record<string, JsonSchemaProps>;
  additionalProperties?: JsonSchemaProps;
  items?: JsonSchemaProps;
  enum?: string[];
  default?: string;
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maxProperties?: number;
  maxItems?: number;
  "x-kubernetes-list-type"?: "map" | "set" | "atomic";
  "x-kubernetes-list-map-keys"?: string[];
  "x-kubernetes-validations"?: ValidationRule[];
}

export interface PrinterColumn {
  name: string;
  type: string;
  jsonPath: string;
  description?: string;
  priority?: number;
}

export interface CustomResourceDefinition {
  apiVersion: "apiextensions.k8s.io/v1";
  kind: "CustomResourceDefinition";
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec: {
    group: string;
    names: { kind: string; listKind: string; plural: string; singular: string; shortNames: string[]; categories: string[] };
    scope: "Namespaced" | "Cluster";
    versions: {
      name: string;
      served: boolean;
      storage: boolean;
      subresources: { status: Record<string, never> };
      additionalPrinterColumns: PrinterColumn[];
      schema: { openAPIV3Schema: JsonSchemaProps };
    }[];
  };
}

/** A CEL string literal for message text. */
function celStr(s: string): string {
  return JSON.stringify(s);
}

/**
 * A rule whose message names the offending value: `messageExpression` is `<subject> + " " + text`;
 * `message` (text without the value) is what the apiserver falls back to when the
 * messageExpression fails or yields a line break (e.g. for a value ending in "\n").
 */
function celRule(rule: string, field: string, subject: string | undefined, text: string): ValidationRule {
  const message = `${field} ${text}`;
  if (subject === undefined) return { rule, message };
  return { rule, message, messageExpression: `'${field} "' + ${subject} + '" ' + ${celStr(text)}` };
}

/** A CEL raw string literal. None of our patterns contain a quote, and raw strings keep `\` as is. */
function celRaw(s: string): string {
  if (s.includes("'") || s.includes("\n")) throw new Error(`cannot embed ${s} as a CEL raw string`);
  return `r'${s}'`;
}

const LABEL_VALUE_TEXT =
  "at most 63 characters: alphanumerics, '-', '_' and '.', starting and ending with an alphanumeric";

const labelKeyValid = `k.matches(${celRaw(QUALIFIED_NAME_PATTERN)}) && (!k.contains('/') || k.indexOf('/') <= ${QUALIFIED_NAME_PREFIX_MAX_LENGTH})`;
const labelKeyReserved = `k.matches(${celRaw(RESERVED_LABEL_KEY_PATTERN)})`;

function specSchema(): JsonSchemaProps {
  return {
    type: "object",
    description:
      "Desired state: one XrayR node (a VPS) that the operator registers in the mesh as an Istio WorkloadEntry, " +
      "so that traffic from it is attributed to this node.",
    required: ["address", "country"],
    properties: {
      address: {
        type: "string",
        description:
          "The node's IP address, exactly one IPv4 or IPv6 address in canonical form, e.g. 203.0.113.7 or " +
          "2001:db8::7 (IPv6 lower case and compressed as RFC 5952). Hostnames, CIDRs, ports, zone ids (%eth0), " +
          "IPv4-mapped IPv6 (::ffff:1.2.3.4) and leading zeros are rejected. Becomes the WorkloadEntry address. " +
          "The operator may additionally refuse private and special-purpose ranges (ADDRESS_POLICY=public).",
        maxLength: ADDRESS_MAX_LENGTH,
        "x-kubernetes-validations": [
          celRule(
            "isIP(self)",
            "spec.address",
            "self",
            "is not a single IPv4 or IPv6 address (no hostname, CIDR, port, zone id or IPv4-mapped IPv6), " +
              "e.g. 203.0.113.7 or 2001:db8::7",
          ),
          // The message cannot show the canonical form: string(ip(self)) has no size estimate, so
          // concatenating it exceeds the CRD's static CEL cost limit. zod (validate.ts) names it.
          celRule(
            "!isIP(self) || ip.isCanonical(self)",
            "spec.address",
            "self",
            "is not canonical (RFC 5952 as Go prints it: lower-case hex, no leading zeros, the longest run " +
              "of zero groups written as ::), e.g. 2001:db8::1, not 2001:DB8:0:0:0:0:0:1",
          ),
        ],
      },
      country: {
        type: "string",
        description:
          "Where the node is: an officially assigned ISO 3166-1 alpha-2 country code in lower case, e.g. de, us, jp " +
          '(the United Kingdom is gb, not uk). Becomes the WorkloadEntry label "country".',
        enum: [...COUNTRY_CODES],
      },
      version: {
        type: "string",
        description:
          'The node\'s version, becomes the WorkloadEntry label "version" (Istio\'s destination/source version). ' +
          `A Kubernetes label value: ${LABEL_VALUE_TEXT}. Defaults to ${DEFAULT_VERSION}.`,
        default: DEFAULT_VERSION,
        maxLength: LABEL_VALUE_MAX_LENGTH,
        pattern: LABEL_VALUE_NONEMPTY_PATTERN,
      },
      vpsId: {
        type: "string",
        description:
          "Optional identifier of the VPS at its provider (or in Xboard), carried as a WorkloadEntry label. " +
          `A non-empty Kubernetes label value: ${LABEL_VALUE_TEXT}.`,
        maxLength: LABEL_VALUE_MAX_LENGTH,
        pattern: LABEL_VALUE_NONEMPTY_PATTERN,
      },
      labels: {
        type: "object",
        description:
          `Extra labels for the WorkloadEntry, at most ${MAX_LABELS}. Keys are Kubernetes label keys ([prefix/]name); ` +
          `values are label values (may be empty). Reserved keys are refused: ${RESERVED_LABEL_KEYS_TEXT}.`,
        maxProperties: MAX_LABELS,
        additionalProperties: {
          type: "string",
          description: `A label value: empty, or ${LABEL_VALUE_TEXT}.`,
          maxLength: LABEL_VALUE_MAX_LENGTH,
          pattern: LABEL_VALUE_PATTERN,
        },
        "x-kubernetes-validations": [
          // The messages name the first offending key only: join() over map keys (of unbounded
          // size) exceeds the CRD's static CEL cost limit, indexing [0] does not.
          celRule(
            `self.all(k, ${labelKeyValid})`,
            "spec.labels key",
            `self.filter(k, !(${labelKeyValid}))[0]`,
            `is not a valid Kubernetes label key: [prefix/]name; name ${LABEL_VALUE_TEXT}; ` +
              `prefix a lower-case DNS subdomain of at most ${QUALIFIED_NAME_PREFIX_MAX_LENGTH} characters`,
          ),
          celRule(
            `self.all(k, !${labelKeyReserved})`,
            "spec.labels key",
            `self.filter(k, ${labelKeyReserved})[0]`,
            `is reserved: the operator sets ${RESERVED_LABEL_KEYS_TEXT} itself`,
          ),
        ],
      },
      locality: {
        type: "string",
        description:
          "Optional Istio locality of the node, region[/zone[/subzone]], e.g. eu-central/fsn1/dc14: 1 to 3 non-empty " +
          `segments separated by "/", each ${LABEL_VALUE_TEXT}. Becomes the WorkloadEntry locality.`,
        maxLength: LOCALITY_MAX_LENGTH,
        pattern: LOCALITY_PATTERN,
      },
    },
  };
}

function statusSchema(): JsonSchemaProps {
  return {
    type: "object",
    description: "Observed state, written by the operator only.",
    properties: {
      observedGeneration: {
        type: "integer",
        format: "int64",
        minimum: 0,
        description: "The metadata.generation of the spec the operator last reconciled.",
      },
      conditions: {
        type: "array",
        description: 'Current conditions. "Ready" is True when the WorkloadEntry matches the spec.',
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["type"],
        maxItems: 16,
        items: {
          type: "object",
          description: "A condition in the shape of metav1.Condition.",
          required: ["type", "status", "reason", "message", "lastTransitionTime"],
          properties: {
            type: {
              type: "string",
              description: 'Type of condition in CamelCase, e.g. "Ready".',
              maxLength: 316,
              pattern: "^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$",
            },
            status: {
              type: "string",
              description: "Status of the condition: True, False or Unknown.",
              enum: ["True", "False", "Unknown"],
            },
            reason: {
              type: "string",
              description:
                "Machine-readable CamelCase reason for the last transition, e.g. Reconciled, InvalidSpec, " +
                "AddressConflict, NameTaken, ApplyFailed.",
              minLength: 1,
              maxLength: 1024,
              pattern: "^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$",
            },
            message: {
              type: "string",
              description: "Human-readable details about the last transition.",
              maxLength: 32768,
            },
            lastTransitionTime: {
              type: "string",
              format: "date-time",
              description: "When the condition last changed status.",
            },
            observedGeneration: {
              type: "integer",
              format: "int64",
              minimum: 0,
              description: "The metadata.generation the condition was computed for.",
            },
          },
        },
      },
      workloadEntry: {
        type: "string",
        description: "Name of the Istio WorkloadEntry the operator maintains for this node (same namespace).",
        maxLength: DNS1123_LABEL_MAX_LENGTH,
      },
    },
  };
}

/** The CustomResourceDefinition for xrayrnodes.mesh.sigma.io, as applied by deploy/crds. */
export function xrayrNodeCrd(): CustomResourceDefinition {
  const readyPath = '.status.conditions[?(@.type=="Ready")]';
  return {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: { name: CRD_NAME },
    spec: {
      group: GROUP,
      names: {
        kind: KIND,
        listKind: `${KIND}List`,
        plural: PLURAL,
        singular: KIND.toLowerCase(),
        shortNames: [SHORT_NAME],
        categories: ["sigma", "mesh"],
      },
      scope: "Namespaced",
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: [
            { name: "Address", type: "string", jsonPath: ".spec.address" },
            { name: "Country", type: "string", jsonPath: ".spec.country" },
            { name: "Ready", type: "string", jsonPath: `${readyPath}.status` },
            { name: "Reason", type: "string", jsonPath: `${readyPath}.reason` },
            { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" },
          ],
          schema: {
            openAPIV3Schema: {
              type: "object",
              description:
                "XrayrNode declares one XrayR node (a VPS) of the Xboard fleet. The xrayr-mesh-operator turns it into " +
                "an Istio WorkloadEntry (same name and namespace) so the mesh can attribute the node's traffic.",
              required: ["spec"],
              properties: {
                apiVersion: {
                  type: "string",
                  description: `APIVersion of this object: ${GROUP}/${VERSION}.`,
                },
                kind: {
                  type: "string",
                  description: `Kind of this object: ${KIND}.`,
                },
                // apiextensions forbids anything but `type` here ("must not specify anything other than
                // name and generateName"), so no description; the name rule lives at the root below.
                metadata: { type: "object" },
                spec: specSchema(),
                status: statusSchema(),
              },
              "x-kubernetes-validations": [
                // fieldPath cannot point into metadata ("must be a valid path"), so this error is
                // reported at the object root; the message names metadata.name.
                celRule(
                  `!has(self.metadata.name) || (size(self.metadata.name) <= ${DNS1123_LABEL_MAX_LENGTH} && ` +
                    `self.metadata.name.matches(${celRaw(DNS1123_LABEL_PATTERN)}))`,
                  "metadata.name",
                  "self.metadata.name",
                  `must be a DNS-1123 label (at most ${DNS1123_LABEL_MAX_LENGTH} characters, lower-case alphanumerics ` +
                    "and '-', starting and ending with an alphanumeric): it becomes the WorkloadEntry name",
                ),
              ],
            },
          },
        },
      ],
    },
  };
}

export const CRD_YAML_HEADER =
  " Code generated from src/crd/manifest.ts; DO NOT EDIT.\n" +
  " Edit src/crd/manifest.ts and run `npm run crds` to regenerate this file.";

/** The CRD as the YAML text of deploy/crds/mesh.sigma.io_xrayrnodes.yaml. */
export function renderCrdYaml(crd: CustomResourceDefinition = xrayrNodeCrd()): string {
  const doc = new Document(crd);
  doc.commentBefore = CRD_YAML_HEADER;
  // Keep the 249-entry country enum readable: one flow sequence, wrapped.
  visit(doc, {
    Pair(_, pair) {
      if (isScalar(pair.key) && pair.key.value === "enum" && isSeq(pair.value) && pair.value.items.length > 8) {
        pair.value.flow = true;
      }
    },
  });
  return doc.toString({ lineWidth: 0 });
}
