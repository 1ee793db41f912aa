import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { z } from "zod";
import { checkAddressPolicy } from "./address.js";
import type { ValidationIssue } from "../domain/validity.js";
import { describeType, validateSpecWithPolicy, validateXrayrNode, xrayrNodeSpecSchema } from "./validate.js";

const rowSchema = z.strictObject({
  field: z.string().regex(/^(metadata\.name|spec\.[A-Za-z]+)$/),
  value: z.unknown(),
  absent: z.literal(true).optional(),
  admission: z.enum(["accept", "reject"]),
  policy: z.enum(["public-ok", "refused"]).optional(),
  range: z.string().optional(),
  canonical: z.string().optional(),
  expect: z.record(z.string(), z.unknown()).optional(),
  note: z.string().min(1),
});
type Row = z.infer<typeof rowSchema>;

const tableSchema = z.strictObject({
  description: z.string(),
  base: z.strictObject({
    apiVersion: z.string(),
    kind: z.string(),
    metadata: z.strictObject({ name: z.string() }),
    spec: z.record(z.string(), z.unknown()),
  }),
  rows: z.array(rowSchema),
});

const table = tableSchema.parse(
  JSON.parse(readFileSync(fileURLToPath(new URL("../../test/fixtures/validation-table.json", import.meta.url)), "utf8")),
);

function objectFor(row: Row): { metadata: { name?: string }; spec: Record<string, unknown> } {
  const metadata: { name?: string } = { ...table.base.metadata };
  if (row.field === "metadata.name") {
    if (row.absent) delete metadata.name;
    else if (typeof row.value === "string") metadata.name = row.value;
    else throw new Error("metadata.name rows must be strings");
    return { metadata, spec: structuredClone(table.base.spec) };
  }
  const key = row.field.slice("spec.".length);
  const spec = Object.fromEntries(Object.entries(structuredClone(table.base.spec)).filter(([k]) => k !== key));
  if (!row.absent) spec[key] = structuredClone(row.value);
  return { metadata, spec };
}

function label(row: Row): string {
  const v = row.absent ? "<absent>" : JSON.stringify(row.value);
  const shown = v.length > 60 ? `${v.slice(0, 57)}...` : v;
  return `${row.field}=${shown} ${row.admission}${row.policy ? `/${row.policy}` : ""} (${row.note})`;
}

/** Whether `part` is the row's value, or (for maps) one of its keys or values. */
function isPartOf(part: unknown, whole: unknown): boolean {
  if (part === whole) return true;
  if (whole !== null && typeof whole === "object" && !Array.isArray(whole)) {
    if (typeof part === "string" && Object.hasOwn(whole, part)) return true;
    return Object.values(whole).some((v) => v === part) || JSON.stringify(part) === JSON.stringify(whole);
  }
  return false;
}

function mentions(issue: ValidationIssue, row: Row): void {
  expect(issue.field).toBe(row.field);
  expect(issue.message).toContain(row.field);
  expect(issue.message).toMatch(/\.$/);
  if (row.absent || row.value === null || row.value === undefined) {
    expect(issue.message).toContain("required");
    return;
  }
  expect(isPartOf(issue.value, row.value)).toBe(true);
  if (typeof issue.value === "string") expect(issue.message).toContain(JSON.stringify(issue.value));
  else if (typeof issue.value === "number") expect(issue.message).toContain(String(issue.value));
}

describe("validation table", () => {
  it("has the promised coverage", () => {
    const count = (f: string): number => table.rows.filter((r) => r.field === f).length;
    expect(count("spec.address")).toBeGreaterThanOrEqual(45);
    expect(count("metadata.name")).toBeGreaterThanOrEqual(10);
    expect(count("spec.labels")).toBeGreaterThanOrEqual(12);
    for (const f of ["spec.country", "spec.version", "spec.locality", "spec.vpsId"]) expect(count(f)).toBeGreaterThan(0);
    for (const r of table.rows) {
      const isAddressAccept = r.field === "spec.address" && r.admission === "accept";
      expect(r.policy !== undefined).toBe(isAddressAccept);
      expect(r.range !== undefined).toBe(r.policy === "refused");
    }
  });

  it("base object is valid and public", () => {
    const r = validateXrayrNode({ metadata: table.base.metadata, spec: table.base.spec });
    expect(r).toEqual({ ok: true, spec: { ...table.base.spec, version: "v1" } });
    expect(checkAddressPolicy(String(table.base.spec["address"]), "public")).toEqual({ ok: true });
  });

  it.each(table.rows.map((r) => [label(r), r] as const))("%s", (_, row) => {
    const result = validateXrayrNode(objectFor(row));
    if (row.admission === "accept") {
      if (!result.ok) throw new Error(`expected accept, got: ${result.issues.map((i) => i.message).join(" | ")}`);
      for (const [k, v] of Object.entries(row.expect ?? {})) {
        if (v === null) expect(Object.hasOwn(result.spec, k)).toBe(false);
        else expect((result.spec as Record<string, unknown>)[k]).toEqual(v);
      }
      if (row.field === "spec.address") {
        if (typeof row.value !== "string") throw new Error("accepted address rows must be strings");
        expect(checkAddressPolicy(row.value, "any")).toEqual({ ok: true });
        const p = checkAddressPolicy(row.value, "public");
        if (row.policy === "public-ok") {
          expect(p).toEqual({ ok: true });
        } else {
          if (p.ok) throw new Error(`expected ADDRESS_POLICY=public to refuse ${row.value}`);
          expect(p.range).toBe(row.range);
          expect(p.message).toContain(`address ${row.value} `);
          expect(p.message).toContain(`(${row.range ?? ""}`);
          expect(p.message).toContain("ADDRESS_POLICY=public refuses it (set ADDRESS_POLICY=any to allow)");
        }
      }
    } else {
      if (result.ok) throw new Error(`expected reject, got accepted spec ${JSON.stringify(result.spec)}`);
      expect(result.issues.length).toBeGreaterThan(0);
      for (const issue of result.issues) mentions(issue, row);
      if (row.canonical !== undefined) {
        expect(result.issues.map((i) => i.message).join("\n")).toContain(`write ${row.canonical}`);
      }
    }
  });
});

