// Leader election on a coordination.k8s.io/v1 Lease, after client-go's leaderelection package, so
// that of several operator replicas exactly one reconciles while the others stand by.
//
// Safety rests on two rules taken from client-go:
//  - Every write is a replace carrying the resourceVersion that was read, so two candidates that
//    both see an expired lease cannot both take it: the API server rejects the slower one (409).
//  - A lease is judged expired by the local monotonic time at which this process last saw its
//    record change, plus the holder's leaseDurationSeconds. renewTime is never compared with the
//    local wall clock, so clock skew between nodes cannot make a live leader look dead.
// The leader gives up after renewDeadline without a successful renew, which is shorter than
// leaseDuration, so it stops acting before any standby can consider the lease expired.

import {
  ApiException,
  type CoordinationV1Api,
  type V1Lease,
  type V1LeaseSpec,
  V1MicroTime,
} from "@kubernetes/client-node";

import { withSignal } from "./call-options.js";
import { type Clock, sleep, systemClock } from "./clock.js";
import { type Fence, NotLeaderError } from "./fence.js";
import { jitter } from "./ratelimiter.js";

// ---- The lease as a record, and the pure decision ----------------------------------------------

export interface LeaderElectionRecord {
  holderIdentity: string;
  leaseDurationSeconds: number;
  acquireTime: string;
  renewTime: string;
  leaseTransitions: number;
}

export interface Observation {
  record: LeaderElectionRecord;
  /** Local monotonic time (Clock.now) at which `record` was first seen in this form. */
  observedAt: number;
}

export type LeaseDecision =
  | { action: "create" }
  | { action: "acquire" }
  | { action: "renew" }
  | { action: "wait"; holder: string; expiresAt: number };

// The generated client declares MicroTime fields as Date but does not deserialize them (V1MicroTime
// is missing from ObjectSerializer's typeMap), so leases read back carry plain strings.
function timeKey(t: unknown): string {
  if (t instanceof Date) return t.toISOString();
  return typeof t === "string" ? t : "";
}

export function recordFromLease(lease: V1Lease): LeaderElectionRecord {
  const spec = lease.spec ?? {};
  return {
    holderIdentity: spec.holderIdentity ?? "",
    // client-go treats a missing duration as zero: such a lease expires as soon as it is observed.
    leaseDurationSeconds: spec.leaseDurationSeconds ?? 0,
    acquireTime: timeKey(spec.acquireTime),
    renewTime: timeKey(spec.renewTime),
    leaseTransitions: spec.leaseTransitions ?? 0,
  };
}

function sameRecord(a: LeaderElectionRecord, b: LeaderElectionRecord): boolean {
  return (
    a.holderIdentity === b.holderIdentity &&
    a.leaseDurationSeconds === b.leaseDurationSeconds &&
    a.acquireTime === b.acquireTime &&
    a.renewTime === b.renewTime &&
    a.leaseTransitions === b.leaseTransitions
  );
}

/** Restarts the expiry clock only when the record changed: an unchanged record is a holder not renewing. */
export function observe(previous: Observation | undefined, record: LeaderElectionRecord, now: number): Observation {
  if (previous !== undefined && sameRecord(previous.record, record)) return previous;
  return { record, observedAt: now };
}

/** What `identity` should do given the lease as last observed (undefined: the lease does not exist). */
export function decide(identity: string, observed: Observation | undefined, now: number): LeaseDecision {
  if (observed === undefined) return { action: "create" };
  const { holderIdentity, leaseDurationSeconds } = observed.record;
  if (holderIdentity === identity) return { action: "renew" };
  if (holderIdentity === "") return { action: "acquire" };
  const expiresAt = observed.observedAt + leaseDurationSeconds * 1000;
  if (expiresAt > now) return { action: "wait", holder: holderIdentity, expiresAt };
  return { action: "acquire" };
}

/** The spec to write for a create/acquire/renew decision. */
export function nextSpec(
  decision: "create" | "acquire" | "renew",
  current: V1LeaseSpec | undefined,
  identity: string,
  leaseDurationSeconds: number,
  now: Date,
): V1LeaseSpec {
  const time = new V1MicroTime(now.getTime());
  const spec = { ...coordinationFields(current), holderIdentity: identity, leaseDurationSeconds, renewTime: time };
  switch (decision) {
    case "create":
      return { ...spec, acquireTime: time, leaseTransitions: 0 };
    case "acquire":
      return { ...spec, acquireTime: time, leaseTransitions: (current?.leaseTransitions ?? 0) + 1 };
    case "renew":
      return { ...spec, acquireTime: current?.acquireTime, leaseTransitions: current?.leaseTransitions };
  }
}

