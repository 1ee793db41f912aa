#!/usr/bin/env bash
# Starts a real Kubernetes control plane on loopback, with no container engine:
# etcd, kube-apiserver and kube-controller-manager (garbage collector, namespace and
# service-account controllers) built from Go modules by build.sh, then installs the Istio
# CRDs, the operator's CRDs (deploy/crds/) and the namespace airport-prod.
# State goes to $LAB_DIR (default <repo>/.lab); see lib.sh for its layout.
# Idempotent: if the lab is already up it says so and exits 0. Stop it with lab-down.sh.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

# Istio CRDs come from the istio.io/api Go module (kubernetes/customresourcedefinitions.gen.yaml).
ISTIO_API_VERSION=${ISTIO_API_VERSION:-v1.30.8}
LAB_NAMESPACES=(airport-prod)
t0=$(now_ms)

command -v openssl >/dev/null || die "openssl not found (Debian/Ubuntu: apt-get install openssl)"
command -v go >/dev/null || die "go not found (needed to build the lab binaries and fetch istio.io/api)"
command -v curl >/dev/null || die "curl not found (Debian/Ubuntu: apt-get install curl)"
command -v jq >/dev/null || die "jq not found (Debian/Ubuntu: apt-get install jq)"
command -v setsid >/dev/null || die "setsid not found (Debian/Ubuntu: apt-get install util-linux)"

usage() {
  cat <<EOF

Lab is up. Use it with:
  export KUBECONFIG=$LAB_DIR/kubeconfig
  export PATH=$(dirname "$KUBECTL"):\$PATH
or simply:  source $LAB_DIR/env
  apiserver:  $(jq -r .apiserver "$LAB_DIR/lab.json")   audit log: $LAB_DIR/audit.log
  restart the apiserver: test/lab/restart-apiserver.sh    stop: make lab-down
EOF
}

# The operator's CRDs (deploy/crds/*.yaml|yml|json, if any). Also re-applied when the lab is
# already up, so `make lab-up` picks up an edited CRD. Returns 1 with crd_error_msg set if
# the apiserver rejects one; the lab is left running.
apply_operator_crds() {
  local dir=$lab_repo/deploy/crds f args=() n=0
  [ -d "$dir" ] || return 0
  while IFS= read -r f; do args+=(-f "$f"); n=$((n + 1)); done < <(
    find "$dir" -maxdepth 1 -type f \( -name '*.yaml' -o -name '*.yml' -o -name '*.json' \) ! -name 'kustomization.*' | sort)
  ((n > 0)) || return 0
  if ! lab_kubectl apply --server-side --force-conflicts --field-manager=xrayr-lab "${args[@]}" >/dev/null; then
    crd_error_msg="the apiserver rejected a CRD in deploy/crds (see above; lab left running: fix it and re-run make lab-up)"
    return 1
  fi
  if ! lab_kubectl wait --for=condition=Established --timeout=60s "${args[@]}" >/dev/null; then
    crd_error_msg="a CRD in deploy/crds did not become Established"
    return 1
  fi
  log "operator CRDs established: $n file(s) from deploy/crds ($(elapsed "$t0"))"
}

# Starts kube-controller-manager and waits until its controllers run: /healthz, the garbage
# collector's monitors synced, and the service-account controller's "default" account.
start_controller_manager() {
  local healthz
  lab_start kube-controller-manager
  healthz=$(jq -r .controllerManagerHealthz "$LAB_DIR/lab.json")
  lab_wait kube-controller-manager 60 "kube-controller-manager /healthz" \
    bash -c "[ \"\$(curl -ksS '$healthz')\" = ok ]"
  lab_wait kube-controller-manager 60 "garbage collector monitors synced" \
    log_since_start kube-controller-manager 'all resource monitors have synced'
  lab_wait kube-controller-manager 30 "serviceaccount default in ${LAB_NAMESPACES[0]}" \
    lab_kubectl -n "${LAB_NAMESPACES[0]}" get serviceaccount default
  log "kube-controller-manager ready ($(elapsed "$t0"))"
}

# ---- already up? -------------------------------------------------------------------------
if [ -d "$LAB_DIR" ]; then
  up=1
  for p in "${LAB_PROCS[@]}"; do lab_pid "$p" >/dev/null || up=0; done
  if ((up)) && [ -e "$LAB_DIR/ready" ]; then
    lab_load_env
    if apiserver_ready; then
      log "lab already up at $LAB_DIR"
      before=$(lab_kubectl get crd -o name)
      apply_operator_crds || die "$crd_error_msg"
      if [ "$(lab_kubectl get crd -o name)" != "$before" ]; then
        log "new CRDs: restarting kube-controller-manager so its garbage collector sees them now"
        lab_stop kube-controller-manager
        start_controller_manager
      fi
      usage
      exit 0
    fi
  fi
  log "found a stale or partial lab at $LAB_DIR; tearing it down first"
  "$lab_here/lab-down.sh"
