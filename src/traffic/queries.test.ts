import { edgeQuery, edgeErrorRatioQuery, nodeErrorRatioQuery, OK_RESPONSE_CODE, p99Query, silentNodesQuery, type FleetScope } from "./queries.js";

const scope: FleetScope = { namespace: "airport-prod", destination: "xboard", app: "xrayr", window: "5m", lookback: "6h" };
const inbound = 'reporter=~"waypoint|destination",destination_workload_namespace="airport-prod",destination_workload="xboard"';

describe("the PromQL verify, status.traffic and the dashboard share", () => {
  test("Kiali's edge query and the p99 queries read what verify has always read", () => {
    expect(edgeQuery(scope)).toBe(
      `sum(rate(istio_requests_total{${inbound}}[5m])) by (source_cluster,source_workload_namespace,source_workload,source_canonical_service,source_canonical_revision,` +
        "destination_workload,request_protocol,response_code,grpc_response_status,response_flags) > 0",
    );
    expect(p99Query(scope, { app: "xrayr", bySource: false })).toBe(
      `histogram_quantile(0.99, sum(rate(istio_request_duration_milliseconds_bucket{${inbound},source_canonical_service="xrayr"}[5m])) by (le))`,
    );
    expect(p99Query(scope, { app: "xrayr", bySource: true })).toContain("by (le,source_workload))");
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
    expect(silentNodesQuery(scope)).toMatch(/ unless on \(source_workload\) \(sum by \(source_workload\) \(rate\(.*\[5m\]\)\) > 0\)$/);
  });
});
