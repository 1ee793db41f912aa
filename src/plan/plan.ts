// Plan: compare one XrayrNode's desired entry with its live ones and decide the steps to take
// and the Ready verdict to report. Pure: the reconciler gathers inputs from the
// informer caches and carries the plan out; the fleet CLI's diff can reuse the same rules.
import type { ReadyReason, XrayrNode } from "../api/v1alpha1/types.js";
import { controllerRef, controllerUid, describeController } from "../domain/ownership.js";
import {
  APPLIED_HASH_ANNOTATION,
  MANAGED_BY_LABEL,
  MANAGER,
  desiredWorkloadEntry,
  type EntryOptions,
  type ValidSpec,
} from "../desired/workloadentry.js";
import type { ValidationIssue } from "../crd/validate.js";
import type { WorkloadEntry } from "../istio/workloadentry.js";
import { claimWinner, type Claim } from "../domain/claims.js";

/** Schema and address-policy verdict on one node; see reconcile/validate-node.ts. */
export type Validation = { ok: true; spec: ValidSpec } | { ok: false; issues: ValidationIssue[] };

export type EntryAction =
  | { kind: "apply"; entry: WorkloadEntry; why: "create" | "update" | "drift" }
  | { kind: "delete"; namespace: string; name: string; uid: string; why: string };

export interface Verdict {
  ready: boolean;
  reason: ReadyReason;
  message: string;
}

export interface Plan {
  /** Carried out in order, and every delete comes before the apply: see entryName. */
  steps: EntryAction[];
  /** Undefined when the outcome is not known until the steps are done (then requeue). */
  verdict?: Verdict;
  /** Look again after this many ms (the status is left as it is meanwhile). */
  requeueAfter?: number;
  /** The entry this node is represented by once the steps succeed. */
  entryName?: string;
}

export interface PlanInput {
  node: XrayrNode;
  validation: Validation;
  /** Every valid, live node's claim on its address, this node's own included. */
  claims: Iterable<Claim>;
  /** Live WorkloadEntries controlled by an XrayrNode of this node's name (this one or an earlier one). */
  entries: readonly WorkloadEntry[];
  /** Looks up a live WorkloadEntry by name in the node's namespace. */
  entryNamed: (name: string) => WorkloadEntry | undefined;
  /** Live WorkloadEntries whose address is `address`, in the node's namespace. */
  entriesOn: (address: string) => readonly WorkloadEntry[];
  /** Whether the XrayrNode controlling `entry` still exists (same name and uid). */
  ownerExists: (entry: WorkloadEntry) => boolean;
  options: EntryOptions;
}

// A node waiting for another node's entry to leave its address looks again this soon.
export const ADDRESS_HANDOVER_RECHECK_MS = 500;

