# Every target puts node_modules/.bin first on PATH, so Node 24 (the `node` devDependency) runs
# the recipes, as it does npm scripts.
export PATH := $(CURDIR)/node_modules/.bin:$(PATH)
REPORTS := .reports
E2E_LAB := $(CURDIR)/.lab-e2e

.PHONY: test check unit build e2e test-e2e-only e2e-kind crds lab-bins lab-up lab-down demo clean image

## test: everything CI runs: lint, typecheck, unit tests, build, e2e against a local lab.
test:
	@rm -rf $(REPORTS) && mkdir -p $(REPORTS)
	$(MAKE) check
	npm run test:unit -- --json --outputFile=$(REPORTS)/unit.json
	$(MAKE) build
	$(MAKE) chart-check
	@# The e2e suite starts and stops its own lab; the trap stops it too if jest dies.
	bash -c 'trap "LAB_DIR=$(E2E_LAB) test/lab/lab-down.sh >/dev/null 2>&1 || true" EXIT; npm run test:e2e -- --json --outputFile=$(REPORTS)/e2e.json'
	node scripts/test-summary.mjs $(REPORTS)/unit.json $(REPORTS)/e2e.json

## check: lint, typecheck, and the layer rules (layers.mjs: no import cycles, api/ and domain/
## import no feature, pure layers do no I/O, only apply/ and controller/ call the API server).
check:
	npm run lint
	npm run typecheck
	npm run layers

unit:
	npm run test:unit

build:
	npm run build

## e2e: the e2e suite alone (starts its own lab unless E2E_KUBECONFIG points at a cluster).
e2e: build
	npm run test:e2e

## test-e2e-only: the e2e suite against the dist/ already built (no rebuild); E2E_KUBECONFIG=...
## reuses a running cluster, E2E_KEEP_LAB=1 leaves the suite's own lab up afterwards.
test-e2e-only:
	npm run test:e2e

## e2e-kind: the same suite against a kind cluster (needs Docker; see docs/testing.md).
e2e-kind: build
	test/e2e/kind.sh

## image: the Dockerfile built unchanged with podman on a stand-in node base assembled from
## Debian packages and the npm registry (no image registry here); cached by inputs in
## ~/.cache/xrayr-mesh-lab/images and podman tags; prints the chart's default image reference.
image:
	test/lab/image.sh

## crds: regenerate deploy/crds from src/crd/manifest.ts.
crds:
	npm run crds

## dashboard: regenerate the Grafana dashboard (deploy/istio/observability/xrayr-mesh-dashboard.json
## and its ConfigMap) from src/traffic/dashboard.ts; a unit test fails when they differ.
.PHONY: dashboard
dashboard:
	npm run dashboard

# Lab: a real control plane on loopback (etcd, kube-apiserver, kube-controller-manager) built
# from Go modules; see test/lab/. State in .lab/ (override with LAB_DIR=...).
lab-bins:
	test/lab/build.sh etcd && test/lab/build.sh kube

lab-up:
	test/lab/lab-up.sh

lab-down:
	test/lab/lab-down.sh

clean:
	rm -rf dist $(REPORTS)

## demo: the main job on the local lab: operator + sample fleet; leaves the lab running.
demo:
	scripts/demo.sh

## bench-sync: times `xrayr-mesh sync` of 5,000 rows against a bare client creating the same
## 5,000 XrayrNodes at the same concurrency, on a lab (.lab-bench, started and stopped); not part of make test.
.PHONY: bench-sync
bench-sync: build
	node bench/sync-bench.js

## chart-check: the Helm chart and everything under deploy/ checked with the real tools (helm
## lint/template, istioctl analyze/manifest generate, server-side dry-run on a lab in .lab-chart);
## see scripts/chart-check.sh. Part of `make test`.
## manifests: regenerate deploy/operator/ from the chart's default render.
.PHONY: chart-check manifests
chart-check:
	scripts/chart-check.sh

manifests:
	@helm=$$(nice -n 19 test/lab/build.sh helm) && mkdir -p $(REPORTS) && \
	"$$helm" template xrayr-mesh-operator charts/xrayr-mesh-operator --namespace airport-prod >$(REPORTS)/chart-default.yaml && \
	node scripts/chart-manifests.ts --write $(REPORTS)/chart-default.yaml

## mesh-lab-up: the lab plus the mesh of docs/attribution.md: istiod built from the Istio module
## deploy/istio pins and run with deploy/istio's settings, fake Xboard, the sidecar stand-in
## (Envoy replaced, nothing else), Prometheus with deploy/istio's alerts; writes
## .lab/endpoints.json. `make lab-down` stops all of it (test/lab/mesh-down.sh: the mesh only).
## attribution-check: the attribution e2e alone (test/e2e/attribution*.e2e.test.ts) on its own
## lab; part of `make test`.
.PHONY: mesh-lab-up attribution-check
mesh-lab-up:
	test/lab/lab-up.sh
	test/lab/mesh-up.sh

attribution-check: build
	bash -c 'trap "LAB_DIR=$(E2E_LAB) test/lab/lab-down.sh >/dev/null 2>&1 || true" EXIT; npm run test:e2e -- test/e2e/attribution'

## bench-kiali: Kiali's own pages (workload, app and versioned-app graphs, the workload list, a
## VPS's page) timed and weighed as Kiali's UI requests them, on the mesh lab (.lab-bench-kiali,
## started and stopped) with NODES (3000) operator-made VPS calling on XrayR's schedule; needs
## KIALI_BIN, a Kiali server built from kiali/kiali main (docs/benchmarks.md). Not part of make test.
.PHONY: bench-kiali
bench-kiali:
	bench/kiali-fleet.sh

## bench-scale: cold backlog of BENCH_NODES (10,000) XrayrNodes: a bare Go client (the floor), a
## controller-runtime operator (../shared/perf/baseline) and this operator under the chart's
## memory limit, each on a fresh lab (.lab-bench-scale); then resync CPU, a forced relist, live
## create -> Ready latency and sync of as many rows. Prints one table; not part of make test.
.PHONY: bench-scale
bench-scale: build
	node bench/scale.mjs

## bench-traffic-writes: status.traffic writes per minute at 1,000 nodes on the mesh lab (~13 min).
.PHONY: bench-traffic-writes
bench-traffic-writes:
	bench/traffic-writes.sh

## soak: the soak e2e (test/e2e/soak.e2e.test.ts) for SOAK_MINUTES (10) on its own lab: two
## replicas with leader election, each through a fault proxy, random changes and faults, the
## invariants checked throughout. `make test` runs the same file for 2 minutes.
.PHONY: soak
SOAK_MINUTES ?= 10
soak: build
	bash -c 'trap "LAB_DIR=$(E2E_LAB) test/lab/lab-down.sh >/dev/null 2>&1 || true" EXIT; SOAK_MINUTES=$(SOAK_MINUTES) npm run test:e2e -- test/e2e/soak.e2e.test.ts'
