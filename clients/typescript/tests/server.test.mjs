// The client against the real server: acks and messages in both formats, recovery after dropped connections,
// reset with the snapshot after a restart, liveness pings on a silent connection.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import WebSocket from "ws";
import { FastWsClient, FastWsError } from "../dist/index.js";
import { startServer, startProxy, waitFor, sleep } from "./support/server.mjs";

// `orders`: a namespace added by configuration, so Envelope, given a history for recovery.
const ARGS = ["--FastWs:Namespaces:orders:History:Size=1000"];
const FAST = { initialDelay: 100, maxDelay: 400, multiplier: 2, minDelay: 0 };

let server = await startServer(ARGS);
const cleanups = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
  await server.kill();
});

function client(url, options = {}) {
  const c = new FastWsClient(url, { WebSocket, backoff: FAST, ...options });
  const events = { open: [], close: [], reset: [], error: [], gap: [] };
  for (const e of Object.keys(events)) c.on(e, (x) => events[e].push(x));
  cleanups.push(() => c.close());
  return { c, events };
}

function collector() {
  const got = [];
  const handler = (m) => got.push(m);
  return { got, handler, seqs: () => got.map((m) => m.seq) };
}

const range = (a, b) => Array.from({ length: b - a + 1 }, (_, i) => a + i);
const trades = (slab, from, to) =>
  range(from, to).map((n) => ({ channel: `trades:${slab}`, data: { type: "trade", slab, side: "buy", size: n, price: 100 + n, timestamp: n } }));
const orders = (key, from, to) => range(from, to).map((n) => ({ channel: `orders:${key}`, data: { n } }));

test("subscribe: acks with positions, inline and envelope messages as received, refusals reject, unsubscribe stops", async () => {
  const { c, events } = client(server.wsUrl);
  const t = collector();
  const o = collector();
  const tSub = c.subscribe("trades:A", t.handler);
  const oSub = c.subscribe("orders:A", o.handler);
  const [tPos, oPos] = await Promise.all([tSub.ready, oSub.ready]);
  assert.match(tPos.epoch, /^[0-9a-f]{16}$/);
  assert.equal(tPos.seq, 0);
  assert.match(oPos.epoch, /^[0-9a-f]{16}$/);
  assert.equal(events.open.length, 1);
  assert.equal(events.open[0].reconnected, false);

  await server.publish([...trades("A", 1, 5), ...orders("A", 1, 5)]);
  await waitFor(() => t.got.length === 5 && o.got.length === 5, "5 messages on each channel");
  assert.deepEqual(t.seqs(), [1, 2, 3, 4, 5]);
  assert.deepEqual(t.got[0], { type: "trade", slab: "A", side: "buy", size: 1, price: 101, timestamp: 1, channel: "trades:A", seq: 1 });
  assert.deepEqual(o.got[2], { type: "message", channel: "orders:A", seq: 3, data: { n: 3 } });
  assert.deepEqual(c.position("trades:A"), { epoch: tPos.epoch, seq: 5 });

  const forbidden = c.subscribe("user:0x1111111111111111111111111111111111111aaa", () => {});
  await assert.rejects(forbidden.ready, (e) => e instanceof FastWsError && e.code === "forbidden");
  const invalid = c.subscribe("nosuchnamespace:x", () => {});
  await assert.rejects(invalid.ready, (e) => e instanceof FastWsError && e.code === "invalid_channel");

  await oSub.unsubscribe();
  await server.publish([...trades("A", 6, 6), ...orders("A", 6, 6)]);
  await waitFor(() => t.got.length === 6, "trade 6");
  await sleep(100);
  assert.equal(o.got.length, 5, "no message after unsubscribe");
  assert.equal(events.reset.length, 0);
});

