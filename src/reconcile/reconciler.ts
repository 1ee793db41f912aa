// Reconcile one XrayrNode: read it and its objects from the informer caches (never from the
// event, so every pass is idempotent), gather the plans' input, plan the entry and then the
// group, carry the plans out, and report the verdicts in the node's status. What a failed write
// means is error-policy.ts's, for the status and for the key alike.
import type { Logger } from "pino";
import type { ReconcileResult } from "../controller/controller.js";
import { errorFields } from "../controller/api-errors.js";
import { splitKey } from "../controller/keys.js";
import type { Condition, XrayrNode, XrayrNodeStatus } from "../api/v1alpha1/types.js";
import { desiredWorkloadEntry, type EntryOptions } from "../desired/workloadentry.js";
import { desiredWorkloadGroup } from "../desired/workloadgroup.js";
import { nodeClaim, type Claim } from "../domain/claims.js";
import { groupName } from "../domain/group-name.js";
import { GROUP_READY, groupCondition, READY, readyCondition } from "../domain/readiness.js";
import type { Validity } from "../domain/validity.js";
import type { WorkloadEntry } from "../istio/workloadentry.js";
import type { WorkloadGroup } from "../istio/workloadgroup.js";
import type { Writer } from "../apply/writer.js";
import { groupWaitsForEntry, planGroup, type GroupAction } from "../plan/group.js";
import { planNode, type EntryAction, type PlanInput, type Verdict } from "../plan/plan.js";
import { planRetired } from "../plan/retired.js";
import { nextStatus, sameStatus, type Verdicts } from "../status/conditions.js";
import { failureVerdict, leadershipEnded, type FailedWrite } from "./error-policy.js";
import type { FleetExpectations, FleetLookups } from "./watches.js";

/** What the reconciler needs of an informer cache. */
export interface Store<T> {
  get(name: string, namespace?: string): T | undefined;
}

export interface ReconcilerDeps {
  nodes: Store<XrayrNode>;
  entries: Store<WorkloadEntry>;
  groups: Store<WorkloadGroup>;
  /** The indexed questions (nodes on an address, a node's entries, ...): see watches.ts. */
  fleet: FleetLookups;
  /** Our writes until the watch shows them: entries by address, groups by name. */
  expectations: FleetExpectations;
  writer: Writer;
  options: EntryOptions;
  /** Schema and address policy together (crd/validate.ts validateNode). */
  validate: (node: XrayrNode) => Validity;
  log: Logger;
  /** The node's Ready verdict after each pass; undefined once the node is gone. */
  onVerdict?: (key: string, verdict: Verdict | undefined) => void;
  now?: () => Date;
}

// How long a status we wrote stands in for the cache's copy. A reconcile that runs again before
// the watch has delivered our own status write (an entry event right after a create does that)
// would otherwise write the same status, and record the same event, twice.
const WRITTEN_STATUS_TTL_MS = 10_000;
// Our own entry create, or someone's, that the watch has not delivered yet: the entry's add
// event brings the node back; this is the fallback.
const NAME_TAKEN_RECHECK_MS = 500;
// A plan that has waited this long is logged (at info, once per this long): see `waiting`.
const LONG_WAIT_MS = 5_000;

/** A write that failed, with what it was for the condition's message. */
class WriteFailed extends Error {
  constructor(
    readonly write: FailedWrite,
    override readonly cause: unknown,
  ) {
    super(`${write.kind} ${write.name}`);
  }
}

export class XrayrNodeReconciler {
  // Informer objects are replaced on every change, so object identity is a safe memo key:
  // each node is validated once per version, not once per peer's reconcile.
  private readonly validations = new WeakMap<XrayrNode, Validity>();
  private readonly written = new Map<string, { uid: string; status: XrayrNodeStatus; at: number }>();
  // Nodes whose plan has been waiting (for the cache to show a write, for an entry to leave its
  // address), since when, and when that was last logged. A wait is normally over in a second;
  // one that lasts is what a person looking at a node stuck in AddressInUse needs to see.
  private readonly waiting = new Map<string, { since: number; logged: number }>();
  private readonly now: () => Date;
  private passes = 0;

  constructor(private readonly deps: ReconcilerDeps) {
    this.now = deps.now ?? (() => new Date());
  }