/** The spec that hands the lease back: no holder, and a 1 s duration for anyone holding an old view. */
export function releasedSpec(current: V1LeaseSpec | undefined, now: Date): V1LeaseSpec {
  const time = new V1MicroTime(now.getTime());
  return {
    ...coordinationFields(current),
    holderIdentity: "",
    leaseDurationSeconds: 1,
    acquireTime: time,
    renewTime: time,
    leaseTransitions: current?.leaseTransitions,
  };
}

// Fields owned by coordinated leader election (KEP-4355) rather than by us; carried over untouched.
function coordinationFields(current: V1LeaseSpec | undefined): Pick<V1LeaseSpec, "preferredHolder" | "strategy"> {
  return { preferredHolder: current?.preferredHolder, strategy: current?.strategy };
}

function withSpec(lease: V1Lease, spec: V1LeaseSpec): V1Lease {
  return { apiVersion: lease.apiVersion, kind: lease.kind, metadata: lease.metadata, spec };
}

// ---- Access to the Lease object ----------------------------------------------------------------

/** The three calls leader election makes; `signal` bounds each call so a hung request cannot outlive a deadline. */
export interface LeaseLock {
  /** The lease, or undefined if it does not exist. */
  get(signal: AbortSignal): Promise<V1Lease | undefined>;
  create(spec: V1LeaseSpec, signal: AbortSignal): Promise<V1Lease>;
  /** Replaces `lease`, which must carry the resourceVersion it was read with. */
  replace(lease: V1Lease, signal: AbortSignal): Promise<V1Lease>;
}

/** A LeaseLock on namespace/name through client-node's CoordinationV1Api. */
export function coordinationLeaseLock(api: CoordinationV1Api, namespace: string, name: string): LeaseLock {
  return {
    async get(signal) {
      try {
        return await api.readNamespacedLease({ name, namespace }, withSignal(signal));
      } catch (err) {
        if (err instanceof ApiException && err.code === 404) return undefined;
        throw err;
      }
    },
    create(spec, signal) {
      return api.createNamespacedLease({ namespace, body: { metadata: { name, namespace }, spec } }, withSignal(signal));
    },
    replace(lease, signal) {
      return api.replaceNamespacedLease({ name, namespace, body: lease }, withSignal(signal));
    },
  };
}

// ---- The elector --------------------------------------------------------------------------------

export interface LeaderCallbacks {
  /**
   * Called once leadership is acquired. `leading.signal` aborts when leadership ends (lost, or
   * run()'s signal aborted), and `leading.check()` refuses as soon as the renew deadline has
   * passed, even before the timer that aborts the signal has run (a process resumed after a
   * pause runs its pending work first). On shutdown the lease keeps being renewed until the
   * returned promise settles, so in-flight work can drain before a successor starts.
   */
  onStartedLeading(leading: Fence): void | Promise<void>;
  /** Called when leadership ends, whether lost or given up; not called if it was never acquired. */
  onStoppedLeading?(): void;
  /** Called whenever a different holder is observed, including this candidate itself. */
  onNewLeader?(identity: string): void;
}

export type LeaderElectionPhase = "acquire" | "renew" | "release" | "leading";

export interface LeaderElectorOptions {
  lock: LeaseLock;
  /** Unique per replica, e.g. the pod name. */
  identity: string;
  callbacks: LeaderCallbacks;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  /** Hook for logging: a lease call failed or onStartedLeading threw. Failures are retried regardless. */
  onError?: (error: unknown, phase: LeaderElectionPhase) => void;
  clock?: Clock;
  /** Wall clock for the timestamps written into the lease (informational only). */
  wallClock?: () => Date;
  random?: () => number;
}

// client-go's JitterFactor: standbys spread their polls so they do not hit the API server in step.
export const RETRY_JITTER = 1.2;

export class LeaderElector {
  private readonly lock: LeaseLock;
  private readonly identity: string;
  private readonly callbacks: LeaderCallbacks;
  private readonly leaseDurationMs: number;
  private readonly renewDeadlineMs: number;
  private readonly retryPeriodMs: number;
  private readonly onError: (error: unknown, phase: LeaderElectionPhase) => void;
  private readonly clock: Clock;
  private readonly wallClock: () => Date;
  private readonly random: () => number;