fi

# ---- binaries ----------------------------------------------------------------------------
ETCD=$("$lab_here/build.sh" etcd)
kube_bins=$("$lab_here/build.sh" kube)
while IFS= read -r b; do
  case ${b##*/} in
    kube-apiserver) APISERVER=$b ;;
    kube-controller-manager) KCM=$b ;;
    kubectl) KUBECTL=$b ;;
  esac
done <<<"$kube_bins"
for v in ETCD APISERVER KCM KUBECTL; do [ -x "${!v:-}" ] || die "build.sh gave no $v binary"; done

istio_dir=$(cd / && go mod download -json "istio.io/api@$ISTIO_API_VERSION" | jq -r .Dir)
ISTIO_CRDS=$istio_dir/kubernetes/customresourcedefinitions.gen.yaml
[ -s "$ISTIO_CRDS" ] || die "no $ISTIO_CRDS in istio.io/api@$ISTIO_API_VERSION"

# ---- state dir, ports --------------------------------------------------------------------
mkdir -p "$LAB_DIR"/{cmd,pids,logs,pki,etcd}
touch "$LAB_MARKER"
chmod 700 "$LAB_DIR" "$LAB_DIR/pki"

read -r ETCD_PORT ETCD_PEER_PORT API_PORT KCM_PORT <<<"$(free_ports 4)"
[ -n "${KCM_PORT:-}" ] || die "could not pick free ports (needs python3 or node)"
API_URL=https://127.0.0.1:$API_PORT
ETCD_URL=http://127.0.0.1:$ETCD_PORT

# ---- PKI ---------------------------------------------------------------------------------
pki=$LAB_DIR/pki
ossl() { openssl "$@" 2>>"$LAB_DIR/logs/openssl.log" >&2 || die "openssl $1 failed (see $LAB_DIR/logs/openssl.log)"; }
ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
ossl req -x509 "${ec[@]}" -keyout "$pki/ca.key" -out "$pki/ca.crt" -days 3650 -sha256 \
  -subj "/CN=xrayr-mesh-lab-ca" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature"
issue() { # name subject extendedKeyUsage [subjectAltName]
  local n=$1
  ossl req -new "${ec[@]}" -keyout "$pki/$n.key" -out "$pki/$n.csr" -subj "$2"
  {
    echo "basicConstraints=critical,CA:FALSE"
    echo "keyUsage=critical,digitalSignature"
    echo "extendedKeyUsage=$3"
    [ -z "${4:-}" ] || echo "subjectAltName=$4"
  } >"$pki/$n.ext"
  ossl x509 -req -in "$pki/$n.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -set_serial "0x$(openssl rand -hex 16)" \
    -days 825 -sha256 -extfile "$pki/$n.ext" -out "$pki/$n.crt"
  rm -f "$pki/$n.csr" "$pki/$n.ext"
}
issue apiserver "/CN=kube-apiserver" serverAuth \
  "IP:127.0.0.1,DNS:localhost,IP:10.0.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
issue admin "/O=system:masters/CN=lab-admin" clientAuth
# The controller-manager gets its own user so the audit log tells its writes from ours.
issue kube-controller-manager "/O=system:masters/CN=system:kube-controller-manager" clientAuth
ossl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$pki/sa.key"
ossl pkey -in "$pki/sa.key" -pubout -out "$pki/sa.pub"

kubeconfig() { # file user
  local b64=(base64 -w0)
  cat >"$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: lab
  cluster:
    server: $API_URL
    certificate-authority-data: $("${b64[@]}" <"$pki/ca.crt")
users:
- name: $2
  user:
    client-certificate-data: $("${b64[@]}" <"$pki/$2.crt")
    client-key-data: $("${b64[@]}" <"$pki/$2.key")
contexts:
- name: lab
  context: {cluster: lab, user: $2}
current-context: lab
EOF
  chmod 600 "$1"
}
kubeconfig "$LAB_DIR/kubeconfig" admin
kubeconfig "$LAB_DIR/kube-controller-manager.kubeconfig" kube-controller-manager
cp "$lab_here/audit-policy.yaml" "$LAB_DIR/audit-policy.yaml"

# ---- command lines (restart-apiserver.sh replays cmd/kube-apiserver.args verbatim) --------
printf '%s\n' "$ETCD" \
  --name=lab \
  --data-dir="$LAB_DIR/etcd" \
  --listen-client-urls="$ETCD_URL" \
  --advertise-client-urls="$ETCD_URL" \
  --listen-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
  --initial-advertise-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
  --initial-cluster="lab=http://127.0.0.1:$ETCD_PEER_PORT" \
  --initial-cluster-state=new \
  --unsafe-no-fsync=true \
  --quota-backend-bytes=8589934592 \
  --log-level=warn \
  >"$LAB_DIR/cmd/etcd.args"

