#!/usr/bin/env bash
# A local FastWs cluster in one command (issue 18): Debian's redis-server, N FastWs nodes on consecutive ports, and
# HAProxy in front (deploy/haproxy.cfg). Loopback only. See deploy/README.md and docs/operations.md, "Several nodes".
#
#   deploy/cluster.sh 3                      # start 3 nodes, print the URLs, run until Ctrl+C
#   deploy/cluster.sh 2 --detach             # start, print the URLs and return; later: deploy/cluster.sh stop
#   deploy/cluster.sh stop                   # stop a cluster started from this checkout (pid files in the run dir)
#   deploy/cluster.sh status
#   deploy/cluster.sh 2 -- --environment LoadTest   # arguments after -- go to every node
#
# Options (before --):
#   --run-dir DIR         pid files, logs, the rendered haproxy.cfg (default deploy/run, or $FASTWS_CLUSTER_DIR)
#   --ws-port P           HAProxy's WebSocket frontend (default 8080): ws://127.0.0.1:P/ws
#   --http-port P         HAProxy's HTTP frontend (default 8081): publish API, stats of whichever node answers
#   --node-port P         node i listens for WebSockets on P+i-1 and for HTTP on P+100+i-1 (default 9001)
#   --redis-port P        redis-server's port (default: the first free one from 6380)
#   --pubsub-limit "H S T" Redis client-output-buffer-limit for pub/sub clients (default "32mb 8mb 60", see below)
#   --broker redis|none   nodes use the Redis broker (default) or run alone (each node its own island)
#   --detach              return once everything is ready, leaving the cluster running
#   --no-build            never build src/Server (by default it is built in Release when missing or older than src/)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
server_dll="$root/src/Server/bin/Release/net10.0/FastWs.Server.dll"
# Debian puts haproxy in /usr/sbin, which a non-root PATH may leave out.
export PATH="$PATH:/usr/sbin:/sbin"

usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//'; }
die() { echo "cluster.sh: $*" >&2; exit 1; }

action=start
nodes=""
run_dir="${FASTWS_CLUSTER_DIR:-$here/run}"
ws_port=8080
http_port=8081
node_port=9001
redis_port=""
pubsub_limit="32mb 8mb 60"
broker=redis
detach=0
build=1
node_args=()

case "${1:-}" in
  stop|status) action="$1"; shift ;;
  start) shift ;;
  -h|--help|"") usage; [ -n "${1:-}" ] && exit 0; exit 1 ;;
esac
while [ $# -gt 0 ]; do
  case "$1" in
    --run-dir) run_dir="$2"; shift 2 ;;
    --ws-port) ws_port="$2"; shift 2 ;;
    --http-port) http_port="$2"; shift 2 ;;
    --node-port) node_port="$2"; shift 2 ;;
    --redis-port) redis_port="$2"; shift 2 ;;
    --pubsub-limit) pubsub_limit="$2"; shift 2 ;;
    --broker) broker="$2"; shift 2 ;;
    --detach) detach=1; shift ;;
    --no-build) build=0; shift ;;
    --) shift; node_args=("$@"); break ;;
    -h|--help) usage; exit 0 ;;
    [0-9]*) nodes="$1"; shift ;;
    *) die "unknown argument: $1 (see --help)" ;;
  esac
done
mkdir -p "$run_dir"
run_dir="$(cd "$run_dir" && pwd)"

# --- pid files: one line "PID NAME" per process, NAME also checked against /proc/PID/cmdline before any kill, so a
# recycled PID is never hit.

pid_of() { [ -s "$run_dir/$1.pid" ] && cut -d' ' -f1 "$run_dir/$1.pid" || true; }

is_ours() { # PID EXPECTED-WORD: alive and its command line contains the word
  [ -n "$1" ] && [ -r "/proc/$1/cmdline" ] && tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -qF -- "$2"
}

stop_one() { # NAME WORD: SIGTERM, up to 8 s, then SIGKILL
  local name="$1" word="$2" pid
  pid="$(pid_of "$name")"
  if is_ours "$pid" "$word"; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 80); do is_ours "$pid" "$word" || break; sleep 0.1; done
    if is_ours "$pid" "$word"; then
      echo "cluster.sh: $name (pid $pid) did not stop within 8 s: killing it" >&2
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$run_dir/$name.pid"
}

