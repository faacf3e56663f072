#!/usr/bin/env bash
# Several nodes on one Redis (issue 18): FastWs with its Redis broker, ASP.NET Core SignalR with its Redis backplane,
# and one FastWs node alone as the reference, through the same load tool (perf/compare/README.md, "Several nodes").
#
#   perf/compare/cluster.sh --quick                                   # a few minutes: everything works, rough numbers
#   perf/compare/cluster.sh                                           # (a), (c) three times each and the (h) ceiling search
#   perf/compare/cluster.sh --servers signalr-redis --workloads h     # SignalR's sustained publish rate alone
#   perf/compare/cluster.sh --help
#
# The orchestration is cluster.js; this runs it through run.sh's wrapper, which makes sure nothing it started
# survives it (Ctrl+C writes a partial table; leftovers are killed on exit).
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
FASTWS_COMPARE_SCRIPT=cluster.js FASTWS_COMPARE_NAME=perf/compare/cluster.sh exec "$here/run.sh" "$@"
