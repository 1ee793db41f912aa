#!/usr/bin/env bash
# `make e2e-kind`: the e2e suite against a kind cluster, for machines with Docker (CI and the
# build machines have no container engine and run the suite on test/lab's control plane).
# Creates the cluster, installs the same Istio CRDs and our CRD the lab installs, runs the
# suite with E2E_KUBECONFIG, and deletes the cluster (KEEP_KIND=1 keeps it).
# What differs from the lab: no audit log (write counts come from the operator's metrics) and
# no apiserver restart (that scenario is skipped).
set -euo pipefail
cd "$(dirname "$0")/../.."
for tool in kind docker kubectl go jq; do
  command -v "$tool" >/dev/null || { echo "e2e-kind needs $tool on PATH" >&2; exit 1; }
done
export PATH=$PWD/node_modules/.bin:$PATH

name=${KIND_CLUSTER:-xrayr-mesh-e2e}
image=${KIND_NODE_IMAGE:-kindest/node:v1.37.2}
dir=$PWD/.lab-kind
istio_api=$(sed -n 's/^ISTIO_API_VERSION=\${ISTIO_API_VERSION:-\(v[0-9.]*\)}$/\1/p' test/lab/lab-up.sh)
[ -n "$istio_api" ] || { echo "cannot read ISTIO_API_VERSION from test/lab/lab-up.sh" >&2; exit 1; }

mkdir -p "$dir"
cleanup() { [ "${KEEP_KIND:-}" = 1 ] || kind delete cluster --name "$name" >/dev/null 2>&1 || true; }
trap cleanup EXIT
kind get clusters 2>/dev/null | grep -qx "$name" || kind create cluster --name "$name" --image "$image" --wait 120s
kind get kubeconfig --name "$name" >"$dir/kubeconfig"
export KUBECONFIG=$dir/kubeconfig

crds=$(cd / && go mod download -json "istio.io/api@$istio_api" | jq -r .Dir)/kubernetes/customresourcedefinitions.gen.yaml
kubectl apply --server-side -f "$crds" >/dev/null
kubectl apply --server-side -f deploy/crds/ >/dev/null
kubectl wait --for=condition=Established crd --all --timeout=120s >/dev/null
kubectl get ns airport-prod >/dev/null 2>&1 || kubectl create ns airport-prod >/dev/null

npm run build
E2E_KUBECONFIG=$dir/kubeconfig npm run test:e2e
