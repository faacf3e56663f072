// The same flow in headless Chromium: a page served here loads the built bundle (dist/index.js) and subscribes;
// the test drops the connection (the page's stream must stay gapless), then kills and restarts the server (a new
// epoch: the page must get a reset with the snapshot). No Chromium is a failure, not a skip.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, normalize } from "node:path";
import { fileURLToPath } from "node:url";
import { startServer, startProxy, waitFor } from "./support/server.mjs";
import { launchChromium } from "./support/chromium.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const pkg = join(here, "..");
const range = (a, b) => Array.from({ length: b - a + 1 }, (_, i) => a + i);
const trades = (from, to) =>
  range(from, to).map((n) => ({ channel: "trades:B", data: { type: "trade", slab: "B", side: "sell", size: n, price: n, timestamp: n } }));
const price = (p) => ({ channel: "price:B", data: { type: "price", slab: "B", price: p, markPrice: p, indexPrice: p, timestamp: p } });

function serveStatic() {
  const srv = http.createServer((req, res) => {
    const path = new URL(req.url, "http://x").pathname;
    let file;
    if (path === "/" || path === "/index.html") file = join(here, "support/page.html");
    else if (path.startsWith("/dist/")) file = normalize(join(pkg, path));
    if (!file || !file.startsWith(pkg)) {
      res.writeHead(404).end();
      return;
    }
    try {
      const body = readFileSync(file);
      res.writeHead(200, { "Content-Type": file.endsWith(".html") ? "text/html" : "text/javascript" }).end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  return new Promise((r) => srv.listen(0, "127.0.0.1", () => r(srv)));
}

test("browser: the built bundle recovers a dropped connection gaplessly and resets with the snapshot after a restart", { timeout: 90_000 }, async () => {
  let server = await startServer();
  const proxy = await startProxy(server.wsPort);
  const web = await serveStatic();
  const browser = await launchChromium();
  after(async () => {
    await browser.close();
    web.close();
    await proxy.close();
    await server.kill();
  });

  const page = await browser.open(`http://127.0.0.1:${web.address().port}/?ws=${encodeURIComponent(proxy.url())}`);
  const state = () => page.evaluate(`window.__state && JSON.parse(JSON.stringify(window.__state))`);
  const check = async (what, pred, ms = 15_000) => {
    try {
      return await waitFor(async () => {
        const s = await state();
        return s && pred(s) ? s : false;
      }, what, ms);
    } catch (e) {
      throw new Error(`${e.message}\npage state: ${JSON.stringify(await state())}\nconsole: ${page.consoleLines.join("\n")}`);
    }
  };

  await check("the page's subscriptions acknowledged", (s) => s.ready);
  await server.publish([price(1), ...trades(1, 10)]);
  await check("10 trades and a price", (s) => s.trades.length === 10 && s.prices.length === 1);

  // A dropped connection, no restart: recovered with since, gapless.
  proxy.dropAll();
  await check("the drop seen", (s) => s.closes.length === 1);
  await server.publish(trades(11, 25));
  await check("reconnected and the missed trades replayed", (s) => s.opens.length === 2 && s.trades.length === 25);
  await server.publish(trades(26, 30));
  let s = await check("live trades after the recovery", (s) => s.trades.length === 30);
  assert.deepEqual(s.trades.map((m) => m.seq), range(1, 30));
  assert.deepEqual(s.trades.map((m) => m.size), range(1, 30));
  assert.equal(s.resets.length, 0);
  assert.deepEqual(s.errors, []);

  // The server is killed and restarted: new epochs, so a reset per channel, the price one with the snapshot.
  proxy.setTarget(null);
  await server.kill();
  server = await startServer();
  await server.publish(price(2));
  proxy.setTarget(server.wsPort);
  s = await check("a reset for each channel", (s) => s.resets.length === 2 && s.prices.length === 2);
  const pr = s.resets.find((r) => r.channel === "price:B");
  const tr = s.resets.find((r) => r.channel === "trades:B");
  assert.equal(pr.snapshot.price, 2);
  assert.equal(pr.snapshot.snapshot, true);
  assert.equal(pr.previous.seq, 1);
  assert.notEqual(pr.epoch, pr.previous.epoch);
  assert.equal(tr.snapshot, undefined);
  assert.deepEqual(tr.previous.seq, 30);
  await server.publish(trades(1, 3));
  s = await check("live trades of the new epoch", (s) => s.trades.length === 33);
  assert.deepEqual(s.trades.slice(30).map((m) => m.seq), [1, 2, 3]);
  assert.equal(s.prices[1].snapshot, true);

  const artifacts = join(pkg, "test-artifacts");
  mkdirSync(artifacts, { recursive: true });
  writeFileSync(join(artifacts, "browser.png"), await page.screenshot());
});
