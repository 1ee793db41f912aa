// The prune guard: `sync --prune` deletes every synced node whose VPS the list no longer holds,
// so a list that is wrong in a way no row shows (an empty answer, one page of many, a cut-off
// body) would take the fleet off the mesh. Before any write the guard looks at the document and
// the plan and refuses:
//   - the whole sync, when the document itself looks incomplete: a pagination or continuation
//     field the fleet format does not define (`next`, `continue`, `page`, `cursor`, ...), or a
//     `total` that is not the number of rows it holds. Its rows cannot be trusted to be all of
//     them, and a half-applied sync of a partial list is harder to reason about than none;
//   - the whole sync, when the list has no active rows and there are synced nodes to delete
//     (it could create or update nothing anyway);
//   - only the deletes, when there are more than the bound (default 10 % of the synced nodes,
//     at least 5; --max-prune N or P%): each row that is there is still right, so creates and
//     updates go ahead (as without --prune: src/cli/sync.ts planToRun) and only the mass delete
//     waits for a person.
// `--max-prune 100%` turns every check off: the operator of the CronJob says the list is whole.
// Pure: the CLI passes the parsed document and the plan (src/cli/sync.ts).
import { describeType } from "../crd/validate.js";
import { redactUrls } from "../observability/redact.js";
import type { SyncPlan } from "./plan.js";
import { fleetItems } from "./rows.js";

/** How many deletes --max-prune allows: a number of nodes, or a share of the synced nodes. */
export type MaxPrune = { count: number } | { percent: number };

/** The default bound: 10 % of the synced nodes, and never fewer than 5 (small fleets retire VPS one by one). */
export const DEFAULT_MAX_PRUNE_PERCENT = 10;
export const DEFAULT_MAX_PRUNE_MIN = 5;

/** --max-prune's value: "N" (whole number of nodes) or "P%" (0 to 100); undefined when it is neither. */
export function parseMaxPrune(s: string): MaxPrune | undefined {
  const t = s.trim();
  if (/^\d{1,9}$/.test(t)) return { count: Number(t) };
  const m = /^(\d{1,3}(?:\.\d+)?)\s*%$/.exec(t);
  if (m === null) return undefined;
  const percent = Number(m[1]);
  return percent <= 100 ? { percent } : undefined;
}

/**
 * Top-level fields of list APIs that page, compared without case, `_` and `-`. The fleet
 * format defines none of them, so whatever their value (even `"next": null` or
 * `"hasMore": false` on a last page that is not the first), the document may not be the whole
 * list.
 */
const PAGINATION_FIELDS = new Set(
  [
    "next", "nextPage", "nextPageToken", "nextPageUrl", "nextLink", "@odata.nextLink", "nextToken", "pageToken",
    "continue", "continueToken", "continuationToken", "remainingItemCount",
    "cursor", "nextCursor", "marker", "nextMarker", "pageInfo",
    "page", "pages", "pageNumber", "pageSize", "perPage", "pageCount", "totalPages", "currentPage", "lastPage",
    "hasMore", "hasNext", "hasNextPage", "isLastPage",
    "offset", "limit", "skip", "pagination", "paging",
  ].map(normaliseKey),
);
/** Objects beside `items` where list APIs put their paging fields (Kubernetes: metadata.continue; JSON:API and HAL: links.next). */
const PAGING_CONTAINERS = new Set(["metadata", "meta", "links", "_links"]);

