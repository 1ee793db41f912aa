// PromQL for the XrayR -> Xboard edge, written the way Kiali's graph reads Istio's standard
// metrics (graph/telemetry/istio/istio.go): inbound series reported by the destination's
// sidecar, grouped on the source workload. Pure string builders.

/** A PromQL duration as the rate windows here use it: 90s, 2m, 1h, 1d. */
export const PROMQL_DURATION = /^\d+[smhd]$/;

export interface EdgeScope {
  /** Namespace of Xboard and of the entries (source_workload_namespace of known callers). */
  namespace: string;
  /** destination_workload of the Xboard pods. */
  destination: string;
  /** Rate window, a PromQL duration such as "5m". */
  window: string;
}

// Label values go into PromQL string literals; escape as PromQL's Go-style strings require.
function lit(v: string): string {
  return JSON.stringify(v);
}

function inbound(scope: EdgeScope): string {
  return `reporter=~"waypoint|destination",destination_workload_namespace=${lit(scope.namespace)},destination_workload=${lit(scope.destination)}`;
}

/** Kiali's edge query, narrowed to the Xboard destination: every source that calls it. */
export function edgeQuery(scope: EdgeScope): string {
  const by =
    "source_cluster,source_workload_namespace,source_workload,source_canonical_service,source_canonical_revision," +
    "destination_workload,request_protocol,response_code,grpc_response_status,response_flags";
  return `sum(rate(istio_requests_total{${inbound(scope)}}[${scope.window}])) by (${by}) > 0`;
}

/**
 * p99 latency in ms: per source workload (label "source_workload"), or for the whole edge from
 * the callers whose app is `app` (Kiali's app edge), leaving `unknown` callers out.
 */
export function p99Query(scope: EdgeScope, per: { source: true } | { app: string }): string {
  const select = "app" in per ? `${inbound(scope)},source_canonical_service=${lit(per.app)}` : inbound(scope);
  const by = "app" in per ? "le" : "le,source_workload";
  return `histogram_quantile(0.99, sum(rate(istio_request_duration_milliseconds_bucket{${select}}[${scope.window}])) by (${by}))`;
}
