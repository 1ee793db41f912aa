import type { V1Lease, V1LeaseSpec } from "@kubernetes/client-node";

import { FakeLeaseServer } from "../../test/support/fake-lease.js";
import { FakeClock } from "./clock.js";
import { type Fence, NotLeaderError } from "./fence.js";
import {
  LeaderElector,
  type Observation,
  decide,
  nextSpec,
  observe,
  recordFromLease,
  releasedSpec,
} from "./leaderelection.js";

const record = (holderIdentity: string, renewTime = "t1", leaseDurationSeconds = 15) => ({
  holderIdentity,
  leaseDurationSeconds,
  acquireTime: "t0",
  renewTime,
  leaseTransitions: 0,
});

describe("lease decision (pure)", () => {
  it("creates a missing lease", () => {
    expect(decide("me", undefined, 0)).toEqual({ action: "create" });
  });

  it("renews its own lease, and takes a released one at once", () => {
    expect(decide("me", { record: record("me"), observedAt: 0 }, 999_999)).toEqual({ action: "renew" });
    expect(decide("me", { record: record(""), observedAt: 100 }, 100)).toEqual({ action: "acquire" });
  });

  it("waits out another holder's duration, measured from when this process saw the record change", () => {
    const observed: Observation = { record: record("other"), observedAt: 1000 };
    expect(decide("me", observed, 15_999)).toEqual({ action: "wait", holder: "other", expiresAt: 16_000 });
    expect(decide("me", observed, 16_000)).toEqual({ action: "acquire" });
  });

  it("restarts the expiry clock only when the record changes, whatever its timestamps say", () => {
    let seen = observe(undefined, record("other", "t1"), 1000);
    seen = observe(seen, record("other", "t1"), 9000);
    expect(seen.observedAt).toBe(1000);
    // A renewTime far in the past (skewed clock) still counts as a renewal: it changed.
    seen = observe(seen, record("other", "1970-01-01T00:00:00.000000Z"), 12_000);
    expect(seen.observedAt).toBe(12_000);
    expect(decide("me", seen, 26_999).action).toBe("wait");
  });

  it("normalizes leases whether times arrive as strings (as from the API) or Dates", () => {
    const now = new Date("2025-01-01T00:00:00Z");
    const spec = nextSpec("create", undefined, "me", 15, now);
    const roundTripped = JSON.parse(JSON.stringify({ spec })) as V1Lease;
    expect(roundTripped.spec?.renewTime).toBe("2025-01-01T00:00:00.000000Z");
    expect(recordFromLease(roundTripped)).toEqual(recordFromLease({ spec }));
    expect(recordFromLease({})).toEqual({ holderIdentity: "", leaseDurationSeconds: 0, acquireTime: "", renewTime: "", leaseTransitions: 0 });
  });

  it("counts transitions on acquire, keeps them and acquireTime on renew, clears the holder on release", () => {
    const t0 = new Date(1000);
    const t1 = new Date(2000);
    const mine = nextSpec("create", undefined, "me", 15, t0);
    expect(mine).toMatchObject({ holderIdentity: "me", leaseDurationSeconds: 15, leaseTransitions: 0 });
    const renewed = nextSpec("renew", mine, "me", 15, t1);
    expect(renewed.acquireTime).toEqual(mine.acquireTime);
    expect(renewed.renewTime).toEqual(new Date(2000));
    expect(renewed.leaseTransitions).toBe(0);
    const contested: V1LeaseSpec = { holderIdentity: "me", leaseTransitions: 0, preferredHolder: "p" };
    const taken = nextSpec("acquire", contested, "you", 20, t1);
    expect(taken).toMatchObject({ holderIdentity: "you", leaseDurationSeconds: 20, leaseTransitions: 1, preferredHolder: "p" });
    const released = releasedSpec(taken, t1);
    expect(released).toMatchObject({ holderIdentity: "", leaseDurationSeconds: 1, leaseTransitions: 1 });
  });
});

interface Candidate {
  elector: LeaderElector;
  lock: ReturnType<FakeLeaseServer["lockFor"]>;
  events: string[];
  abort: AbortController;
  done: Promise<void>;
  leading: AbortSignal | undefined;
  fence: Fence | undefined;
  drain: () => void;
}

/** Whether the candidate leads now, by its callbacks: started last, not stopped since. */
function leads(c: Candidate): boolean {
  return c.events.filter((e) => e === "started" || e === "stopped").at(-1) === "started";
}

/** The holder the candidate last reported through onNewLeader ("" if none yet). */
function leaderSeen(c: Candidate): string {
  return c.events.filter((e) => e.startsWith("leader:")).at(-1)?.slice("leader:".length) ?? "";
}

