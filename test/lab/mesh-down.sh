#!/usr/bin/env bash
# Stops what mesh-up.sh started (Prometheus, the NLB stand-in, the sidecar stand-ins, fake
# Xboard, istiod; by recorded pid only, like lab-down.sh) and deletes the objects it created in
# the lab (Xboard's Deployment, ReplicaSet, Pods and Service; its Telemetry when deploy/istio was
# not applied), so the lab's control plane is left as before the mesh.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
[ -e "$LAB_MARKER" ] || { log "no lab at $LAB_DIR"; exit 0; }
failed=0
for n in $(mesh_proc_names); do
  if pid=$(lab_pid "$n"); then
    log "stopping $n (pid $pid)"
    lab_stop "$n" 5 || failed=1
  else
    rm -f "$LAB_DIR/pids/$n.pid" "$LAB_DIR/pids/$n.start"
  fi
done
((failed == 0)) || die "some mesh processes did not stop"
rm -f "$LAB_DIR/endpoints.json"
if [ -s "$LAB_DIR/mesh-objects" ]; then
  lab_load_env
  if apiserver_ready; then
    # Pods first (then nothing is left that istiod or Prometheus could still see), owners after.
    for kind in pod replicaset deployment service telemetry; do
      mapfile -t names < <(awk -v k="$kind" '$1 == k { print $2 }' "$LAB_DIR/mesh-objects")
      [ ${#names[@]} -eq 0 ] && continue
      lab_kubectl -n airport-prod delete "$kind" "${names[@]}" --ignore-not-found --wait=true >/dev/null ||
        die "could not delete $kind ${names[*]} in airport-prod"
    done
    rm -f "$LAB_DIR/mesh-objects"
  else
    log "the lab's kube-apiserver is not ready: the mesh's objects (in $LAB_DIR/mesh-objects) stay"
  fi
fi
log "mesh stopped; the lab's control plane at $LAB_DIR keeps running"
