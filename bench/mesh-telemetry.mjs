// The telemetry side of `make bench-mesh` (issue 16): with the fleet calling Xboard on XrayR's
// schedule through R Xboard sidecars, what Prometheus holds and what every reader's queries cost,
// for one telemetry profile (Istio's default or deploy/istio's), and whether the numbers are true.
//
// Every query here is the one its reader sends: Kiali's namespace graph and health queries as
// Kiali's source builds them, `xrayr-mesh verify` run as a person runs it, the operator's
// status.traffic read (src/traffic/read.ts, compiled), every panel of the shipped dashboard.
/* global fetch, AbortSignal, performance, URLSearchParams, setInterval, clearInterval */
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cpuSeconds, getJson, getText, mib, peakRss, quantile, resetPeak, rss, say, send, sleep, start, stop, until } from "./mesh-lib.mjs";
import { NS } from "./mesh-istiod.mjs";

/** Kiali's edge grouping (graph/telemetry/istio/istio.go), as the attribution e2e holds it. */
const KIALI_BY =
  "source_cluster,source_workload_namespace,source_workload,source_canonical_service,source_canonical_revision," +
  "destination_cluster,destination_service_namespace,destination_service,destination_service_name," +
  "destination_workload_namespace,destination_workload,destination_canonical_service,destination_canonical_revision," +
  "request_protocol,response_code,grpc_response_status,response_flags";
/** Kiali's namespace graph query (buildNamespaceTrafficMap, destination telemetry), `seconds` its duration. */
export const kialiGraphQuery = (seconds) =>
  `sum(rate(istio_requests_total{reporter=~"waypoint|destination",destination_workload_namespace="${NS}"} [${seconds}s])) by (${KIALI_BY}) > 0`;
/** Kiali's health queries for one workload (prometheus/metrics.go getItemRequestRates): inbound and outbound. */
export const kialiHealthQueries = (workload, cluster, interval) => [
  `rate(istio_requests_total{destination_workload_namespace="${NS}",destination_workload="${workload}",destination_cluster="${cluster}"}[${interval}]) > 0`,
  `rate(istio_requests_total{source_workload_namespace="${NS}",source_workload="${workload}",source_cluster="${cluster}"}[${interval}]) > 0`,
];
const XBOARD_INBOUND = `reporter="destination",destination_workload_namespace="${NS}",destination_workload="xboard"`;

/** One instant query; its wall time and series count (throws on error or timeout). */
async function timedQuery(prom, expr, timeoutMs = 60_000) {
  const t0 = performance.now();
  const res = await fetch(`${prom}/api/v1/query`, { method: "POST", body: new URLSearchParams({ query: expr }), signal: AbortSignal.timeout(timeoutMs) });
  const body = await res.json();
  const ms = performance.now() - t0;
  if (body.status !== "success") throw new Error(`query failed (${res.status}): ${body.error ?? "?"}: ${expr.slice(0, 200)}`);
  return { ms, result: body.data.result };
}
const value = (r) => Number(r[0]?.value?.[1] ?? NaN);

/** The best of `runs` (a reader's refresh), and the first (cold); each a separate HTTP request. */
async function measure(prom, exprs, runs = 3) {
  const times = [];
  let rows = 0;
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    const results = await Promise.all(exprs.map((e) => timedQuery(prom, e)));
    times.push(performance.now() - t0);
    rows = results.reduce((a, r) => a + r.result.length, 0);
  }
  return { firstMs: Math.round(times[0]), medianMs: Math.round(quantile(times, 0.5)), maxMs: Math.round(Math.max(...times)), rows };
}

/** The shipped dashboard's targets with its variables as the lab sets them. */
function dashboardTargets(repo, values) {
  const dash = JSON.parse(readFileSync(join(repo, "deploy/istio/observability/xrayr-mesh-dashboard.json"), "utf8"));
  return (dash.panels ?? []).flatMap((p) => [p, ...(p.panels ?? [])]).flatMap((p) =>
    (p.targets ?? []).map((t) => ({
      panel: `${p.title ?? ""} ${t.refId ?? ""}`.trim(),
      expr: (t.expr ?? "").replace(/\$\{(\w+)\}|\$(\w+)/g, (_, a, b) => {
        const v = values[a ?? b];
        if (v === undefined) throw new Error(`dashboard panel ${p.title} uses $${a ?? b}, which the bench has no value for`);
        return v;
      }),
    })),
  ).filter((t) => t.expr !== "");
}

