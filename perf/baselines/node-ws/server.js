'use strict';
// FastWs comparison baseline: the FastWs pub/sub protocol on Node's `ws` library.
//
//   node perf/baselines/node-ws/server.js --port 8091     (or PORT=8091; default 8091)
//   node perf/baselines/node-ws/server.js --port 8091 --deflate     (permessage-deflate)
//
// With --deflate, ws's perMessageDeflate is on with the settings FastWs uses: server_no_context_takeover (each message
// compressed on its own, as FastWs and uWS's shared compressor do) and a threshold of 128 bytes (ws's default is 1 KB);
// everything else is ws's default (zlib level, 10 concurrent zlib jobs). ws compresses per socket: each subscriber's
// send deflates the message again.
//
// Fan-out: a Map of channel -> Set of sockets. Each publish is encoded once into one Buffer, and the same Buffer is
// handed to every subscriber's socket.send (ws frames it without copying the payload). A subscriber whose
// socket.bufferedAmount is over 64 KB is skipped for that message (the FastWs slow-consumer rule).

const http = require('node:http');
const { WebSocketServer, WebSocket } = require('ws');
const protocol = require('../shared/protocol');

const HOST = '127.0.0.1';
const PORT = protocol.parsePort(process.argv.slice(2), 8091);
const TEXT = { binary: false };
const DEFLATE = process.argv.slice(2).includes('--deflate');

/** channel name -> { prefix, seq, subscribers: Set<WebSocket> }. A channel exists while it has subscribers. */
const channels = new Map();

function subscribe(ws, name) {
  if (ws.channels.has(name)) return;
  let channel = channels.get(name);
  if (channel === undefined) {
    channel = { prefix: protocol.messagePrefix(name), seq: 0, subscribers: new Set() };
    channels.set(name, channel);
  }
  channel.subscribers.add(ws);
  ws.channels.add(name);
}

function unsubscribe(ws, name) {
  if (!ws.channels.delete(name)) return;
  const channel = channels.get(name);
  channel.subscribers.delete(ws);
  if (channel.subscribers.size === 0) channels.delete(name);
}

function applyAll(ws, names, subscribing, id) {
  const done = [];
  for (const name of names) {
    if (!protocol.isValidChannel(name)) {
      ws.send(protocol.error('invalid_channel', 'Invalid channel name', typeof name === 'string' ? name : undefined, id));
      continue;
    }
    if (subscribing) subscribe(ws, name);
    else unsubscribe(ws, name);
    done.push(name);
  }
  ws.send(protocol.ack(subscribing ? 'subscribed' : 'unsubscribed', done, id));
}

function publish(name, rawData) {
  const channel = channels.get(name);
  if (channel === undefined) return; // nobody subscribed
  const frame = Buffer.from(protocol.encodeMessage(channel.prefix, ++channel.seq, rawData));
  for (const subscriber of channel.subscribers) {
    if (subscriber.bufferedAmount <= protocol.MAX_BUFFERED_BYTES && subscriber.readyState === WebSocket.OPEN) {
      subscriber.send(frame, TEXT);
    }
  }
}

function handle(ws, text) {
  const request = protocol.parseRequest(text);
  if (request.error !== undefined) {
    ws.send(protocol.error('bad_request', request.error, undefined, request.id));
    return;
  }
  switch (request.type) {
    case 'subscribe':
      applyAll(ws, request.channels, true, request.id);
      break;
    case 'unsubscribe':
      applyAll(ws, request.channels, false, request.id);
      break;
    case 'publish':
      if (!protocol.isValidChannel(request.channel)) {
        ws.send(protocol.error('invalid_channel', 'Invalid channel name', request.channel, request.id));
        return;
      }
      publish(request.channel, request.data);
      if (request.id !== undefined) ws.send(protocol.published(request.channel, request.id));
      break;
    case 'ping':
      ws.send(protocol.pong(request.id));
      break;
  }
}

const server = http.createServer((req, res) => {
  res.writeHead(404, { 'content-type': 'text/plain' });
  res.end('not found\n');
});

const wss = new WebSocketServer({ server, path: '/ws', maxPayload: protocol.MAX_MESSAGE_BYTES, perMessageDeflate: DEFLATE ? { serverNoContextTakeover: true, threshold: 128 } : false });

wss.on('connection', (ws, req) => {
  ws.channels = new Set();
  ws.on('error', () => {}); // protocol errors close the socket; 'close' does the cleanup
  ws.on('message', (data, isBinary) => {
    if (isBinary) {
      ws.close(1003, 'Binary messages are not supported');
      return;
    }
    handle(ws, data.toString());
  });
  ws.on('close', () => {
    for (const name of ws.channels) {
      const channel = channels.get(name);
      channel.subscribers.delete(ws);
      if (channel.subscribers.size === 0) channels.delete(name);
    }
    ws.channels.clear();
  });

  const query = req.url.indexOf('?');
  if (query >= 0) {
    const names = protocol.splitQueryChannels(new URLSearchParams(req.url.slice(query + 1)).get('subscribe'));
    if (names !== null) applyAll(ws, names, true, undefined);
  }
});

wss.on('error', (err) => {
  // ws re-emits the HTTP server's errors (e.g. EADDRINUSE) here.
  console.error(`failed to listen on ${HOST}:${PORT}: ${err.message}`);
  process.exit(1);
});

server.listen(PORT, HOST, () => {
  console.log(`listening on ws://${HOST}:${server.address().port}/ws`);
});

let stopping = false;
function shutdown() {
  if (stopping) return;
  stopping = true;
  for (const ws of wss.clients) ws.close(1001, 'Server shutting down');
  wss.close();
  server.close(() => process.exit(0));
  setTimeout(() => {
    for (const ws of wss.clients) ws.terminate();
    process.exit(0);
  }, 2000).unref();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
