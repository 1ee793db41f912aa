// The XrayrNode spec's fields and their types, once: the TypeScript type is derived from this
// shape, and the CRD's spec schema (src/crd/manifest.ts) is built on it, adding to each field
// its description and validation; the compiler makes the CRD list exactly these fields.
import type { FromSchema, JsonSchemaProps } from "./schema.js";

export const xrayrNodeSpecShape = {
  type: "object",
  required: ["address", "country"],
  properties: {
    address: { type: "string" },
    country: { type: "string" },
    version: { type: "string" },
    vpsId: { type: "string" },
    labels: { type: "object", additionalProperties: { type: "string" } },
    locality: { type: "string" },
  },
} as const satisfies JsonSchemaProps;

export type XrayrNodeSpec = FromSchema<typeof xrayrNodeSpecShape>;
export type SpecField = keyof typeof xrayrNodeSpecShape.properties;
