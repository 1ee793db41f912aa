// xrayr-mesh sync: make airport-prod's synced XrayrNodes match sigma-api's VPS list. Reads the
// list, lists the live nodes (one read), prints the plan (src/fleet/plan.ts), and unless
// --dry-run carries it out: server-side apply of creates and updates, deletes with --prune
// guarded by uid and resourceVersion (a node changed since the LIST is deleted only if it is
// still the node the plan decided on), at most --concurrency calls in flight. Unchanged nodes
// get no request at all. The old node of a renamed VPS is deleted only after its new node was
// created: if that create fails, the old node stays (listed as kept) and the VPS stays on the
// mesh. With --prune the prune guard (src/fleet/prune-guard.ts) may refuse the whole sync (a
// list that looks partial or empty) or only its deletes (more than --max-prune): one sentence
// on stderr. --dry-run (client) stops after the plan; --dry-run=server sends every write of the
// plan with dryRun=All, so the API server's admission judges each one and nothing is stored.
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
import { forPeople, print, progress, table, type Format, type Printable } from "./output.js";
import { parseJson, readSource } from "./source.js";

export interface SyncOptions {
  from: string;
  prune: boolean;
  /** --max-prune; the prune guard's default bound when undefined (src/fleet/prune-guard.ts). */
  maxPrune?: MaxPrune;
  /** false: write; "client": plan only; "server": every write sent as a server-side dry run. */
  dryRun: false | "client" | "server";
  output: Format;
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

/** The plan as sync prints it before carrying it out. */
export function planView(p: SyncPlan, source: string, namespace: string, prune: boolean): Printable {
  return {
    data: () => p,
    table: () => {
      const c = planCounts(p);
      const out = [`Plan for ${namespace} from ${source}: ${c.rows} rows`];
      const rows: string[][] = [
        ...p.create.map((e) => ["create", e.desired.name, String(e.desired.row), e.desired.id, e.reason]),
        ...p.update.map((e) => ["update", e.desired.name, String(e.desired.row), e.desired.id, e.reason]),
        ...p.delete.map((d) => ["delete", d.name, "-", d.vpsId ?? "-", d.reason]),
        ...p.prunable.map((d) => ["keep", d.name, "-", d.vpsId ?? "-", `${d.reason}; --prune would delete it`]),
        ...p.unchanged.filter((e) => e.reason !== "up to date").map((e) => ["unchanged", e.desired.name, String(e.desired.row), e.desired.id, e.reason]),
      ];
      if (rows.length > 0) out.push(table(["ACTION", "NAME", "ROW", "VPS", "REASON"], rows));
      if (p.warnings.length > 0) {
        out.push("", `Normalised rows (${c.warnedRows}; applied as normalised, fix them in sigma-api):`);
        out.push(table(["ROW", "VPS", "FIELD", "VALUE", "BECAME", "WHY"], p.warnings.map((w) => [String(w.row), w.id, w.field, showValue(w.value), w.became, w.message])));
      }
      if (p.invalid.length > 0) {
        out.push("", `Invalid rows (${c.invalidRows}; not applied):`);
        out.push(table(["ROW", "VPS", "FIELD", "VALUE", "PROBLEM"], p.invalid.map((i) => [String(i.row), i.id ?? "-", i.field, showValue(i.value), i.message])));
      }
      out.push(
        "",
        `Plan: ${c.create} to create, ${c.update} to update, ${c.delete} to delete, ${c.unchanged} unchanged, ${c.invalidRows} invalid, ` +
          `${c.warnedRows} normalised, ${c.skipped} not active${!prune && c.prunable > 0 ? `; ${c.prunable} would be deleted with --prune` : ""}.`,
      );
      return out.join("\n");
    },
  };
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

/** Everything one sync did, for its result and its JSON or YAML document. */
export interface SyncReport {
  namespace: string;
  source: string;
  prune: boolean;
  dryRun: SyncOptions["dryRun"];
  plan: SyncPlan;
  /** What was carried out: the plan, or less when the prune guard refused its deletes; undefined when it refused the sync. */
  run: SyncPlan | undefined;
  refusal: PruneRefusal | undefined;
  result: Pick<SyncResult, "applied" | "failures" | "held">;
}

/** What sync did, after its plan: the sentence a CronJob's log ends with. */
export function resultView(r: SyncReport): Printable {
  return {
    data: () => syncData(r),
    table: () => {
      if (r.run === undefined || r.dryRun === "client") return r.dryRun === false ? "Nothing was written." : "Dry run: nothing was written.";
      const out: string[] = [];
      const { applied: a, failures, held } = r.result;
      if (failures.length > 0) out.push("", `Failed (${failures.length}):`, table(["ACTION", "NAME", "ERROR"], failures.map((f) => [f.action, f.name, f.error])));
      if (held.length > 0) {
        out.push("", `Kept (${held.length}; their VPS's new node was not created, so they stay on the mesh):`, table(["NAME", "NEW NAME"], held.map((h) => [h.name, h.replacement])));
      }
      const waiting = r.plan.create.length - r.run.create.length;
      const refused = r.refusal !== undefined ? ` (${r.plan.delete.length} deletes refused${waiting > 0 ? `, ${waiting} creates wait for them` : ""})` : "";
      const counts = `${a.created} created, ${a.updated} updated, ${a.deleted} deleted${a.alreadyGone > 0 ? ` (${a.alreadyGone} already gone)` : ""}${refused}, ${failures.length} failed.`;
      out.push(r.dryRun === "server" ? `Server dry run (admission ran on every write, nothing was stored): ${counts}` : `Applied: ${counts}`);
      return out.join("\n");
    },
  };
}

/** The plan and what came of it, as one document. */
export function syncView(r: SyncReport): Printable {
  return {
    data: () => syncData(r),
    table: (wide) => `${planView(r.plan, r.source, r.namespace, r.prune).table(wide)}\n${resultView(r).table(wide)}`,
  };
}

/** Sends every write with dryRun=All: the API server runs admission and stores nothing. */
function serverDryRun(nodes: XrayrNodeClient): NodeWriter {
  return {
    get: (name) => nodes.get(name),
    apply: (node, manager) => nodes.apply(node, manager, { dryRun: true }),
    delete: (name, preconditions) => nodes.delete(name, preconditions, { dryRun: true }),
  };
}

export async function runSync(ctx: Context, opts: SyncOptions, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const src = await readSource(opts.from, { tokenEnv: opts.tokenEnv, env });
  const doc = parseJson(src.text, src.name);
  const fleet = desiredFleet(doc, { namespace: ctx.namespace, addressPolicy: opts.addressPolicy });
  const nodes = new XrayrNodeClient(ctx.kc, ctx.namespace);
  const live = await nodes.list();
  const plan = planSync(fleet, live, { prune: opts.prune });
  const refusal = opts.prune ? pruneGuard(doc, plan, { maxPrune: opts.maxPrune, source: src.name }) : undefined;
  const report: SyncReport = {
    namespace: ctx.namespace,
    source: src.name,
    prune: opts.prune,
    dryRun: opts.dryRun,
    plan,
    run: planToRun(fleet, live, plan, refusal),
    refusal,
    result: { applied: { created: 0, updated: 0, deleted: 0, alreadyGone: 0 }, failures: [], held: [] },
  };
  // A person sees the plan before anything is written; a script gets one document at the end.
  const people = forPeople(opts.output);
  if (people) print(planView(plan, src.name, ctx.namespace, opts.prune), opts.output);
  if (report.run !== undefined && opts.dryRun !== "client") {
    report.result = await executePlan(report.run, opts.dryRun === "server" ? serverDryRun(nodes) : nodes, opts.concurrency, ctx.server);
  }
  print(people ? resultView(report) : syncView(report), opts.output);
  // Last, so the sentence is what a CronJob's log ends with.
  if (refusal !== undefined) process.stderr.write(`xrayr-mesh: ${refusal.message}\n`);
  return plan.invalid.length > 0 || report.result.failures.length > 0 || refusal !== undefined ? 1 : 0;
}

function syncData(r: SyncReport): unknown {
  const { plan } = r;
  const entry = (e: SyncPlan["create"][number]) => ({ name: e.desired.name, row: e.desired.row, vpsId: e.desired.id, reason: e.reason });
  return {
    namespace: r.namespace,
    source: r.source,
    dryRun: r.dryRun,
    prune: r.prune,
    counts: planCounts(plan),
    create: plan.create.map(entry),
    update: plan.update.map(entry),
    delete: plan.delete.map((d) => ({ name: d.name, vpsId: d.vpsId, reason: d.reason, ...(d.replacement !== undefined ? { replacement: d.replacement } : {}) })),
    prunable: plan.prunable.map((d) => ({ name: d.name, vpsId: d.vpsId, reason: d.reason })),
    unchanged: plan.unchanged.map(entry),
    invalid: plan.invalid,
    warnings: plan.warnings,
    skipped: plan.skipped,
    applied: r.result.applied,
    failures: r.result.failures,
    held: r.result.held,
    ...(r.refusal !== undefined ? { refused: r.refusal } : {}),
  };
}
