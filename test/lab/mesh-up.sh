#!/usr/bin/env bash
# Adds the mesh to a running lab (test/lab/lab-up.sh): the attribution chain of
# docs/attribution.md with only Envoy replaced.
#   istiod           pilot-discovery built from the istio.io/istio module deploy/istio pins
#                    (build.sh istiod), run against the lab's kube-apiserver with the settings
#                    deploy/istio ships: mesh config, env and args rendered by the pinned istioctl
#                    from deploy/istio/istiod/istio-operator.yaml (test/lab/mesh/render.mjs)
#   fake-xboard      Xboard's UniProxy API (config, user, push) with per-node 5xx injection
#   sidecar-standin  Xboard's sidecar, Envoy replaced: subscribes to istiod's workload index
#                    like Envoy's metadata_discovery, names callers by address, emits istio_*
#   prometheus       Debian's package, scraping the stand-in and istiod, loading the alert rules
#                    from deploy/istio/observability/prometheusrule.yaml
# and applies deploy/istio (namespace, WorkloadGroup, ServiceEntry, Telemetry, ...) to the lab.
# Writes $LAB_DIR/endpoints.json (API server, istiod debug, Prometheus, the Xboard entry point).
# Idempotent. mesh-down.sh stops these four; lab-down.sh stops everything.
#   SCRAPE_INTERVAL (default 2s), EVAL_INTERVAL (default = scrape), XBOARD_TOKEN (lab-token)
#   MESH_DEPLOY_ISTIO  1 (default): apply deploy/istio to the lab; 0: do not
#   MESH_ISTIOD_ENV  extra istiod env, space-separated KEY=VALUE, after (so over) deploy/istio's:
#                    for experiments, e.g. MESH_ISTIOD_ENV=AMBIENT_SCOPED_ADDRESS_PUSHES=true
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
MESH_PROCS=(istiod fake-xboard sidecar-standin prometheus)
SCRAPE_INTERVAL=${SCRAPE_INTERVAL:-2s}
EVAL_INTERVAL=${EVAL_INTERVAL:-$SCRAPE_INTERVAL}
XBOARD_TOKEN=${XBOARD_TOKEN:-lab-token}
t0=$(now_ms)

[ -e "$LAB_DIR/ready" ] || die "no lab at $LAB_DIR: run test/lab/lab-up.sh (make lab-up) first"
lab_load_env
apiserver_ready || die "the lab's kube-apiserver at $LAB_DIR is not ready"
command -v prometheus >/dev/null && command -v promtool >/dev/null ||
  die "prometheus/promtool not found (Debian/Ubuntu: apt-get install prometheus)"
command -v node >/dev/null || die "node not found (npm ci; make puts node_modules/.bin on PATH)"
mesh=$LAB_DIR/mesh

up=1
for p in "${MESH_PROCS[@]}"; do lab_pid "$p" >/dev/null || up=0; done
if ((up)) && [ -s "$LAB_DIR/endpoints.json" ]; then
  log "mesh already up at $LAB_DIR: $(jq -c . "$LAB_DIR/endpoints.json")"
  exit 0
fi
for ((i = ${#MESH_PROCS[@]} - 1; i >= 0; i--)); do lab_stop "${MESH_PROCS[i]}" 5 || die "could not stop ${MESH_PROCS[i]}"; done
rm -rf "$mesh" "$LAB_DIR/prometheus" "$LAB_DIR/endpoints.json"
mkdir -p "$mesh" "$LAB_DIR/prometheus/data" "$LAB_DIR/prometheus/rules" "$LAB_DIR/prometheus/targets"

# ---- binaries (Go builds at the lowest priority: 2 cores are shared) -----------------------
ISTIOD=$(nice -n 19 "$lab_here/build.sh" istiod)
ISTIOCTL=$(nice -n 19 "$lab_here/build.sh" istioctl)
mapfile -t standin < <(nice -n 19 "$lab_here/build.sh" standin)
for b in "${standin[@]}"; do
  case ${b##*/} in
    sidecar-standin) STANDIN=$b ;;
    fake-xboard) FAKE_XBOARD=$b ;;
    xrayr-traffic) TRAFFIC=$b ;;
    xds-clients) XDS_CLIENTS=$b ;;
  esac
done
for v in ISTIOD ISTIOCTL STANDIN FAKE_XBOARD TRAFFIC XDS_CLIENTS; do [ -x "${!v:-}" ] || die "build.sh gave no $v binary"; done
log "binaries ready ($(elapsed "$t0"))"

# ---- what deploy/istio ships, rendered ----------------------------------------------------
"$ISTIOCTL" manifest generate -f "$lab_repo/deploy/istio/istiod/istio-operator.yaml" >"$mesh/istiod-manifest.yaml" 2>"$mesh/istioctl.log" ||
  die "istioctl manifest generate failed (see $mesh/istioctl.log)"
