import * as k8s from "@kubernetes/client-node";
import { FakeClock } from "./clock.js";
import { Controller, type ErrorPolicy, type ReconcileReport, type ReconcileResult } from "./controller.js";
import { ItemExponentialFailureRateLimiter } from "./ratelimiter.js";
import { WorkQueue } from "./workqueue.js";

function tick(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

interface Deferred {
  promise: Promise<void>;
  resolve: () => void;
}

function deferred(): Deferred {
  let resolve = (): void => undefined;
  const promise = new Promise<void>((r) => { resolve = r; });
  return { promise, resolve };
}

function setup(reconcile: (key: string) => Promise<ReconcileResult | undefined>, workers = 1, preload: string[] = [], errorPolicy?: ErrorPolicy) {
  const clock = new FakeClock();
  const queue = new WorkQueue({ clock, rateLimiter: new ItemExponentialFailureRateLimiter(5, 1000) });
  const reports: ReconcileReport[] = [];
  const controller = new Controller({
    name: "test",
    queue,
    workers,
    clock,
    reconcile: async (key) => (await reconcile(key)) ?? undefined,
    onResult: (r) => reports.push(r),
    ...(errorPolicy === undefined ? {} : { errorPolicy }),
  });
  for (const key of preload) queue.add(key);
  const abort = new AbortController();
  const running = controller.run(abort.signal);
  return { clock, queue, reports, controller, abort, running };
}

describe("Controller", () => {
  it("reconciles a key added 100 times once, and forgets it on success", async () => {
    const seen: string[] = [];
    const adds = Array.from({ length: 100 }, () => "ns/a");
    const { queue, reports, abort, running } = setup((key) => {
      seen.push(key);
      return Promise.resolve(undefined);
    }, 4, adds);
    await tick();
    expect(seen).toEqual(["ns/a"]);
    expect(reports).toMatchObject([{ controller: "test", key: "ns/a", outcome: "success", retries: 0 }]);
    expect(queue.numRequeues("ns/a")).toBe(0);
    abort.abort();
    await running;
  });

  it("requeues a failing key with backoff and forgets it once it succeeds", async () => {
    let failures = 3;
    const calls: number[] = [];
    const { queue, clock, reports, abort, running } = setup(() => {
      calls.push(clock.now());
      if (failures-- > 0) return Promise.reject(new Error("boom"));
      return Promise.resolve(undefined);
    });
    queue.add("a");
    await clock.advance(1000);
    expect(calls).toEqual([0, 5, 15, 35]);
    expect(reports.map((r) => [r.outcome, r.retries])).toEqual([
      ["error", 1],
      ["error", 2],
      ["error", 3],
      ["success", 0],
    ]);
    expect(reports[0]?.error).toBeInstanceOf(Error);
    expect(queue.numRequeues("a")).toBe(0);
    abort.abort();
    await running;
  });

  it("honours requeueAfter", async () => {
    const calls: number[] = [];
    const { queue, clock, reports, abort, running } = setup(() => {
      calls.push(clock.now());
      return Promise.resolve({ requeueAfter: 300 });
    });
    queue.add("a");
    await clock.advance(700);
    expect(calls).toEqual([0, 300, 600]);
    expect(reports[0]).toMatchObject({ outcome: "requeue", requeueAfter: 300 });
    abort.abort();
    await running;
  });

  it("reconciles again when the key changes while being reconciled", async () => {
    const gate = deferred();
    let calls = 0;
    const { queue, abort, running } = setup(async () => {
      calls++;
      if (calls === 1) await gate.promise;
      return undefined;
    });
    queue.add("a");
    await tick();
    for (let i = 0; i < 10; i++) queue.add("a");
    gate.resolve();
    await tick();
    expect(calls).toBe(2);
    abort.abort();
    await running;
  });

  it("processes distinct keys in parallel but never one key twice at once", async () => {
    const active = new Set<string>();
    let overlaps = 0;
    let maxParallel = 0;
    const gates: Deferred[] = [];
    const { queue, abort, running } = setup(async (key) => {
      if (active.has(key)) overlaps++;
      active.add(key);
      maxParallel = Math.max(maxParallel, active.size);
      const gate = deferred();
      gates.push(gate);
      await gate.promise;
      active.delete(key);
      return undefined;
    }, 4);
    for (const k of ["a", "b", "c", "d", "e"]) queue.add(k);
    await tick();
    expect(maxParallel).toBe(4);
    queue.add("a");
    queue.add("b");
    while (gates.length > 0) {
      gates.shift()?.resolve();
      await tick();
    }
    expect(overlaps).toBe(0);
    abort.abort();
    await running;
  });

  it("on stop, lets in-flight reconciles finish and takes no new keys", async () => {
    const gate = deferred();
    const started: string[] = [];
    const finished: string[] = [];
    const { queue, abort, running } = setup(async (key) => {
      started.push(key);
      await gate.promise;
      finished.push(key);
      return undefined;
    });
    queue.add("a");
    queue.add("b");
    await tick();
    let stopped = false;
    void running.then(() => { stopped = true; });
    abort.abort();
    await tick();
    expect(stopped).toBe(false);
    gate.resolve();
    await running;
    expect(started).toEqual(["a"]);
    expect(finished).toEqual(["a"]);
  });

  it("resyncs all keys periodically while running", async () => {
    const seen: string[] = [];
    const clock = new FakeClock();
    const queue = new WorkQueue({ clock });
    const controller = new Controller({
      name: "resync",
      queue,
      clock,
      reconcile: (key) => {
        seen.push(key);
        return Promise.resolve();
      },
    });
    controller.resyncEvery(1000, () => ["x", "y"]);
    const abort = new AbortController();
    const running = controller.run(abort.signal);
    await clock.advance(999);
    expect(seen).toEqual([]);
    await clock.advance(1);
    expect(seen).toEqual(["x", "y"]);
    await clock.advance(1000);
    expect(seen).toEqual(["x", "y", "x", "y"]);
    abort.abort();
    await running;
    expect(clock.pending()).toBe(0);
    expect(() => { controller.resyncEvery(1000, () => []); }).toThrow();
  });

  it("waits out the server's Retry-After before retrying a key, even when watch events ask sooner", async () => {
    const calls: number[] = [];
    const tooMany = (): k8s.ApiException<string> => new k8s.ApiException(429, "too many requests", "{}", { "retry-after": "3" });
    let failures = 2;
    const { queue, clock, reports, abort, running } = setup(() => {
      calls.push(clock.now());
      return failures-- > 0 ? Promise.reject(tooMany()) : Promise.resolve(undefined);
    });
    queue.add("a");
    await clock.advance(500);
    for (let i = 0; i < 5; i++) queue.add("a"); // events for the key during the hold
    await clock.advance(10_000);
    expect(calls).toEqual([0, 3000, 6000]);
    expect(reports.map((r) => [r.outcome, r.action])).toEqual([
      ["error", { requeue: "backoff", notBeforeMs: 3000 }],
      ["error", { requeue: "backoff", notBeforeMs: 3000 }],
      ["success", undefined],
    ]);
    abort.abort();
    await running;
  });

  it("an error policy may look again at a set time, without backoff, or not retry at all", async () => {
    const calls: [string, number][] = [];
    const policy: ErrorPolicy = (key) => (key === "slow" ? { requeue: "after", afterMs: 15_000 } : { requeue: "never" });
    const { queue, clock, reports, abort, running } = setup((key) => {
      calls.push([key, clock.now()]);
      return Promise.reject(new Error(`${key} refused`));
    }, 1, [], policy);
    queue.add("slow");
    queue.add("gone");
    await clock.advance(40_000);
    expect(calls).toEqual([["slow", 0], ["gone", 0], ["slow", 15_000], ["slow", 30_000]]);
    expect(reports.map((r) => [r.key, r.outcome, r.action, r.retries])).toEqual([
      ["slow", "error", { requeue: "after", afterMs: 15_000 }, 0],
      ["gone", "terminal", { requeue: "never" }, 0],
      ["slow", "error", { requeue: "after", afterMs: 15_000 }, 0],
      ["slow", "error", { requeue: "after", afterMs: 15_000 }, 0],
    ]);
    abort.abort();
    await running;
  });

  it("returns at once when started with an aborted signal", async () => {
    const queue = new WorkQueue({ clock: new FakeClock() });
    const controller = new Controller({ name: "x", queue, reconcile: () => Promise.resolve() });
    await controller.run(AbortSignal.abort());
    expect(queue.isShuttingDown()).toBe(true);
  });
});