  async reconcile(key: string): Promise<ReconcileResult | undefined> {
    const { namespace = "", name } = splitKey(key);
    const node = this.deps.nodes.get(name, namespace);
    if (node === undefined || node.metadata.deletionTimestamp !== undefined) {
      // Gone: nothing of ours to report. The garbage collector removes its entry and group; what
      // it leaves past its grace, we remove (plan/retired.ts).
      this.written.delete(key);
      this.waiting.delete(key);
      this.deps.onVerdict?.(key, undefined);
      return node === undefined ? this.removeLeftovers(namespace, name) : undefined;
    }
    // One id for every line of this pass, so a pass's lines can be read together.
    const log = this.deps.log.child({ namespace, name, reconcileId: (++this.passes).toString(36) });
    const plan = planNode(this.gather(node, namespace));
    if (plan.kind === "wait") {
      this.noteWait(key, plan.why, log);
      return { requeueAfter: plan.afterMs };
    }
    this.waiting.delete(key);
    // The group is planned once the entry is in place; until then it waits for it.
    const group = plan.verdict.ready ? planGroup(this.gatherGroup(node, namespace)) : undefined;

    let verdicts: Verdicts = { ready: plan.verdict, group: group?.verdict ?? groupWaitsForEntry(plan.verdict) };
    let failure: WriteFailed | undefined;
    try {
      if ((await this.carryOutEntry(plan.steps, log)) === "exists") return { requeueAfter: NAME_TAKEN_RECHECK_MS };
    } catch (err) {
      failure = this.failed(err);
      const ready = failureVerdict(failure.cause, failure.write);
      verdicts = { ready, group: groupWaitsForEntry(ready) };
    }
    if (failure === undefined && group !== undefined) {
      try {
        await this.carryOutGroup(group.steps, log);
      } catch (err) {
        failure = this.failed(err);
        verdicts = { ...verdicts, group: failureVerdict(failure.cause, failure.write) };
      }
    }
    this.deps.onVerdict?.(key, verdicts.ready);
    // The entry is named in the status whenever the entry's plan stands: its steps were all
    // carried out, so the entry it names is in place (whatever became of the group).
    await this.report(key, node, verdicts, verdicts.ready === plan.verdict ? plan.entryName : undefined, log);
    // The controller's error policy (error-policy.ts) decides when the key is looked at again.
    if (failure !== undefined) throw failure.cause;
    return plan.recheckAfterMs === undefined ? undefined : { requeueAfter: plan.recheckAfterMs };
  }

  private async removeLeftovers(namespace: string, name: string): Promise<ReconcileResult | undefined> {
    const plan = planRetired({
      namespace,
      entries: this.deps.fleet.entriesOf(name, namespace),
      group: this.deps.groups.get(groupName(name), namespace),
      retiredAt: (uid) => this.deps.fleet.retiredAt(uid),
      now: this.now().getTime(),
    });
    if (plan.entries.length + plan.groups.length > 0) {
      const log = this.deps.log.child({ namespace, name, reconcileId: (++this.passes).toString(36) });
      try {
        await this.carryOutEntry(plan.entries, log);
        await this.carryOutGroup(plan.groups, log);
      } catch (err) {
        // No status to report a failure in: the error policy looks at the key again.
        throw err instanceof WriteFailed ? err.cause : err;
      }
    }
    return plan.recheckAfterMs === undefined ? undefined : { requeueAfter: plan.recheckAfterMs };
  }

  private noteWait(key: string, why: string, log: Logger): void {
    const now = this.now().getTime();
    const w = this.waiting.get(key);
    if (w === undefined) {
      this.waiting.set(key, { since: now, logged: 0 });
      log.debug({ why }, "waiting");
      return;
    }
    if (now - w.since < LONG_WAIT_MS || now - w.logged < LONG_WAIT_MS) return;
    w.logged = now;
    log.info({ why, waitingMs: now - w.since }, "still waiting");
  }

  /** Memoised schema + policy verdict for one version of a node. */
  validation(node: XrayrNode): Validity {
    let v = this.validations.get(node);
    if (v === undefined) {
      v = this.deps.validate(node);
      this.validations.set(node, v);
    }
    return v;
  }

