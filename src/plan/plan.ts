// Plan: compare one XrayrNode's desired entry with the live ones and decide what to do. Pure,
// over plain data: the reconciler gathers the input from its caches, and the plan is either to
// wait (and when to look again) or to act (the steps in order, and the verdict to report once
// they are done).
import type { ObjectMeta, ReadyReason, XrayrNode } from "../api/v1alpha1/types.js";
import { claimWinner, type Claim } from "../domain/claims.js";
import { APPLIED_HASH_ANNOTATION, controllerName, controllerRef, controllerUid, describeController, isOurs } from "../domain/ownership.js";
import type { Validity } from "../domain/validity.js";
import type { WorkloadEntry } from "../istio/workloadentry.js";
import type { WorkloadGroup } from "../istio/workloadgroup.js";

export type EntryAction =
  /** A server-side dry run of the create that follows: admission must accept the replacement
   * before anything it replaces is deleted (decision 0007's delete-first cannot strand a node). */
  | { kind: "check"; entry: WorkloadEntry }
  | { kind: "apply"; entry: WorkloadEntry; why: "create" | "update" | "drift" }
  /** `address`: the entry's, as the plan saw it (the delete is expected on it until the watch shows it). */
  | { kind: "delete"; namespace: string; name: string; uid: string; address: string | undefined; why: string };

/** The node's WorkloadGroup (desired/workloadgroup.ts): made after its entry, never on the attribution path. */
export type GroupAction =
  | { kind: "apply-group"; group: WorkloadGroup; why: "create" | "update" | "drift" }
  | { kind: "delete-group"; namespace: string; name: string; uid: string; why: string };

export type Step = EntryAction | GroupAction;

export interface Verdict {
  ready: boolean;
  reason: ReadyReason;
  message: string;
}

export type Plan =
  /** Nothing to do yet: look again after `afterMs`; the status stays as it is meanwhile. */
  | { kind: "wait"; afterMs: number; why: string }
  /** Carry `steps` out in order (checks first, every delete before the apply), then report `verdict`;
   * with `recheckAfterMs`, look again that soon (the node is part way through an address handover). */
  | { kind: "act"; steps: Step[]; verdict: Verdict; entryName?: string; recheckAfterMs?: number };

/** Another entry on the node's address, and whether the XrayrNode that controls it still exists. */
export interface EntryOnAddress {
  entry: WorkloadEntry;
  ownerExists: boolean;
}

export interface PlanInput {
  node: XrayrNode;
  /** The operator's verdict on the node (crd/validate.ts validateNode). */
  validation: Validity;
  /** The entry the node should have (desired/workloadentry.ts), when the node is valid. */
  desired: WorkloadEntry | undefined;
  /** Every valid, live node's claim on the node's address, its own included. */
  claims: readonly Claim[];
  /** Live entries controlled by an XrayrNode of this node's name (this one or an earlier one). */
  entries: readonly WorkloadEntry[];
  /** The live entry with the desired entry's name, whoever controls it. */
  atTarget: WorkloadEntry | undefined;
  /** Live entries on the desired address in the node's namespace. */
  onAddress: readonly EntryOnAddress[];
  /** A create or delete of ours on the desired address that the watch has not shown yet. */
  unseenWriteOnAddress: boolean;
  /** The node's WorkloadGroup; without it the plan leaves groups alone. */
  group?: GroupInput;
}

export interface GroupInput {
  /** The group the node should have (desired/workloadgroup.ts). */
  desired: WorkloadGroup;
  /** The live group of that name, whoever controls it. */
  live: WorkloadGroup | undefined;
  /** A create of that group by us that the watch has not shown yet (the cache would say it is missing). */
  createUnseen: boolean;
}

// A node waiting for another node's entry to leave its address, or for the watch to show our
// own write there, looks again this soon.
export const ADDRESS_HANDOVER_RECHECK_MS = 500;

