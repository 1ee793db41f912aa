// xrayr-mesh sync: make airport-prod's synced XrayrNodes match sigma-api's VPS list. Reads the
// list, lists the live nodes (one read), prints the plan (src/fleet/plan.ts), and unless
// --dry-run carries it out: server-side apply of creates and updates, deletes with --prune
// guarded by uid and resourceVersion (a node changed since the LIST is deleted only if it is
// still the node the plan decided on), at most --concurrency calls in flight. Unchanged nodes
// get no request at all. The old node of a renamed VPS is deleted only after its new node was
// created: if that create fails, the old node stays (listed as kept) and the VPS stays on the
// mesh. With --prune the prune guard (src/fleet/prune-guard.ts) may refuse the whole sync (a
// list that looks partial or empty) or only its deletes (more than --max-prune): one sentence
// on stderr.
// Exit status: 0 all good; 1 some row invalid, some call failed or the prune guard refused;
// 2 usage or setup error.
import { statusCode } from "../controller/api-errors.js";
import { XrayrNodeClient } from "../apply/xrayrnodes.js";
import type { AddressPolicy } from "../crd/address.js";
import type { XrayrNode } from "../api/v1alpha1/types.js";
import { desiredFleet, type DesiredFleet } from "../fleet/desired.js";
import { isSynced, SYNC_MANAGER } from "../fleet/labels.js";
import { vpsIdOf } from "../domain/vps.js";
import { planCounts, planSync, type DeleteEntry, type SyncPlan } from "../fleet/plan.js";
import { pruneGuard, type MaxPrune, type PruneRefusal } from "../fleet/prune-guard.js";
import type { Context } from "./context.js";
import { CliError, describeError } from "./errors.js";
import { pool } from "../controller/pool.js";
import { progress, table } from "./output.js";
import { parseJson, readSource } from "./source.js";

