// Manual check (not run by dotnet test): Node ws 8 with perMessageDeflate against a running FastWs.
// Usage: npm install ws@8 in this folder (or anywhere on NODE_PATH), start FastWs, then: node ws-deflate-check.js <WebSocket port>
// Exits 0 when the published 1 KB object arrives intact and compressed (RSV1).
const WebSocket = require('ws');
const port = process.argv[2];
const data = JSON.stringify({ slab: 'SOL', levels: Array.from({ length: 22 }, (_, i) => ({ price: 150 + i / 100, size: 1.5 + (i % 3), side: i < 11 ? 'bid' : 'ask' })) });
const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`, { perMessageDeflate: true });
let rsv1Seen = false;
ws.on('upgrade', res => console.log('extensions:', res.headers['sec-websocket-extensions']));
ws.on('open', () => {
  // Watch the receiver's frames: ws's Receiver records RSV1 per message as _compressed.
  const receiver = ws._receiver;
  const orig = receiver.getInfo.bind(receiver);
  receiver.getInfo = (cb) => { const r = orig(cb); if (receiver._compressed) rsv1Seen = true; return r; };
  ws.send(JSON.stringify({ type: 'subscribe', channels: ['bench:node'], id: 1 }));
});
ws.on('message', (buf, isBinary) => {
  const msg = JSON.parse(buf.toString());
  if (msg.type === 'subscribed') ws.send(JSON.stringify({ type: 'publish', channel: 'bench:node', data: JSON.parse(data) }));
  if (msg.type === 'message') {
    const ok = JSON.stringify(msg.data) === data;
    console.log('message ok:', ok, 'compressed (RSV1):', rsv1Seen, 'wire-size-vs-plain:', buf.length);
    process.exit(ok && rsv1Seen ? 0 : 1);
  }
});
ws.on('error', e => { console.error(e); process.exit(2); });
setTimeout(() => { console.error('timeout'); process.exit(3); }, 10000);
