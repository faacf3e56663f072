'use strict';
// FastWs comparison baseline: the FastWs pub/sub protocol on uWebSockets.js (native uWS topics for fan-out).
//
//   node perf/baselines/uws/server.js --port 8092     (or PORT=8092; default 8092)
//   node perf/baselines/uws/server.js --port 8092 --cert cert.pem --key key.pem    (wss://: uWS.SSLApp)
//   node perf/baselines/uws/server.js --port 8092 --deflate     (permessage-deflate: uWS.SHARED_COMPRESSOR)
//
// With --deflate the app takes permessage-deflate offers with uWS's shared compressor (one zlib stream for all sockets,
// so no context takeover: uWS answers server_no_context_takeover) and publishes with compress = true: the compressed
// workloads of issue 20, (f) and (g).
//
// With --cert and --key (PEM files, the same ones FastWs's FastWs:WebSocket:Tls:CertificateFile / KeyFile take) the
// server is uWS.SSLApp({cert_file_name, key_file_name}) and serves wss:// only; everything else is the same.
//
// Fan-out: every channel is a uWS topic. A socket joins with ws.subscribe(channel); a publish is encoded once
// (seq from our own per-channel counter) and handed to app.publish(channel, message), which copies it once into
// uWS's topic tree and writes it to every subscriber from C++. The 64 KB slow-consumer rule is uWS's own
// maxBackpressure: with maxBackpressure = 64 KB and closeOnBackpressureLimit = false, uWS drops (does not send)
// a topic message to any subscriber whose getBufferedAmount() is over 64 KB and keeps the socket open.

const uWS = require('uWebSockets.js');
const protocol = require('../shared/protocol');

// This package silently falls back to a pure-JS implementation (built on `ws`) when its native binary does not
// load. That would make this baseline meaningless, so refuse to run on the fallback.
if (!/\[native code\]/.test(Function.prototype.toString.call(uWS.App))) {
  console.error('uWebSockets.js native binary did not load (got the JS fallback); refusing to run');
  process.exit(1);
}

const HOST = '127.0.0.1';
const PORT = protocol.parsePort(process.argv.slice(2), 8092);

/** --name FILE or --name=FILE, or undefined. */
function argValue(argv, name) {
  let value;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === name && i + 1 < argv.length) value = argv[++i];
    else if (argv[i].startsWith(`${name}=`)) value = argv[i].slice(name.length + 1);
  }
  return value;
}
const CERT = argValue(process.argv.slice(2), '--cert');
const KEY = argValue(process.argv.slice(2), '--key');
if ((CERT === undefined) !== (KEY === undefined)) {
  console.error('--cert and --key go together');
  process.exit(2);
}
for (const file of [CERT, KEY]) {
  if (file !== undefined && !require('node:fs').existsSync(file)) {
    console.error(`no such file: ${file}`);
    process.exit(2);
  }
}
const TLS = CERT !== undefined;
const DEFLATE = process.argv.slice(2).includes('--deflate');
const decoder = new TextDecoder();

/** channel name -> { prefix, seq, count }. Mirrors uWS's topics: a channel exists while it has subscribers. */
const channels = new Map();
/** Open sockets, for closing them on shutdown. */
const clients = new Set();

const app = TLS ? uWS.SSLApp({ cert_file_name: CERT, key_file_name: KEY }) : uWS.App();

function subscribe(ws, state, name) {
  if (state.channels.has(name)) return;
  let channel = channels.get(name);
  if (channel === undefined) {
    channel = { prefix: protocol.messagePrefix(name), seq: 0, count: 0 };
    channels.set(name, channel);
  }
  channel.count++;
  state.channels.add(name);
  ws.subscribe(name);
}

function release(name) {
  const channel = channels.get(name);
  if (--channel.count === 0) channels.delete(name);
}

function unsubscribe(ws, state, name) {
  if (!state.channels.delete(name)) return;
  ws.unsubscribe(name);
  release(name);
}

