// Retry pacing, after client-go's workqueue rate limiters: a failing key backs off on its own
// schedule, while a global bucket keeps a burst of failures from hammering the API server.

import { type Clock, systemClock } from "./clock.js";

export interface RateLimiter {
  /** Records a failure of `key` and returns how long to wait (ms) before retrying it. */
  when(key: string): number;
  /** Clears the failure history of `key`, typically after it was processed successfully. */
  forget(key: string): void;
  /** Failures recorded for `key` since it was last forgotten. */
  retries(key: string): number;
}

/** base * 2^failures, capped: 5 ms, 10 ms, 20 ms ... 1000 s by default. */
export class ItemExponentialFailureRateLimiter implements RateLimiter {
  private readonly failures = new Map<string, number>();

  constructor(
    private readonly baseMs = 5,
    private readonly maxMs = 1_000_000,
  ) {}

  when(key: string): number {
    const exp = this.failures.get(key) ?? 0;
    this.failures.set(key, exp + 1);
    // 2 ** exp reaches Infinity after ~1024 failures; min() still yields maxMs.
    return Math.min(this.baseMs * 2 ** exp, this.maxMs);
  }

  forget(key: string): void {
    this.failures.delete(key);
  }

  retries(key: string): number {
    return this.failures.get(key) ?? 0;
  }
}

/**
 * A token bucket. Like golang.org/x/time/rate's Reserve, a call always takes a token and may drive
 * the balance negative; the delay is how long until that debt is repaid, so callers queue up in
 * order instead of retrying to find a free token. The one token-bucket rule of the runtime: the
 * retry limiter below and the entry write pace (pace.ts) both use it.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly perSecond: number,
    private readonly burst: number,
    private readonly clock: Clock = systemClock,
  ) {
    this.tokens = burst;
    this.last = clock.now();
  }

  /** Takes a token; returns how long (ms) the taker must wait before acting on it (0: at once). */
  reserve(): number {
    const now = this.clock.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.perSecond);
    this.last = now;
    this.tokens -= 1;
    return this.tokens >= 0 ? 0 : (-this.tokens / this.perSecond) * 1000;
  }

  /** Gives back a reserved token that was not used (its taker gave up waiting). */
  refund(): void {
    this.tokens = Math.min(this.burst, this.tokens + 1);
  }
}

/** A token bucket shared by all keys (see TokenBucket). */
export class BucketRateLimiter implements RateLimiter {
  private readonly bucket: TokenBucket;

  constructor(qps = 10, burst = 100, clock: Clock = systemClock) {
    this.bucket = new TokenBucket(qps, burst, clock);
  }

  when(_key: string): number {
    return this.bucket.reserve();
  }

  forget(_key: string): void {
    // The bucket is about overall throughput, so there is no per-key history to drop.
  }

  retries(_key: string): number {
    return 0;
  }
}

/** The strictest of several limiters: every one records the failure, the longest wait wins. */
export class MaxOfRateLimiter implements RateLimiter {
  private readonly limiters: readonly RateLimiter[];

  constructor(...limiters: RateLimiter[]) {
    this.limiters = limiters;
  }

  when(key: string): number {
    return this.limiters.reduce((longest, l) => Math.max(longest, l.when(key)), 0);
  }

  forget(key: string): void {
    for (const l of this.limiters) l.forget(key);
  }

  retries(key: string): number {
    return this.limiters.reduce((most, l) => Math.max(most, l.retries(key)), 0);
  }
}

/** client-go's DefaultControllerRateLimiter: per-key 5 ms..1000 s, overall 10 qps with burst 100. */
export function defaultControllerRateLimiter(clock: Clock = systemClock): RateLimiter {
  return new MaxOfRateLimiter(new ItemExponentialFailureRateLimiter(5, 1_000_000), new BucketRateLimiter(10, 100, clock));
}

/**
 * Stretches `ms` by a random fraction of up to `factor` (client-go's wait.Jitter). Only ever
 * lengthens, so a jittered delay is never tighter than the one it came from, while replicas that
 * failed together spread out instead of retrying in lockstep.
 */
export function jitter(ms: number, factor: number, random: () => number = Math.random): number {
  return factor > 0 ? ms + random() * factor * ms : ms;
}

export interface BackoffOptions {
  initialMs?: number;
  maxMs?: number;
  /** Jitter factor applied after capping, so retries stay spread out even at the cap. */
  jitterFactor?: number;
  /**
   * If this long passes between two calls to next(), whatever failed has evidently been healthy in
   * between, so the sequence starts over (kube-runtime's ResetTimerBackoff).
   */
  resetAfterMs?: number;
  clock?: Clock;
  random?: () => number;
}

/** Doubling delays for restarting something that failed as a whole (a watch, a campaign). */
export class Backoff {
  private readonly initialMs: number;
  private readonly maxMs: number;
  private readonly jitterFactor: number;
  private readonly resetAfterMs: number;
  private readonly clock: Clock;
  private readonly random: () => number;
  private attempt = 0;
  private lastAt: number | undefined;

  constructor(options: BackoffOptions = {}) {
    this.initialMs = options.initialMs ?? 200;
    this.maxMs = options.maxMs ?? 30_000;
    this.jitterFactor = options.jitterFactor ?? 0.5;
    this.resetAfterMs = options.resetAfterMs ?? 120_000;
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? Math.random;
  }

  /** The delay before the next attempt; also counts the attempt. */
  next(): number {
    const now = this.clock.now();
    if (this.lastAt !== undefined && now - this.lastAt >= this.resetAfterMs) this.attempt = 0;
    this.lastAt = now;
    const base = Math.min(this.initialMs * 2 ** this.attempt, this.maxMs);
    this.attempt += 1;
    return jitter(base, this.jitterFactor, this.random);
  }

  /** Attempts counted since the sequence last started over. */
  attempts(): number {
    return this.attempt;
  }
}
