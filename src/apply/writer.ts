// Apply: the only module that writes to the API server. Every write is counted by verb and
// resource so a steady-state resync can be shown to write nothing, and every write is fenced:
// checked against the leadership it is made under just before it is sent, cancelled when that
// leadership ends, and stamped with it so the API server's fencing policy can refuse it if it
// arrives late (docs/decisions/0009).
import * as k8s from "@kubernetes/client-node";
import { GROUP, PLURAL, VERSION, type XrayrNode, type XrayrNodeStatus } from "../api/v1alpha1/types.js";
import { apiMessage, statusCode } from "../controller/api-errors.js";
import { withSignal } from "../controller/call-options.js";
import { NotLeaderError, type Fence, type LeaderStamp } from "../controller/fence.js";
import { MANAGER } from "../domain/ownership.js";
import type { ObjectMeta } from "../api/v1alpha1/types.js";
import { WE_GROUP, WE_PLURAL, WE_VERSION, type WorkloadEntry } from "../istio/workloadentry.js";
import { WG_GROUP, WG_PLURAL, WG_VERSION, type WorkloadGroup } from "../istio/workloadgroup.js";
import { entryUpdatePatch } from "./entry-patch.js";
import { groupUpdatePatch } from "./group-patch.js";
import type { TrafficStatus } from "../api/v1alpha1/types.js";

/** Stamped on every entry and group the operator writes: the Lease holder and epoch it wrote under. */
export const LEADER_ANNOTATION = "mesh.sigma.io/leader";
export const LEADER_EPOCH_ANNOTATION = "mesh.sigma.io/leader-epoch";
/** The field manager of status.traffic; the reconciler's status fields are MANAGER's. */
export const TRAFFIC_MANAGER = `${MANAGER}-traffic`;
/** Names the fencing policy in its refusals, so a refusal is told from any other 4xx. */
export const FENCING_POLICY = "xrayr-mesh-operator-fencing";

// A write that hangs must not outlive its reason to be made: it fails by then, and the reconcile
// is retried. With leader election it is also shorter than the margin between the renew
// deadline and the lease's end (see writeTimeoutFor), so no write of a leader that has just
// stepped down is still in flight when a successor may start.
const MAX_WRITE_TIMEOUT_MS = 10_000;

/** The write timeout for a lease: 80 % of the margin between renew deadline and lease duration. */
export function writeTimeoutFor(leaseDurationMs: number, renewDeadlineMs: number): number {
  return Math.max(500, Math.min(MAX_WRITE_TIMEOUT_MS, Math.floor((leaseDurationMs - renewDeadlineMs) * 0.8)));
}

/** The API server's fencing policy refused a write: this replica's leadership is over (or the
 * server has not yet seen it begin), so the write is dropped, not retried as it was. */
export class FencedWriteError extends Error {
  override readonly name = "FencedWriteError";
}

export interface WriteCounter {
  (verb: "create" | "dry-run-create" | "patch" | "delete", resource: string, outcome: "ok" | "error"): void;
}

/**
 * Holds a WorkloadEntry write back until its turn (controller/pace.ts, ENTRY_WRITES_PER_SECOND):
 * every entry create, update and delete is work for istiod and a push to each Xboard sidecar.
 * False: the wait ended with the leadership, and the write is not sent.
 */
export interface EntryPace {
  turn(verb: "create" | "patch" | "delete", signal: AbortSignal): Promise<boolean>;
}

const UNPACED: EntryPace = { turn: () => Promise.resolve(true) };

export interface Writer {
  /** Creates a new entry; "exists" when the name is already taken (the cache had not seen it yet).
   * With `dryRun` nothing is stored: admission runs, so a refusal is known before anything is deleted. */
  createEntry(entry: WorkloadEntry, options?: { dryRun?: boolean }): Promise<"created" | "exists">;
  /** Brings an existing entry to `entry` in place (see entry-patch.ts). */
  updateEntry(entry: WorkloadEntry): Promise<void>;
  /** Deletes the entry only if it is still the object with this uid; "gone" when it was not
   * there to delete (404) or another object has its name now (409). */
  deleteEntry(namespace: string, name: string, uid: string): Promise<"deleted" | "gone">;
  /** Creates the node's WorkloadGroup; "exists" when the name is taken (ours not yet seen, or someone else's). */
  createGroup(group: WorkloadGroup): Promise<"created" | "exists">;
  /** Brings an existing group of ours to `group` in place (see group-patch.ts). */
  updateGroup(group: WorkloadGroup): Promise<void>;
  /** Deletes the group only if it is still the object with this uid. */
  deleteGroup(namespace: string, name: string, uid: string): Promise<void>;
  /** Writes the reconciler's part of the status (conditions, observedGeneration, workloadEntry). */
  patchNodeStatus(node: XrayrNode, status: XrayrNodeStatus): Promise<void>;
  /** Writes status.traffic only. */
  patchNodeTraffic(node: XrayrNode, traffic: TrafficStatus): Promise<void>;
  recordEvent(node: XrayrNode, type: "Normal" | "Warning", reason: string, message: string): Promise<void>;
}