node "$lab_here/mesh/render.mjs" istiod "$mesh/istiod-manifest.yaml" "$mesh"
rules=$LAB_DIR/prometheus/rules/xrayr-mesh.yml
node "$lab_here/mesh/render.mjs" rules "$lab_repo/deploy/istio/observability/prometheusrule.yaml" "$rules"
promtool check rules "$rules" >"$mesh/promtool.log" 2>&1 || die "promtool rejects the rules: $(cat "$mesh/promtool.log")"
CLUSTER_ID=$(sed -n 's/^CLUSTER_ID=//p' "$mesh/istiod.env")
CLUSTER_ID=${CLUSTER_ID:-Kubernetes}
grep -qx 'PILOT_ENABLE_AMBIENT=true' "$mesh/istiod.env" ||
  log "warning: deploy/istio's istiod does not set PILOT_ENABLE_AMBIENT=true: its workload index stays empty and every caller is unknown"
ISTIO_RELEASE=$(sed -n 's/^ISTIO_RELEASE=//p' "$lab_repo/deploy/istio/istio-version.env")

# istiod's namespace, and deploy/istio's objects (namespace labels, WorkloadGroup, ServiceEntry,
# Telemetry, sigma-api RBAC, the xrayr-vm ServiceAccount) as on the real cluster. None of them is
# on the attribution path (the stand-in reads no Telemetry; the ServiceEntry only groups the
# entries); the e2e suite skips them (MESH_DEPLOY_ISTIO=0) so its other files, which judge a
# bare lab (doctor), see the same lab whatever the order.
printf 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: istio-system\n' |
  lab_kubectl apply --server-side --field-manager=xrayr-lab -f - >/dev/null
if [ "${MESH_DEPLOY_ISTIO:-1}" = 1 ]; then
  lab_kubectl apply --server-side --force-conflicts --field-manager=xrayr-lab -k "$lab_repo/deploy/istio" >"$mesh/deploy-istio.log" 2>&1 ||
    die "kubectl apply -k deploy/istio failed: $(tail -n 5 "$mesh/deploy-istio.log")"
fi

# ---- ports, command lines ------------------------------------------------------------------
read -r HTTP_PORT GRPC_PORT SGRPC_PORT HTTPS_PORT MON_PORT CTRLZ_PORT IN_PORT ADMIN_PORT APP_PORT FX_ADMIN_PORT PROM_PORT <<<"$(free_ports 11)"
[ -n "${PROM_PORT:-}" ] || die "could not pick free ports"

# istiod: `env -C` runs it in $mesh (it resolves some default paths relative to its cwd) with
# the Deployment's literal env plus what the pod would get from the downward API.
{
  echo env
  echo -C
  echo "$mesh"
  cat "$mesh/istiod.env"
  echo POD_NAME=istiod-lab
  echo POD_NAMESPACE=istio-system
  echo SERVICE_ACCOUNT=istiod
  for kv in ${MESH_ISTIOD_ENV:-}; do
    [[ $kv == *=* ]] || die "MESH_ISTIOD_ENV: $kv is not KEY=VALUE"
    log "istiod env override (not deploy/istio's): $kv"
    echo "$kv"
  done
  echo "$ISTIOD"
  cat "$mesh/istiod.args"
  # Later flags win: the lab's addresses and files instead of in-cluster ones.
  printf '%s\n' \
    --kubeconfig="$LAB_DIR/kubeconfig" \
    --meshConfig="$mesh/mesh.yaml" \
    --networksConfig="$mesh/meshNetworks.yaml" \
    --httpAddr="127.0.0.1:$HTTP_PORT" \
    --grpcAddr="127.0.0.1:$GRPC_PORT" \
    --secureGRPCAddr="127.0.0.1:$SGRPC_PORT" \
    --httpsAddr="127.0.0.1:$HTTPS_PORT" \
    --monitoringAddr="127.0.0.1:$MON_PORT" \
    --ctrlz_address=127.0.0.1 \
    --ctrlz_port="$CTRLZ_PORT"
} >"$LAB_DIR/cmd/istiod.args"

printf '%s\n' "$FAKE_XBOARD" \
  --listen="127.0.0.1:$APP_PORT" \
  --admin="127.0.0.1:$FX_ADMIN_PORT" \
  --token="$XBOARD_TOKEN" \
  >"$LAB_DIR/cmd/fake-xboard.args"

printf '%s\n' "$STANDIN" \
  --listen="127.0.0.1:$IN_PORT" \
  --upstream="http://127.0.0.1:$APP_PORT" \
  --admin="127.0.0.1:$ADMIN_PORT" \
  --xds="127.0.0.1:$GRPC_PORT" \
  --node-id="sidecar~127.0.0.1~xboard-standin.airport-prod~airport-prod.svc.cluster.local" \
  --istio-version="$ISTIO_RELEASE" \
  --cluster-id="$CLUSTER_ID" \
  --namespace=airport-prod \
  --workload=xboard --app=xboard --service=xboard \
  --access-log \
  >"$LAB_DIR/cmd/sidecar-standin.args"

