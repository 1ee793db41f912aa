import { FakeClock } from "./clock.js";
import {
  Backoff,
  BucketRateLimiter,
  ItemExponentialFailureRateLimiter,
  MaxOfRateLimiter,
  defaultControllerRateLimiter,
  jitter,
} from "./ratelimiter.js";

describe("ItemExponentialFailureRateLimiter", () => {
  it("doubles from 5 ms per failure of a key and caps at 1000 s", () => {
    const limiter = new ItemExponentialFailureRateLimiter();
    const delays = Array.from({ length: 20 }, () => limiter.when("a"));
    expect(delays.slice(0, 5)).toEqual([5, 10, 20, 40, 80]);
    expect(delays[17]).toBe(5 * 2 ** 17);
    expect(delays[18]).toBe(1_000_000);
    expect(delays[19]).toBe(1_000_000);
    expect(limiter.retries("a")).toBe(20);
  });

  it("stays capped after very many failures", () => {
    const limiter = new ItemExponentialFailureRateLimiter(5, 1000);
    for (let i = 0; i < 2000; i++) limiter.when("a");
    expect(limiter.when("a")).toBe(1000);
  });

  it("tracks keys independently and forget resets one", () => {
    const limiter = new ItemExponentialFailureRateLimiter();
    limiter.when("a");
    limiter.when("a");
    expect(limiter.when("b")).toBe(5);
    limiter.forget("a");
    expect(limiter.retries("a")).toBe(0);
    expect(limiter.when("a")).toBe(5);
    expect(limiter.retries("b")).toBe(1);
  });
});

describe("BucketRateLimiter", () => {
  it("lets a burst through, then spaces calls at 1/qps", async () => {
    const clock = new FakeClock();
    const bucket = new BucketRateLimiter(10, 100, clock);
    for (let i = 0; i < 100; i++) expect(bucket.when(`k${i}`)).toBe(0);
    expect(bucket.when("x")).toBeCloseTo(100);
    expect(bucket.when("y")).toBeCloseTo(200);
    await clock.advance(1000);
    // 10 tokens came back, 2 were owed: 8 more go through free, the next waits.
    for (let i = 0; i < 8; i++) expect(bucket.when(`z${i}`)).toBeCloseTo(0);
    expect(bucket.when("w")).toBeCloseTo(100);
  });

  it("refills no further than the burst", async () => {
    const clock = new FakeClock();
    const bucket = new BucketRateLimiter(10, 2, clock);
    await clock.advance(60_000);
    expect(bucket.when("a")).toBe(0);
    expect(bucket.when("b")).toBe(0);
    expect(bucket.when("c")).toBeCloseTo(100);
    expect(bucket.retries("c")).toBe(0);
  });
});

describe("MaxOfRateLimiter", () => {
  it("returns the longest delay and forgets in every limiter", () => {
    const clock = new FakeClock();
    const limiter = new MaxOfRateLimiter(new ItemExponentialFailureRateLimiter(5, 1000), new BucketRateLimiter(10, 1, clock));
    expect(limiter.when("a")).toBe(5);
    expect(limiter.when("a")).toBeCloseTo(100);
    expect(limiter.retries("a")).toBe(2);
    limiter.forget("a");
    expect(limiter.retries("a")).toBe(0);
  });

  it("default: per-key backoff dominates until the bucket runs dry", () => {
    const limiter = defaultControllerRateLimiter(new FakeClock());
    expect([limiter.when("a"), limiter.when("a"), limiter.when("a")]).toEqual([5, 10, 20]);
  });
});

describe("jitter", () => {
  it("only ever lengthens, by at most factor", () => {
    expect(jitter(100, 0.5, () => 0)).toBe(100);
    expect(jitter(100, 0.5, () => 0.999)).toBeCloseTo(149.95);
    expect(jitter(100, 0, () => 0.7)).toBe(100);
  });
});

describe("Backoff", () => {
  it("doubles from the initial delay to the cap, jitter on top", async () => {
    const clock = new FakeClock();
    const backoff = new Backoff({ initialMs: 200, maxMs: 30_000, jitterFactor: 0.5, clock, random: () => 1 });
    const delays: number[] = [];
    for (let i = 0; i < 10; i++) {
      delays.push(backoff.next());
      await clock.advance(1000);
    }
    expect(delays).toEqual([300, 600, 1200, 2400, 4800, 9600, 19_200, 38_400, 45_000, 45_000]);
    expect(backoff.attempts()).toBe(10);
  });

  it("starts over after a healthy period", async () => {
    const clock = new FakeClock();
    const backoff = new Backoff({ initialMs: 200, jitterFactor: 0, resetAfterMs: 60_000, clock });
    expect([backoff.next(), backoff.next(), backoff.next()]).toEqual([200, 400, 800]);
    await clock.advance(59_000);
    expect(backoff.next()).toBe(1600);
    await clock.advance(60_000);
    expect(backoff.next()).toBe(200);
    expect(backoff.attempts()).toBe(1);
  });
});
