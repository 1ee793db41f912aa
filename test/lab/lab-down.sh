#!/usr/bin/env bash
# Stops the lab started by lab-up.sh and removes its state dir ($LAB_DIR, default <repo>/.lab).
# Kills only the pids recorded in $LAB_DIR/pids (TERM, then KILL after a few seconds), and
# only if each is still the process we started; never by name.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

if [ ! -e "$LAB_DIR" ]; then
  log "no lab at $LAB_DIR"
  exit 0
fi
[ -e "$LAB_MARKER" ] || die "$LAB_DIR was not made by lab-up.sh (no $(basename "$LAB_MARKER")); not touching it"

# Podman pods a test played against this lab (test/e2e/support/pods.ts records their names in
# podman/pods.txt): removed by those names, with their volumes (named <pod>-<volume>), first,
# so that none is left talking to an API server that is gone.
if [ -s "$LAB_DIR/podman/pods.txt" ] && command -v podman >/dev/null; then
  while IFS= read -r pod; do
    [ -n "$pod" ] || continue
    podman pod exists "$pod" 2>/dev/null && log "removing podman pod $pod"
    podman pod rm --force --time 5 "$pod" >/dev/null 2>&1 || true
    mapfile -t vols < <(podman volume ls --quiet --filter "name=^$pod-" 2>/dev/null)
    [ ${#vols[@]} -eq 0 ] || podman volume rm --force "${vols[@]}" >/dev/null 2>&1 || true
  done <"$LAB_DIR/podman/pods.txt"
fi

# Anything else recorded in pids/ (processes a test added) goes first, then the control
# plane in reverse start order.
order=()
for f in "$LAB_DIR"/pids/*.pid; do
  [ -e "$f" ] || continue
  n=$(basename "$f" .pid)
  [[ " ${LAB_PROCS[*]} " == *" $n "* ]] || order+=("$n")
done
for ((i = ${#LAB_PROCS[@]} - 1; i >= 0; i--)); do order+=("${LAB_PROCS[i]}"); done

failed=0
for n in "${order[@]}"; do
  if pid=$(lab_pid "$n"); then
    log "stopping $n (pid $pid)"
    lab_stop "$n" 5 || failed=1
  fi
done
((failed == 0)) || die "some lab processes did not stop; $LAB_DIR kept"

rm -rf -- "$LAB_DIR"
log "lab stopped; removed $LAB_DIR"
