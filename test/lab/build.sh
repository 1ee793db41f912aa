#!/usr/bin/env bash
# Builds the lab's Go binaries once and caches them outside the repo, keyed by tool version
# and Go version, so a warm start never rebuilds. Prints the path of each binary, one a line
# (kube: kube-apiserver, kube-controller-manager, kubectl in that order; etcd: etcd;
# helm: helm; istioctl: istioctl; standin: sidecar-standin, fake-xboard, xrayr-traffic,
# xboard-nlb; prometheus: prometheus, promtool in that order).
#   build.sh kube|etcd|helm|istioctl|istiod|standin|prometheus|baseline
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${XRAYR_LAB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/xrayr-mesh-lab}
gover=$(go env GOVERSION)
export CGO_ENABLED=0 GOFLAGS=-mod=mod

# Version of module $2 as required by go.mod $1. `go mod tidy` moves the require into the
# block (tab-indented, "// indirect"), so accept both the one-line and the block form.
mod_version() {
  local v
  v=$(awk -v m="$2" '
    $1 == "require" && $2 == m { print $3; exit }
    $1 == m && $2 ~ /^v[0-9]/  { print $2; exit }' "$1")
  if [ -z "$v" ]; then echo "build.sh: no version of $2 in $1" >&2; exit 1; fi
  echo "$v"
}

build_one() { # dir (relative to here, or absolute) binary pkg version ldflags
  local dir=$1 bin=$2 pkg=$3 version=$4 ldflags=${5:-}
  case $dir in /*) ;; *) dir=$here/$dir ;; esac
  local out="$cache/$bin-$version-$gover"
  if [ ! -x "$out/$bin" ]; then
    # Two jobs on one machine (a lab, a bench, a chart check) may want the same build: the
    # second waits for the first instead of deleting its half-built output.
    mkdir -p "$cache"
    exec {lock}>"$out.lock"
    flock "$lock"
    if [ ! -x "$out/$bin" ]; then
      echo "building $bin $version with $gover (cold: several minutes on 2 cores) ..." >&2
      rm -rf "$out.tmp" && mkdir -p "$out.tmp"
      (cd "$dir" && go build -trimpath -ldflags "-s -w $ldflags" -o "$out.tmp/$bin" "$pkg")
      rm -rf "$out" && mv "$out.tmp" "$out"
    fi
    exec {lock}>&-
  fi
  echo "$out/$bin"
}

# The Istio versions deploy/istio/ is written for (one place: deploy/istio/istio-version.env).
istio_env() { # key
  local v
  v=$(sed -n "s/^$1=//p" "$here/../../deploy/istio/istio-version.env")
  if [ -z "$v" ]; then echo "build.sh: no $1 in deploy/istio/istio-version.env" >&2; exit 1; fi
  echo "$v"
}

case ${1:?usage: build.sh kube|etcd|helm|istioctl|istiod|standin|prometheus|baseline} in
  kube)
    v=$(mod_version "$here/kube/go.mod" k8s.io/kubernetes)
    minor=$(echo "$v" | cut -d. -f2)
    vf="-X k8s.io/component-base/version.gitVersion=$v -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean"
    vf="$vf -X k8s.io/client-go/pkg/version.gitVersion=$v -X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=$minor"
    for b in kube-apiserver kube-controller-manager kubectl; do
      build_one kube "$b" "k8s.io/kubernetes/cmd/$b" "$v" "$vf"
    done ;;
  etcd)
    v=$(mod_version "$here/etcd/go.mod" go.etcd.io/etcd/server/v3)
    build_one etcd etcd go.etcd.io/etcd/server/v3 "$v" ;;
  helm)
    # As Helm's own Makefile: the default Kubernetes version (helm template, lint) is the one
    # of the client-go it is built with (v0.37.x -> 1.37), not the source's fallback 1.20.
    v=$(mod_version "$here/helm/go.mod" helm.sh/helm/v3)
    kminor=$(mod_version "$here/helm/go.mod" k8s.io/client-go | cut -d. -f2)
    hf="-X helm.sh/helm/v3/internal/version.version=$v"
    for p in chartutil lint/rules; do
      hf="$hf -X helm.sh/helm/v3/pkg/$p.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/$p.k8sVersionMinor=$kminor"
    done
    build_one helm helm helm.sh/helm/v3/cmd/helm "$v" "$hf" ;;
  istioctl)
    # istio.io/istio has no v-tags: go.mod pins a pseudo-version, which must be the one
    # istio-version.env names (and istio.io/api the same as the lab's CRDs).
    v=$(mod_version "$here/istioctl/go.mod" istio.io/istio)
    want=$(istio_env ISTIO_GO_MODULE)
    api=$(mod_version "$here/istioctl/go.mod" istio.io/api)
    if [ "$v" != "$want" ] || [ "$api" != "$(istio_env ISTIO_API)" ]; then
      echo "build.sh: test/lab/istioctl/go.mod (istio.io/istio $v, istio.io/api $api) differs from deploy/istio/istio-version.env" >&2
      exit 1
    fi
    rel=$(istio_env ISTIO_RELEASE)
    build_one istioctl istioctl istio.io/istio/istioctl/cmd/istioctl "$v" \
      "-X istio.io/istio/pkg/version.buildVersion=${rel%.*}-${v##*-} -X istio.io/istio/pkg/version.buildGitRevision=${v##*-} -X istio.io/istio/pkg/version.buildStatus=Clean" ;;
  istiod)
    # istiod (pilot-discovery) for the mesh lab, from the same istio.io/istio module as istioctl.
    # That module's pilot/pkg/config/kube/agentgateway imports github.com/agentgateway/
    # agentgateway/api at a version the Go module proxy refuses ("not available"), so the build
    # uses a copy of the module with that one package replaced by test/lab/istiod/
    # agentgateway-stub.go.txt (the controller runs only with PILOT_ENABLE_AGENTGATEWAY=true),
    # through `-modfile` and a replace to the copy; nothing else of istiod changes.
    v=$(mod_version "$here/istiod/go.mod" istio.io/istio)
    if [ "$v" != "$(istio_env ISTIO_GO_MODULE)" ]; then
      echo "build.sh: test/lab/istiod/go.mod (istio.io/istio $v) differs from deploy/istio/istio-version.env" >&2
      exit 1
    fi
    stub=$here/istiod/agentgateway-stub.go.txt
    key="$v-lab$(cat "$stub" | sha256sum | cut -c1-8)"
    if [ ! -x "$cache/pilot-discovery-$key-$gover/pilot-discovery" ]; then
      src=$(cd "$here/istiod" && go mod download -json "istio.io/istio@$v" | jq -r .Dir)
      work=$cache/istiod-src-$key
      rm -rf "$work" && mkdir -p "$work"
      cp -r "$src" "$work/istio" && chmod -R u+w "$work/istio"
      rm -f "$work/istio/pilot/pkg/config/kube/agentgateway/"*.go
      cp "$stub" "$work/istio/pilot/pkg/config/kube/agentgateway/lab_stub.go"
      { cat "$here/istiod/go.mod"; printf '\nreplace istio.io/istio => %s\n' "$work/istio"; } >"$work/go.mod"
      cp "$here/istiod/go.sum" "$work/go.sum"
      export GOFLAGS="-mod=mod -modfile=$work/go.mod"
    fi
    rel=$(istio_env ISTIO_RELEASE)
    build_one istiod pilot-discovery istio.io/istio/pilot/cmd/pilot-discovery "$key" \
      "-X istio.io/istio/pkg/version.buildVersion=${rel%.*}-${v##*-} -X istio.io/istio/pkg/version.buildGitRevision=${v##*-} -X istio.io/istio/pkg/version.buildStatus=Clean" ;;
  standin)
    # The mesh lab's own programs (test/lab/sidecar-standin): sidecar-standin, fake-xboard,
    # xrayr-traffic, xboard-nlb, xds-clients, in that order; keyed by a hash of their sources.
    key=$(cd "$here/sidecar-standin" && find . -type f \( -name '*.go' -o -name go.mod -o -name go.sum \) | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -c1-12)
    if [ ! -x "$cache/sidecar-standin-$key-$gover/sidecar-standin" ]; then
      # The store's Envoy semantics are what the lab's findings rest on: test them first.
      (cd "$here/sidecar-standin" && go test ./internal/... >&2)
    fi
    for b in sidecar-standin fake-xboard xrayr-traffic xboard-nlb xds-clients; do
      build_one sidecar-standin "$b" "./cmd/$b" "$key"
    done ;;
  prometheus)
    # Prometheus and promtool at the version deploy/istio ships (the one place:
    # deploy/istio/observability/prometheus-values.yaml, server.image.tag), so the lab measures
    # what users run. The Go module github.com/prometheus/prometheus serves release v3.M.P as
    # v0.(300+M).P. `go install` cannot build it (its go.mod has a replace line, and its go.work
    # names folders the module zip leaves out), so: a writable copy of the module's directory,
    # built inside with the workspace off. Built without the `builtinassets` tag: the web UI's
    # compiled assets are not in the module; the HTTP API, scraping, TSDB, rules and promtool
    # are the release's code. --version is set as the release's .promu.yml sets it.
    tag=$(awk '/^[^ #]/ { top = $1 } /^  [^ ]/ { img = (top == "server:" && $1 == "image:") } img && $1 == "tag:" { print $2; exit }' \
      "$here/../../deploy/istio/observability/prometheus-values.yaml")
    if ! [[ $tag =~ ^v3\.([0-9]+)\.([0-9]+)$ ]]; then
      echo "build.sh: no Prometheus v3.M.P image tag in deploy/istio/observability/prometheus-values.yaml (got '$tag')" >&2
      exit 1
    fi
    v=v0.$((300 + BASH_REMATCH[1])).${BASH_REMATCH[2]}
    work=$cache/prometheus-src-$v
    if [ ! -x "$cache/prometheus-$v-$gover/prometheus" ] || [ ! -x "$cache/promtool-$v-$gover/promtool" ]; then
      info=$(cd / && go mod download -json "github.com/prometheus/prometheus@$v")
      src=$(jq -r .Dir <<<"$info")
      if [ "$(cat "$src/VERSION")" != "${tag#v}" ]; then
        echo "build.sh: module github.com/prometheus/prometheus@$v is release $(cat "$src/VERSION"), not $tag" >&2
        exit 1
      fi
      if [ ! -f "$work/go.mod" ]; then
        rm -rf "$work.tmp" && mkdir -p "$work.tmp"
        cp -r "$src/." "$work.tmp" && chmod -R u+w "$work.tmp"
        rm -rf "$work" && mv "$work.tmp" "$work"
      fi
      mtime=$(jq -r .Time "$(jq -r .Info <<<"$info")")
    fi
    export GOWORK=off
    pf="-X github.com/prometheus/common/version.Version=${tag#v}"
    pf="$pf -X github.com/prometheus/common/version.Revision=module-$v"
    pf="$pf -X github.com/prometheus/common/version.Branch=HEAD"
    pf="$pf -X github.com/prometheus/common/version.BuildUser=xrayr-mesh-lab"
    pf="$pf -X github.com/prometheus/common/version.BuildDate=$(date -u -d "${mtime:-1970-01-01T00:00:00Z}" +%Y%m%d-%H:%M:%S)"
    for b in prometheus promtool; do
      build_one "$work" "$b" "./cmd/$b" "$v" "$pf"
    done ;;
  baseline)
    # The benchmark's reference operator (controller-runtime), a measuring instrument kept in
    # ../shared/perf/baseline beside the repo, not part of it; keyed by a hash of its sources.
    src=$here/../../../shared/perf/baseline
    [ -f "$src/main.go" ] || { echo "build.sh: no controller-runtime baseline at $src" >&2; exit 1; }
    key=$(cd "$src" && cat main.go go.mod go.sum | sha256sum | cut -c1-12)
    build_one ../../../shared/perf/baseline baseline . "$key" ;;
  *) echo "unknown tool $1 (kube, etcd, helm, istioctl, istiod, standin, prometheus, baseline)" >&2; exit 2 ;;
esac
