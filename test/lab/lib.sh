# shellcheck shell=bash disable=SC2034 # variables here are used by the scripts sourcing it
# Shared by lab-up.sh, lab-down.sh, mesh-up.sh, mesh-down.sh and restart-apiserver.sh; source it,
# do not run it.
#
# State directory layout ($LAB_DIR, default <repo>/.lab, git-ignored):
#   .xrayr-mesh-lab      marker: lab-down only ever deletes a directory carrying it
#   cmd/<name>.args      the exact command line of each process, one argument a line
#   pids/<name>.pid      its pid; pids/<name>.start its start time (guards against pid reuse)
#   logs/<name>.log      its stdout+stderr
#   pki/                 CA, serving cert, client certs, service-account key pair
#   kubeconfig           admin (CN=lab-admin, O=system:masters)
#   env                  `source .lab/env`: KUBECONFIG, KUBECTL, PATH
#   lab.json             the same facts (ports, paths) for programs
#   audit.log            JSON audit events of write verbs (see audit-policy.yaml)
#   ready                lab-up.sh finished starting the control plane
#   mesh/, prometheus/   mesh-up.sh: istiod's rendered settings, Xboard's objects and pod files,
#                        Prometheus's config, rules, data
#   mesh-objects         mesh-up.sh: the objects it created in airport-prod ("kind name" lines),
#                        which mesh-down.sh deletes
#   endpoints.json       mesh-up.sh: URLs of the API server, istiod, Prometheus, the Xboard entry
#                        point, each sidecar's admin, and the knobs it was started with
#   podman/              the pods e2e: played pods' manifests, their ServiceAccount files, and
#                        pods.txt, the pods' names (lab-down.sh removes those pods)

