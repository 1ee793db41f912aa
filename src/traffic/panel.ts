// The XrayR -> Xboard panel as Kiali would draw it, from Prometheus samples: one edge, the
// per-node breakdown, and what is wrong with the picture. Pure.
import type { Sample } from "./prometheus.js";
import { OK_RESPONSE_CODE } from "./queries.js";

export interface NodeTraffic {
  name: string;
  /** Requests per second over the window. */
  rps: number;
  /** Kiali's error ratio: no response, 4xx and 5xx over all requests. */
  errorRatio: number;
  /** 99th percentile latency in ms; undefined without samples. */
  p99Ms: number | undefined;
}

export interface Finding {
  severity: "fail" | "warn";
  message: string;
  fix: string;
}

export interface Panel {
  edge: { rps: number; errorRatio: number; p99Ms: number | undefined };
  /** Registered nodes first (silent ones with rps 0), by name. */
  nodes: NodeTraffic[];
  unknownRps: number;
  silent: string[];
  unregistered: { name: string; app: string; rps: number }[];
  findings: Finding[];
}

export interface PanelInput {
  edge: Sample[];
  p99BySource: Sample[];
  p99Edge: Sample[];
  /** Names of the nodes that should be sending: registered XrayrNodes with an entry. */
  registered: readonly string[];
  /** The entries' app label (Istio's source_app), "xrayr" by default. */
  app: string;
  window: string;
}

const UNKNOWN = "unknown";

const OK_CODE = new RegExp(`^(?:${OK_RESPONSE_CODE})$`);

/** Kiali's error: no response, 4xx, 5xx; the same codes the dashboard's PromQL counts. */
export function isError(responseCode: string | undefined): boolean {
  return !OK_CODE.test(responseCode ?? "0");
}

export function buildPanel(input: PanelInput): Panel {
  const registered = new Set(input.registered);
  const bySource = new Map<string, { app: string; rps: number; errRps: number }>();
  let unknownRps = 0;
  for (const s of input.edge) {
    if (!Number.isFinite(s.value) || s.value <= 0) continue;
    const source = s.metric.source_workload ?? UNKNOWN;
    if (source === UNKNOWN) {
      unknownRps += s.value;
      continue;
    }
    const acc = bySource.get(source) ?? { app: s.metric.source_canonical_service ?? UNKNOWN, rps: 0, errRps: 0 };
    acc.rps += s.value;
    if (isError(s.metric.response_code)) acc.errRps += s.value;
    bySource.set(source, acc);
  }
  const p99 = new Map(input.p99BySource.filter((s) => Number.isFinite(s.value)).map((s) => [s.metric.source_workload ?? "", s.value]));

  const nodes: NodeTraffic[] = [];
  for (const name of [...registered].sort()) {
    const t = bySource.get(name);
    nodes.push({ name, rps: t?.rps ?? 0, errorRatio: ratio(t?.errRps ?? 0, t?.rps ?? 0), p99Ms: t === undefined ? undefined : p99.get(name) });
  }
  // Kiali's app edge: every caller whose app is ours, registered or not; unknown callers are a
  // node of their own in Kiali and a finding here.
  let edgeRps = 0;
  let edgeErr = 0;
  for (const t of bySource.values()) {
    if (t.app !== input.app) continue;
    edgeRps += t.rps;
    edgeErr += t.errRps;
  }
  const unregistered = [...bySource.entries()]
    .filter(([name]) => !registered.has(name))
    .map(([name, t]) => ({ name, app: t.app, rps: t.rps }))
    .sort((a, b) => a.name.localeCompare(b.name));
  const silent = nodes.filter((n) => n.rps === 0).map((n) => n.name);
  const edgeP99 = input.p99Edge.find((s) => Number.isFinite(s.value))?.value;

  const findings: Finding[] = [];
  if (unknownRps > 0) {
    findings.push({
      severity: "fail",
      message: `${fmtRps(unknownRps)} req/s reach Xboard from unknown sources over the last ${input.window}: the sidecar could not match the caller's address to a workload, so attribution is broken for them`,
      fix: "run `xrayr-mesh doctor` (istiod's PILOT_ENABLE_AMBIENT, Xboard's PEER_METADATA_DISCOVERY, client address preservation), and check that every VPS is registered",
    });
  }
  if (silent.length > 0) {
    findings.push({
      severity: "warn",
      message: `${silent.length} registered node(s) sent nothing over the last ${input.window}: ${preview(silent)}`,
      fix: "check XrayR on those VPS (service running, panel URL and token), or retire them in sigma-api",
    });
  }
  for (const u of unregistered) {
    findings.push({
      severity: "warn",
      message: `workload ${u.name} (app ${u.app}) calls Xboard at ${fmtRps(u.rps)} req/s but is not a registered XrayrNode`,
      fix: u.app === input.app ? "a retired or renamed node may still have an entry: run `xrayr-mesh status` and `xrayr-mesh sync --prune`" : "expected if another mesh workload calls Xboard; otherwise find who owns it",
    });
  }
  return { edge: { rps: edgeRps, errorRatio: ratio(edgeErr, edgeRps), p99Ms: edgeP99 }, nodes, unknownRps, silent, unregistered, findings };
}

function ratio(part: number, whole: number): number {
  return whole > 0 ? part / whole : 0;
}

export function fmtRps(v: number): string {
  return v >= 10 ? v.toFixed(1) : v.toFixed(3);
}

function preview(names: string[]): string {
  return names.length <= 10 ? names.join(", ") : `${names.slice(0, 10).join(", ")} and ${names.length - 10} more`;
}
