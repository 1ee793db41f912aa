// The sync plan: the desired fleet against the live XrayrNodes of the namespace, as a list of
// creates, updates, deletes, unchanged nodes and invalid rows, each with its reason. Pure: the
// CLI lists the live objects, calls planSync, prints the plan and carries it out.
//
// Rules:
//   - sync writes only objects it created (label mesh.sigma.io/synced-by=xrayr-mesh-sync) and
//     new ones; a row whose name is held by any other object is invalid.
//   - a VPS that sigma-api registered itself (a live node without the sync label, whose
//     mesh.sigma.io/vps-id label or spec.vpsId is the row's id) is left to sigma-api: unchanged.
//   - a row whose address is held by a live node that stays (not ours, or ours but not being
//     deleted or moved) is invalid, so the operator never sees an AddressConflict from sync.
//     "Held" is the operator's claim rule (domain/claims.ts: valid nodes only, by the operator's
//     own validation; the oldest wins, ties to the smaller name), so the node sync names is the
//     one the operator's AddressConflict and doctor name.
//   - an unchanged node is not written at all, so a repeated sync sends no write.
//   - with prune, synced nodes whose VPS is retired, provisioning or not listed are deleted; so
//     is a synced node whose VPS is now listed under another name, but only when the VPS has a
//     node under the new name after the plan (created, updated or unchanged): a rename whose new
//     name is refused keeps the old node. The CLI deletes such a node only after the create of
//     its replacement succeeded (DeleteEntry.replacement). A synced node whose row is invalid is
//     left as it is (a data glitch in one row must not take a VPS off the mesh).
//   - "synced" means labelled by sync and not by sigma-api (labels.ts isSynced): a node sigma-api
//     registered over a synced one is sigma-api's.
import type { XrayrNode } from "../api/v1alpha1/types.js";
import { validateNode, validateXrayrNode } from "../crd/validate.js";
import { claimWinner, nodeClaim, type Claim } from "../domain/claims.js";
import type { DesiredFleet, DesiredNode } from "./desired.js";
import { vpsIdOf } from "../domain/vps.js";
import { isSynced, REGISTERED_BY_LABEL } from "./labels.js";
import type { RowIssue, RowWarning } from "./rows.js";

export interface PlanEntry {
  desired: DesiredNode;
  /** For update: the live object and what differs; for unchanged: the live object. */
  live?: XrayrNode;
  reason: string;
}

export interface DeleteEntry {
  name: string;
  uid: string;
  /**
   * The node as the plan saw it: the API server refuses the delete (409) if anyone changed it
   * since, so a decision made on a stale read is checked again before it is carried out.
   */
  resourceVersion: string;
  vpsId: string | undefined;
  reason: string;
  /**
   * For a renamed VPS: the node's new name. When it is in the plan's creates, the delete runs
   * only after that create succeeded.
   */
  replacement?: string;
}

export interface SyncPlan {
  total: number;
  /** Live nodes sync owns (isSynced) before the plan: what --prune's bound is a share of. */
  synced: number;
  create: PlanEntry[];
  update: PlanEntry[];
  unchanged: PlanEntry[];
  /** Deleted when prune is on. */
  delete: DeleteEntry[];
  /** What prune would delete; filled only when prune is off. */
  prunable: DeleteEntry[];
  invalid: RowIssue[];
  /** Rows applied with a field normalised (not in `invalid`). */
  warnings: RowWarning[];
  /** Rows that are not active and have no node to delete (listed for completeness). */
  skipped: { row: number; id: string; status: string }[];
}

export { isSynced };

/** What differs between a live synced node and the desired one, as "field: live -> desired". */
export function differences(desired: DesiredNode, live: XrayrNode): string[] {
  const out: string[] = [];
  const v = validateXrayrNode({ metadata: { name: live.metadata.name }, spec: live.spec });
  const liveSpec: Record<string, unknown> = v.ok ? { ...v.spec } : { ...live.spec };
  const want = desired.spec;
  for (const k of ["address", "country", "version", "vpsId"] as const) {
    if (liveSpec[k] !== want[k]) out.push(`spec.${k}: ${show(liveSpec[k])} -> ${show(want[k])}`);
  }
  for (const [k, val] of Object.entries(desired.object.metadata.labels ?? {})) {
    const cur = live.metadata.labels?.[k];
    if (cur !== val) out.push(`label ${k}: ${show(cur)} -> ${show(val)}`);
  }
  return out;
}

