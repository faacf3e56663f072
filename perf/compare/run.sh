#!/usr/bin/env bash
# One-command comparison of FastWs against the perf/baselines servers (issue 5, section 4).
#
#   perf/compare/run.sh                 # full run, about 11-15 min on the 2-core machine (at most ~25)
#   perf/compare/run.sh --quick         # a few minutes: checks that everything works, numbers are rough
#   perf/compare/run.sh --servers fastws,uws --workloads a,e --duration 30
#   perf/compare/run.sh --help
#
# Installs/builds what it needs (perf/baselines/install.sh, FastWs server and load tool in Release), runs every
# server x workload with the server pinned to core 0 and tools/FastWs.LoadGen pinned to core 1, prints one table
# and writes it as Markdown (default perf/compare/last-run.md). The orchestration is compare.js beside this file;
# this wrapper makes sure nothing it started survives it: on Ctrl+C / SIGTERM it asks compare.js to stop (which
# stops the load tool and the server and writes a partial table), and on exit it kills whatever is left.
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"

command -v node >/dev/null || { echo "run.sh: node is not on PATH (need Node.js >= 20)" >&2; exit 1; }

pidfile="$(mktemp "${TMPDIR:-/tmp}/fastws-compare.XXXXXX")"
node_pid=""

# Kill process groups compare.js recorded but did not get to stop (e.g. if it was killed with SIGKILL). Only
# processes carrying our run marker in their environment are touched, so a recycled PID is never hit.
kill_leftovers() {
  local pid
  if [ -s "$pidfile" ]; then
    while read -r pid; do
      [ -n "$pid" ] || continue
      if [ -r "/proc/$pid/environ" ] && tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | grep -q '^FASTWS_COMPARE_RUN='; then
        kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null
      fi
    done <"$pidfile"
  fi
  rm -f "$pidfile"
}

on_signal() {
  # compare.js also gets the terminal's SIGINT directly; it treats the two as one request.
  [ -n "$node_pid" ] && kill -TERM "$node_pid" 2>/dev/null
}

trap on_signal INT TERM HUP
trap kill_leftovers EXIT

cmdline="${FASTWS_COMPARE_NAME:-perf/compare/run.sh}"
for arg in "$@"; do
  # Quote only what the shell would otherwise split or expand, so the recorded command reads like the typed one.
  if [[ "$arg" =~ ^[A-Za-z0-9_.,:/=+-]+$ ]]; then cmdline+=" $arg"; else cmdline+=" '${arg//\'/\'\\\'\'}'"; fi
done

caller_cwd="$PWD"
cd "$root"
# perf/compare/cluster.sh runs cluster.js (several nodes on Redis) through this same wrapper.
FASTWS_COMPARE_CWD="$caller_cwd" FASTWS_COMPARE_PIDFILE="$pidfile" FASTWS_COMPARE_CMDLINE="$cmdline" node "$here/${FASTWS_COMPARE_SCRIPT:-compare.js}" "$@" &
node_pid=$!

# `wait` returns early when a trapped signal arrives; keep waiting until compare.js has really exited.
rc=0
while :; do
  wait "$node_pid"
  rc=$?
  kill -0 "$node_pid" 2>/dev/null || break
done
exit "$rc"
