#!/usr/bin/env bash
# Adds the mesh to a running lab (test/lab/lab-up.sh): the attribution chain of
# docs/attribution.md with only Envoy replaced.
#   istiod           pilot-discovery built from the istio.io/istio module deploy/istio pins
#                    (build.sh istiod), run against the lab's kube-apiserver with the settings
#                    deploy/istio ships: mesh config, env and args rendered by the pinned istioctl
#                    from deploy/istio/istiod/istio-operator.yaml (test/lab/mesh/render.mjs)
#   Xboard           its objects as a cluster has them: the Deployment (test/chart/xboard.yaml with
#                    deploy/istio/xboard's pod patch), the ReplicaSet and XBOARD_REPLICAS Pods its
#                    controllers and Istio's injector would make (the lab runs none of them; each
#                    Pod Running and Ready with its own loopback IP 127.255.0.N, through the status
#                    subresource), the Service (test/chart/xboard-service.yaml with the NLB
#                    patch), and Xboard's Telemetry (deploy/istio/telemetry-xboard.yaml)
#   fake-xboard      Xboard's UniProxy API (config, user, push) with per-node 5xx injection,
#                    behind every pod's sidecar
#   sidecar-standin-N  pod N's sidecar, Envoy replaced: reads the pod's labels and annotations
#                    (downward-API files), subscribes to istiod's workload index and listeners,
#                    names callers by address, emits istio_* as configured by istiod's istio.stats
#   xboard-nlb       the NLB in front: per connection one pod, round-robin, caller's address kept
#   prometheus       Prometheus and promtool at the version deploy/istio ships (build.sh
#                    prometheus), scraping the sidecars through Istio's own kubernetes-pods job
#                    (pod annotations, pod labels as target labels), istiod and the operators;
#                    loading deploy/istio/observability/prometheusrule.yaml (recording rules
#                    scaled to the lab's scrape interval, alerts as shipped)
# and applies deploy/istio (namespace, WorkloadGroup, Telemetry, ...) to the lab; not the optional
# fleet-wide ServiceEntry (deploy/istio/optional/: bench/mesh.mjs applies it for its own run).
# Writes $LAB_DIR/endpoints.json (API server, istiod debug, Prometheus, the Xboard entry point,
# each sidecar's admin). Idempotent. mesh-down.sh stops these and deletes the Xboard objects;
# lab-down.sh stops everything.
#   SCRAPE_INTERVAL (default 2s), EVAL_INTERVAL (default = scrape), XBOARD_TOKEN (lab-token)
#   XBOARD_REPLICAS  Xboard pods, each its own sidecar and scrape target (default 1; at most 250)
#   MESH_TELEMETRY   project (default): Xboard's telemetry as deploy/istio ships it (Telemetry
#                    metrics overrides, bucket and eviction annotations); default: Istio's
#                    defaults (the same objects without them)
#   XBOARD_POD_ANNOTATIONS  extra annotations on Xboard's pod template, space-separated
#                    KEY=VALUE (over the profile's), e.g. sidecar.istio.io/statsEvictionInterval=10s
#   MESH_DEPLOY_ISTIO  1 (default): apply deploy/istio to the lab; 0: only Xboard's Telemetry
#   MESH_ISTIOD_ENV  extra istiod env, space-separated KEY=VALUE, after (so over) deploy/istio's:
#                    for experiments, e.g. MESH_ISTIOD_ENV=AMBIENT_SCOPED_ADDRESS_PUSHES=true
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
SCRAPE_INTERVAL=${SCRAPE_INTERVAL:-2s}
EVAL_INTERVAL=${EVAL_INTERVAL:-$SCRAPE_INTERVAL}
XBOARD_TOKEN=${XBOARD_TOKEN:-lab-token}
XBOARD_REPLICAS=${XBOARD_REPLICAS:-1}
MESH_TELEMETRY=${MESH_TELEMETRY:-project}
XBOARD_NS=airport-prod
t0=$(now_ms)