function normaliseKey(k: string): string {
  return k.toLowerCase().replace(/[-_]/g, "");
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** The first pagination field of the document, as a path ("next", "metadata.continue"), and its value. */
export function paginationField(doc: unknown): { field: string; value: unknown } | undefined {
  if (!isRecord(doc)) return undefined;
  for (const [k, v] of Object.entries(doc)) {
    if (PAGINATION_FIELDS.has(normaliseKey(k))) return { field: k, value: v };
    if (PAGING_CONTAINERS.has(k) && isRecord(v)) {
      for (const [k2, v2] of Object.entries(v)) {
        if (PAGINATION_FIELDS.has(normaliseKey(k2))) return { field: `${k}.${k2}`, value: v2 };
      }
    }
  }
  return undefined;
}

export interface PruneRefusal {
  /** "sync": nothing is written; "deletes": creates and updates are applied, deletes are not. */
  scope: "sync" | "deletes";
  reason: "pagination" | "total" | "empty" | "too-many";
  /** One sentence: why, and how to override. */
  message: string;
}

export interface PruneGuardOptions {
  /** --max-prune; the default bound when undefined. */
  maxPrune?: MaxPrune | undefined;
  /** The list's name for messages (a file, "standard input", or the URL without credentials or query). */
  source: string;
}

/** The most deletes the bound allows for `synced` nodes, and how to say it. */
export function pruneBound(synced: number, maxPrune: MaxPrune | undefined): { max: number; text: string } {
  // In thousandths of a percent, so that 10 % of 70 is 7 and not 7.000000000000001 (or 6.99...).
  const share = (percent: number): number => Math.floor((Math.round(percent * 1000) * synced) / 100_000);
  if (maxPrune === undefined) {
    return {
      max: Math.max(DEFAULT_MAX_PRUNE_MIN, share(DEFAULT_MAX_PRUNE_PERCENT)),
      text: `the default: ${DEFAULT_MAX_PRUNE_PERCENT}% of them, at least ${DEFAULT_MAX_PRUNE_MIN}`,
    };
  }
  if ("count" in maxPrune) return { max: maxPrune.count, text: `--max-prune ${maxPrune.count}` };
  return { max: share(maxPrune.percent), text: `--max-prune ${maxPrune.percent}% of them` };
}

/** A document value for a message: its type or JSON, URLs without credentials or query, cut short. */
function shown(v: unknown): string {
  const s = redactUrls(describeType(v));
  return s.length > 60 ? `${s.slice(0, 59)}…` : s;
}

const OVERRIDE = "pass --max-prune 100% to prune on it anyway";

/**
 * Why `sync --prune` must not go ahead as planned, or undefined when it may. `doc` is the parsed
 * list (an array or an object with `items`), `plan` the plan made from it with prune on.
 */
export function pruneGuard(doc: unknown, plan: SyncPlan, { maxPrune, source }: PruneGuardOptions): PruneRefusal | undefined {
  if (maxPrune !== undefined && "percent" in maxPrune && maxPrune.percent >= 100) return undefined;
  const items = fleetItems(doc);
  const deletes = plan.delete.length;

  const paging = paginationField(doc);
  if (paging !== undefined) {
    return {
      scope: "sync",
      reason: "pagination",
      message:
        `refusing to sync with --prune: the VPS list from ${source} has the field "${paging.field}" (${shown(paging.value)}), which marks one page of a longer list, ` +
        `and the fleet format has no pages, so pruning on it could delete VPS that are only on other pages; serve the whole list in one document, or ${OVERRIDE}.`,
    };
  }

  if (isRecord(doc) && "total" in doc && doc.total !== null) {
    const raw = doc.total;
    const total = typeof raw === "number" ? raw : typeof raw === "string" && /^\d+$/.test(raw.trim()) ? Number(raw) : Number.NaN;
    if (total !== items.length) {
      const what = Number.isInteger(total) ? `says "total": ${JSON.stringify(raw)} but holds ${items.length} rows` : `has "total": ${shown(raw)}, which is not a number of rows`;
      return {
        scope: "sync",
        reason: "total",
        message: `refusing to sync with --prune: the VPS list from ${source} ${what}, so it may be cut off and pruning on it could delete VPS that are only missing from it; fix the list, or ${OVERRIDE}.`,
      };
    }
  }

  const active = items.filter((i) => isRecord(i) && i.status === "active").length;
  if (active === 0 && deletes > 0) {
    return {
      scope: "sync",
      reason: "empty",
      message: `refusing to sync with --prune: the VPS list from ${source} has ${items.length === 0 ? "no rows" : `no active rows (${items.length} rows, none active)`}, so it would delete all ${deletes} synced nodes; if sigma-api really has no active VPS, pass --max-prune 100%.`,
    };
  }

  const bound = pruneBound(plan.synced, maxPrune);
  if (deletes > bound.max) {
    return {
      scope: "deletes",
      reason: "too-many",
      message:
        `refusing to delete ${deletes} of the ${plan.synced} synced nodes: the bound is ${bound.max} (${bound.text}) and a list cut short asks for just this; ` +
        `creates and updates are applied, deletes are not; check the list, or pass --max-prune ${deletes} (or 100%) to delete them.`,
    };
  }
  return undefined;
}
