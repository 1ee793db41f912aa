// The Grafana dashboard of the fleet (deploy/istio/observability/xrayr-mesh-dashboard.json and its
// ConfigMap), built with Grafana's foundation SDK. Every query comes from queries.ts with the
// dashboard's template variables as the scope, so a panel shows what `xrayr-mesh verify` reports.
// `make generate` rewrites the files; `make verify` and test/unit/generated.test.ts fail when they differ from this.
// Not part of the operator's build (tsconfig.build.json): the SDK is a devDependency.
import {
  CustomVariableBuilder,
  DashboardBuilder,
  DatasourceVariableBuilder,
  IntervalVariableBuilder,
  RowBuilder,
  TextBoxVariableBuilder,
  ThresholdsConfigBuilder,
  ThresholdsMode,
  type Dashboard,
} from "@grafana/grafana-foundation-sdk/dashboard";
import { TableSortByFieldStateBuilder } from "@grafana/grafana-foundation-sdk/common";
import { DataqueryBuilder, PromQueryFormat } from "@grafana/grafana-foundation-sdk/prometheus";
import * as stat from "@grafana/grafana-foundation-sdk/stat";
import * as table from "@grafana/grafana-foundation-sdk/table";
import * as timeseries from "@grafana/grafana-foundation-sdk/timeseries";
import { stringify } from "yaml";
import {
  addressConflictsQuery,
  edgeErrorRatioQuery,
  edgeRateQuery,
  entriesByCountryQuery,
  kubeWriteRateQuery,
  leadersQuery,
  nodeErrorRatioQuery,
  nodeCountryQuery,
  nodeLastSeenQuery,
  nodeRequestsPerMinuteQuery,
  p99Query,
  queueDepthQuery,
  reconcileRateQuery,
  silentNodesQuery,
  unknownSourcesQuery,
  type FleetScope,
  type OperatorScope,
} from "./queries.js";

export const DASHBOARD_FILE = "deploy/istio/observability/xrayr-mesh-dashboard.json";
export const DASHBOARD_CONFIGMAP_FILE = "deploy/istio/observability/xrayr-mesh-dashboard.configmap.yaml";
export const DASHBOARD_UID = "xrayr-mesh";

/** The template variables and their defaults: production's namespace, workloads and windows. */
export const DASHBOARD_VARIABLES = {
  namespace: "airport-prod",
  xboard: "xboard",
  app: "xrayr",
  window: "5m",
  lookback: "6h",
} as const;

const fleet: FleetScope = { namespace: "$namespace", destination: "$xboard", app: "$app", window: "$window", lookback: "$lookback" };
const operator: OperatorScope = { window: "$window" };
const datasource = { type: "prometheus", uid: "$datasource" };

function query(refId: string, expr: string, opts: { legend?: string; instant?: boolean } = {}): DataqueryBuilder {
  const q = new DataqueryBuilder().refId(refId).datasource(datasource).expr(expr);
  if (opts.legend !== undefined) q.legendFormat(opts.legend);
  // Tables read one value per row: an instant query in table format.
  if (opts.instant === true) q.instant().format(PromQueryFormat.Table);
  else q.range();
  return q;
}

const thresholds = (steps: [number | null, string][]): ThresholdsConfigBuilder =>
  new ThresholdsConfigBuilder().mode(ThresholdsMode.Absolute).steps(steps.map(([value, color]) => ({ value, color })));

function graph(title: string, description: string, unit: string, ...targets: DataqueryBuilder[]): timeseries.PanelBuilder {
  const p = new timeseries.PanelBuilder().title(title).description(description).datasource(datasource).unit(unit).height(8).span(8);
  for (const t of targets) p.withTarget(t);
  return p;
}

function single(title: string, description: string, target: DataqueryBuilder, steps: [number | null, string][]): stat.PanelBuilder {
  return new stat.PanelBuilder().title(title).description(description).datasource(datasource).withTarget(target).thresholds(thresholds(steps)).noValue("0").height(4).span(6);
}

