#!/usr/bin/env bash
# Kiali's pages at fleet scale on the mesh lab (issue 16, item 6): NODES operator-made VPS
# (XrayrNode -> WorkloadEntry and per-node WorkloadGroup, deploy/istio applied as on a cluster),
# with TRAFFIC=1 each calling Xboard through the sidecar stand-in on XrayR's schedule for MINUTES
# (1 % of them answered 503), then bench/kiali.mjs times and weighs what Kiali's UI requests.
# Everything is real but Envoy and Kiali's browser side (docs/attribution.md). Not part of make test.
#   KIALI_BIN (required: a Kiali server built from kiali/kiali main; see docs/benchmarks.md;
#   several, colon-separated, are measured in turn against the same fleet and traffic)
#   NODES (3000)  TRAFFIC (1)  PERIOD (60s)  MINUTES (4: XrayR calls first one period after it
#   starts, and a VPS enters a 2m rate window after its second call)  ERROR_PCT (1)  SCRAPE_INTERVAL (15s)
#   LAB_DIR (.lab-bench-kiali): started here and stopped at the end, unless it was already up
#   (then the fleet is only added to it) or KEEP_LAB=1. Under the team's heavy lock, use
#   `flock -o` with KEEP_LAB=1: the lab's processes would otherwise inherit and hold the lock.
#   PROM_KEEP (empty: everything): a regex of the metric families the lab's Prometheus gets from
#   the sidecar stand-in, through bench/scrape-filter.mjs, every PROM_KEEP_INTERVAL (30s). At
#   10,000 VPS the stand-in exposes ~1.3 million samples a scrape and the lab's Prometheus grew
#   past 17 GB parsing them; `^istio_requests_total$` is what Kiali's default graphs, health and
#   lists read (the per-VPS latency graph then has no latency to show).
#   KIALI_REPORT (.reports/kiali-fleet.json) and bench/kiali.mjs's KIALI_* settings.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PWD/node_modules/.bin:$PATH
export LAB_DIR=${LAB_DIR:-$PWD/.lab-bench-kiali}
NODES=${NODES:-3000} TRAFFIC=${TRAFFIC:-1} PERIOD=${PERIOD:-60s} MINUTES=${MINUTES:-4} ERROR_PCT=${ERROR_PCT:-1}
IFS=: read -ra bins <<<"${KIALI_BIN:-}"
((${#bins[@]})) || { echo "KIALI_BIN must name a Kiali server binary (built from kiali/kiali main)" >&2; exit 2; }
for b in "${bins[@]}"; do [ -x "$b" ] || { echo "KIALI_BIN: $b is not an executable" >&2; exit 2; }; done
ns=airport-prod
own_lab=0
[ -e "$LAB_DIR/ready" ] || own_lab=1
pids=()
say() { echo "[kiali-fleet $(date +%T)] $*" >&2; }
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if ((own_lab)) && [ "${KEEP_LAB:-0}" != 1 ]; then test/lab/lab-down.sh >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT

test/lab/lab-up.sh >/dev/null
SCRAPE_INTERVAL=${SCRAPE_INTERVAL:-15s} test/lab/mesh-up.sh >/dev/null
npm run build --silent
# shellcheck disable=SC1091
source "$LAB_DIR/env"
ep=$LAB_DIR/endpoints.json
work=$LAB_DIR/bench-kiali
mkdir -p "$work"
if [ -n "${PROM_KEEP:-}" ]; then
  node bench/scrape-filter.mjs --upstream "$(jq -r .sidecarAdmin "$ep")/stats/prometheus" --keep "$PROM_KEEP" \
    --ready-file "$work/filter.addr" >"$work/scrape-filter.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 50); do [ -s "$work/filter.addr" ] && break; sleep 0.2; done
  node --input-type=module -e '
    import { readFileSync, writeFileSync } from "node:fs";
    import { parse, stringify } from "yaml";
    const [f, target, every] = process.argv.slice(1), c = parse(readFileSync(f, "utf8"));
    const job = c.scrape_configs.find((j) => j.job_name === "envoy-stats");
    job.static_configs[0].targets = [target];
    job.scrape_interval = every;
    job.scrape_timeout = every;
    writeFileSync(f, stringify(c));
  ' "$LAB_DIR/prometheus/prometheus.yml" "$(cat "$work/filter.addr")" "${PROM_KEEP_INTERVAL:-30s}"
  promtool check config "$LAB_DIR/prometheus/prometheus.yml" >/dev/null
  curl -fsS -X POST "$(jq -r .prometheus "$ep")/-/reload"
  say "the lab's Prometheus gets only $PROM_KEEP from the stand-in, every ${PROM_KEEP_INTERVAL:-30s}"
fi

# The fleet: node i on 127.2.<i/250>.<i%250+1>, as the generator calls from; every
# (100/ERROR_PCT)th node answered 503 by Xboard.
node -e '
  const n = Number(process.argv[1]); const docs = []; const nodes = {};
  for (let i = 0; i < n; i++) {
    const name = `vps-${String(i).padStart(5, "0")}`, address = `127.2.${Math.floor(i / 250)}.${(i % 250) + 1}`;
    docs.push({ apiVersion: "mesh.sigma.io/v1alpha1", kind: "XrayrNode", metadata: { name, namespace: "airport-prod" }, spec: { address, country: "jp" } });
    nodes[name] = { address, nodeId: String(i + 1), nodeType: "vless" };
  }
  require("fs").writeFileSync(process.argv[2], JSON.stringify({ apiVersion: "v1", kind: "List", items: docs }));
  require("fs").writeFileSync(process.argv[3], JSON.stringify(nodes));
' "$NODES" "$work/fleet.json" "$work/nodes.json"
kubectl apply --server-side -f "$work/fleet.json" >/dev/null

port=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
AIRPORT_KUBECONFIG=$KUBECONFIG ADDRESS_POLICY=any LEADER_ELECTION=false LOG_LEVEL=warn \
  METRICS_ADDR=127.0.0.1:$port node dist/bundle/operator.mjs >"$work/operator.log" 2>&1 &
pids+=($!)
t0=$SECONDS
while :; do
  entries=$(kubectl -n "$ns" get workloadentries -l mesh.sigma.io/xrayr-node --no-headers 2>/dev/null | wc -l)
  groups=$(kubectl -n "$ns" get workloadgroups -l mesh.sigma.io/xrayr-node --no-headers 2>/dev/null | wc -l)
  [ "$entries" -ge "$NODES" ] && [ "$groups" -ge "$NODES" ] && break
  ((SECONDS - t0 < 1800)) || { say "operator wrote $entries entries and $groups groups of $NODES in 30 min"; exit 1; }
  sleep 5
done
say "$NODES entries and groups written in $((SECONDS - t0)) s"

if [ "$TRAFFIC" = 1 ]; then
  if [ "$ERROR_PCT" != 0 ]; then
    step=$((100 / ERROR_PCT))
    for ((i = 0; i < NODES; i += step)); do
      curl -fsS -X PUT "$(jq -r .xboardAdmin "$ep")/faults/$((i + 1))" -d '{"status":503,"ratio":1}' >/dev/null
    done
  fi
  "$(jq -r .trafficGenerator "$ep")" --xboard "$(jq -r .xboard "$ep")" --token "$(jq -r .xboardToken "$ep")" \
    --period "$PERIOD" --admin 127.0.0.1:0 --ready-file "$work/gen.addr" --nodes "$work/nodes.json" >"$work/traffic.log" 2>&1 &
  pids+=($!)
  say "traffic from $NODES VPS every $PERIOD for $MINUTES min"
  sleep $((MINUTES * 60))
  series=$(curl -fsS "$(jq -r .prometheus "$ep")/api/v1/status/tsdb" | jq -r '.data.headStats.numSeries')
  say "Prometheus head series: $series"
fi

KIALI_REPORT=${KIALI_REPORT:-$PWD/.reports/kiali-fleet.json} node bench/kiali.mjs
