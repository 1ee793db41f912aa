// PromQL for the XrayR -> Xboard edge, written the way Kiali's graph reads Istio's standard
// metrics (graph/telemetry/istio/istio.go): inbound series reported by the destination's
// sidecar, grouped on the source workload. Pure string builders, and the only place PromQL is
// written: `xrayr-mesh verify`, the operator's status.traffic and the Grafana dashboard
// (dashboard.ts) all call these, so the dashboard cannot drift from what verify reports; the
// recording rules they read (RECORDING_RULES, shipped in deploy/istio/observability) come from
// here too.
//
// Everything here reads recorded series, never the raw per-pod istio_* series: at 10,000 VPS
// and 3 Xboard pods a raw query touches every VPS x pod x code series (and for a percentile,
// every bucket of each) on every poll; the recorded ones are already summed across Xboard's pods.
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

/** The edge of the fleet: an EdgeScope plus the callers' app (the entries' `app` label, Istio's source_canonical_service). */
export interface FleetScope extends EdgeScope {
  app: string;
  /** How far back a node counts as "seen" for silent nodes and last seen (the alert's 6h). */
  lookback: string;
}

/**
 * Response codes that are not errors in Kiali's sense (1xx-3xx). Everything else is one: no
 * response (0), 4xx, 5xx. Used by the PromQL below and by panel.ts's isError, so verify's
 * error ratio and the dashboard's are the same definition.
 */
export const OK_RESPONSE_CODE = "[1-9][0-9]?|[1-3][0-9][0-9]";

// Label values go into PromQL string literals; escape as PromQL's Go-style strings require.
function lit(v: string): string {
  return JSON.stringify(v);
}

function inbound(scope: EdgeScope): string {
  return `reporter=~"waypoint|destination",destination_workload_namespace=${lit(scope.namespace)},destination_workload=${lit(scope.destination)}`;
}

function fromApp(scope: FleetScope): string {
  return `${inbound(scope)},source_canonical_service=${lit(scope.app)}`;
}

// ---- recording rules ---------------------------------------------------------------------------
//
// Three series families, all summed across Xboard's pods (no pod, instance, node or other
// per-pod label survives) and across everything the project never reads:
//   REQUESTS       request rate per (source, destination workload, response code and flags):
//                  Kiali's edge grouping minus the destination service labels, which are
//                  constant per workload. One series per VPS and code.
//   EDGE_BUCKETS   the duration histogram's bucket rates per (caller app, destination workload):
//                  the edge's percentiles (the p99 alert, verify's and the dashboard's edge p99).
//                  A few series in all.
//   NODE_P99       each VPS's p99 over 5 minutes (NODE_P99_WINDOW). Recording the per-VPS bucket
//                  rates instead would keep 10 series per VPS (one per bound) for a reader to
//                  compute the same number; a quantile cannot be averaged over time, so readers
//                  get the 5-minute p99 whatever their window: at XrayR's 3 calls a minute, fewer
//                  calls than that make no p99 worth reading anyway.
//
// Why this shape is right:
//   - rate() before sum(): rate() undoes each raw series' counter resets (an Xboard pod
//     restarting, a sidecar evicting an idle series and re-creating it from zero) one series at a
//     time. Summing the raw counters first would turn one pod's reset into a drop of the sum,
//     which rate() would then read as a reset of the whole sum: a spike as large as the fleet.
//   - the rate window is 4 scrape intervals (1m at the shipped 15 s): enough samples for rate()
//     and still short, so a silent node shows within minutes.
//   - the rule runs every half window (30s), so consecutive windows share samples and every
//     counter step (between two scrapes) lies inside at least one window; with back-to-back
//     windows a step between the last sample of one and the first of the next is in neither,
//     and a VPS calling once a minute would read 0 in about one window of four. rate()
//     extrapolates each window's sampled span to the whole window, and a step lies in one or
//     two windows alternately, so over time each request is counted once (on average).
//   - readers turn the recorded rate into a rate over their own window with avg_over_time(): the
//     average of rates over [w] is the rate over [w], to the rule's resolution; a window shorter
//     than two rule intervals holds fewer than two points and reads noisy. Bucket rates average
//     the same way, so the edge's percentiles follow the reader's window.
// The lab (test/lab/mesh-up.sh) runs these rules with window and interval scaled to its faster
// scrape interval, so the same shape is exercised in seconds.

/** The rate window of the recording rules: 4 x the shipped 15 s scrape interval. */
export const RECORD_WINDOW = "1m";
/** How often the recording rules run: half their window. */
export const RECORD_INTERVAL = "30s";
export const RECORDING_GROUP = "xrayr-mesh-recording";