  private observation: Observation | undefined;
  private lastLease: V1Lease | undefined;
  private reportedLeader = "";
  private leading = false;
  private running: Promise<void> | undefined;

  constructor(options: LeaderElectorOptions) {
    this.lock = options.lock;
    this.identity = options.identity;
    this.callbacks = options.callbacks;
    this.leaseDurationMs = options.leaseDurationMs ?? 15_000;
    this.renewDeadlineMs = options.renewDeadlineMs ?? 10_000;
    this.retryPeriodMs = options.retryPeriodMs ?? 2_000;
    this.onError = options.onError ?? (() => undefined);
    this.clock = options.clock ?? systemClock;
    this.wallClock = options.wallClock ?? (() => new Date());
    this.random = options.random ?? Math.random;
    if (this.identity === "") throw new Error("leader election: identity must not be empty");
    // The same constraints client-go enforces: the leader must give up before others may take over,
    // and must get a few attempts in before giving up.
    if (this.leaseDurationMs <= this.renewDeadlineMs) {
      throw new Error("leader election: leaseDuration must be greater than renewDeadline");
    }
    if (this.renewDeadlineMs <= this.retryPeriodMs * RETRY_JITTER) {
      throw new Error(`leader election: renewDeadline must be greater than retryPeriod*${RETRY_JITTER}`);
    }
  }

  /**
   * Campaigns until leadership is acquired, then leads until it is lost or `signal` aborts, and
   * resolves when leadership has ended. Like client-go, it does not campaign again: a replica that
   * lost leadership should normally exit and be restarted with clean state.
   */
  run(signal: AbortSignal): Promise<void> {
    if (this.running !== undefined) throw new Error("leader election: run() called twice");
    this.running = this.campaignAndLead(signal);
    return this.running;
  }

  private async campaignAndLead(stop: AbortSignal): Promise<void> {
    while (!stop.aborted) {
      const startedAt = this.clock.now();
      if (await this.attempt(stop, "acquire")) {
        await this.lead(stop, startedAt);
        return;
      }
      await sleep(this.clock, jitter(this.retryPeriodMs, RETRY_JITTER, this.random), stop);
    }
  }

  // `acquiredAt` is when the winning attempt started: the lease was written no earlier, so counting
  // renewDeadline from there errs on the side of stepping down early.
  private async lead(stop: AbortSignal, acquiredAt: number): Promise<void> {
    this.leading = true;
    const leading = new AbortController();
    let lastRenewAt = acquiredAt;
    const fence: Fence = {
      signal: leading.signal,
      stamp: { holder: this.identity, epoch: this.observation?.record.leaseTransitions ?? 0 },
      check: () => {
        if (leading.signal.aborted) throw new NotLeaderError(`${this.identity} no longer leads; write not sent`);
        const sinceRenew = this.clock.now() - lastRenewAt;
        if (sinceRenew >= this.renewDeadlineMs) {
          throw new NotLeaderError(`${this.identity} has not renewed its lease for ${sinceRenew} ms; write not sent`);
        }
      },
    };
    let wake: (() => void) | undefined;
    const nudge = (): void => wake?.();
    // An object, not a `let`: flow analysis cannot see the async closure flip it.
    const work = { done: false, promise: Promise.resolve() };
    work.promise = (async () => {
      try {
        await this.callbacks.onStartedLeading(fence);
      } catch (err) {
        this.onError(err, "leading");
      } finally {
        work.done = true;
        nudge();
      }
    })();
    const onStop = (): void => {
      leading.abort();
      nudge();
    };
    if (stop.aborted) onStop();
    else stop.addEventListener("abort", onStop, { once: true });

    // A call, so that flow analysis does not assume the flag is still what it was before an await.
    const finished = (): boolean => work.done;
    let lost = false;
    for (;;) {
      // Work that ends on its own (returned or threw) ends leadership too: renewing a lease
      // nobody works under would only keep a standby from taking over.
      if (finished()) break;
      await new Promise<void>((resolve) => {
        const timer = this.clock.setTimer(resolve, this.retryPeriodMs);
        wake = () => {
          timer.cancel();
          resolve();
        };
      });
      wake = undefined;
      if (finished()) break;
      const startedAt = this.clock.now();
      const remaining = lastRenewAt + this.renewDeadlineMs - startedAt;
      if (remaining > 0 && (await this.attempt(undefined, "renew", remaining))) {
        lastRenewAt = startedAt;
      } else if (this.heldByAnother() || this.clock.now() - lastRenewAt >= this.renewDeadlineMs) {
        // Another holder on the Lease means it was taken while this replica could not see it
        // (a pause, a partition): waiting out the deadline would only add writes it must not make.
        lost = true;
        break;
      }
    }
    stop.removeEventListener("abort", onStop);
    this.leading = false;
    leading.abort();
    if (lost) {
      // Do not wait for `work`: leadership is already gone, and whatever it still does is no longer
      // protected by the lease.
      this.callbacks.onStoppedLeading?.();
      return;
    }
    await work.promise;
    await this.clearLease();
    this.callbacks.onStoppedLeading?.();
  }

