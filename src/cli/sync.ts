// xrayr-mesh sync: make airport-prod's synced XrayrNodes match sigma-api's VPS list. Reads the
// list, lists the live nodes (one read), prints the plan (src/fleet/plan.ts), and unless
// --dry-run carries it out: server-side apply of creates and updates, uid-guarded deletes with
// --prune, at most --concurrency calls in flight. Unchanged nodes get no request at all.
// Exit status: 0 all good; 1 some row invalid or some call failed; 2 usage or setup error.
import { XrayrNodeClient } from "../apply/xrayrnodes.js";
import type { AddressPolicy } from "../crd/address.js";
import { desiredFleet } from "../fleet/desired.js";
import { SYNC_MANAGER } from "../fleet/labels.js";
import { planCounts, planSync, type SyncPlan } from "../fleet/plan.js";
import type { Context } from "./context.js";
import { describeError } from "./errors.js";
import { pool, progress, table } from "./output.js";
import { parseJson, readSource } from "./source.js";

export interface SyncOptions {
  from: string;
  prune: boolean;
  dryRun: boolean;
  output: "table" | "json";
  addressPolicy: AddressPolicy;
  concurrency: number;
  tokenEnv: string;
}

export interface Failure {
  action: "create" | "update" | "delete";
  name: string;
  error: string;
}

export interface SyncResult {
  plan: SyncPlan;
  applied: { created: number; updated: number; deleted: number; alreadyGone: number };
  failures: Failure[];
}

/** A row value for the plan table: JSON, "(missing)", cut to 40 characters (the message has it whole). */
export function showValue(v: unknown): string {
  const s = v === undefined ? "(missing)" : JSON.stringify(v);
  return s.length > 40 ? `${s.slice(0, 39)}…` : s;
}

export function printPlan(p: SyncPlan, source: string, namespace: string, prune: boolean, out: (s: string) => void): void {
  const c = planCounts(p);
  out(`Plan for ${namespace} from ${source}: ${c.rows} rows`);
  const rows: string[][] = [
    ...p.create.map((e) => ["create", e.desired.name, String(e.desired.row), e.desired.id, e.reason]),
    ...p.update.map((e) => ["update", e.desired.name, String(e.desired.row), e.desired.id, e.reason]),
    ...p.delete.map((d) => ["delete", d.name, "-", d.vpsId ?? "-", d.reason]),
    ...p.prunable.map((d) => ["keep", d.name, "-", d.vpsId ?? "-", `${d.reason}; --prune would delete it`]),
    ...p.unchanged.filter((e) => e.reason !== "up to date").map((e) => ["unchanged", e.desired.name, String(e.desired.row), e.desired.id, e.reason]),
  ];
  if (rows.length > 0) out(table(["ACTION", "NAME", "ROW", "VPS", "REASON"], rows));
  if (p.invalid.length > 0) {
    out("");
    out(`Invalid rows (${c.invalidRows}; not applied):`);
    out(table(["ROW", "VPS", "FIELD", "VALUE", "PROBLEM"], p.invalid.map((i) => [String(i.row), i.id ?? "-", i.field, showValue(i.value), i.message])));
  }
  out("");
  out(
    `Plan: ${c.create} to create, ${c.update} to update, ${c.delete} to delete, ${c.unchanged} unchanged, ${c.invalidRows} invalid, ` +
      `${c.skipped} not active${!prune && c.prunable > 0 ? `; ${c.prunable} would be deleted with --prune` : ""}.`,
  );
}

