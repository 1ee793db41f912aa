import {
  edgeQuery,
  edgeErrorRatioQuery,
  nodeErrorRatioQuery,
  OK_RESPONSE_CODE,
  p99Query,
  RECORDED_EDGE_BUCKETS,
  RECORDED_LABELS,
  RECORDED_NODE_P99,
  RECORDED_REQUESTS,
  RECORDING_RULES,
  silentNodesQuery,
  nodeLastSeenQuery,
  nodeRequestsPerMinuteQuery,
  unknownSourcesQuery,
  edgeRateQuery,
  type FleetScope,
} from "./queries.js";

const scope: FleetScope = { namespace: "airport-prod", destination: "xboard", app: "xrayr", window: "5m", lookback: "6h" };
const inbound = 'reporter=~"waypoint|destination",destination_workload_namespace="airport-prod",destination_workload="xboard"';

const all = [
  edgeQuery(scope),
  p99Query(scope, { app: "xrayr", bySource: true }),
  p99Query(scope, { app: "xrayr", bySource: false }),
  edgeRateQuery(scope),
  edgeErrorRatioQuery(scope),
  nodeRequestsPerMinuteQuery(scope),
  nodeErrorRatioQuery(scope),
  nodeLastSeenQuery(scope),
  silentNodesQuery(scope),
  unknownSourcesQuery(scope),
];

describe("the PromQL verify, status.traffic and the dashboard share", () => {
  test("Kiali's edge grouping and the p99 queries, over the recorded series", () => {
    expect(edgeQuery(scope)).toBe(
      `sum(avg_over_time(${RECORDED_REQUESTS}{${inbound}}[5m])) by (source_cluster,source_workload_namespace,source_workload,source_canonical_service,source_canonical_revision,` +
        "destination_workload,request_protocol,response_code,grpc_response_status,response_flags) > 0",
    );
    expect(p99Query(scope, { app: "xrayr", bySource: false })).toBe(
      `histogram_quantile(0.99, sum(avg_over_time(${RECORDED_EDGE_BUCKETS}{${inbound},source_canonical_service="xrayr"}[5m])) by (le))`,
    );
    expect(p99Query(scope, { app: "xrayr", bySource: true })).toBe(`max by (source_workload) (${RECORDED_NODE_P99}{${inbound},source_canonical_service="xrayr"})`);
  });

  test("no query reads a raw istio_* series; each selects and groups only on labels its recorded family keeps", () => {
    for (const q of all) {
      expect({ q, raw: /(^|[^:_a-z])istio_[a-z_]+\{/.test(q) }).toEqual({ q, raw: false });
      for (const m of q.matchAll(/(xrayr_mesh:[a-z_:0-9]+)\{([^}]*)\}/g)) {
        const kept = RECORDED_LABELS[m[1] ?? ""];
        expect(kept).toBeDefined();
        const selected = [...(m[2] ?? "").matchAll(/([a-z_]+)(=~|!~|!=|=)/g)].map((x) => x[1] ?? "");
        expect(selected.filter((l) => !kept?.includes(l))).toEqual([]);
      }
      const families = [...q.matchAll(/(xrayr_mesh:[a-z_:0-9]+)\{/g)].map((m) => m[1] ?? "");
      for (const m of q.matchAll(/by \(([^)]*)\)/g)) {
        const grouped = (m[1] ?? "").split(",").filter((l) => l !== "");
        for (const family of families) expect({ q, missing: grouped.filter((l) => !(RECORDED_LABELS[family] ?? []).includes(l)) }).toEqual({ q, missing: [] });
      }
    }
  });

  test("the recording rules take rate() of each raw series before summing across Xboard's pods", () => {
    expect(RECORDING_RULES.map((r) => r.record)).toEqual([RECORDED_REQUESTS, RECORDED_EDGE_BUCKETS, RECORDED_NODE_P99]);
    for (const r of RECORDING_RULES) {
      expect(r.expr).toMatch(/^(histogram_quantile\(0\.99, )?sum by \([a-z_,]+\) \(rate\(istio_[a-z_]+\{reporter=~"waypoint\|destination"\}\[(1m|5m)\]\)\)\)?$/);
      for (const perPod of ["pod", "instance", "node", "namespace", "app", "version"]) expect(RECORDED_LABELS[r.record]).not.toContain(perPod);
    }
    // Per VPS: one series per code for rates, one for the p99; the buckets only per caller app.
    expect(RECORDED_LABELS[RECORDED_EDGE_BUCKETS]).not.toContain("source_workload");
  });

  test("error ratios count every code but 1xx-3xx, and give error-free groups a 0", () => {
    const ok = new RegExp(`^(?:${OK_RESPONSE_CODE})$`);
    expect(["100", "200", "204", "304", "399"].every((c) => ok.test(c))).toBe(true);
    expect(["0", "400", "404", "499", "500", "503", "600", ""].some((c) => ok.test(c))).toBe(false);
    expect(edgeErrorRatioQuery(scope)).toContain(`response_code!~${JSON.stringify(OK_RESPONSE_CODE)}`);
    expect(nodeErrorRatioQuery(scope)).toMatch(/^\(sum by \(source_workload\) \(.*\) or sum by \(source_workload\) \(.*\) \* 0\) \/ sum by \(source_workload\) /);
  });

  test("label values are PromQL string literals", () => {
    expect(edgeQuery({ ...scope, namespace: 'a"b' })).toContain('destination_workload_namespace="a\\"b"');
  });

  test("silent nodes: seen within the lookback, nothing in the window", () => {
    expect(silentNodesQuery(scope)).toContain("[6h:5m]");
    expect(silentNodesQuery(scope)).toMatch(/ unless on \(source_workload\) \(sum by \(source_workload\) \(avg_over_time\(.*\[5m\]\)\) > 0\)$/);
  });
});
