#!/usr/bin/env bash
# Restarts the lab's kube-apiserver with exactly the command line it was started with
# ($LAB_DIR/cmd/kube-apiserver.args: same port, certs, etcd, audit log) and waits until it
# is ready again. etcd and kube-controller-manager keep running.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
t0=$(now_ms)
[ -e "$LAB_MARKER" ] || die "no lab at $LAB_DIR (run make lab-up)"
lab_load_env
lab_pid etcd >/dev/null || die "etcd of the lab is not running; run make lab-down && make lab-up"

if pid=$(lab_pid kube-apiserver); then
  log "stopping kube-apiserver (pid $pid)"
  lab_stop kube-apiserver 15 || die "kube-apiserver did not stop"
fi
lab_start kube-apiserver
lab_wait kube-apiserver 60 "kube-apiserver /readyz" apiserver_ready
log "kube-apiserver ready again (pid $(lab_pid kube-apiserver)) in $(elapsed "$t0")"
