#!/usr/bin/env node
'use strict';
// Checks that a server speaks the FastWs pub/sub protocol exactly: acks, seq per channel, data forwarded byte for
// byte, ping/pong, errors that keep the connection open, subscriptions in the connect URL, and the 64 KB
// slow-consumer skip rule.
//
//   node perf/baselines/check-protocol.js ws://127.0.0.1:8091/ws [--no-slow]
//
// Exits 0 when everything matches, 1 on the first mismatch. Uses the `ws` client from perf/baselines/node-ws
// (run perf/baselines/install.sh first).

const path = require('node:path');
let WebSocket;
try {
  WebSocket = require(path.join(__dirname, 'node-ws', 'node_modules', 'ws'));
} catch {
  console.error('check-protocol: the ws package is missing; run perf/baselines/install.sh first');
  process.exit(2);
}

const args = process.argv.slice(2);
const url = args.find((a) => !a.startsWith('--'));
const runSlow = !args.includes('--no-slow');
if (!url) {
  console.error('usage: node check-protocol.js ws://HOST:PORT/ws [--no-slow]');
  process.exit(2);
}

const TIMEOUT_MS = 5000;
// Fresh channel names each run, so seq starts at 1 even on a server that has seen an earlier run.
const tag = `${process.pid.toString(36)}${Date.now().toString(36)}`;
const ch1 = `bench:${tag}-1`;
const ch2 = `bench:${tag}-2`;
const ch3 = `bench:${tag}-3`;
const chSlow = `bench:${tag}-slow`;

class CheckError extends Error {}

function fail(message) {
  throw new CheckError(message);
}

/** A client that queues every text message it receives (as the raw Buffer) for the checks to take in order. */
class Client {
  constructor(name, address) {
    this.name = name;
    this.queue = [];
    this.waiter = null;
    this.closed = false;
    this.ws = new WebSocket(address, { perMessageDeflate: false, maxPayload: 1 << 24 });
    this.ws.on('message', (data, isBinary) => {
      if (isBinary) {
        this.protocolError = `${name}: got a binary message`;
        return;
      }
      this.queue.push(Buffer.isBuffer(data) ? data : Buffer.concat(data));
      if (this.waiter) this.waiter();
    });
    this.ws.on('close', (code) => {
      this.closed = true;
      this.closeCode = code;
      if (this.waiter) this.waiter();
    });
    this.ws.on('error', (err) => {
      this.error = err;
      if (this.waiter) this.waiter();
    });
  }

  open() {
    return new Promise((resolve, reject) => {
      if (this.ws.readyState === WebSocket.OPEN) return resolve();
      this.ws.once('open', resolve);
      this.ws.once('error', reject);
    });
  }

  send(text) {
    this.ws.send(text);
  }

