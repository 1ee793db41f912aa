#!/usr/bin/env bash
# `make demo`: the operator's main job on the local lab. Brings the lab up, runs the operator
# (as its own ServiceAccount, with the Role from deploy/operator), syncs sigma-api's sample VPS
# list (examples/fleet/vps.json) with `xrayr-mesh sync`, and shows what an operator of the fleet
# looks at. Then the mesh (test/lab/mesh-up.sh: istiod, Xboard's pod with its sidecar stand-in
# behind the NLB stand-in, fake Xboard, Prometheus) and XrayR's traffic: one generated XrayR per active VPS (xrayr-traffic, 5 s period)
# for about a minute, and `xrayr-mesh verify`'s panel of it. The sample VPS have public addresses
# and nothing here leaves loopback, so the generator emulates an L7 hop in front of Xboard: each
# node connects from 127.0.0.1 and carries its VPS address as X-Forwarded-For, which the sidecar
# (and the stand-in) takes as the caller. Leaves everything running; `make lab-down` stops it all.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PWD/node_modules/.bin:$PATH
export LAB_DIR=${LAB_DIR:-$PWD/.lab}
# shellcheck source=../test/lab/lib.sh
source test/lab/lib.sh

scripts/install-deps.sh
[ -x node_modules/.bin/node ] || npm ci --no-audit --no-fund
test/lab/lab-up.sh >/dev/null
npm run build --silent
# shellcheck disable=SC1091
source "$LAB_DIR/env"
ns=airport-prod

# The operator runs under its ServiceAccount, not as admin: the demo shows the Role is enough.
kubectl apply -f deploy/operator/rbac.yaml >/dev/null
token=$(kubectl -n "$ns" create token xrayr-mesh-operator --duration=24h)
server=$(kubectl config view --raw -o jsonpath='{.clusters[0].cluster.server}')
kubectl config view --raw -o jsonpath='{.clusters[0].cluster.certificate-authority-data}' | base64 -d >"$LAB_DIR/ca.crt"
opkc=$LAB_DIR/operator.kubeconfig
KUBECONFIG=$opkc kubectl config set-cluster lab --server="$server" --certificate-authority="$LAB_DIR/ca.crt" --embed-certs >/dev/null
KUBECONFIG=$opkc kubectl config set-credentials operator --token="$token" >/dev/null
KUBECONFIG=$opkc kubectl config set-context lab --cluster=lab --user=operator --namespace="$ns" >/dev/null
KUBECONFIG=$opkc kubectl config use-context lab >/dev/null

# The mesh: istiod (with deploy/istio's settings and objects), Xboard's pod and its sidecar
# stand-in behind the NLB stand-in, fake Xboard, Prometheus. Idempotent; the first run builds
# istiod and Prometheus (minutes).
MESH_DEPLOY_ISTIO=1 test/lab/mesh-up.sh >/dev/null
ep=$LAB_DIR/endpoints.json

if ! lab_pid operator >/dev/null 2>&1; then
  port=$(jq -r '.operatorMetricsPort // empty' "$LAB_DIR/lab.json")
  port=${port:-18080}
  # The operator as the image starts it (node, its flags, the bundle): one argv word a line.
  # shellcheck disable=SC2046
  printf '%s\n' env "AIRPORT_KUBECONFIG=$opkc" "AIRPORT_NAMESPACE=$ns" "POD_NAME=demo-operator" \
    "METRICS_ADDR=127.0.0.1:$port" "PROMETHEUS_URL=$(jq -r .prometheus "$ep")" \
    "TRAFFIC_WINDOW=1m" "TRAFFIC_POLL_SECONDS=10" \
    $(node -e 'import("./test/e2e/support/entrypoint.ts").then((m) => console.log(m.operatorArgv(process.cwd(), process.execPath).join("\n")))') >"$LAB_DIR/cmd/operator.args"
  lab_start operator
  lab_wait operator 30 "operator ready" curl -fsS "http://127.0.0.1:$port/readyz"