/** Recorded per-second request rate by source, destination workload and outcome. */
export const RECORDED_REQUESTS = `xrayr_mesh:istio_requests:rate${RECORD_WINDOW}`;
/** Recorded per-second rate of each duration bucket by caller app and destination workload. */
export const RECORDED_EDGE_BUCKETS = `xrayr_mesh:istio_request_duration_milliseconds_bucket:rate${RECORD_WINDOW}`;
/** The window of each VPS's recorded p99: five XrayR periods (15 calls). */
export const NODE_P99_WINDOW = "5m";
/** Recorded p99 request duration (ms) of each source workload over NODE_P99_WINDOW. */
export const RECORDED_NODE_P99 = `xrayr_mesh:istio_request_duration_milliseconds:p99_${NODE_P99_WINDOW}`;

const INBOUND_REPORTERS = 'reporter=~"waypoint|destination"';
const REQUEST_LABELS =
  "reporter,source_cluster,source_workload_namespace,source_workload,source_canonical_service,source_canonical_revision," +
  "destination_workload_namespace,destination_workload,request_protocol,response_code,grpc_response_status,response_flags";
const EDGE_BUCKET_LABELS = "reporter,source_workload_namespace,source_canonical_service,destination_workload_namespace,destination_workload,le";
const NODE_P99_LABELS = "reporter,source_workload_namespace,source_workload,source_canonical_service,destination_workload_namespace,destination_workload";

export interface RecordingRule {
  record: string;
  expr: string;
}

/** The recording rules every query below reads (deploy/istio/observability ships them). */
export const RECORDING_RULES: readonly RecordingRule[] = [
  { record: RECORDED_REQUESTS, expr: `sum by (${REQUEST_LABELS}) (rate(istio_requests_total{${INBOUND_REPORTERS}}[${RECORD_WINDOW}]))` },
  {
    record: RECORDED_EDGE_BUCKETS,
    expr: `sum by (${EDGE_BUCKET_LABELS}) (rate(istio_request_duration_milliseconds_bucket{${INBOUND_REPORTERS}}[${RECORD_WINDOW}]))`,
  },
  {
    record: RECORDED_NODE_P99,
    expr: `histogram_quantile(0.99, sum by (${NODE_P99_LABELS},le) (rate(istio_request_duration_milliseconds_bucket{${INBOUND_REPORTERS}}[${NODE_P99_WINDOW}])))`,
  },
];

/** Labels each recorded family keeps: a query may select and group on these only. */
export const RECORDED_LABELS: Readonly<Record<string, readonly string[]>> = {
  [RECORDED_REQUESTS]: REQUEST_LABELS.split(","),
  [RECORDED_EDGE_BUCKETS]: EDGE_BUCKET_LABELS.split(","),
  [RECORDED_NODE_P99]: NODE_P99_LABELS.split(","),
};

// ---- the edge ----------------------------------------------------------------------------------

/** Requests per second over the window, from the recorded rate. */
const requests = (selector: string, window: string): string => `avg_over_time(${RECORDED_REQUESTS}{${selector}}[${window}])`;

function sumBy(by: string, expr: string): string {
  return by === "" ? `sum(${expr})` : `sum by (${by}) (${expr})`;
}

// A group without errors has no error series at all; `or ... * 0` gives it a 0 instead of no row.
function errorRatio(selector: string, window: string, by: string): string {
  const all = sumBy(by, requests(selector, window));
  return `(${sumBy(by, requests(`${selector},response_code!~${lit(OK_RESPONSE_CODE)}`, window))} or ${all} * 0) / ${all}`;
}

/**
 * Kiali's edge grouping, narrowed to the Xboard destination, over the recorded rates: every
 * source that calls it, by response code and flags (Kiali runs the same grouping on the raw
 * istio_requests_total; the e2e checks both agree).
 */
export function edgeQuery(scope: EdgeScope): string {
  const by =
    "source_cluster,source_workload_namespace,source_workload,source_canonical_service,source_canonical_revision," +
    "destination_workload,request_protocol,response_code,grpc_response_status,response_flags";
  return `sum(${requests(inbound(scope), scope.window)}) by (${by}) > 0`;
}

/**
 * p99 latency in ms of the callers whose app is `app` (Kiali's app edge, `unknown` callers left
 * out): per source workload (label "source_workload"; over the recorded NODE_P99_WINDOW, not the
 * scope's window), or for the whole edge (over the scope's window).
 */