/** Carries out the plan's writes; never throws for a failed call (it is listed instead). */
export async function executePlan(
  plan: SyncPlan,
  nodes: XrayrNodeClient,
  concurrency: number,
  server: string,
  progressOut: NodeJS.WriteStream = process.stderr,
): Promise<Pick<SyncResult, "applied" | "failures">> {
  type Task = { action: Failure["action"]; name: string; run: () => Promise<boolean> };
  const tasks: Task[] = [
    ...plan.create.map((e): Task => ({ action: "create", name: e.desired.name, run: async () => (await nodes.apply(e.desired.object, SYNC_MANAGER), true) })),
    ...plan.update.map((e): Task => ({ action: "update", name: e.desired.name, run: async () => (await nodes.apply(e.desired.object, SYNC_MANAGER), true) })),
    ...plan.delete.map((d): Task => ({ action: "delete", name: d.name, run: () => nodes.delete(d.name, d.uid) })),
  ];
  const applied = { created: 0, updated: 0, deleted: 0, alreadyGone: 0 };
  const failures: Failure[] = [];
  const bar = progress("applying", tasks.length, progressOut);
  await pool(tasks, concurrency, async (t) => {
    try {
      const did = await t.run();
      if (t.action === "create") applied.created++;
      else if (t.action === "update") applied.updated++;
      else if (did) applied.deleted++;
      else applied.alreadyGone++;
      bar.tick(false);
    } catch (err) {
      failures.push({ action: t.action, name: t.name, error: describeError(err, server) });
      bar.tick(true);
    }
  });
  bar.done();
  failures.sort((a, b) => a.name.localeCompare(b.name));
  return { applied, failures };
}

export async function runSync(ctx: Context, opts: SyncOptions, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const out = (s: string): void => {
    process.stdout.write(`${s}\n`);
  };
  const src = await readSource(opts.from, { tokenEnv: opts.tokenEnv, env });
  const doc = parseJson(src.text, src.name);
  const fleet = desiredFleet(doc, { namespace: ctx.namespace, addressPolicy: opts.addressPolicy });
  const nodes = new XrayrNodeClient(ctx.kc, ctx.namespace);
  const live = await nodes.list();
  const plan = planSync(fleet, live, { prune: opts.prune });
  const json = opts.output === "json";
  if (!json) printPlan(plan, src.name, ctx.namespace, opts.prune, out);

  let result: Pick<SyncResult, "applied" | "failures"> = { applied: { created: 0, updated: 0, deleted: 0, alreadyGone: 0 }, failures: [] };
  if (!opts.dryRun) {
    result = await executePlan(plan, nodes, opts.concurrency, ctx.server);
    if (!json) {
      const a = result.applied;
      if (result.failures.length > 0) {
        out("");
        out(`Failed (${result.failures.length}):`);
        out(table(["ACTION", "NAME", "ERROR"], result.failures.map((f) => [f.action, f.name, f.error])));
      }
      out(`Applied: ${a.created} created, ${a.updated} updated, ${a.deleted} deleted${a.alreadyGone > 0 ? ` (${a.alreadyGone} already gone)` : ""}, ${result.failures.length} failed.`);
    }
  } else if (!json) {
    out("Dry run: nothing was written.");
  }
  if (json) {
    out(JSON.stringify(syncJson(plan, ctx.namespace, src.name, opts, result), null, 2));
  }
  return plan.invalid.length > 0 || result.failures.length > 0 ? 1 : 0;
}

function syncJson(plan: SyncPlan, namespace: string, source: string, opts: SyncOptions, r: Pick<SyncResult, "applied" | "failures">): unknown {
  const entry = (e: SyncPlan["create"][number]) => ({ name: e.desired.name, row: e.desired.row, vpsId: e.desired.id, reason: e.reason });
  return {
    namespace,
    source,
    dryRun: opts.dryRun,
    prune: opts.prune,
    counts: planCounts(plan),
    create: plan.create.map(entry),
    update: plan.update.map(entry),
    delete: plan.delete.map((d) => ({ name: d.name, vpsId: d.vpsId, reason: d.reason })),
    prunable: plan.prunable.map((d) => ({ name: d.name, vpsId: d.vpsId, reason: d.reason })),
    unchanged: plan.unchanged.map(entry),
    invalid: plan.invalid,
    skipped: plan.skipped,
    applied: r.applied,
    failures: r.failures,
  };
}
