#!/usr/bin/env bash
# Installs the Debian packages the lab needs, if missing (as root; otherwise says what to
# install): openssl for its certificates, curl and jq for its scripts, setsid (util-linux) to
# detach its processes, podman with catatonit, runc, slirp4netns and debootstrap for `make image`
# and the pods e2e (test/lab/image.sh writes the containers.conf settings podman needs on these
# machines). Checks Go (all lab builds, Prometheus and promtool included: test/lab/build.sh
# prometheus) and, with --cargo, cargo (the sigma-api example).
set -euo pipefail
missing=()
for tool in openssl curl jq setsid podman catatonit runc slirp4netns debootstrap nsenter; do command -v "$tool" >/dev/null || missing+=("$tool"); done
if [ ${#missing[@]} -gt 0 ]; then
  pkgs=()
  for tool in "${missing[@]}"; do
    case $tool in setsid | nsenter) pkgs+=(util-linux) ;; *) pkgs+=("$tool") ;; esac
  done
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing: ${missing[*]}; install with: sudo apt-get install ${pkgs[*]}" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${pkgs[@]}"
fi
command -v go >/dev/null || { echo "Go is required to build the lab (etcd, kube-apiserver, istiod, Prometheus)" >&2; exit 1; }
if [ "${1:-}" = --cargo ]; then
  command -v cargo >/dev/null || { echo "cargo is required to build examples/sigma-api-register (the sigma-api e2e)" >&2; exit 1; }
fi