printf '%s\n' "$APISERVER" \
  --etcd-servers="$ETCD_URL" \
  --secure-port="$API_PORT" \
  --bind-address=127.0.0.1 \
  --advertise-address=127.0.0.1 \
  --endpoint-reconciler-type=none \
  --cert-dir="$pki" \
  --tls-cert-file="$pki/apiserver.crt" \
  --tls-private-key-file="$pki/apiserver.key" \
  --client-ca-file="$pki/ca.crt" \
  --service-cluster-ip-range=10.0.0.0/24 \
  --authorization-mode=RBAC \
  --service-account-issuer="$API_URL" \
  --api-audiences="$API_URL" \
  --service-account-key-file="$pki/sa.pub" \
  --service-account-signing-key-file="$pki/sa.key" \
  --audit-policy-file="$LAB_DIR/audit-policy.yaml" \
  --audit-log-path="$LAB_DIR/audit.log" \
  --audit-log-format=json \
  --audit-log-mode=blocking \
  --audit-log-maxsize=0 \
  --shutdown-send-retry-after=true \
  --profiling=false \
  >"$LAB_DIR/cmd/kube-apiserver.args"

kcm_controllers=garbage-collector-controller,namespace-controller,serviceaccount-controller,serviceaccount-token-controller,root-ca-certificate-publisher-controller
printf '%s\n' "$KCM" \
  --kubeconfig="$LAB_DIR/kube-controller-manager.kubeconfig" \
  --controllers="$kcm_controllers" \
  --leader-elect=false \
  --use-service-account-credentials=false \
  --service-account-private-key-file="$pki/sa.key" \
  --root-ca-file="$pki/ca.crt" \
  --bind-address=127.0.0.1 \
  --secure-port="$KCM_PORT" \
  --profiling=false \
  >"$LAB_DIR/cmd/kube-controller-manager.args"

{
  printf 'export LAB_DIR=%q\n' "$LAB_DIR"
  printf 'export KUBECONFIG=%q\n' "$LAB_DIR/kubeconfig"
  printf 'export KUBECTL=%q\n' "$KUBECTL"
  # shellcheck disable=SC2016 # $PATH is expanded when env is sourced
  printf 'export PATH=%q:"$PATH"\n' "$(dirname "$KUBECTL")"
} >"$LAB_DIR/env"
jq -n --arg labDir "$LAB_DIR" --arg kubeconfig "$LAB_DIR/kubeconfig" --arg kubectl "$KUBECTL" \
  --arg apiserver "$API_URL" --arg etcd "$ETCD_URL" --arg auditLog "$LAB_DIR/audit.log" \
  --arg caFile "$pki/ca.crt" --arg issuer "$API_URL" --arg istioApi "$ISTIO_API_VERSION" \
  --arg controllerManagerHealthz "https://127.0.0.1:$KCM_PORT/healthz" \
  '$ARGS.named' >"$LAB_DIR/lab.json"

# ---- start -------------------------------------------------------------------------------
lab_start etcd
lab_wait etcd 30 "etcd health" bash -c "curl -fsS '$ETCD_URL/health' | grep -q '\"health\":\"true\"'"
log "etcd ready on $ETCD_URL ($(elapsed "$t0"))"

lab_start kube-apiserver
lab_wait kube-apiserver 60 "kube-apiserver /readyz" apiserver_ready
log "kube-apiserver ready on $API_URL ($(elapsed "$t0"))"

# All CRDs go in before the controller-manager starts: its garbage collector discovers
# resource types at start and then only every 30 s, and the e2e suite needs it to collect
# WorkloadEntries owned by XrayrNodes from the first second.
lab_kubectl apply --server-side --force-conflicts --field-manager=xrayr-lab -f "$ISTIO_CRDS" >/dev/null
lab_kubectl wait --for=condition=Established --timeout=60s -f "$ISTIO_CRDS" >/dev/null
log "Istio CRDs (istio.io/api@$ISTIO_API_VERSION) established ($(elapsed "$t0"))"
crd_error=
apply_operator_crds || crd_error=$crd_error_msg

for ns in "${LAB_NAMESPACES[@]}"; do
  printf 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n' "$ns" |
    lab_kubectl apply --server-side --field-manager=xrayr-lab -f - >/dev/null
done

# It gives up if the apiserver is not healthy within 10 s, so it starts only now.
start_controller_manager
touch "$LAB_DIR/ready" # the control plane is complete
[ -z "$crd_error" ] || die "$crd_error"

usage
log "lab ready in $(elapsed "$t0")"