function show(v: unknown): string {
  return v === undefined ? "(none)" : JSON.stringify(v);
}

/**
 * The plan. A rename's delete stays only if the VPS has a node after the plan; dropping one keeps
 * the old node's address held, which can refuse another row, so planning repeats until no
 * delete is dropped (each round only keeps more nodes, so it ends). Without prune, `prunable`
 * is exactly what the same run with --prune would delete.
 */
export function planSync(fleet: DesiredFleet, liveNodes: readonly XrayrNode[], { prune }: { prune: boolean }): SyncPlan {
  const pruned = settled(fleet, liveNodes);
  if (prune) return pruned;
  const wouldPrune = new Set(pruned.delete.map((d) => d.name));
  return { ...planOnce(fleet, liveNodes, { prune: false, kept: new Set(), wouldPrune }), prunable: pruned.delete };
}

function settled(fleet: DesiredFleet, liveNodes: readonly XrayrNode[]): SyncPlan {
  const kept = new Set<string>();
  for (;;) {
    const plan = planOnce(fleet, liveNodes, { prune: true, kept, wouldPrune: new Set() });
    const noded = new Set([...plan.create, ...plan.update, ...plan.unchanged].map((e) => e.desired.id));
    const lost = plan.delete.filter((d) => d.replacement !== undefined && (d.vpsId === undefined || !noded.has(d.vpsId)));
    if (lost.length === 0) return plan;
    for (const d of lost) kept.add(d.name);
  }
}

interface Round {
  prune: boolean;
  /** Synced nodes of renamed VPS that stay: their new name is refused. */
  kept: ReadonlySet<string>;
  /** Without prune: the nodes --prune would delete (for the hint on a refused address). */
  wouldPrune: ReadonlySet<string>;
}

