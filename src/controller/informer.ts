// An informer that keeps running. client-node's informer (ListWatch) re-lists on 410 Gone and
// reconnects after ordinary stream ends, but any other failure of a list or watch request leaves it
// stopped with nothing but an 'error' event (kubernetes-client/javascript#958, #1933), and it has
// races and crash paths of its own. This wraps one ListWatch and restarts it after a jittered backoff.
//
// What client-node 2.0.1 does (node_modules/@kubernetes/client-node/dist/cache.js, informer.js,
// watch.js), and what this wrapper relies on or guards against:
//  - makeInformer is just `new ListWatch(path, new Watch(kc), listFn, false, labelSelector)`
//    (informer.js:12-15). We build the same ListWatch ourselves so we can hand it a guarded Watch
//    and an injectable delay function (cache.js:6-19).
//  - doneHandler (cache.js:98-151) treats 410 (HTTP status or `code`) as "relist", a client-side
//    TimeoutError (30 s without data, watch.js:38-45) and clean stream ends as "re-watch from the
//    last resourceVersion", and every other error as fatal: it emits 'error' and returns
//    (cache.js:111-114). A failed list likewise emits 'error' and returns (cache.js:126-129).
//    Either way nothing is left running, so restarting with start() cannot create a second watch.
//  - start() (cache.js:30-35) clears neither the cache nor resourceVersion. A restart therefore
//    resumes the watch from the last resourceVersion and the API server replays what happened
//    meanwhile, DELETED events included; if that version has been compacted away the server answers
//    410, resourceVersion is reset (cache.js:100-103, 162-165) and the relist diffs the new list
//    against the cache and emits 'delete' for every object that is gone (deleteItems,
//    cache.js:130, 204-228). Either way deletes that happened during an outage are delivered, and
//    until then get()/list() serve the stale objects, like a client-go lister does.
//  - A relist emits 'update' only for objects whose resourceVersion changed (cache.js:245-249).
//  - 'connect' fires before the list is even sent (cache.js:119), so it says nothing about sync.
//    The cache is filled synchronously right after the list resolves, and the watch is opened only
//    after that (cache.js:130-150); the first call into our Watch therefore marks "synced".
//  - Handlers run synchronously inside the ListWatch. One that throws during a watch event becomes
//    an unhandled rejection (watchHandler is async and its promise is dropped, watch.js:84), which
//    kills the process under Node's default policy, so handler errors are caught here.
//  - Watch.watch can throw before it reaches its own try block (no current cluster, or an auth
//    provider failing in applySecurityAuthentication, watch.js:18-21, 47). On a reconnect that
//    throw rejects a doneHandler promise nobody awaits; the guarded Watch turns it into done(err).
//  - stop() aborts only the request already assigned to `this.request` (cache.js:92-97); a list or
//    reconnect delay in flight carries on and opens a fresh watch afterwards (cache.js:143-150). The
//    guarded Watch refuses to open, or immediately aborts, watches once we are stopped.
//  - Aborting a watch reports the AbortError through doneHandler as an 'error' event; after stop()
//    that is expected and ignored.

import {
  ADD,
  DELETE,
  ERROR,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
  type ListPromise,
  ListWatch,
  UPDATE,
  Watch,
} from "@kubernetes/client-node";

import { classifyApiError } from "./api-errors.js";
import { type Clock, type Timer, sleep, systemClock } from "./clock.js";
import { objectKey } from "./keys.js";
import { Backoff, type BackoffOptions } from "./ratelimiter.js";

export interface InformerEventHandler<T> {
  onAdd?(obj: T): void;
  /** `old` is the cached object this one replaced. */
  onUpdate?(obj: T, old: T | undefined): void;
  /** `obj` is the last state known: the object from the DELETED event, or the cached one after a relist. */
  onDelete?(obj: T): void;
}

export type InformerEvent = "add" | "update" | "delete";

