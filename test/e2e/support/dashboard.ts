// The Grafana dashboard as shipped (the committed JSON, not the generator): every panel's query
// with the dashboard's template variables replaced by the lab's values, ready to run against the
// mesh lab's Prometheus.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { DASHBOARD_FILE } from "../../../src/traffic/dashboard.js";
import { REPO } from "./lab.js";

export interface PanelQuery {
  panel: string;
  refId: string;
  /** PromQL with the variables substituted. */
  expr: string;
}

interface PanelJson {
  type: string;
  title?: string;
  targets?: { refId?: string; expr?: string }[];
  panels?: PanelJson[];
}

/** Every target of every panel (rows' nested panels included), variables replaced by `values`. */
export function dashboardQueries(values: Record<string, string>): PanelQuery[] {
  const dash = JSON.parse(readFileSync(join(REPO, DASHBOARD_FILE), "utf8")) as { panels?: PanelJson[] };
  return (dash.panels ?? [])
    .flatMap((p) => [p, ...(p.panels ?? [])])
    .flatMap((p) =>
      (p.targets ?? []).map((t) => ({
        panel: p.title ?? "",
        refId: t.refId ?? "",
        // Grafana's two plain forms, $name and ${name}; an unknown name is a dashboard bug.
        expr: (t.expr ?? "").replace(/\$\{(\w+)\}|\$(\w+)/g, (_, braced: string | undefined, bare: string | undefined) => {
          const name = braced ?? bare ?? "";
          const v = values[name];
          if (v === undefined) throw new Error(`panel ${p.title ?? "?"} uses $${name}, which the lab has no value for`);
          return v;
        }),
      })),
    );
}

/** One panel target's query; throws if the dashboard has no such panel. */
export function panelQuery(queries: readonly PanelQuery[], panel: string, refId = "A"): string {
  const q = queries.find((x) => x.panel === panel && x.refId === refId);
  if (q === undefined) throw new Error(`the dashboard has no panel ${JSON.stringify(panel)} with query ${refId}`);
  return q.expr;
}