stop_all() {
  # HAProxy first (no new clients), then the nodes (each closes its clients with 1001 after what it accepted), Redis last.
  stop_one haproxy haproxy
  local f stoppers=()
  for f in "$run_dir"/node*.pid; do
    [ -e "$f" ] || continue
    stop_one "$(basename "$f" .pid)" FastWs.Server.dll &
    stoppers+=($!)
  done
  # Only the stoppers: a bare `wait` would also wait for the cluster's own processes, children of this script.
  [ ${#stoppers[@]} -eq 0 ] || wait "${stoppers[@]}"
  stop_one redis redis-server
}

if [ "$action" = stop ]; then
  owner="$(pid_of owner)"
  stop_all
  # A foreground cluster.sh notices that HAProxy is gone and exits by itself.
  if is_ours "$owner" cluster.sh; then
    for _ in $(seq 1 50); do is_ours "$owner" cluster.sh || break; sleep 0.1; done
  fi
  rm -f "$run_dir/owner.pid"
  echo "cluster stopped ($run_dir)"
  exit 0
fi

if [ "$action" = status ]; then
  any=0
  for f in "$run_dir"/*.pid; do
    [ -e "$f" ] || continue
    read -r pid word <"$f"
    if is_ours "$pid" "$word"; then echo "$(basename "$f" .pid): running (pid $pid)"; any=1; else echo "$(basename "$f" .pid): not running"; fi
  done
  [ "$any" = 1 ] || { echo "no cluster running in $run_dir"; exit 1; }
  exit 0
fi

# --- start

[[ "$nodes" =~ ^[0-9]+$ ]] && [ "$nodes" -ge 1 ] && [ "$nodes" -le 50 ] || die "give the number of nodes (1-50), e.g. deploy/cluster.sh 3"
[ "$broker" = redis ] || [ "$broker" = none ] || die "--broker is redis or none"
command -v haproxy >/dev/null || die "haproxy not found (Debian: apt-get install haproxy)"
if [ "$broker" = redis ]; then command -v redis-server >/dev/null || die "redis-server not found (Debian: apt-get install redis-server)"; fi
command -v curl >/dev/null || die "curl not found"
for f in "$run_dir"/*.pid; do
  [ -e "$f" ] || continue
  read -r pid word <"$f"
  is_ours "$pid" "$word" && die "a cluster is already running in $run_dir ($(basename "$f" .pid), pid $pid): deploy/cluster.sh stop --run-dir $run_dir"
  rm -f "$f"
done

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
if [ -z "$redis_port" ] && [ "$broker" = redis ]; then
  redis_port=6380
  while ! port_free "$redis_port"; do redis_port=$((redis_port + 1)); done
fi
ports=("$ws_port" "$http_port")
for i in $(seq 1 "$nodes"); do ports+=($((node_port + i - 1)) $((node_port + 100 + i - 1))); done
[ "$broker" = redis ] && ports+=("$redis_port")
for p in "${ports[@]}"; do port_free "$p" || die "port $p is in use (choose others: --ws-port, --http-port, --node-port, --redis-port)"; done

if [ "$build" = 1 ]; then
  if [ ! -f "$server_dll" ] || [ -n "$(find "$root/src" -path '*/bin' -prune -o -path '*/obj' -prune -o -type f -newer "$server_dll" -print -quit)" ]; then
    echo "building src/Server (Release) ..."
    dotnet build -c Release "$root/src/Server" >"$run_dir/build.log" 2>&1 || { tail -n 30 "$run_dir/build.log" >&2; die "build failed (log: $run_dir/build.log)"; }
  fi
fi
[ -f "$server_dll" ] || die "$server_dll is missing (build src/Server in Release, or leave out --no-build)"

started=0
on_exit() {
  local rc=$?
  if [ "$started" = 0 ] || [ "$detach" = 0 ]; then
    stop_all
    rm -f "$run_dir/owner.pid"
  fi
  exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT TERM HUP

# Each process in its own session (setsid execs in place here, so $! is the process itself): Ctrl+C reaches only this
# script, which then stops them in order.
start() { # NAME WORD LOG CMD...
  local name="$1" word="$2" log="$3"
  shift 3
  setsid "$@" >"$log" 2>&1 </dev/null &
  echo "$! $word" >"$run_dir/$name.pid"
}

wait_for() { # WHAT SECONDS COMMAND...
  local what="$1" seconds="$2"
  shift 2
  for _ in $(seq 1 $((seconds * 10))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  die "$what not ready within $seconds s (logs in $run_dir)"
}

echo "$$ cluster.sh" >"$run_dir/owner.pid"

if [ "$broker" = redis ]; then
  # No persistence (--save "" --appendonly no): a restarted Redis starts empty, so every channel gets a new epoch and
  # clients recover with a reset (docs/operations.md, "Several nodes"). The pub/sub output limit is the bound on how
  # far a slow node may fall behind: over the hard limit, or over the soft limit for that many seconds, Redis drops
  # that node's connection, the node reconnects and its clients get gap notices.
  # shellcheck disable=SC2086
  start redis redis-server "$run_dir/redis.log" redis-server --port "$redis_port" --bind 127.0.0.1 --protected-mode yes \
    --save "" --appendonly no --dir "$run_dir" --client-output-buffer-limit "pubsub $pubsub_limit"
  wait_for "redis-server on port $redis_port" 10 redis-cli -p "$redis_port" ping
fi

broker_args=()
[ "$broker" = redis ] && broker_args=(--FastWs:Broker:Kind=Redis "--FastWs:Broker:Redis:Configuration=127.0.0.1:$redis_port")
ws_servers=""
http_servers=""
for i in $(seq 1 "$nodes"); do
  wsp=$((node_port + i - 1))
  hp=$((node_port + 100 + i - 1))
  # Every client reaches a node from HAProxy's address, so the per-IP connection limit would count them all as one.
  start "node$i" FastWs.Server.dll "$run_dir/node$i.log" dotnet "$server_dll" \
    "--FastWs:WebSocket:Port=$wsp" "--FastWs:Http:Port=$hp" --FastWs:Limits:MaxConnectionsPerIp=0 \
    "${broker_args[@]}" "${node_args[@]}"
  ws_servers+="    server node$i 127.0.0.1:$wsp check port $hp"$'\n'
  http_servers+="    server node$i 127.0.0.1:$hp check"$'\n'
done
for i in $(seq 1 "$nodes"); do
  wait_for "node $i (http://127.0.0.1:$((node_port + 100 + i - 1))/readyz)" 60 curl -sf "http://127.0.0.1:$((node_port + 100 + i - 1))/readyz"
done

# HAProxy needs two descriptors per proxied connection: raise the soft limit to the hard one, and size maxconn to it.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
nofile="$(ulimit -n)"
[ "$nofile" = unlimited ] && nofile=100000
maxconn=$(( (nofile - 200) / 2 ))
[ "$maxconn" -gt 50000 ] && maxconn=50000
cfg="$run_dir/haproxy.cfg"
awk -v maxconn="$maxconn" -v ws="$ws_port" -v http="$http_port" -v wss="${ws_servers%$'\n'}" -v hs="${http_servers%$'\n'}" '
  { gsub(/@WS_PORT@/, ws); gsub(/@HTTP_PORT@/, http); gsub(/@MAXCONN@/, maxconn) }
  /^@WS_SERVERS@$/ { print wss; next }
  /^@HTTP_SERVERS@$/ { print hs; next }
  { print }' "$here/haproxy.cfg" >"$cfg"
haproxy -c -q -f "$cfg" >"$run_dir/haproxy-check.log" 2>&1 || { cat "$run_dir/haproxy-check.log" >&2; die "haproxy refused $cfg"; }
# -db: stay in the foreground (no daemon), so the pid file holds HAProxy itself.
start haproxy haproxy "$run_dir/haproxy.log" haproxy -db -f "$cfg"
wait_for "HAProxy on port $http_port" 10 curl -sf "http://127.0.0.1:$http_port/readyz"
started=1

echo "FastWs cluster: $nodes node(s)$([ "$broker" = redis ] && echo " on Redis 127.0.0.1:$redis_port" || echo ", no broker")"
echo "  WebSocket (HAProxy, leastconn): ws://127.0.0.1:$ws_port/ws"
echo "  HTTP (HAProxy, round robin):    http://127.0.0.1:$http_port/api/publish"
for i in $(seq 1 "$nodes"); do
  echo "  node $i: ws://127.0.0.1:$((node_port + i - 1))/ws  http://127.0.0.1:$((node_port + 100 + i - 1))/ws/stats  (pid $(pid_of "node$i"))"
done
[ "$broker" = redis ] && echo "  redis: 127.0.0.1:$redis_port (pid $(pid_of redis)), no persistence, client-output-buffer-limit pubsub $pubsub_limit"
echo "  logs and pid files: $run_dir"
if [ "$detach" = 1 ]; then
  rm -f "$run_dir/owner.pid"
  echo "ready; stop with: deploy/cluster.sh stop$([ "$run_dir" = "$here/run" ] || echo " --run-dir $run_dir")"
  exit 0
fi
echo "ready; Ctrl+C (or deploy/cluster.sh stop) stops everything"
haproxy_pid="$(pid_of haproxy)"
while is_ours "$haproxy_pid" haproxy; do sleep 1; done
echo "HAProxy is gone: stopping the cluster"
