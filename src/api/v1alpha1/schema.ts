// The subset of OpenAPI v3 schema a CRD uses, and the TypeScript type a schema describes, so
// that a resource's shape is written once (as the schema) and its type follows from it.

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
  required?: readonly string[];
  properties?: Readonly<Record<string, JsonSchemaProps>>;
  additionalProperties?: JsonSchemaProps;
  items?: JsonSchemaProps;
  enum?: readonly string[];
  default?: string;
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  maxProperties?: number;
  maxItems?: number;
  "x-kubernetes-list-type"?: "map" | "set" | "atomic";
  "x-kubernetes-list-map-keys"?: readonly string[];
  "x-kubernetes-map-type"?: "granular" | "atomic";
  "x-kubernetes-validations"?: readonly ValidationRule[];
}

/** The TypeScript type of the values `S` admits (the subset above; formats and bounds aside). */
export type FromSchema<S> = S extends { enum: readonly (infer E)[] }
  ? E
  : S extends { type: "string" }
    ? string
    : S extends { type: "integer" | "number" }
      ? number
      : S extends { type: "boolean" }
        ? boolean
        : S extends { type: "array"; items: infer I }
          ? FromSchema<I>[]
          : S extends { type: "object"; properties: infer P }
            ? Simplify<ObjectOf<P, S extends { required: readonly (infer R)[] } ? R : never>>
            : S extends { type: "object"; additionalProperties: infer A }
              ? Record<string, FromSchema<A>>
              : unknown;

type ObjectOf<P, Required> = { [K in keyof P & Required]: FromSchema<P[K]> } & { [K in Exclude<keyof P, Required>]?: FromSchema<P[K]> };
type Simplify<T> = { [K in keyof T]: T[K] } & {};