// The SDK marks the classic dashboard (schemaVersion 4x) deprecated in favour of dashboardv2, but
// v2 loads only on Grafana 12 with its new-layouts feature; the sidecar and file provisioning of
// the Grafana versions in use read the classic JSON.
// eslint-disable-next-line @typescript-eslint/no-deprecated
export function buildDashboard(): Dashboard {
  const v = DASHBOARD_VARIABLES;
  const option = (value: string) => ({ text: value, value, selected: true });
  // eslint-disable-next-line @typescript-eslint/no-deprecated
  const d = new DashboardBuilder("XrayR -> Xboard (xrayr-mesh)")
    .uid(DASHBOARD_UID)
    .description("Generated from src/traffic/dashboard.ts (make generate); the queries are xrayr-mesh verify's (src/traffic/queries.ts).")
    .tags(["xrayr-mesh", "istio"])
    .time({ from: "now-1h", to: "now" })
    .refresh("30s")
    .editable()
    .withVariable(new DatasourceVariableBuilder("datasource").label("Prometheus").type("prometheus"))
    .withVariable(new TextBoxVariableBuilder("namespace").label("namespace").description("Xboard's and the entries' namespace").defaultValue(v.namespace).current(option(v.namespace)))
    .withVariable(new TextBoxVariableBuilder("xboard").label("Xboard workload").description("destination_workload of Xboard's pods").defaultValue(v.xboard).current(option(v.xboard)))
    .withVariable(new TextBoxVariableBuilder("app").label("XrayR app").description("the entries' app label (WORKLOAD_APP_LABEL)").defaultValue(v.app).current(option(v.app)))
    // XrayR calls once a minute: windows under 2m show healthy nodes as silent now and then.
    .withVariable(new IntervalVariableBuilder("window").label("rate window").values("2m,5m,10m,30m,1h").current(option(v.window)))
    .withVariable(new CustomVariableBuilder("lookback").label("seen within").description("a node counts as registered if it called in this time (the XrayrNodeSilent alert's 6h)").values("1h,6h,24h,7d").current(option(v.lookback)));

  d.withRow(new RowBuilder("XrayR -> Xboard: the edge Kiali draws"))
    .withPanel(graph("Request rate", "Requests per second from callers whose app is $app into $xboard (verify's edge req/s)", "reqps", query("A", edgeRateQuery(fleet), { legend: "$app -> $xboard" })))
    .withPanel(graph("Error %", "No response, 4xx and 5xx over all requests (Kiali's error rate; verify's edge errors)", "percentunit", query("A", edgeErrorRatioQuery(fleet), { legend: "errors" })))
    .withPanel(graph("p99 latency", "99th percentile of the request duration at Xboard's sidecar", "ms", query("A", p99Query(fleet, { app: fleet.app, bySource: false }), { legend: "p99" })));

  d.withRow(new RowBuilder("Per node"))
    .withPanel(
      new table.PanelBuilder()
        .title("Nodes")
        .description(
          "One row per XrayR node calling Xboard (source_workload = the XrayrNode's name), as in verify and kubectl get xn. " +
            "req/min and errors over $window; p99 over the last 5 minutes (recorded per node). " +
            "The country comes from the operator's xrayr_mesh_node_info: Istio's metrics do not carry the entry's labels.",
        )
        .datasource(datasource)
        .withTarget(query("A", nodeRequestsPerMinuteQuery(fleet), { instant: true }))
        .withTarget(query("B", nodeErrorRatioQuery(fleet), { instant: true }))
        .withTarget(query("C", p99Query(fleet, { app: fleet.app, bySource: true }), { instant: true }))
        .withTarget(query("D", nodeLastSeenQuery(fleet), { instant: true }))
        .withTarget(query("E", nodeCountryQuery(), { instant: true }))
        .withTransformation({ id: "merge", options: {} })
        .withTransformation({
          id: "organize",
          options: {
            excludeByName: { Time: true, node: true, "Value #E": true },
            renameByName: { source_workload: "node", "Value #A": "req/min", "Value #B": "errors", "Value #C": "p99", "Value #D": "last seen" },
            indexByName: { source_workload: 0, country: 1 },
          },
        })
        .overrideByName("errors", [{ id: "unit", value: "percentunit" }])
        .overrideByName("p99", [{ id: "unit", value: "ms" }])
        .overrideByName("last seen", [{ id: "unit", value: "s" }])
        .sortBy([new TableSortByFieldStateBuilder().displayName("node")])
        .height(12)
        .span(16),
    )
    .withPanel(
      new table.PanelBuilder()
        .title("Silent nodes")
        .description("Nodes that called within $lookback but not in the last $window (verify's silent nodes; the XrayrNodeSilent alert), with the time since they were last seen")
        .datasource(datasource)
        .withTarget(query("A", silentNodesQuery(fleet), { instant: true }))
        .withTransformation({ id: "organize", options: { excludeByName: { Time: true }, renameByName: { source_workload: "node", Value: "silent for" } } })
        .unit("s")
        .noValue("none")
        .height(12)
        .span(8),
    );

  d.withRow(new RowBuilder("Attribution"))
    .withPanel(
      single(
        "Unknown sources",
        "Requests per second into $xboard that its sidecar could not name: attribution is broken for them (verify exits 1). Run xrayr-mesh doctor.",
        query("A", unknownSourcesQuery(fleet)),
        [
          [null, "green"],
          [0.000001, "red"],
        ],
      ).unit("reqps"),
    );

  d.withRow(new RowBuilder("Operator"))
    .withPanel(graph("Reconciles", "Reconciles per second by result (xrayr_mesh_reconcile_total)", "ops", query("A", reconcileRateQuery(operator), { legend: "{{result}}" })))
    .withPanel(graph("Kube writes", "Write requests to the API server by verb, resource and outcome (xrayr_mesh_kube_writes_total)", "reqps", query("A", kubeWriteRateQuery(operator), { legend: "{{verb}} {{resource}} {{outcome}}" })))
    .withPanel(graph("Entries by country", "WorkloadEntries the leader manages (xrayr_mesh_workload_entries)", "short", query("A", entriesByCountryQuery(), { legend: "{{country}}" })))
    .withPanel(single("Leaders", "Replicas holding the Lease: 1 when healthy, 0 means nothing reconciles", query("A", leadersQuery()), [[null, "red"], [1, "green"], [2, "red"]]))
    .withPanel(single("Queue depth", "Keys waiting in the leader's work queue", query("A", queueDepthQuery()), [[null, "green"], [100, "orange"]]))
    .withPanel(single("Address conflicts", "XrayrNodes refused because an older node holds their address (Ready=False, AddressConflict)", query("A", addressConflictsQuery()), [[null, "green"], [1, "orange"]]));

  return d.build();
}

/** The dashboard file as committed: stable key order from the builder, two-space JSON. */
export function renderDashboardJson(): string {
  return `${JSON.stringify(buildDashboard(), null, 2)}\n`;
}

/** The same dashboard as a ConfigMap that Grafana's dashboard sidecar loads (label grafana_dashboard: "1"). */
export function renderDashboardConfigMap(): string {
  const cm = {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: {
      name: "xrayr-mesh-dashboard",
      namespace: "istio-system",
      labels: { grafana_dashboard: "1", "app.kubernetes.io/part-of": "xrayr-mesh" },
    },
    data: { "xrayr-mesh-dashboard.json": renderDashboardJson() },
  };
  const header = [
    "# Code generated from src/traffic/dashboard.ts (make generate); DO NOT EDIT.",
    "# The xrayr-mesh Grafana dashboard for Grafana's dashboard sidecar (grafana chart:",
    "# sidecar.dashboards.enabled=true, label grafana_dashboard). Same content as xrayr-mesh-dashboard.json.",
    "#   kubectl apply --server-side -f deploy/istio/observability/xrayr-mesh-dashboard.configmap.yaml",
  ];
  return `${header.join("\n")}\n${stringify(cm, { lineWidth: 0, blockQuote: "literal" })}`;
}