export interface RestartInfo {
  /** Consecutive failures, counting this one; starts over after a healthy period. */
  attempt: number;
  /** The backoff's delay, or the server's Retry-After when that is longer. */
  delayMs: number;
  /** Set when the failure was a 429/503 carrying (or implying) a Retry-After. */
  retryAfterMs?: number;
  error: unknown;
}

export interface InformerHooks {
  /** The list or watch failed and a restart is scheduled. */
  onRestart?(info: RestartInfo): void;
  /** An event handler threw; the remaining handlers still ran. */
  onHandlerError?(error: unknown, event: InformerEvent): void;
  /** A full list was read into the cache: the first one, or a relist (410 Gone, a restart). */
  onListed?(info: { items: number; durationMs: number }): void;
}

export interface ResilientInformerOptions<T extends KubernetesObject> {
  kubeConfig: KubeConfig;
  /** Collection URL path, e.g. /apis/networking.istio.io/v1/namespaces/NS/workloadentries. */
  path: string;
  /** One page of the same collection (see pagedList); the list's resourceVersion is where the watch starts. */
  listPage: ListPage<T>;
  /** Objects per page; 500, as client-go's pager. */
  pageSize?: number;
  labelSelector?: string;
  /** Restart backoff; defaults to 200 ms doubling to 30 s, +50% jitter, reset after 120 s. */
  backoff?: Omit<BackoffOptions, "clock">;
  hooks?: InformerHooks;
  clock?: Clock;
  /** The watch transport; defaults to `new Watch(kubeConfig)`. Tests substitute a scripted one. */
  watch?: Watch;
}

interface WatchGuard {
  stopped(): boolean;
  opening(): void;
}

type WatchArgs = Parameters<Watch["watch"]>;

function abortedController(): AbortController {
  const controller = new AbortController();
  controller.abort();
  return controller;
}

/** A Watch that never throws, and never leaves a watch open once its owner has stopped. */
class GuardedWatch extends Watch {
  constructor(
    private readonly inner: Watch,
    private readonly guard: WatchGuard,
  ) {
    super(inner.config);
  }

  override async watch(...[path, queryParams, callback, done]: WatchArgs): Promise<AbortController> {
    if (this.guard.stopped()) return abortedController();
    this.guard.opening();
    let controller: AbortController;
    // Bookmarks keep the resourceVersion fresh on a quiet collection, so a reconnect after a
    // long idle stretch resumes instead of failing with 410 and relisting everything.
    const params = { ...queryParams, allowWatchBookmarks: true };
    const compacting: typeof callback = (phase, obj, watchObj) => {
      if (phase === "ADDED" || phase === "MODIFIED" || phase === "DELETED") compact(obj as KubernetesObject);
      callback(phase, obj, watchObj);
    };
    try {
      controller = await this.inner.watch(path, params, compacting, done);
    } catch (err) {
      done(err);
      return abortedController();
    }
    if (this.guard.stopped()) controller.abort();
    return controller;
  }
}

// Fields no reconcile reads, dropped from every cached object: managedFields alone is about half
// of a WorkloadEntry's JSON, and a node applied with kubectl carries its whole spec again in
// last-applied-configuration. At 10,000 nodes that is the difference between fitting the
// chart's memory limit and not.
const LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration";

/** Drops, in place, the fields of `obj` that the cache never needs. */
export function compact<T extends KubernetesObject>(obj: T): T {
  const meta = obj.metadata;
  if (meta === undefined) return obj;
  delete meta.managedFields;
  if (meta.annotations !== undefined && LAST_APPLIED in meta.annotations) {
    const { [LAST_APPLIED]: _dropped, ...rest } = meta.annotations;
    meta.annotations = rest;
  }
  return obj;
}

/** Reads one page of a collection: from `continueToken` (undefined for the first), at most `limit` objects. */
export type ListPage<T extends KubernetesObject> = (continueToken: string | undefined, limit: number) => Promise<KubernetesListObject<T>>;

/**
 * A ListPromise that reads the collection in pages of `limit`, passing each object through
 * `each` as its page arrives: the API server and this process then hold one page at a time
 * instead of one response of every object. All pages belong to the first page's snapshot, so
 * the last page's resourceVersion is where the watch starts.
 */