test("dropped connection (TCP reset, then close by id): the stream recovers gaplessly with since", async () => {
  const proxy = await startProxy(server.wsPort);
  cleanups.push(() => proxy.close());
  const { c, events } = client(proxy.url());
  const t = collector();
  const o = collector();
  await Promise.all([c.subscribe("trades:R", t.handler).ready, c.subscribe("orders:R", o.handler).ready]);

  await server.publish([...trades("R", 1, 10), ...orders("R", 1, 10)]);
  await waitFor(() => t.got.length === 10 && o.got.length === 10, "first 10");
  proxy.dropAll(); // the network fails: no close frame
  await waitFor(() => events.close.length === 1, "close event");
  assert.equal(events.close[0].willReconnect, true);
  await server.publish([...trades("R", 11, 30), ...orders("R", 11, 30)]); // missed while away
  await waitFor(() => t.got.length === 30 && o.got.length === 30, "the missed messages replayed");
  assert.equal(events.open.length, 2);
  assert.equal(events.open[1].reconnected, true);

  // Closed by the server by id (POST /api/connections/{id}/close): back again, nothing lost.
  await server.closeConnection(events.open[1].connectionId, 4000, "test kick");
  await waitFor(() => events.close.length === 2, "second close");
  assert.equal(events.close[1].code, 4000);
  await server.publish([...trades("R", 31, 40), ...orders("R", 31, 40)]);
  await waitFor(() => events.open.length === 3 && t.got.length === 40 && o.got.length === 40, "recovered after close by id");
  await server.publish([...trades("R", 41, 45), ...orders("R", 41, 45)]);
  await waitFor(() => t.got.length === 45 && o.got.length === 45, "live after recovery");

  assert.deepEqual(t.seqs(), range(1, 45), "trades: every seq once, in order");
  assert.deepEqual(o.seqs(), range(1, 45), "orders: every seq once, in order");
  assert.deepEqual(t.got.map((m) => m.size), range(1, 45));
  assert.deepEqual(o.got.map((m) => m.data.n), range(1, 45));
  assert.equal(events.reset.length, 0, "no reset when the history covers the outage");
});

test("server restart: a new epoch gives a reset event carrying the snapshot", async () => {
  const proxy = await startProxy(server.wsPort);
  cleanups.push(() => proxy.close());
  const { c, events } = client(proxy.url());
  const p = collector();
  const t = collector();
  const [pPos, tPos] = await Promise.all([c.subscribe("price:X", p.handler).ready, c.subscribe("trades:X", t.handler).ready]);
  await server.publish([{ channel: "price:X", data: { type: "price", slab: "X", price: 1, markPrice: 1, indexPrice: 1, timestamp: 1 } }, ...trades("X", 1, 3)]);
  await waitFor(() => p.got.length === 1 && t.got.length === 3, "before the restart");

  proxy.setTarget(null); // the client's attempts fail until the new server is up and has a price
  await server.kill();
  server = await startServer(ARGS);
  await server.publish([{ channel: "price:X", data: { type: "price", slab: "X", price: 2, markPrice: 2, indexPrice: 2, timestamp: 2 } }]);
  proxy.setTarget(server.wsPort);

  await waitFor(() => events.reset.length === 2, "a reset per channel", 15_000);
  const priceReset = events.reset.find((r) => r.channel === "price:X");
  const tradesReset = events.reset.find((r) => r.channel === "trades:X");
  assert.notEqual(priceReset.epoch, pPos.epoch);
  assert.deepEqual(priceReset.previous, { epoch: pPos.epoch, seq: 1 });
  assert.equal(priceReset.seq, 1);
  assert.equal(priceReset.snapshot.price, 2);
  assert.equal(priceReset.snapshot.snapshot, true);
  assert.equal(tradesReset.snapshot, undefined, "trades keep no snapshot");
  assert.deepEqual(tradesReset.previous, { epoch: tPos.epoch, seq: 3 });
  assert.equal(tradesReset.seq, 0);

  // After the reset the handlers continue from the new position: the snapshot, then live messages.
  await waitFor(() => p.got.length === 2, "the snapshot delivered to the handler");
  assert.equal(p.got[1].snapshot, true);
  await server.publish(trades("X", 1, 2));
  await waitFor(() => t.got.length === 5, "live trades of the new epoch");
  assert.deepEqual(t.seqs(), [1, 2, 3, 1, 2]);
  assert.ok(events.close.every((e) => e.willReconnect));
});

test("liveness: a silent server is pinged, then given up and reconnected; the stream recovers", async () => {
  const proxy = await startProxy(server.wsPort);
  cleanups.push(() => proxy.close());
  const { c, events } = client(proxy.url(), { idleTimeout: 300, pongTimeout: 300 });
  const t = collector();
  await c.subscribe("trades:L", t.handler).ready;
  await server.publish(trades("L", 1, 3));
  await waitFor(() => t.got.length === 3, "first 3");

  await sleep(400); // idle: the ping goes out and is answered, the connection stays
  assert.equal(events.close.length, 0, "an answered ping keeps the connection");
  proxy.freezeAll(); // TCP stays up, nothing gets through any more
  await server.publish(trades("L", 4, 6));
  await waitFor(() => events.close.length === 1, "the client gives up the silent connection", 5_000);
  assert.equal(events.close[0].code, 1006);
  assert.match(events.close[0].reason, /silent/);
  await waitFor(() => events.open.length === 2 && t.got.length === 6, "reconnected and recovered");
  assert.deepEqual(t.seqs(), [1, 2, 3, 4, 5, 6]);
});
