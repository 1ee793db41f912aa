// Reconcile one XrayrNode: read it and its entries from the informer caches (never from the
// event, so every pass is idempotent), gather the plan's input, plan, carry the plan out, and
// report the verdict in the node's status.
import type { Logger } from "pino";
import type { ReconcileResult } from "../controller/controller.js";
import { apiMessage, classifyApiError, errorFields } from "../controller/api-errors.js";
import { NotLeaderError } from "../controller/fence.js";
import { splitKey } from "../controller/keys.js";
import type { XrayrNode, XrayrNodeStatus } from "../api/v1alpha1/types.js";
import { desiredWorkloadEntry, type EntryOptions } from "../desired/workloadentry.js";
import { desiredWorkloadGroup } from "../desired/workloadgroup.js";
import { nodeClaim, type Claim } from "../domain/claims.js";
import type { WorkloadEntry } from "../istio/workloadentry.js";
import type { WorkloadGroup } from "../istio/workloadgroup.js";
import { FencedWriteError, type Writer } from "../apply/writer.js";
import { readyCondition } from "../domain/readiness.js";
import type { Validity } from "../domain/validity.js";
import { planNode, type PlanInput, type Step, type Verdict } from "../plan/plan.js";
import { nextStatus, sameStatus } from "../status/conditions.js";
import type { Expectations } from "./expectations.js";
import type { FleetLookups } from "./watches.js";

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
  expectations: Expectations;
  /** Our group creates until the watch shows them, keyed by the group's name (one group a node). */
  groupExpectations: Expectations;
  writer: Writer;
  options: EntryOptions;
  /** Schema and address policy together (crd/validate.ts validateNode). */
  validate: (node: XrayrNode) => Validity;
  log: Logger;
  onVerdict?: (key: string, verdict: Verdict | undefined) => void;
  now?: () => Date;
}

// How long a status we wrote stands in for the cache's copy. A reconcile that runs again before
// the watch has delivered our own status write (an entry event right after a create does that)
// would otherwise write the same status, and record the same event, twice.
const WRITTEN_STATUS_TTL_MS = 10_000;
// A write the API server refused outright (a webhook's denial, 403, 422) fails the same way
// until a person changes something: tried again this often, not in a hot backoff loop.
export const REJECTED_RETRY_MS = 15_000;

type Outcome = { done: true } | { done: false; why: "exists" } | { done: false; why: "rejected"; verdict: Verdict };

export class XrayrNodeReconciler {
  // Informer objects are replaced on every change, so object identity is a safe memo key:
  // each node is validated once per version, not once per peer's reconcile.
  private readonly validations = new WeakMap<XrayrNode, Validity>();
  private readonly written = new Map<string, { uid: string; status: XrayrNodeStatus; at: number }>();
  private readonly now: () => Date;
  private passes = 0;

  constructor(private readonly deps: ReconcilerDeps) {
    this.now = deps.now ?? (() => new Date());
  }

  async reconcile(key: string): Promise<ReconcileResult | undefined> {
    const { namespace = "", name } = splitKey(key);
    const node = this.deps.nodes.get(name, namespace);
    if (node === undefined || node.metadata.deletionTimestamp !== undefined) {
      // Gone: the garbage collector removes its entry; nothing of ours to report.
      this.written.delete(key);
      this.deps.onVerdict?.(key, undefined);
      return undefined;
    }
    // One id for every line of this pass, so a pass's lines can be read together.
    const log = this.deps.log.child({ namespace, name, reconcileId: (++this.passes).toString(36) });
    const plan = planNode(this.gather(node, namespace));
    if (plan.kind === "wait") {
      log.debug({ why: plan.why }, "waiting");
      return { requeueAfter: plan.afterMs };
    }

    let verdict = plan.verdict;
    let failure: Error | undefined;
    let retryAfter: number | undefined;
    try {
      const outcome = await this.carryOut(plan.steps, log);
      // Our own create, or someone's, that the watch has not delivered yet: the entry's add
      // event brings this node back, and the plan then sees whose it is.
      if (!outcome.done && outcome.why === "exists") return { requeueAfter: 500 };
      if (!outcome.done) {
        verdict = outcome.verdict;
        retryAfter = REJECTED_RETRY_MS;
      }
    } catch (err) {
      // Not the leader any more: nothing more may be written, the status included.
      if (err instanceof NotLeaderError || err instanceof FencedWriteError) throw err;
      failure = err instanceof Error ? err : new Error(String(err));
      verdict = {
        ready: false,
        reason: "ApplyFailed",
        message: `writing the WorkloadEntry or WorkloadGroup of ${namespace}/${name} failed: ${apiMessage(err)}; retrying with backoff`,
      };
    }
    this.deps.onVerdict?.(key, verdict);
    // The entry is named in the status whenever the plan's own verdict stands: its steps were
    // all carried out, so the entry it names is in place (also when Ready is False for a reason
    // beside the entry, GroupNameTaken).
    await this.report(key, node, verdict, verdict === plan.verdict ? plan.entryName : undefined, log);
    if (failure !== undefined) throw failure;
    retryAfter ??= verdict === plan.verdict ? plan.recheckAfterMs : undefined;
    return retryAfter === undefined ? undefined : { requeueAfter: retryAfter };
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

  // The plan's input, as plain data read from the caches now.
  private gather(node: XrayrNode, namespace: string): PlanInput {
    const validation = this.validation(node);
    const group = desiredWorkloadGroup(node, this.deps.options);
    const groupName = group.metadata.name ?? "";
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
      unseenWriteOnAddress: this.deps.expectations.unseenOn(namespace, address),
      group: { desired: group, live: this.deps.groups.get(groupName, namespace), createUnseen: this.deps.groupExpectations.unseenOn(namespace, groupName) },
    };
  }

