// Starts the real FastWs server (the Release build) on free loopback ports, and a TCP proxy in front of it.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import net from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { createHmac } from "node:crypto";

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), "../../../..");
export const serverDll = join(repoRoot, "src/Server/bin/Release/net10.0/FastWs.Server.dll");

const STARTED = /FastWs started: WebSocket endpoint ws:\/\/127\.0\.0\.1:(\d+)(\/\S*) .*HTTP endpoint http:\/\/127\.0\.0\.1:(\d+)\//;

/** The settings every test server gets: loopback, free ports, no per-IP limit (every test connection comes from 127.0.0.1). */
const BASE_ARGS = [
  "--FastWs:WebSocket:Address=127.0.0.1",
  "--FastWs:WebSocket:Port=0",
  "--FastWs:Http:Address=127.0.0.1",
  "--FastWs:Http:Port=0",
  "--FastWs:Limits:MaxConnectionsPerIp=0",
  "--FastWs:WarmUp=false",
  "--Logging:LogLevel:Default=Warning",
  "--Logging:LogLevel:FastWs.Server=Information",
];

/**
 * Starts the server and resolves once it has logged its bound ports and /readyz answers 200.
 * Fails (rejects) when the dll is missing, the process exits, or it is not ready within 30 s.
 */
export async function startServer(extraArgs = []) {
  if (!existsSync(serverDll)) {
    throw new Error(`server not built: ${serverDll} is missing (npm test runs tests/support/build-server.mjs first)`);
  }
  const proc = spawn("dotnet", [serverDll, ...BASE_ARGS, ...extraArgs], {
    cwd: repoRoot,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, DOTNET_CLI_TELEMETRY_OPTOUT: "1", DOTNET_NOLOGO: "1" },
  });
  let log = "";
  const exited = new Promise((resolve) => proc.once("exit", (code, signal) => resolve({ code, signal })));
  const ports = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("server did not report its ports within 30 s:\n" + log)), 30_000);
    const onData = (chunk) => {
      log += chunk.toString();
      const m = STARTED.exec(log);
      if (m) {
        clearTimeout(timer);
        resolve({ wsPort: Number(m[1]), wsPath: m[2], httpPort: Number(m[3]) });
      }
    };
    proc.stdout.on("data", onData);
    proc.stderr.on("data", (c) => (log += c.toString()));
    exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`server exited (code ${code}, signal ${signal}) before it was ready:\n${log}`));
    });
  });
  const server = {
    proc,
    ...ports,
    wsUrl: `ws://127.0.0.1:${ports.wsPort}${ports.wsPath}`,
    httpUrl: `http://127.0.0.1:${ports.httpPort}`,
    get log() {
      return log;
    },
    /** Kills the process (SIGKILL: no 1001 goodbye, the way a crash or an OOM kill looks) and waits for its end. */
    async kill() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGKILL");
      await exited;
    },
    /** POST /api/publish; resolves with the response body. */
    async publish(messages) {
      const res = await fetch(`${server.httpUrl}/api/publish`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(messages),
      });
      const body = await res.text();
      if (res.status !== 202) throw new Error(`publish failed: ${res.status} ${body}`);
      return JSON.parse(body);
    },
    /** POST /api/connections/{id}/close. */
    async closeConnection(id, code = 4000, reason = "test") {
      const res = await fetch(`${server.httpUrl}/api/connections/${encodeURIComponent(id)}/close`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ code, reason }),
      });
      if (res.status !== 202) throw new Error(`close ${id} failed: ${res.status} ${await res.text()}`);
    },
    async stats() {
      const res = await fetch(`${server.httpUrl}/ws/stats`);
      return res.json();
    },
  };
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      const res = await fetch(`${server.httpUrl}/readyz`);
      if (res.status === 200) break;
    } catch {
      /* not yet */
    }
    if (Date.now() > deadline) {
      await server.kill();
      throw new Error("server not ready within 30 s:\n" + log);
    }
    await sleep(50);
  }
  return server;
}

export function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `fn` until it returns a truthy value; rejects with `what` after `ms`. */
export async function waitFor(fn, what, ms = 10_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(20);
  }
}

/**
 * A TCP proxy on a free loopback port in front of the server. It lets a test drop every connection (a network
 * failure, no close frame), freeze them (the server goes silent while TCP stays up), and point at a restarted server
 * on a new port while the client keeps its URL. With no target it refuses (drops) new connections.
 */
export async function startProxy(targetPort) {
  const pairs = new Set();
  let target = targetPort;
  let accepted = 0;
  const srv = net.createServer((client) => {
    accepted++;
    if (target === null) {
      client.destroy();
      return;
    }
    const upstream = net.connect(target, "127.0.0.1");
    const pair = { client, upstream, frozen: false };
    pairs.add(pair);
    const end = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on("data", (d) => {
      if (!pair.frozen) upstream.write(d);
    });
    upstream.on("data", (d) => {
      if (!pair.frozen) client.write(d);
    });
    client.on("error", end).on("close", end);
    upstream.on("error", end).on("close", end);
  });
  await new Promise((r) => srv.listen(0, "127.0.0.1", r));
  const port = srv.address().port;
  return {
    port,
    get accepted() {
      return accepted;
    },
    get open() {
      return pairs.size;
    },
    url(path = "/ws") {
      return `ws://127.0.0.1:${port}${path}`;
    },
    setTarget(p) {
      target = p;
    },
    /** Resets every proxied connection: both sides see the TCP connection die. */
    dropAll() {
      for (const p of [...pairs]) {
        p.client.resetAndDestroy();
        p.upstream.destroy();
        pairs.delete(p);
      }
    },
    /** Stops forwarding on the open connections, keeping TCP up: the server looks silent to the client. */
    freezeAll() {
      for (const p of pairs) p.frozen = true;
    },
    close() {
      this.dropAll();
      return new Promise((r) => srv.close(r));
    },
  };
}

/** An HS256 JWT for `sub`, valid for `seconds` (negative: expired). */
export function makeToken(secret, sub, seconds) {
  const enc = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");
  const head = enc({ alg: "HS256", typ: "JWT" }) + "." + enc({ sub, exp: Math.floor(Date.now() / 1000) + seconds });
  return head + "." + createHmac("sha256", secret).update(head).digest("base64url");
}
