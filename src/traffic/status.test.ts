import { type DueWrite, looksLikeOutage, nextTraffic, selectWrites, type TrafficStatus } from "./status.js";

const policy = { minIntervalMs: 300_000, errorThreshold: 0.01 };
const t0 = new Date("2026-11-26T12:00:00Z");
const at = (s: number) => new Date(t0.getTime() + s * 1000);
const busy = { name: "jp-01", rps: 0.05, errorRatio: 0, p99Ms: 12.34 };
const quiet = { name: "jp-01", rps: 0, errorRatio: 0, p99Ms: undefined };

describe("nextTraffic", () => {
  test("first observation is written, with per-minute rate and last seen", () => {
    const d = nextTraffic(undefined, busy, t0, policy);
    expect(d).toMatchObject({ write: true, why: "first" });
    expect(d.next).toEqual({ state: "Active", requestsPerMinute: 3, errorRatio: 0, failing: false, p99Ms: 12.3, lastSeen: "2026-11-26T12:00:00Z", observedAt: "2026-11-26T12:00:00Z" });
  });

  test("steady traffic is rewritten at most once per interval", () => {
    let prev: TrafficStatus = nextTraffic(undefined, busy, t0, policy).next;
    let writes = 0;
    for (let s = 30; s <= 3600; s += 30) {
      const d = nextTraffic(prev, { ...busy, rps: 0.05 + (s % 60) / 1000 }, at(s), policy);
      if (d.write) { writes++; prev = d.next; }
    }
    // one an interval (5 to 6 min for this name) for an hour, not one a poll (120)
    expect(writes).toBeGreaterThanOrEqual(10);
    expect(writes).toBeLessThanOrEqual(12);
  });

  test("going silent is written at once and keeps the last time traffic was seen", () => {
    const prev = nextTraffic(undefined, busy, t0, policy).next;
    const d = nextTraffic(prev, quiet, at(60), policy);
    expect(d).toMatchObject({ write: true, why: "state" });
    expect(d.next).toMatchObject({ state: "Silent", requestsPerMinute: 0, lastSeen: "2026-11-26T12:00:00Z" });
    expect(d.next).not.toHaveProperty("p99Ms");
  });

  test("crossing the error threshold is written promptly, and recovery needs half the threshold", () => {
    const prev = nextTraffic(undefined, busy, at(-120), policy).next;
    const up = nextTraffic(prev, { ...busy, errorRatio: 0.2 }, t0, policy);
    expect(up).toMatchObject({ write: true, why: "errors" });
    expect(nextTraffic(up.next, { ...busy, errorRatio: 0.008 }, at(90), policy).write).toBe(false); // under 1 %, not under 0.5 %
    expect(nextTraffic(up.next, { ...busy, errorRatio: 0.001 }, at(90), policy)).toMatchObject({ write: true, why: "errors" });
  });

  test("a recovering node stays failing through refresh writes until it is under half the threshold", () => {
    const prev = nextTraffic(undefined, busy, at(-600), policy).next;
    const up = nextTraffic(prev, { ...busy, errorRatio: 0.2 }, at(-400), policy);
    expect(up.next.failing).toBe(true);
    // Between the half and the threshold: a refresh writes the lower ratio, and the node is
    // still failing; the next poll must not read "not failing" back from that ratio.
    const refreshed = nextTraffic(up.next, { ...busy, errorRatio: 0.008 }, t0, policy);
    expect(refreshed).toMatchObject({ write: true, why: "refresh", next: { failing: true, errorRatio: 0.008 } });
    expect(nextTraffic(refreshed.next, { ...busy, errorRatio: 0.008 }, at(90), policy).write).toBe(false);
    expect(nextTraffic(refreshed.next, { ...busy, errorRatio: 0.001 }, at(90), policy)).toMatchObject({ write: true, why: "errors", next: { failing: false } });
  });

  test("even state changes wait a minute after the node's last write", () => {
    const prev = nextTraffic(undefined, busy, t0, policy).next;
    expect(nextTraffic(prev, quiet, at(30), policy).write).toBe(false);
    expect(nextTraffic(prev, quiet, at(60), policy)).toMatchObject({ write: true, why: "state" });
  });

  test("a node flapping every poll is written at most once a minute", () => {
    let prev: TrafficStatus = nextTraffic(undefined, busy, t0, policy).next;
    let writes = 0;
    for (let s = 20; s <= 3600; s += 20) {
      const d = nextTraffic(prev, (s / 20) % 2 === 0 ? busy : quiet, at(s), policy);
      if (d.write) { writes++; prev = d.next; }
    }
    expect(writes).toBeLessThanOrEqual(60);
  });

  test("refreshes of many nodes started together spread over a fifth of the interval", () => {
    const due = Array.from({ length: 1000 }, (_, i) => {
      const t = { name: `n-${i}`, rps: 1, errorRatio: 0, p99Ms: 1 };
      const prev = nextTraffic(undefined, t, t0, policy).next;
      for (let s = 0; s <= 400; s += 10) if (nextTraffic(prev, t, at(s), policy).write) return s;
      return -1;
    });
    expect(Math.min(...due)).toBeGreaterThanOrEqual(300);
    expect(Math.max(...due)).toBeLessThanOrEqual(360);
    expect(new Set(due).size).toBeGreaterThan(5);
  });

  test("a node never seen has no lastSeen", () => {
    expect(nextTraffic(undefined, quiet, t0, policy).next).not.toHaveProperty("lastSeen");
  });
});

