// Every file generated from a source in this repository, with what renders it: the one list
// `make generate` writes, `make verify` checks, and test/unit/generated.test.ts holds the tree to.
// deploy/operator/ is the chart's default render and needs helm: `make manifests` writes it and
// `scripts/chart-manifests.ts --check` checks it, both run by `make generate` / `make verify`.
import { parse, parseDocument } from "yaml";
import { envSchema } from "../src/config.js";
import { CHART_CRD_FILE, CRD_FILE, renderCrdYaml } from "../src/crd/manifest.js";
import { OperatorMetrics } from "../src/observability/metrics.js";
import { NODE_INFO } from "../src/observability/node-info.js";
import { DASHBOARD_CONFIGMAP_FILE, DASHBOARD_FILE, renderDashboardConfigMap, renderDashboardJson } from "../src/traffic/dashboard.js";
import { RECORD_INTERVAL, RECORDING_GROUP, RECORDING_RULES } from "../src/traffic/queries.js";

export interface Generated {
  file: string;
  /** Where it comes from, for messages. */
  from: string;
  /** The file's text as its source says; `read` reads a file of the repository (undefined: absent). */
  render: (read: (file: string) => string | undefined) => string;
}

const ALERT_RULES = "deploy/istio/observability/prometheusrule.yaml";
const ALERT_RULES_COPY = "deploy/istio/observability/prometheus-values.yaml";
export const VERSION_FILE = "src/version.ts";

export const GENERATED: readonly Generated[] = [
  { file: CRD_FILE, from: "src/crd/manifest.ts", render: () => renderCrdYaml() },
  { file: CHART_CRD_FILE, from: "src/crd/manifest.ts", render: () => renderCrdYaml() },
  { file: DASHBOARD_FILE, from: "src/traffic/dashboard.ts", render: () => renderDashboardJson() },
  { file: DASHBOARD_CONFIGMAP_FILE, from: "src/traffic/dashboard.ts", render: () => renderDashboardConfigMap() },
  {
    // Before its copy below: drifted() renders in this order and the copy reads this render.
    file: ALERT_RULES,
    from: "src/traffic/queries.ts (RECORDING_RULES: the series summed across Xboard's pods that every reader uses)",
    render: (read) => {
      const doc = parseDocument(required(read, ALERT_RULES));
      const group = doc.createNode({ name: RECORDING_GROUP, interval: RECORD_INTERVAL, rules: RECORDING_RULES.map((r) => ({ record: r.record, expr: r.expr })) });
      const groups = (doc.toJS() as { spec: { groups: { name: string }[] } }).spec.groups;
      const at = groups.findIndex((g) => g.name === RECORDING_GROUP);
      if (at < 0) {
        group.commentBefore = " Generated from src/traffic/queries.ts RECORDING_RULES (make generate); why this shape: the comment there.";
        doc.addIn(["spec", "groups"], group);
      } else doc.setIn(["spec", "groups", at], group);
      return doc.toString({ lineWidth: 0 });
    },
  },
  {
    file: ALERT_RULES_COPY,
    from: `${ALERT_RULES} (the chart-installed Prometheus gets the same rules)`,
    render: (read) => {
      const rule = parse(required(read, ALERT_RULES)) as { spec: unknown };
      const values = parseDocument(required(read, ALERT_RULES_COPY));
      values.setIn(["serverFiles", "alerting_rules.yml"], values.createNode(rule.spec));
      return values.toString({ lineWidth: 0 });
    },
  },
  {
    file: "README.md",
    from: "src/config.ts (environment) and src/observability/ (metrics)",
    render: (read) => withTable(withTable(required(read, "README.md"), "environment", environmentTable()), "metrics", metricsTable()),
  },
  {
    file: VERSION_FILE,
    from: "package.json",
    render: (read) => {
      const { version } = JSON.parse(required(read, "package.json")) as { version: string };
      return `// Generated from package.json by \`make generate\`; DO NOT EDIT.\n/** The release: \`xrayr-mesh version\` says it, the chart's appVersion and image tag follow it. */\nexport const VERSION = ${JSON.stringify(version)};\n`;
    },
  },
];

/** A generated file whose text differs from what its source makes of it. */
export interface Drift {
  generated: Generated;
  /** What the source makes of the file. */
  want: string;
}

/**
 * Every generated file rendered in GENERATED's order, each render reading the renders before it
 * (so the alert rules' copy is made from the rules as they will be, not as the tree has them, and
 * `make verify` names every file `make generate` would write); the files that differ.
 */
export function drifted(read: (file: string) => string | undefined): Drift[] {
  const rendered = new Map<string, string>();
  const view = (file: string): string | undefined => rendered.get(file) ?? read(file);
  const drift: Drift[] = [];
  for (const g of GENERATED) {
    const want = g.render(view);
    rendered.set(g.file, want);
    if (read(g.file) !== want) drift.push({ generated: g, want });
  }
  return drift;
}

function required(read: (file: string) => string | undefined, file: string): string {
  const text = read(file);
  if (text === undefined) throw new Error(`${file} is missing`);
  return text;
}

/** README's `<!-- generated: NAME ... -->` ... `<!-- end generated -->` block, replaced by `table`. */
export function withTable(readme: string, name: string, table: string): string {
  const open = new RegExp(`<!-- generated: ${name}\\b[^>]*-->\\n`);
  const start = open.exec(readme);
  const end = start === null ? -1 : readme.indexOf("<!-- end generated -->", start.index);
  if (start === null || end < 0) throw new Error(`README.md has no "<!-- generated: ${name} -->" ... "<!-- end generated -->" block`);
  return readme.slice(0, start.index + start[0].length) + table + readme.slice(end);
}

const cell = (s: string): string => s.replace(/\|/g, "\\|").replace(/\n/g, " ");

/** One row per variable of the operator's environment: name, default, meaning. */
export function environmentTable(): string {
  const rows = Object.entries(envSchema.shape).map(([name, schema]) => {
    const meta = (schema.meta() ?? {}) as { description?: string; shown?: string };
    if (meta.description === undefined) throw new Error(`src/config.ts: ${name} has no description`);
    const parsed = schema.safeParse(undefined);
    const value: unknown = parsed.success ? parsed.data : undefined;
    const shown = meta.shown ?? (value === undefined ? "unset" : typeof value === "string" ? `\`${value === "" ? '""' : value}\`` : JSON.stringify(value));
    return `| \`${name}\` | ${cell(shown)} | ${cell(meta.description)} |`;
  });
  return ["| variable | default | meaning |", "|---|---|---|", ...rows].join("\n") + "\n";
}

/** One row per metric of the operator's own (process_* and nodejs_* keep their standard names and are left out). */
export function metricsTable(): string {
  const registered = new OperatorMetrics().registry
    .getMetricsAsArray()
    .filter((m) => m.name.startsWith("xrayr_mesh_"))
    // prom-client's metric objects carry their labelNames; its MetricObject type leaves them out.
    .map((m) => ({ name: m.name, type: m.type, labels: (m as { labelNames?: readonly string[] }).labelNames ?? [], help: m.help }));
  const rows = [...registered, { name: NODE_INFO.name, type: NODE_INFO.type, labels: NODE_INFO.labels, help: NODE_INFO.help }]
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((m) => `| \`${m.name}\` | ${m.type} | ${m.labels.length === 0 ? "-" : m.labels.map((l) => `\`${l}\``).join(", ")} | ${cell(m.help)} |`);
  return ["| metric | type | labels | meaning |", "|---|---|---|---|", ...rows].join("\n") + "\n";
}
