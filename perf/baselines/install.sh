#!/usr/bin/env bash
# Installs and builds every comparison baseline in perf/baselines/. Safe to run again: npm ci reinstalls exactly
# what the committed package-lock.json files pin, and dotnet build is incremental.
#
#   perf/baselines/install.sh
#
# Needs Node >= 20 with npm (packages come from the npm registry) and the .NET 10 SDK. Fails on the first error.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

fail() {
  echo "install.sh: $*" >&2
  exit 1
}

command -v node >/dev/null || fail "node is not on PATH (need Node.js >= 20)"
command -v npm >/dev/null || fail "npm is not on PATH"
command -v dotnet >/dev/null || fail "dotnet is not on PATH (need the .NET 10 SDK)"
node_major="$(node -p 'process.versions.node.split(".")[0]')"
[ "$node_major" -ge 20 ] || fail "Node.js $(node -v) is too old; need >= 20"

for dir in node-ws uws; do
  echo "==> npm ci in perf/baselines/$dir"
  [ -f "$here/$dir/package-lock.json" ] || fail "$dir/package-lock.json is missing (run npm install there once and commit it)"
  (cd "$here/$dir" && npm ci --no-audit --no-fund $([ "$dir" = uws ] && echo --omit=optional)) || fail "npm ci failed in $dir"
done

# The uWS package falls back to a slow pure-JS implementation when its native binary does not load; catch that here
# rather than benchmark the fallback.
echo "==> checking that uWebSockets.js loads its native binary"
(cd "$here/uws" && node -e '
  const uWS = require("uWebSockets.js");
  if (!/\[native code\]/.test(Function.prototype.toString.call(uWS.App))) process.exit(1);
  console.log("    native uWS binary loaded (" + process.platform + "-" + process.arch + ", ABI " + process.versions.modules + ")");
') || fail "uWebSockets.js did not load its native binary on Node $(node -v); see perf/baselines/README.md"

echo "==> dotnet build -c Release perf/baselines/aspnetcore"
dotnet build "$here/aspnetcore/FastWs.Baseline.AspNetCore.csproj" -c Release --nologo -v quiet \
  || fail "dotnet build failed for the ASP.NET Core baseline"

echo "==> dotnet build -c Release perf/baselines/signalr"
dotnet build "$here/signalr/FastWs.Baseline.SignalR.csproj" -c Release --nologo -v quiet \
  || fail "dotnet build failed for the SignalR anchor"

echo "==> baselines ready"
echo "    dotnet $here/aspnetcore/bin/Release/net10.0/FastWs.Baseline.AspNetCore.dll --port 8090"
echo "    node $here/node-ws/server.js --port 8091"
echo "    node $here/uws/server.js --port 8092"
echo "    dotnet $here/signalr/bin/Release/net10.0/FastWs.Baseline.SignalR.dll --port 8093 --redis 127.0.0.1:6379"
