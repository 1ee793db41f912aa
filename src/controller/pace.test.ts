// The write pace on a fake clock: a burst of one second's worth goes at once, a sustained stream
// is held to the rate in the order it asked, and a wait ended by its signal sends nothing and
// gives its turn back.
import { FakeClock } from "./clock.js";
import { WritePace } from "./pace.js";
import { TokenBucket } from "./ratelimiter.js";

function paced(perSecond: number) {
  const clock = new FakeClock();
  const turns: [string, number][] = [];
  const pace = new WritePace(perSecond, (kind, s) => turns.push([kind, s]), clock);
  return { clock, pace, turns };
}

describe("WritePace", () => {
  test("one second's worth goes at once; the next waits its 1/rate share, in order", async () => {
    const { clock, pace, turns } = paced(10);
    const never = new AbortController().signal;
    for (let i = 0; i < 10; i++) expect(await pace.turn("create", never)).toBe(true);
    expect(turns.every(([, s]) => s === 0)).toBe(true);

    const sent: string[] = [];
    const a = pace.turn("delete", never).then(() => sent.push("a"));
    const b = pace.turn("create", never).then(() => sent.push("b"));
    await clock.advance(99);
    expect(sent).toEqual([]);
    await clock.advance(1);
    expect(sent).toEqual(["a"]);
    await clock.advance(100);
    await Promise.all([a, b]);
    expect(sent).toEqual(["a", "b"]);
    expect(turns.slice(10).map(([k, s]) => [k, Number(s.toFixed(3))])).toEqual([["delete", 0.1], ["create", 0.2]]);
  });

  test("a sustained stream is held to the rate: 50 writes at 10/s after the burst take 5 s", async () => {
    const { clock, pace } = paced(10);
    const never = new AbortController().signal;
    for (let i = 0; i < 10; i++) await pace.turn("create", never);
    let done = 0;
    const all = Array.from({ length: 50 }, () => pace.turn("create", never).then(() => { done++; }));
    await clock.advance(4_999);
    expect(done).toBe(49);
    await clock.advance(1);
    await Promise.all(all);
    expect(done).toBe(50);
  });

  test("a wait its signal ends sends nothing, is not reported, and gives its turn back", async () => {
    const { clock, pace, turns } = paced(1);
    const never = new AbortController().signal;
    expect(await pace.turn("create", never)).toBe(true);
    const leading = new AbortController();
    const given = pace.turn("delete", leading.signal);
    await clock.advance(500);
    leading.abort();
    expect(await given).toBe(false);
    expect(turns.map(([k]) => k)).toEqual(["create"]);
    // The turn given back: the next write waits the rest of the first second, not two.
    const next = pace.turn("create", never);
    let sent = false;
    void next.then(() => { sent = true; });
    await clock.advance(499);
    expect(sent).toBe(false);
    await clock.advance(1);
    expect(await next).toBe(true);
    expect(await pace.turn("create", AbortSignal.abort())).toBe(false);
  });
});

describe("TokenBucket", () => {
  test("refund gives back one token, never past the burst", async () => {
    const clock = new FakeClock();
    const bucket = new TokenBucket(10, 2, clock);
    bucket.refund();
    expect([bucket.reserve(), bucket.reserve()]).toEqual([0, 0]);
    expect(bucket.reserve()).toBeCloseTo(100);
    bucket.refund();
    expect(bucket.reserve()).toBeCloseTo(100);
    await clock.advance(60_000);
    bucket.refund();
    expect([bucket.reserve(), bucket.reserve()]).toEqual([0, 0]);
    expect(bucket.reserve()).toBeCloseTo(100);
  });
});
