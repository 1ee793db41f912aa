// A Writer that records what would be written, for unit tests of the reconciler and of a term of
// leadership. With `echo`, each write also lands in the in-memory caches at once, as a watch that
// delivers instantly would show it.
import type { XrayrNode, XrayrNodeStatus } from "../../src/api/v1alpha1/types.js";
import type { Writer } from "../../src/apply/writer.js";
import type { WorkloadEntry } from "../../src/istio/workloadentry.js";
import type { WorkloadGroup } from "../../src/istio/workloadgroup.js";
import type { MemoryCache } from "./memory-cache.js";

export class RecordingWriter implements Writer {
  calls: string[] = [];
  statuses: XrayrNodeStatus[] = [];
  failApply: Error | undefined;
  failDryRun: Error | undefined;
  failStatus: Error | undefined;
  failGroup: Error | undefined;
  taken = new Set<string>();
  takenGroups = new Set<string>();
  echo: Caches | undefined;
  private uids = 0;

  createEntry(e: WorkloadEntry, options: { dryRun?: boolean } = {}): Promise<"created" | "exists"> {
    if (options.dryRun === true) {
      this.calls.push(`check ${e.metadata.name ?? ""}`);
      return this.failDryRun ? Promise.reject(this.failDryRun) : Promise.resolve("created");
    }
    this.calls.push(`create ${e.metadata.name ?? ""}`);
    if (this.failApply) return Promise.reject(this.failApply);
    if (this.taken.has(e.metadata.name ?? "")) return Promise.resolve("exists");
    this.echo?.entries.put({ ...e, metadata: { ...e.metadata, uid: `entry-uid-${++this.uids}` } });
    return Promise.resolve("created");
  }
  updateEntry(e: WorkloadEntry): Promise<void> {
    this.calls.push(`update ${e.metadata.name ?? ""}`);
    return this.failApply ? Promise.reject(this.failApply) : Promise.resolve();
  }
  /** Entry names whose delete finds nothing (the API server's 404). */
  gone = new Set<string>();
  deleteEntry(ns: string, name: string): Promise<"deleted" | "gone"> {
    this.calls.push(`delete ${name}`);
    if (this.gone.has(name)) return Promise.resolve("gone");
    const live = this.echo?.entries.get(name, ns);
    if (live !== undefined) this.echo?.entries.remove(live);
    return Promise.resolve("deleted");
  }
  createGroup(g: WorkloadGroup): Promise<"created" | "exists"> {
    this.calls.push(`create-group ${g.metadata.name ?? ""}`);
    if (this.failGroup) return Promise.reject(this.failGroup);
    if (this.takenGroups.has(g.metadata.name ?? "")) return Promise.resolve("exists");
    this.echo?.groups.put({ ...g, metadata: { ...g.metadata, uid: `group-uid-${++this.uids}` } });
    return Promise.resolve("created");
  }
  updateGroup(g: WorkloadGroup): Promise<void> {
    this.calls.push(`update-group ${g.metadata.name ?? ""}`);
    return this.failGroup ? Promise.reject(this.failGroup) : Promise.resolve();
  }
  deleteGroup(ns: string, name: string): Promise<void> {
    this.calls.push(`delete-group ${name}`);
    const live = this.echo?.groups.get(name, ns);
    if (live !== undefined) this.echo?.groups.remove(live);
    return Promise.resolve();
  }
  patchNodeStatus(n: XrayrNode, s: XrayrNodeStatus): Promise<void> {
    if (this.failStatus) return Promise.reject(this.failStatus);
    this.calls.push(`status ${n.metadata.name ?? ""}`);
    this.statuses.push(s);
    const live = this.echo?.nodes.get(n.metadata.name ?? "", n.metadata.namespace);
    if (live !== undefined) this.echo?.nodes.put({ ...live, status: s });
    return Promise.resolve();
  }
  patchNodeTraffic(n: XrayrNode): Promise<void> {
    this.calls.push(`traffic ${n.metadata.name ?? ""}`);
    return Promise.resolve();
  }
  recordEvent(n: XrayrNode, type: string, reason: string): Promise<void> {
    this.calls.push(`event ${n.metadata.name ?? ""} ${type} ${reason}`);
    return Promise.resolve();
  }
}

export interface Caches {
  nodes: MemoryCache<XrayrNode>;
  entries: MemoryCache<WorkloadEntry>;
  groups: MemoryCache<WorkloadGroup>;
}