  private heldByAnother(): boolean {
    const holder = this.observation?.record.holderIdentity ?? "";
    return holder !== "" && holder !== this.identity;
  }

  /** One tryAcquireOrRenew, bounded by `timeoutMs` and aborted by `stop`; never throws. */
  private async attempt(stop: AbortSignal | undefined, phase: LeaderElectionPhase, timeoutMs = this.renewDeadlineMs): Promise<boolean> {
    const deadline = new AbortController();
    const timer = this.clock.setTimer(() => { deadline.abort(new Error(`leader election: ${phase} timed out`)); }, timeoutMs);
    const signal = stop === undefined ? deadline.signal : AbortSignal.any([stop, deadline.signal]);
    try {
      // The lock is handed the signal, but raced against it too in case a call ignores it.
      return await Promise.race([this.tryAcquireOrRenew(signal), rejectOnAbort(signal)]);
    } catch (err) {
      if (!(stop?.aborted ?? false)) this.onError(err, phase);
      return false;
    } finally {
      timer.cancel();
    }
  }

  private async tryAcquireOrRenew(signal: AbortSignal): Promise<boolean> {
    const durationSeconds = Math.ceil(this.leaseDurationMs / 1000);
    const lease = await this.lock.get(signal);
    if (lease === undefined) {
      const created = await this.lock.create(nextSpec("create", undefined, this.identity, durationSeconds, this.wallClock()), signal);
      this.record(created);
      return !signal.aborted;
    }
    this.record(lease);
    const decision = decide(this.identity, this.observation, this.clock.now());
    if (decision.action === "wait" || decision.action === "create") return false;
    // A process that does not lead yet starts a new term even on a Lease that names it (a
    // container restarted in its pod, under the same identity): a new epoch, so that writes its
    // previous process still had in flight are refused by the fencing policy (decision 0009).
    const action = decision.action === "renew" && !this.leading ? "acquire" : decision.action;
    const spec = nextSpec(action, lease.spec, this.identity, durationSeconds, this.wallClock());
    const updated = await this.lock.replace(withSpec(lease, spec), signal);
    this.record(updated);
    // A reply that lands after the deadline must not count: the caller has already given up on it.
    return !signal.aborted;
  }

  private record(lease: V1Lease): void {
    this.lastLease = lease;
    this.observation = observe(this.observation, recordFromLease(lease), this.clock.now());
    const holder = this.observation.record.holderIdentity;
    if (holder !== "" && holder !== this.reportedLeader) {
      this.reportedLeader = holder;
      this.callbacks.onNewLeader?.(holder);
    }
  }

  private async clearLease(): Promise<void> {
    const lease = this.lastLease;
    if (lease?.spec?.holderIdentity !== this.identity) return;
    const deadline = new AbortController();
    const timer = this.clock.setTimer(() => { deadline.abort(new Error("leader election: release timed out")); }, this.renewDeadlineMs);
    try {
      const spec = releasedSpec(lease.spec, this.wallClock());
      const released = await Promise.race([this.lock.replace(withSpec(lease, spec), deadline.signal), rejectOnAbort(deadline.signal)]);
      this.lastLease = released;
      this.observation = observe(this.observation, recordFromLease(released), this.clock.now());
    } catch (err) {
      // A conflict means someone else already wrote the lease; either way it expires on its own.
      this.onError(err, "release");
    } finally {
      timer.cancel();
    }
  }
}

function rejectOnAbort(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    const fail = (): void => { reject(signal.reason instanceof Error ? signal.reason : new Error("aborted")); };
    if (signal.aborted) fail();
    else signal.addEventListener("abort", fail, { once: true });
  });
}
