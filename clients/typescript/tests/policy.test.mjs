// The close-code policy, gap notices and liveness pings, against a scripted socket (exact control of the server side).
import { test } from "node:test";
import assert from "node:assert/strict";
import { FastWsClient } from "../dist/index.js";
import { fakeSocketClass, tick } from "./support/fake-socket.mjs";
import { waitFor, sleep } from "./support/server.mjs";

const backoff = { initialDelay: 20, maxDelay: 80, multiplier: 2, minDelay: 0 };
const policyBackoff = { initialDelay: 100, maxDelay: 400, multiplier: 2, minDelay: 100 };

function setup(options = {}) {
  const { FakeWebSocket, sockets } = fakeSocketClass();
  const c = new FastWsClient("ws://test/ws", { WebSocket: FakeWebSocket, backoff, policyBackoff, random: () => 0.5, ...options });
  const events = { open: [], close: [], reset: [], error: [], gap: [] };
  for (const e of Object.keys(events)) c.on(e, (x) => events[e].push(x));
  return { c, sockets, events };
}

for (const code of [1001, 1013, 1006, 4000]) {
  test(`close ${code}: reconnect after the ordinary backoff`, async () => {
    const { c, sockets, events } = setup();
    sockets[0].accept();
    sockets[0].serverClose(code, "x");
    assert.deepEqual(events.close[0], { code, reason: "x", willReconnect: true, delay: 10 });
    await waitFor(() => sockets.length === 2, "a second attempt", 1000);
    c.close();
  });
}

test("close 1008 (connection or rate limit): reconnect after the longer policy backoff", async () => {
  const { c, sockets, events } = setup();
  sockets[0].accept();
  sockets[0].serverClose(1008, "Too many connections from this IP");
  assert.equal(events.close[0].willReconnect, true);
  assert.equal(events.close[0].delay, 150, "5 s floor + jitter in production; 100 + 0.5 * 100 here");
  await sleep(100);
  assert.equal(sockets.length, 1, "not before the floor");
  await waitFor(() => sockets.length === 2, "the attempt after the policy backoff", 1000);
  c.close();
});

test("close 1008 for the per-key-group subscriber limit: stop, since resubscribing repeats the refusal", async () => {
  const { sockets, events } = setup();
  sockets[0].accept();
  sockets[0].serverClose(1008, "At most 100 subscribers for 'SOL'");
  assert.equal(events.close[0].willReconnect, false);
  assert.equal(events.error.at(-1).code, "limit_exceeded");
  await sleep(200);
  assert.equal(sockets.length, 1);
});

test("close 4002 (token expired): refreshToken('expired'), then reconnect at once with the new token", async () => {
  const reasons = [];
  const { c, sockets, events } = setup({
    token: "old",
    tokenTransport: "url",
    refreshToken: async (r) => {
      reasons.push(r);
      return "new";
    },
  });
  assert.equal(sockets[0].url, "ws://test/ws?token=old");
  sockets[0].accept();
  sockets[0].serverClose(4002, "token expired");
  await waitFor(() => sockets.length === 2, "reconnect", 1000);
  assert.deepEqual(reasons, ["expired"]);
  assert.equal(sockets[1].url, "ws://test/ws?token=new");
  assert.equal(events.close[0].willReconnect, true);
  c.close();
});

test("close 4002 without refreshToken: wait for setToken, then reconnect; first-message auth carries it", async () => {
  const { c, sockets, events } = setup({ token: "old" });
  sockets[0].accept();
  assert.deepEqual(sockets[0].sent[0], { type: "auth", token: "old", id: sockets[0].sent[0].id });
  sockets[0].serverClose(4002, "token expired");
  assert.equal(events.close[0].willReconnect, false);
  await sleep(150);
  assert.equal(sockets.length, 1);
  c.setToken("fresh");
  await waitFor(() => sockets.length === 2, "reconnect after setToken", 1000);
  sockets[1].readyState = 1;
  sockets[1].onopen({});
  assert.equal(sockets[1].sent[0].token, "fresh");
  c.close();
});