fi
# The mesh's Prometheus scrapes the operator too: the dashboard's operator panels have data.
mesh_scrape demo-operator "$(sed -n 's/^METRICS_ADDR=\(.*\)/\1/p' "$LAB_DIR/cmd/operator.args")"


# sigma-api's VPS list, as its API serves it: 30 active VPS across jp, hk, us, de, plus retired
# and provisioning rows that must not become nodes. `xrayr-mesh sync` prints its plan and applies it.
xrayr_mesh() { AIRPORT_KUBECONFIG=$KUBECONFIG AIRPORT_NAMESPACE=$ns node dist/bundle/xrayr-mesh.mjs "$@"; }
echo
echo "== xrayr-mesh sync --from examples/fleet/vps.json --prune   (sigma-api's list -> XrayrNodes)"
xrayr_mesh sync --from examples/fleet/vps.json --prune
want=$(jq '[.items[] | select(.status == "active")] | length' examples/fleet/vps.json)
for _ in $(seq 1 150); do
  done_=$(kubectl -n "$ns" get xn -l mesh.sigma.io/synced-by=xrayr-mesh-sync -o json |
    jq '[.items[] | select(.status.observedGeneration == .metadata.generation)] | length')
  [ "$done_" -ge "$want" ] && break
  sleep 0.2
done

# XrayR on every active VPS: one generated node per synced XrayrNode, connecting from 127.0.0.1
# with X-Forwarded-For = the VPS address. Kept running across demos while the fleet is the same
# (restarted when it changed); its pid is in $LAB_DIR/pids, so `make lab-down` stops it.
nodes=$LAB_DIR/xrayr-traffic.nodes.json
kubectl -n "$ns" get xn -l mesh.sigma.io/synced-by=xrayr-mesh-sync -o json |
  jq -S '[.items[] | {key: .metadata.name, value: {address: "127.0.0.1", nodeId: (.spec.vpsId // "1"), nodeType: "vless", forwardedFor: .spec.address}}] | from_entries' >"$nodes.new"
# The sidecar names a caller only once istiod pushed its workload: wait for all of them.
for _ in $(seq 1 100); do
  known=0
  for a in $(jq -r '.[].forwardedFor' "$nodes.new"); do
    curl -fsS "$(jq -r .sidecarAdmin "$ep")/debug/lookup?address=$a" | jq -e .found >/dev/null && known=$((known + 1))
  done
  [ "$known" -ge "$(jq length "$nodes.new")" ] && break
  sleep 0.3
done
gen_args=$LAB_DIR/cmd/xrayr-traffic.args
printf '%s\n' "$(jq -r .trafficGenerator "$ep")" --xboard="$(jq -r .xboard "$ep")" --token="$(jq -r .xboardToken "$ep")" \
  --period=5s --admin=127.0.0.1:0 --ready-file="$LAB_DIR/xrayr-traffic.addr" --nodes="$nodes" >"$gen_args.new"
if lab_pid xrayr-traffic >/dev/null && cmp -s "$nodes" "$nodes.new" && cmp -s "$gen_args" "$gen_args.new"; then
  rm -f "$nodes.new" "$gen_args.new"
else
  lab_stop xrayr-traffic 5
  mv "$nodes.new" "$nodes"
  mv "$gen_args.new" "$gen_args"
  rm -f "$LAB_DIR/xrayr-traffic.addr"
  lab_start xrayr-traffic
  lab_wait xrayr-traffic 10 "xrayr-traffic's admin API" test -s "$LAB_DIR/xrayr-traffic.addr"
fi
traffic_since=$(stat -c %Y "$LAB_DIR/pids/xrayr-traffic.pid")

