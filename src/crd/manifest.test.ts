import { parse } from "yaml";
import { COUNTRY_CODES } from "./countries.js";
import { xrayrNodeSpecShape } from "../api/v1alpha1/spec.js";
import { renderCrdYaml, xrayrNodeCrd, type JsonSchemaProps } from "./manifest.js";
import {
  ADDRESS_MAX_LENGTH,
  DNS1123_LABEL_PATTERN,
  LABEL_VALUE_NONEMPTY_PATTERN,
  LABEL_VALUE_PATTERN,
  LOCALITY_PATTERN,
  QUALIFIED_NAME_PATTERN,
  RESERVED_LABEL_KEY_PATTERN,
  RESERVED_NODE_NAMES,
} from "../api/v1alpha1/patterns.js";

function walk(s: JsonSchemaProps, path: string, visit: (s: JsonSchemaProps, path: string) => void): void {
  visit(s, path);
  for (const [k, p] of Object.entries(s.properties ?? {})) walk(p, `${path}.${k}`, visit);
  if (s.items) walk(s.items, `${path}[]`, visit);
  if (s.additionalProperties) walk(s.additionalProperties, `${path}{}`, visit);
}

const root = (): JsonSchemaProps => {
  const v = xrayrNodeCrd().spec.versions[0];
  if (!v) throw new Error("no version");
  return v.schema.openAPIV3Schema;
};

describe("CRD manifest", () => {
  it("starts with the generated-file header and round-trips through YAML", () => {
    const text = renderCrdYaml();
    expect(text.startsWith("# Code generated from src/crd/manifest.ts; DO NOT EDIT.\n")).toBe(true);
    expect(text).toContain("make generate");
    expect(parse(text)).toEqual(xrayrNodeCrd());
  });

  it("describes every field, so kubectl explain teaches", () => {
    const missing: string[] = [];
    walk(root(), "", (s, path) => {
      // .metadata may only carry `type` (apiextensions rejects a description there).
      if (!s.description && path !== ".metadata") missing.push(path || "<root>");
    });
    expect(missing).toEqual([]);
  });

  it("names, scope, subresources, printer columns", () => {
    const crd = xrayrNodeCrd();
    expect(crd.metadata.name).toBe("xrayrnodes.mesh.sigma.io");
    expect(crd.spec.scope).toBe("Namespaced");
    expect(crd.spec.names.shortNames).toEqual(["xn"]);
    const v = crd.spec.versions[0];
    expect(v?.name).toBe("v1alpha1");
    expect(v?.subresources.status).toEqual({});
    expect(v?.additionalPrinterColumns.map((c) => c.name)).toEqual(["Address", "Country", "Ready", "Reason", "RPM", "Errors", "P99ms", "Last-Seen", "Age"]);
  });

  it("takes its rules from the shared constants", () => {
    const r = root();
    const spec = r.properties?.["spec"];
    expect(spec?.required).toEqual(["address", "country"]);
    const p = spec?.properties ?? {};
    expect(p["country"]?.enum).toEqual([...COUNTRY_CODES]);
    expect(p["version"]?.default).toBe("v1");
    expect(p["version"]?.pattern).toBe(LABEL_VALUE_NONEMPTY_PATTERN);
    expect(p["vpsId"]?.pattern).toBe(LABEL_VALUE_NONEMPTY_PATTERN);
    expect(p["locality"]?.pattern).toBe(LOCALITY_PATTERN);
    expect(p["labels"]?.additionalProperties?.pattern).toBe(LABEL_VALUE_PATTERN);
    const labelRules = (p["labels"]?.["x-kubernetes-validations"] ?? []).map((v) => v.rule).join("\n");
    expect(labelRules).toContain(QUALIFIED_NAME_PATTERN);
    expect(labelRules).toContain(RESERVED_LABEL_KEY_PATTERN);
    const addressRules = (p["address"]?.["x-kubernetes-validations"] ?? []).map((v) => v.rule);
    expect(addressRules).toEqual(["isIP(self)", "!isIP(self) || ip.isCanonical(self)"]);
    expect(p["address"]?.maxLength).toBe(ADDRESS_MAX_LENGTH);
    expect(r["x-kubernetes-validations"]?.[0]?.rule).toContain(DNS1123_LABEL_PATTERN);
    for (const n of RESERVED_NODE_NAMES) expect(r["x-kubernetes-validations"]?.[1]?.rule).toContain(JSON.stringify(n));
  });

  it("uses only RE2-compatible patterns (no lookaround, backreferences or lazy quantifiers)", () => {
    const patterns: string[] = [];
    walk(root(), "", (s) => {
      if (s.pattern) patterns.push(s.pattern);
    });
    patterns.push(QUALIFIED_NAME_PATTERN, RESERVED_LABEL_KEY_PATTERN, DNS1123_LABEL_PATTERN);
    for (const p of patterns) {
      expect(p).not.toMatch(/\(\?[=!<]|\\[1-9]|[*+?}]\?/);
      expect(p.startsWith("^") && p.endsWith("$")).toBe(true);
    }
  });
});

describe("the CRD's spec is the API's spec shape", () => {
  it("has exactly its fields, with their types and required list", () => {
    const spec = root().properties?.spec;
    const typeOf = (s: JsonSchemaProps | undefined): unknown => ({ type: s?.type, values: s?.additionalProperties?.type });
    const shape = xrayrNodeSpecShape.properties as Record<string, JsonSchemaProps>;
    expect(Object.fromEntries(Object.entries(spec?.properties ?? {}).map(([k, v]) => [k, typeOf(v)]))).toEqual(
      Object.fromEntries(Object.entries(shape).map(([k, v]) => [k, typeOf(v)])),
    );
    expect(spec?.required).toEqual([...xrayrNodeSpecShape.required]);
  });
});
