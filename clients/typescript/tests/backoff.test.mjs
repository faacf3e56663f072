// Reconnect delays: exponential growth, cap, full jitter, reset after a stable connection; a seeded random makes
// every delay exact.
import { test } from "node:test";
import assert from "node:assert/strict";
import { backoffDelay, seededRandom, DEFAULT_BACKOFF, DEFAULT_POLICY_BACKOFF, FastWsClient } from "../dist/index.js";
import { fakeSocketClass, tick } from "./support/fake-socket.mjs";
import { waitFor } from "./support/server.mjs";

test("seeded random: the same seed gives the same sequence, in [0, 1)", () => {
  const a = seededRandom(42);
  const b = seededRandom(42);
  const xs = Array.from({ length: 1000 }, () => a());
  assert.deepEqual(xs, Array.from({ length: 1000 }, () => b()));
  assert.ok(xs.every((x) => x >= 0 && x < 1));
  assert.notDeepEqual(xs.slice(0, 10), Array.from({ length: 10 }, seededRandom(43)));
});

test("backoff: full jitter over [0, min(cap, initial * 2^attempt)], exact for a given random", () => {
  const o = DEFAULT_BACKOFF; // 500 ms initial, 30 s cap
  assert.equal(backoffDelay(0, o, () => 0.5), 250);
  assert.equal(backoffDelay(3, o, () => 0.5), 2000);
  assert.equal(backoffDelay(20, o, () => 0.5), 15000, "capped at 30 s");
  assert.equal(backoffDelay(6, o, () => 0), 0, "full jitter reaches down to 0");
  const r = seededRandom(7);
  for (let attempt = 0; attempt < 12; attempt++) {
    const ceiling = Math.min(30_000, 500 * 2 ** attempt);
    for (let i = 0; i < 200; i++) {
      const d = backoffDelay(attempt, o, r);
      assert.ok(d >= 0 && d <= ceiling, `attempt ${attempt}: ${d} outside [0, ${ceiling}]`);
    }
  }
  // 1008: a 5 s floor plus full jitter over 5 s .. 120 s.
  assert.equal(backoffDelay(0, DEFAULT_POLICY_BACKOFF, () => 0), 5000);
  assert.equal(backoffDelay(10, DEFAULT_POLICY_BACKOFF, () => 0.999999), 125000);
});

test("backoff: 10,000 clients dropped at once spread evenly over the window (no burst)", () => {
  const r = seededRandom(2024);
  const attempt = 6; // window min(30 s, 500 ms * 64) = 30 s
  const buckets = new Array(30).fill(0);
  for (let i = 0; i < 10_000; i++) buckets[Math.min(29, Math.floor(backoffDelay(attempt, DEFAULT_BACKOFF, r) / 1000))]++;
  // Evenly spread: about 333 per second of the window; none over 450 (no thundering herd), none empty.
  assert.ok(Math.max(...buckets) < 450, `busiest second ${Math.max(...buckets)}`);
  assert.ok(Math.min(...buckets) > 220, `quietest second ${Math.min(...buckets)}`);
});

test("client: reconnect delays follow the seeded random, grow per failure and reset after a stable connection", async () => {
  const { FakeWebSocket, sockets } = fakeSocketClass();
  const backoff = { initialDelay: 40, maxDelay: 160, multiplier: 2, minDelay: 0 };
  const c = new FastWsClient("ws://test/ws", { WebSocket: FakeWebSocket, backoff, random: seededRandom(99), stableAfter: 150 });
  const delays = [];
  c.on("close", (e) => delays.push(e.delay));
  const expect = seededRandom(99);
  const expected = [0, 1, 2, 3, 4].map((n) => backoffDelay(n, backoff, expect));
  for (let i = 0; i < 5; i++) {
    await waitFor(() => sockets.length === i + 1, `attempt ${i + 1}`, 2000);
    sockets[i].serverClose(1006, "refused");
  }
  assert.deepEqual(delays, expected);
  assert.equal(expected[4] <= 160, true);
  // A connection that stays up for stableAfter starts the backoff again from its first step.
  await waitFor(() => sockets.length === 6, "attempt 6", 2000);
  sockets[5].accept();
  await new Promise((r) => setTimeout(r, 200));
  sockets[5].serverClose(1001, "shutting down");
  assert.equal(delays[5], backoffDelay(0, backoff, expect));
  c.close();
  await tick();
});