export function pagedList<T extends KubernetesObject>(page: ListPage<T>, limit = 500, each: (obj: T) => T = (obj) => obj): ListPromise<T> {
  return async () => {
    const items: T[] = [];
    let token: string | undefined;
    let last: KubernetesListObject<T>;
    do {
      last = await page(token, limit);
      for (const item of last.items) items.push(each(item));
      token = continueToken(last);
    } while (token !== undefined && token !== "");
    return { ...last, items };
  };
}

// Typed APIs deserialize ListMeta (`_continue`); CustomObjectsApi returns the raw JSON (`continue`).
function continueToken(list: KubernetesListObject<KubernetesObject>): string | undefined {
  const meta: { _continue?: string; continue?: string } | undefined = list.metadata;
  return meta?._continue ?? meta?.continue;
}

// client-node's Watch turns a refused watch into a bare Error with statusCode and drops the
// headers, so a 429 on a watch cannot say how long; it waits what kube-apiserver's priority
// and fairness sends with its own 429s (Retry-After: 1).
const WATCH_429_RETRY_AFTER_MS = 1000;

/** The server's Retry-After for a failed list (ApiException) or a refused watch, if any. */
export function retryAfterOf(err: unknown): number | undefined {
  const fromHeader = classifyApiError(err).retryAfterMs;
  if (fromHeader !== undefined) return fromHeader;
  const status = (err as { statusCode?: unknown } | null | undefined)?.statusCode;
  return status === 429 ? WATCH_429_RETRY_AFTER_MS : undefined;
}

export class ResilientInformer<T extends KubernetesObject> {
  private readonly listWatch: ListWatch<T>;
  private readonly clock: Clock;
  private readonly backoff: Backoff;
  private readonly hooks: InformerHooks;
  private readonly handlers = new Set<InformerEventHandler<T>>();
  // The ListWatch replaces its cached object before calling update handlers, so the previous
  // version is kept here (references only) to hand handlers old and new.
  private readonly known = new Map<string, T>();
  private readonly stopping = new AbortController();
  private state: "idle" | "running" | "stopped" = "idle";
  private synced = false;
  private readonly syncWaiters = new Set<(synced: boolean) => void>();
  private restartTimer: Timer | undefined;
  private downSince: number | undefined;

  constructor(options: ResilientInformerOptions<T>) {
    this.clock = options.clock ?? systemClock;
    this.backoff = new Backoff({ ...options.backoff, clock: this.clock });
    this.hooks = options.hooks ?? {};
    const watch = new GuardedWatch(options.watch ?? new Watch(options.kubeConfig), {
      stopped: () => this.state === "stopped",
      // A watch opens only after a list has succeeded: the API server answers again.
      opening: () => { this.downSince = undefined; this.markSynced(); },
    });
    // A relist (410 Gone) brings every object again while the cache still holds the old ones:
    // an object whose resourceVersion has not changed is replaced by the cached one as its page
    // arrives, so the peak is the cache plus what changed, not twice the cache.
    const pages = pagedList(options.listPage, options.pageSize ?? 500, (obj) => {
      const cached = this.listWatch.get(obj.metadata?.name ?? "", obj.metadata?.namespace);
      return cached !== undefined && cached.metadata?.resourceVersion === obj.metadata?.resourceVersion ? cached : compact(obj);
    });
    const list: ListPromise<T> = async () => {
      const started = this.clock.now();
      const result = await pages();
      this.hooks.onListed?.({ items: result.items.length, durationMs: this.clock.now() - started });
      return result;
    };
    this.listWatch = new ListWatch(options.path, watch, list, false, options.labelSelector, undefined, {
      // ListWatch's own reconnect delay, cut short on stop (the guarded Watch then refuses to open).
      delayFn: async (ms) => { await sleep(this.clock, ms, this.stopping.signal); },
    });
    this.listWatch.on(ADD, (obj) => { this.deliver("add", obj); });
    this.listWatch.on(UPDATE, (obj) => { this.deliver("update", obj); });
    this.listWatch.on(DELETE, (obj) => { this.deliver("delete", obj); });
    this.listWatch.on(ERROR, (err: unknown) => { this.failed(err); });
  }

