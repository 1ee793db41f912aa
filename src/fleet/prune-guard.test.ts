import type { XrayrNode } from "../api/v1alpha1/types.js";
import { desiredFleet } from "./desired.js";
import { planSync } from "./plan.js";
import { paginationField, parseMaxPrune, pruneBound, pruneGuard, type MaxPrune } from "./prune-guard.js";
import { syntheticFleet, type SyntheticRow } from "../../test/support/synthetic-fleet.js";

const opts = { namespace: "airport-prod", addressPolicy: "public" as const };
const source = "https://sigma-api.internal/api/vps";

/** 60 VPS, all synced: the nodes a previous sync of the whole list created. */
const all = syntheticFleet({ count: 60 }).rows;
const synced: XrayrNode[] = desiredFleet(all, opts).nodes.map((d) => ({
  ...d.object,
  metadata: { ...d.object.metadata, uid: `uid-${d.name}`, resourceVersion: "1" },
  spec: d.spec,
}));

/** The guard's verdict on `doc` against the 60 synced nodes. */
function verdict(doc: unknown, maxPrune?: MaxPrune, live: XrayrNode[] = synced) {
  const plan = planSync(desiredFleet(doc, opts), live, { prune: true });
  return { plan, refusal: pruneGuard(doc, plan, { maxPrune, source }) };
}

const retire = (rows: SyntheticRow[], n: number): SyntheticRow[] => rows.map((r, i) => (i < n ? { ...r, status: "retired" } : r));

