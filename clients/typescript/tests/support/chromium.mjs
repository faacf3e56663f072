// Headless Debian Chromium driven over the Chrome DevTools protocol with a tiny client on `ws` (no browser download).
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import WebSocket from "ws";

export const CHROMIUM = process.env.CHROMIUM_PATH || "/usr/bin/chromium";

/** Starts Chromium; throws (the test fails) when it is not installed or does not come up. */
export async function launchChromium() {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`Chromium not found at ${CHROMIUM}: install it (apt-get install -y chromium; .ci/run does) or set CHROMIUM_PATH`);
  }
  const profile = mkdtempSync(join(tmpdir(), "fastws-chromium-"));
  const args = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-dev-shm-usage",
    `--user-data-dir=${profile}`,
    "--remote-debugging-address=127.0.0.1",
    "--remote-debugging-port=0",
    "about:blank",
  ];
  // Its own process group, so that closing kills the renderer and GPU processes too (they hold the profile and
  // the stderr pipe open otherwise).
  const proc = spawn(CHROMIUM, args, { stdio: ["ignore", "ignore", "pipe"], detached: true });
  const exited = new Promise((r) => proc.once("exit", r));
  const killGroup = () => {
    try {
      process.kill(-proc.pid, "SIGKILL");
    } catch {
      /* gone already */
    }
  };
  let log = "";
  const endpoint = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      killGroup();
      reject(new Error("Chromium did not open its DevTools endpoint within 30 s:\n" + log));
    }, 30_000);
    proc.stderr.on("data", (c) => {
      log += c.toString();
      const m = /DevTools listening on (ws:\/\/\S+)/.exec(log);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    proc.once("error", (e) => {
      clearTimeout(timer);
      killGroup();
      reject(new Error(`Chromium could not start: ${e.message}`));
    });
    proc.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`Chromium exited (code ${code}) before its DevTools endpoint was up:\n${log}`));
    });
  });
  const cdp = await connectCdp(endpoint);
  return {
    cdp,
    async close() {
      await Promise.race([cdp.send("Browser.close").catch(() => {}), new Promise((r) => setTimeout(r, 2000))]);
      cdp.close();
      await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
      killGroup();
      await exited;
      proc.stderr.destroy();
      rmSync(profile, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
    },
    /** Opens `url` in a new tab; returns a page with evaluate() and screenshot(). */
    async open(url) {
      const { targetId } = await cdp.send("Target.createTarget", { url: "about:blank" });
      const { sessionId } = await cdp.send("Target.attachToTarget", { targetId, flatten: true });
      await cdp.send("Runtime.enable", {}, sessionId);
      await cdp.send("Page.enable", {}, sessionId);
      const consoleLines = [];
      cdp.onEvent((m) => {
        if (m.sessionId !== sessionId) return;
        if (m.method === "Runtime.consoleAPICalled") consoleLines.push(m.params.args.map((a) => a.value ?? a.description).join(" "));
        if (m.method === "Runtime.exceptionThrown") consoleLines.push("exception: " + JSON.stringify(m.params.exceptionDetails));
      });
      await cdp.send("Page.navigate", { url }, sessionId);
      return {
        consoleLines,
        async evaluate(expression) {
          const r = await cdp.send("Runtime.evaluate", { expression, returnByValue: true, awaitPromise: true }, sessionId);
          if (r.exceptionDetails) throw new Error("page exception: " + JSON.stringify(r.exceptionDetails));
          return r.result.value;
        },
        async screenshot() {
          const r = await cdp.send("Page.captureScreenshot", { format: "png" }, sessionId);
          return Buffer.from(r.data, "base64");
        },
      };
    },
  };
}

async function connectCdp(endpoint) {
  const ws = new WebSocket(endpoint, { perMessageDeflate: false });
  await new Promise((resolve, reject) => {
    ws.once("open", resolve);
    ws.once("error", reject);
  });
  let nextId = 1;
  const waiting = new Map();
  const listeners = new Set();
  ws.on("message", (data) => {
    const m = JSON.parse(data.toString());
    if (m.id !== undefined && waiting.has(m.id)) {
      const { resolve, reject, method } = waiting.get(m.id);
      waiting.delete(m.id);
      if (m.error) reject(new Error(`${method}: ${m.error.message}`));
      else resolve(m.result);
    } else {
      for (const l of listeners) l(m);
    }
  });
  ws.on("close", () => {
    for (const { reject, method } of waiting.values()) reject(new Error(`${method}: DevTools connection closed`));
    waiting.clear();
  });
  return {
    send(method, params = {}, sessionId) {
      const id = nextId++;
      const msg = { id, method, params };
      if (sessionId) msg.sessionId = sessionId;
      return new Promise((resolve, reject) => {
        waiting.set(id, { resolve, reject, method });
        ws.send(JSON.stringify(msg));
      });
    },
    onEvent(l) {
      listeners.add(l);
    },
    close() {
      ws.close();
    },
  };
}