  // Claims on an address. A node being deleted keeps its claim: its entry stays until the node
  // is gone, and a second entry on the address meanwhile would make attribution ambiguous; the
  // delete event then hands the address on.
  private claims(address: string): Claim[] {
    return [...this.deps.fleet.nodesOn(address)].flatMap((n) => nodeClaim(n, this.validation(n)) ?? []);
  }


  /** Carries the steps out in order, stopping at a create whose name is taken or a refused check. */
  private async carryOut(steps: readonly Step[], log: Logger): Promise<Outcome> {
    for (const step of steps) {
      try {
        if (step.kind === "apply-group" || step.kind === "delete-group") await this.carryOutGroup(step, log);
        else if ((await this.carryOutEntry(step, log)) === "exists") return { done: false, why: "exists" };
      } catch (err) {
        if (classifyApiError(err).kind !== "terminal" || err instanceof FencedWriteError) throw err;
        const what =
          step.kind === "check"
            ? `the replacement WorkloadEntry ${objectName(step)} was refused in a dry run, so the current entry stays`
            : `${step.kind === "apply-group" || step.kind === "delete-group" ? "WorkloadGroup" : "WorkloadEntry"} ${objectName(step)} was refused`;
        return {
          done: false,
          why: "rejected",
          verdict: { ready: false, reason: "ApplyRejected", message: `${what}: ${apiMessage(err)}; tried again every ${REJECTED_RETRY_MS / 1000} s` },
        };
      }
    }
    return { done: true };
  }

  private async carryOutEntry(step: Exclude<Step, { kind: "apply-group" | "delete-group" }>, log: Logger): Promise<"done" | "exists"> {
    const { writer, expectations } = this.deps;
    const entryName = objectName(step);
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
      await writer.deleteEntry(step.namespace, step.name, step.uid);
      log.info({ entry: entryName, why: step.why }, "workload entry deleted");
    }
    return "done";
  }

  // A group create that finds its name taken is not waited for: the group's add event brings the
  // node back, and the plan then sees whose it is. The entry's steps are done by now.
  private async carryOutGroup(step: Extract<Step, { kind: "apply-group" | "delete-group" }>, log: Logger): Promise<void> {
    const { writer, groupExpectations } = this.deps;
    const name = objectName(step);
    if (step.kind === "delete-group") {
      await writer.deleteGroup(step.namespace, step.name, step.uid);
      log.info({ group: name, why: step.why }, "workload group deleted");
    } else if (step.why === "create") {
      const ns = step.group.metadata.namespace ?? "";
      groupExpectations.expectCreate(ns, name, name);
      try {
        if ((await writer.createGroup(step.group)) === "exists") groupExpectations.observedPresent(ns, name);
        else log.debug({ group: name }, "workload group created");
      } catch (err) {
        groupExpectations.observedPresent(ns, name);
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

  private async report(key: string, node: XrayrNode, verdict: Verdict, entryName: string | undefined, log: Logger): Promise<void> {
    const current = this.currentStatus(key, node);
    const previous = readyCondition(current);
    const next = nextStatus(current, verdict, node.metadata.generation, entryName, this.now());
    if (sameStatus(current, next)) return;
    await this.deps.writer.patchNodeStatus(node, next);
    this.remember(key, node.metadata.uid ?? "", next);
    if (previous?.reason === verdict.reason) return;
    // Events (and info lines) are for what a person must see: a warning, or a reason changing
    // after the first. A node's first Ready is in its status already (and its entry's create in
    // the line above); an Event for it was a third of all writes in a backfill of the fleet.
    const worthTelling = previous !== undefined || !verdict.ready;
    log[worthTelling ? "info" : "debug"]({ ready: verdict.ready, reason: verdict.reason, detail: verdict.message }, "ready condition changed");
    if (worthTelling) {
      try {
        await this.deps.writer.recordEvent(node, verdict.ready ? "Normal" : "Warning", verdict.reason, verdict.message);
      } catch (err) {
        // An event is a courtesy; failing to record one must not fail the reconcile.
        log.warn({ error: errorFields(err) }, "could not record event");
      }
    }
  }
}

function objectName(step: Step): string {
  switch (step.kind) {
    case "check":
    case "apply":
      return step.entry.metadata.name ?? "";
    case "apply-group":
      return step.group.metadata.name ?? "";
    default:
      return step.name;
  }
}
