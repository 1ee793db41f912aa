import { FakeClock } from "./clock.js";
import { ItemExponentialFailureRateLimiter } from "./ratelimiter.js";
import { WorkQueue } from "./workqueue.js";

function tick(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function newQueue(clock = new FakeClock()): { queue: WorkQueue; clock: FakeClock } {
  return { queue: new WorkQueue({ clock, rateLimiter: new ItemExponentialFailureRateLimiter(5, 1000) }), clock };
}

describe("WorkQueue", () => {
  it("collapses repeated adds of a queued key into one", async () => {
    const { queue } = newQueue();
    for (let i = 0; i < 100; i++) queue.add("ns/a");
    expect(queue.len()).toBe(1);
    expect(await queue.get()).toBe("ns/a");
    queue.done("ns/a");
    expect(queue.len()).toBe(0);
  });

  it("hands keys out in insertion order", async () => {
    const { queue } = newQueue();
    ["c", "a", "b", "a"].forEach((k) => { queue.add(k); });
    expect([await queue.get(), await queue.get(), await queue.get()]).toEqual(["c", "a", "b"]);
  });

  it("re-queues a key added while it was being processed, once, after done()", async () => {
    const { queue } = newQueue();
    queue.add("a");
    const key = await queue.get();
    expect(key).toBe("a");
    queue.add("a");
    queue.add("a");
    // Not handed out again while still being processed.
    expect(queue.len()).toBe(0);
    let second: string | undefined;
    void queue.get().then((k) => { second = k; });
    await tick();
    expect(second).toBeUndefined();
    queue.done("a");
    await tick();
    expect(second).toBe("a");
    queue.done("a");
    expect(queue.len()).toBe(0);
  });

  it("never lets two of N workers process the same key at once", async () => {
    const { queue } = newQueue();
    const active = new Set<string>();
    const processed: string[] = [];
    let overlaps = 0;
    const worker = async (): Promise<void> => {
      for (;;) {
        const key = await queue.get();
        if (key === undefined) return;
        if (active.has(key)) overlaps++;
        active.add(key);
        processed.push(key);
        // Keep re-adding the keys while they are being worked on.
        queue.add(key);
        queue.add(key === "a" ? "b" : "a");
        await tick();
        active.delete(key);
        queue.done(key);
      }
    };
    queue.add("a");
    queue.add("b");
    const workers = Array.from({ length: 8 }, () => worker());
    for (let i = 0; i < 20; i++) await tick();
    await queue.shutDownWithDrain();
    await Promise.all(workers);
    expect(overlaps).toBe(0);
    expect(processed.length).toBeGreaterThan(4);
  });

  it("addAfter delays, and a key already waiting keeps the earliest deadline", async () => {
    const { queue, clock } = newQueue();
    queue.addAfter("a", 1000);
    queue.addAfter("a", 5000);
    queue.addAfter("b", 5000);
    queue.addAfter("b", 200);
    expect(queue.len()).toBe(0);
    await clock.advance(199);
    expect(queue.len()).toBe(0);
    await clock.advance(1);
    expect(queue.len()).toBe(1);
    expect(await queue.get()).toBe("b");
    await clock.advance(800);
    expect(await queue.get()).toBe("a");
    await clock.advance(10_000);
    expect(queue.len()).toBe(0);
    expect(clock.pending()).toBe(0);
  });

  it("addAfter with no delay adds immediately and dedups with the queue", () => {
    const { queue } = newQueue();
    queue.add("a");
    queue.addAfter("a", 0);
    expect(queue.len()).toBe(1);
  });

  it("addRateLimited backs off 5, 10, 20 ... ms, capped; forget starts over", async () => {
    const { queue, clock } = newQueue();
    const readyAfter = async (): Promise<number> => {
      queue.addRateLimited("a");
      let waited = 0;
      while (queue.len() === 0) {
        await clock.advance(1);
        waited++;
      }
      const key = await queue.get();
      queue.done(key ?? "");
      return waited;
    };
    const delays: number[] = [];
    for (let i = 0; i < 10; i++) delays.push(await readyAfter());
    expect(delays).toEqual([5, 10, 20, 40, 80, 160, 320, 640, 1000, 1000]);
    expect(queue.numRequeues("a")).toBe(10);
    queue.forget("a");
    expect(queue.numRequeues("a")).toBe(0);
    expect(await readyAfter()).toBe(5);
  });

  it("holds a key for the server's Retry-After: the retry and every add meanwhile wait for it", async () => {
    const { queue, clock } = newQueue();
    queue.add("a");
    const key = await queue.get();
    // A watch event for the key while it is being reconciled...
    queue.add("a");
    queue.addRateLimited(key ?? "", 3000);
    queue.done(key ?? "");
    // ...does not bring it back before the hold ends, and neither does a fresh add.
    expect(queue.len()).toBe(0);
    await clock.advance(1000);
    queue.add("a");
    expect(queue.len()).toBe(0);
    await clock.advance(1999);
    expect(queue.len()).toBe(0);
    await clock.advance(1);
    expect(queue.len()).toBe(1);
    expect(await queue.get()).toBe("a");
    queue.done("a");
    // Success forgets the hold with the backoff.
    queue.forget("a");
    queue.add("a");
    expect(queue.len()).toBe(1);
  });

  it("a Retry-After hold outlasts an earlier, shorter requeueAfter", async () => {
    const { queue, clock } = newQueue();
    queue.addAfter("a", 100);
    queue.addRateLimited("a", 2000);
    await clock.advance(1999);
    expect(queue.len()).toBe(0);
    await clock.advance(1);
    expect(queue.len()).toBe(1);
  });

  it("a hold shorter than the key's backoff leaves the backoff in charge", async () => {
    const { queue, clock } = newQueue();
    for (let i = 0; i < 9; i++) queue.addRateLimited("a"); // backoff now at its 1000 ms cap
    await clock.advance(1000);
    await queue.get();
    queue.done("a");
    queue.addRateLimited("a", 10);
    await clock.advance(999);
    expect(queue.len()).toBe(0);
    await clock.advance(1);
    expect(queue.len()).toBe(1);
  });

  it("shutDown wakes waiting getters with undefined and ignores further adds", async () => {
    const { queue, clock } = newQueue();
    const waiting = [queue.get(), queue.get()];
    queue.addAfter("later", 100);
    queue.shutDown();
    expect(await Promise.all(waiting)).toEqual([undefined, undefined]);
    queue.add("a");
    queue.addRateLimited("b");
    expect(queue.len()).toBe(0);
    expect(await queue.get()).toBeUndefined();
    expect(clock.pending()).toBe(0);
    expect(queue.isShuttingDown()).toBe(true);
  });

  it("shutDown drops keys that were queued but not yet taken", async () => {
    const { queue } = newQueue();
    queue.add("a");
    queue.add("b");
    queue.shutDown();
    expect(queue.len()).toBe(0);
    expect(await queue.get()).toBeUndefined();
  });

  it("shutDownWithDrain waits for keys in flight and does not re-queue dirty ones", async () => {
    const { queue } = newQueue();
    queue.add("a");
    queue.add("b");
    const a = await queue.get();
    const b = await queue.get();
    queue.add("a");
    let drained = false;
    const draining = queue.shutDownWithDrain().then(() => { drained = true; });
    await tick();
    expect(drained).toBe(false);
    queue.done(a ?? "");
    await tick();
    expect(drained).toBe(false);
    queue.done(b ?? "");
    await draining;
    expect(queue.len()).toBe(0);
    await queue.shutDownWithDrain();
  });

  it("reports metrics through hooks", async () => {
    const clock = new FakeClock();
    const depths: number[] = [];
    const adds: string[] = [];
    const retries: string[] = [];
    const durations: number[] = [];
    const queue = new WorkQueue({
      clock,
      metrics: {
        depth: (d) => depths.push(d),
        add: (k) => adds.push(k),
        retry: (k) => retries.push(k),
        workDuration: (s) => durations.push(s),
      },
    });
    queue.add("a");
    queue.add("a");
    queue.add("b");
    const key = await queue.get();
    await clock.advance(250);
    queue.done(key ?? "");
    queue.addRateLimited("c");
    expect(adds).toEqual(["a", "b"]);
    expect(retries).toEqual(["c"]);
    expect(durations).toEqual([0.25]);
    expect(depths.at(-1)).toBe(1);
    expect(Math.max(...depths)).toBe(2);
    queue.shutDown();
  });
});
