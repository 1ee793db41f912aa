# Every target puts node_modules/.bin first on PATH, so Node 24 (the `node` devDependency) runs
# the recipes, as it does npm scripts. `make help` lists every target with its `## name:` line
# (test/unit/makefile.test.ts holds every target to having one).
export PATH := $(CURDIR)/node_modules/.bin:$(PATH)
REPORTS := .reports
E2E_LAB := $(CURDIR)/.lab-e2e
# scripts/generate.ts, bundled by esbuild: its sources are TypeScript with .js imports.
GENERATE := node_modules/.cache/xrayr-mesh/generate.mjs

.DEFAULT_GOAL := help
.PHONY: help test check unit build e2e test-e2e-only e2e-kind image generate verify manifests chart-check \
	lab-bins lab-up lab-down mesh-lab-up clean demo attribution-check bench-sync bench-scale bench-traffic-writes soak

## help: every target of this Makefile, with what it does.
help:
	@awk '/^## [a-z][a-z0-9-]*:/ { if (t != "") print t; t = substr($$0, 4); next } \
	     /^## / { if (t != "") t = t " " substr($$0, 4); next } \
	     { if (t != "") print t; t = "" }' $(firstword $(MAKEFILE_LIST)) | \
	 awk '{ i = index($$0, ": "); printf "  %-22s %s\n", substr($$0, 1, i - 1), substr($$0, i + 2) }'

## test: everything CI runs: lint, typecheck, layer rules, unit tests, build, chart-check, e2e
## against a local lab.
test:
	@rm -rf $(REPORTS) && mkdir -p $(REPORTS)
	$(MAKE) check
	npm run test:unit -- --json --outputFile=$(REPORTS)/unit.json
	$(MAKE) build
	$(MAKE) chart-check
	@# The e2e suite starts and stops its own lab; the trap stops it too if jest dies.
	bash -c 'trap "LAB_DIR=$(E2E_LAB) test/lab/lab-down.sh >/dev/null 2>&1 || true" EXIT; npm run test:e2e -- --json --outputFile=$(REPORTS)/e2e.json'
	node scripts/test-summary.mjs $(REPORTS)/unit.json $(REPORTS)/e2e.json

## check: lint, typecheck, and the layer rules (layers.mjs: no import cycles; api/ and istio/ are
## leaves; domain/ builds on them only; the pure layers, crd/, fleet/ and doctor/ do no I/O;
## only the composition root imports reconcile/; only apply/ and controller/ call the API server).
check:
	npm run lint
	npm run typecheck
	npm run layers

## unit: the unit tests (pure logic, and the edges against local fakes).
unit:
	npm run test:unit

## build: compile to dist/ and bundle the two programs (dist/bundle/*.mjs, what the image and the
## e2e suite run).
build:
	npm run build

## generate: rewrite every generated file from its source (scripts/generated.ts): the CRD
## (deploy/crds and the chart's crds/), the Grafana dashboard and its ConfigMap, the chart-installed
## Prometheus's copy of the alert rules, README's environment and metrics tables, src/version.ts;
## then deploy/operator/ from the chart (make manifests).
generate:
	@mkdir -p $(dir $(GENERATE))
	esbuild scripts/generate.ts --bundle --platform=node --format=esm --packages=external --log-level=warning --outfile=$(GENERATE)
	node $(GENERATE) --write
	$(MAKE) manifests

## verify: render every generated file again and fail if any differs from the tree (drift from its
## source), deploy/operator/ included; writes nothing.
verify:
	@mkdir -p $(dir $(GENERATE)) $(REPORTS)
	esbuild scripts/generate.ts --bundle --platform=node --format=esm --packages=external --log-level=warning --outfile=$(GENERATE)
	node $(GENERATE) --check
	@helm=$$(nice -n 19 test/lab/build.sh helm) && \
	"$$helm" template xrayr-mesh-operator charts/xrayr-mesh-operator --namespace airport-prod >$(REPORTS)/chart-default.yaml && \
	node scripts/chart-manifests.ts --check $(REPORTS)/chart-default.yaml

## manifests: rewrite deploy/operator/ from the chart's default render (part of make generate).
manifests:
	@helm=$$(nice -n 19 test/lab/build.sh helm) && mkdir -p $(REPORTS) && \
	"$$helm" template xrayr-mesh-operator charts/xrayr-mesh-operator --namespace airport-prod >$(REPORTS)/chart-default.yaml && \
	node scripts/chart-manifests.ts --write $(REPORTS)/chart-default.yaml

## chart-check: the Helm chart and everything under deploy/ checked with the real tools (helm
## lint/template, istioctl analyze/manifest generate, server-side dry-run on a lab in .lab-chart);
## see scripts/chart-check.sh. Part of make test.
chart-check:
	scripts/chart-check.sh