  /** The next received message as a Buffer; fails after a timeout. */
  async next(what, timeout = TIMEOUT_MS) {
    const deadline = Date.now() + timeout;
    while (this.queue.length === 0) {
      if (this.protocolError) fail(this.protocolError);
      if (this.closed) fail(`${this.name}: connection closed (code ${this.closeCode}) while waiting for ${what}`);
      if (this.error) fail(`${this.name}: ${this.error.message} while waiting for ${what}`);
      const left = deadline - Date.now();
      if (left <= 0) fail(`${this.name}: timed out waiting for ${what}`);
      await new Promise((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.waiter = null;
    }
    return this.queue.shift();
  }

  /** Expects the next message to equal `expected` byte for byte. */
  async expectExact(expected, what) {
    const got = await this.next(what);
    const want = Buffer.from(expected, 'utf8');
    if (!got.equals(want)) fail(`${this.name}: ${what}\n  expected: ${expected}\n  got:      ${got.toString('utf8')}`);
  }

  /** Expects the next message to be an error reply with this code. */
  async expectError(code, what) {
    const got = await this.next(what);
    let msg;
    try {
      msg = JSON.parse(got.toString('utf8'));
    } catch {
      fail(`${this.name}: ${what}: reply is not JSON: ${got.toString('utf8')}`);
    }
    if (msg.type !== 'error' || msg.code !== code || typeof msg.message !== 'string' || msg.message.length === 0) {
      fail(`${this.name}: ${what}\n  expected: {"type":"error","code":"${code}","message":"..."}\n  got:      ${got.toString('utf8')}`);
    }
  }

  /** Expects nothing to arrive for a while. */
  async expectSilence(ms, what) {
    await new Promise((resolve) => setTimeout(resolve, ms));
    if (this.queue.length > 0) fail(`${this.name}: ${what}: unexpected message ${this.queue[0].toString('utf8')}`);
  }

  /** Takes the next `count` messages, in any order, and checks they are exactly `expected` (a list of strings). */
  async expectSet(expected, what) {
    const remaining = expected.map((text) => Buffer.from(text, 'utf8'));
    while (remaining.length > 0) {
      const got = await this.next(what);
      const at = remaining.findIndex((buffer) => buffer.equals(got));
      if (at < 0) fail(`${this.name}: ${what}: unexpected ${got.toString('utf8')}\n  still expecting: ${remaining.map(String).join('\n                   ')}`);
      remaining.splice(at, 1);
    }
  }

  close() {
    try {
      this.ws.terminate();
    } catch {
      // already gone
    }
  }
}

function message(channel, seq, rawData) {
  return `{"type":"message","channel":"${channel}","seq":${seq},"data":${rawData}}`;
}

const checks = [];
function check(name, fn) {
  checks.push({ name, fn });
}

const clients = [];
function client(name, address) {
  const c = new Client(name, address);
  clients.push(c);
  return c;
}

// ---- The checks -----------------------------------------------------------------------------------------------

let a; // subscriber
let b; // publisher, subscribed through the connect URL

check('ping -> pong', async () => {
  a = client('A', url);
  await a.open();
  a.send('{"type":"ping"}');
  await a.expectExact('{"type":"pong"}', 'pong');
});

check('subscribe with id -> subscribed with the id echoed', async () => {
  a.send(JSON.stringify({ type: 'subscribe', channels: [ch1, ch2], id: 7 }));
  await a.expectExact(`{"type":"subscribed","channels":["${ch1}","${ch2}"],"id":7}`, 'subscribe ack');
});

check('subscriptions in the connect URL are acked', async () => {
  b = client('B', `${url}?subscribe=${encodeURIComponent(ch1)},${encodeURIComponent(ch3)}`);
  await b.open();
  await b.expectExact(`{"type":"subscribed","channels":["${ch1}","${ch3}"]}`, 'URL subscribe ack');
});

// Odd spacing, number formats, escapes and non-ASCII: anything re-serialised would change these bytes.
const tricky = '{ "px" : 1.50, "qty":2E3,"side":"b\\"uy\\\\","note":"caf\\u00e9 café 😀 \\n","tags":[ ],"x":{"y":[null,true,false,-0.0]} }';

check('publish without id: no reply; both subscribers get seq 1 with data byte for byte', async () => {
  b.send(`{"type":"publish","channel":"${ch1}","data":${tricky}}`);
  await a.expectExact(message(ch1, 1, tricky), 'first message on ch1 (A)');
  await b.expectExact(message(ch1, 1, tricky), 'first message on ch1 (B, publisher subscribed by URL)');
});

check('publish with id -> published ack; seq counts up per channel', async () => {
  b.send(`{"type":"publish","channel":"${ch1}","data":42,"id":9}`);
  await a.expectExact(message(ch1, 2, '42'), 'second message on ch1 (A)');
  await b.expectSet([`{"type":"published","channel":"${ch1}","id":9}`, message(ch1, 2, '42')], 'published ack and message (B)');
});

check('scalars, strings and arrays pass through exactly', async () => {
  const values = ['"str\\u0041ing"', 'true', 'null', '-12.50e-3', '[1,"two",{"three":3}]', '{}'];
  for (const value of values) b.send(`{"type":"publish","channel":"${ch1}","data":  ${value}  }`);
  for (let i = 0; i < values.length; i++) await a.expectExact(message(ch1, 3 + i, values[i]), `message ${3 + i} on ch1`);
  for (let i = 0; i < values.length; i++) await b.expectExact(message(ch1, 3 + i, values[i]), `message ${3 + i} on ch1 (B)`);
});

check('a large payload passes through exactly', async () => {
  const big = JSON.stringify({ blob: 'x'.repeat(20000), unicode: 'ü'.repeat(1000) });
  b.send(`{"type":"publish","channel":"${ch1}","data":${big}}`);
  await a.expectExact(message(ch1, 9, big), 'large message (A)');
  await b.expectExact(message(ch1, 9, big), 'large message (B)');
});

check('each channel has its own seq and only its subscribers get it', async () => {
  b.send(`{"type":"publish","channel":"${ch2}","data":{"c":2}}`);
  await a.expectExact(message(ch2, 1, '{"c":2}'), 'first message on ch2 (A)');
  b.send(`{"type":"publish","channel":"${ch3}","data":{"c":3}}`);
  await b.expectExact(message(ch3, 1, '{"c":3}'), 'first message on ch3 (B)');
  await a.expectSilence(200, 'A is not subscribed to ch3');
  await b.expectSilence(0, 'B is not subscribed to ch2');
});

check('unsubscribe with id -> unsubscribed; no more messages from that channel', async () => {
  a.send(JSON.stringify({ type: 'unsubscribe', channels: [ch2], id: 8 }));
  await a.expectExact(`{"type":"unsubscribed","channels":["${ch2}"],"id":8}`, 'unsubscribe ack');
  b.send(`{"type":"publish","channel":"${ch2}","data":1}`);
  b.send(`{"type":"publish","channel":"${ch1}","data":"after"}`);
  await a.expectExact(message(ch1, 10, '"after"'), 'ch1 still delivered after leaving ch2');
  await b.expectExact(message(ch1, 10, '"after"'), 'ch1 message (B)');
  await a.expectSilence(200, 'nothing from ch2 after unsubscribing');
});

check('bad JSON -> bad_request error; the connection stays open', async () => {
  a.send('{"type":"subscribe","channels":[');
  await a.expectError('bad_request', 'error for bad JSON');
  a.send('{"type":"ping"}');
  await a.expectExact('{"type":"pong"}', 'pong after bad JSON');
});

check('unknown type -> bad_request error; the connection stays open', async () => {
  a.send('{"type":"frobnicate","id":5}');
  await a.expectError('bad_request', 'error for unknown type');
  a.send('{"type":"ping"}');
  await a.expectExact('{"type":"pong"}', 'pong after unknown type');
});

check('WebSocket ping frame -> pong frame', async () => {
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new CheckError('A: no pong frame for a ping frame')), TIMEOUT_MS);
    a.ws.once('pong', (payload) => {
      clearTimeout(timer);
      if (payload.toString() !== 'hello') reject(new CheckError(`A: pong frame payload ${payload} instead of hello`));
      else resolve();
    });
    a.ws.ping('hello');
  });
});

