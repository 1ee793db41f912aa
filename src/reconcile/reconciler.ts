// Reconcile one XrayrNode: read it and its entry from the informer caches (never from the
// event, so every pass is idempotent), validate, plan, carry the plan out, and report.
import type { Logger } from "pino";
import { splitKey } from "../controller/keys.js";
import type { XrayrNode } from "../api/v1alpha1/types.js";
import type { EntryOptions } from "../desired/workloadentry.js";
import type { WorkloadEntry } from "../istio/workloadentry.js";
import type { ReconcileResult } from "../controller/controller.js";
import type { Claim } from "../domain/claims.js";
import { ADDRESS_HANDOVER_RECHECK_MS, planNode, type Plan, type Validation, type Verdict } from "../plan/plan.js";
import { apiMessage } from "../controller/api-errors.js";
import type { Writer } from "../apply/writer.js";
import type { XrayrNodeStatus } from "../api/v1alpha1/types.js";
import { nextStatus, readyCondition, sameStatus } from "../status/conditions.js";

/** What the reconciler needs of an informer cache. */
export interface Store<T> {
  get(name: string, namespace?: string): T | undefined;
  list(): readonly T[];
}

export interface ReconcilerDeps {
  nodes: Store<XrayrNode>;
  /** The nodes whose spec.address is `address` (this node included), e.g. from an AddressIndex. */
  nodesOn: (address: string) => Iterable<XrayrNode>;
  entries: Store<WorkloadEntry>;
  /** Live entries controlled by an XrayrNode named `name` in `namespace` (e.g. from a GroupIndex). */
  entriesOf: (name: string, namespace: string) => readonly WorkloadEntry[];
  /** Live entries on `address` in `namespace`. */
  entriesOn: (address: string, namespace: string) => readonly WorkloadEntry[];
  /** Whether the XrayrNode controlling an entry still exists. */
  ownerExists: (entry: WorkloadEntry) => boolean;
  writer: Writer;
  options: EntryOptions;
  /** Schema and address policy together; see validateNode. */
  validate: (node: XrayrNode) => Validation;
  log: Logger;
  onVerdict?: (key: string, verdict: Verdict | undefined) => void;
  now?: () => Date;
}

// How long a status we wrote stands in for the cache's copy. A reconcile that runs again before
// the watch has delivered our own status write (an entry event right after a create does that)
// would otherwise write the same status, and record the same event, twice.
const WRITTEN_STATUS_TTL_MS = 10_000;

export class XrayrNodeReconciler {
  // Informer objects are replaced on every change, so object identity is a safe memo key:
  // each node is validated once per version, not once per peer's reconcile.
  private readonly validations = new WeakMap<XrayrNode, Validation>();
  private readonly written = new Map<string, { uid: string; status: XrayrNodeStatus; at: number }>();
  private readonly now: () => Date;

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
    const log = this.deps.log.child({ namespace, name });
    const plan = planNode({
      node,
      validation: this.validation(node),
      claims: this.claims(node),
      entries: this.deps.entriesOf(name, namespace),
      entryNamed: (entry) => this.deps.entries.get(entry, namespace),
      entriesOn: (address) => this.deps.entriesOn(address, namespace),
      ownerExists: this.deps.ownerExists,
      options: this.deps.options,
    });

    let verdict = plan.verdict;
    let failure: Error | undefined;
    try {
      // Our own create, or someone's, that the watch has not delivered yet: the entry's add
      // event brings this node back, and the plan then sees whose it is.
      if (!(await this.carryOut(plan, log))) return { requeueAfter: ADDRESS_HANDOVER_RECHECK_MS };
    } catch (err) {
      failure = err instanceof Error ? err : new Error(String(err));
      verdict = {
        ready: false,
        reason: "ApplyFailed",
        message: `writing WorkloadEntry ${namespace}/${name} failed: ${apiMessage(err)}; retrying with backoff`,
      };
    }
    this.deps.onVerdict?.(key, verdict);
    // No verdict yet (waiting for an address to be handed over): look again, report nothing.
    if (verdict === undefined) return { requeueAfter: plan.requeueAfter ?? ADDRESS_HANDOVER_RECHECK_MS };
    await this.report(key, node, verdict, plan.entryName, log);
    if (failure !== undefined) throw failure;
    return undefined;
  }

  /** Memoised schema + policy verdict for one version of a node. */
  validation(node: XrayrNode): Validation {
    let v = this.validations.get(node);
    if (v === undefined) {
      v = this.deps.validate(node);
      this.validations.set(node, v);
    }
    return v;
  }

  // Claims on this node's address. A node being deleted keeps its claim: its entry stays until
  // the node is gone, and a second entry on the address meanwhile would make attribution
  // ambiguous; the delete event then hands the address on.
  private claims(node: XrayrNode): Claim[] {
    const claims: Claim[] = [];
    for (const n of this.deps.nodesOn(node.spec.address)) {
      const v = this.validation(n);
      if (!v.ok) continue;
      claims.push({ name: n.metadata.name ?? "", address: v.spec.address, createdAt: String(n.metadata.creationTimestamp ?? "") });
    }
    return claims;
  }

  /** Carries the steps out in order; false when a create found its name taken (not yet cached). */
  private async carryOut({ steps }: Plan, log: Logger): Promise<boolean> {
    for (const step of steps) {
      if (step.kind === "apply") {
        if (step.why === "create") {
          if ((await this.deps.writer.createEntry(step.entry)) === "exists") {
            log.debug({ entry: step.entry.metadata.name }, "workload entry exists already; waiting for the cache");
            return false;
          }
        } else {
          await this.deps.writer.updateEntry(step.entry);
        }
        log.info({ entry: step.entry.metadata.name, why: step.why, address: step.entry.spec.address }, "workload entry written");
      } else {
        await this.deps.writer.deleteEntry(step.namespace, step.name, step.uid);
        log.info({ entry: step.name, why: step.why }, "workload entry deleted");
      }
    }
    return true;
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

  private async report(key: string, node: XrayrNode, verdict: Verdict, entryName: string | undefined, log: Logger): Promise<void> {
    const current = this.currentStatus(key, node);
    const previous = readyCondition(current);
    const next = nextStatus(current, verdict, node.metadata.generation, verdict.ready ? entryName : undefined, this.now());
    if (sameStatus(current, next)) return;
    await this.deps.writer.patchNodeStatus(node, next);
    this.written.set(key, { uid: node.metadata.uid ?? "", status: next, at: this.now().getTime() });
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
        log.warn({ err: apiMessage(err) }, "could not record event");
      }
    }
  }
}