  // A failed write; one that ended with our leadership goes up as it is: nothing more may be
  // written, the status included.
  private failed(err: unknown): WriteFailed {
    if (!(err instanceof WriteFailed)) throw err;
    if (leadershipEnded(err.cause)) throw err.cause;
    return err;
  }

  // The entry plan's input, as plain data read from the caches now.
  private gather(node: XrayrNode, namespace: string): PlanInput {
    const validation = this.validation(node);
    const desired = validation.ok ? desiredWorkloadEntry(node, validation.spec, this.deps.options) : undefined;
    const address = validation.ok ? validation.spec.address : node.spec.address;
    return {
      node,
      validation,
      desired,
      claims: this.claims(address),
      entries: this.deps.fleet.entriesOf(node.metadata.name ?? "", namespace),
      atTarget: desired === undefined ? undefined : this.deps.entries.get(desired.metadata.name ?? "", namespace),
      onAddress: this.deps.fleet.entriesOn(address, namespace).map((entry) => ({ entry, ownerExists: this.deps.fleet.ownerExists(entry) })),
      unseenWriteOnAddress: this.deps.expectations.entries.unseenOn(namespace, address),
    };
  }

  private gatherGroup(node: XrayrNode, namespace: string) {
    const desired = desiredWorkloadGroup(node, this.deps.options);
    const name = desired.metadata.name ?? "";
    return { node, desired, live: this.deps.groups.get(name, namespace), createUnseen: this.deps.expectations.groups.unseen(namespace, name) };
  }

  // Claims on an address. A node being deleted keeps its claim: its entry stays until the node
  // is gone, and a second entry on the address meanwhile would make attribution ambiguous; the
  // delete event then hands the address on.
  private claims(address: string): Claim[] {
    return [...this.deps.fleet.nodesOn(address)].flatMap((n) => nodeClaim(n, this.validation(n)) ?? []);
  }

  /** Carries the entry's steps out in order, stopping at a create whose name is taken. */
  private async carryOutEntry(steps: readonly EntryAction[], log: Logger): Promise<"done" | "exists"> {
    for (const step of steps) {
      const write = entryWrite(step);
      try {
        if ((await this.entryStep(step, write.name, log)) === "exists") return "exists";
      } catch (err) {
        throw new WriteFailed(write, err);
      }
    }
    return "done";
  }

  private async entryStep(step: EntryAction, entryName: string, log: Logger): Promise<"done" | "exists"> {
    const { writer } = this.deps;
    const expectations = this.deps.expectations.entries;
    if (step.kind === "check") {
      await writer.createEntry(step.entry, { dryRun: true });
    } else if (step.kind === "apply" && step.why === "create") {
      const ns = step.entry.metadata.namespace ?? "";
      // Expected before it is sent: its watch event may arrive before the reply does.
      expectations.expectCreate(ns, entryName, step.entry.spec.address ?? "");
      let created: "created" | "exists";
      try {
        created = await writer.createEntry(step.entry);
      } catch (err) {
        expectations.observedPresent(ns, entryName);
        throw err;
      }
      if (created === "exists") {
        expectations.observedPresent(ns, entryName);
        log.debug({ entry: entryName }, "workload entry exists already; waiting for the cache");
        return "exists";
      }
      log.info({ entry: entryName, why: step.why, address: step.entry.spec.address }, "workload entry written");
    } else if (step.kind === "apply") {
      await writer.updateEntry(step.entry);
      log.info({ entry: entryName, why: step.why, address: step.entry.spec.address }, "workload entry written");
    } else {
      if (step.address !== undefined) expectations.expectDelete(step.namespace, step.uid, step.address);
      if ((await writer.deleteEntry(step.namespace, step.name, step.uid)) === "gone") {
        expectations.deleteFoundNothing(step.uid);
        log.debug({ entry: entryName, why: step.why }, "workload entry already gone");
      } else {
        log.info({ entry: entryName, why: step.why }, "workload entry deleted");
      }
    }
    return "done";
  }

  // A group create that finds its name taken is not waited for: the group's add event brings the
  // node back, and the plan then sees whose it is.
  private async carryOutGroup(steps: readonly GroupAction[], log: Logger): Promise<void> {
    for (const step of steps) {
      const write = groupWrite(step);
      try {
        await this.groupStep(step, write.name, log);
      } catch (err) {
        throw new WriteFailed(write, err);
      }
    }
  }