echo
echo "== xrayr-mesh status   (one line a node: ready, reason, entry present)"
xrayr_mesh status
echo
echo "== kubectl get xrayrnodes -n $ns"
kubectl -n "$ns" get xn
echo
echo "== kubectl get workloadentries -n $ns   (what istiod sees: named <node>-<hash>, workload = the node, owned by it)"
kubectl -n "$ns" get workloadentries -o custom-columns='NAME:.metadata.name,ADDRESS:.spec.address,WORKLOAD:.spec.labels.service\.istio\.io/workload-name,APP:.spec.labels.app,VERSION:.spec.labels.version,COUNTRY:.spec.labels.country,OWNER:.metadata.ownerReferences[0].name'
echo
echo "== operator metrics (curl 127.0.0.1:$(sed -n 's/^METRICS_ADDR=127.0.0.1:\(.*\)/\1/p' "$LAB_DIR/cmd/operator.args")/metrics)"
curl -fsS "http://$(sed -n 's/^METRICS_ADDR=\(.*\)/\1/p' "$LAB_DIR/cmd/operator.args")/metrics" | grep -E '^xrayr_mesh_(workload_entries|address_conflicts|leader|reconcile_total)'

# A minute of XrayR traffic (12 cycles of each node), then the panel Kiali's edge would show.
wait_s=$((traffic_since + 65 - $(date +%s)))
if [ "$wait_s" -gt 0 ]; then
  echo
  echo "(generating XrayR traffic: $want nodes, each every 5 s; the panel in ${wait_s}s)"
  sleep "$wait_s"
fi
prom=$(jq -r .prometheus "$ep")
echo
echo "== xrayr-mesh verify --prometheus $prom --window 1m   (XrayR -> Xboard as Kiali draws it)"
verify_rc=0
xrayr_mesh verify --prometheus "$prom" --window 1m || verify_rc=$?

# The same numbers on the resources: the operator writes status.traffic (a state change at most
# once a minute per node, so the first Active can trail the panel by a few seconds).
for _ in $(seq 1 40); do
  active=$(kubectl -n "$ns" get xn -o json | jq '[.items[] | select(.status.traffic.state == "Active")] | length')
  [ "$active" -ge "$want" ] && break
  sleep 1
done
echo
echo "== kubectl get xn -n $ns   (status.traffic: requests/min, error ratio, p99, last seen; first 8)"
# sed, not head: head exits after 9 lines and kubectl, still writing, dies of SIGPIPE, which
# pipefail turns into the demo's exit status.
kubectl -n "$ns" get xn | sed -n 1,9p
cat <<EOT

The lab, the mesh, the operator and the XrayR fleet keep running. Explore:
  source $LAB_DIR/env
  kubectl -n $ns get xn                       # the fleet and its Ready column
  kubectl -n $ns describe xn jp-tokyo-01-1001 # conditions and events
  alias xrayr-mesh="AIRPORT_KUBECONFIG=\$KUBECONFIG $PWD/node_modules/.bin/node $PWD/dist/cmd/xrayr-mesh.js"
  xrayr-mesh status --country jp -o wide      # the fleet CLI (wide: the entry's name)
  kubectl -n $ns get workloadentries -l mesh.sigma.io/xrayr-node=jp-tokyo-01-1001   # a node's entry
  xrayr-mesh retire jp-tokyo-01-1001          # retire a VPS: its entry is garbage-collected
  xrayr-mesh sync --from examples/fleet/vps.json --prune   # sigma-api's list again: puts it back
  xrayr-mesh verify --prometheus $prom --window 1m   # the panel again
  curl -s http://\$(cat $LAB_DIR/xrayr-traffic.addr)/nodes | jq   # the generator's ground truth per node
  xrayr-mesh doctor                           # what attribution still lacks here (istiod, Xboard)
  tail -f $LAB_DIR/logs/operator.log          # the operator's JSON log
  tail -f $LAB_DIR/logs/sidecar-standin-0.log # the sidecar's access log (Xboard's first pod)
Stop everything with: make lab-down
EOT
exit "$verify_rc"