export function planNode(input: PlanInput): Plan {
  const { node, validation, desired, claims, entries, atTarget, onAddress, unseenWriteOnAddress } = input;
  const name = node.metadata.name ?? "";
  const ns = node.metadata.namespace ?? "";
  const uid = node.metadata.uid ?? "";
  const del = (e: WorkloadEntry, why: string): EntryAction => ({
    kind: "delete",
    namespace: ns,
    name: e.metadata.name ?? "",
    uid: e.metadata.uid ?? "",
    address: e.spec.address,
    why,
  });
  const own = entries.filter((e) => controllerUid(e) === uid);
  // Left by an earlier XrayrNode of this name: the garbage collector would remove them too, but
  // only after its own delay, and meanwhile they would still hold their address.
  const stale = entries.filter((e) => isStaleOwn(e, name, uid)).map((e) => del(e, "left by an earlier XrayrNode of this name"));
  const removeAll = (why: string, keep?: string): EntryAction[] => [
    ...stale,
    ...own.filter((e) => e.metadata.name !== keep).map((e) => del(e, why)),
  ];
  const act = (steps: EntryAction[], verdict: Verdict, entryName?: string): Plan =>
    entryName === undefined ? { kind: "act", steps, verdict } : { kind: "act", steps, verdict, entryName };

  if (!validation.ok || desired === undefined) {
    const message = validation.ok ? "no desired entry" : validation.issues.map((i) => i.message).join("; ");
    return act(removeAll("the node's spec is invalid"), { ready: false, reason: "InvalidSpec", message });
  }

  const { spec } = validation;
  const winner = claimWinner(claims, spec.address);
  if (winner !== undefined && winner.name !== name) {
    return act(removeAll(`address ${spec.address} belongs to XrayrNode ${winner.name}`), {
      ready: false,
      reason: "AddressConflict",
      message:
        `address ${spec.address} is already used by XrayrNode ${ns}/${winner.name}, which claimed it first ` +
        `(older, or created in the same second with a smaller name); ` +
        `this node gets no WorkloadEntry until that node is deleted or moves to another address`,
    });
  }

  const target = desired.metadata.name ?? "";
  if (atTarget !== undefined && controllerUid(atTarget) !== uid && !isStaleOwn(atTarget, name, uid)) {
    return act(removeAll("its identity changed and the new entry's name is taken"), {
      ready: false,
      reason: "NameTaken",
      message:
        `WorkloadEntry ${ns}/${target} already exists and is not owned by this XrayrNode ` +
        `(${describeController(atTarget)}); it is left untouched: delete or rename it, or rename this node`,
    });
  }

  // An entry nobody's XrayrNode controls (orphaned by `kubectl delete --cascade=orphan`, or made
  // by hand) is not ours to delete, and a second entry beside it would leave the sidecar's
  // attribution of the address to chance: the node waits for a person, and says for whom.
  const unowned = onAddress.filter(({ entry }) => controllerUid(entry) === undefined).map(({ entry }) => entry);
  if (unowned.length > 0) {
    const names = unowned.map((e) => `${ns}/${e.metadata.name ?? "?"} (${describeController(e)})`).join(", ");
    return act(removeAll(`address ${spec.address} is held by an entry no XrayrNode controls`, target), {
      ready: false,
      reason: "UnownedEntry",
      message:
        `WorkloadEntry ${names} is on address ${spec.address} and no XrayrNode controls it; ` +
        `this node gets no entry beside it: delete that entry (kubectl -n ${ns} delete workloadentry ${unowned[0]?.metadata.name ?? ""}) ` +
        `or give it back to its node; \`xrayr-mesh doctor\` lists such entries`,
    });
  }

  // Delete first, then create: the sidecar only drops an address when its workload is removed.
  const steps = [...stale, ...own.filter((e) => e.metadata.name !== target).map((e) => del(e, `replaced by ${target}`))];
  const reconciled: Verdict = {
    ready: true,
    reason: "Reconciled",
    message: `WorkloadEntry ${ns}/${target} maps ${spec.address} to workload ${name}`,
  };
  const current = own.find((e) => e.metadata.name === target);
  if (current !== undefined) {
    const why = compareEntry(current, desired);
    if (why !== undefined) steps.push({ kind: "apply", entry: desired, why });
    return withGroup(act(steps, reconciled, target), input.group, node);
  }

  // One address, one entry, at every moment: another node's entry still on the address (its
  // node deleted but not yet collected, or moved away but not yet replaced) goes first, or we
  // wait for it; so we do while a write of ours there is not yet in the cache, which may then
  // hold an entry it does not show.
  for (const { entry: other, ownerExists } of onAddress) {
    if (!isOurs(other) || controllerUid(other) === uid) continue;
    if (isStaleOwn(other, name, uid)) continue; // already among the deletes
    if (ownerExists) {
      const holder = `XrayrNode ${ns}/${controllerRef(other)?.name ?? "?"}'s entry ${other.metadata.name ?? "?"}`;
      if (steps.length === 0) return { kind: "wait", afterMs: ADDRESS_HANDOVER_RECHECK_MS, why: `${holder} is still on ${spec.address}` };
      // Our own old entries go meanwhile. In a swap or a cycle of addresses each node waits for
      // the next one's entry to leave; if every node also kept its own, none would ever leave.
      // The dry run first, as for any replacement: a node whose new entry admission refuses
      // keeps its old one.
      return {
        kind: "act",
        steps: [{ kind: "check", entry: desired }, ...steps],
        verdict: {
          ready: false,
          reason: "AddressInUse",
          message:
            `${holder} is still on ${spec.address}, the node it belongs to having moved away; this node's old entry is removed ` +
            `and ${target} follows once that entry is gone`,
        },
        recheckAfterMs: ADDRESS_HANDOVER_RECHECK_MS,
      };
    }
    steps.push(del(other, `left on ${spec.address} by a deleted XrayrNode`));
  }
  if (unseenWriteOnAddress) {
    return { kind: "wait", afterMs: ADDRESS_HANDOVER_RECHECK_MS, why: `a write of ours on ${spec.address} is not in the cache yet` };
  }
  if (steps.length > 0) steps.unshift({ kind: "check", entry: desired });
  steps.push({ kind: "apply", entry: desired, why: "create" });
  return withGroup(act(steps, reconciled, target), input.group, node);
}

