#!/usr/bin/env bash
# Builds the lab's Go binaries once and caches them outside the repo, keyed by tool version
# and Go version, so a warm start never rebuilds. Prints the path of each binary, one a line
# (kube: kube-apiserver, kube-controller-manager, kubectl in that order; etcd: etcd).
#   build.sh kube|etcd
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

build_one() { # dir binary pkg version ldflags
  local dir=$1 bin=$2 pkg=$3 version=$4 ldflags=${5:-}
  local out="$cache/$bin-$version-$gover"
  if [ ! -x "$out/$bin" ]; then
    echo "building $bin $version with $gover (cold: several minutes on 2 cores) ..." >&2
    rm -rf "$out.tmp" && mkdir -p "$out.tmp"
    (cd "$here/$dir" && go build -trimpath -ldflags "-s -w $ldflags" -o "$out.tmp/$bin" "$pkg")
    rm -rf "$out" && mv "$out.tmp" "$out"
  fi
  echo "$out/$bin"
}

case ${1:?usage: build.sh kube|etcd} in
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
  *) echo "unknown tool $1" >&2; exit 2 ;;
esac
