// permessage-deflate interop (issue 20) against the real Release server: Node `ws` with perMessageDeflate, and headless
// Chromium (which offers permessage-deflate on every WebSocket), each receiving ~1 KB price objects the server compressed.
// A missing Chromium or `ws` is a failure, not a skip.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import WebSocket from "ws";
import { startServer, waitFor } from "./support/server.mjs";
import { launchChromium } from "./support/chromium.mjs";

/** A ~1 KB price object: slab, prices, ten levels a side with price/size/side (the perf workloads' shape). */
function priceObject(n) {
  const levels = (side, dir) =>
    Array.from({ length: 10 }, (_, i) => ({ price: +(150 + dir * (i + 1) * 0.013 + n / 1000).toFixed(3), size: +((i * 7.3 + n) % 250).toFixed(3), side }));
  return { type: "book", slab: "SOL-PERP", n, markPrice: 150.1234 + n / 100, indexPrice: 150.1189, bids: levels("bid", -1), asks: levels("ask", 1) };
}

let server;
after(async () => {
  await server?.kill();
});

async function sharedServer() {
  server ??= await startServer();
  return server;
}

test("Node ws with perMessageDeflate: negotiated, every 1 KB price object compressed on the wire and intact", { timeout: 60_000 }, async () => {
  const srv = await sharedServer();
  const ws = new WebSocket(srv.wsUrl, { perMessageDeflate: true });
  let extensions;
  ws.once("upgrade", (res) => (extensions = res.headers["sec-websocket-extensions"]));
  const received = [];
  const sizes = [];
  let subscribed = false;
  await new Promise((resolve, reject) => {
    ws.once("open", resolve);
    ws.once("error", reject);
  });
  try {
    assert.match(extensions ?? "", /^permessage-deflate\b/, "the server accepted the offer");
    assert.match(extensions, /server_no_context_takeover/);
    // Bytes read per message: ws's socket counts what came over TCP, before inflating.
    let lastRead = ws._socket.bytesRead;
    ws.on("message", (buf) => {
      const msg = JSON.parse(buf.toString());
      if (msg.type === "subscribed") subscribed = true;
      if (msg.type === "message") {
        received.push({ msg, plainLength: buf.length });
        sizes.push(ws._socket.bytesRead - lastRead);
      }
      lastRead = ws._socket.bytesRead;
    });
    ws.send(JSON.stringify({ type: "subscribe", channels: ["bench:node-deflate"], id: 1 }));
    await waitFor(() => subscribed, "the subscribe ack");

    const sent = Array.from({ length: 5 }, (_, i) => priceObject(i + 1));
    for (const data of sent) await srv.publish({ channel: "bench:node-deflate", data });
    await waitFor(() => received.length === sent.length, "five messages");

    for (let i = 0; i < sent.length; i++) {
      assert.deepEqual(received[i].msg.data, sent[i]);
      assert.equal(received[i].msg.seq, i + 1);
      assert.ok(received[i].plainLength > 900, `message ${i + 1} is ~1 KB inflated (${received[i].plainLength} B)`);
      // Compressed: far fewer bytes on the wire than the message (a read may carry two messages, hence the sum check too).
      assert.ok(sizes.reduce((a, b) => a + b, 0) < 0.7 * received.reduce((a, r) => a + r.plainLength, 0), `wire bytes ${sizes} vs plain`);
    }
  } finally {
    ws.close();
  }
});

test("Chromium: the browser's default permessage-deflate offer is accepted and compressed 1 KB price objects arrive intact", { timeout: 90_000 }, async () => {
  const srv = await sharedServer();
  const browser = await launchChromium();
  try {
    // A page on the server's HTTP port: a real http:// origin (no AllowedOrigins list, so any origin may connect).
    const page = await browser.open(`${srv.httpUrl}/healthz`);
    const script = `new Promise((resolve, reject) => {
      const ws = new WebSocket(${JSON.stringify(srv.wsUrl)});
      window.__deflate = { extensions: null, messages: [], subscribed: false, error: null };
      ws.onopen = () => { window.__deflate.extensions = ws.extensions; ws.send(JSON.stringify({ type: "subscribe", channels: ["bench:browser-deflate"], id: 1 })); };
      ws.onmessage = (e) => {
        const m = JSON.parse(e.data);
        if (m.type === "subscribed") { window.__deflate.subscribed = true; resolve(true); }
        if (m.type === "message") window.__deflate.messages.push(m);
      };
      ws.onerror = () => { window.__deflate.error = "error"; reject(new Error("WebSocket error")); };
      window.__ws = ws;
    })`;
    await waitFor(async () => (await page.evaluate("document.readyState")) === "complete", "the page loaded", 15_000);
    await page.evaluate(script);
    const state = () => page.evaluate("JSON.parse(JSON.stringify(window.__deflate))");
    const first = await state();
    assert.match(first.extensions, /^permessage-deflate\b/, `negotiated: ${first.extensions}`);
    assert.match(first.extensions, /server_no_context_takeover/);

    const sent = Array.from({ length: 5 }, (_, i) => priceObject(100 + i));
    for (const data of sent) await srv.publish({ channel: "bench:browser-deflate", data });
    const s = await waitFor(async () => {
      const st = await state();
      return st.messages.length === sent.length ? st : false;
    }, "five messages in the page", 15_000);
    assert.deepEqual(s.messages.map((m) => m.data), sent);
    assert.deepEqual(s.messages.map((m) => m.seq), [1, 2, 3, 4, 5]);
    assert.equal(s.error, null);
    // The server counted the browser's connection among those that negotiated the extension.
    const stats = await srv.stats();
    assert.ok(JSON.stringify(stats).includes('"deflateConnections":'), "deflateConnections in /ws/stats");
    await page.evaluate("window.__ws.close(1000)");
  } finally {
    await browser.close();
  }
});