[[ $XBOARD_REPLICAS =~ ^[1-9][0-9]*$ ]] && ((XBOARD_REPLICAS <= 250)) || die "XBOARD_REPLICAS=$XBOARD_REPLICAS: a number of pods from 1 to 250"
case $MESH_TELEMETRY in project | default) ;; *) die "MESH_TELEMETRY=$MESH_TELEMETRY: project (deploy/istio's profile) or default (Istio's defaults)" ;; esac
[ -e "$LAB_DIR/ready" ] || die "no lab at $LAB_DIR: run test/lab/lab-up.sh (make lab-up) first"
lab_load_env
apiserver_ready || die "the lab's kube-apiserver at $LAB_DIR is not ready"
command -v node >/dev/null || die "node not found (npm ci; make puts node_modules/.bin on PATH)"
mesh=$LAB_DIR/mesh
# What this run asks for; a mesh already up with the same is left alone, any other is replaced.
wanted=$(jq -cn --arg r "$XBOARD_REPLICAS" --arg t "$MESH_TELEMETRY" --arg a "${XBOARD_POD_ANNOTATIONS:-}" --arg s "$SCRAPE_INTERVAL" --arg e "$EVAL_INTERVAL" \
  --arg d "${MESH_DEPLOY_ISTIO:-1}" --arg i "${MESH_ISTIOD_ENV:-}" '{replicas: ($r | tonumber), telemetry: $t, annotations: $a, scrape: $s, eval: $e, deployIstio: $d, istiodEnv: $i}')

if [ -s "$LAB_DIR/endpoints.json" ] && [ "$(jq -c .knobs "$LAB_DIR/endpoints.json")" = "$wanted" ]; then
  up=1
  for p in $(mesh_proc_names); do lab_pid "$p" >/dev/null || up=0; done
  [ "$(mesh_proc_names | grep -c '^sidecar-standin-')" = "$XBOARD_REPLICAS" ] || up=0
  if ((up)); then
    log "mesh already up at $LAB_DIR: $(jq -c . "$LAB_DIR/endpoints.json")"
    exit 0
  fi
fi
"$lab_here/mesh-down.sh" >"$LAB_DIR/mesh-down.log" 2>&1 || die "could not stop the mesh already at $LAB_DIR: $(tail -n 3 "$LAB_DIR/mesh-down.log")"
rm -rf "$mesh" "$LAB_DIR/prometheus" "$LAB_DIR/endpoints.json"
mkdir -p "$mesh" "$LAB_DIR/prometheus/data" "$LAB_DIR/prometheus/rules" "$LAB_DIR/prometheus/shipped" "$LAB_DIR/prometheus/targets"

# ---- binaries (Go builds at the lowest priority: 2 cores are shared) -----------------------
ISTIOD=$(nice -n 19 "$lab_here/build.sh" istiod)
ISTIOCTL=$(nice -n 19 "$lab_here/build.sh" istioctl)
mapfile -t standin < <(nice -n 19 "$lab_here/build.sh" standin)
for b in "${standin[@]}"; do
  case ${b##*/} in
    sidecar-standin) STANDIN=$b ;;
    fake-xboard) FAKE_XBOARD=$b ;;
    xrayr-traffic) TRAFFIC=$b ;;
    xboard-nlb) NLB=$b ;;
    xds-clients) XDS_CLIENTS=$b ;;
  esac
done
mapfile -t prom < <(nice -n 19 "$lab_here/build.sh" prometheus)
PROMETHEUS=${prom[0]:-}
PROMTOOL=${prom[1]:-}
for v in ISTIOD ISTIOCTL STANDIN FAKE_XBOARD TRAFFIC NLB XDS_CLIENTS PROMETHEUS PROMTOOL; do [ -x "${!v:-}" ] || die "build.sh gave no $v binary"; done
log "binaries ready: $("$PROMETHEUS" --version 2>/dev/null | head -n 1) ($(elapsed "$t0"))"

# ---- what deploy/istio ships, rendered ----------------------------------------------------
"$ISTIOCTL" manifest generate -f "$lab_repo/deploy/istio/istiod/istio-operator.yaml" >"$mesh/istiod-manifest.yaml" 2>"$mesh/istioctl.log" ||
  die "istioctl manifest generate failed (see $mesh/istioctl.log)"
