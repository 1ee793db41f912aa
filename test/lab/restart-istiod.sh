#!/usr/bin/env bash
# Restarts the mesh lab's istiod with the command line mesh-up.sh gave it ($LAB_DIR/cmd/
# istiod.args: same ports, mesh config, deploy/istio's env) and waits until it is ready again;
# the sidecars (stand-ins, xDS clients) reconnect on their own, as Envoy does.
#   restart-istiod.sh [KEY=VALUE ...]   istiod env for this start and later ones (over the
#                                       recorded env: a benchmark turning one knob at a time)
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
t0=$(now_ms)
[ -e "$LAB_MARKER" ] || die "no lab at $LAB_DIR (run make lab-up)"
[ -s "$LAB_DIR/cmd/istiod.args" ] || die "no istiod in the lab at $LAB_DIR (run test/lab/mesh-up.sh)"
args=$LAB_DIR/cmd/istiod.args
for kv in "$@"; do
  [[ $kv =~ ^[A-Z_][A-Z0-9_]*=.*$ ]] || die "$kv is not KEY=VALUE"
  # The args file is `env -C DIR K=V ... BINARY FLAGS...`: replace the key's line where the env
  # part has it, else insert it before the binary (the first line that is not K=V after -C DIR).
  awk -v kv="$kv" '
    BEGIN { key = substr(kv, 1, index(kv, "=")) }
    NR <= 3 || done { print; next }
    index($0, key) == 1 { print kv; done = 1; next }
    $0 !~ /^[A-Z_][A-Z0-9_]*=/ { print kv; print; done = 1; next }
    { print }' "$args" >"$args.tmp"
  mv "$args.tmp" "$args"
  log "istiod env: $kv"
done
http=$(sed -n 's/^--httpAddr=//p' "$args")
if pid=$(lab_pid istiod); then
  log "stopping istiod (pid $pid)"
  lab_stop istiod 15 || die "istiod did not stop"
fi
lab_start istiod
lab_wait istiod 120 "istiod /ready" curl -fsS -o /dev/null --max-time 2 "http://$http/ready"
log "istiod ready again (pid $(lab_pid istiod)) in $(elapsed "$t0")"