if (runSlow) {
  check('slow consumer: skipped once over 64 KB queued, fast subscriber gets everything', async () => {
    const fast = client('fast', `${url}?subscribe=${encodeURIComponent(chSlow)}`);
    const slow = client('slow', `${url}?subscribe=${encodeURIComponent(chSlow)}`);
    await Promise.all([fast.open(), slow.open()]);
    await fast.expectExact(`{"type":"subscribed","channels":["${chSlow}"]}`, 'fast ack');
    await slow.expectExact(`{"type":"subscribed","channels":["${chSlow}"]}`, 'slow ack');
    slow.ws._socket.pause(); // stop reading: the kernel buffers fill, then the server's queue for this client

    // 1,000 x 32 KB = 32 MB, more than loopback socket buffers absorb. Paced by the fast subscriber, so only the
    // stalled client ever has more than 64 KB queued.
    const count = 1000;
    const payload = JSON.stringify('s'.repeat(32 * 1024));
    for (let seq = 1; seq <= count; seq++) {
      b.send(`{"type":"publish","channel":"${chSlow}","data":${payload}}`);
      await fast.expectExact(message(chSlow, seq, payload), `message ${seq} to the fast subscriber`);
    }

    slow.ws._socket.resume();
    let received = 0;
    let last = 0;
    for (;;) {
      let got;
      try {
        got = await slow.next('slow consumer drain', 1500);
      } catch (e) {
        if (e instanceof CheckError && /timed out/.test(e.message)) break;
        throw e;
      }
      const msg = JSON.parse(got.toString('utf8'));
      if (msg.type !== 'message' || msg.channel !== chSlow || !(msg.seq > last) || !got.equals(Buffer.from(message(chSlow, msg.seq, payload)))) {
        fail(`slow: out of order or malformed after resuming: ${got.toString('utf8').slice(0, 120)}`);
      }
      last = msg.seq;
      received++;
    }
    if (received >= count) fail(`slow: got all ${count} messages; the 64 KB skip rule never applied`);
    if (received === 0) fail('slow: got nothing after resuming');
    console.log(`        (stalled client got ${received} of ${count} messages, last seq ${last})`);
    fast.close();
    slow.close();
  });
}

// ---- Runner ---------------------------------------------------------------------------------------------------

(async () => {
  console.log(`check-protocol: ${url}`);
  let failed = false;
  for (const { name, fn } of checks) {
    const started = Date.now();
    try {
      await fn();
      console.log(`  ok    ${name} (${Date.now() - started} ms)`);
    } catch (err) {
      failed = true;
      console.log(`  FAIL  ${name}\n        ${err instanceof CheckError ? err.message.replace(/\n/g, '\n        ') : err.stack}`);
      break;
    }
  }
  for (const c of clients) c.close();
  console.log(failed ? 'check-protocol: FAILED' : `check-protocol: all ${checks.length} checks passed`);
  process.exit(failed ? 1 : 0);
})();
