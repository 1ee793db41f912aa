// Plan: compare one XrayrNode's desired entry with the live one and decide the single action
// to take and the Ready verdict to report. Pure: the reconciler gathers inputs from the
// informer caches and carries the plan out; the fleet CLI's diff can reuse the same rules.
import { GROUP, KIND, type ReadyReason, type XrayrNode } from "../crd/types.js";
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
import { claimWinner, type Claim } from "./claims.js";

/** Schema and address-policy verdict on one node; see reconcile/validate-node.ts. */
export type Validation = { ok: true; spec: ValidSpec } | { ok: false; issues: ValidationIssue[] };

export type EntryAction =
  | { kind: "none" }
  | { kind: "apply"; entry: WorkloadEntry; why: "create" | "update" | "drift" }
  | { kind: "delete"; namespace: string; name: string; uid: string; why: string };

export interface Verdict {
  ready: boolean;
  reason: ReadyReason;
  message: string;
}

export interface Plan {
  action: EntryAction;
  /** Undefined when the outcome is not known until the action is done (then requeue). */
  verdict?: Verdict;
  /** The entry this node is represented by once the action succeeds. */
  entryName?: string;
}

export interface PlanInput {
  node: XrayrNode;
  validation: Validation;
  /** Every valid, live node's claim on its address, this node's own included. */
  claims: Iterable<Claim>;
  /** The live WorkloadEntry with the node's name, if any. */
  live: WorkloadEntry | undefined;
  options: EntryOptions;
}

export function planNode({ node, validation, claims, live, options }: PlanInput): Plan {
  const name = node.metadata.name ?? "";
  const ns = node.metadata.namespace ?? "";
  const uid = node.metadata.uid ?? "";
  const ownLive = live !== undefined && controllerUid(live) === uid ? live : undefined;
  const removeOwn = (why: string): EntryAction =>
    ownLive === undefined ? { kind: "none" } : { kind: "delete", namespace: ns, name, uid: ownLive.metadata.uid ?? "", why };

  if (!validation.ok) {
    return {
      action: removeOwn("the node's spec is invalid"),
      verdict: { ready: false, reason: "InvalidSpec", message: validation.issues.map((i) => i.message).join("; ") },
    };
  }

  const { spec } = validation;
  const winner = claimWinner(claims, spec.address);
  if (winner !== undefined && winner.name !== name) {
    return {
      action: removeOwn(`address ${spec.address} belongs to XrayrNode ${winner.name}`),
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

  if (live !== undefined && ownLive === undefined) {
    if (isStaleOwnEntry(live, name)) {
      // Left by an earlier XrayrNode of the same name; the garbage collector would remove it
      // too, but only after its own delay. It is ours, so we clear it and requeue.
      return { action: { kind: "delete", namespace: ns, name, uid: live.metadata.uid ?? "", why: "left by an earlier XrayrNode of this name" } };
    }
    return {
      action: { kind: "none" },
      verdict: {
        ready: false,
        reason: "NameTaken",
        message:
          `WorkloadEntry ${ns}/${name} already exists and is not owned by this XrayrNode ` +
          `(${describeOwner(live)}); it is left untouched: delete or rename it, or rename this node`,
      },
    };
  }

  const desired = desiredWorkloadEntry(node, spec, options);
  const reconciled: Verdict = {
    ready: true,
    reason: "Reconciled",
    message: `WorkloadEntry ${ns}/${name} maps ${spec.address} to workload ${name}`,
  };
  if (ownLive === undefined) {
    return { action: { kind: "apply", entry: desired, why: "create" }, verdict: reconciled, entryName: name };
  }
  const why = compareEntry(ownLive, desired);
  return {
    action: why === undefined ? { kind: "none" } : { kind: "apply", entry: desired, why },
    verdict: reconciled,
    entryName: name,
  };
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

/** The uid of the entry's controlling XrayrNode, if an XrayrNode controls it. */
export function controllerUid(entry: WorkloadEntry): string | undefined {
  const ref = entry.metadata.ownerReferences?.find((r) => r.controller === true);
  if (ref === undefined || ref.kind !== KIND || groupOf(ref.apiVersion) !== GROUP) return undefined;
  return ref.uid;
}

// Ours, and controlled by an XrayrNode of this very name that is not this node: an earlier
// incarnation (names are unique in a namespace, so that owner is gone). An entry controlled by
// a node of another name is never ours to delete here, whatever its labels say.
function isStaleOwnEntry(entry: WorkloadEntry, name: string): boolean {
  const ref = entry.metadata.ownerReferences?.find((r) => r.controller === true);
  return entry.metadata.labels?.[MANAGED_BY_LABEL] === MANAGER && controllerUid(entry) !== undefined && ref?.name === name;
}

function describeOwner(entry: WorkloadEntry): string {
  const ref = entry.metadata.ownerReferences?.find((r) => r.controller === true);
  if (ref !== undefined) return `controlled by ${ref.kind} ${ref.name}`;
  const manager = entry.metadata.labels?.[MANAGED_BY_LABEL];
  return manager !== undefined ? `managed by ${manager}` : "created by someone else";
}

function groupOf(apiVersion: string): string {
  return apiVersion.includes("/") ? apiVersion.slice(0, apiVersion.indexOf("/")) : "";
}