/**
 * The entry's plan, then the group's steps: the entry first, since it is what attribution needs
 * and the group is only Kiali's handle on it. A group of the node's name that is not ours is
 * left untouched and reported (GroupNameTaken, like NameTaken for an entry), but the entry is
 * still written: traffic stays attributed, only Kiali's workload page shows the other group.
 */
function withGroup(plan: Plan, group: GroupInput | undefined, node: XrayrNode): Plan {
  if (plan.kind !== "act" || group === undefined) return plan;
  const ns = node.metadata.namespace ?? "";
  const name = node.metadata.name ?? "";
  const uid = node.metadata.uid ?? "";
  const { desired, live, createUnseen } = group;
  const create: GroupAction = { kind: "apply-group", group: desired, why: "create" };
  if (live === undefined) return createUnseen ? plan : { ...plan, steps: [...plan.steps, create] };
  if (controllerUid(live) === uid) {
    const why = compareGroup(live, desired);
    return why === undefined ? plan : { ...plan, steps: [...plan.steps, { kind: "apply-group", group: desired, why }] };
  }
  if (isStaleOwn(live, name, uid)) {
    const del: GroupAction = { kind: "delete-group", namespace: ns, name: live.metadata.name ?? "", uid: live.metadata.uid ?? "", why: "left by an earlier XrayrNode of this name" };
    return { ...plan, steps: [...plan.steps, del, create] };
  }
  return {
    ...plan,
    verdict: {
      ready: false,
      reason: "GroupNameTaken",
      message:
        `WorkloadGroup ${ns}/${desired.metadata.name ?? ""} already exists and is not owned by this XrayrNode ` +
        `(${describeController(live)}); it is left untouched. The node's entry is in place and its traffic ` +
        `is attributed, but Kiali shows that group as workload ${name}: delete or rename the group, or rename this node`,
    },
  };
}

/** Why the live group must be re-applied, or undefined when it already matches. */
export function compareGroup(live: WorkloadGroup, desired: WorkloadGroup): "update" | "drift" | undefined {
  if (live.metadata.annotations?.[APPLIED_HASH_ANNOTATION] !== desired.metadata.annotations?.[APPLIED_HASH_ANNOTATION]) {
    return "update";
  }
  // The workload labels are a selector (Kiali picks the group's entries by them): a key added by
  // anyone narrows it, so they must be exactly ours. Elsewhere only the fields we set count.
  const same =
    sameMap(live.spec.metadata?.labels, desired.spec.metadata?.labels) &&
    (desired.spec.template.serviceAccount === undefined || live.spec.template.serviceAccount === desired.spec.template.serviceAccount) &&
    includes(live.metadata.labels, desired.metadata.labels);
  return same ? undefined : "drift";
}

function sameMap(a: Record<string, string> | undefined, b: Record<string, string> | undefined): boolean {
  return Object.keys(a ?? {}).length === Object.keys(b ?? {}).length && includes(a, b);
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

// Ours (an entry or a group), and controlled by an XrayrNode of this very name that is not this node: an earlier
// incarnation (names are unique in a namespace, so that owner is gone). An entry controlled by
// a node of another name is never ours to delete here, whatever its labels say.
function isStaleOwn(obj: { metadata: ObjectMeta }, name: string, uid: string): boolean {
  return isOurs(obj) && controllerUid(obj) !== uid && controllerName(obj) === name;
}
