// A watch on the suite namespace's WorkloadEntries from a list's resourceVersion on: every
// change in the API server's own order, so "at most one entry at a time" is checked on every
// state the API server went through, not only on the states a poll happened to see.
import * as k8s from "@kubernetes/client-node";
import { adminClient, ENTRY_GROUP, ENTRY_PLURAL, ENTRY_VERSION, type WorkloadEntry } from "./kube.js";
import { NAMESPACE } from "./lab.js";

export interface EntryEvent {
  /** Date.now() when the event arrived. */
  at: number;
  type: "ADDED" | "MODIFIED" | "DELETED";
  entry: WorkloadEntry;
}

export interface Peak {
  /** The most entries matching the predicate that existed at once. */
  count: number;
  /** Their names at the first moment of that peak. */
  names: string[];
}

export class EntryWatch {
  readonly events: EntryEvent[] = [];
  private ended: unknown;
  private stopped = false;

  private abort: AbortController | undefined;

  private constructor(private readonly initial: readonly WorkloadEntry[]) {}

  /** Lists the namespace's entries and watches from that list on. */
  static async start(): Promise<EntryWatch> {
    const { kc } = adminClient();
    const custom = kc.makeApiClient(k8s.CustomObjectsApi);
    const list = (await custom.listNamespacedCustomObject({ group: ENTRY_GROUP, version: ENTRY_VERSION, plural: ENTRY_PLURAL, namespace: NAMESPACE })) as {
      metadata: { resourceVersion: string };
      items: WorkloadEntry[];
    };
    const w = new EntryWatch(list.items);
    const watch = new k8s.Watch(kc);
    // client-node ends a watch after 30 s without data; a quiet stretch of a long run (a soak
    // waiting for convergence) must not cut the record short. The field is private in its
    // typings but a plain property (dist/watch.js), and there is no option for it.
    (watch as unknown as { requestTimeoutMs: number }).requestTimeoutMs = 60 * 60_000;
    w.abort = await watch.watch(
      `/apis/${ENTRY_GROUP}/${ENTRY_VERSION}/namespaces/${NAMESPACE}/${ENTRY_PLURAL}`,
      { resourceVersion: list.metadata.resourceVersion, allowWatchBookmarks: false },
      (type: string, obj: unknown) => {
        if (type === "ADDED" || type === "MODIFIED" || type === "DELETED") w.events.push({ at: Date.now(), type, entry: obj as WorkloadEntry });
        else if (type === "ERROR") w.ended ??= new Error(`watch error: ${JSON.stringify(obj)}`);
      },
      (err: unknown) => {
        if (!w.stopped) w.ended ??= err ?? new Error("the watch ended before it was stopped");
      },
    );
    return w;
  }

  /** Stops watching; throws if the watch broke off earlier (its record would be incomplete). */
  stop(): void {
    this.stopped = true;
    this.abort?.abort();
    if (this.ended !== undefined) throw new Error(`the WorkloadEntry watch broke off early: ${this.ended instanceof Error || this.ended instanceof DOMException ? `${this.ended.name}: ${this.ended.message}` : JSON.stringify(this.ended)}`);
  }

  /** Replays the record: the most entries matching `pred` that existed at once, and which. */
  peak(pred: (e: WorkloadEntry) => boolean): Peak {
    const live = new Map<string, WorkloadEntry>();
    for (const e of this.initial) live.set(e.metadata.uid ?? e.metadata.name, e);
    const matching = (): string[] => [...live.values()].filter(pred).map((e) => e.metadata.name);
    let best: Peak = { count: matching().length, names: matching() };
    for (const ev of this.events) {
      const key = ev.entry.metadata.uid ?? ev.entry.metadata.name;
      if (ev.type === "DELETED") live.delete(key);
      else live.set(key, ev.entry);
      const now = matching();
      if (now.length > best.count) best = { count: now.length, names: now };
    }
    return best;
  }

  /** The most entries holding one address at once (per address, over the record), for addresses `pred` picks. */
  peakPerAddress(pred: (address: string) => boolean): Peak & { address?: string } {
    let best: Peak & { address?: string } = { count: 0, names: [] };
    const addresses = new Set<string>();
    for (const e of [...this.initial, ...this.events.map((ev) => ev.entry)]) if (typeof e.spec.address === "string" && pred(e.spec.address)) addresses.add(e.spec.address);
    for (const a of addresses) {
      const p = this.peak((e) => e.spec.address === a);
      if (p.count > best.count) best = { ...p, address: a };
    }
    return best;
  }

  /** The events for entries matching `pred`, as "TYPE name" lines (for messages and order checks). */
  story(pred: (e: WorkloadEntry) => boolean): string[] {
    return this.events.filter((ev) => pred(ev.entry)).map((ev) => `${ev.type} ${ev.entry.metadata.name}${ev.entry.metadata.deletionTimestamp !== undefined ? " (deleting)" : ""}`);
  }
}
