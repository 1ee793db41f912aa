import { parse } from "yaml";
import { DASHBOARD_VARIABLES, buildDashboard, renderDashboardConfigMap, renderDashboardJson } from "./dashboard.js";

interface Target {
  refId?: string;
  expr?: string;
  datasource?: { uid?: string };
}
interface PanelJson {
  type: string;
  title?: string;
  targets?: Target[];
  panels?: PanelJson[];
}

const panels = (): PanelJson[] => ((JSON.parse(renderDashboardJson()) as { panels: PanelJson[] }).panels).flatMap((p) => [p, ...(p.panels ?? [])]);

describe("the Grafana dashboard", () => {
  it("ships the same dashboard in the ConfigMap, labelled for Grafana's sidecar", () => {
    const cm = parse(renderDashboardConfigMap()) as { kind: string; metadata: { labels: Record<string, string> }; data: Record<string, string> };
    expect(cm.kind).toBe("ConfigMap");
    expect(cm.metadata.labels["grafana_dashboard"]).toBe("1");
    expect(Object.keys(cm.data)).toEqual(["xrayr-mesh-dashboard.json"]);
    expect(cm.data["xrayr-mesh-dashboard.json"]).toBe(renderDashboardJson());
  });

  it("queries only through the dashboard's Prometheus variable and its declared template variables", () => {
    const declared = new Set((buildDashboard().templating.list ?? []).map((v) => v.name));
    expect([...declared].sort()).toEqual(["datasource", ...Object.keys(DASHBOARD_VARIABLES)].sort());
    const targets = panels().flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, ...t })));
    expect(targets.length).toBeGreaterThan(10);
    for (const t of targets) {
      expect({ panel: t.panel, uid: t.datasource?.uid }).toEqual({ panel: t.panel, uid: "$datasource" });
      const used = [...(t.expr ?? "").matchAll(/\$(\w+)/g)].map((m) => m[1] ?? "");
      expect(used.filter((u) => !declared.has(u))).toEqual([]);
    }
  });

  it("has the panels of the fleet: the edge, the nodes, attribution and the operator", () => {
    expect(panels().filter((p) => p.type !== "row").map((p) => p.title)).toEqual([
      "Request rate",
      "Error %",
      "p99 latency",
      "Nodes",
      "Silent nodes",
      "Unknown sources",
      "Reconciles",
      "Kube writes",
      "Entries by country",
      "Leaders",
      "Queue depth",
      "Address conflicts",
    ]);
  });
});
