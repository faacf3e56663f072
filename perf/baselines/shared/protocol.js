'use strict';
// The FastWs wire protocol, shared by the two Node baselines (node-ws and uws) so they differ only in transport.
//
// client -> server: subscribe / unsubscribe / publish / ping (JSON text frames)
// server -> client: subscribed / unsubscribed / published / pong / error, and data messages
//   {"type":"message","channel":"NAME","seq":N,"data":<the published JSON, byte for byte>}
//
// Nothing here depends on a WebSocket library.

/** Skip data messages to a client with more than this many bytes buffered (the FastWs slow-consumer rule). */
const MAX_BUFFERED_BYTES = 64 * 1024;
/** Largest client message accepted (FastWs's MaxMessageSize). */
const MAX_MESSAGE_BYTES = 64 * 1024;
/** Same alphabet and shape as FastWs's ChannelName: namespace or namespace:key, [A-Za-z0-9_.:-], at most 128. */
const MAX_CHANNEL_LENGTH = 128;
const CHANNEL_NAME = /^[A-Za-z0-9_.-]+(?::[A-Za-z0-9_.:-]+)?$/;

function isValidChannel(name) {
  return typeof name === 'string' && name.length <= MAX_CHANNEL_LENGTH && CHANNEL_NAME.test(name);
}

/** `{"type":"message","channel":"NAME","seq":` — names need no JSON escaping, so it is built once per channel. */
function messagePrefix(channel) {
  return '{"type":"message","channel":"' + channel + '","seq":';
}

/** The full data message. Built once per publish; the caller sends the same encoded result to every subscriber. */
function encodeMessage(prefix, seq, rawData) {
  return prefix + seq + ',"data":' + rawData + '}';
}

function idPart(id) {
  return id === undefined ? '' : ',"id":' + JSON.stringify(id);
}

function ack(type, channels, id) {
  return '{"type":"' + type + '","channels":' + JSON.stringify(channels) + idPart(id) + '}';
}

function published(channel, id) {
  return '{"type":"published","channel":' + JSON.stringify(channel) + idPart(id) + '}';
}

function pong(id) {
  return id === undefined ? '{"type":"pong"}' : '{"type":"pong"' + idPart(id) + '}';
}

function error(code, message, channel, id) {
  let out = '{"type":"error","code":"' + code + '","message":' + JSON.stringify(message);
  if (channel !== undefined) out += ',"channel":' + JSON.stringify(String(channel).slice(0, MAX_CHANNEL_LENGTH));
  return out + idPart(id) + '}';
}

// ---- Raw value extraction -------------------------------------------------------------------------------------
// JSON.parse + JSON.stringify would re-format "data" (1.50 -> 1.5, escapes, whitespace). The protocol forwards the
// published JSON byte for byte, so after JSON.parse has validated the text, this scanner finds the exact source span
// of a top-level property's value. It relies on the text being valid JSON.

function skipWs(s, i) {
  for (;;) {
    const c = s.charCodeAt(i);
    if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) i++;
    else return i;
  }
}

/** i is at the opening quote; returns the index after the closing quote. */
function skipString(s, i) {
  i++;
  for (;;) {
    const q = s.indexOf('"', i);
    // Count the backslashes in front of the quote: an odd number escapes it.
    let b = q - 1;
    while (s.charCodeAt(b) === 0x5c) b--;
    if ((q - 1 - b) % 2 === 0) return q + 1;
    i = q + 1;
  }
}

function skipValue(s, i) {
  const c = s.charCodeAt(i);
  if (c === 0x22) return skipString(s, i);
  if (c === 0x7b || c === 0x5b) {
    let depth = 0;
    for (;;) {
      const d = s.charCodeAt(i);
      if (d === 0x22) { i = skipString(s, i); continue; }
      if (d === 0x7b || d === 0x5b) depth++;
      else if (d === 0x7d || d === 0x5d) { if (--depth === 0) return i + 1; }
      i++;
    }
  }
  // number, true, false, null
  for (;;) {
    const d = s.charCodeAt(i);
    if (d === 0x2c || d === 0x7d || d === 0x5d || d === 0x20 || d === 0x0a || d === 0x0d || d === 0x09 || Number.isNaN(d)) return i;
    i++;
  }
}

/** Source text of a top-level property of a (validated) JSON object; the last one wins, as in JSON.parse. */
function rawProperty(s, key) {
  let found;
  let i = skipWs(s, 0) + 1; // past '{'
  for (;;) {
    i = skipWs(s, i);
    if (s.charCodeAt(i) === 0x7d) return found;
    const keyStart = i;
    i = skipString(s, i);
    const rawKey = s.slice(keyStart + 1, i - 1);
    const name = rawKey.indexOf('\\') < 0 ? rawKey : JSON.parse(s.slice(keyStart, i));
    i = skipWs(s, i) + 1; // past ':'
    i = skipWs(s, i);
    const valueStart = i;
    i = skipValue(s, i);
    if (name === key) found = s.slice(valueStart, i);
    i = skipWs(s, i);
    if (s.charCodeAt(i) === 0x2c) i++;
  }
}

// ---- Requests -------------------------------------------------------------------------------------------------

/**
 * Parses one client text message. Returns { error, id } for a bad message, otherwise
 * { type, id, channels, channel, data } where data is the raw JSON text of "data" (publish only).
 */
function parseRequest(text) {
  let msg;
  try {
    msg = JSON.parse(text);
  } catch {
    return { error: 'Message is not valid JSON' };
  }
  if (msg === null || typeof msg !== 'object' || Array.isArray(msg)) return { error: 'Message must be a JSON object' };
  const id = msg.id;
  if (id !== undefined && typeof id !== 'number' && typeof id !== 'string') return { error: '"id" must be a number or a string' };
  const type = msg.type;
  if (type === undefined) return { error: 'Missing "type"', id };
  if (typeof type !== 'string') return { error: '"type" must be a string', id };
  switch (type) {
    case 'subscribe':
    case 'unsubscribe':
      if (!Array.isArray(msg.channels)) return { error: type + ' needs "channels" (an array of strings)', id };
      return { type, id, channels: msg.channels };
    case 'publish':
      if (typeof msg.channel !== 'string') return { error: 'publish needs a "channel" string', id };
      if (msg.data === undefined) return { error: 'publish needs "data"', id };
      return { type, id, channel: msg.channel, data: rawProperty(text, 'data') };
    case 'ping':
      return { type, id };
    default:
      return { error: 'Unknown message type; expected subscribe, unsubscribe, publish or ping', id };
  }
}

/** The channel names of a `?subscribe=a,b` connect URL query value (already URL-decoded), or null when absent. */
function splitQueryChannels(value) {
  if (value === null || value === undefined) return null;
  return value.split(',').filter((name) => name.length > 0);
}

// ---- Command line ---------------------------------------------------------------------------------------------

/** `--port N`, `--port=N` or the PORT environment variable, else the default. */
function parsePort(argv, fallback) {
  let value = process.env.PORT;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--port' && i + 1 < argv.length) value = argv[++i];
    else if (argv[i].startsWith('--port=')) value = argv[i].slice('--port='.length);
  }
  if (value === undefined || value === '') return fallback;
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`invalid port: ${value}`);
    process.exit(2);
  }
  return port;
}

module.exports = {
  MAX_BUFFERED_BYTES,
  MAX_MESSAGE_BYTES,
  isValidChannel,
  messagePrefix,
  encodeMessage,
  ack,
  published,
  pong,
  error,
  rawProperty,
  parseRequest,
  splitQueryChannels,
  parsePort,
};
