#!/usr/bin/env bash
# Stops what mesh-up.sh started (Prometheus, the sidecar stand-in, fake Xboard, istiod) and
# leaves the lab's control plane running. By recorded pid only, like lab-down.sh.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
[ -e "$LAB_MARKER" ] || { log "no lab at $LAB_DIR"; exit 0; }
failed=0
for n in prometheus sidecar-standin fake-xboard istiod; do
  if pid=$(lab_pid "$n"); then
    log "stopping $n (pid $pid)"
    lab_stop "$n" 5 || failed=1
  fi
done
((failed == 0)) || die "some mesh processes did not stop"
rm -f "$LAB_DIR/endpoints.json"
log "mesh stopped; the lab's control plane at $LAB_DIR keeps running"