export interface SyncOptions {
  from: string;
  prune: boolean;
  /** --max-prune; the prune guard's default bound when undefined (src/fleet/prune-guard.ts). */
  maxPrune?: MaxPrune;
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

/** The old node of a renamed VPS, not deleted because its replacement was not created. */
export interface Held {
  name: string;
  replacement: string;
}

export interface SyncResult {
  plan: SyncPlan;
  applied: { created: number; updated: number; deleted: number; alreadyGone: number };
  failures: Failure[];
  held: Held[];
}

/** The calls sync makes after its LIST (XrayrNodeClient's; a fake in tests). */
export type NodeWriter = Pick<XrayrNodeClient, "apply" | "delete" | "get">;

/**
 * Deletes the node the plan decided on, and only that: the delete carries the uid and
 * resourceVersion the plan read. A 409 says the node changed since; the operator's status writes
 * change its resourceVersion too, so it is read again and deleted only if it is still the same
 * object, still sync's, for the same VPS; otherwise it is kept and reported.
 */
async function deleteAsPlanned(nodes: NodeWriter, d: DeleteEntry): Promise<boolean> {
  try {
    return await nodes.delete(d.name, { uid: d.uid, resourceVersion: d.resourceVersion });
  } catch (err) {
    if (statusCode(err) !== 409) throw err;
  }
  const now = await nodes.get(d.name);
  if (now === undefined) return false;
  const why =
    now.metadata.uid !== d.uid
      ? "it was deleted and created again"
      : !isSynced(now)
        ? "it is no longer sync's (registered over, or relabelled)"
        : vpsIdOf(now) !== d.vpsId
          ? `it now stands for VPS ${vpsIdOf(now) ?? "(none)"}`
          : undefined;
  if (why !== undefined) throw new CliError(`XrayrNode ${d.name} changed since sync listed it: ${why}; not deleted.`, 1);
  return nodes.delete(d.name, { uid: d.uid, resourceVersion: now.metadata.resourceVersion ?? "" });
}

/**
 * What sync carries out once the prune guard has spoken: nothing when it refused the whole sync;
 * when it refused only the deletes, what a sync without --prune would do. Not the pruned plan
 * minus its deletes: that plan gives the address of each node it deletes to the row that wants
 * it (a renamed VPS, a reused IP), and creating those beside the kept node would be an address
 * conflict.
 */
export function planToRun(fleet: DesiredFleet, live: readonly XrayrNode[], plan: SyncPlan, refusal: PruneRefusal | undefined): SyncPlan | undefined {
  if (refusal === undefined) return plan;
  return refusal.scope === "sync" ? undefined : planSync(fleet, live, { prune: false });
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
  if (p.warnings.length > 0) {
    out("");
    out(`Normalised rows (${c.warnedRows}; applied as normalised, fix them in sigma-api):`);
    out(table(["ROW", "VPS", "FIELD", "VALUE", "BECAME", "WHY"], p.warnings.map((w) => [String(w.row), w.id, w.field, showValue(w.value), w.became, w.message])));
  }
  if (p.invalid.length > 0) {
    out("");
    out(`Invalid rows (${c.invalidRows}; not applied):`);
    out(table(["ROW", "VPS", "FIELD", "VALUE", "PROBLEM"], p.invalid.map((i) => [String(i.row), i.id ?? "-", i.field, showValue(i.value), i.message])));
  }
  out("");
  out(
    `Plan: ${c.create} to create, ${c.update} to update, ${c.delete} to delete, ${c.unchanged} unchanged, ${c.invalidRows} invalid, ` +
      `${c.warnedRows} normalised, ${c.skipped} not active${!prune && c.prunable > 0 ? `; ${c.prunable} would be deleted with --prune` : ""}.`,
  );
}

/**
 * Carries out the plan's writes; never throws for a failed call (it is listed instead). Creates,
 * updates and deletes run together, except the delete of a renamed VPS's old node whose new
 * node is in the creates: it runs after that create, and only if it succeeded.
 */
export async function executePlan(
  plan: SyncPlan,
  nodes: NodeWriter,
  concurrency: number,
  server: string,
  progressOut: NodeJS.WriteStream = process.stderr,
): Promise<Pick<SyncResult, "applied" | "failures" | "held">> {
  type Task = { action: Failure["action"]; name: string; run: () => Promise<boolean> };
  const deleteTask = (d: DeleteEntry): Task => ({ action: "delete", name: d.name, run: () => deleteAsPlanned(nodes, d) });
  const creating = new Set(plan.create.map((e) => e.desired.name));
  const afterCreate = plan.delete.filter((d) => d.replacement !== undefined && creating.has(d.replacement));
  const first: Task[] = [
    ...plan.create.map((e): Task => ({ action: "create", name: e.desired.name, run: async () => (await nodes.apply(e.desired.object, SYNC_MANAGER), true) })),
    ...plan.update.map((e): Task => ({ action: "update", name: e.desired.name, run: async () => (await nodes.apply(e.desired.object, SYNC_MANAGER), true) })),
    ...plan.delete.filter((d) => !afterCreate.includes(d)).map(deleteTask),
  ];
  const applied = { created: 0, updated: 0, deleted: 0, alreadyGone: 0 };
  const failures: Failure[] = [];
  const created = new Set<string>();
  const bar = progress("applying", first.length + afterCreate.length, progressOut);
  const run = (tasks: readonly Task[]) =>
    pool(tasks, concurrency, async (t) => {
      try {
        const did = await t.run();
        if (t.action === "create") {
          applied.created++;
          created.add(t.name);
        } else if (t.action === "update") applied.updated++;
        else if (did) applied.deleted++;
        else applied.alreadyGone++;
        bar.tick(false);
      } catch (err) {
        failures.push({ action: t.action, name: t.name, error: describeError(err, server) });
        bar.tick(true);
      }
    });
  await run(first);
  const held: Held[] = [];
  const then: Task[] = [];
  for (const d of afterCreate) {
    if (created.has(d.replacement ?? "")) then.push(deleteTask(d));
    else {
      held.push({ name: d.name, replacement: d.replacement ?? "" });
      bar.tick(false);
    }
  }
  await run(then);
  bar.done();
  failures.sort((a, b) => a.name.localeCompare(b.name));
  held.sort((a, b) => a.name.localeCompare(b.name));
  return { applied, failures, held };
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
  const refusal = opts.prune ? pruneGuard(doc, plan, { maxPrune: opts.maxPrune, source: src.name }) : undefined;
  const json = opts.output === "json";
  if (!json) printPlan(plan, src.name, ctx.namespace, opts.prune, out);

  let result: Pick<SyncResult, "applied" | "failures" | "held"> = { applied: { created: 0, updated: 0, deleted: 0, alreadyGone: 0 }, failures: [], held: [] };
  const run = planToRun(fleet, live, plan, refusal);
  if (run === undefined) {
    if (!json) out(opts.dryRun ? "Dry run: nothing was written." : "Nothing was written.");
  } else if (!opts.dryRun) {
    result = await executePlan(run, nodes, opts.concurrency, ctx.server);
    if (!json) {
      const a = result.applied;
      if (result.failures.length > 0) {
        out("");
        out(`Failed (${result.failures.length}):`);
        out(table(["ACTION", "NAME", "ERROR"], result.failures.map((f) => [f.action, f.name, f.error])));
      }
      if (result.held.length > 0) {
        out("");
        out(`Kept (${result.held.length}; their VPS's new node was not created, so they stay on the mesh):`);
        out(table(["NAME", "NEW NAME"], result.held.map((h) => [h.name, h.replacement])));
      }
      const waiting = plan.create.length - run.create.length;
      const refused = refusal !== undefined ? ` (${plan.delete.length} deletes refused${waiting > 0 ? `, ${waiting} creates wait for them` : ""})` : "";
      out(`Applied: ${a.created} created, ${a.updated} updated, ${a.deleted} deleted${a.alreadyGone > 0 ? ` (${a.alreadyGone} already gone)` : ""}${refused}, ${result.failures.length} failed.`);
    }
  } else if (!json) {
    out("Dry run: nothing was written.");
  }
  if (json) {
    out(JSON.stringify(syncJson(plan, ctx.namespace, src.name, opts, result, refusal), null, 2));
  }
  // Last, so the sentence is what a CronJob's log ends with.
  if (refusal !== undefined) process.stderr.write(`xrayr-mesh: ${refusal.message}\n`);
  return plan.invalid.length > 0 || result.failures.length > 0 || refusal !== undefined ? 1 : 0;
}

function syncJson(
  plan: SyncPlan,
  namespace: string,
  source: string,
  opts: SyncOptions,
  r: Pick<SyncResult, "applied" | "failures" | "held">,
  refusal: PruneRefusal | undefined,
): unknown {
  const entry = (e: SyncPlan["create"][number]) => ({ name: e.desired.name, row: e.desired.row, vpsId: e.desired.id, reason: e.reason });
  return {
    namespace,
    source,
    dryRun: opts.dryRun,
    prune: opts.prune,
    counts: planCounts(plan),
    create: plan.create.map(entry),
    update: plan.update.map(entry),
    delete: plan.delete.map((d) => ({ name: d.name, vpsId: d.vpsId, reason: d.reason, ...(d.replacement !== undefined ? { replacement: d.replacement } : {}) })),
    prunable: plan.prunable.map((d) => ({ name: d.name, vpsId: d.vpsId, reason: d.reason })),
    unchanged: plan.unchanged.map(entry),
    invalid: plan.invalid,
    warnings: plan.warnings,
    skipped: plan.skipped,
    applied: r.applied,
    failures: r.failures,
    held: r.held,
    ...(refusal !== undefined ? { refused: refusal } : {}),
  };
}