  private async groupStep(step: GroupAction, name: string, log: Logger): Promise<void> {
    const { writer } = this.deps;
    const expectations = this.deps.expectations.groups;
    if (step.kind === "delete-group") {
      await writer.deleteGroup(step.namespace, step.name, step.uid);
      log.info({ group: name, why: step.why }, "workload group deleted");
    } else if (step.why === "create") {
      const ns = step.group.metadata.namespace ?? "";
      expectations.expectCreate(ns, name);
      try {
        if ((await writer.createGroup(step.group)) === "exists") expectations.observedPresent(ns, name);
        else log.debug({ group: name }, "workload group created");
      } catch (err) {
        expectations.observedPresent(ns, name);
        throw err;
      }
    } else {
      await writer.updateGroup(step.group);
      log.info({ group: name, why: step.why }, "workload group written");
    }
  }

  /** The cache's status, or the one we wrote moments ago if the cache has not caught up yet. */
  private currentStatus(key: string, node: XrayrNode): XrayrNodeStatus | undefined {
    const w = this.written.get(key);
    if (w === undefined) return node.status;
    if (w.uid !== node.metadata.uid || this.now().getTime() - w.at > WRITTEN_STATUS_TTL_MS || sameStatus(node.status, w.status)) {
      this.written.delete(key);
      return node.status;
    }
    return w.status;
  }

  // Kept in write order, so the expired ones are at the front: without this sweep a backfill
  // left one status per node here for good, a second copy of every status in the heap.
  private remember(key: string, uid: string, status: XrayrNodeStatus): void {
    const now = this.now().getTime();
    this.written.delete(key);
    this.written.set(key, { uid, status, at: now });
    for (const [k, w] of this.written) {
      if (now - w.at <= WRITTEN_STATUS_TTL_MS) break;
      this.written.delete(k);
    }
  }

  private async report(key: string, node: XrayrNode, verdicts: Verdicts, entryName: string | undefined, log: Logger): Promise<void> {
    const current = this.currentStatus(key, node);
    const next = nextStatus(current, verdicts, node.metadata.generation, entryName, this.now());
    if (sameStatus(current, next)) return;
    await this.deps.writer.patchNodeStatus(node, next);
    this.remember(key, node.metadata.uid ?? "", next);
    await this.tell(node, READY, readyCondition(current), verdicts.ready, log);
    // A group waiting for the entry, or following it back, adds nothing a person must see: Ready's
    // reason and its event say it already.
    const previousGroup = groupCondition(current);
    if (verdicts.group.reason !== "EntryNotReady" && previousGroup?.reason !== "EntryNotReady") await this.tell(node, GROUP_READY, previousGroup, verdicts.group, log);
  }

  // Events (and info lines) are for what a person must see: a warning, or a reason changing after
  // the first. A node's first Reconciled is in its status already (and its entry's create in the
  // log); an Event for it was a third of all writes in a backfill of the fleet.
  private async tell(node: XrayrNode, condition: string, previous: Condition | undefined, verdict: Verdict<string>, log: Logger): Promise<void> {
    if (previous?.reason === verdict.reason) return;
    const worthTelling = previous !== undefined || !verdict.ready;
    log[worthTelling ? "info" : "debug"]({ condition, ready: verdict.ready, reason: verdict.reason, detail: verdict.message }, "condition changed");
    if (!worthTelling) return;
    try {
      await this.deps.writer.recordEvent(node, verdict.ready ? "Normal" : "Warning", verdict.reason, verdict.message);
    } catch (err) {
      // An event is a courtesy; failing to record one must not fail the reconcile.
      log.warn({ error: errorFields(err) }, "could not record event");
    }
  }
}

function entryWrite(step: EntryAction): FailedWrite {
  if (step.kind === "delete") return { kind: "WorkloadEntry", namespace: step.namespace, name: step.name };
  const { name = "", namespace = "" } = step.entry.metadata;
  return { kind: "WorkloadEntry", namespace, name, ...(step.kind === "check" ? { dryRun: true } : {}) };
}

function groupWrite(step: GroupAction): FailedWrite {
  if (step.kind === "delete-group") return { kind: "WorkloadGroup", namespace: step.namespace, name: step.name };
  const { name = "", namespace = "" } = step.group.metadata;
  return { kind: "WorkloadGroup", namespace, name };
}
