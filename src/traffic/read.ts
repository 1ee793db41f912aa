// One read of the XrayR -> Xboard edge: the queries Kiali would run, answered by Prometheus, made
// into the panel. Shared by `xrayr-mesh verify` and the operator's traffic status.
import { buildPanel, type Panel } from "./panel.js";
import type { PrometheusClient } from "./prometheus.js";
import { edgeQuery, p99Query, type EdgeScope } from "./queries.js";

export async function readPanel(prometheus: PrometheusClient, scope: EdgeScope, registered: readonly string[], app: string): Promise<Panel> {
  const [edge, p99BySource, p99Edge] = await Promise.all([
    prometheus.query(edgeQuery(scope)),
    prometheus.query(p99Query(scope, { app, bySource: true })),
    prometheus.query(p99Query(scope, { app, bySource: false })),
  ]);
  return buildPanel({ edge, p99BySource, p99Edge, registered, app, window: scope.window });
}
