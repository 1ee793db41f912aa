#!/usr/bin/env bash
# Restarts the lab's etcd with exactly the command line it was started with
# ($LAB_DIR/cmd/etcd.args: same port, same data dir, so nothing written is lost) and waits until
# it is healthy and kube-apiserver is ready on it again. kube-apiserver and
# kube-controller-manager keep running: they see etcd go away and come back.
# ETCD_DOWN_SECONDS (default 0) keeps it stopped that long before starting it again.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
t0=$(now_ms)
[ -e "$LAB_MARKER" ] || die "no lab at $LAB_DIR (run make lab-up)"
lab_load_env
etcd_url=$(jq -r .etcd "$LAB_DIR/lab.json")

if pid=$(lab_pid etcd); then
  log "stopping etcd (pid $pid)"
  lab_stop etcd 15 || die "etcd did not stop"
fi
sleep "${ETCD_DOWN_SECONDS:-0}"
lab_start etcd
lab_wait etcd 30 "etcd health" bash -c "curl -fsS '$etcd_url/health' | grep -q '\"health\":\"true\"'"
log "etcd healthy again (pid $(lab_pid etcd)) in $(elapsed "$t0")"
lab_wait kube-apiserver 60 "kube-apiserver /readyz" apiserver_ready
log "kube-apiserver ready on the restarted etcd in $(elapsed "$t0")"