node "$lab_here/mesh/render.mjs" istiod "$mesh/istiod-manifest.yaml" "$mesh"
values=$lab_repo/deploy/istio/observability/prometheus-values.yaml
# The live Prometheus loads the rules with the recording windows scaled to the lab's scrape
# interval; promtool tests (the e2e) run the shipped file as it is.
node "$lab_here/mesh/render.mjs" rules "$lab_repo/deploy/istio/observability/prometheusrule.yaml" "$LAB_DIR/prometheus/rules/xrayr-mesh.yml" "$SCRAPE_INTERVAL" "$values"
node "$lab_here/mesh/render.mjs" rules "$lab_repo/deploy/istio/observability/prometheusrule.yaml" "$LAB_DIR/prometheus/shipped/xrayr-mesh.yml"
for f in "$LAB_DIR/prometheus/rules/xrayr-mesh.yml" "$LAB_DIR/prometheus/shipped/xrayr-mesh.yml"; do
  "$PROMTOOL" check rules "$f" >>"$mesh/promtool.log" 2>&1 || die "promtool rejects $f: $(tail -n 5 "$mesh/promtool.log")"
done
CLUSTER_ID=$(sed -n 's/^CLUSTER_ID=//p' "$mesh/istiod.env")
CLUSTER_ID=${CLUSTER_ID:-Kubernetes}
grep -qx 'PILOT_ENABLE_AMBIENT=true' "$mesh/istiod.env" ||
  log "warning: deploy/istio's istiod does not set PILOT_ENABLE_AMBIENT=true: its workload index stays empty and every caller is unknown"
ISTIO_RELEASE=$(sed -n 's/^ISTIO_RELEASE=//p' "$lab_repo/deploy/istio/istio-version.env")
ISTIO_GO_MODULE=$(sed -n 's/^ISTIO_GO_MODULE=//p' "$lab_repo/deploy/istio/istio-version.env")
ISTIO_SRC=$(cd "$lab_here/istiod" && go mod download -json "istio.io/istio@$ISTIO_GO_MODULE" | jq -r .Dir)
[ -f "$ISTIO_SRC/samples/addons/prometheus.yaml" ] || die "no samples/addons/prometheus.yaml in istio.io/istio@$ISTIO_GO_MODULE"

# istiod's namespace, and deploy/istio's objects (namespace labels, WorkloadGroup, Telemetry, sigma-api RBAC, the xrayr-vm ServiceAccount) as on the real cluster. Only Xboard's
# Telemetry is on the attribution path (it configures the sidecars' istio.stats): it is applied
# in every case, in the profile asked for. The e2e suite skips the rest (MESH_DEPLOY_ISTIO=0) so
# its other files, which judge a bare lab (doctor), see the same lab whatever the order.
printf 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: istio-system\n' |
  lab_kubectl apply --server-side --field-manager=xrayr-lab -f - >/dev/null
: >"$LAB_DIR/mesh-objects"
if [ "${MESH_DEPLOY_ISTIO:-1}" = 1 ]; then
  lab_kubectl apply --server-side --force-conflicts --field-manager=xrayr-lab -k "$lab_repo/deploy/istio" >"$mesh/deploy-istio.log" 2>&1 ||
    die "kubectl apply -k deploy/istio failed: $(tail -n 5 "$mesh/deploy-istio.log")"
fi
node "$lab_here/mesh/render.mjs" telemetry "$lab_repo/deploy/istio/telemetry-xboard.yaml" "$MESH_TELEMETRY" "$mesh/telemetry.json"
[ "${MESH_DEPLOY_ISTIO:-1}" = 1 ] || echo "telemetry $(jq -r .metadata.name "$mesh/telemetry.json")" >>"$LAB_DIR/mesh-objects"
lab_kubectl apply --server-side --force-conflicts --field-manager=xrayr-lab -f "$mesh/telemetry.json" >/dev/null ||
  die "applying Xboard's Telemetry ($MESH_TELEMETRY) failed"