test("token_expiring: the refresh callback's token goes out as an auth message on the live connection", async () => {
  const { c, sockets } = setup({ token: "t1", refreshToken: () => "t2" });
  sockets[0].accept();
  sockets[0].push({ type: "token_expiring", in: 60 });
  await waitFor(() => sockets[0].sent.some((m) => m.type === "auth" && m.token === "t2"), "auth with t2", 1000);
  c.close();
});

test("gap notice: unsubscribe, then subscribe with since; stale messages ignored until the ack; replay fills the hole", async () => {
  const { c, sockets, events } = setup();
  const got = [];
  const sub = c.subscribe("trades:G", (m) => got.push(m.seq));
  sockets[0].accept();
  await tick();
  const req = sockets[0].lastSent("subscribe");
  assert.deepEqual(req.channels, ["trades:G"]);
  assert.equal(req.since, undefined);
  sockets[0].push({ type: "subscribed", channels: ["trades:G"], positions: { "trades:G": { epoch: "e1", seq: 40 } }, id: req.id });
  assert.deepEqual(await sub.ready, { epoch: "e1", seq: 40 });
  for (const seq of [41, 42]) sockets[0].push({ type: "trade", channel: "trades:G", seq });
  sockets[0].push({ type: "gap", channel: "trades:G", from: 43, to: 45 });
  sockets[0].push({ type: "trade", channel: "trades:G", seq: 46 }); // after the notice, before our resubscribe lands
  await tick();
  const unsub = sockets[0].lastSent("unsubscribe");
  const resub = sockets[0].lastSent("subscribe");
  assert.deepEqual(unsub.channels, ["trades:G"]);
  assert.ok(sockets[0].sent.indexOf(unsub) < sockets[0].sent.indexOf(resub), "unsubscribe goes first");
  assert.deepEqual(resub.since, { "trades:G": { epoch: "e1", seq: 42 } });
  sockets[0].push({ type: "unsubscribed", channels: ["trades:G"], id: unsub.id });
  sockets[0].push({ type: "subscribed", channels: ["trades:G"], positions: { "trades:G": { epoch: "e1", seq: 46 } }, recovered: ["trades:G"], notRecovered: [], id: resub.id });
  for (const seq of [43, 44, 45, 46, 47]) sockets[0].push({ type: "trade", channel: "trades:G", seq });
  assert.deepEqual(got, [41, 42, 43, 44, 45, 46, 47]);
  assert.deepEqual(events.gap, [{ channel: "trades:G", from: 43, to: 45 }]);
  assert.equal(events.reset.length, 0);
  c.close();
});

test("reconnect with since, notRecovered: reset carries the snapshot, then the handler gets it; duplicates are dropped", async () => {
  const { c, sockets, events } = setup();
  const got = [];
  c.subscribe("price:S", (m) => got.push([m.seq, m.snapshot === true]));
  sockets[0].accept();
  await tick();
  let req = sockets[0].lastSent("subscribe");
  sockets[0].push({ type: "subscribed", channels: ["price:S"], positions: { "price:S": { epoch: "e1", seq: 5 } }, id: req.id });
  sockets[0].push({ type: "price", channel: "price:S", seq: 5, snapshot: true });
  sockets[0].push({ type: "price", channel: "price:S", seq: 6 });
  sockets[0].push({ type: "price", channel: "price:S", seq: 6 });
  sockets[0].serverClose(1001, "shutting down");
  await waitFor(() => sockets.length === 2, "reconnect", 1000);
  sockets[1].accept("2-1");
  await tick();
  req = sockets[1].lastSent("subscribe");
  assert.deepEqual(req.since, { "price:S": { epoch: "e1", seq: 6 } });
  sockets[1].push({ type: "subscribed", channels: ["price:S"], positions: { "price:S": { epoch: "e2", seq: 3 } }, recovered: [], notRecovered: ["price:S"], id: req.id });
  assert.equal(events.reset.length, 0, "waits for the snapshot");
  sockets[1].push({ type: "price", channel: "price:S", seq: 3, snapshot: true, price: 9 });
  assert.equal(events.reset.length, 1);
  assert.deepEqual({ ...events.reset[0], snapshot: events.reset[0].snapshot.price }, { channel: "price:S", epoch: "e2", seq: 3, snapshot: 9, previous: { epoch: "e1", seq: 6 } });
  sockets[1].push({ type: "price", channel: "price:S", seq: 4 });
  assert.deepEqual(got, [[5, true], [6, false], [3, true], [4, false]]);
  c.close();
});