function candidate(server: FakeLeaseServer, clock: FakeClock, identity: string): Candidate {
  const lock = server.lockFor();
  const events: string[] = [];
  const abort = new AbortController();
  const c: Candidate = {
    lock,
    events,
    abort,
    leading: undefined,
    fence: undefined,
    drain: () => undefined,
    done: Promise.resolve(),
    elector: new LeaderElector({
      lock,
      identity,
      clock,
      // Renew times derive from the fake clock; real time barely moves during a test, and renews
      // with identical timestamps would look to a standby like a leader that stopped renewing.
      wallClock: () => new Date(1_700_000_000_000 + clock.now()),
      random: () => 0,
      callbacks: {
        onStartedLeading: (leading) => {
          events.push("started");
          c.leading = leading.signal;
          c.fence = leading;
          return new Promise<void>((resolve) => { c.drain = resolve; });
        },
        onStoppedLeading: () => events.push("stopped"),
        onNewLeader: (id) => events.push(`leader:${id}`),
      },
    }),
  };
  c.done = c.elector.run(abort.signal);
  return c;
}

describe("LeaderElector", () => {
  it("creates the lease and leads when nobody holds it", async () => {
    const clock = new FakeClock();
    const server = new FakeLeaseServer();
    const a = candidate(server, clock, "a");
    await clock.advance(0);
    expect(leads(a)).toBe(true);
    expect(a.events).toEqual(["leader:a", "started"]);
    expect(server.lease?.spec).toMatchObject({ holderIdentity: "a", leaseDurationSeconds: 15, leaseTransitions: 0 });
    await clock.advance(6000);
    expect(server.lease?.metadata?.resourceVersion).toBe("4");
    a.abort.abort();
    a.drain();
    await a.done;
  });

  it("a standby waits while the leader renews, then takes over once the leader has been silent for leaseDuration", async () => {
    const clock = new FakeClock();
    const server = new FakeLeaseServer();
    const a = candidate(server, clock, "a");
    await clock.advance(0);
    const b = candidate(server, clock, "b");
    await clock.advance(60_000);
    expect(server.holder()).toBe("a");
    expect(leads(b)).toBe(false);
    expect(leaderSeen(b)).toBe("a");
    expect(b.events).toEqual(["leader:a"]);

    // The leader is cut off from the API server at t=60s; its last renew was at t=60s.
    a.lock.mode = "down";
    await clock.advance(9_999);
    expect(leads(a)).toBe(true);
    await clock.advance(1);
    // renewDeadline (10 s) passed without a renew: it stops acting, well before the lease expires.
    expect(leads(a)).toBe(false);
    expect(a.events).toEqual(["leader:a", "started", "stopped"]);
    expect(a.leading?.aborted).toBe(true);
    await a.done;
    expect(server.holder()).toBe("a");

    // b saw the last renew at t=60s, so it may take over from t=75s, at its next poll.
    await clock.advance(4_999);
    expect(server.holder()).toBe("a");
    await clock.advance(2_001);
    expect(server.holder()).toBe("b");
    expect(server.lease?.spec?.leaseTransitions).toBe(1);
    expect(b.events).toEqual(["leader:a", "leader:b", "started"]);
    b.abort.abort();
    b.drain();
    await b.done;
  });

  it("fences writes at the renew deadline itself, before the timer that ends leadership has run", async () => {
    const clock = new FakeClock();
    const server = new FakeLeaseServer();
    const a = candidate(server, clock, "a");
    await clock.advance(0);
    expect(a.fence?.stamp).toEqual({ holder: "a", epoch: 0 });
    expect(() => a.fence?.check()).not.toThrow();
    a.lock.mode = "hang";
    // A paused process wakes with its clock far ahead: the first write it tries must be refused
    // even though the renew loop has not run yet.
    clock.jump(10_000);
    expect(leads(a)).toBe(true);
    expect(() => a.fence?.check()).toThrow(NotLeaderError);
    await clock.advance(0);
    await a.done;
    expect(a.leading?.aborted).toBe(true);
  });

  it("ends leadership as soon as it sees another holder on the Lease, without waiting for the deadline", async () => {
    const clock = new FakeClock();
    const server = new FakeLeaseServer();
    const a = candidate(server, clock, "a");
    await clock.advance(0);
    // Someone took the Lease while a could not see it (a pause, a partition).
    const lease = server.lease;
    if (lease?.spec === undefined) throw new Error("no lease");
    lease.spec.holderIdentity = "b";
    lease.spec.leaseTransitions = 1;
    await clock.advance(2_000);
    expect(leads(a)).toBe(false);
    expect(() => a.fence?.check()).toThrow(NotLeaderError);
    expect(a.events.at(-1)).toBe("stopped");
    await a.done;
  });

  it("a new process under the identity the Lease names starts a new term (epoch), not a renewal of the old one", async () => {
    const clock = new FakeClock();
    const server = new FakeLeaseServer();
    const first = candidate(server, clock, "pod-a");
    await clock.advance(0);
    expect(first.fence?.stamp).toEqual({ holder: "pod-a", epoch: 0 });
    await clock.advance(4_000);
    // The container dies without releasing; the kubelet restarts it in the same pod.
    first.lock.mode = "down";
    await clock.advance(10_000);
    await first.done;
    const again = candidate(server, clock, "pod-a");
    await clock.advance(0);
    expect(again.fence?.stamp).toEqual({ holder: "pod-a", epoch: 1 });
    expect(server.lease?.spec?.leaseTransitions).toBe(1);
    // Its own renewals keep the epoch.
    await clock.advance(6_000);
    expect(server.lease?.spec?.leaseTransitions).toBe(1);
    again.abort.abort();
    again.drain();
    await again.done;
  });

  it("gives up at renewDeadline even when the API call hangs", async () => {
    const clock = new FakeClock();
    const server = new FakeLeaseServer();
    const a = candidate(server, clock, "a");
    await clock.advance(0);
    a.lock.mode = "hang";
    await clock.advance(9_999);
    expect(leads(a)).toBe(true);
    await clock.advance(1);
    expect(leads(a)).toBe(false);
    await a.done;
    expect(a.events.at(-1)).toBe("stopped");
  });

  it("on shutdown keeps renewing while work drains, then releases so a standby takes over at once", async () => {
    const clock = new FakeClock();
    const server = new FakeLeaseServer();
    const a = candidate(server, clock, "a");
    await clock.advance(0);
    const b = candidate(server, clock, "b");
    await clock.advance(3000);

    a.abort.abort();
    await clock.advance(0);
    expect(a.leading?.aborted).toBe(true);
    expect(leads(a)).toBe(true);
    const before = server.lease?.metadata?.resourceVersion;
    await clock.advance(20_000);
    // Still renewing: the drain outlasted leaseDuration, yet b did not take over.
    expect(server.holder()).toBe("a");
    expect(server.lease?.metadata?.resourceVersion).not.toBe(before);

    a.drain();
    await a.done;
    expect(a.events).toEqual(["leader:a", "started", "stopped"]);
    expect(server.lease?.spec).toMatchObject({ holderIdentity: "", leaseDurationSeconds: 1 });
    await clock.advance(2000);
    expect(server.holder()).toBe("b");
    b.abort.abort();
    b.drain();
    await b.done;
  });

  it("work that ends on its own ends leadership and hands the lease back", async () => {
    const clock = new FakeClock();
    const server = new FakeLeaseServer();
    const a = candidate(server, clock, "a");
    await clock.advance(0);
    const b = candidate(server, clock, "b");
    await clock.advance(3000);
    a.drain(); // the work returns while nobody asked it to stop
    await clock.advance(2000);
    await a.done;
    expect(a.events).toEqual(["leader:a", "started", "stopped"]);
    expect(leads(a)).toBe(false);
    await clock.advance(3000);
    expect(server.holder()).toBe("b");
    b.abort.abort();
    b.drain();
    await b.done;
  });

  it("two candidates racing for an expired lease: optimistic concurrency lets exactly one win", async () => {
    const clock = new FakeClock();
    const server = new FakeLeaseServer();
    server.lease = { metadata: { name: "lease", namespace: "ns", resourceVersion: "0" }, spec: { holderIdentity: "", leaseDurationSeconds: 1 } };
    const a = candidate(server, clock, "a");
    const b = candidate(server, clock, "b");
    await clock.advance(0);
    expect([leads(a), leads(b)].filter(Boolean)).toHaveLength(1);
    for (const c of [a, b]) {
      c.abort.abort();
      c.drain();
    }
    await clock.advance(0);
    await Promise.all([a.done, b.done]);
  });

  it("stops campaigning when its signal aborts before acquiring, without calling onStoppedLeading", async () => {
    const clock = new FakeClock();
    const server = new FakeLeaseServer();
    server.lease = { metadata: { name: "lease", namespace: "ns", resourceVersion: "1" }, spec: { holderIdentity: "x", leaseDurationSeconds: 15 } };
    const a = candidate(server, clock, "a");
    await clock.advance(5000);
    a.abort.abort();
    await a.done;
    expect(a.events).toEqual(["leader:x"]);
    expect(clock.pending()).toBe(0);
  });

  it("rejects timings under which a leader could act after its lease expired", () => {
    const lock = new FakeLeaseServer().lockFor();
    const callbacks = { onStartedLeading: () => undefined };
    expect(() => new LeaderElector({ lock, identity: "a", callbacks, leaseDurationMs: 10_000, renewDeadlineMs: 10_000 })).toThrow();
    expect(() => new LeaderElector({ lock, identity: "a", callbacks, renewDeadlineMs: 2_000, retryPeriodMs: 2_000 })).toThrow();
    expect(() => new LeaderElector({ lock, identity: "", callbacks })).toThrow();
  });
});