describe("validateXrayrNode", () => {
  it("strips unknown spec fields and defaults version", () => {
    const r = validateXrayrNode({
      metadata: { name: "n1" },
      spec: { address: "1.1.1.1", country: "de", nickname: "x", labels: { team: "core" } },
    });
    expect(r).toEqual({ ok: true, spec: { address: "1.1.1.1", country: "de", version: "v1", labels: { team: "core" } } });
  });

  it("reports the example message for a reserved key and a non-canonical address together", () => {
    const r = validateXrayrNode({
      metadata: { name: "Bad.Name" },
      spec: { address: "2001:DB8::1", country: "UK", labels: { app: "x" } },
    });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.issues.map((i) => i.field).sort()).toEqual(["metadata.name", "spec.address", "spec.country", "spec.labels"]);
    const byField = Object.fromEntries(r.issues.map((i) => [i.field, i]));
    expect(byField["spec.address"]?.message).toBe('spec.address "2001:DB8::1" is not canonical: write 2001:db8::1.');
    expect(byField["spec.country"]?.message).toContain('the ISO code for the United Kingdom is "gb"');
    expect(byField["spec.labels"]?.value).toBe("app");
    expect(byField["metadata.name"]?.value).toBe("Bad.Name");
  });

  it("requires a spec object and a name", () => {
    const r = validateXrayrNode({ metadata: {}, spec: undefined });
    expect(r).toEqual({
      ok: false,
      issues: [
        { field: "metadata.name", value: undefined, message: "metadata.name is required." },
        { field: "spec", value: undefined, message: "spec is required." },
      ],
    });
    const s = validateXrayrNode({ metadata: { name: "n" }, spec: "x" });
    expect(s.ok ? [] : s.issues.map((i) => i.message)).toEqual(['spec must be an object, not "x".']);
  });

  it("exports the schema for reuse", () => {
    expect(xrayrNodeSpecSchema.parse({ address: "::2", country: "jp", version: null })).toEqual({
      address: "::2",
      country: "jp",
      version: "v1",
    });
  });
});

describe("validateSpecWithPolicy: the schema and the address policy in one place", () => {
  const spec = { address: "45.76.83.243", country: "jp" };

  it("a good node: the admitted spec, as validateXrayrNode gives it", () => {
    expect(validateSpecWithPolicy("jp-1", spec, "public")).toEqual(validateXrayrNode({ metadata: { name: "jp-1" }, spec }));
  });

  it("a refused address: one spec.address issue in the operator's words, or the caller's", () => {
    const p = checkAddressPolicy("10.0.0.1", "public");
    if (p.ok) throw new Error("10.0.0.1 is private");
    expect(validateSpecWithPolicy("jp-1", { ...spec, address: "10.0.0.1" }, "public")).toEqual({
      ok: false,
      issues: [{ field: "spec.address", value: "10.0.0.1", message: `spec.address: ${p.message}` }],
    });
    const own = validateSpecWithPolicy("jp-1", { ...spec, address: "10.0.0.1" }, "public", { policyMessage: (a, r) => `${a} ${r.kind} ${r.range ?? ""}` });
    expect(own.ok ? [] : own.issues.map((i) => i.message)).toEqual(["10.0.0.1 private 10.0.0.0/8"]);
    expect(validateSpecWithPolicy("jp-1", { ...spec, address: "10.0.0.1" }, "any").ok).toBe(true);
  });

  it("the policy is reported alongside other fields' problems, never on a malformed address", () => {
    const both = validateSpecWithPolicy(undefined, { address: "10.0.0.1", country: "uk" }, "public");
    expect(both.ok ? [] : both.issues.map((i) => i.field)).toEqual(["metadata.name", "spec.country", "spec.address"]);
    const malformed = validateSpecWithPolicy("jp-1", { ...spec, address: "010.0.0.1" }, "public");
    expect(malformed.ok ? [] : malformed.issues.map((i) => i.message)).toEqual([expect.stringContaining("leading zeros") as unknown]);
  });
});

describe("describeType", () => {
  it.each([
    [undefined, "missing"],
    [null, "null"],
    [[1], "a list"],
    [{}, "an object"],
    ["x", '"x"'],
    [45, "number 45"],
    [true, "boolean true"],
    [10n, "bigint 10"],
  ])("%p is %s", (v, want) => {
    expect(describeType(v)).toBe(want);
  });
});