describe("pruneGuard", () => {
  test("the whole list, or a few VPS retired: no refusal", () => {
    expect(verdict(all).refusal).toBeUndefined();
    expect(verdict({ total: 60, items: all }).refusal).toBeUndefined();
    expect(verdict(retire(all, 6)).refusal).toBeUndefined(); // 10 % of 60
  });

  test("an empty list refuses the whole sync, in one sentence with the way out", () => {
    const { refusal } = verdict([]);
    expect(refusal).toEqual({
      scope: "sync",
      reason: "empty",
      message:
        "refusing to sync with --prune: the VPS list from https://sigma-api.internal/api/vps has no rows, so it would delete all 60 synced nodes; if sigma-api really has no active VPS, pass --max-prune 100%.",
    });
    expect(verdict({ items: [] }).refusal?.reason).toBe("empty");
  });

  test("rows but none active is just as empty; with nothing synced there is nothing to lose", () => {
    const r = verdict(retire(all, 60)).refusal;
    expect(r?.reason).toBe("empty");
    expect(r?.message).toContain("has no active rows (60 rows, none active), so it would delete all 60 synced nodes");
    expect(verdict([], undefined, []).refusal).toBeUndefined();
  });

  test("a list with 30 % of its rows missing: the deletes are refused, creates and updates still apply", () => {
    const { plan, refusal } = verdict(all.slice(0, 42));
    expect(plan.delete).toHaveLength(18);
    expect(refusal).toEqual({
      scope: "deletes",
      reason: "too-many",
      message:
        "refusing to delete 18 of the 60 synced nodes: the bound is 6 (the default: 10% of them, at least 5) and a list cut short asks for just this; creates and updates are applied, deletes are not; check the list, or pass --max-prune 18 (or 100%) to delete them.",
    });
  });

  test("the bound: 10 % of the synced nodes, at least 5; --max-prune N or P% replaces it", () => {
    expect(verdict(all.slice(0, 53)).refusal?.reason).toBe("too-many"); // 7 > 6
    expect(pruneBound(60, undefined).max).toBe(6);
    expect(pruneBound(70, undefined).max).toBe(7);
    expect(pruneBound(20, undefined).max).toBe(5);
    expect(pruneBound(0, undefined).max).toBe(5);
    expect(pruneBound(60, { count: 0 }).max).toBe(0);
    expect(pruneBound(60, { percent: 50 }).max).toBe(30);
    expect(pruneBound(60, { percent: 12.5 }).max).toBe(7);
    expect(pruneBound(60, { percent: 100 }).max).toBe(60);
    expect(verdict(all.slice(0, 42), { count: 18 }).refusal).toBeUndefined();
    expect(verdict(all.slice(0, 42), { count: 17 }).refusal?.message).toContain("the bound is 17 (--max-prune 17)");
    expect(verdict(all.slice(0, 42), { percent: 30 }).refusal).toBeUndefined();
    expect(verdict(all.slice(0, 42), { percent: 25 }).refusal?.message).toContain("the bound is 15 (--max-prune 25% of them)");
    expect(verdict(retire(all, 1), { count: 0 }).refusal?.reason).toBe("too-many");
  });

  test("a total that is not the number of rows refuses the whole sync", () => {
    const { refusal } = verdict({ items: all.slice(0, 20), total: 200 });
    expect(refusal).toEqual({
      scope: "sync",
      reason: "total",
      message:
        'refusing to sync with --prune: the VPS list from https://sigma-api.internal/api/vps says "total": 200 but holds 20 rows, so it may be cut off and pruning on it could delete VPS that are only missing from it; fix the list, or pass --max-prune 100% to prune on it anyway.',
    });
    expect(verdict({ items: all, total: "60" }).refusal).toBeUndefined();
    expect(verdict({ items: all, total: null }).refusal).toBeUndefined();
    expect(verdict({ items: all, total: "sixty" }).refusal?.message).toContain('has "total": "sixty", which is not a number of rows');
    // Even when the short list deletes nothing (its missing rows were never synced), it is not the list.
    expect(verdict({ items: all.slice(0, 20), total: 200 }, undefined, synced.slice(0, 20)).refusal?.reason).toBe("total");
  });

  test("a pagination or continuation field refuses the whole sync, naming it and its value without secrets", () => {
    const { refusal } = verdict({ items: all.slice(0, 20), next: "https://sigma-api.internal/api/vps?page=2&token=s3cret" });
    expect(refusal).toEqual({
      scope: "sync",
      reason: "pagination",
      message:
        'refusing to sync with --prune: the VPS list from https://sigma-api.internal/api/vps has the field "next" ("https://sigma-api.internal/api/vps"), which marks one page of a longer list, and the fleet format has no pages, so pruning on it could delete VPS that are only on other pages; serve the whole list in one document, or pass --max-prune 100% to prune on it anyway.',
    });
    expect(verdict({ items: all, hasMore: false }).refusal?.reason).toBe("pagination"); // a last page need not be the first
  });

  test.each([
    [{ items: [], next: null }, "next"],
    [{ items: [], continue: "eyJ2IjoibWV0YS5rOHMuaW8vdjEifQ" }, "continue"],
    [{ items: [], nextPageToken: "abc" }, "nextPageToken"],
    [{ items: [], next_page_token: "abc" }, "next_page_token"],
    [{ items: [], page: 1, per_page: 20 }, "page"],
    [{ items: [], cursor: "c1" }, "cursor"],
    [{ items: [], has_more: true }, "has_more"],
    [{ items: [], offset: 0, limit: 20 }, "offset"],
    [{ items: [], metadata: { continue: "x", resourceVersion: "9" } }, "metadata.continue"],
    [{ items: [], links: { self: "/vps", next: "/vps?page=2" } }, "links.next"],
  ])("%j is paginated (%s)", (doc, field) => {
    expect(paginationField(doc)?.field).toBe(field);
  });

  test.each([[[]], [{ items: [], total: 0 }], [{ items: [], generated_at: "2026-01-01", metadata: { resourceVersion: "9" } }]])("%j is not paginated", (doc) => {
    expect(paginationField(doc)).toBeUndefined();
  });

  test("--max-prune 100% takes the list as whole: every check is off", () => {
    for (const doc of [[], all.slice(0, 42), { items: all.slice(0, 20), total: 200 }, { items: all.slice(0, 20), next: "p2" }]) {
      expect(verdict(doc, { percent: 100 }).refusal).toBeUndefined();
    }
    // A count, however large, bounds the deletes; it does not vouch for a list that says it is partial.
    expect(verdict({ items: all.slice(0, 20), next: "p2" }, { count: 1000 }).refusal?.reason).toBe("pagination");
  });
});

describe("parseMaxPrune", () => {
  test.each([
    ["0", { count: 0 }],
    ["25", { count: 25 }],
    ["100%", { percent: 100 }],
    ["12.5%", { percent: 12.5 }],
    ["0%", { percent: 0 }],
  ])("%s", (s, want) => {
    expect(parseMaxPrune(s)).toEqual(want);
  });
  test.each(["", "-1", "1.5", "101%", "ten", "10 %%", "%"])("%j is refused", (s) => {
    expect(parseMaxPrune(s)).toBeUndefined();
  });
});