describe("selectWrites: the fleet-wide budget", () => {
  const due = (node: string, why: "first" | "state" | "errors" | "refresh", lastWrittenMs?: number): DueWrite<string> => ({
    node,
    decision: { next: nextTraffic(undefined, busy, t0, policy).next, write: true, why },
    ...(lastWrittenMs !== undefined ? { lastWrittenMs } : {}),
  });

  test("state changes first, then errors, first numbers, refreshes; oldest write first within a reason", () => {
    const all = [due("r-new", "refresh", 300), due("r-old", "refresh", 100), due("f", "first"), due("e", "errors", 50), due("s", "state", 200)];
    expect(selectWrites(all, 10).map((d) => d.node)).toEqual(["s", "e", "f", "r-old", "r-new"]);
    expect(selectWrites(all, 2).map((d) => d.node)).toEqual(["s", "e"]);
  });

  test("100 nodes gone silent among 10,000 refreshes all fit in the first poll's budget (5/s over 20 s)", () => {
    const all = [
      ...Array.from({ length: 10_000 }, (_, i) => due(`r-${i}`, "refresh", i)),
      ...Array.from({ length: 100 }, (_, i) => due(`silent-${i}`, "state", 1_000_000 + i)),
    ];
    const chosen = selectWrites(all, 5 * 20);
    expect(chosen).toHaveLength(100);
    expect(chosen.every((d) => d.decision.why === "state")).toBe(true);
  });

  test("a budget under one write, or none due, writes nothing", () => {
    expect(selectWrites([due("a", "state")], 0.5)).toEqual([]);
    expect(selectWrites([], 100)).toEqual([]);
  });
});

describe("looksLikeOutage: Prometheus answering nothing is not a silent fleet", () => {
  const active = nextTraffic(undefined, busy, t0, policy).next;
  const silent = nextTraffic(undefined, quiet, t0, policy).next;
  const empty = { edge: { rps: 0 }, unknownRps: 0, nodes: [{ rps: 0 }, { rps: 0 }] };

  test("no edge at all while a node was Active: an outage, nothing is written", () => {
    expect(looksLikeOutage(empty, [silent, active, undefined])).toBe(true);
  });

  test("any traffic left (a node, or only unknown callers) is news, not an outage", () => {
    expect(looksLikeOutage({ ...empty, nodes: [{ rps: 0.1 }] }, [active])).toBe(false);
    expect(looksLikeOutage({ ...empty, unknownRps: 0.2 }, [active])).toBe(false);
  });

  test("a fleet that was already silent, or never written, stays a plain answer", () => {
    expect(looksLikeOutage(empty, [silent, undefined])).toBe(false);
    expect(looksLikeOutage(empty, [])).toBe(false);
  });
});
