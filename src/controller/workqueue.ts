// A work queue with client-go's guarantees: keys, not events, are queued, so a burst of changes to
// one object collapses into one reconcile of its latest state, and a key is never handed to two
// workers at once, so reconciles of the same object never race each other.

import { type Clock, type Timer, systemClock } from "./clock.js";
import { type RateLimiter, defaultControllerRateLimiter } from "./ratelimiter.js";

/** Callbacks for whoever exports metrics; the queue itself stays free of any metrics library. */
export interface WorkQueueMetrics {
  /** Keys waiting to be picked up, reported whenever it changes. */
  depth?(depth: number): void;
  /** A key entered the queue (not counted when it was already pending). */
  add?(key: string): void;
  /** A key was re-queued through the rate limiter after a failure. */
  retry?(key: string): void;
  /** Time from get() to done() for one key. */
  workDuration?(seconds: number): void;
}

export interface WorkQueueOptions {
  rateLimiter?: RateLimiter;
  clock?: Clock;
  metrics?: WorkQueueMetrics;
}

interface Delayed {
  at: number;
  timer: Timer;
}

export class WorkQueue {
  private readonly rateLimiter: RateLimiter;
  private readonly clock: Clock;
  private readonly metrics: WorkQueueMetrics;

  // Keys ready to hand out, in insertion order; a Set because a key is never queued twice.
  private readonly queue = new Set<string>();
  // Keys that need processing: everything in `queue` plus keys re-added while being processed.
  private readonly dirty = new Set<string>();
  // Keys handed out and not yet done(), with the time they were handed out.
  private readonly processing = new Map<string, number>();
  private readonly delayed = new Map<string, Delayed>();
  // Keys the API server asked us to leave alone until a time (Retry-After): every add before
  // then, a watch event or a resync, waits for it, so the server sees no attempt it refused.
  private readonly holds = new Map<string, number>();
  private readonly getters: ((key: string | undefined) => void)[] = [];
  private readonly drainWaiters: (() => void)[] = [];
  private shuttingDown = false;

  constructor(options: WorkQueueOptions = {}) {
    this.clock = options.clock ?? systemClock;
    this.rateLimiter = options.rateLimiter ?? defaultControllerRateLimiter(this.clock);
    this.metrics = options.metrics ?? {};
  }

  add(key: string): void {
    if (this.shuttingDown || this.dirty.has(key)) return;
    const heldFor = this.heldFor(key);
    if (heldFor > 0) {
      this.addAfter(key, heldFor);
      return;
    }
    this.metrics.add?.(key);
    this.dirty.add(key);
    // A key being processed stays out of the queue; done() puts it back so the change that arrived
    // mid-reconcile is not lost.
    if (this.processing.has(key)) return;
    this.queue.add(key);
    this.dispatch();
  }

  /** Adds `key` after `ms`. A key already waiting keeps whichever deadline is earlier. */
  addAfter(key: string, ms: number): void {
    if (this.shuttingDown) return;
    if (ms <= 0) {
      this.add(key);
      return;
    }
    const at = this.clock.now() + ms;
    const existing = this.delayed.get(key);
    if (existing !== undefined) {
      if (existing.at <= at) return;
      existing.timer.cancel();
    }
    const timer = this.clock.setTimer(() => {
      this.delayed.delete(key);
      this.add(key);
    }, ms);
    this.delayed.set(key, { at, timer });
  }

  /**
   * Re-adds `key` after its rate-limited backoff; call after a failed reconcile. With
   * `notBeforeMs` (the server's Retry-After) the key is held at least that long, and adds
   * meanwhile wait for the hold too.
   */
  addRateLimited(key: string, notBeforeMs = 0): void {
    if (this.shuttingDown) return;
    this.metrics.retry?.(key);
    const backoff = this.rateLimiter.when(key);
    if (notBeforeMs > 0) this.holds.set(key, Math.max(this.holds.get(key) ?? 0, this.clock.now() + notBeforeMs));
    const wait = Math.max(backoff, this.heldFor(key));
    // A shorter wait already scheduled (an earlier requeueAfter) must not undercut the hold.
    if (notBeforeMs > 0) this.cancelDelayed(key);
    this.addAfter(key, wait);
  }

  /** Resets the backoff and any Retry-After hold of `key`; call after a successful reconcile. */
  forget(key: string): void {
    this.rateLimiter.forget(key);
    this.holds.delete(key);
  }

  /** How much longer `key` is held by a Retry-After (0 when it is not). */
  heldFor(key: string): number {
    const until = this.holds.get(key);
    if (until === undefined) return 0;
    const left = until - this.clock.now();
    if (left > 0) return left;
    this.holds.delete(key);
    return 0;
  }

  numRequeues(key: string): number {
    return this.rateLimiter.retries(key);
  }

  /**
   * The next key to process, exclusively the caller's until done(key). Resolves undefined once the
   * queue shuts down, even if keys were still queued: shutting down means stop taking work.
   */
  get(): Promise<string | undefined> {
    if (this.shuttingDown) return Promise.resolve(undefined);
    const key = this.take();
    if (key !== undefined) return Promise.resolve(key);
    return new Promise((resolve) => this.getters.push(resolve));
  }

  done(key: string): void {
    const startedAt = this.processing.get(key);
    if (startedAt === undefined) return;
    this.processing.delete(key);
    this.metrics.workDuration?.((this.clock.now() - startedAt) / 1000);
    if (this.shuttingDown) {
      if (this.processing.size === 0) this.drainWaiters.splice(0).forEach((resolve) => { resolve(); });
      return;
    }
    if (this.dirty.has(key)) {
      // A change that arrived mid-reconcile still waits out a Retry-After the reconcile met.
      const heldFor = this.heldFor(key);
      if (heldFor > 0) {
        this.dirty.delete(key);
        this.addAfter(key, heldFor);
        return;
      }
      this.queue.add(key);
      this.dispatch();
    }
  }

  /** Keys ready to be handed out (excludes keys being processed or waiting on a delay). */
  len(): number {
    return this.queue.size;
  }

  isShuttingDown(): boolean {
    return this.shuttingDown;
  }

  /** Stops accepting and handing out keys; waiting get() calls resolve undefined. */
  shutDown(): void {
    if (this.shuttingDown) return;
    this.shuttingDown = true;
    for (const { timer } of this.delayed.values()) timer.cancel();
    this.delayed.clear();
    this.holds.clear();
    this.queue.clear();
    this.dirty.clear();
    this.metrics.depth?.(0);
    this.getters.splice(0).forEach((resolve) => { resolve(undefined); });
  }

  /** shutDown(), then resolves once every key already handed out has been done(). */
  shutDownWithDrain(): Promise<void> {
    this.shutDown();
    if (this.processing.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  private cancelDelayed(key: string): void {
    this.delayed.get(key)?.timer.cancel();
    this.delayed.delete(key);
  }

  private take(): string | undefined {
    const next = this.queue.values().next();
    if (next.done === true) return undefined;
    const key = next.value;
    this.queue.delete(key);
    this.dirty.delete(key);
    this.processing.set(key, this.clock.now());
    this.metrics.depth?.(this.queue.size);
    return key;
  }

  // Hands queued keys straight to waiting getters, so a woken worker never finds the queue empty.
  private dispatch(): void {
    while (this.getters.length > 0) {
      const key = this.take();
      if (key === undefined) break;
      this.getters.shift()?.(key);
    }
    this.metrics.depth?.(this.queue.size);
  }
}
