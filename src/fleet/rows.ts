// sigma-api's VPS list, as `xrayr-mesh sync --from` reads it (docs/fleet-format.md): a JSON
// array of rows, or an object whose `items` is that array. Each row is checked on its own with
// zod; unknown fields are ignored. A bad row is reported with its number (1-based), the field
// and the value, and does not stop the others. Rows are a union on `status`: every row needs
// `id` and `status`; only an active row needs `hostname`, `ip` and `country` (and has its
// `xrayr_version` checked). A retired or provisioning row is never invalid for lack of them,
// so a synced node whose VPS is retired is always prunable.
import { z } from "zod";
import { LABEL_VALUE_NONEMPTY_PATTERN, regex } from "../api/v1alpha1/patterns.js";
import { describeType as describe, LABEL_VALUE_RULE_TEXT } from "../crd/validate.js";

export const VPS_STATUSES = ["active", "retired", "provisioning"] as const;
export type VpsStatus = (typeof VPS_STATUSES)[number];

/** An active row that passed the row schema. `id` is always a string ("1001" for 1001). */
export interface ActiveVpsRow {
  /** 1-based position in the list. */
  row: number;
  id: string;
  status: "active";
  hostname: string;
  ip: string;
  country: string;
  xrayrVersion?: string;
}

/** A retired or provisioning row: only its id and status matter (other fields are not read). */
export interface InactiveVpsRow {
  row: number;
  id: string;
  status: Exclude<VpsStatus, "active">;
}

/** One row that passed the row schema, by status. */
export type VpsRow = ActiveVpsRow | InactiveVpsRow;

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

/**
 * A row applied with a field changed to its normal form (a host name that is not one, an
 * address not written canonically): the VPS gets its node, and the change is reported so that
 * it can be fixed at the source. Never counted as invalid.
 */
export interface RowWarning {
  row: number;
  id: string;
  /** The row's field as sigma-api names it: hostname or ip. */
  field: string;
  /** The row's value. */
  value: string;
  /** What it became: the node's name (for hostname), the address written (for ip). */
  became: string;
  /** A full sentence naming the row, the field, the value and what it became. */
  message: string;
}

const LABEL_VALUE_RE = regex(LABEL_VALUE_NONEMPTY_PATTERN);

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

const statusSchema = z.enum(VPS_STATUSES, {
  error: (iss) =>
    iss.input === undefined || iss.input === null ? "status is missing." : `status ${describe(iss.input)} must be one of ${VPS_STATUSES.join(", ")}.`,
});

const notAnObject = { error: (iss: { input: unknown }) => `the row must be an object, not ${describe(iss.input)}.` };

/** What every row needs, whatever its status. */
const rowCommonSchema = z.object({ id: idSchema, status: statusSchema }, notAnObject);

/** What an active row needs besides. */
const activeFieldsSchema = z.object({
  hostname: requiredString("hostname"),
  ip: requiredString("ip"),
  country: requiredString("country"),
  xrayr_version: z
    .string({ error: (iss) => `xrayr_version must be a string, not ${describe(iss.input)}.` })
    .nullish()
    .transform((v) => (v === null || v === undefined || v.trim() === "" ? undefined : v)),
});

/**
 * One row of sigma-api's VPS list, a union on status: active rows carry hostname, ip and
 * country; retired and provisioning rows need only id and status. Strips unknown fields.
 */
export const vpsRowSchema = z.discriminatedUnion("status", [
  rowCommonSchema.extend({ status: z.literal("active"), ...activeFieldsSchema.shape }),
  rowCommonSchema.extend({ status: z.enum(["retired", "provisioning"]) }),
]);

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
    // The common fields first, then (for an active row) the rest, so every bad field of the row
    // is reported, the id's too when the status is bad. Together this is vpsRowSchema.
    const common = rowCommonSchema.safeParse(item, { reportInput: true });
    const active = (item as { status?: unknown } | null)?.status === "active" ? activeFieldsSchema.safeParse(item, { reportInput: true }) : undefined;
    if (!common.success || active?.success === false) {
      const rawId = typeof item === "object" && item !== null ? (item as { id?: unknown }).id : undefined;
      const id = typeof rawId === "number" || typeof rawId === "string" ? String(rawId) : undefined;
      for (const iss of [...(common.error?.issues ?? []), ...(active?.error?.issues ?? [])]) {
        const field = typeof iss.path[0] === "string" ? iss.path[0] : "row";
        const value = field === "row" ? item : (item as Record<string, unknown>)[field];
        issues.push({ row, ...(id !== undefined ? { id } : {}), field, value, message: iss.message });
      }
      return;
    }
    const d = common.data;
    const seen = firstRowOfId.get(d.id);
    if (seen !== undefined) {
      issues.push({ row, id: d.id, field: "id", value: (item as { id: unknown }).id, message: `id ${d.id} repeats row ${seen}; every VPS must have its own id.` });
      return;
    }
    firstRowOfId.set(d.id, row);
    if (d.status !== "active") {
      rows.push({ row, id: d.id, status: d.status });
      return;
    }
    const a = active?.data;
    if (a === undefined) return; // cannot happen: an active row's fields were checked above
    rows.push({
      row,
      id: d.id,
      status: "active",
      hostname: a.hostname,
      ip: a.ip,
      country: a.country,
      ...(a.xrayr_version !== undefined ? { xrayrVersion: a.xrayr_version } : {}),
    });
  });
  return { total: items.length, rows, issues };
}
