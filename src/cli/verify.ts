// xrayr-mesh verify: the XrayR -> Xboard edge as Kiali draws it, from any Prometheus: request
// rate, error %, p99, and the per-node breakdown; then what is wrong with the picture. Exit 1
// when attribution is broken (traffic into Xboard from `unknown` sources).
import { XrayrNodeClient } from "../apply/xrayrnodes.js";
import { safeUrl, urlHasCredentials } from "../observability/redact.js";
import { isReady } from "../domain/readiness.js";
import { fmtRps, type Panel } from "../traffic/panel.js";
import { PrometheusClient, PrometheusError } from "../traffic/prometheus.js";
import { PROMQL_DURATION, type EdgeScope } from "../traffic/queries.js";
import { readPanel } from "../traffic/read.js";
import type { Context } from "./context.js";
import { CliError } from "./errors.js";
import { print, table, type Format, type Printable } from "./output.js";

export interface VerifyOptions {
  prometheus?: string;
  window: string;
  xboardWorkload: string;
  app: string;
  output: Format;
}

export async function runVerify(ctx: Context, opts: VerifyOptions): Promise<number> {
  if (opts.prometheus === undefined || opts.prometheus === "") {
    throw new CliError("no Prometheus to ask: pass --prometheus URL or set PROMETHEUS_URL.");
  }
  if (urlHasCredentials(opts.prometheus)) {
    // Refused, not stripped: a silently dropped password would look like Prometheus refusing it.
    throw new CliError(
      `--prometheus / PROMETHEUS_URL ${JSON.stringify(safeUrl(opts.prometheus))} must not carry credentials (user:password@): verify sends none and they would end up in error messages, as the operator's PROMETHEUS_URL refuses them too.`,
    );
  }
  if (!PROMQL_DURATION.test(opts.window)) throw new CliError(`--window ${JSON.stringify(opts.window)} is not a PromQL duration such as 10m.`);
  let prometheus: PrometheusClient;
  try {
    prometheus = new PrometheusClient(opts.prometheus);
  } catch (err) {
    throw new CliError(err instanceof Error ? err.message : String(err));
  }
  const scope: EdgeScope = { namespace: ctx.namespace, destination: opts.xboardWorkload, window: opts.window };
  const nodes = await new XrayrNodeClient(ctx.kc, ctx.namespace).list();
  // Nodes that should be sending: those with a WorkloadEntry (Ready). Others cannot be named by
  // the sidecar at all; `xrayr-mesh status` explains why.
  const registered = nodes.filter(isReady).map((n) => n.metadata.name ?? "");
  let panel: Panel;
  try {
    panel = await readPanel(prometheus, scope, registered, opts.app);
  } catch (err) {
    if (err instanceof PrometheusError) throw new CliError(err.message);
    throw err;
  }
  print(verifyView(panel, registered.length, { ...opts, namespace: ctx.namespace, where: prometheus.where }), opts.output);
  return panel.unknownRps > 0 ? 1 : 0;
}

/** The panel as verify prints it; `registered`: how many nodes should be sending (Ready). */
export function verifyView(panel: Panel, registered: number, how: { namespace: string; window: string; app: string; xboardWorkload: string; where: string }): Printable {
  const broken = panel.unknownRps > 0;
  const pct = (r: number): string => `${(r * 100).toFixed(2)}%`;
  const ms = (v: number | undefined): string => (v === undefined || !Number.isFinite(v) ? "-" : `${v.toFixed(1)}ms`);
  return {
    data: () => ({ namespace: how.namespace, window: how.window, attribution: broken ? "broken" : "ok", ...panel }),
    table: () => {
      const out: string[] = [
        `${how.app} -> ${how.xboardWorkload} in ${how.namespace}, last ${how.window} (Prometheus ${how.where})`,
        `  edge: ${fmtRps(panel.edge.rps)} req/s, errors ${pct(panel.edge.errorRatio)}, p99 ${ms(panel.edge.p99Ms)}; ` +
          `${registered - panel.silent.length}/${registered} registered nodes active; unknown ${fmtRps(panel.unknownRps)} req/s`,
        "",
        table(
          ["NODE", "REQ/S", "ERRORS", "P99"],
          panel.nodes.map((n) => [n.name, fmtRps(n.rps), pct(n.errorRatio), ms(n.p99Ms)]),
        ),
      ];
      if (panel.findings.length > 0) {
        out.push("");
        for (const f of panel.findings) out.push(`${f.severity.toUpperCase()}  ${f.message}\n      fix: ${f.fix}`);
      }
      out.push("", broken ? "attribution: BROKEN (traffic from unknown sources)" : "attribution: ok");
      return out.join("\n");
    },
  };
}