# ---- ports ---------------------------------------------------------------------------------
read -r HTTP_PORT GRPC_PORT SGRPC_PORT HTTPS_PORT MON_PORT CTRLZ_PORT IN_PORT ADMIN_PORT APP_PORT FX_ADMIN_PORT PROM_PORT NLB_PORT NLB_ADMIN_PORT <<<"$(free_ports 13)"
[ -n "${NLB_ADMIN_PORT:-}" ] || die "could not pick free ports"
# Pod i's IP: 127.255.0.(i+1). Nothing else in the lab uses 127.255.x.y (e2e fixtures draw the
# second octet from 1..254, benchmarks use 127.2.x.y).
pod_ips=()
for ((i = 0; i < XBOARD_REPLICAS; i++)); do pod_ips+=("127.255.0.$((i + 1))"); done

# ---- Xboard's objects: Deployment -> ReplicaSet -> Pods, Service -------------------------------
# The Deployment as phase 2 of docs/install.md leaves it: the stand-in Xboard of test/chart with
# deploy/istio/xboard/deployment-peer-metadata.patch.yaml applied (the profile's annotations
# removed for MESH_TELEMETRY=default).
xb=$mesh/xboard
mkdir -p "$xb"
lab_kubectl patch --local -o json -f "$lab_repo/test/chart/xboard.yaml" --type strategic \
  --patch-file "$lab_repo/deploy/istio/xboard/deployment-peer-metadata.patch.yaml" >"$xb/patched.json" 2>"$mesh/xboard.log" ||
  die "deploy/istio/xboard's patch does not apply to test/chart/xboard.yaml: $(cat "$mesh/xboard.log")"
extra='{}'
for kv in ${XBOARD_POD_ANNOTATIONS:-}; do
  [[ $kv == *=* ]] || die "XBOARD_POD_ANNOTATIONS: $kv is not KEY=VALUE"
  extra=$(jq -c --arg k "${kv%%=*}" --arg v "${kv#*=}" '. + {($k): $v}' <<<"$extra")
done
node "$lab_here/mesh/render.mjs" xboard "$xb/patched.json" "$(jq -cn --arg p "$MESH_TELEMETRY" --argjson n "$XBOARD_REPLICAS" \
  --argjson a "$extra" --arg port "$ADMIN_PORT" --arg rel "$ISTIO_RELEASE" \
  '{profile: $p, replicas: $n, annotations: $a, scrapePort: ($port | tonumber), istioRelease: $rel, podIPs: $ARGS.positional}' --args "${pod_ips[@]}")" "$xb"
apply_obj() { # FILE: server-side apply, prints the object's uid
  lab_kubectl apply --server-side --force-conflicts --field-manager=xrayr-lab -o jsonpath='{.metadata.uid}' -f "$1" 2>>"$mesh/xboard.log" ||
    die "applying $(jq -r '.kind + " " + .metadata.name' "$1") failed: $(tail -n 3 "$mesh/xboard.log")"
}
status_of() { # KIND NAME FILE: the status subresource, as the controllers (and kubelet) write it
  lab_kubectl -n "$XBOARD_NS" patch "$1" "$2" --subresource=status --type=merge --patch-file "$3" >/dev/null 2>>"$mesh/xboard.log" ||
    die "status of $1 $2 not written: $(tail -n 3 "$mesh/xboard.log")"
}
dep_name=$(jq -r .metadata.name "$xb/deployment.json")
rs_name=$(jq -r .metadata.name "$xb/replicaset.json")
echo "deployment $dep_name" >>"$LAB_DIR/mesh-objects"
dep_uid=$(apply_obj "$xb/deployment.json")
sed -i "s/__DEPLOYMENT_UID__/$dep_uid/" "$xb/replicaset.json"
echo "replicaset $rs_name" >>"$LAB_DIR/mesh-objects"
rs_uid=$(apply_obj "$xb/replicaset.json")
mapfile -t pods < <(cut -f1 "$xb/pods.tsv")
mapfile -t app_ports < <(cut -f3 "$xb/pods.tsv")
for ((i = 0; i < XBOARD_REPLICAS; i++)); do
  sed -i "s/__REPLICASET_UID__/$rs_uid/" "$xb/pod-$i.json"
  echo "pod ${pods[i]}" >>"$LAB_DIR/mesh-objects"
  apply_obj "$xb/pod-$i.json" >/dev/null
  status_of pod "${pods[i]}" "$xb/status-pod-$i.json"
  # What the kubelet would write into the pod's podinfo volume for pilot-agent.
  lab_kubectl -n "$XBOARD_NS" get pod "${pods[i]}" -o json >"$xb/live-pod-$i.json"
  node "$lab_here/mesh/render.mjs" downward "$xb/live-pod-$i.json" "$xb/podinfo-$i"