export class KubeWriter implements Writer {
  private readonly custom: k8s.CustomObjectsApi;
  private readonly core: k8s.CoreV1Api;

  constructor(
    kc: k8s.KubeConfig,
    private readonly count: WriteCounter,
    private readonly reportingInstance: string,
    private readonly fence: Fence,
    private readonly writeTimeoutMs: number = MAX_WRITE_TIMEOUT_MS,
    private readonly entryPace: EntryPace = UNPACED,
  ) {
    this.custom = kc.makeApiClient(k8s.CustomObjectsApi);
    this.core = kc.makeApiClient(k8s.CoreV1Api);
  }

  async createEntry(entry: WorkloadEntry, options: { dryRun?: boolean } = {}): Promise<"created" | "exists"> {
    const dryRun = options.dryRun === true;
    // A dry run stores nothing, so istiod never sees it: it takes no turn.
    if (!dryRun) await this.entryTurn("create");
    return this.create(entryCoordinates(entry.metadata.namespace ?? ""), entry, dryRun);
  }

  async createGroup(group: WorkloadGroup): Promise<"created" | "exists"> {
    return this.create(groupCoordinates(group.metadata.namespace ?? ""), group, false);
  }

  // Created by POST, not applied (decision 0008); a 409 is a name already taken, not a failure.
  private async create(coordinates: Coordinates, obj: { metadata: ObjectMeta }, dryRun: boolean): Promise<"created" | "exists"> {
    const body = stamped(obj, this.fence.stamp);
    try {
      await this.counted(dryRun ? "dry-run-create" : "create", coordinates.plural, (signal) =>
        this.custom.createNamespacedCustomObject(
          { ...coordinates, body, fieldManager: MANAGER, dryRun: dryRun ? "All" : undefined },
          withSignal(signal),
        ),
      );
      return "created";
    } catch (err) {
      if (statusCode(err) === 409) return "exists";
      throw err;
    }
  }

  async updateEntry(entry: WorkloadEntry): Promise<void> {
    await this.entryTurn("patch");
    await this.update(entryCoordinates(entry.metadata.namespace ?? ""), entry.metadata.name ?? "", (live) =>
      entryUpdatePatch(live as WorkloadEntry, stamped(entry, this.fence.stamp), MANAGER),
    );
  }

  async updateGroup(group: WorkloadGroup): Promise<void> {
    await this.update(groupCoordinates(group.metadata.namespace ?? ""), group.metadata.name ?? "", (live) =>
      groupUpdatePatch(live as WorkloadGroup, stamped(group, this.fence.stamp), MANAGER),
    );
  }

  async deleteEntry(namespace: string, name: string, uid: string): Promise<"deleted" | "gone"> {
    await this.entryTurn("delete");
    return this.delete(entryCoordinates(namespace), name, uid);
  }

  async deleteGroup(namespace: string, name: string, uid: string): Promise<void> {
    await this.delete(groupCoordinates(namespace), name, uid);
  }

  // The wait comes before anything is read or stamped, so what is sent after it is current; the
  // write timeout starts after it. Groups take no turn: istiod's xDS never reads them (no push).
  private async entryTurn(verb: "create" | "patch" | "delete"): Promise<void> {
    if (await this.entryPace.turn(verb, this.fence.signal)) return;
    this.fence.check();
    throw new NotLeaderError(`entry ${verb} not sent: leadership ended while it waited for its turn`);
  }

