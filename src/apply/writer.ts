// Apply: the only module that writes to the API server. Every write is counted by verb and
// resource so a steady-state resync can be shown to write nothing.
import * as k8s from "@kubernetes/client-node";
import { GROUP, PLURAL, VERSION, type XrayrNode, type XrayrNodeStatus } from "../api/v1alpha1/types.js";
import { statusCode } from "../controller/api-errors.js";
import { withSignal } from "../controller/call-options.js";
import { MANAGER } from "../desired/workloadentry.js";
import { WE_GROUP, WE_PLURAL, WE_VERSION, type WorkloadEntry } from "../istio/workloadentry.js";
import { entryUpdatePatch } from "./entry-patch.js";
import type { TrafficStatus } from "../api/v1alpha1/types.js";

// A write that hangs must not outlive its reason to be made: after this it fails, the reconcile
// is retried with backoff, and a replica that lost its lease stops writing soon after.
const WRITE_TIMEOUT_MS = 10_000;

export interface WriteCounter {
  (verb: "create" | "patch" | "delete", resource: string, outcome: "ok" | "error"): void;
}

export interface Writer {
  /** Creates a new entry; "exists" when the name is already taken (the cache had not seen it yet). */
  createEntry(entry: WorkloadEntry): Promise<"created" | "exists">;
  /** Brings an existing entry to `entry` in place (see entry-patch.ts). */
  updateEntry(entry: WorkloadEntry): Promise<void>;
  /** Deletes the entry only if it is still the object with this uid. */
  deleteEntry(namespace: string, name: string, uid: string): Promise<void>;
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
  ) {
    this.custom = kc.makeApiClient(k8s.CustomObjectsApi);
    this.core = kc.makeApiClient(k8s.CoreV1Api);
  }

  async createEntry(entry: WorkloadEntry): Promise<"created" | "exists"> {
    try {
      await this.counted("create", WE_PLURAL, () =>
        this.custom.createNamespacedCustomObject(
          { ...entryCoordinates(entry.metadata.namespace ?? ""), body: entry, fieldManager: MANAGER },
          withSignal(AbortSignal.timeout(WRITE_TIMEOUT_MS)),
        ),
      );
      return "created";
    } catch (err) {
      if (statusCode(err) === 409) return "exists";
      throw err;
    }
  }

  async updateEntry(entry: WorkloadEntry): Promise<void> {
    const namespace = entry.metadata.namespace ?? "";
    const name = entry.metadata.name ?? "";
    // The cache keeps no managedFields (memory); an update is rare enough to read them fresh.
    const live = (await this.custom.getNamespacedCustomObject(
      { ...entryCoordinates(namespace), name },
      withSignal(AbortSignal.timeout(WRITE_TIMEOUT_MS)),
    )) as WorkloadEntry;
    await this.counted("patch", WE_PLURAL, () =>
      this.custom.patchNamespacedCustomObject(
        { ...entryCoordinates(namespace), name, body: entryUpdatePatch(live, entry, MANAGER), fieldManager: MANAGER },
        withSignal(AbortSignal.timeout(WRITE_TIMEOUT_MS), k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch)),
      ),
    );
  }

  async deleteEntry(namespace: string, name: string, uid: string): Promise<void> {
    try {
      await this.counted("delete", WE_PLURAL, () =>
        this.custom.deleteNamespacedCustomObject({
          ...entryCoordinates(namespace),
          name,
          body: { preconditions: { uid } },
        }, withSignal(AbortSignal.timeout(WRITE_TIMEOUT_MS))),
      );
    } catch (err) {
      // 404: already gone. 409: the uid precondition failed, so the object we meant is gone
      // and another took the name; the next reconcile looks at that one.
      const code = statusCode(err);
      if (code !== 404 && code !== 409) throw err;
    }
  }

  async patchNodeStatus(node: XrayrNode, status: XrayrNodeStatus): Promise<void> {
    // Only the reconciler's fields: status.traffic has its own writer and must not be put back
    // from a cache that may be older than it. null removes a field in a merge patch.
    await this.patchStatus(node, {
      observedGeneration: status.observedGeneration ?? null,
      conditions: status.conditions ?? null,
      workloadEntry: status.workloadEntry ?? null,
    });
  }

  async patchNodeTraffic(node: XrayrNode, traffic: TrafficStatus): Promise<void> {
    // Merge patches merge nested objects: an optional field the new numbers lack must be
    // removed explicitly, or the old value would stay.
    await this.patchStatus(node, { traffic: { p99Ms: null, lastSeen: null, ...traffic } });
  }

  private async patchStatus(node: XrayrNode, status: Record<string, unknown>): Promise<void> {
    await this.counted("patch", `${PLURAL}/status`, () =>
      this.custom.patchNamespacedCustomObjectStatus(
        {
          group: GROUP,
          version: VERSION,
          namespace: node.metadata.namespace ?? "",
          plural: PLURAL,
          name: node.metadata.name ?? "",
          // Merge patch replaces the conditions list whole; the uid guards against writing a
          // verdict about one incarnation of a name onto the next.
          body: { metadata: { uid: node.metadata.uid }, status },
        },
        withSignal(AbortSignal.timeout(WRITE_TIMEOUT_MS), k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch)),
      ),
    );
  }

  async recordEvent(node: XrayrNode, type: "Normal" | "Warning", reason: string, message: string): Promise<void> {
    const now = new Date();
    const namespace = node.metadata.namespace ?? "";
    await this.counted("create", "events", () =>
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
      }, withSignal(AbortSignal.timeout(WRITE_TIMEOUT_MS))),
    );
  }

  private async counted<T>(verb: Parameters<WriteCounter>[0], resource: string, call: () => Promise<T>): Promise<T> {
    try {
      const result = await call();
      this.count(verb, resource, "ok");
      return result;
    } catch (err) {
      this.count(verb, resource, "error");
      throw err;
    }
  }
}

function entryCoordinates(namespace: string) {
  return { group: WE_GROUP, version: WE_VERSION, plural: WE_PLURAL, namespace };
}