lab_here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
lab_repo=$(cd "$lab_here/../.." && pwd)
LAB_DIR=${LAB_DIR:-$lab_repo/.lab}
case $LAB_DIR in /*) ;; *) LAB_DIR=$PWD/$LAB_DIR ;; esac
LAB_DIR=${LAB_DIR%/}
if [ -z "$LAB_DIR" ] || [ "$LAB_DIR" = / ]; then echo "[lab] error: refusing LAB_DIR=/" >&2; exit 1; fi
LAB_MARKER=$LAB_DIR/.xrayr-mesh-lab
# Start order; stopping goes the other way round.
LAB_PROCS=(etcd kube-apiserver kube-controller-manager)

log() { printf '[lab] %s\n' "$*" >&2; }
die() { printf '[lab] error: %s\n' "$*" >&2; exit 1; }

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
elapsed() { # since a now_ms value, as seconds with one decimal
  local ms=$(( $(now_ms) - $1 ))
  printf '%d.%ds' $((ms / 1000)) $((ms % 1000 / 100))
}

# Fields of /proc/PID/stat after the command name: [0]=state ... [19]=starttime.
proc_stat() {
  local s
  s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  echo "${s##*) }"
}

# Prints the pid recorded for NAME if that process is alive (zombies count as gone) and is
# still the one we started (same start time), else fails.
lab_pid() {
  local name=$1 pid st start
  [ -s "$LAB_DIR/pids/$name.pid" ] || return 1
  pid=$(<"$LAB_DIR/pids/$name.pid")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  st=$(proc_stat "$pid") || return 1
  read -ra st <<<"$st"
  [ "${st[0]}" != Z ] || return 1
  if [ -s "$LAB_DIR/pids/$name.start" ]; then
    start=$(<"$LAB_DIR/pids/$name.start")
    [ "${st[19]}" = "$start" ] || return 1
  else
    tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$LAB_DIR" || return 1
  fi
  echo "$pid"
}

# Starts NAME from cmd/NAME.args in its own session (setsid: a closing terminal or a Ctrl-C
# in the caller does not reach it), detached from the caller, logging to logs/NAME.log.
# The child writes its own pid before exec'ing, so the pid file is right whether or not
# setsid had to fork.
lab_start() {
  local name=$1 pidf=$LAB_DIR/pids/$1.pid args i st
  mapfile -t args <"$LAB_DIR/cmd/$name.args"
  mkdir -p "$LAB_DIR/pids" "$LAB_DIR/logs"
  rm -f "$pidf" "$LAB_DIR/pids/$name.start"
  printf '\n==== %s start %s\n' "$name" "$(date -u +%FT%TZ)" >>"$LAB_DIR/logs/$name.log"
  # shellcheck disable=SC2016 # $$ and $@ belong to the child shell
  setsid -f bash -c 'echo $$ >"$0.tmp" && mv "$0.tmp" "$0" && exec "$@"' "$pidf" "${args[@]}" \
    </dev/null >>"$LAB_DIR/logs/$name.log" 2>&1
  for ((i = 0; i < 100; i++)); do [ -s "$pidf" ] && break; sleep 0.05; done
  [ -s "$pidf" ] || die "$name did not start (see $LAB_DIR/logs/$name.log)"
  st=$(proc_stat "$(<"$pidf")") || die "$name exited at once: $(tail -n 5 "$LAB_DIR/logs/$name.log")"
  read -ra st <<<"$st"
  echo "${st[19]}" >"$LAB_DIR/pids/$name.start"
}

# Sends TERM to NAME, then KILL after TIMEOUT seconds; fails if it is still there after that.
lab_stop() {
  local name=$1 timeout=${2:-5} pid i
  pid=$(lab_pid "$name") || { rm -f "$LAB_DIR/pids/$name.pid" "$LAB_DIR/pids/$name.start"; return 0; }
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < timeout * 10; i++)); do lab_pid "$name" >/dev/null || break; sleep 0.1; done
  if lab_pid "$name" >/dev/null; then
    log "$name (pid $pid) ignored TERM for ${timeout}s; sending KILL"
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 30; i++)); do lab_pid "$name" >/dev/null || break; sleep 0.1; done
  fi
  if lab_pid "$name" >/dev/null; then log "$name (pid $pid) is still running"; return 1; fi
  rm -f "$LAB_DIR/pids/$name.pid" "$LAB_DIR/pids/$name.start"
}

# lab_wait NAME TIMEOUT WHAT CMD...: retries CMD until it succeeds; fails early, showing
# the log, if process NAME dies meanwhile.
lab_wait() {
  local name=$1 timeout=$2 what=$3 deadline
  shift 3
  deadline=$(( $(now_ms) + timeout * 1000 ))
  until "$@" >/dev/null 2>&1; do
    if ! lab_pid "$name" >/dev/null; then
      tail -n 30 "$LAB_DIR/logs/$name.log" >&2 || true
      die "$name exited while waiting for $what (log: $LAB_DIR/logs/$name.log)"
    fi
    if (( $(now_ms) > deadline )); then
      tail -n 30 "$LAB_DIR/logs/$name.log" >&2 || true
      die "timed out after ${timeout}s waiting for $what (log: $LAB_DIR/logs/$name.log)"
    fi
    sleep 0.2
  done
}

# Succeeds if PATTERN occurs in NAME's log since its latest start.
log_since_start() {
  local f=$LAB_DIR/logs/$1.log from
  from=$(grep -n "^==== $1 start" "$f" | tail -n 1 | cut -d: -f1)
  tail -n +"${from:-1}" "$f" | grep -qF -- "$2"
}

# Distinct free loopback ports: hold all sockets open at once, then release them.
free_ports() {
  python3 - "$1" 2>/dev/null <<'PY' || node -e '
const net = require("net"); const n = +process.argv[1]; const ss = []; const ps = [];
(function next() { if (ps.length === n) { console.log(ps.join(" ")); ss.forEach(s => s.close()); return; }
  const s = net.createServer(); ss.push(s); s.listen(0, "127.0.0.1", () => { ps.push(s.address().port); next(); }); })();' "$1"
import socket, sys
ss = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in ss:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in ss))
PY
}

# The mesh's processes that have a pid recorded, in stop order (mesh-up.sh starts them the other
# way round): Prometheus, the NLB, each pod's sidecar, fake Xboard, istiod.
mesh_proc_names() {
  local f n
  for n in prometheus xboard-nlb; do [ -e "$LAB_DIR/pids/$n.pid" ] && echo "$n"; done
  for f in "$LAB_DIR"/pids/sidecar-standin-*.pid; do [ -e "$f" ] && basename "$f" .pid; done
  for n in fake-xboard istiod; do [ -e "$LAB_DIR/pids/$n.pid" ] && echo "$n"; done
  return 0
}

# Has the mesh's Prometheus scrape an operator's /metrics (HOST:PORT) as job xrayr-mesh-operator.
mesh_scrape() { # NAME HOST:PORT
  mkdir -p "$LAB_DIR/prometheus/targets"
  printf '[{"targets": ["%s"], "labels": {"pod": "%s"}}]\n' "$2" "$1" >"$LAB_DIR/prometheus/targets/$1.json.tmp"
  mv "$LAB_DIR/prometheus/targets/$1.json.tmp" "$LAB_DIR/prometheus/targets/$1.json"
}
lab_kubectl() { "$KUBECTL" --kubeconfig "$LAB_DIR/kubeconfig" --request-timeout=5s "$@"; }
apiserver_ready() { [ "$(lab_kubectl get --raw /readyz 2>/dev/null)" = ok ]; }

lab_load_env() {
  [ -s "$LAB_DIR/env" ] || die "no lab at $LAB_DIR (run make lab-up)"
  # shellcheck source=/dev/null
  source "$LAB_DIR/env"
}