  private async update(coordinates: Coordinates, name: string, patch: (live: unknown) => Record<string, unknown>): Promise<void> {
    this.fence.check();
    // The cache keeps no managedFields (memory); an update is rare enough to read them fresh.
    const live: unknown = await this.custom.getNamespacedCustomObject({ ...coordinates, name }, withSignal(this.writeSignal()));
    const body = patch(live);
    await this.counted("patch", coordinates.plural, (signal) =>
      this.custom.patchNamespacedCustomObject(
        { ...coordinates, name, body, fieldManager: MANAGER },
        withSignal(signal, k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch)),
      ),
    );
  }

  private async delete(coordinates: Coordinates, name: string, uid: string): Promise<"deleted" | "gone"> {
    try {
      // A delete carries no stamp (DeleteOptions has no room for one): it is fenced here only,
      // and its uid precondition keeps a late one from removing anything but the object it meant.
      await this.counted("delete", coordinates.plural, (signal) =>
        this.custom.deleteNamespacedCustomObject({ ...coordinates, name, body: { preconditions: { uid } } }, withSignal(signal)),
      );
      return "deleted";
    } catch (err) {
      // 404: already gone. 409: the uid precondition failed, so the object we meant is gone
      // and another took the name; the next reconcile looks at that one.
      const code = statusCode(err);
      if (code !== 404 && code !== 409) throw err;
      return "gone";
    }
  }

  async patchNodeStatus(node: XrayrNode, status: XrayrNodeStatus): Promise<void> {
    // Server-side apply under the reconciler's manager: only the fields listed are its, and a
    // field it no longer lists (workloadEntry of a node no longer Ready) is removed, while
    // status.traffic, applied under the traffic manager, is never touched from here.
    const fields: Record<string, unknown> = { conditions: status.conditions ?? [] };
    if (status.observedGeneration !== undefined) fields.observedGeneration = status.observedGeneration;
    if (status.workloadEntry !== undefined) fields.workloadEntry = status.workloadEntry;
    await this.applyStatus(node, MANAGER, fields);
  }

  async patchNodeTraffic(node: XrayrNode, traffic: TrafficStatus): Promise<void> {
    await this.applyStatus(node, TRAFFIC_MANAGER, { traffic });
  }

  private async applyStatus(node: XrayrNode, manager: string, fields: Record<string, unknown>): Promise<void> {
    const stamp = this.fence.stamp;
    const status = stamp === undefined ? fields : { ...fields, writtenBy: { holder: stamp.holder, epoch: stamp.epoch } };
    await this.counted("patch", `${PLURAL}/status`, (signal) =>
      this.custom.patchNamespacedCustomObjectStatus(
        {
          group: GROUP,
          version: VERSION,
          namespace: node.metadata.namespace ?? "",
          plural: PLURAL,
          name: node.metadata.name ?? "",
          // The uid guards against writing a verdict about one incarnation of a name onto the next.
          body: { apiVersion: `${GROUP}/${VERSION}`, kind: "XrayrNode", metadata: { name: node.metadata.name, uid: node.metadata.uid }, status },
          fieldManager: manager,
          force: true,
        },
        withSignal(signal, k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.ServerSideApply)),
      ),
    );
  }

  async recordEvent(node: XrayrNode, type: "Normal" | "Warning", reason: string, message: string): Promise<void> {
    const now = new Date();
    const namespace = node.metadata.namespace ?? "";
    await this.counted("create", "events", (signal) =>
      this.core.createNamespacedEvent({
        namespace,
        body: {
          metadata: { generateName: `${node.metadata.name ?? "xrayrnode"}.`, namespace },
          involvedObject: {
            apiVersion: `${GROUP}/${VERSION}`,
            kind: "XrayrNode",
            name: node.metadata.name ?? "",
            namespace,
            uid: node.metadata.uid ?? "",
          },
          type,
          reason,
          message,
          firstTimestamp: now,
          lastTimestamp: now,
          count: 1,
          source: { component: MANAGER },
          reportingComponent: MANAGER,
          reportingInstance: this.reportingInstance,
        },
      }, withSignal(signal)),
    );
  }

  private writeSignal(): AbortSignal {
    return AbortSignal.any([this.fence.signal, AbortSignal.timeout(this.writeTimeoutMs)]);
  }

  // Every write goes through here: fenced just before it is sent, cancelled with its leadership.
  private async counted<T>(verb: Parameters<WriteCounter>[0], resource: string, call: (signal: AbortSignal) => Promise<T>): Promise<T> {
    this.fence.check();
    try {
      const result = await call(this.writeSignal());
      this.count(verb, resource, "ok");
      return result;
    } catch (err) {
      this.count(verb, resource, "error");
      // Only a write made under a leadership can have lost it. A replica without leader election
      // that meets the policy (installed by hand, or left behind) is refused like by any webhook:
      // ApplyRejected with the policy's words, looked at again, never parked for a next leader
      // that will not come.
      if (this.fence.stamp !== undefined && apiMessage(err).includes(FENCING_POLICY)) throw new FencedWriteError(apiMessage(err), { cause: err });
      throw err;
    }
  }
}

// The leadership a write is made under, on the object itself: the fencing policy compares it with
// the Lease when the write arrives. No stamp (no leader election): the object goes as it is.
function stamped<T extends { metadata: ObjectMeta }>(obj: T, stamp: LeaderStamp | undefined): T {
  if (stamp === undefined) return obj;
  return {
    ...obj,
    metadata: {
      ...obj.metadata,
      annotations: { ...obj.metadata.annotations, [LEADER_ANNOTATION]: stamp.holder, [LEADER_EPOCH_ANNOTATION]: String(stamp.epoch) },
    },
  };
}

interface Coordinates {
  group: string;
  version: string;
  plural: string;
  namespace: string;
}

function entryCoordinates(namespace: string): Coordinates {
  return { group: WE_GROUP, version: WE_VERSION, plural: WE_PLURAL, namespace };
}

function groupCoordinates(namespace: string): Coordinates {
  return { group: WG_GROUP, version: WG_VERSION, plural: WG_PLURAL, namespace };
}