/** Prometheus's process moved into a memory cgroup (it must not take the machine down). */
export function confinePrometheus(lab, memoryCgroup, limitBytes) {
  const pid = lab.pid("prometheus");
  const cg = memoryCgroup("xrayr-bench-prometheus", limitBytes);
  if ("unavailable" in cg) {
    say(`Prometheus runs without a memory limit: ${cg.unavailable}`);
    return { pid, cgroup: undefined };
  }
  writeFileSync(join(cg.dir, "cgroup.procs"), String(pid));
  return { pid, cgroup: cg };
}

/**
 * The fleet's traffic and what it leaves in Prometheus. `fleet` holds the Ready fleet (its
 * generator not yet set); runs XrayR's schedule for `warmupS`, with churn at 1/s running on the
 * side when `churn` is given (a function that runs until its promise's stop() is called).
 */
export async function telemetryPhase({ repo, lab, ep, fleet, sidecars, prom, profile, workDir, errorEvery = 100, periodS = 60, warmupS = 240, churn, evictionWaitS = 0, kiali }) {
  const out = { profile, vps: fleet.live.size, sidecars: sidecars.length };
  // 1 % of the VPS are answered 503 on every call (fake Xboard's faults, by node id); they are
  // kept out of the churn so their error rate can be checked over the whole window.
  const failing = [...fleet.live.entries()].filter(([, n]) => Number(n.nodeId) % errorEvery === 0).map(([name]) => name);
  for (const name of failing) {
    fleet.touched.add(name);
    await send("PUT", `${ep.xboardAdmin}/faults/${fleet.live.get(name).nodeId}`, { status: 503, ratio: 1 });
  }
  const port = 30000 + Math.floor(Math.random() * 20000);
  const generator = start(`xrayr-traffic-${profile}`, [ep.trafficGenerator, "--xboard", ep.xboard, "--token", ep.xboardToken, "--period", `${periodS}s`, "--admin", `127.0.0.1:${port}`], { PATH: process.env.PATH }, workDir);
  fleet.generator = `http://127.0.0.1:${port}`;
  await until("the traffic generator", async () => (await fetch(`${fleet.generator}/healthz`)).ok, 30_000, 200);
  await fleet.startTraffic();
  say(`${profile}: ${fleet.live.size} VPS calling every ${periodS} s (${failing.length} answered 503); ${warmupS} s until every VPS is in Kiali's 2m window`);

  resetPeak(prom.pid);
  const cpu0 = cpuSeconds(prom.pid);
  const t0 = Date.now();
  const churning = churn?.();
  let peakMiB = 0;
  const sampler = setInterval(() => { try { peakMiB = Math.max(peakMiB, mib(rss(prom.pid))); } catch { /* gone: the cgroup says why */ } }, 2_000);
  try {
    await sleep(warmupS * 1000);

    // ---- what Prometheus holds -------------------------------------------------------------
    const tsdb = await getJson(`${ep.prometheus}/api/v1/status/tsdb`);
    const xbSeries = value((await timedQuery(ep.prometheus, `count({__name__=~"istio_.+",${XBOARD_INBOUND},source_workload=~"vps-.+"})`)).result);
    const perVps = (await timedQuery(ep.prometheus, `count by (source_workload) ({__name__=~"istio_.+",${XBOARD_INBOUND},source_workload=~"vps-.+"})`)).result.map((r) => Number(r.value[1]));
    out.headSeries = tsdb.data.headStats.numSeries;
    out.istioSeriesXboardInbound = xbSeries;
    out.vpsWithSeries = perVps.length;
    out.seriesPerVps = Number((xbSeries / Math.max(1, perVps.length)).toFixed(1));
    out.seriesPerVpsMax = Math.max(0, ...perVps);
    out.headSeriesPerVps = Number((out.headSeries / fleet.live.size).toFixed(1));

    // ---- what each reader's queries cost ----------------------------------------------------
    const cluster = ep.clusterId;
    const oneVps = [...fleet.live.keys()].find((n) => !fleet.touched.has(n)) ?? failing[0];
    const q = {};
    q.kialiGraph = await measure(ep.prometheus, [kialiGraphQuery(120)]);
    q.kialiHealth = await measure(ep.prometheus, kialiHealthQueries(oneVps, cluster, "120s"));
    q.kialiHealthXboard = await measure(ep.prometheus, kialiHealthQueries("xboard", cluster, "120s"));
    // The operator's status.traffic read: src/traffic/read.ts's queries, built by the compiled code.
    const queries = await import(join(repo, "dist/traffic/queries.js"));
    const window = "2m";
    const scope = { namespace: NS, destination: "xboard", window };
    q.operatorPoll = await measure(ep.prometheus, [queries.edgeQuery(scope), queries.p99Query(scope, { app: "xrayr", bySource: true }), queries.p99Query(scope, { app: "xrayr", bySource: false })]);
    // `xrayr-mesh verify` as a person runs it: the whole command (it lists the nodes too).
    // Exit 1 means it saw traffic from unknown sources (a moved VPS calling before the sidecars
    // learned its new address can do that under churn): recorded, not a failure of the bench.
    const verifyTimes = [];
    const verifyExit = [];
    for (let i = 0; i < 3; i++) {
      const v0 = performance.now();
      const r = spawnSync(process.execPath, [join(repo, "dist/bundle/xrayr-mesh.mjs"), "verify", "--prometheus", ep.prometheus, "--window", window, "-o", "json"], {
        env: { ...process.env, KUBECONFIG: lab.kubeconfig }, stdio: ["ignore", "pipe", "pipe"], maxBuffer: 1 << 30, encoding: "utf8",
      });
      verifyTimes.push(performance.now() - v0);
      if (r.status !== 0 && r.status !== 1) throw new Error(`xrayr-mesh verify exited ${r.status}: ${r.stderr.slice(0, 500)}`);
      verifyExit.push(r.status);
      if (i === 0) {
        const v = JSON.parse(r.stdout);
        out.verifyView = { attribution: v.attribution, nodes: v.nodes?.length, silent: v.silent?.length, unknownRps: v.unknownRps };
      }
    }
    q.verify = { firstMs: Math.round(verifyTimes[0]), medianMs: Math.round(quantile(verifyTimes, 0.5)), maxMs: Math.round(Math.max(...verifyTimes)), exits: verifyExit };
    const panels = dashboardTargets(repo, { namespace: NS, xboard: "xboard", app: "xrayr", window, lookback: "6h", node: oneVps, country: "jp" });
    const panelTimes = [];
    for (const p of panels) panelTimes.push({ panel: p.panel, ...(await measure(ep.prometheus, [p.expr], 2)) });
    q.panels = panelTimes;
    q.panelsMax = panelTimes.reduce((a, p) => (p.maxMs > a.maxMs ? p : a), { maxMs: 0 });
    out.queries = q;
    out.queriesMs = {
      kialiGraph: q.kialiGraph.maxMs, kialiHealth: q.kialiHealth.maxMs, kialiHealthXboard: q.kialiHealthXboard.maxMs,
      verify: q.verify.maxMs, operatorPoll: q.operatorPoll.maxMs, panelsMax: q.panelsMax.maxMs,
    };
    say(`${profile}: head ${out.headSeries} series, ${out.seriesPerVps} per VPS (max ${out.seriesPerVpsMax}); queries ms ${JSON.stringify(out.queriesMs)}`);

    // ---- Kiali's own pages (a Kiali server given by KIALI_BIN) -------------------------------
    if (kiali !== undefined) {
      const k = await kiali({ vps: oneVps });
      Object.assign(out.queriesMs, {
        kialiWorkloadList: k.kialiWorkloadList, kialiVpsPage: k.kialiVpsPage, kialiWorkloadGraph: k.kialiWorkloadGraph,
        kialiAppGraph: k.kialiAppGraph, kialiVersionedAppGraph: k.kialiVersionedAppGraph,
      });
      out.kialiWorkloadGraphMB = k.kialiWorkloadGraphMB;
      out.kiali = k;
    }
  } finally {
    await churning?.stop();
    clearInterval(sampler);
  }
  out.prometheusPeakRssMiB = Math.round(Math.max(peakMiB, mib(peakRss(prom.pid)), (prom.cgroup?.peakBytes() ?? 0) / (1 << 20)));
  out.prometheusSteadyRssMiB = Math.round(mib(rss(prom.pid)));
  out.prometheusCpuCores = Number(((cpuSeconds(prom.pid) - cpu0) / ((Date.now() - t0) / 1000)).toFixed(2));
  out.prometheusOomKills = prom.cgroup?.oomKills() ?? 0;

  // ---- ground truth: the generator's counters against Prometheus, per VPS --------------------
  // Every VPS stops calling, two scrapes pass, then each VPS's counter in Prometheus (summed over
  // the pods) must match what the generator got back. Churned VPS are left out (a retired one
  // stops at its retirement; an address change is fine but kept out for a clean comparison).
  const names = [...fleet.live.keys()];
  for (const name of names) await send("POST", `${fleet.generator}/nodes/${name}/stop`);
  await sleep(5_000); // a cycle in flight when its node stopped finishes and is counted
  const nodes = await getJson(`${fleet.generator}/nodes`, 120_000);
  await sleep(2 * Number.parseInt(ep.scrapeInterval ?? "15", 10) * 1000 + 5_000);
  const inProm = new Map((await timedQuery(ep.prometheus, `sum by (source_workload) (istio_requests_total{${XBOARD_INBOUND},source_workload=~"vps-.+"})`)).result.map((r) => [r.metric.source_workload, Number(r.value[1])]));
  const codes = new Map((await timedQuery(ep.prometheus, `sum by (source_workload) (istio_requests_total{${XBOARD_INBOUND},source_workload=~"vps-.+",response_code=~"5.."})`)).result.map((r) => [r.metric.source_workload, Number(r.value[1])]));
  let compared = 0, within = 0, worst = 0, missing = 0;
  const byName = new Map(Object.entries(nodes)); // GET /nodes: name -> { ..., counters }
  for (const name of names) {
    if (fleet.touched.has(name) && !failing.includes(name)) continue;
    const got = byName.get(name)?.counters?.responses ?? 0;
    if (got === 0) continue;
    compared++;
    const seen = inProm.get(name);
    if (seen === undefined) { missing++; continue; }
    const dev = Math.abs(seen - got) / got;
    worst = Math.max(worst, dev);
    if (dev <= 0.02) within++;
  }
  const errorRatios = failing.map((n) => (codes.get(n) ?? 0) / Math.max(1, inProm.get(n) ?? 0));
  const cleanWithErrors = names.filter((n) => !failing.includes(n) && (codes.get(n) ?? 0) > 0).length;
  out.groundTruth = { compared, within2Percent: within, missing, worstDeviation: Number(worst.toFixed(4)), failingVps: failing.length, failingErrorRatioMin: Number(Math.min(...errorRatios).toFixed(3)), cleanVpsWithErrors: cleanWithErrors };
  say(`${profile}: ground truth: ${within}/${compared} VPS within 2 % (worst ${(worst * 100).toFixed(2)} %, ${missing} missing); the ${failing.length} failing VPS error ratio >= ${out.groundTruth.failingErrorRatioMin}; clean VPS with 5xx: ${cleanWithErrors}`);

  // ---- a retired VPS's series leave the sidecars ----------------------------------------------
  const retired = fleet.changes.filter((c) => c.kind === "retire" && c.at >= t0);
  if (evictionWaitS > 0 && retired.length > 0) {
    const oldest = Math.min(...retired.map((c) => c.at));
    const wait = oldest + evictionWaitS * 1000 - Date.now();
    if (wait > 0) {
      say(`${profile}: waiting ${Math.round(wait / 1000)} s for the eviction of the first retired VPS's series`);
      await sleep(wait);
    }
  }
  const present = [];
  const now = Date.now();
  for (const s of sidecars) {
    const text = await getText(`${s}/stats/prometheus`, 60_000);
    for (const c of retired) if (text.includes(`source_workload="${c.name}"`)) present.push({ name: c.name, ageS: Math.round((now - c.at) / 1000) });
  }
  const old = present.filter((p) => p.ageS >= evictionWaitS);
  out.eviction = { retired: retired.length, stillOnASidecar: present.length, olderThanWaitStillThere: old.length, waitS: evictionWaitS, oldestRetiredAgeS: retired.length ? Math.round((now - Math.min(...retired.map((c) => c.at))) / 1000) : 0 };
  say(`${profile}: ${retired.length} VPS retired under traffic; ${present.length} still on a sidecar (${old.length} retired more than ${evictionWaitS} s ago)`);

  for (const name of failing) await fetch(`${ep.xboardAdmin}/faults/${fleet.live.get(name).nodeId}`, { method: "DELETE" }).catch(() => {});
  await stop(generator);
  fleet.generator = undefined;
  return out;
}
