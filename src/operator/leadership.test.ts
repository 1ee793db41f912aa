import { pino } from "pino";
import { FakeLeaseServer } from "../../test/support/fake-lease.js";
import { FakeClock } from "../controller/clock.js";
import type { Fence } from "../controller/fence.js";
import { leadershipFor, serveOneTerm, type LeadershipOptions } from "./leadership.js";

const timings = { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 };

function setup(lock: LeadershipOptions["lock"], clock = new FakeClock()) {
  const told: boolean[] = [];
  const fences: Fence[] = [];
  const abort = new AbortController();
  // A term that runs until its fence says it is over, as the reconcile loop does.
  const lead = (fence: Fence): Promise<void> => {
    fences.push(fence);
    return new Promise((resolve) => {
      if (fence.signal.aborted) resolve();
      else fence.signal.addEventListener("abort", () => { resolve(); }, { once: true });
    });
  };
  const ended = serveOneTerm({ lock, identity: "pod-a", ...timings, onLeading: (l) => told.push(l), log: pino({ level: "silent" }), clock }, lead, abort.signal);
  return { told, fences, abort, ended, clock };
}

describe("one term of leadership", () => {
  test("without leader election: one unfenced term, unstamped, until the process stops", async () => {
    const { told, fences, abort, ended } = setup(undefined);
    expect(told).toEqual([true]);
    expect(fences[0]?.stamp).toBeUndefined();
    abort.abort();
    expect(await ended).toBe("stopped");
    expect(told).toEqual([true, false]);
  });

  test("with a Lease: leads once it holds it, stamped with its epoch; stopping hands the Lease back", async () => {
    const server = new FakeLeaseServer();
    const { told, fences, abort, ended, clock } = setup(server.lockFor());
    await clock.advance(0);
    expect(told).toEqual([true]);
    expect(fences[0]?.stamp).toEqual({ holder: "pod-a", epoch: 0 });
    abort.abort();
    await clock.advance(0);
    expect(await ended).toBe("stopped");
    expect(told).toEqual([true, false]);
    expect(server.holder()).toBe("");
  });

  test("a Lease it can no longer renew ends the term at the renew deadline, and the process with it", async () => {
    const server = new FakeLeaseServer();
    const lock = server.lockFor();
    const { told, fences, ended, clock } = setup(lock);
    await clock.advance(0);
    lock.mode = "down";
    await clock.advance(timings.renewDeadlineMs);
    expect(fences[0]?.signal.aborted).toBe(true);
    expect(await ended).toBe("lost-leadership");
    expect(told).toEqual([true, false]);
  });
});

describe("the leadership the configuration asks for", () => {
  const election = { enabled: true, leaseName: "xrayr-mesh-operator", identity: "pod-a", ...timings };
  const told = { onLeading: () => undefined, log: pino({ level: "silent" }) };
  const lock = new FakeLeaseServer().lockFor();

  test("LEADER_ELECTION=true: the Lease, and writes timed out within its margin (80 % of lease duration minus renew deadline)", () => {
    const l = leadershipFor(election, () => lock, told);
    expect(l.options.lock).toBe(lock);
    expect(l.writeTimeoutMs).toBe(4_000);
  });

  test("LEADER_ELECTION=false: no Lease is even made, and the writer keeps its own timeout", () => {
    const l = leadershipFor({ ...election, enabled: false }, () => { throw new Error("no Lease without election"); }, told);
    expect(l.options.lock).toBeUndefined();
    expect(l.writeTimeoutMs).toBeUndefined();
  });
});
