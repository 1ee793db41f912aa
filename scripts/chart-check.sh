#!/usr/bin/env bash
# make chart-check: everything that ships (charts/, deploy/) checked with the real tools.
#   1. helm lint --strict (default and production values)
#   2. helm template: default, production; deploy/operator/ must equal the default render
#   3. the unit assertions (test/unit/deploy-manifests.test.ts) on those fresh renders
#   4. istioctl: manifest generate of deploy/istio/istiod (istiod env asserted) and
#      analyze --use-kube=false on deploy/istio with zero errors and zero warnings
#   5. promtool (the version deploy/istio/observability ships): the PrometheusRule's groups and
#      prometheus-values.yaml's rule file pass `promtool check rules`
#   6. a lab API server (Istio CRDs, Prometheus Operator CRDs): every rendered object and every
#      manifest under deploy/ applied with server-side dry-run, zero errors; Xboard patches
#      dry-run against a stand-in Xboard Deployment and Service
# helm, istioctl and promtool are built from Go modules by test/lab/build.sh and cached like the lab.
# Lab state in $CHART_LAB_DIR (default .lab-chart); stopped at the end if this script started it.
# Files under deploy/ that are not Kubernetes objects and are covered elsewhere:
#   deploy/istio/istiod/istio-operator.yaml   (step 4: rendered by istioctl, output dry-run applied)
#   deploy/istio/xboard/*.patch.yaml          (step 5: patch --dry-run=server)
#   deploy/istio/observability/*-values.yaml  (Helm values for third-party charts; unit tests;
#                                             prometheus-values.yaml's rules: step 5)
#   deploy/istio/istio-version.env
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
export PATH=$repo/node_modules/.bin:$PATH
log() { printf '[chart-check] %s\n' "$*" >&2; }
die() { printf '[chart-check] error: %s\n' "$*" >&2; exit 1; }

chart=charts/xrayr-mesh-operator
prod_values=$chart/ci/production-values.yaml
out=$repo/.reports/chart
rm -rf "$out" && mkdir -p "$out"

# ---- tools (Go builds niced: this machine has two cores) ---------------------------------
HELM=$(nice -n 19 test/lab/build.sh helm)
ISTIOCTL=$(nice -n 19 test/lab/build.sh istioctl)
log "helm $("$HELM" version --short), istioctl $("$ISTIOCTL" version --remote=false --short 2>/dev/null || echo '?')"

# ---- 1. lint -------------------------------------------------------------------------------
"$HELM" lint --strict "$chart" >"$out/lint-default.txt" || { cat "$out/lint-default.txt"; die "helm lint (default values)"; }
"$HELM" lint --strict "$chart" -f "$prod_values" >"$out/lint-production.txt" || { cat "$out/lint-production.txt"; die "helm lint (production values)"; }
log "helm lint --strict: default and production values clean"

# ---- 2. render -----------------------------------------------------------------------------
"$HELM" template xrayr-mesh-operator "$chart" --namespace airport-prod >"$out/default.yaml"
# Production: the cluster serves ServiceMonitor (so the chart renders one); CRDs included.
"$HELM" template xrayr-mesh-operator "$chart" --namespace airport-prod -f "$prod_values" \
  --api-versions monitoring.coreos.com/v1/ServiceMonitor --include-crds >"$out/production.yaml"
# A dedicated operator namespace: Role in airport-prod bound to the SA in xrayr-mesh-system.
"$HELM" template xrayr-mesh-operator "$chart" --namespace xrayr-mesh-system >"$out/own-namespace.yaml"
grep -q '^kind: ServiceMonitor' "$out/production.yaml" || die "production render has no ServiceMonitor"
if grep -q '^kind: ServiceMonitor' "$out/default.yaml"; then die "default render has a ServiceMonitor"; fi
# values.schema.json refuses what the operator would refuse at start.
for bad in addressPolicy=bogus watchNamespace=Airport_Prod workers=0 leaderElection.leaseName=UPPER; do
  if "$HELM" template xrayr-mesh-operator "$chart" --set "$bad" >/dev/null 2>&1; then
    die "values.schema.json accepted $bad"
  fi
done
node scripts/chart-manifests.ts --check "$out/default.yaml"

# ---- 3. unit assertions on the fresh renders ------------------------------------------------
# (the production render also carries the CRD; the test looks only at the operator's objects)
CHART_RENDERS="$out/default.yaml:$out/production.yaml" NODE_OPTIONS=--experimental-vm-modules \
  jest test/unit/deploy-manifests.test.ts --selectProjects unit --silent >"$out/jest.txt" 2>&1 ||
  { cat "$out/jest.txt"; die "chart assertions failed"; }
