// Tokens against the real server: refresh on token_expiring, and no reconnect loop after 4001.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import WebSocket from "ws";
import { FastWsClient } from "../dist/index.js";
import { startServer, waitFor, sleep, makeToken } from "./support/server.mjs";

const SECRET = "test-secret-of-at-least-32-bytes-0123456789";
const USER = "0x1111111111111111111111111111111111111aaa";
// No clock skew and a 50 s warning: a token valid for 52 s is warned about within about 2 s.
const server = await startServer([
  `--FastWs:Auth:Jwt:HmacSecret=${SECRET}`,
  "--FastWs:Auth:Jwt:ClockSkew=00:00:00",
  "--FastWs:Auth:ExpiryWarning=00:00:50",
]);
const clients = [];
after(async () => {
  for (const c of clients) c.close();
  await server.kill();
});

function counting() {
  const state = { made: 0, urls: [] };
  class CountingWebSocket extends WebSocket {
    constructor(url, protocols) {
      super(url, protocols);
      state.made++;
      state.urls.push(url);
    }
  }
  return { state, CountingWebSocket };
}

function record(c) {
  const events = { open: [], close: [], error: [], authenticated: [] };
  for (const e of Object.keys(events)) c.on(e, (x) => events[e].push(x));
  clients.push(c);
  return events;
}

test("token refresh: token_expiring calls refreshToken, the new token is sent with auth, the user channel stays", async () => {
  const reasons = [];
  const c = new FastWsClient(server.wsUrl, {
    WebSocket,
    token: makeToken(SECRET, USER, 52),
    refreshToken: async (reason) => {
      reasons.push(reason);
      return makeToken(SECRET, USER, 3600);
    },
  });
  const events = record(c);
  const got = [];
  await c.subscribe(`user:${USER}`, (m) => got.push(m)).ready; // Owner rule: the first-message token counts
  await waitFor(() => events.authenticated.length === 1, "the first token accepted");
  assert.ok(events.authenticated[0].expiresIn <= 52);
  await waitFor(() => events.authenticated.length === 2, "the refreshed token accepted", 10_000);
  assert.deepEqual(reasons, ["expiring"]);
  assert.equal(events.authenticated[1].user, USER);
  assert.ok(events.authenticated[1].expiresIn > 3000, `expiresIn ${events.authenticated[1].expiresIn}`);
  await server.publish({ channel: `user:${USER}`, data: { type: "note", text: "hi" } });
  await waitFor(() => got.length === 1, "a message on the user channel after the refresh");
  assert.equal(got[0].text, "hi");
  assert.equal(events.close.length, 0);
});

test("4001: a refused token does not reconnect in a loop; setToken with a new one connects", async () => {
  const { state, CountingWebSocket } = counting();
  const c = new FastWsClient(server.wsUrl, {
    WebSocket: CountingWebSocket,
    token: makeToken("a-different-secret-of-32-bytes-or-more!!", USER, 3600),
    tokenTransport: "url",
    backoff: { initialDelay: 50, maxDelay: 100 },
  });
  const events = record(c);
  await waitFor(() => events.close.length === 1, "the 4001 close");
  assert.equal(events.close[0].code, 4001);
  assert.match(events.close[0].reason, /Invalid token: bad signature/);
  assert.equal(events.close[0].willReconnect, false);
  assert.ok(events.error.some((e) => e.code === "auth_failed"));
  await sleep(1000); // twenty backoff windows
  assert.equal(state.made, 1, "no second attempt with the refused token");

  c.setToken(makeToken(SECRET, USER, 3600));
  await waitFor(() => events.open.length === 1, "connected with the new token");
  assert.equal(events.open[0].user, USER);
  assert.equal(state.made, 2);
  assert.match(state.urls[1], /[?&]token=/);
});

test("4001 with a refresh callback: asked once; the same token again stops instead of looping", async () => {
  const { state, CountingWebSocket } = counting();
  const bad = makeToken("a-different-secret-of-32-bytes-or-more!!", USER, 3600);
  const reasons = [];
  const c = new FastWsClient(server.wsUrl, {
    WebSocket: CountingWebSocket,
    token: bad,
    refreshToken: (reason) => {
      reasons.push(reason);
      return bad;
    },
    backoff: { initialDelay: 50, maxDelay: 100 },
  });
  const events = record(c);
  await waitFor(() => events.error.some((e) => e.code === "auth_failed"), "auth_failed");
  await sleep(600);
  assert.deepEqual(reasons, ["rejected"]);
  assert.equal(state.made, 1);
  assert.equal(events.close[0].code, 4001);
});
