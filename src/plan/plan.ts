// Plan: compare one XrayrNode's desired entry with the live ones and decide what to do. Pure,
// over plain data: the reconciler gathers the input from its caches, and the plan is either to
// wait (and when to look again) or to act (the steps in order, and the verdict to report once
// they are done). The node's WorkloadGroup has its own plan (group.ts), made once the entry is
// in place.
import type { ReadyReason, XrayrNode } from "../api/v1alpha1/types.js";
import { claimWinner, type Claim } from "../domain/claims.js";
import { APPLIED_HASH_ANNOTATION, controllerRef, controllerUid, describeController, isLeftByEarlierNode, isOurs } from "../domain/ownership.js";
import type { Validity } from "../domain/validity.js";
import type { WorkloadEntry } from "../istio/workloadentry.js";
import { includes } from "./maps.js";

export type EntryAction =
  /** A server-side dry run of the create that follows: admission must accept the replacement
   * before anything it replaces is deleted (decision 0007's delete-first cannot strand a node). */
  | { kind: "check"; entry: WorkloadEntry }
  | { kind: "apply"; entry: WorkloadEntry; why: "create" | "update" | "drift" }
  /** `address`: the entry's, as the plan saw it (the delete is expected on it until the watch shows it). */
  | { kind: "delete"; namespace: string; name: string; uid: string; address: string | undefined; why: string };

/** A condition's verdict: its status (True when `ready`), reason and message. */
export interface Verdict<R extends string = ReadyReason> {
  ready: boolean;
  reason: R;
  message: string;
}

export type Plan =
  /** Nothing to do yet: look again after `afterMs`; the status stays as it is meanwhile. */
  | { kind: "wait"; afterMs: number; why: string }
  /** Carry `steps` out in order (checks first, every delete before the apply), then report `verdict`;
   * with `recheckAfterMs`, look again that soon (the node is part way through an address handover). */
  | { kind: "act"; steps: EntryAction[]; verdict: Verdict; entryName?: string; recheckAfterMs?: number };

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
  const stale = entries.filter((e) => isLeftByEarlierNode(e, name, uid)).map((e) => del(e, "left by an earlier XrayrNode of this name"));
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
  if (atTarget !== undefined && controllerUid(atTarget) !== uid && !isLeftByEarlierNode(atTarget, name, uid)) {
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
    return act(steps, reconciled, target);
  }

  // One address, one entry, at every moment: another node's entry still on the address (its
  // node deleted but not yet collected, or moved away but not yet replaced) goes first, or we
  // wait for it; so we do while a write of ours there is not yet in the cache, which may then
  // hold an entry it does not show.
  for (const { entry: other, ownerExists } of onAddress) {
    if (!isOurs(other) || controllerUid(other) === uid) continue;
    if (isLeftByEarlierNode(other, name, uid)) continue; // already among the deletes
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
  return act(steps, reconciled, target);
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
