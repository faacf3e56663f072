// Builds the server (Release) when its dll is missing or older than its sources; the tests start that dll.
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { repoRoot, serverDll } from "./server.mjs";

function newestSource(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === "bin" || entry.name === "obj") continue;
    const p = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestSource(p));
    else if (/\.(cs|csproj|json)$/.test(entry.name)) newest = Math.max(newest, statSync(p).mtimeMs);
  }
  return newest;
}

const sources = Math.max(newestSource(join(repoRoot, "src/Server")), newestSource(join(repoRoot, "src/Protocol")));
if (existsSync(serverDll) && statSync(serverDll).mtimeMs >= sources) {
  console.log(`server build up to date: ${serverDll}`);
} else {
  console.log("building the server: dotnet build -c Release src/Server");
  const r = spawnSync("dotnet", ["build", "-c", "Release", "src/Server", "-nologo", "-v", "q"], { cwd: repoRoot, stdio: "inherit" });
  if (r.status !== 0 || !existsSync(serverDll)) {
    console.error(`FAILED to build the server (exit ${r.status}); the TypeScript client tests need ${serverDll}`);
    process.exit(1);
  }
}