done
status_of replicaset "$rs_name" "$xb/status-replicaset.json"
status_of deployment "$dep_name" "$xb/status-deployment.json"
lab_kubectl patch --local -o json -f "$lab_repo/test/chart/xboard-service.yaml" --type strategic \
  --patch-file "$lab_repo/deploy/istio/xboard/service-nlb-ip.patch.yaml" >"$xb/service.json" 2>>"$mesh/xboard.log" ||
  die "deploy/istio/xboard/service-nlb-ip.patch.yaml does not apply to test/chart/xboard-service.yaml"
echo "service $(jq -r .metadata.name "$xb/service.json")" >>"$LAB_DIR/mesh-objects"
apply_obj "$xb/service.json" >/dev/null
log "Xboard: Deployment $dep_name, $XBOARD_REPLICAS pod(s) ${pods[*]} at ${pod_ips[*]}, Service, Telemetry ($MESH_TELEMETRY) ($(elapsed "$t0"))"

# ---- command lines -------------------------------------------------------------------------
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

# Pod i's sidecar: on the pod's IP (inbound where the NLB sends connections, admin where
# Prometheus's kubernetes-pods job scrapes), node id and metadata as pilot-agent builds them.
targets=()
for ((i = 0; i < XBOARD_REPLICAS; i++)); do
  printf '%s\n' "$STANDIN" \
    --listen="${pod_ips[i]}:$IN_PORT" \
    --inbound-port="${app_ports[i]}" \
    --upstream="http://127.0.0.1:$APP_PORT" \
    --admin="${pod_ips[i]}:$ADMIN_PORT" \
    --xds="127.0.0.1:$GRPC_PORT" \
    --pod-name="${pods[i]}" \
    --pod-ip="${pod_ips[i]}" \
    --pod-labels="$xb/podinfo-$i/labels" \
    --pod-annotations="$xb/podinfo-$i/annotations" \
    --istio-version="$ISTIO_RELEASE" \
    --cluster-id="$CLUSTER_ID" \
    --namespace="$XBOARD_NS" \
    --workload="$dep_name" --service=xboard \
    --access-log \
    >"$LAB_DIR/cmd/sidecar-standin-$i.args"
  targets+=(--target="${pod_ips[i]}:$IN_PORT")
done
printf '%s\n' "$NLB" --listen="127.0.0.1:$NLB_PORT" --admin="127.0.0.1:$NLB_ADMIN_PORT" "${targets[@]}" >"$LAB_DIR/cmd/xboard-nlb.args"

node "$lab_here/mesh/render.mjs" prometheus "$(jq -cn --arg s "$SCRAPE_INTERVAL" --arg e "$EVAL_INTERVAL" --arg p "127.0.0.1:$MON_PORT" \
  --arg k "$LAB_DIR/kubeconfig" --arg i "$ISTIO_SRC/samples/addons/prometheus.yaml" \
  '{scrapeInterval: $s, evalInterval: $e, pilot: $p, kubeconfig: $k, istioSample: $i}')" "$LAB_DIR/prometheus/prometheus.yml"
"$PROMTOOL" check config "$LAB_DIR/prometheus/prometheus.yml" >>"$mesh/promtool.log" 2>&1 ||
  die "promtool rejects the Prometheus config: $(tail -n 5 "$mesh/promtool.log")"
