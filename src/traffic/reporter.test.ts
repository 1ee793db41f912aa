import { pino } from "pino";
import { FakeClock } from "../controller/clock.js";
import type { XrayrNode } from "../api/v1alpha1/types.js";
import type { PrometheusClient, Sample } from "./prometheus.js";
import { TrafficReporter } from "./reporter.js";
import type { TrafficStatus } from "./status.js";

// The loop around the pure policy: what one poll writes for a given Prometheus answer. Time is
// a FakeClock (fault grace, spacing) and a fixed wall clock for observedAt.
const edge = (source: string, rps: number): Sample => ({
  metric: { source_workload: source, source_canonical_service: "xrayr", destination_workload: "xboard", response_code: "200" },
  value: rps,
});

function node(name: string, traffic?: TrafficStatus): XrayrNode {
  return {
    metadata: { name, namespace: "airport-prod", uid: `uid-${name}` },
    spec: { address: "45.76.1.1", country: "jp" },
    status: { conditions: [{ type: "Ready", status: "True", reason: "Reconciled", message: "", lastTransitionTime: "2026-12-01T00:00:00Z" }], ...(traffic !== undefined ? { traffic } : {}) },
  };
}

function setup(answer: () => Sample[] | Error) {
  const clock = new FakeClock(1_000_000);
  const written: string[] = [];
  const faults: string[] = [];
  const active: TrafficStatus = { state: "Active", requestsPerMinute: 6, errorRatio: 0, observedAt: "2026-12-01T11:50:00Z", lastSeen: "2026-12-01T11:50:00Z" };
  const nodes = [node("jp-01", active), node("jp-02", active)];
  const prometheus = {
    query: (promql: string): Promise<Sample[]> => {
      const a = answer();
      if (a instanceof Error) return Promise.reject(a);
      return Promise.resolve(promql.startsWith("histogram_quantile") ? [] : a);
    },
  } as unknown as PrometheusClient; // only query() is used by readPanel
  const reporter = new TrafficReporter({
    prometheus,
    scope: { namespace: "airport-prod", destination: "xboard", window: "2m" },
    app: "xrayr",
    nodes: { list: () => nodes },
    write: (n, t) => { written.push(`${n.metadata.name ?? ""} ${t.state}`); return Promise.resolve(); },
    policy: { minIntervalMs: 300_000, errorThreshold: 0.01 },
    pollMs: 20_000,
    maxWritesPerSecond: 1000,
    log: pino({ level: "silent" }),
    onPrometheusFault: (why) => faults.push(why),
    now: () => new Date("2026-12-01T12:00:00Z"),
    clock,
  });
  // Writes are spaced on the clock: a poll finishes as the fake clock moves on.
  const poll = async (): Promise<number> => {
    const done = reporter.pollOnce();
    for (let i = 0; i < 5; i++) await clock.advance(10);
    return done;
  };
  return { clock, written, faults, reporter, poll };
}

describe("TrafficReporter", () => {
  test("a node that stopped among active ones is written Silent", async () => {
    const { written, faults, poll } = setup(() => [edge("jp-02", 0.1)]);
    await poll();
    expect(written).toContain("jp-01 Silent");
    expect(faults).toEqual([]);
  });

  test("no edge at all while nodes were active writes nothing, as a Prometheus fault, until the grace period is over", async () => {
    const { clock, written, faults, poll } = setup(() => []);
    expect(await poll()).toBe(0);
    await clock.advance(4 * 60_000);
    expect(await poll()).toBe(0);
    expect(written).toEqual([]);
    expect(faults).toEqual(["empty", "empty"]);
    await clock.advance(60_000);
    expect(await poll()).toBe(2);
    expect(written.sort()).toEqual(["jp-01 Silent", "jp-02 Silent"]);
  });

  test("an unreachable Prometheus is counted and writes nothing", async () => {
    const { written, faults, reporter } = setup(() => new Error("connect ECONNREFUSED"));
    const stop = new AbortController();
    const run = reporter.run(stop.signal);
    await new Promise((r) => setImmediate(r));
    stop.abort();
    await run;
    expect(written).toEqual([]);
    expect(faults).toEqual(["unreachable"]);
  });
});