export function p99Query(scope: EdgeScope, per: { app: string; bySource: boolean }): string {
  const selector = `${inbound(scope)},source_canonical_service=${lit(per.app)}`;
  if (per.bySource) return `max by (source_workload) (${RECORDED_NODE_P99}{${selector}})`;
  return `histogram_quantile(0.99, sum(avg_over_time(${RECORDED_EDGE_BUCKETS}{${selector}}[${scope.window}])) by (le))`;
}

/** The app edge's request rate, req/s (verify's edge.rps). */
export function edgeRateQuery(scope: FleetScope): string {
  return sumBy("", requests(fromApp(scope), scope.window));
}

/** The app edge's error ratio, 0..1 (verify's edge.errorRatio). */
export function edgeErrorRatioQuery(scope: FleetScope): string {
  return errorRatio(fromApp(scope), scope.window, "");
}

/** Requests per minute by node (status.traffic's requestsPerMinute, verify's rps x 60). */
export function nodeRequestsPerMinuteQuery(scope: FleetScope): string {
  return `${sumBy("source_workload", requests(fromApp(scope), scope.window))} * 60`;
}

/** Error ratio by node, 0..1. */
export function nodeErrorRatioQuery(scope: FleetScope): string {
  return errorRatio(fromApp(scope), scope.window, "source_workload");
}

const active = (scope: FleetScope): string => `${sumBy("source_workload", requests(fromApp(scope), scope.window))} > 0`;

// The last step of a subquery over the lookback at which the node had traffic in a window: to
// one window's resolution, which is why nodes active now are not read from it.
const sinceLastActive = (scope: FleetScope): string =>
  `time() - max by (source_workload) (max_over_time(timestamp(${active(scope)})[${scope.lookback}:${scope.window}]))`;

/**
 * Seconds since each node seen within the lookback last had traffic: 0 while it has traffic in
 * the window (as status.traffic's lastSeen is the time of the read then).
 */
export function nodeLastSeenQuery(scope: FleetScope): string {
  return `(${active(scope)}) * 0 or ${sinceLastActive(scope)}`;
}

/**
 * Nodes seen within the lookback that sent nothing in the last window (verify's silent list,
 * for the nodes Prometheus has seen), with the seconds since they were last seen.
 */
export function silentNodesQuery(scope: FleetScope): string {
  return `${sinceLastActive(scope)} unless on (source_workload) (${active(scope)})`;
}

/** Requests per second into Xboard from callers its sidecar could not name (verify's unknownRps). */
export function unknownSourcesQuery(scope: EdgeScope): string {
  return sumBy("", requests(`${inbound(scope)},source_workload="unknown"`, scope.window));
}

// ---- the operator's own metrics (src/observability/metrics.ts) -------------------------------

export interface OperatorScope {
  window: string;
}

// Only the leader reconciles; a standby's queue holds every key it has seen and its caches count
// the same entries again. Keep the series of the replica whose xrayr_mesh_leader is 1.
function ofLeader(metric: string): string {
  return `${metric} and on (instance) (xrayr_mesh_leader == 1)`;
}

/** Reconciles per second by result (success, requeue, error). */
export function reconcileRateQuery(scope: OperatorScope): string {
  return sumBy("result", `rate(xrayr_mesh_reconcile_total[${scope.window}])`);
}

/** Keys waiting in the leader's work queue. */
export function queueDepthQuery(): string {
  return sumBy("", ofLeader("xrayr_mesh_workqueue_depth"));
}

/** XrayrNodes the leader refuses because an older node holds their address. */
export function addressConflictsQuery(): string {
  return sumBy("", ofLeader("xrayr_mesh_address_conflicts"));
}

/** Replicas holding the leader lease: 1 when healthy. */
export function leadersQuery(): string {
  return sumBy("", "xrayr_mesh_leader");
}

/** Write requests to the API server per second, by verb, resource and outcome. */
export function kubeWriteRateQuery(scope: OperatorScope): string {
  return sumBy("verb,resource,outcome", `rate(xrayr_mesh_kube_writes_total[${scope.window}])`);
}

/** WorkloadEntries the leader manages, by country. */
export function entriesByCountryQuery(): string {
  return sumBy("country", ofLeader("xrayr_mesh_workload_entries"));
}

/**
 * Each registered node's country, keyed like Istio's per-node series (source_workload), from the
 * operator's xrayr_mesh_node_info: Istio's metrics do not carry the entry's labels. max: the
 * standby replica reports the same nodes.
 */
export function nodeCountryQuery(): string {
  // label_join, not label_replace: its "$1" would read as a template variable to Grafana.
  return `label_join(max by (node, country) (xrayr_mesh_node_info), "source_workload", "", "node")`;
}