printf '%s\n' "$PROMETHEUS" \
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
for ((i = 0; i < XBOARD_REPLICAS; i++)); do lab_start "sidecar-standin-$i"; done
for ((i = 0; i < XBOARD_REPLICAS; i++)); do
  # Ready: the first workload response and istiod's inbound filter chain for Xboard's port.
  lab_wait "sidecar-standin-$i" 60 "sidecar-standin-$i's workload index and inbound chain from istiod" \
    http_ok "http://${pod_ips[i]}:$ADMIN_PORT/readyz"
done
log "$XBOARD_REPLICAS sidecar stand-in(s) have istiod's workload index and inbound chain ($(elapsed "$t0"))"
lab_start xboard-nlb
lab_wait xboard-nlb 20 "xboard-nlb" http_ok "http://127.0.0.1:$NLB_ADMIN_PORT/healthz"
lab_start prometheus
lab_wait prometheus 60 "Prometheus /-/ready" http_ok "http://127.0.0.1:$PROM_PORT/-/ready"

admins=()
for ((i = 0; i < XBOARD_REPLICAS; i++)); do admins+=("http://${pod_ips[i]}:$ADMIN_PORT"); done
jq -n \
  --arg apiserver "$(jq -r .apiserver "$LAB_DIR/lab.json")" \
  --arg kubeconfig "$LAB_DIR/kubeconfig" \
  --arg istiodDebug "http://127.0.0.1:$HTTP_PORT/debug" \
  --arg istiodXds "127.0.0.1:$GRPC_PORT" \
  --arg istiodMonitoring "http://127.0.0.1:$MON_PORT/metrics" \
  --arg prometheus "http://127.0.0.1:$PROM_PORT" \
  --arg prometheusVersion "$("$PROMETHEUS" --version 2>/dev/null | head -n 1)" \
  --arg promtool "$PROMTOOL" \
  --arg xboard "http://127.0.0.1:$NLB_PORT" \
  --arg xboardNlbAdmin "http://127.0.0.1:$NLB_ADMIN_PORT" \
  --arg sidecarAdmin "${admins[0]}" \
  --arg xboardAdmin "http://127.0.0.1:$FX_ADMIN_PORT" \
  --arg xboardToken "$XBOARD_TOKEN" \
  --arg clusterId "$CLUSTER_ID" \
  --arg trafficGenerator "$TRAFFIC" \
  --arg xdsClients "$XDS_CLIENTS" \
  --arg scrapeInterval "$SCRAPE_INTERVAL" \
  --arg telemetry "$MESH_TELEMETRY" \
  --argjson knobs "$wanted" \
  --argjson sidecarAdmins "$(printf '%s\n' "${admins[@]}" | jq -R . | jq -cs .)" \
  --argjson xboardPods "$(printf '%s\n' "${pods[@]}" | jq -R . | jq -cs .)" \
  '$ARGS.named' >"$LAB_DIR/endpoints.json.tmp"
mv "$LAB_DIR/endpoints.json.tmp" "$LAB_DIR/endpoints.json"

cat >&2 <<EOM

Mesh is up (lab $LAB_DIR). Endpoints: $LAB_DIR/endpoints.json
  Xboard entry point (XrayR calls this):  http://127.0.0.1:$NLB_PORT   ($XBOARD_REPLICAS pod(s), telemetry $MESH_TELEMETRY)
  Prometheus:                             http://127.0.0.1:$PROM_PORT
  istiod debug:                           http://127.0.0.1:$HTTP_PORT/debug   (ambientz: workload index)
  pod sidecars (index, stats config):     ${admins[*]}  (/debug/workloads, /debug/stats-config)
  XrayR fleet: $TRAFFIC --xboard http://127.0.0.1:$NLB_PORT --token $XBOARD_TOKEN --period 5s --admin 127.0.0.1:0 --nodes FILE
  stop the mesh: test/lab/mesh-down.sh    stop everything: make lab-down
EOM
log "mesh ready in $(elapsed "$t0")"