cat >"$LAB_DIR/prometheus/prometheus.yml" <<EOF
# The lab's Prometheus: Xboard's sidecar (the stand-in's /stats/prometheus, as Istio's
# Prometheus scrapes port 15090 of every sidecar), istiod, and the operators that register in
# targets/ (mesh_scrape in lib.sh; the demo's, the attribution e2e's). Rules: deploy/istio's alerts.
global:
  scrape_interval: $SCRAPE_INTERVAL
  evaluation_interval: $EVAL_INTERVAL
rule_files:
  - rules/*.yml
scrape_configs:
  - job_name: envoy-stats
    metrics_path: /stats/prometheus
    static_configs:
      - targets: ["127.0.0.1:$ADMIN_PORT"]
        labels: {namespace: airport-prod, pod: xboard-standin, app: xboard}
  - job_name: pilot
    static_configs:
      - targets: ["127.0.0.1:$MON_PORT"]
        labels: {namespace: istio-system, app: istiod}
  - job_name: xrayr-mesh-operator
    file_sd_configs:
      - files: ["targets/*.json"]
        refresh_interval: 5s
EOF
promtool check config "$LAB_DIR/prometheus/prometheus.yml" >>"$mesh/promtool.log" 2>&1 ||
  die "promtool rejects the Prometheus config: $(tail -n 5 "$mesh/promtool.log")"
printf '%s\n' "$(command -v prometheus)" \
  --config.file="$LAB_DIR/prometheus/prometheus.yml" \
  --storage.tsdb.path="$LAB_DIR/prometheus/data" \
  --storage.tsdb.retention.time=1d \
  --web.listen-address="127.0.0.1:$PROM_PORT" \
  --web.enable-lifecycle \
  --log.level=warn \
  >"$LAB_DIR/cmd/prometheus.args"

# ---- start ---------------------------------------------------------------------------------
http_ok() { curl -fsS -o /dev/null --max-time 2 "$1"; }
lab_start istiod
lab_wait istiod 90 "istiod /ready" http_ok "http://127.0.0.1:$HTTP_PORT/ready"
log "istiod ready, xDS on 127.0.0.1:$GRPC_PORT ($(elapsed "$t0"))"
lab_start fake-xboard
lab_wait fake-xboard 20 "fake-xboard" http_ok "http://127.0.0.1:$FX_ADMIN_PORT/healthz"
lab_start sidecar-standin
lab_wait sidecar-standin 30 "sidecar-standin's first workload response from istiod" http_ok "http://127.0.0.1:$ADMIN_PORT/readyz"
log "sidecar-standin subscribed to istiod; Xboard entry point http://127.0.0.1:$IN_PORT ($(elapsed "$t0"))"
lab_start prometheus
lab_wait prometheus 60 "Prometheus /-/ready" http_ok "http://127.0.0.1:$PROM_PORT/-/ready"

jq -n \
  --arg apiserver "$(jq -r .apiserver "$LAB_DIR/lab.json")" \
  --arg kubeconfig "$LAB_DIR/kubeconfig" \
  --arg istiodDebug "http://127.0.0.1:$HTTP_PORT/debug" \
  --arg istiodXds "127.0.0.1:$GRPC_PORT" \
  --arg istiodMonitoring "http://127.0.0.1:$MON_PORT/metrics" \
  --arg prometheus "http://127.0.0.1:$PROM_PORT" \
  --arg xboard "http://127.0.0.1:$IN_PORT" \
  --arg sidecarAdmin "http://127.0.0.1:$ADMIN_PORT" \
  --arg xboardAdmin "http://127.0.0.1:$FX_ADMIN_PORT" \
  --arg xboardToken "$XBOARD_TOKEN" \
  --arg clusterId "$CLUSTER_ID" \
  --arg trafficGenerator "$TRAFFIC" \
  --arg xdsClients "$XDS_CLIENTS" \
  --arg scrapeInterval "$SCRAPE_INTERVAL" \
  '$ARGS.named' >"$LAB_DIR/endpoints.json.tmp"
mv "$LAB_DIR/endpoints.json.tmp" "$LAB_DIR/endpoints.json"

cat >&2 <<EOF

Mesh is up (lab $LAB_DIR). Endpoints: $LAB_DIR/endpoints.json
  Xboard entry point (XrayR calls this):  http://127.0.0.1:$IN_PORT
  Prometheus:                             http://127.0.0.1:$PROM_PORT
  istiod debug:                           http://127.0.0.1:$HTTP_PORT/debug   (ambientz: workload index)
  sidecar stand-in's index:               http://127.0.0.1:$ADMIN_PORT/debug/workloads
  XrayR fleet: $TRAFFIC --xboard http://127.0.0.1:$IN_PORT --token $XBOARD_TOKEN --period 5s --admin 127.0.0.1:0 --nodes FILE
  stop the mesh: test/lab/mesh-down.sh    stop everything: make lab-down
EOF
log "mesh ready in $(elapsed "$t0")"
