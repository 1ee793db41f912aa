#!/usr/bin/env bash
# `make bench-traffic-writes`: how many status.traffic writes the operator makes for a fleet of
# 1,000 nodes that call Xboard on XrayR's real schedule, with the operator's default traffic
# settings (2 m window, 20 s poll, one refresh per node per 5 min, state changes at once but not
# within a minute of the node's last write). Everything is real but Envoy (docs/attribution.md):
# the lab's API server, istiod, the sidecar stand-in, Prometheus (15 s scrapes), the operator.
# Prints status.traffic writes per minute, by reason. Not part of make test (it runs ~13 min).
#   NODES (1000)  MINUTES (12)  SILENT (10: nodes stopped at minute 6)  PERIOD (60s)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PWD/node_modules/.bin:$PATH
export LAB_DIR=${LAB_DIR:-$PWD/.lab-bench-traffic}
NODES=${NODES:-1000} MINUTES=${MINUTES:-12} SILENT=${SILENT:-10} PERIOD=${PERIOD:-60s}
ns=airport-prod
own_lab=0
[ -e "$LAB_DIR/ready" ] || own_lab=1
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if ((own_lab)); then test/lab/lab-down.sh >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT

test/lab/lab-up.sh >/dev/null
SCRAPE_INTERVAL=15s MESH_DEPLOY_ISTIO=0 test/lab/mesh-up.sh >/dev/null
npm run build --silent
# shellcheck disable=SC1091
source "$LAB_DIR/env"
ep=$LAB_DIR/endpoints.json
work=$LAB_DIR/bench-traffic
mkdir -p "$work"

# The fleet: node i on 127.2.<i/250>.<i%250+1>, as the generator will call from.
node -e '
  const n = Number(process.argv[1]); const docs = []; const nodes = {};
  for (let i = 0; i < n; i++) {
    const name = `bench-${String(i).padStart(4, "0")}`, address = `127.2.${Math.floor(i / 250)}.${(i % 250) + 1}`;
    docs.push({ apiVersion: "mesh.sigma.io/v1alpha1", kind: "XrayrNode", metadata: { name, namespace: "airport-prod" }, spec: { address, country: "jp" } });
    nodes[name] = { address, nodeId: String(i + 1), nodeType: "vless" };
  }
  require("fs").writeFileSync(process.argv[2], JSON.stringify({ apiVersion: "v1", kind: "List", items: docs }));
  require("fs").writeFileSync(process.argv[3], JSON.stringify(nodes));
' "$NODES" "$work/fleet.json" "$work/nodes.json"
kubectl apply --server-side -f "$work/fleet.json" >/dev/null

port=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
AIRPORT_KUBECONFIG=$KUBECONFIG ADDRESS_POLICY=any LEADER_ELECTION=false LOG_LEVEL=warn \
  METRICS_ADDR=127.0.0.1:$port PROMETHEUS_URL=$(jq -r .prometheus "$ep") \
  node dist/bundle/operator.mjs >"$work/operator.log" 2>&1 &
pids+=($!)
"$(jq -r .trafficGenerator "$ep")" --xboard "$(jq -r .xboard "$ep")" --token "$(jq -r .xboardToken "$ep")" \
  --period "$PERIOD" --admin 127.0.0.1:0 --ready-file "$work/gen.addr" --nodes "$work/nodes.json" >"$work/traffic.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do [ -s "$work/gen.addr" ] && break; sleep 0.2; done
gen=http://$(cat "$work/gen.addr")

writes() { curl -fsS "http://127.0.0.1:$port/metrics" | awk -v w="$1" '$1 ~ "^xrayr_mesh_traffic_status_writes_total\\{why=\""w"\"\\}" {print $2+0; f=1} END {if (!f) print 0}'; }
echo "nodes $NODES, XrayR period $PERIOD, $SILENT nodes stopped at minute 6; status.traffic writes per minute:"
printf '%-7s %6s %6s %6s %8s %6s\n' minute first state errors refresh total
prev=(0 0 0 0)
for m in $(seq 1 "$MINUTES"); do
  sleep 60
  if [ "$m" -eq 6 ]; then
    for i in $(seq 0 $((SILENT - 1))); do curl -fsS -X POST "$gen/nodes/bench-$(printf %04d "$i")/stop" >/dev/null; done
  fi
  now=("$(writes first)" "$(writes state)" "$(writes errors)" "$(writes refresh)")
  d=(); t=0
  for k in 0 1 2 3; do v=$(( ${now[k]%.*} - ${prev[k]%.*} )); d+=("$v"); t=$((t + v)); done
  printf '%-7s %6s %6s %6s %8s %6s\n' "$m" "${d[0]}" "${d[1]}" "${d[2]}" "${d[3]}" "$t"
  prev=("${now[@]}")
done
silent=$(kubectl -n "$ns" get xn -o json | jq '[.items[] | select(.status.traffic.state == "Silent")] | length')
echo "nodes reported Silent at the end: $silent (stopped: $SILENT)"
