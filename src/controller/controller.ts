// The reconcile loop, after controller-runtime's controller: workers pull keys from the queue and
// reconcile them; the queue's rules (dedup, one worker per key, backoff) do the rest. Reconcilers are
// level-based: they get a key, not an event, and must converge from whatever state they find.
// What a failed reconcile means for its key is one function beside the reconcile, as kube-rs's
// error_policy: back off (controller-runtime's default for an error), look again at a set time,
// or not retry at all (controller-runtime's TerminalError).

import { classifyApiError } from "./api-errors.js";
import { type Clock, sleep, systemClock } from "./clock.js";
import type { WorkQueue } from "./workqueue.js";

export interface ReconcileResult {
  /** Reconcile this key again after this many ms even if nothing changes (e.g. to poll). */
  requeueAfter?: number;
}

// Two promise types so that both `async (key) => {}` and a reconciler that returns a result on
// some paths only (Promise<ReconcileResult | undefined>) fit.
export type Reconciler = (key: string) => Promise<ReconcileResult | undefined> | Promise<void>;

/** What happens to a key whose reconcile threw. */
export type ErrorAction =
  /** Requeued under the queue's rate limit (per-key exponential backoff within the overall bucket), no sooner than `notBeforeMs`. */
  | { requeue: "backoff"; notBeforeMs?: number }
  /** Looked at again after exactly this long, without backoff: the failure will not mend sooner. */
  | { requeue: "after"; afterMs: number }
  /** Not retried (controller-runtime's TerminalError): the next event or resync brings the key back, if anything does. */
  | { requeue: "never" };

export type ErrorPolicy = (key: string, error: unknown) => ErrorAction;

/** controller-runtime's answer to any error: back off, no sooner than the server's Retry-After
 * (a 429 or 503 with Retry-After is the server saying when it will take this again; retrying
 * sooner only adds to the load it is shedding). */
export const backoffOnError: ErrorPolicy = (_key, error) => {
  const { retryAfterMs } = classifyApiError(error);
  return retryAfterMs === undefined ? { requeue: "backoff" } : { requeue: "backoff", notBeforeMs: retryAfterMs };
};

/** "error": the reconcile threw and its key is retried as the error policy said; "terminal": it threw and is not retried. */
export type ReconcileOutcome = "success" | "requeue" | "error" | "terminal";

export interface ReconcileReport {
  controller: string;
  key: string;
  outcome: ReconcileOutcome;
  durationSeconds: number;
  /** Set when outcome is "requeue". */
  requeueAfter?: number;
  /** Set when outcome is "error" or "terminal". */
  error?: unknown;
  /** What the error policy decided for the key; set with `error`. */
  action?: ErrorAction;
  /** Consecutive failures of this key under backoff, counting this one when it backed off. */
  retries: number;
}

export interface ControllerOptions {
  /** Used in reports, e.g. as a metrics label. */
  name: string;
  queue: WorkQueue;
  reconcile: Reconciler;
  /** Keys reconciled concurrently; the queue guarantees distinct keys. Defaults to 1. */
  workers?: number;
  /** What a failed reconcile means for its key; default backoffOnError. */
  errorPolicy?: ErrorPolicy;
  /** Called after every reconcile, for logging and metrics. Must not throw. */
  onResult?: (report: ReconcileReport) => void;
  clock?: Clock;
}

interface Resync {
  everyMs: number;
  keys: () => Iterable<string>;
}

export class Controller {
  readonly name: string;
  private readonly queue: WorkQueue;
  private readonly reconcile: Reconciler;
  private readonly errorPolicy: ErrorPolicy;
  private readonly workers: number;
  private readonly onResult: (report: ReconcileReport) => void;
  private readonly clock: Clock;
  private readonly resyncs: Resync[] = [];
  private started = false;

  constructor(options: ControllerOptions) {
    this.name = options.name;
    this.queue = options.queue;
    this.reconcile = options.reconcile;
    this.errorPolicy = options.errorPolicy ?? backoffOnError;
    this.workers = options.workers ?? 1;
    this.onResult = options.onResult ?? (() => undefined);
    this.clock = options.clock ?? systemClock;
    if (!Number.isInteger(this.workers) || this.workers < 1) throw new Error(`controller ${this.name}: workers must be a positive integer`);
  }

  /**
   * While running, enqueue every key from `keys` each `everyMs`. Catches drift no watch event
   * reports (someone edited an owned object we do not watch, an event lost to a bug) at the cost of
   * one reconcile per object per period. Register before run().
   */
  resyncEvery(everyMs: number, keys: () => Iterable<string>): void {
    if (this.started) throw new Error(`controller ${this.name}: resyncEvery() must be called before run()`);
    if (everyMs <= 0) throw new Error(`controller ${this.name}: resync period must be positive`);
    this.resyncs.push({ everyMs, keys });
  }

  /**
   * Runs the workers until `signal` aborts, then stops taking keys, lets in-flight reconciles
   * finish, and resolves. Keys still queued are dropped: they are re-derived from the informers'
   * caches on the next start (or by the next leader).
   */
  async run(signal: AbortSignal): Promise<void> {
    if (this.started) throw new Error(`controller ${this.name}: run() called twice`);
    this.started = true;
    const stop = (): void => { this.queue.shutDown(); };
    if (signal.aborted) stop();
    else signal.addEventListener("abort", stop, { once: true });
    // Resync loops also end when the workers do, e.g. because someone shut the queue down directly.
    const halt = new AbortController();
    const resyncs = this.resyncs.map((r) => this.resyncLoop(r, AbortSignal.any([signal, halt.signal])));
    try {
      await Promise.all(Array.from({ length: this.workers }, () => this.worker()));
      await this.queue.shutDownWithDrain();
    } finally {
      halt.abort();
      signal.removeEventListener("abort", stop);
      await Promise.all(resyncs);
    }
  }

  private async worker(): Promise<void> {
    for (;;) {
      const key = await this.queue.get();
      if (key === undefined) return;
      try {
        this.onResult(await this.process(key));
      } finally {
        this.queue.done(key);
      }
    }
  }

  private async process(key: string): Promise<ReconcileReport> {
    const startedAt = this.clock.now();
    const elapsed = (): number => (this.clock.now() - startedAt) / 1000;
    try {
      const result = await this.reconcile(key);
      this.queue.forget(key);
      const requeueAfter = typeof result === "object" ? result.requeueAfter : undefined;
      if (requeueAfter === undefined) {
        return { controller: this.name, key, outcome: "success", durationSeconds: elapsed(), retries: 0 };
      }
      // Added while the key is still being processed, so the queue holds it until done().
      this.queue.addAfter(key, requeueAfter);
      return { controller: this.name, key, outcome: "requeue", requeueAfter, durationSeconds: elapsed(), retries: 0 };
    } catch (error) {
      const action = this.errorPolicy(key, error);
      if (action.requeue === "backoff") {
        this.queue.addRateLimited(key, action.notBeforeMs);
      } else {
        // Not under backoff: a later failure starts its backoff from the beginning.
        this.queue.forget(key);
        if (action.requeue === "after") this.queue.addAfter(key, action.afterMs);
      }
      const outcome = action.requeue === "never" ? "terminal" : "error";
      return { controller: this.name, key, outcome, error, action, durationSeconds: elapsed(), retries: this.queue.numRequeues(key) };
    }
  }

  private async resyncLoop(resync: Resync, signal: AbortSignal): Promise<void> {
    while (await sleep(this.clock, resync.everyMs, signal)) {
      for (const key of resync.keys()) this.queue.add(key);
    }
  }
}