log "chart assertions: $(grep -E '^Tests:' "$out/jest.txt")"

# ---- 4. istioctl ---------------------------------------------------------------------------
"$ISTIOCTL" manifest generate -f deploy/istio/istiod/istio-operator.yaml >"$out/istiod.yaml" 2>"$out/istiod.err" ||
  { cat "$out/istiod.err"; die "istioctl manifest generate"; }
node --input-type=module - "$out/istiod.yaml" <<'EOF'
// istiod's Deployment must carry exactly what docs/install.md promises.
import { readFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";
const objs = parseAllDocuments(readFileSync(process.argv[2], "utf8")).map((d) => d.toJS()).filter(Boolean);
const istiod = objs.find((o) => o.kind === "Deployment" && o.metadata.name === "istiod");
const env = Object.fromEntries(istiod.spec.template.spec.containers[0].env.map((e) => [e.name, e.value]));
const mesh = objs.find((o) => o.kind === "ConfigMap" && o.metadata.name === "istio").data.mesh;
const want = { PILOT_ENABLE_AMBIENT: "true", AMBIENT_SCOPED_ADDRESS_PUSHES: "false", CLUSTER_ID: "airport-prod" };
const bad = Object.entries(want).filter(([k, v]) => env[k] !== v).map(([k, v]) => `${k}=${env[k]} (want ${v})`);
if (!mesh.includes("meshId: airport-mesh")) bad.push("mesh config has no meshId airport-mesh");
if (mesh.includes("ISTIO_META_ENABLE_HBONE")) bad.push("mesh-wide ISTIO_META_ENABLE_HBONE (the ambient profile) is set");
if (!mesh.includes("REQ_WITHOUT_QUERY")) bad.push("no query-less access log provider in mesh config");
if (objs.some((o) => o.kind === "Deployment" && o.metadata.name === "istio-ingressgateway")) bad.push("an ingress gateway is installed");
if (bad.length) { console.error(`istiod render: ${bad.join("; ")}`); process.exit(1); }
EOF
log "istioctl manifest generate: istiod env PILOT_ENABLE_AMBIENT=true AMBIENT_SCOPED_ADDRESS_PUSHES=false CLUSTER_ID=airport-prod"

# The analyzer sees the mesh config istioctl rendered (so it knows xboard-access-log), the
# Istio-side manifests, and a stand-in Xboard with our patch applied (its pods' config).
node --input-type=module - "$out/istiod.yaml" "$out/meshconfig.yaml" <<'EOF'
import { readFileSync, writeFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";
const objs = parseAllDocuments(readFileSync(process.argv[2], "utf8")).map((d) => d.toJS()).filter(Boolean);
writeFileSync(process.argv[3], objs.find((o) => o.kind === "ConfigMap" && o.metadata.name === "istio").data.mesh);
EOF
kubectl_bin=$(nice -n 19 test/lab/build.sh kube | sed -n 3p)
# The optional fleet-wide ServiceEntry (deploy/istio/optional/) is analyzed with the rest: it
# must stay clean for whoever applies it (a TCP port on it would be IST0134).
"$kubectl_bin" kustomize deploy/istio >"$out/istio.yaml"
printf -- '---\n' >>"$out/istio.yaml"
cat deploy/istio/optional/serviceentry.yaml >>"$out/istio.yaml"
"$kubectl_bin" patch --local -o yaml -f test/chart/xboard.yaml --type strategic \
  --patch-file deploy/istio/xboard/deployment-peer-metadata.patch.yaml >"$out/xboard-patched.yaml" 2>/dev/null ||
  die "the Xboard Deployment patch does not apply to test/chart/xboard.yaml"
"$ISTIOCTL" analyze --use-kube=false --meshConfigFile "$out/meshconfig.yaml" --all-namespaces --failure-threshold Warning \
  "$out/istio.yaml" "$out/xboard-patched.yaml" test/chart/xboard-service.yaml >"$out/analyze.txt" 2>&1 ||
  { cat "$out/analyze.txt"; die "istioctl analyze reported issues (zero errors and zero warnings required)"; }
grep -q "No validation issues found" "$out/analyze.txt" || { cat "$out/analyze.txt"; die "istioctl analyze: unexpected output"; }
log "istioctl analyze --use-kube=false: no validation issues"

# ---- 5. promtool -------------------------------------------------------------------------------
PROMTOOL=$(nice -n 19 test/lab/build.sh prometheus | sed -n 2p)
node test/lab/mesh/render.mjs rules deploy/istio/observability/prometheusrule.yaml "$out/prometheusrule-groups.yml"
node --input-type=module -e '
import { readFileSync, writeFileSync } from "node:fs";
import { parse, stringify } from "yaml";
const v = parse(readFileSync(process.argv[1], "utf8"));
writeFileSync(process.argv[2], stringify(v.serverFiles["alerting_rules.yml"], { lineWidth: 0 }));
' deploy/istio/observability/prometheus-values.yaml "$out/prometheus-values-rules.yml"
for f in "$out/prometheusrule-groups.yml" "$out/prometheus-values-rules.yml"; do
  "$PROMTOOL" check rules "$f" >"$out/promtool.txt" 2>&1 || { cat "$out/promtool.txt"; die "promtool check rules $f"; }
done
log "promtool check rules ($("$PROMTOOL" --version 2>/dev/null | head -n 1 | cut -d' ' -f1-3)): the PrometheusRule and prometheus-values.yaml"

# ---- 6. server-side dry-run on a lab -----------------------------------------------------------
export LAB_DIR=${CHART_LAB_DIR:-$repo/.lab-chart}
started=0
if [ ! -e "$LAB_DIR/ready" ]; then started=1; fi
cleanup() { if ((started)); then test/lab/lab-down.sh >/dev/null 2>&1 || true; fi; }
trap cleanup EXIT
test/lab/lab-up.sh >"$out/lab-up.txt" 2>&1 || { cat "$out/lab-up.txt"; die "lab-up failed"; }
# shellcheck disable=SC1091
source "$LAB_DIR/env"
k() { "$KUBECTL" "$@"; }

# The Prometheus Operator's CRDs (ServiceMonitor, PrometheusRule), from its Go module.
PROM_OPERATOR_VERSION=v0.85.0
pdir=$(cd / && go mod download -json "github.com/prometheus-operator/prometheus-operator@$PROM_OPERATOR_VERSION" | jq -r .Dir)
for c in servicemonitors prometheusrules; do
  k apply --server-side --force-conflicts --field-manager=chart-check \
    -f "$pdir/example/prometheus-operator-crd/monitoring.coreos.com_$c.yaml" >/dev/null
done
k wait --for=condition=Established --timeout=60s crd/servicemonitors.monitoring.coreos.com crd/prometheusrules.monitoring.coreos.com >/dev/null
for ns in istio-system xrayr-mesh-system; do
  printf 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n' "$ns" | k apply --server-side --field-manager=chart-check -f - >/dev/null
done

dry() { # description, kubectl apply args...
  local what=$1
  shift
  if ! k apply --server-side --dry-run=server --force-conflicts --field-manager=chart-check "$@" >"$out/dry.txt" 2>&1; then
    cat "$out/dry.txt"
    die "server-side dry-run failed: $what"
  fi
  log "dry-run ok: $what ($(grep -c . "$out/dry.txt") objects)"
}
dry "chart, default values" -f "$out/default.yaml"
dry "chart, production values (with CRD, ServiceMonitor, NetworkPolicy)" -f "$out/production.yaml"
dry "chart, own namespace" -f "$out/own-namespace.yaml"
dry "deploy/crds" -k deploy/crds
dry "deploy/operator (kustomize)" -k deploy/operator
dry "deploy/istio (kustomize)" -k deploy/istio
dry "deploy/istio/observability (kustomize)" -k deploy/istio/observability
dry "istiod as rendered from deploy/istio/istiod" -f "$out/istiod.yaml"

# The Xboard patches, against a stand-in Xboard (really created, then patched in dry-run).
k apply --server-side --field-manager=chart-check -f test/chart/xboard.yaml -f test/chart/xboard-service.yaml >/dev/null
for p in deployment-peer-metadata:deployment service-nlb-ip:service service-local:service; do
  file=deploy/istio/xboard/${p%%:*}.patch.yaml
  k -n airport-prod patch "${p##*:}" xboard --dry-run=server --patch-file "$file" >"$out/dry.txt" 2>&1 ||
    { cat "$out/dry.txt"; die "patch --dry-run=server failed: $file"; }
  log "dry-run ok: $file"
done
k delete --ignore-not-found -f test/chart/xboard.yaml -f test/chart/xboard-service.yaml >/dev/null

log "all chart and deploy checks passed"