test("notRecovered without a snapshot: the reset comes at the barrier pong", async () => {
  const { c, sockets, events } = setup();
  c.subscribe("trades:N", () => {});
  sockets[0].accept();
  await tick();
  let req = sockets[0].lastSent("subscribe");
  sockets[0].push({ type: "subscribed", channels: ["trades:N"], positions: { "trades:N": { epoch: "e1", seq: 7 } }, id: req.id });
  sockets[0].serverClose(1006, "");
  await waitFor(() => sockets.length === 2, "reconnect", 1000);
  sockets[1].accept();
  await tick();
  req = sockets[1].lastSent("subscribe");
  sockets[1].push({ type: "subscribed", channels: ["trades:N"], positions: { "trades:N": { epoch: "e1", seq: 2000 } }, recovered: [], notRecovered: ["trades:N"], id: req.id });
  const ping = sockets[1].lastSent("ping");
  assert.ok(ping && ping.id !== undefined, "a barrier ping follows the ack");
  assert.equal(events.reset.length, 0);
  sockets[1].push({ type: "pong", id: ping.id });
  assert.equal(events.reset.length, 1);
  assert.equal(events.reset[0].snapshot, undefined);
  assert.equal(events.reset[0].seq, 2000);
  c.close();
});

test("liveness: after idleTimeout without a frame a ping goes out; silence for pongTimeout more drops and reconnects", async () => {
  const { c, sockets, events } = setup({ idleTimeout: 60, pongTimeout: 60 });
  sockets[0].accept();
  await waitFor(() => sockets[0].sent.some((m) => m.type === "ping"), "ping", 1000);
  sockets[0].push({ type: "pong" }); // answered: stays
  await sleep(90);
  assert.equal(events.close.length, 0);
  await waitFor(() => events.close.length === 1, "given up", 1000);
  assert.equal(events.close[0].code, 1006);
  assert.ok(sockets[0].closedByClient, "the silent socket was closed");
  await waitFor(() => sockets.length === 2, "reconnect", 1000);
  c.close();
});

test("subscribe ack promises: errors reject per channel, unsubscribe resolves on its ack", async () => {
  const { c, sockets } = setup();
  const a = c.subscribe("trades:A", () => {});
  const b = c.subscribe("user:0xabc", () => {});
  sockets[0].accept();
  await tick();
  const req = sockets[0].lastSent("subscribe");
  assert.deepEqual(req.channels, ["trades:A", "user:0xabc"], "subscribes of one tick go out as one request");
  sockets[0].push({ type: "error", code: "invalid_channel", message: "bad key", channel: "user:0xabc", id: req.id });
  sockets[0].push({ type: "subscribed", channels: ["trades:A"], positions: { "trades:A": { epoch: "e", seq: 0 } }, id: req.id });
  await assert.rejects(b.ready, (e) => e.code === "invalid_channel" && e.channel === "user:0xabc");
  assert.deepEqual(await a.ready, { epoch: "e", seq: 0 });
  const done = a.unsubscribe();
  const u = sockets[0].lastSent("unsubscribe");
  let resolved = false;
  done.then(() => (resolved = true));
  await tick();
  assert.equal(resolved, false);
  sockets[0].push({ type: "unsubscribed", channels: ["trades:A"], id: u.id });
  await done;
  c.close();
});
