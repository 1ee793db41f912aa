// sigma-api's VPS list, as `xrayr-mesh sync --from` reads it (docs/fleet-format.md): a JSON
// array of rows, or an object whose `items` is that array. Each row is checked on its own with
// zod; unknown fields are ignored. A bad row is reported with its number (1-based), the field
// and the value, and does not stop the others.
import { z } from "zod";
import { LABEL_VALUE_NONEMPTY_PATTERN, regex } from "../crd/patterns.js";
import { LABEL_VALUE_RULE_TEXT } from "../crd/validate.js";

export const VPS_STATUSES = ["active", "retired", "provisioning"] as const;
export type VpsStatus = (typeof VPS_STATUSES)[number];

/** One row that passed the row schema. `id` is always a string ("1001" for 1001). */
export interface VpsRow {
  /** 1-based position in the list. */
  row: number;
  id: string;
  hostname: string;
  ip: string;
  country: string;
  status: VpsStatus;
  xrayrVersion?: string;
}

export interface RowIssue {
  row: number;
  /** The row's id when it has a usable one. */
  id?: string;
  /** The row's field as sigma-api names it: id, hostname, ip, country, status, xrayr_version; "row" for the row as a whole. */
  field: string;
  /** The offending value (undefined when the field is missing). */
  value: unknown;
  /** A full sentence naming the field and the value. */
  message: string;
}

const LABEL_VALUE_RE = regex(LABEL_VALUE_NONEMPTY_PATTERN);

function describe(v: unknown): string {
  if (v === undefined) return "missing";
  if (v === null) return "null";
  if (Array.isArray(v)) return "a list";
  if (typeof v === "string") return JSON.stringify(v);
  if (typeof v === "object") return "an object";
  if (typeof v === "number" || typeof v === "boolean" || typeof v === "bigint") return `${typeof v} ${String(v)}`;
  return typeof v;
}

function requiredString(field: string) {
  return z.string({
    error: (iss) => (iss.input === undefined || iss.input === null ? `${field} is missing.` : `${field} must be a string, not ${describe(iss.input)}.`),
  });
}

const idSchema = z.union([z.number(), z.string()], {
  error: (iss) => (iss.input === undefined || iss.input === null ? "id is missing." : `id must be a number or a string, not ${describe(iss.input)}.`),
}).transform((v, ctx) => {
  if (typeof v === "number") {
    if (!Number.isSafeInteger(v) || v < 0) {
      ctx.addIssue({ code: "custom", input: v, message: `id ${String(v)} must be a non-negative whole number below 2^53.` });
      return z.NEVER;
    }
    return String(v);
  }
  if (!LABEL_VALUE_RE.test(v)) {
    ctx.addIssue({
      code: "custom",
      input: v,
      message: `id ${JSON.stringify(v)} must be usable as a Kubernetes label value (${LABEL_VALUE_RULE_TEXT}).`,
    });
    return z.NEVER;
  }
  return v;
});

/** One row of sigma-api's VPS list. Strips unknown fields. */
export const vpsRowSchema = z.object(
  {
    id: idSchema,
    hostname: requiredString("hostname"),
    ip: requiredString("ip"),
    country: requiredString("country"),
    status: z.enum(VPS_STATUSES, {
      error: (iss) =>
        iss.input === undefined || iss.input === null
          ? "status is missing."
          : `status ${describe(iss.input)} must be one of ${VPS_STATUSES.join(", ")}.`,
    }),
    xrayr_version: z
      .string({ error: (iss) => `xrayr_version must be a string, not ${describe(iss.input)}.` })
      .nullish()
      .transform((v) => (v === null || v === undefined || v.trim() === "" ? undefined : v)),
  },
  { error: (iss) => `the row must be an object, not ${describe(iss.input)}.` },
);

/** The list document: an array, or an object with an `items` array. */
export function fleetItems(doc: unknown): unknown[] {
  if (Array.isArray(doc)) return doc;
  if (typeof doc === "object" && doc !== null && "items" in doc) {
    const items: unknown = doc.items;
    if (Array.isArray(items)) return items as unknown[];
  }
  throw new Error(`the VPS list must be a JSON array of rows or an object with an "items" array, not ${describe(doc)}`);
}

export interface ParsedRows {
  total: number;
  rows: VpsRow[];
  issues: RowIssue[];
}

/** Checks every row of the list; a row that fails is reported and left out. Repeated ids: the first row wins. */
export function parseRows(doc: unknown): ParsedRows {
  const items = fleetItems(doc);
  const rows: VpsRow[] = [];
  const issues: RowIssue[] = [];
  const firstRowOfId = new Map<string, number>();
  items.forEach((item, i) => {
    const row = i + 1;
    const r = vpsRowSchema.safeParse(item, { reportInput: true });
    if (!r.success) {
      const rawId = typeof item === "object" && item !== null ? (item as { id?: unknown }).id : undefined;
      const id = typeof rawId === "number" || typeof rawId === "string" ? String(rawId) : undefined;
      for (const iss of r.error.issues) {
        const field = typeof iss.path[0] === "string" ? iss.path[0] : "row";
        const value = field === "row" ? item : (item as Record<string, unknown>)[field];
        issues.push({ row, ...(id !== undefined ? { id } : {}), field, value, message: iss.message });
      }
      return;
    }
    const d = r.data;
    const seen = firstRowOfId.get(d.id);
    if (seen !== undefined) {
      issues.push({ row, id: d.id, field: "id", value: (item as { id: unknown }).id, message: `id ${d.id} repeats row ${seen}; every VPS must have its own id.` });
      return;
    }
    firstRowOfId.set(d.id, row);
    rows.push({
      row,
      id: d.id,
      hostname: d.hostname,
      ip: d.ip,
      country: d.country,
      status: d.status,
      ...(d.xrayr_version !== undefined ? { xrayrVersion: d.xrayr_version } : {}),
    });
  });
  return { total: items.length, rows, issues };
}