function applyAll(ws, state, names, subscribing, id) {
  const done = [];
  for (const name of names) {
    if (!protocol.isValidChannel(name)) {
      ws.send(protocol.error('invalid_channel', 'Invalid channel name', typeof name === 'string' ? name : undefined, id), false);
      continue;
    }
    if (subscribing) subscribe(ws, state, name);
    else unsubscribe(ws, state, name);
    done.push(name);
  }
  ws.send(protocol.ack(subscribing ? 'subscribed' : 'unsubscribed', done, id), false);
}

function publish(name, rawData) {
  const channel = channels.get(name);
  if (channel === undefined) return; // nobody subscribed
  app.publish(name, protocol.encodeMessage(channel.prefix, ++channel.seq, rawData), false, DEFLATE);
}

function handle(ws, state, text) {
  const request = protocol.parseRequest(text);
  if (request.error !== undefined) {
    ws.send(protocol.error('bad_request', request.error, undefined, request.id), false);
    return;
  }
  switch (request.type) {
    case 'subscribe':
      applyAll(ws, state, request.channels, true, request.id);
      break;
    case 'unsubscribe':
      applyAll(ws, state, request.channels, false, request.id);
      break;
    case 'publish':
      if (!protocol.isValidChannel(request.channel)) {
        ws.send(protocol.error('invalid_channel', 'Invalid channel name', request.channel, request.id), false);
        return;
      }
      publish(request.channel, request.data);
      if (request.id !== undefined) ws.send(protocol.published(request.channel, request.id), false);
      break;
    case 'ping':
      ws.send(protocol.pong(request.id), false);
      break;
  }
}

app.ws('/ws', {
  compression: DEFLATE ? uWS.SHARED_COMPRESSOR : uWS.DISABLED,
  maxPayloadLength: protocol.MAX_MESSAGE_BYTES,
  maxBackpressure: protocol.MAX_BUFFERED_BYTES,
  closeOnBackpressureLimit: false,
  // uWS defaults: idleTimeout 120 s with automatic pings.

  upgrade: (res, req, context) => {
    // The request object is only valid here, so read the query string before upgrading.
    const query = req.getQuery();
    res.upgrade(
      { query: query ? query : null, channels: null },
      req.getHeader('sec-websocket-key'),
      req.getHeader('sec-websocket-protocol'),
      req.getHeader('sec-websocket-extensions'),
      context,
    );
  },

  open: (ws) => {
    const state = ws.getUserData();
    state.channels = new Set();
    clients.add(ws);
    if (state.query !== null) {
      // Decoded with URLSearchParams, exactly as the node-ws baseline does.
      const names = protocol.splitQueryChannels(new URLSearchParams(state.query).get('subscribe'));
      state.query = null;
      if (names !== null) applyAll(ws, state, names, true, undefined);
    }
  },

  message: (ws, message, isBinary) => {
    if (isBinary) {
      ws.end(1003, 'Binary messages are not supported');
      return;
    }
    // `message` is only valid during this call; decoding copies it into a JS string.
    handle(ws, ws.getUserData(), decoder.decode(message));
  },

  close: (ws) => {
    // uWS unsubscribes a closed socket from its topics itself; only our counters need updating.
    const state = ws.getUserData();
    clients.delete(ws);
    for (const name of state.channels) release(name);
    state.channels.clear();
  },
});

app.any('/*', (res) => {
  res.writeStatus('404 Not Found').end('not found\n');
});

let listenSocket = null;
// uWS binds with SO_REUSEPORT by default, so a second server on a taken port would silently share it; ask for an
// exclusive port so that fails like it does for the other servers.
app.listen(HOST, PORT, uWS.LIBUS_LISTEN_EXCLUSIVE_PORT, (socket) => {
  if (!socket) {
    console.error(`failed to listen on ${HOST}:${PORT}`);
    process.exit(1);
  }
  listenSocket = socket;
  console.log(`listening on ${TLS ? 'wss' : 'ws'}://${HOST}:${uWS.us_socket_local_port(socket)}/ws`);
});

let stopping = false;
function shutdown() {
  if (stopping) return;
  stopping = true;
  if (listenSocket !== null) uWS.us_listen_socket_close(listenSocket);
  listenSocket = null;
  for (const ws of [...clients]) ws.end(1001, 'Server shutting down');
  // With the listen socket and every connection closed uWS's loop ends and Node exits; don't wait on slow peers.
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