## e2e: the e2e suite alone, after a build (starts its own lab in .lab-e2e unless E2E_KUBECONFIG
## points at a cluster).
e2e: build
	npm run test:e2e

## test-e2e-only: the e2e suite against the dist/ already built (no rebuild); E2E_KUBECONFIG=...
## reuses a running cluster, E2E_KEEP_LAB=1 leaves the suite's own lab up afterwards.
test-e2e-only:
	npm run test:e2e

## e2e-kind: the same suite against a kind cluster (needs Docker; see docs/testing.md).
e2e-kind: build
	test/e2e/kind.sh

## attribution-check: the attribution e2e alone (test/e2e/attribution*.e2e.test.ts) on its own
## lab; part of make test.
attribution-check: build
	bash -c 'trap "LAB_DIR=$(E2E_LAB) test/lab/lab-down.sh >/dev/null 2>&1 || true" EXIT; npm run test:e2e -- test/e2e/attribution'

## image: the Dockerfile built unchanged with podman on a stand-in node base assembled from
## Debian packages and the npm registry (no image registry here); cached by inputs in
## ~/.cache/xrayr-mesh-lab/images and podman tags; prints the chart's default image reference.
image:
	test/lab/image.sh

## lab-bins: build the lab's etcd, kube-apiserver and kube-controller-manager from Go modules
## (cached in ~/.cache/xrayr-mesh-lab).
lab-bins:
	test/lab/build.sh etcd && test/lab/build.sh kube

## lab-up: start a real control plane on loopback (etcd, kube-apiserver, kube-controller-manager)
## in .lab/ (LAB_DIR=... elsewhere); `source .lab/env` then use kubectl.
lab-up:
	test/lab/lab-up.sh

## mesh-lab-up: the lab plus the mesh of docs/attribution.md: istiod built from the Istio module
## deploy/istio pins and run with deploy/istio's settings, fake Xboard, the sidecar stand-in
## (Envoy replaced, nothing else), Prometheus with deploy/istio's alerts; writes
## .lab/endpoints.json. make lab-down stops all of it (test/lab/mesh-down.sh: the mesh only).
mesh-lab-up:
	test/lab/lab-up.sh
	test/lab/mesh-up.sh

## lab-down: stop the lab (and its mesh) in .lab/ (LAB_DIR=... elsewhere).
lab-down:
	test/lab/lab-down.sh

## demo: the main job on the local lab: operator + sample fleet; leaves the lab running.
demo:
	scripts/demo.sh

## clean: remove dist/ and the test reports.
clean:
	rm -rf dist $(REPORTS)

## bench-sync: times `xrayr-mesh sync` of 5,000 rows against a bare client creating the same
## 5,000 XrayrNodes at the same concurrency, on a lab (.lab-bench, started and stopped); not part
## of make test.
bench-sync: build
	node bench/sync-bench.js

## bench-mesh: the whole chain at fleet scale on the mesh lab (.lab-bench-mesh, started and
## stopped): Istio's default telemetry at BENCH_MESH_DEFAULT_VPS (2,000) beside deploy/istio's
## profile at BENCH_MESH_VPS (10,000), 3 Xboard sidecars, XrayR's 60 s schedule, 1 % answered
## 503, churn 1/s: Prometheus's series, memory and every reader's query times; istiod's backfill,
## churn, restart (bench/mesh.mjs; env there). Writes .reports/bench-mesh.json. Not part of make test.
.PHONY: bench-mesh
bench-mesh: build
	node bench/mesh.mjs

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
bench-scale: build
	node bench/scale.mjs

## bench-telemetry-series: Istio's series per VPS in the scraping Prometheus, Istio's default
## telemetry against deploy/istio's fleet-scale profile (NODES=300 VPS, REPLICAS=3 Xboard pods;
## ~5 min, its own lab in .lab-bench-series). Not part of make test.
.PHONY: bench-telemetry-series
bench-telemetry-series: build
	bench/telemetry-series.sh

## bench-traffic-writes: status.traffic writes per minute at 1,000 nodes on the mesh lab (~13 min).
bench-traffic-writes:
	bench/traffic-writes.sh

## soak: the soak e2e (test/e2e/soak.e2e.test.ts) for SOAK_MINUTES (10) on its own lab: two
## replicas with leader election, each through a fault proxy, random changes and faults, the
## invariants checked throughout. make test runs the same file for 2 minutes.
SOAK_MINUTES ?= 10
soak: build
	bash -c 'trap "LAB_DIR=$(E2E_LAB) test/lab/lab-down.sh >/dev/null 2>&1 || true" EXIT; SOAK_MINUTES=$(SOAK_MINUTES) npm run test:e2e -- test/e2e/soak.e2e.test.ts'
