#!/usr/bin/env bash
# A/B of two FastWs builds on the fan-out workloads: each run starts a fresh server (pinned to core 0) and runs the
# load tool (core 1) against it, A and B taking turns, and prints the median server CPU per 1,000 delivered
# messages (user / kernel) and p99 of each side per workload. For "before and after" checks of hot-path changes:
#
#   git worktree add /tmp/before <commit> && (cd /tmp/before && dotnet build -c Release src/Server)
#   perf/compare/ab.sh /tmp/before/src/Server/bin/Release/net10.0/FastWs.Server.dll \
#                      src/Server/bin/Release/net10.0/FastWs.Server.dll --workloads a,c --repeat 5
#
# Extra server arguments for one side: --a-args "..." / --b-args "..." (e.g. --b-args "--FastWs:Namespaces:bench:Format=Inline").
# Loopback only; every run is bounded by the load tool's own --max-run-time.
set -euo pipefail
cd "$(dirname "$0")/../.."

A="$1"; B="$2"; shift 2
workloads="a,c"; repeat=3; duration=15; warmup=3; a_args=""; b_args=""
while [ $# -gt 0 ]; do
  case "$1" in
    --workloads) workloads="$2"; shift 2 ;;
    --repeat) repeat="$2"; shift 2 ;;
    --duration) duration="$2"; shift 2 ;;
    --warmup) warmup="$2"; shift 2 ;;
    --a-args) a_args="$2"; shift 2 ;;
    --b-args) b_args="$2"; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 1 ;;
  esac
done

LOADGEN=tools/FastWs.LoadGen/bin/Release/net10.0/FastWs.LoadGen
[ -x "$LOADGEN" ] || { echo "build the load tool first: dotnet build -c Release tools/FastWs.LoadGen" >&2; exit 1; }
out="perf/compare/out/ab-$(date -u +%Y-%m-%dT%H-%M-%SZ)"
mkdir -p "$out"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

run_one() { # side dll args workload round
  local side="$1" dll="$2" extra="$3" wk="$4" round="$5"
  local ws http subs ch rate dir pid
  ws=$(free_port); http=$(free_port)
  case "$wk" in
    a) subs=100; ch=1; rate=1000 ;;
    b) subs=1000; ch=1; rate=100 ;;
    c) subs=1000; ch=100; rate=5000 ;;
    *) echo "unknown workload $wk" >&2; exit 1 ;;
  esac
  dir="$out/$wk/$side-$round"; mkdir -p "$dir"
  # shellcheck disable=SC2086
  taskset -c 0 dotnet "$dll" --environment LoadTest --FastWs:WebSocket:Port="$ws" --FastWs:Http:Port="$http" $extra > "$dir/server.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 300); do (exec 3<>/dev/tcp/127.0.0.1/"$ws") 2>/dev/null && break; sleep 0.1; done
  taskset -c 1 "$LOADGEN" fanout --subscribers "$subs" --channels "$ch" --rate "$rate" --duration "$duration" --warmup "$warmup" \
    --no-progress --url "ws://127.0.0.1:$ws/ws" --server-pid "$pid" --report "$dir" --max-run-time $((duration + warmup + 60)) > "$dir/loadgen.log" 2>&1 || true
  kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true
  python3 - "$dir/summary.json" "$side" "$wk" <<'PY'
import json, sys
try:
    m = json.load(open(sys.argv[1]))["metrics"]
    v = lambda k: m.get(k, {}).get("value")
    print(f"{sys.argv[3]} {sys.argv[2]} cpu/1k={v('server_cpu_us_per_1k'):.1f} user={v('server_user_us_per_1k'):.1f} sys={v('server_sys_us_per_1k'):.1f} p99={v('p99'):.3f} ratio={v('ratio')}")
except Exception as e:
    print(f"{sys.argv[3]} {sys.argv[2]} FAILED ({e})")
PY
}

IFS=',' read -ra wks <<< "$workloads"
for wk in "${wks[@]}"; do
  for round in $(seq 1 "$repeat"); do
    if [ $((round % 2)) -eq 1 ]; then
      run_one A "$A" "$a_args" "$wk" "$round" | tee -a "$out/runs.txt"; run_one B "$B" "$b_args" "$wk" "$round" | tee -a "$out/runs.txt"
    else
      run_one B "$B" "$b_args" "$wk" "$round" | tee -a "$out/runs.txt"; run_one A "$A" "$a_args" "$wk" "$round" | tee -a "$out/runs.txt"
    fi
  done
done

python3 - "$out/runs.txt" <<'PY'
import re, statistics, sys, collections
rows = collections.defaultdict(list)
for line in open(sys.argv[1]):
    m = re.match(r"(\w+) (\w) cpu/1k=([\d.]+) user=([\d.]+) sys=([\d.]+) p99=([\d.]+)", line)
    if m:
        rows[(m[1], m[2])].append(tuple(float(x) for x in m.groups()[2:]))
print("\nworkload side  cpu/1k (median)  user  sys  p99 ms   runs")
for wk in sorted({k[0] for k in rows}):
    med = {}
    for side in "AB":
        r = rows.get((wk, side), [])
        if r:
            med[side] = [statistics.median(x[i] for x in r) for i in range(4)]
            print(f"{wk:8} {side:4}  {med[side][0]:14.1f}  {med[side][1]:5.1f} {med[side][2]:5.1f}  {med[side][3]:6.3f}  {len(r)}")
    if "A" in med and "B" in med:
        print(f"{wk:8} B/A   {med['B'][0] / med['A'][0]:14.3f}  p99 B/A {med['B'][3] / med['A'][3]:.3f}")
PY
echo "raw: $out"