  /**
   * Registers handlers and, like client-go, replays the current cache to them as adds so a late
   * registration still sees every object. Returns a function that unregisters them.
   */
  addEventHandler(handler: InformerEventHandler<T>): () => void {
    this.handlers.add(handler);
    if (handler.onAdd !== undefined) {
      for (const obj of this.listWatch.list()) this.invoke("add", () => handler.onAdd?.(obj));
    }
    return () => { this.handlers.delete(handler); };
  }

  start(): void {
    if (this.state !== "idle") return;
    this.state = "running";
    this.launch();
  }

  /** Stops for good: no more events, restarts or watches. The cache stays readable. */
  async stop(): Promise<void> {
    if (this.state === "stopped") return;
    this.state = "stopped";
    this.restartTimer?.cancel();
    this.restartTimer = undefined;
    this.stopping.abort();
    for (const resolve of this.syncWaiters) resolve(false);
    this.syncWaiters.clear();
    await this.listWatch.stop();
  }

  /** True once the first list has been applied to the cache; stays true across restarts. */
  hasSynced(): boolean {
    return this.synced;
  }

  /** Resolves true once synced, or false if `signal` aborts or the informer stops first. */
  waitForSync(signal?: AbortSignal): Promise<boolean> {
    if (this.synced) return Promise.resolve(true);
    if (this.state === "stopped" || signal?.aborted === true) return Promise.resolve(false);
    return new Promise((resolve) => {
      const settle = (synced: boolean): void => {
        this.syncWaiters.delete(settle);
        signal?.removeEventListener("abort", onAbort);
        resolve(synced);
      };
      const onAbort = (): void => { settle(false); };
      this.syncWaiters.add(settle);
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  get(name: string, namespace?: string): T | undefined {
    return this.listWatch.get(name, namespace);
  }

  list(namespace?: string): readonly T[] {
    return this.listWatch.list(namespace);
  }

  private launch(): void {
    // start() resolves once the first watch is open or the attempt has failed; failures arrive as
    // 'error' events, so a rejection here only covers a bug that escaped ListWatch's own handling.
    this.listWatch.start().catch((err: unknown) => { this.failed(err); });
  }

  /** How long the list or watch has been failing without a successful list since (0 when healthy). */
  downForMs(): number {
    return this.downSince === undefined ? 0 : this.clock.now() - this.downSince;
  }

  private failed(err: unknown): void {
    if (this.state !== "running" || this.restartTimer !== undefined) return;
    this.downSince ??= this.clock.now();
    const retryAfterMs = retryAfterOf(err);
    const delayMs = Math.max(this.backoff.next(), retryAfterMs ?? 0);
    this.hooks.onRestart?.({ attempt: this.backoff.attempts(), delayMs, error: err, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) });
    this.restartTimer = this.clock.setTimer(() => {
      this.restartTimer = undefined;
      if (this.state === "running") this.launch();
    }, delayMs);
  }

  private markSynced(): void {
    if (this.synced) return;
    this.synced = true;
    for (const resolve of this.syncWaiters) resolve(true);
    this.syncWaiters.clear();
  }

  private deliver(event: InformerEvent, obj: T): void {
    const key = objectKey(obj);
    const old = this.known.get(key);
    if (event === "delete") this.known.delete(key);
    else this.known.set(key, obj);
    if (this.state === "stopped") return;
    for (const handler of this.handlers) {
      switch (event) {
        case "add":
          this.invoke(event, () => handler.onAdd?.(obj));
          break;
        case "update":
          this.invoke(event, () => handler.onUpdate?.(obj, old));
          break;
        case "delete":
          this.invoke(event, () => handler.onDelete?.(obj));
          break;
      }
    }
  }

  private invoke(event: InformerEvent, call: () => void): void {
    try {
      call();
    } catch (err) {
      this.hooks.onHandlerError?.(err, event);
    }
  }
}