/** One planning round. */
function planOnce(fleet: DesiredFleet, liveNodes: readonly XrayrNode[], { prune, kept, wouldPrune }: Round): SyncPlan {
  const live = liveNodes.filter((n) => n.metadata.deletionTimestamp === undefined);
  const plan: SyncPlan = { total: fleet.total, synced: live.filter(isSynced).length, create: [], update: [], unchanged: [], delete: [], prunable: [], invalid: [...fleet.invalid], warnings: [], skipped: [] };
  const liveByName = new Map(live.map((n) => [n.metadata.name ?? "", n]));
  const desiredIds = new Set(fleet.nodes.map((n) => n.id));
  const invalidIds = new Set(fleet.invalid.flatMap((i) => (i.id !== undefined ? [i.id] : [])));
  const inactiveById = new Map(fleet.inactive.map((r) => [r.id, r]));
  const desiredByName = new Map(fleet.nodes.map((n) => [n.name, n]));

  // Nodes registered outside sync, by VPS id: sigma-api's own registrations.
  const foreignById = new Map<string, XrayrNode>();
  for (const n of live) {
    const id = vpsIdOf(n);
    if (!isSynced(n) && id !== undefined && !foreignById.has(id)) foreignById.set(id, n);
  }

  // Synced nodes that go away: their VPS is not active and valid under the same name.
  const leaving = new Map<string, DeleteEntry>();
  for (const n of live) {
    if (!isSynced(n)) continue;
    const name = n.metadata.name ?? "";
    const id = vpsIdOf(n);
    const want = desiredByName.get(name);
    if (want !== undefined && want.id === id) continue;
    if (id !== undefined && invalidIds.has(id) && want === undefined) continue; // kept: its row is invalid this time
    if (kept.has(name)) continue; // kept: its VPS's new name is refused
    const base = { name, uid: n.metadata.uid ?? "", resourceVersion: n.metadata.resourceVersion ?? "", vpsId: id };
    const inactive = id !== undefined ? inactiveById.get(id) : undefined;
    const renamed = id !== undefined && desiredIds.has(id) ? fleet.nodes.find((d) => d.id === id)?.name : undefined;
    if (inactive !== undefined) leaving.set(name, { ...base, reason: `VPS ${inactive.id} is ${inactive.status} (row ${inactive.row})` });
    else if (renamed !== undefined) leaving.set(name, { ...base, reason: `VPS ${id ?? "?"} is now named ${renamed}`, replacement: renamed });
    else leaving.set(name, { ...base, reason: `VPS ${id ?? "(no id)"} is not in the list` });
  }
  for (const d of leaving.values()) (prune ? plan.delete : plan.prunable).push(d);

  // Claims that stand after the plan, by address: those of foreign nodes and of synced nodes
  // that stay (pruning is off, or their row is invalid). A desired node's own live node moves
  // with the plan, so it claims only against its own row (below): two rows swapping addresses
  // do not block each other.
  const staying = new Map<string, Claim[]>();
  const ownClaim = new Map<string, Claim>();
  for (const n of live) {
    const name = n.metadata.name ?? "";
    const claim = nodeClaim(n, validateNode(n, fleet.addressPolicy));
    if (claim === undefined) continue; // an invalid node holds no entry, so no address
    const desiredHere = desiredByName.get(name);
    if (isSynced(n) && desiredHere !== undefined && desiredHere.id === vpsIdOf(n)) {
      ownClaim.set(name, claim);
      continue;
    }
    if (prune && leaving.has(name)) continue;
    staying.set(claim.address, [...(staying.get(claim.address) ?? []), claim]);
  }
  const holderOf = (d: DesiredNode): XrayrNode | undefined => {
    const own = ownClaim.get(d.name);
    const winner = claimWinner([...(staying.get(d.spec.address) ?? []), ...(own !== undefined ? [own] : [])], d.spec.address);
    return winner === undefined || winner.name === d.name ? undefined : liveByName.get(winner.name);
  };

  const invalid = (d: DesiredNode, field: string, value: unknown, message: string): void => {
    plan.invalid.push({ row: d.row, id: d.id, field, value, message });
  };
  for (const d of fleet.nodes) {
    const foreign = foreignById.get(d.id);
    if (foreign !== undefined) {
      plan.unchanged.push({ desired: d, live: foreign, reason: `registered outside sync as XrayrNode ${foreign.metadata.name ?? "?"}; left to its owner` });
      continue;
    }
    const cur = liveByName.get(d.name);
    if (cur !== undefined && !(isSynced(cur) && vpsIdOf(cur) === d.id)) {
      const who = isSynced(cur)
        ? `synced for VPS ${vpsIdOf(cur) ?? "(no id)"}`
        : cur.metadata.labels?.[REGISTERED_BY_LABEL] !== undefined
          ? `registered by ${cur.metadata.labels[REGISTERED_BY_LABEL]}`
          : "not created by sync";
      invalid(d, "hostname", d.object.metadata.name, `the node name ${d.name} is taken by an XrayrNode ${who}; sync does not touch it.`);
      continue;
    }
    const holder = holderOf(d);
    if (holder !== undefined) {
      const hint = isSynced(holder) ? (wouldPrune.has(holder.metadata.name ?? "") ? " (run with --prune to delete it)" : "") : " (not created by sync)";
      invalid(d, "ip", d.spec.address, `ip ${JSON.stringify(d.spec.address)} is used by XrayrNode ${holder.metadata.name ?? "?"}${hint}; one address is one node.`);
      continue;
    }
    if (cur === undefined) {
      plan.create.push({ desired: d, reason: `VPS ${d.id} is active and has no node` });
      continue;
    }
    const diff = differences(d, cur);
    if (diff.length === 0) plan.unchanged.push({ desired: d, live: cur, reason: "up to date" });
    else plan.update.push({ desired: d, live: cur, reason: diff.join(", ") });
  }
  for (const r of fleet.inactive) {
    plan.skipped.push({ row: r.row, id: r.id, status: r.status });
  }
  plan.invalid.sort((a, b) => a.row - b.row || a.field.localeCompare(b.field));
  const invalidRows = new Set(plan.invalid.map((i) => i.row));
  plan.warnings = fleet.warnings.filter((w) => !invalidRows.has(w.row));
  return plan;
}

export interface PlanCounts {
  rows: number;
  create: number;
  update: number;
  delete: number;
  unchanged: number;
  invalid: number;
  invalidRows: number;
  /** Rows applied with a field normalised. */
  warnedRows: number;
  skipped: number;
  prunable: number;
}

export function planCounts(p: SyncPlan): PlanCounts {
  return {
    rows: p.total,
    create: p.create.length,
    update: p.update.length,
    delete: p.delete.length,
    unchanged: p.unchanged.length,
    invalid: p.invalid.length,
    invalidRows: new Set(p.invalid.map((i) => i.row)).size,
    warnedRows: new Set(p.warnings.map((w) => w.row)).size,
    skipped: p.skipped.length,
    prunable: p.prunable.length,
  };
}