export function planNode({ node, validation, claims, entries, entryNamed, entriesOn, ownerExists, options }: PlanInput): Plan {
  const name = node.metadata.name ?? "";
  const ns = node.metadata.namespace ?? "";
  const uid = node.metadata.uid ?? "";
  const del = (e: WorkloadEntry, why: string): EntryAction => ({
    kind: "delete",
    namespace: ns,
    name: e.metadata.name ?? "",
    uid: e.metadata.uid ?? "",
    why,
  });
  const own = entries.filter((e) => controllerUid(e) === uid);
  // Left by an earlier XrayrNode of this name: the garbage collector would remove them too, but
  // only after its own delay, and meanwhile they would still hold their address.
  const stale = entries.filter((e) => isStaleOwnEntry(e, name, uid)).map((e) => del(e, "left by an earlier XrayrNode of this name"));
  const removeAll = (why: string): EntryAction[] => [...stale, ...own.map((e) => del(e, why))];

  if (!validation.ok) {
    return {
      steps: removeAll("the node's spec is invalid"),
      verdict: { ready: false, reason: "InvalidSpec", message: validation.issues.map((i) => i.message).join("; ") },
    };
  }

  const { spec } = validation;
  const winner = claimWinner(claims, spec.address);
  if (winner !== undefined && winner.name !== name) {
    return {
      steps: removeAll(`address ${spec.address} belongs to XrayrNode ${winner.name}`),
      verdict: {
        ready: false,
        reason: "AddressConflict",
        message:
          `address ${spec.address} is already used by XrayrNode ${ns}/${winner.name}, which claimed it first ` +
          `(older, or created in the same second with a smaller name); ` +
          `this node gets no WorkloadEntry until that node is deleted or moves to another address`,
      },
    };
  }

  const desired = desiredWorkloadEntry(node, spec, options);
  const target = desired.metadata.name ?? "";
  const atTarget = entryNamed(target);
  if (atTarget !== undefined && controllerUid(atTarget) !== uid && !isStaleOwnEntry(atTarget, name, uid)) {
    return {
      steps: removeAll("its identity changed and the new entry's name is taken"),
      verdict: {
        ready: false,
        reason: "NameTaken",
        message:
          `WorkloadEntry ${ns}/${target} already exists and is not owned by this XrayrNode ` +
          `(${describeController(atTarget, MANAGED_BY_LABEL)}); it is left untouched: delete or rename it, or rename this node`,
      },
    };
  }

  // Delete first, then create: the sidecar only drops an address when its workload is removed.
  const steps = [...stale, ...own.filter((e) => e.metadata.name !== target).map((e) => del(e, `replaced by ${target}`))];
  const reconciled: Verdict = {
    ready: true,
    reason: "Reconciled",
    message: `WorkloadEntry ${ns}/${target} maps ${spec.address} to workload ${name}`,
  };
  const current = own.find((e) => e.metadata.name === target);
  if (current === undefined) {
    // One address, one entry, at every moment: another node's entry still on the address (its
    // node deleted but not yet collected, or moved away but not yet replaced) goes first, or
    // we wait for it; a new entry beside it would leave the sidecar's attribution to chance.
    for (const other of entriesOn(spec.address)) {
      const otherUid = controllerUid(other);
      if (otherUid === undefined || otherUid === uid || other.metadata.labels?.[MANAGED_BY_LABEL] !== MANAGER) continue;
      if (isStaleOwnEntry(other, name, uid)) continue; // already among the deletes
      if (ownerExists(other)) return { steps, requeueAfter: ADDRESS_HANDOVER_RECHECK_MS };
      steps.push(del(other, `left on ${spec.address} by a deleted XrayrNode`));
    }
    steps.push({ kind: "apply", entry: desired, why: "create" });
  } else {
    const why = compareEntry(current, desired);
    if (why !== undefined) steps.push({ kind: "apply", entry: desired, why });
  }
  return { steps, verdict: reconciled, entryName: target };
}

/** Why the live entry must be re-applied, or undefined when it already matches. */
export function compareEntry(live: WorkloadEntry, desired: WorkloadEntry): "update" | "drift" | undefined {
  if (live.metadata.annotations?.[APPLIED_HASH_ANNOTATION] !== desired.metadata.annotations?.[APPLIED_HASH_ANNOTATION]) {
    return "update";
  }
  // Same intent was applied before: anything of ours that differs now was changed by hand.
  // Only fields we set count: a field someone else owns cannot be taken away by our apply, so
  // comparing it would make every resync write.
  const same =
    live.spec.address === desired.spec.address &&
    (desired.spec.serviceAccount === undefined || live.spec.serviceAccount === desired.spec.serviceAccount) &&
    (desired.spec.locality === undefined || live.spec.locality === desired.spec.locality) &&
    includes(live.spec.labels, desired.spec.labels) &&
    includes(live.metadata.labels, desired.metadata.labels);
  return same ? undefined : "drift";
}

function includes(live: Record<string, string> | undefined, want: Record<string, string> | undefined): boolean {
  return Object.entries(want ?? {}).every(([k, v]) => live?.[k] === v);
}


// Ours, and controlled by an XrayrNode of this very name that is not this node: an earlier
// incarnation (names are unique in a namespace, so that owner is gone). An entry controlled by
// a node of another name is never ours to delete here, whatever its labels say.
function isStaleOwnEntry(entry: WorkloadEntry, name: string, uid: string): boolean {
  const ref = controllerRef(entry);
  const owner = controllerUid(entry);
  return entry.metadata.labels?.[MANAGED_BY_LABEL] === MANAGER && owner !== undefined && owner !== uid && ref?.name === name;
}




