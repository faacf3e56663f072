#!/usr/bin/env node
'use strict';
// perf/compare: runs FastWs and the perf/baselines servers through tools/FastWs.LoadGen, one server at a time,
// the server pinned to core 0 and the load tool to core 1, and prints one comparison table (issue 5, section 4).
// Normally started by perf/compare/run.sh (which also cleans up if this process dies); see README.md.
// Node >= 20, no dependencies.

const { spawn, spawnSync, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const HERE = __dirname;
const ROOT = path.resolve(HERE, '..', '..');
const LOADGEN = path.join(ROOT, 'tools/FastWs.LoadGen/bin/Release/net10.0/FastWs.LoadGen');
const RUN_ID = `${process.pid}-${Date.now()}`;
// run.sh changes to the repository root; relative --output/--results paths are the caller's.
const CALLER_CWD = process.env.FASTWS_COMPARE_CWD || process.cwd();

// ---------------------------------------------------------------------------------------------------------------
// Servers and workloads

// cmd(ports, env): env.tls = { cert, key } (PEM files) for wss://, env.auth = { secret, publicKey } for token runs.
// Only FastWs and uWS.js (SSLApp) serve TLS here; only FastWs checks tokens.
// Issue 20: the write delay of the fastws-coalesce variant.
const COALESCE_DELAY = '00:00:00.002';
const fastwsCmd = (extra) => ([ws, http], env = {}) => ['dotnet', [path.join(ROOT, 'src/Server/bin/Release/net10.0/FastWs.Server.dll'),
  '--environment', 'LoadTest', `--FastWs:WebSocket:Port=${ws}`, `--FastWs:Http:Port=${http}`, ...extra,
  ...(env.tls ? [`--FastWs:WebSocket:Tls:CertificateFile=${env.tls.cert}`, `--FastWs:WebSocket:Tls:KeyFile=${env.tls.key}`] : []),
  ...(env.auth ? [`--FastWs:Auth:Jwt:HmacSecret=${env.auth.secret}`, `--FastWs:Auth:Jwt:PublicKeyFiles:0=${env.auth.publicKey}`] : [])]];
const SERVERS = {
  fastws: {
    label: 'FastWs',
    ports: 2,
    tls: true,
    deflate: true, // permessage-deflate is on by default (FastWs:Compression:Enabled, Namespaces:*:Compression)
    cmd: fastwsCmd([]),
  },
  // Issue 17: the same binary with the bench namespace delivering the inline format (the published object with
  // "channel" and "seq" appended) instead of the envelope. Not in the default list; compare it with fastws.
  'fastws-inline': {
    label: 'FastWs inline',
    ports: 2,
    tls: true,
    deflate: true,
    cmd: fastwsCmd(['--FastWs:Namespaces:bench:Format=Inline']),
  },
  // Issue 20: the same binary with write coalescing on the bench namespace (a subscriber's messages within 2 ms of
  // the first go out in one write). Not in the default list; compare it with fastws and uws on (a).
  'fastws-coalesce': {
    label: 'FastWs WriteDelay 2 ms',
    ports: 2,
    tls: true,
    deflate: true,
    cmd: fastwsCmd([`--FastWs:Namespaces:bench:WriteDelay=${COALESCE_DELAY}`]),
  },
  aspnetcore: {
    label: 'ASP.NET Core',
    ports: 1,
    cmd: ([p]) => ['dotnet', [path.join(ROOT, 'perf/baselines/aspnetcore/bin/Release/net10.0/FastWs.Baseline.AspNetCore.dll'), '--port', String(p)]],
  },
  'node-ws': {
    label: 'Node ws',
    ports: 1,
    deflate: true,
    cmd: ([p], env = {}) => ['node', [path.join(ROOT, 'perf/baselines/node-ws/server.js'), '--port', String(p), ...(env.deflate ? ['--deflate'] : [])]],
  },
  uws: {
    label: 'uWS.js',
    tlsLabel: 'uWS.js SSLApp',
    ports: 1,
    tls: true,
    deflate: true,
    cmd: ([p], env = {}) => ['node', [path.join(ROOT, 'perf/baselines/uws/server.js'), '--port', String(p),
      ...(env.tls ? ['--cert', env.tls.cert, '--key', env.tls.key] : []), ...(env.deflate ? ['--deflate'] : [])]],
  },
};
const SERVER_ORDER = ['fastws', 'aspnetcore', 'node-ws', 'uws'];
// Every server --servers accepts, in table order; the default is SERVER_ORDER.
const ALL_SERVERS = ['fastws', 'fastws-inline', 'fastws-coalesce', 'aspnetcore', 'node-ws', 'uws'];
const BASELINES = SERVER_ORDER.filter((s) => s !== 'fastws');

const WORKLOADS = {
  a: { kind: 'fanout', subscribers: 100, channels: 1, rate: 1000, title: '(a) 100 subs, 1 ch, 1k pub/s' },
  b: { kind: 'fanout', subscribers: 1000, channels: 1, rate: 100, title: '(b) 1k subs, 1 ch, 100 pub/s' },
  c: { kind: 'fanout', subscribers: 1000, channels: 100, rate: 5000, title: '(c) 1k subs, 100 ch, 5k pub/s' },
  d: { kind: 'connect', connections: 10000, title: '(d) 10k idle connections' },
  e: { kind: 'search', subscribers: 100, channels: 1, title: '(e) max rate @100 subs, p99<10ms' },
  // Issue 16: (d) on FastWs with its token auth configured (HS256 secret and ES256 public key both), the load tool
  // presenting no token, or one minted per connection (not timed), in the Authorization header. Not in the default
  // list; the three take turns run by run (none, hs256, es256, none, ...).
  'd-none': { kind: 'connect', token: 'none', connections: 10000, title: '(d) idle conns, no token' },
  'd-hs256': { kind: 'connect', token: 'hs256', connections: 10000, title: '(d) idle conns, HS256 token' },
  'd-es256': { kind: 'connect', token: 'es256', connections: 10000, title: '(d) idle conns, ES256 token' },
  // Issue 17: the load tool's conflation scenario against FastWs's price defaults (inline, 500 ms conflation,
  // snapshots): 50,000 updates/s over 1,000 slabs to 1,000 subscribers (10 slabs each: 10 subscribers per slab), plus
  // 20 probe slabs updated once every 1.5 s each, whose updates must go out at once. FastWs only; not in the default list.
  // Issue 20: compressed workloads. Every server with permessage-deflate on (FastWs by default; uWS.js --deflate:
  // SHARED_COMPRESSOR; Node ws --deflate: perMessageDeflate with serverNoContextTakeover, threshold 128), the load tool
  // offering it on every connection (--deflate) and publishing ~1 KB price objects (--payload-kind price). The ASP.NET
  // Core baseline has no compression here and sits these out. Not in the default list.
  f: { kind: 'fanout', deflate: true, subscribers: 1000, channels: 1, rate: 100, title: '(f) deflate 1 KB, 1k subs, 1 ch, 100 pub/s' },
  g: { kind: 'fanout', deflate: true, subscribers: 100, channels: 1, rate: 1000, title: '(g) deflate 1 KB, 100 subs, 1 ch, 1k pub/s' },
  'f-conflation': {
    kind: 'conflation', subscribers: 1000, slabs: 1000, perSubscriber: 10, rate: 50000, probes: 20, probeEvery: 1.5,
    title: '(f-conflation) 50k updates/s, 1k slabs, 1k subs',
  },
};
const WORKLOAD_ORDER = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'd-none', 'd-hs256', 'd-es256', 'f-conflation'];
const DEFAULT_WORKLOADS = ['a', 'b', 'c', 'd', 'e'];
const isTokenWorkload = (wk) => WORKLOADS[wk].token !== undefined;
const isConflationWorkload = (wk) => WORKLOADS[wk].kind === 'conflation';
const isDeflateWorkload = (wk) => WORKLOADS[wk].deflate === true;
// Issue 20, compressed (f)/(g): FastWs's CPU per delivery at most this share of the better peer's (uWS.js, Node ws).
const DEFLATE_MAX_CPU_RATIO = 1 / 3;
// Issue 20, coalescing on (a): CPU per delivery at most this share of uWS.js's, p99 at most this much above FastWs's own.
const COALESCE_MAX_CPU_RATIO = 0.5;
const COALESCE_MAX_P99_ADDED_MS = 2;
// Workloads that run on FastWs only (its token auth, its conflation).
const isFastWsOnly = (wk) => isTokenWorkload(wk) || isConflationWorkload(wk);
// Issue 17: FastWs's CPU per delivery with the inline format at most this multiple of the envelope's.
const INLINE_MAX_CPU_RATIO = 1.05;
// Issue 17's conflation figure: the first update after a quiet interval goes out at once; p99 below this.
const PROBE_P99_MS = 10;
// The ES256 target of issue 16: handshakes/s with an ES256 token at least this share of the no-token rate.
const ES256_MIN_SHARE = 0.7;
// The wss target of issue 16: FastWs CPU per delivery over TLS at most this multiple of uWS.js SSLApp's.
const TLS_MAX_CPU_RATIO = 1.5;

// (e): a probe passes when nothing is lost, p99 < 10 ms, the publisher kept its schedule and there were no errors.
const E_P99_MS = 10;
const E_MIN_PUBLISH_SHARE = 0.97;
// (e): the load tool has one core; from about this share of it, its own queueing adds milliseconds to p99, so a
// failure at such a rate may be the tool's. (Measured: uWS.js failed at 8,400/s with the tool at 80% and uWS at 21%.)
const TOOL_BOUND_PCT = 75;

// ---------------------------------------------------------------------------------------------------------------
// Options

function usage() {
  return `usage: perf/compare/run.sh [options]

Runs FastWs and the baselines (perf/baselines) through tools/FastWs.LoadGen, each server pinned to core 0
(taskset -c 0) and the load tool to core 1, and prints one comparison table (also written as Markdown).

  --quick               short runs (1 s warm-up + 3 s measured, 2 s hold, coarse (e) search); a few minutes
  --servers LIST        comma-separated subset of: ${ALL_SERVERS.join(',')} (default: ${SERVER_ORDER.join(',')});
                        fastws-inline = FastWs with --FastWs:Namespaces:bench:Format=Inline (inline vs envelope, issue 17);
                        fastws-coalesce = FastWs with --FastWs:Namespaces:bench:WriteDelay=00:00:00.002 (issue 20, on (a))
  --workloads LIST      comma-separated subset of: ${WORKLOAD_ORDER.join(',')} (default: ${DEFAULT_WORKLOADS.join(',')});
                        d-none,d-hs256,d-es256 = (d) on FastWs with token auth on, no token / HS256 / ES256 per connection;
                        f-conflation = the conflation scenario on FastWs's price defaults (issue 17);
                        f, g = compressed 1 KB price objects, every server with permessage-deflate (issue 20; not aspnetcore)
  --tls                 wss://: a self-signed P-256 certificate (openssl) in the results dir, served by FastWs and
                        uWS.js SSLApp (the only servers with TLS here; the default --servers becomes fastws,uws)
  --cert FILE --key FILE  wss:// with this PEM certificate and key instead (the tool trusts FILE with --ca)
  --duration N          measured seconds for (a)-(c) (default 20; --quick 3)
  --warmup N            warm-up seconds for (a)-(c) (default 5; --quick 1)
  --probe-duration N    measured seconds of each (e) probe (default 5; --quick 2)
  --search-budget N     upper bound in seconds on the (e) search per server (default 240; --quick 60)
  --connections N       idle connections for (d) (default 10000)
  --hold N              seconds (d) holds the idle connections before measuring memory (default 5; --quick 2)
  --repeat N            runs of each (a)-(d) per server, interleaved across servers; the table shows medians
                        (default 3; --quick 1)
  --output FILE         Markdown file to write (default perf/compare/last-run.md)
  --results DIR         where the raw summary.json files and logs go (default perf/compare/out/<timestamp>)
  --skip-build          do not run perf/baselines/install.sh and the Release builds (use what is built)
  --render DIR          run nothing: re-render the table from DIR/results.json of an earlier run (to --output)
  -h, --help            this text
`;
}

function parseArgs(argv) {
  const o = {
    quick: false, servers: null, workloads: [...DEFAULT_WORKLOADS], duration: null, warmup: null, tls: false, cert: null, key: null,
    probeDuration: null, searchBudget: null, connections: 10000, hold: null, output: path.join(HERE, 'last-run.md'),
    results: null, skipBuild: false, repeat: null,
  };
  const num = (name, v) => {
    const n = Number(v);
    if (v === undefined || !Number.isFinite(n) || n <= 0) throw new Error(`${name} needs a positive number`);
    return n;
  };
  const list = (name, v, allowed) => {
    if (!v) throw new Error(`${name} needs a list`);
    const items = v.split(',').map((s) => s.trim().toLowerCase()).filter(Boolean);
    for (const i of items) if (!allowed.includes(i)) throw new Error(`${name}: unknown '${i}' (known: ${allowed.join(',')})`);
    return allowed.filter((a) => items.includes(a));
  };
  for (let i = 0; i < argv.length; i++) {
    let a = argv[i];
    let v;
    const eq = a.indexOf('=');
    if (a.startsWith('--') && eq > 0) { v = a.slice(eq + 1); a = a.slice(0, eq); }
    const next = () => (v !== undefined ? v : argv[++i]);
    switch (a) {
      case '--quick': o.quick = true; break;
      case '--servers': o.servers = list(a, next(), ALL_SERVERS); break;
      case '--workloads': o.workloads = list(a, next(), WORKLOAD_ORDER); break;
      case '--duration': o.duration = num(a, next()); break;
      case '--warmup': o.warmup = Number(next()); if (!(o.warmup >= 0)) throw new Error('--warmup needs a number >= 0'); break;
      case '--probe-duration': o.probeDuration = num(a, next()); break;
      case '--search-budget': o.searchBudget = num(a, next()); break;
      case '--connections': o.connections = Math.round(num(a, next())); break;
      case '--hold': o.hold = num(a, next()); break;
      case '--repeat': o.repeat = Math.round(num(a, next())); break;
      case '--output': o.output = path.resolve(CALLER_CWD, next() ?? ''); break;
      case '--results': o.results = path.resolve(CALLER_CWD, next() ?? ''); break;
      case '--skip-build': o.skipBuild = true; break;
      case '--tls': o.tls = true; break;
      case '--cert': o.cert = path.resolve(CALLER_CWD, next() ?? ''); o.tls = true; break;
      case '--key': o.key = path.resolve(CALLER_CWD, next() ?? ''); o.tls = true; break;
      case '--render': o.render = path.resolve(CALLER_CWD, next() ?? ''); break;
      case '-h': case '--help': process.stdout.write(usage()); process.exit(0); break;
      default: throw new Error(`unknown option ${a}`);
    }
  }
  if (!o.cert !== !o.key) throw new Error('--cert and --key go together');
  if (o.servers === null) {
    o.servers = o.workloads.every(isFastWsOnly) ? ['fastws'] : o.tls ? SERVER_ORDER.filter((k) => SERVERS[k].tls) : [...SERVER_ORDER];
  }
  if (o.tls) {
    const plainOnly = o.servers.filter((k) => !SERVERS[k].tls);
    if (plainOnly.length) throw new Error(`--tls: ${plainOnly.join(',')} cannot serve TLS here (only ${SERVER_ORDER.filter((k) => SERVERS[k].tls).join(',')})`);
  }
  if (o.workloads.some(isTokenWorkload) && !o.servers.includes('fastws')) throw new Error('the token workloads (d-*) run on fastws only');
  if (o.workloads.some(isConflationWorkload) && !o.servers.includes('fastws')) throw new Error('f-conflation runs on fastws only');
  if (o.workloads.length > 0 && o.workloads.every(isDeflateWorkload) && !o.servers.some((k) => SERVERS[k].deflate)) throw new Error('(f) and (g) need a server with compression (not aspnetcore)');
  if (o.servers.length === 0 || o.workloads.length === 0) throw new Error('nothing to run');
  o.duration ??= o.quick ? 3 : 20;
  o.warmup ??= o.quick ? 1 : 5;
  o.grace = o.quick ? 1 : 2;
  o.probeDuration ??= o.quick ? 2 : 5;
  o.probeWarmup = o.quick ? 1 : 2;
  o.searchBudget ??= o.quick ? 60 : 240;
  o.hold ??= o.quick ? 2 : 5;
  o.repeat ??= o.quick ? 1 : 3;
  o.ladder = o.quick ? [2000, 8000, 32000, 128000] : [2000, 5000, 10000, 20000, 40000, 80000, 160000];
  o.resolution = o.quick ? 1.5 : 1.1; // bisect until first-fail / last-pass <= this
  o.retryFails = !o.quick; // a failed (e) probe is repeated once on a fresh server before it counts
  return o;
}

// ---------------------------------------------------------------------------------------------------------------
// Child processes: every one in its own process group, tracked, killed on exit or signal

const children = new Map(); // pid -> { child, name }
let pidFile = null;
let stopping = false;

function writePidFile() {
  if (!pidFile) return;
  try { fs.writeFileSync(pidFile, [...children.keys()].map((p) => `${p}\n`).join('')); } catch { /* best effort */ }
}

function startChild(name, cmd, args, logPath, extraEnv = {}) {
  const log = fs.openSync(logPath, 'a');
  const child = spawn(cmd, args, {
    cwd: ROOT,
    detached: true, // own process group: Ctrl+C in the terminal reaches us, and we stop it in order
    stdio: ['ignore', log, log],
    env: { ...process.env, FASTWS_COMPARE_RUN: RUN_ID, ...extraEnv },
  });
  fs.closeSync(log);
  const exited = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      children.delete(child.pid);
      writePidFile();
      resolve({ code, signal });
    });
    child.on('error', (err) => {
      children.delete(child.pid);
      writePidFile();
      resolve({ code: null, signal: null, error: err });
    });
  });
  if (child.pid) {
    children.set(child.pid, { child, name });
    writePidFile();
  }
  return { child, pid: child.pid, exited, name };
}

function killGroup(pid, signal) {
  try { process.kill(-pid, signal); } catch { try { process.kill(pid, signal); } catch { /* gone */ } }
}

async function stopChild(proc, termWaitMs = 6000) {
  if (!proc || !children.has(proc.pid)) return;
  killGroup(proc.pid, 'SIGTERM');
  const t = await Promise.race([proc.exited.then(() => 'exited'), sleep(termWaitMs).then(() => 'timeout')]);
  if (t === 'timeout') {
    killGroup(proc.pid, 'SIGKILL');
    await Promise.race([proc.exited, sleep(3000)]);
  }
  // Anything left in the group (there should be nothing): kill it too.
  killGroup(proc.pid, 'SIGKILL');
}

function killAllNow() {
  for (const pid of children.keys()) killGroup(pid, 'SIGKILL');
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------------------------
// Ports

function tryListen(port) {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen({ port, host: '127.0.0.1', exclusive: true }, () => s.close(() => resolve(true)));
  });
}

const usedPorts = new Set();
async function freePorts(n) {
  // Below the ephemeral range (ip_local_port_range starts at 32768 here), so the load tool's 10,000+ client
  // sockets never compete with the listen ports; each server start gets fresh ones.
  const ports = [];
  for (let attempt = 0; ports.length < n && attempt < 500; attempt++) {
    const p = 20000 + Math.floor(Math.random() * 12000);
    if (usedPorts.has(p) || ports.includes(p)) continue;
    if (await tryListen(p)) ports.push(p);
  }
  if (ports.length < n) throw new Error('no free port found');
  ports.forEach((p) => usedPorts.add(p));
  return ports;
}

function canConnect(port) {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1' });
    const done = (ok) => { s.destroy(); resolve(ok); };
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
    s.setTimeout(1000, () => done(false));
  });
}

/** The inode of the socket listening on 127.0.0.1:port (from /proc/net/tcp), or null. */
function listenInode(port) {
  try {
    const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
    for (const line of fs.readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length > 9 && f[1].endsWith(`:${hexPort}`) && f[3] === '0A') return f[9];
    }
  } catch { /* not Linux */ }
  return null;
}

function pidOwnsInode(pid, inode) {
  try {
    for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
      try { if (fs.readlinkSync(`/proc/${pid}/fd/${fd}`) === `socket:[${inode}]`) return true; } catch { /* closed */ }
    }
  } catch { /* gone */ }
  return false;
}

function procField(pid, field) {
  try {
    const line = fs.readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith(`${field}:`));
    return line ? line.slice(field.length + 1).trim() : null;
  } catch { return null; }
}

// ---------------------------------------------------------------------------------------------------------------
// One server instance

async function startServer(key, dir, ctx, auth = false, deflate = false) {
  if (stopping) throw new Error('interrupted');
  const def = SERVERS[key];
  const ports = await freePorts(def.ports);
  const [cmd, args] = def.cmd(ports, { tls: ctx.tls, auth: auth ? ctx.auth : null, deflate });
  const full = ctx.pin ? ['taskset', ['-c', '0', cmd, ...args]] : [cmd, args];
  fs.mkdirSync(dir, { recursive: true });
  const logPath = path.join(dir, 'server.log');
  fs.appendFileSync(logPath, `# ${[full[0], ...full[1]].join(' ')}\n`);
  const proc = startChild(key, full[0], full[1], logPath);
  if (!proc.pid) throw new Error(`could not start ${key}: ${cmd} not found?`);
  let exitedEarly = null;
  proc.exited.then((r) => { exitedEarly = r; });
  const deadline = Date.now() + 30000;
  while (Date.now() < deadline) {
    if (exitedEarly) break;
    if (await canConnect(ports[0])) {
      // The PID we hand to --server-pid must be the server itself (taskset execs it, and `dotnet x.dll` runs in
      // the same process): check that it is the one holding the listening socket and that it is pinned.
      const inode = listenInode(ports[0]);
      const owns = inode ? pidOwnsInode(proc.pid, inode) : true;
      if (!owns) {
        await stopChild(proc);
        throw new Error(`${key}: PID ${proc.pid} does not own the socket listening on port ${ports[0]}`);
      }
      const cpus = procField(proc.pid, 'Cpus_allowed_list');
      if (ctx.pin && cpus !== '0') {
        await stopChild(proc);
        throw new Error(`${key}: PID ${proc.pid} is not pinned to CPU 0 (Cpus_allowed_list ${cpus})`);
      }
      // Let start-up work (JIT, first GCs, module loading) finish before the tool takes its 'before' readings.
      await sleep(1000);
      return { key, proc, pid: proc.pid, port: ports[0], url: `${ctx.tls ? 'wss' : 'ws'}://127.0.0.1:${ports[0]}/ws`, cpus, logPath };
    }
    await sleep(100);
  }
  await stopChild(proc);
  const tail = readTail(logPath, 1500);
  throw new Error(`${key} did not accept on port ${ports[0]} within 30 s${exitedEarly ? ` (exited: ${JSON.stringify(exitedEarly)})` : ''}\n${tail}`);
}

function readTail(file, n) {
  try { const s = fs.readFileSync(file, 'utf8'); return s.slice(-n); } catch { return ''; }
}

function serverAlive(server) {
  return children.has(server.pid);
}

// ---------------------------------------------------------------------------------------------------------------
// One load-tool run

async function runLoad(server, scenarioArgs, dir, maxRunTime, ctx) {
  fs.mkdirSync(dir, { recursive: true });
  const args = [...scenarioArgs, '--url', server.url, '--server-pid', String(server.pid), '--report', dir,
    '--max-run-time', String(Math.ceil(maxRunTime)), ...(ctx.tls ? ['--ca', ctx.tls.cert] : [])];
  const full = ctx.pin ? ['taskset', ['-c', '1', LOADGEN, ...args]] : [LOADGEN, args];
  const logPath = path.join(dir, 'loadgen.log');
  fs.rmSync(path.join(dir, 'summary.json'), { force: true }); // never read a stale one
  fs.writeFileSync(logPath, `# ${[full[0], ...full[1]].join(' ')}\n`);
  const started = Date.now();
  const proc = startChild('loadgen', full[0], full[1], logPath);
  ctx.currentLoad = proc;
  // The tool bounds itself (--max-run-time, then a hard exit 30 s later); this is the last resort.
  const timer = setTimeout(() => stopChild(proc, 3000), (maxRunTime + 45) * 1000);
  const r = await proc.exited;
  clearTimeout(timer);
  ctx.currentLoad = null;
  let summary = null;
  try { summary = JSON.parse(fs.readFileSync(path.join(dir, 'summary.json'), 'utf8')); } catch { /* none */ }
  return { exit: r.code, signal: r.signal, summary, seconds: (Date.now() - started) / 1000, logPath };
}

const metric = (summary, key) => {
  const m = summary?.metrics?.[key];
  return m && typeof m.value === 'number' ? m.value : null;
};

function fanoutArgs(w, o, rate, duration, warmup) {
  return ['fanout', '--subscribers', String(w.subscribers), '--channels', String(w.channels), '--rate', String(rate),
    '--duration', String(duration), '--warmup', String(warmup), '--grace', String(o.grace), '--no-progress',
    ...(w.deflate ? ['--deflate', '--payload-kind', 'price'] : [])];
}

/** The numbers one table row needs, from a fanout summary. */
function fanoutRow(run, server) {
  const s = run.summary;
  const notes = [];
  if (!s) notes.push(`no summary.json (load tool exit ${run.exit}${run.signal ? `, ${run.signal}` : ''}; see ${rel(run.logPath)})`);
  if (s?.partial) notes.push(`partial: ${s.stopReason}`);
  if (s?.fatalError) notes.push(`fatal: ${s.fatalError}`);
  for (const e of s?.errors ?? []) notes.push(`${e.count}× ${e.kind}`);
  for (const w of s?.warnings ?? []) notes.push(`tool: ${w}`);
  const publishRate = metric(s, 'publish_rate');
  const target = Number(s?.settings?.['rate (msgs/s published)']);
  if (publishRate !== null && target > 0 && publishRate < E_MIN_PUBLISH_SHARE * target) {
    notes.push(`publisher reached ${fmtInt(publishRate)}/s of ${fmtInt(target)}/s`);
  }
  const lag = metric(s, 'publisher_max_lag_ms');
  if (lag !== null && lag >= 20) notes.push(`publisher fell ${fmtMs(lag)} ms behind schedule once (server push-back or a machine stall)`);
  if (server && !serverAlive(server)) notes.push('server exited during the run');
  return {
    ok: !!s && !s.fatalError,
    delivered: metric(s, 'rate'),
    ratio: metric(s, 'ratio'),
    received: metric(s, 'received'),
    expected: metric(s, 'expected'),
    publishRate,
    targetRate: target || null,
    p50: metric(s, 'p50'),
    p99: metric(s, 'p99'),
    p999: metric(s, 'p999'),
    max: metric(s, 'max'),
    cpuPer1k: metric(s, 'server_cpu_us_per_1k'),
    userPer1k: metric(s, 'server_user_us_per_1k'),
    sysPer1k: metric(s, 'server_sys_us_per_1k'),
    serverCpuPct: metric(s, 'server_cpu_pct'),
    rss: metric(s, 'server_rss_peak'),
    toolCpu: metric(s, 'tool_cpu_pct'),
    toolCpuPeak: metric(s, 'tool_cpu_peak_pct'),
    errors: metric(s, 'errors'),
    lagMs: metric(s, 'publisher_max_lag_ms'),
    wireBytes: metric(s, 'wire_bytes_per_delivery'),
    deflated: metric(s, 'deflate_negotiated'),
    subscribers: metric(s, 'subscribers'),
    notes,
    dir: run.summary ? path.dirname(run.logPath) : null,
  };
}

function connectRow(run, server, o) {
  const s = run.summary;
  const notes = [];
  if (!s) notes.push(`no summary.json (load tool exit ${run.exit}; see ${rel(run.logPath)})`);
  if (s?.partial) notes.push(`partial: ${s.stopReason}`);
  if (s?.fatalError) notes.push(`fatal: ${s.fatalError}`);
  for (const e of s?.errors ?? []) notes.push(`${e.count}× ${e.kind}`);
  for (const w of s?.warnings ?? []) notes.push(`tool: ${w}`);
  const opened = metric(s, 'connections');
  const alive = metric(s, 'alive_after_hold');
  if (opened !== null && opened < o.connections) notes.push(`${fmtInt(opened)} of ${fmtInt(o.connections)} opened`);
  if (alive !== null && opened !== null && alive < opened) notes.push(`${fmtInt(opened - alive)} lost while idle`);
  const cpuHs = metric(s, 'server_cpu_us_per_handshake');
  if (cpuHs !== null) notes.push(`server CPU ${fmtNum(cpuHs, 0)} µs/handshake`);
  const up99 = metric(s, 'upgrade_p99');
  if (up99 !== null) notes.push(`upgrade p99 ${fmtMs(up99)} ms`);
  if (server && !serverAlive(server)) notes.push('server exited during the run');
  return {
    ok: !!s && !s.fatalError,
    connections: opened,
    alive,
    memPerConn: metric(s, 'mem_per_conn'),
    handshakes: metric(s, 'handshakes'),
    rss: metric(s, 'server_rss_after'),
    rssBefore: metric(s, 'server_rss_before'),
    toolCpu: metric(s, 'tool_cpu_ramp_pct'),
    cpuPerHs: metric(s, 'server_cpu_us_per_handshake'),
    userPerHs: metric(s, 'server_user_us_per_handshake'),
    sysPerHs: metric(s, 'server_sys_us_per_handshake'),
    upgradeP99: metric(s, 'upgrade_p99'),
    notes,
  };
}

/** The numbers the conflation table needs, from a conflation summary. */
function conflationRow(run, server) {
  const s = run.summary;
  const notes = [];
  if (!s) notes.push(`no summary.json (load tool exit ${run.exit}; see ${rel(run.logPath)})`);
  if (s?.partial) notes.push(`partial: ${s.stopReason}`);
  if (s?.fatalError) notes.push(`fatal: ${s.fatalError}`);
  for (const e of s?.errors ?? []) notes.push(`${e.count}× ${e.kind}`);
  for (const w of s?.warnings ?? []) notes.push(`tool: ${w}`);
  const publishRate = metric(s, 'publish_rate');
  const target = Number(s?.settings?.['rate (slab updates/s published)']);
  if (publishRate !== null && target > 0 && publishRate < E_MIN_PUBLISH_SHARE * target) {
    notes.push(`publisher reached ${fmtInt(publishRate)}/s of ${fmtInt(target)}/s`);
  }
  const lag = metric(s, 'publisher_max_lag_ms');
  if (lag !== null && lag >= 20) notes.push(`publisher fell ${fmtMs(lag)} ms behind schedule once (server push-back or a machine stall)`);
  if (server && !serverAlive(server)) notes.push('server exited during the run');
  return {
    ok: !!s && !s.fatalError,
    publishRate,
    targetRate: target || null,
    delivered: metric(s, 'rate'),
    conflationRatio: metric(s, 'conflation_ratio'),
    perSubscription: metric(s, 'per_subscription_rate'),
    cpuPer1kPublished: metric(s, 'server_cpu_us_per_1k_published'),
    cpuPer1k: metric(s, 'server_cpu_us_per_1k'),
    userPer1k: metric(s, 'server_user_us_per_1k'),
    sysPer1k: metric(s, 'server_sys_us_per_1k'),
    serverCpuPct: metric(s, 'server_cpu_pct'),
    rss: metric(s, 'server_rss_peak'),
    workingSet: metric(s, 'stats_working_set'),
    waitingMax: metric(s, 'conflated_waiting_max'),
    statsConflated: metric(s, 'stats_conflated'),
    p50: metric(s, 'probe_p50'),
    p99: metric(s, 'probe_p99'),
    probeMax: metric(s, 'probe_max'),
    probeRatio: metric(s, 'probe_ratio'),
    conflatedP50: metric(s, 'conflated_p50'),
    conflatedP99: metric(s, 'conflated_p99'),
    backwards: metric(s, 'backwards'),
    repeats: metric(s, 'repeats'),
    staleAtEnd: metric(s, 'stale_at_end'),
    toolCpu: metric(s, 'tool_cpu_pct'),
    errors: metric(s, 'errors'),
    lagMs: lag,
    notes,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Repeated runs: the median of each number (the machine is shared; one run can hit a busy spell)

function median(values) {
  const v = values.filter((x) => x !== null && x !== undefined && Number.isFinite(x)).sort((x, y) => x - y);
  if (v.length === 0) return null;
  const mid = Math.floor(v.length / 2);
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

/** One row from several runs of the same workload: medians, except the worst delivery ratio and the longest stall. */
function combineRuns(runs) {
  const ok = runs.filter((r) => !r.failed);
  if (ok.length === 0) return runs[runs.length - 1];
  const row = { ...ok[0], runs: runs.length };
  for (const k of Object.keys(ok[0])) {
    if (typeof ok[0][k] === 'number' && k !== 'pid') row[k] = median(ok.map((r) => r[k]));
  }
  const worst = (k, pick) => { const v = ok.map((r) => r[k]).filter((x) => x !== null && x !== undefined); row[k] = v.length ? pick(...v) : null; };
  worst('ratio', Math.min);
  worst('lagMs', Math.max);
  worst('errors', Math.max);
  if (ok[0].backwards !== undefined) for (const k of ['backwards', 'repeats', 'staleAtEnd']) worst(k, Math.max);
  const received = ok.map((r) => r.received), expected = ok.map((r) => r.expected);
  const lossy = ok.findIndex((r) => r.received !== null && r.expected !== null && r.received < r.expected);
  if (lossy >= 0) { row.received = received[lossy]; row.expected = expected[lossy]; }
  row.cpuRange = [Math.min(...ok.map((r) => r.cpuPer1k ?? Infinity)), Math.max(...ok.map((r) => r.cpuPer1k ?? -Infinity))];
  row.p99Range = [Math.min(...ok.map((r) => r.p99 ?? Infinity)), Math.max(...ok.map((r) => r.p99 ?? -Infinity))];
  if (ok[0].handshakes !== undefined) {
    row.handshakesRange = [Math.min(...ok.map((r) => r.handshakes ?? Infinity)), Math.max(...ok.map((r) => r.handshakes ?? -Infinity))];
    row.cpuPerHsRange = [Math.min(...ok.map((r) => r.cpuPerHs ?? Infinity)), Math.max(...ok.map((r) => r.cpuPerHs ?? -Infinity))];
  }
  row.notes = [...new Set(runs.flatMap((r, i) => (r.failed ? [`run ${i + 1} failed: ${r.error}`] : (r.notes ?? []).map((n) => `run ${i + 1}: ${n}`))))];
  if (ok.length < runs.length) row.notes.unshift(`${runs.length - ok.length} of ${runs.length} runs failed`);
  return row;
}

// ---------------------------------------------------------------------------------------------------------------
// Workloads

async function runFixed(key, wk, o, ctx, rep = 1) {
  const w = WORKLOADS[wk];
  const dir = o.repeat > 1 ? path.join(ctx.resultsDir, key, wk, `run${rep}`) : path.join(ctx.resultsDir, key, wk);
  const server = await startServer(key, dir, ctx, w.token !== undefined, w.deflate === true);
  try {
    if (w.kind === 'fanout') {
      const args = fanoutArgs(w, o, w.rate, o.duration, o.warmup);
      const run = await runLoad(server, args, dir, o.warmup + o.duration + o.grace + 120, ctx);
      return { ...fanoutRow(run, server), pid: server.pid, cpus: server.cpus };
    }
    if (w.kind === 'conflation') {
      const args = ['conflation', '--subscribers', String(w.subscribers), '--slabs', String(w.slabs), '--slabs-per-subscriber', String(w.perSubscriber),
        '--rate', String(w.rate), '--probes', String(w.probes), '--probe-every', String(w.probeEvery),
        '--duration', String(o.duration), '--warmup', String(o.warmup), '--grace', String(o.grace), '--no-progress'];
      const run = await runLoad(server, args, dir, o.warmup + o.duration + o.grace + 120, ctx);
      return { ...conflationRow(run, server), pid: server.pid, cpus: server.cpus };
    }
    const args = ['connect', '--connections', String(o.connections), '--channels', '1', '--hold', String(o.hold),
      '--duration', '60', '--no-progress'];
    if (w.token === 'hs256') args.push('--mint-token', 'hs256', '--mint-secret', ctx.auth.secret, '--token-in', 'header');
    if (w.token === 'es256') args.push('--mint-token', 'es256', '--mint-key', ctx.auth.privateKey, '--token-in', 'header');
    const run = await runLoad(server, args, dir, 60 + o.hold + 2 + 120, ctx);
    return { ...connectRow(run, server, o), pid: server.pid, cpus: server.cpus };
  } finally {
    await stopChild(server.proc);
  }
}

function judgeProbe(row) {
  const why = [];
  if (!row.ok) why.push('no result');
  if (row.received === null || row.expected === null || row.expected === 0 || row.received < row.expected) {
    why.push(`ratio ${row.ratio === null ? '-' : row.ratio.toFixed(4)}`);
  }
  if (row.p99 === null || !(row.p99 < E_P99_MS)) why.push(`p99 ${row.p99 === null ? '-' : fmtMs(row.p99)} ms`);
  if (row.publishRate === null || row.targetRate === null || row.publishRate < E_MIN_PUBLISH_SHARE * row.targetRate) {
    why.push(`published ${row.publishRate === null ? '-' : fmtInt(row.publishRate)}/s`);
  }
  if (row.errors) why.push(`${row.errors} error(s)`);
  return why;
}

const niceRate = (r) => {
  // 2-3 significant digits, so the table reads 27,000 rather than 26,833.
  const mag = 10 ** Math.max(0, Math.floor(Math.log10(r)) - 1);
  return Math.max(100, Math.round(r / mag) * mag);
};

async function runSearch(key, o, ctx) {
  const w = WORKLOADS.e;
  const baseDir = path.join(ctx.resultsDir, key, 'e');
  const started = Date.now();
  const elapsed = () => (Date.now() - started) / 1000;
  const probeCost = o.probeWarmup + o.probeDuration + o.grace + 4;
  const probes = [];
  let server = null;
  let pass = null;
  let best = null;
  let fail = null;
  let firstFail = null;
  let budgetHit = false;

  const probe = async (rate, attempt) => {
    if (server && !serverAlive(server)) server = null;
    if (!server) server = await startServer(key, baseDir, ctx);
    const dir = path.join(baseDir, `rate-${rate}${attempt > 1 ? `-try${attempt}` : ''}`);
    const run = await runLoad(server, fanoutArgs(w, o, rate, o.probeDuration, o.probeWarmup), dir,
      o.probeWarmup + o.probeDuration + o.grace + 60, ctx);
    const row = fanoutRow(run, server);
    const why = judgeProbe(row);
    const p = { rate, attempt, pass: why.length === 0, why, row };
    if (stopping) { p.pass = false; p.interrupted = true; p.why = ['interrupted']; }
    probes.push(p);
    log(`    ${key} (e) ${fmtInt(rate)}/s${attempt > 1 ? ' (retry)' : ''}: ${p.pass ? 'pass' : `FAIL (${why.join(', ')})`}` +
      ` p99 ${fmtMs(row.p99)} ms, server CPU ${fmtNum(row.serverCpuPct, 0)}%, tool CPU ${fmtNum(row.toolCpu, 0)}%`);
    if (!p.pass) {
      // An overloaded server may still hold queues: start the next probe on a fresh one.
      await stopChild(server.proc);
      server = null;
    }
    return p;
  };

  try {
    ({ pass, best, fail, firstFail, budgetHit } = await searchMaxRate(o, probe, { probeCost, elapsed, stopped: () => stopping, floor: 200 }));
  } finally {
    if (server) await stopChild(server.proc);
  }

  const row = best ? { ...best.row } : { ok: probes.length > 0, notes: [] };
  row.notes = [...(best?.row.notes ?? [])];
  row.maxRate = pass;
  row.firstFail = fail;
  row.capped = pass !== null && fail === null && !budgetHit;
  row.budgetHit = budgetHit;
  row.probes = probes;
  row.searchSeconds = elapsed();
  row.failToolCpu = firstFail?.row.toolCpu ?? null;
  row.failServerCpu = firstFail?.row.serverCpuPct ?? null;
  if (fail !== null) row.notes.unshift(`lowest failing rate ${fmtInt(fail)}/s: ${firstFail.why.join(', ')}; server CPU there ${fmtNum(firstFail.row.serverCpuPct, 0)}%, tool CPU ${fmtNum(firstFail.row.toolCpu, 0)}%`);
  if (row.capped) row.notes.unshift(`passed the whole ladder (max ${fmtInt(o.ladder[o.ladder.length - 1])}/s): a lower bound`);
  if (budgetHit) row.notes.unshift(`search budget (${o.searchBudget} s) reached`);
  row.notes.push(`${probes.length} probe(s), ${Math.round(row.searchSeconds)} s`);
  return row;
}

// ---------------------------------------------------------------------------------------------------------------
// Formatting

const rel = (p) => {
  if (!p) return '';
  const r = path.relative(ROOT, p);
  return r === '' ? '.' : r.startsWith('..') ? p : r;
};
const dash = '–';
function fmtInt(v) { return v === null || v === undefined || !Number.isFinite(v) ? dash : Math.round(v).toLocaleString('en-US'); }
function fmtNum(v, d) { return v === null || v === undefined || !Number.isFinite(v) ? dash : v.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d }); }
function fmtMs(v) {
  if (v === null || v === undefined || !Number.isFinite(v)) return dash;
  if (v < 1) return v.toFixed(3);
  if (v < 10) return v.toFixed(2);
  if (v < 100) return v.toFixed(1);
  return v.toFixed(0);
}
function fmtBytes(v) {
  if (v === null || v === undefined || !Number.isFinite(v)) return dash;
  const a = Math.abs(v);
  if (a >= 1024 * 1024) return `${(v / 1024 / 1024).toFixed(1)} MiB`;
  if (a >= 1024) return `${(v / 1024).toFixed(2)} KiB`;
  return `${Math.round(v)} B`;
}
function fmtRatio(v) { return v === null || v === undefined || !Number.isFinite(v) ? dash : v.toFixed(4); }
function fmtPct(v) { return v === null || v === undefined || !Number.isFinite(v) ? dash : `${v.toFixed(0)}%`; }

function mdTable(header, rows, align) {
  const esc = (s) => String(s).replace(/\|/g, '\\|');
  const cells = [header, ...rows].map((r) => r.map(esc));
  const widths = header.map((_, i) => Math.max(3, ...cells.map((r) => [...r[i]].length)));
  const pad = (s, i) => {
    const n = widths[i] - [...s].length;
    return align[i] === 'r' ? ' '.repeat(n) + s : s + ' '.repeat(n);
  };
  const line = (r) => `| ${r.map(pad).join(' | ')} |`;
  const sep = `|${widths.map((w, i) => (align[i] === 'r' ? `${'-'.repeat(w + 1)}:` : `${'-'.repeat(w + 2)}`)).join('|')}|`;
  return [line(cells[0]), sep, ...cells.slice(1).map(line)].join('\n');
}

/** p99 with a dagger when the publisher stalled ≥ 50 ms in the window: the machine (or the server) stalled. */
const STALL_MS = 50;
function fmtP99(r) { return `${fmtMs(r.p99)}${r.lagMs !== null && r.lagMs !== undefined && r.lagMs >= STALL_MS ? ' †' : ''}`; }

/** The server's name in tables: over TLS, FastWs (wss) and uWS.js SSLApp. */
function serverLabel(key, o) {
  if (!o.tls) return SERVERS[key].label;
  return SERVERS[key].tlsLabel ?? `${SERVERS[key].label} (wss)`;
}

/** Issue 16: (d) with no token, HS256 and ES256 on FastWs: handshakes/s and server CPU per handshake. */
function tokensSection(results, o) {
  const wks = o.workloads.filter(isTokenWorkload);
  if (wks.length === 0) return '';
  const none = results.fastws?.['d-none'];
  const base = none && !none.failed ? none.handshakes : null;
  const range = (r, v, rg, f) => ((r.runs ?? 1) > 1 && rg && Number.isFinite(rg[0]) && Number.isFinite(rg[1]) ? `${f(v)} (${f(rg[0])}–${f(rg[1])})` : f(v));
  const rows = [];
  for (const wk of wks) {
    const r = results.fastws?.[wk];
    const token = { none: 'none', hs256: 'HS256, minted per connection, header', es256: 'ES256, minted per connection, header' }[WORKLOADS[wk].token];
    if (!r || r.failed) { rows.push([token, r ? 'failed' : dash, dash, dash, dash, dash, dash, dash]); continue; }
    rows.push([token, fmtInt(r.connections), range(r, r.handshakes, r.handshakesRange, fmtInt),
      base && r.handshakes ? (r.handshakes / base).toFixed(2) : dash, range(r, r.cpuPerHs, r.cpuPerHsRange, (v) => fmtNum(v, 0)),
      r.userPerHs === null || r.userPerHs === undefined ? dash : `${fmtNum(r.userPerHs, 0)} / ${fmtNum(r.sysPerHs, 0)}`,
      fmtMs(r.upgradeP99), fmtPct(r.toolCpu)]);
  }
  return mdTable(['token', 'connections', 'handshakes/s', 'vs no token', 'server CPU µs/handshake', 'user / kernel µs', 'upgrade p99 ms', 'tool CPU'],
    rows, ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r']);
}

/** Issue 17: FastWs's CPU per delivery with the bench namespace inline vs envelope, per fanout workload that both ran. */
function inlineSection(results, o) {
  if (!o.servers.includes('fastws') || !o.servers.includes('fastws-inline')) return '';
  const range = (r, v, rg, f) => ((r.runs ?? 1) > 1 && rg && Number.isFinite(rg[0]) && Number.isFinite(rg[1]) ? `${f(v)} (${f(rg[0])}–${f(rg[1])})` : f(v));
  const split = (r) => (r.userPer1k === null || r.userPer1k === undefined ? dash : `${fmtInt(r.userPer1k)} / ${fmtInt(r.sysPer1k)}`);
  const lossy = (r) => r.ratio !== null && r.received !== null && r.expected !== null && r.received < r.expected;
  const rows = [];
  for (const wk of o.workloads.filter((w) => WORKLOADS[w].kind === 'fanout')) {
    const e = results.fastws?.[wk];
    const i = results['fastws-inline']?.[wk];
    if (!e && !i) continue;
    const ok = (r) => r && !r.failed;
    const ratio = ok(e) && ok(i) && e.cpuPer1k && i.cpuPer1k ? i.cpuPer1k / e.cpuPer1k : null;
    let verdict = ratio === null ? 'n/a' : ratio <= INLINE_MAX_CPU_RATIO + 1e-9 ? 'PASS' : 'MISS';
    const caveat = ok(e) && lossy(e) ? 'envelope lost messages' : ok(i) && lossy(i) ? 'inline lost messages'
      : [e, i].some((r) => ok(r) && r.lagMs >= STALL_MS) ? 'stall †: re-run' : [e, i].some((r) => ok(r) && r.toolCpu >= 85) ? 'tool ≥ 85% of its core' : null;
    if (caveat && ratio !== null) verdict += ` (${caveat})`;
    const cell = (r, f) => (!r ? dash : r.failed ? 'failed' : f(r));
    rows.push([WORKLOADS[wk].title,
      cell(e, (r) => range(r, r.cpuPer1k, r.cpuRange, fmtInt)), cell(e, split),
      cell(i, (r) => range(r, r.cpuPer1k, r.cpuRange, fmtInt)), cell(i, split),
      ratio === null ? dash : ratio.toFixed(3), `≤ ${INLINE_MAX_CPU_RATIO.toFixed(2)}`, verdict,
      cell(e, (r) => fmtRatio(r.ratio)), cell(i, (r) => fmtRatio(r.ratio)), cell(e, fmtP99), cell(i, fmtP99)]);
  }
  if (rows.length === 0) return '';
  return mdTable(['workload', 'envelope CPU µs/1k', 'user / kernel', 'inline CPU µs/1k', 'user / kernel', 'inline ÷ envelope', 'goal', 'verdict',
    'ratio env.', 'ratio inl.', 'p99 env. ms', 'p99 inl. ms'], rows, ['l', 'r', 'r', 'r', 'r', 'r', 'l', 'l', 'r', 'r', 'r', 'r']);
}

/** Issue 20: the compressed workloads (f) and (g): every server's row with bytes on the wire, then the targets. */
function compressionSection(results, o) {
  const wks = o.workloads.filter(isDeflateWorkload);
  if (wks.length === 0) return '';
  const split = (r) => (r.userPer1k === null || r.userPer1k === undefined ? dash : `${fmtInt(r.userPer1k)} / ${fmtInt(r.sysPer1k)}`);
  const lossy = (r) => r && r.ratio !== null && r.received !== null && r.expected !== null && r.received < r.expected;
  const ok = (r) => r && !r.failed;
  const rows = [];
  const verdicts = [];
  for (const wk of wks) {
    for (const key of o.servers.filter((k) => SERVERS[k].deflate)) {
      const r = results[key]?.[wk];
      if (!r) continue;
      if (r.failed) { rows.push([WORKLOADS[wk].title, SERVERS[key].label, 'failed', ...Array(8).fill(dash)]); continue; }
      rows.push([WORKLOADS[wk].title, SERVERS[key].label, fmtRatio(r.ratio), fmtMs(r.p50), fmtP99(r), fmtInt(r.cpuPer1k), split(r),
        r.wireBytes === null || r.wireBytes === undefined ? dash : fmtInt(r.wireBytes),
        r.deflated === null || r.deflated === undefined ? dash : `${fmtInt(r.deflated)} / ${fmtInt(r.subscribers)}`, fmtPct(r.serverCpuPct), fmtPct(r.toolCpu)]);
    }
    const f = ok(results.fastws?.[wk]) ? results.fastws[wk] : null;
    const peers = ['uws', 'node-ws'].map((k) => [k, results[k]?.[wk]]).filter(([, r]) => ok(r));
    const better = peers.filter(([, r]) => r.cpuPer1k).sort((x, y) => x[1].cpuPer1k - y[1].cpuPer1k)[0];
    const cpu = f?.cpuPer1k && better ? f.cpuPer1k / better[1].cpuPer1k : null;
    const caveat = lossy(f) ? 'FastWs lost messages' : peers.some(([, r]) => lossy(r)) ? 'a peer lost messages'
      : [f, ...peers.map(([, r]) => r)].some((r) => r?.lagMs >= STALL_MS) ? 'stall †: re-run'
        : [f, ...peers.map(([, r]) => r)].some((r) => r?.toolCpu >= 85) ? 'tool ≥ 85% of its core' : null;
    const verdict = (v, pass) => (v === null ? 'n/a' : `${pass ? 'PASS' : 'MISS'}${caveat ? ` (${caveat})` : ''}`);
    verdicts.push([`CPU/1k msgs vs better peer`, wk, fmtInt(f?.cpuPer1k), better ? SERVERS[better[0]].label : dash, better ? fmtInt(better[1].cpuPer1k) : dash,
      cpu === null ? dash : cpu.toFixed(2), '≤ 0.33', verdict(cpu, cpu !== null && cpu <= DEFLATE_MAX_CPU_RATIO + 1e-9)]);
    for (const [k, r] of peers) {
      const p99 = f?.p99 && r.p99 ? f.p99 / r.p99 : null;
      verdicts.push([`p99 vs ${SERVERS[k].label}`, wk, f ? `${fmtMs(f.p99)} ms` : dash, SERVERS[k].label, `${fmtMs(r.p99)} ms`,
        p99 === null ? dash : p99.toFixed(2), '< 1', verdict(p99, p99 !== null && p99 < 1 && !lossy(f))]);
    }
  }
  return `${mdTable(['workload', 'server', 'ratio', 'p50 ms', 'p99 ms', 'CPU µs/1k msgs', 'user / kernel', 'wire bytes/delivery', 'deflate negotiated', 'server CPU', 'tool CPU'],
    rows, ['l', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'])}

${mdTable(['target', 'wl', 'FastWs', 'vs', 'value', 'ratio', 'goal', 'verdict'], verdicts, ['l', 'l', 'r', 'l', 'r', 'r', 'l', 'l'])}`;
}

/** Issue 20: write coalescing on (a): fastws-coalesce against uWS.js and FastWs without a write delay. */
function coalescingSection(results, o) {
  if (!o.servers.includes('fastws-coalesce') || !o.workloads.includes('a')) return '';
  const ok = (r) => r && !r.failed;
  const c = ok(results['fastws-coalesce']?.a) ? results['fastws-coalesce'].a : null;
  const u = ok(results.uws?.a) ? results.uws.a : null;
  const f = ok(results.fastws?.a) ? results.fastws.a : null;
  const lossy = (r) => r && r.ratio !== null && r.received !== null && r.expected !== null && r.received < r.expected;
  const caveat = lossy(c) ? 'coalescing lost messages' : [c, u, f].some((r) => r?.lagMs >= STALL_MS) ? 'stall †: re-run'
    : [c, u, f].some((r) => r?.toolCpu >= 85) ? 'tool ≥ 85% of its core' : null;
  const verdict = (v, pass) => (v === null ? 'n/a' : `${pass ? 'PASS' : 'MISS'}${caveat ? ` (${caveat})` : ''}`);
  const cpu = c?.cpuPer1k && u?.cpuPer1k ? c.cpuPer1k / u.cpuPer1k : null;
  const added = c?.p99 !== undefined && c?.p99 !== null && f?.p99 !== undefined && f?.p99 !== null ? c.p99 - f.p99 : null;
  const split = (r) => (!r || r.userPer1k === null || r.userPer1k === undefined ? dash : `${fmtInt(r.userPer1k)} / ${fmtInt(r.sysPer1k)}`);
  return mdTable(['target', 'wl', 'FastWs WriteDelay 2 ms', 'user / kernel', 'vs', 'value', 'user / kernel', 'ratio / difference', 'goal', 'verdict'], [
    ['CPU/1k msgs vs uWS.js', 'a', fmtInt(c?.cpuPer1k), split(c), 'uWS.js', fmtInt(u?.cpuPer1k), split(u), cpu === null ? dash : cpu.toFixed(2), '≤ 0.50',
      verdict(cpu, cpu !== null && cpu <= COALESCE_MAX_CPU_RATIO + 1e-9)],
    ['CPU/1k msgs vs FastWs without', 'a', fmtInt(c?.cpuPer1k), split(c), 'FastWs', fmtInt(f?.cpuPer1k), split(f),
      c?.cpuPer1k && f?.cpuPer1k ? (c.cpuPer1k / f.cpuPer1k).toFixed(2) : dash, '(reported)', dash],
    ['p99 vs FastWs without + 2 ms', 'a', c ? `${fmtMs(c.p99)} ms` : dash, dash, 'FastWs', f ? `${fmtMs(f.p99)} ms` : dash, dash,
      added === null ? dash : `${added >= 0 ? '+' : ''}${fmtMs(added)} ms`, `≤ +${COALESCE_MAX_P99_ADDED_MS} ms`,
      verdict(added, added !== null && added <= COALESCE_MAX_P99_ADDED_MS && !lossy(c))],
  ], ['l', 'l', 'r', 'r', 'l', 'r', 'r', 'r', 'l', 'l']);
}

/** Issue 17: the conflation workload on FastWs (price defaults). */
function conflationSection(results, o) {
  const wks = o.workloads.filter(isConflationWorkload);
  const rows = [];
  for (const wk of wks) {
    const r = results.fastws?.[wk];
    if (!r) continue;
    if (r.failed) { rows.push([WORKLOADS[wk].title, 'failed', ...Array(14).fill(dash)]); continue; }
    const range = (v, rg, f) => ((r.runs ?? 1) > 1 && rg && Number.isFinite(rg[0]) && Number.isFinite(rg[1]) ? `${f(v)} (${f(rg[0])}–${f(rg[1])})` : f(v));
    const broken = (r.backwards ?? 0) + (r.repeats ?? 0);
    let verdict = r.p99 === null || r.p99 === undefined ? 'n/a' : r.p99 < PROBE_P99_MS && broken === 0 && r.probeRatio === 1 ? 'PASS' : 'MISS';
    const why = [];
    if (broken > 0) why.push(`${fmtInt(broken)} value(s) backwards/repeated`);
    if (r.probeRatio !== null && r.probeRatio !== undefined && r.probeRatio < 1) why.push('probe updates lost');
    if (r.lagMs >= STALL_MS) why.push('stall †: re-run');
    if (why.length && verdict !== 'n/a') verdict += ` (${why.join(', ')})`;
    rows.push([WORKLOADS[wk].title, fmtInt(r.publishRate), fmtInt(r.delivered), r.conflationRatio === null || r.conflationRatio === undefined ? dash : r.conflationRatio.toFixed(4),
      fmtInt(r.cpuPer1kPublished), range(r.cpuPer1k, r.cpuRange, fmtInt), fmtPct(r.serverCpuPct), fmtBytes(r.rss),
      fmtInt(r.waitingMax), `${fmtMs(r.p50)} / ${range(r.p99, r.p99Range, fmtMs)}${r.lagMs !== null && r.lagMs !== undefined && r.lagMs >= STALL_MS ? ' †' : ''}`,
      `< ${PROBE_P99_MS}`, verdict, `${fmtMs(r.conflatedP50)} / ${fmtMs(r.conflatedP99)}`,
      `${fmtInt(r.backwards)} / ${fmtInt(r.repeats)} / ${fmtInt(r.staleAtEnd)}`, fmtPct(r.toolCpu)]);
  }
  if (rows.length === 0) return '';
  return mdTable(['workload', 'published/s', 'delivered/s', 'delivered ÷ unconflated', 'CPU µs/1k published', 'CPU µs/1k delivered', 'server CPU',
    'server RSS', 'conflatedWaiting max', 'probe p50 / p99 ms', 'goal ms', 'verdict', 'conflated p50 / p99 ms', 'backwards / repeats / stale', 'tool CPU'],
  rows, ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'l', 'l', 'r', 'r', 'r']);
}

function resultsTable(results, o) {
  const header = ['workload', 'server', 'delivered msgs/s', 'ratio', 'p50 ms', 'p99 ms', 'p99.9 ms', 'CPU µs/1k msgs',
    'user / kernel', 'server CPU', 'server RSS', 'mem/idle conn', 'handshakes/s', 'max sustained pub/s', 'tool CPU'];
  const align = ['l', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'];
  // Older summaries (before the load tool split user from kernel time) have no split: a dash.
  const split = (r) => (r.userPer1k === null || r.userPer1k === undefined ? dash : `${fmtInt(r.userPer1k)} / ${fmtInt(r.sysPer1k)}`);
  const rows = [];
  for (const wk of o.workloads.filter((w) => !isConflationWorkload(w))) {
    for (const key of o.servers) {
      const r = results[key]?.[wk];
      const name = serverLabel(key, o);
      if (!r) continue;
      if (r.failed) {
        rows.push([WORKLOADS[wk].title, name, 'failed', dash, dash, dash, dash, dash, dash, dash, dash, dash, dash, dash, dash]);
        continue;
      }
      if (WORKLOADS[wk].kind === 'connect') {
        rows.push([WORKLOADS[wk].title, name, dash, dash, dash, dash, dash, dash, dash, dash, fmtBytes(r.rss), fmtBytes(r.memPerConn),
          fmtInt(r.handshakes), dash, fmtPct(r.toolCpu)]);
      } else if (wk === 'e') {
        const maxRate = r.maxRate === null || r.maxRate === undefined ? (r.firstFail ? `< ${fmtInt(r.firstFail)}` : dash)
          : `${r.capped ? '≥ ' : ''}${fmtInt(r.maxRate)}`;
        rows.push([WORKLOADS[wk].title, name, fmtInt(r.delivered), fmtRatio(r.ratio), fmtMs(r.p50), fmtP99(r), fmtMs(r.p999),
          fmtInt(r.cpuPer1k), split(r), fmtPct(r.serverCpuPct), fmtBytes(r.rss), dash, dash, maxRate,
          `${fmtPct(r.toolCpu)}${r.failToolCpu !== null && r.failToolCpu !== undefined ? ` (${fmtPct(r.failToolCpu)} at fail)` : ''}`]);
      } else {
        // Over repeated runs: the median, and under it the range of the runs.
        const range = (v, [lo, hi], f) => (lo !== undefined && Number.isFinite(lo) && Number.isFinite(hi) && (r.runs ?? 1) > 1 ? `${v} (${f(lo)}–${f(hi)})` : v);
        rows.push([WORKLOADS[wk].title, name, fmtInt(r.delivered), fmtRatio(r.ratio), fmtMs(r.p50), range(fmtP99(r), r.p99Range ?? [], fmtMs), fmtMs(r.p999),
          range(fmtInt(r.cpuPer1k), r.cpuRange ?? [], fmtInt), split(r), fmtPct(r.serverCpuPct), fmtBytes(r.rss), dash, dash, dash, fmtPct(r.toolCpu)]);
      }
    }
  }
  return mdTable(header, rows, align);
}

function targets(results, o) {
  const get = (key, wk) => {
    const r = results[key]?.[wk];
    return r && !r.failed ? r : null;
  };
  const rows = [];
  const fmtR = (v) => (v === null || !Number.isFinite(v) ? dash : v >= 100 ? v.toFixed(0) : v.toFixed(2));
  const add = (target, wk, fastTxt, refName, refTxt, ratio, goalTxt, ok, caveat) => {
    let verdict = ratio === null ? 'n/a' : ok ? 'PASS' : 'MISS';
    if (caveat) verdict += ` (${caveat})`;
    rows.push([target, wk, fastTxt, refName, refTxt, fmtR(ratio), goalTxt, verdict]);
  };
  const lossy = (r) => r && r.ratio !== null && r.received !== null && r.expected !== null && r.received < r.expected;

  // Issue 16 (a) over wss: FastWs's CPU per delivery at most 1.5 × uWS.js SSLApp's. The issue-5 ratios are for ws://.
  for (const wk of o.tls ? ['a', 'b', 'c'] : []) {
    if (!o.workloads.includes(wk)) continue;
    const f = get('fastws', wk);
    const u = get('uws', wk);
    const ratio = f?.cpuPer1k && u?.cpuPer1k ? f.cpuPer1k / u.cpuPer1k : null;
    const tool = [f, u].some((r) => r?.toolCpu >= 85) ? 'tool ≥ 85% of its core' : null;
    add('wss CPU/1k msgs vs uWS.js SSLApp', wk, fmtInt(f?.cpuPer1k), 'uWS.js SSLApp', fmtInt(u?.cpuPer1k), ratio, `≤ ${TLS_MAX_CPU_RATIO}`,
      ratio !== null && ratio <= TLS_MAX_CPU_RATIO + 1e-9, lossy(f) ? 'FastWs lost messages' : lossy(u) ? 'uWS.js lost messages' : tool);
  }
  if (o.workloads.includes('d-none') && o.workloads.includes('d-es256')) {
    const n = get('fastws', 'd-none');
    const e = get('fastws', 'd-es256');
    const ratio = n?.handshakes && e?.handshakes ? e.handshakes / n.handshakes : null;
    add('ES256 handshakes/s vs no token', 'd', fmtInt(e?.handshakes), 'FastWs, no token', fmtInt(n?.handshakes), ratio, `≥ ${ES256_MIN_SHARE.toFixed(2)}`,
      ratio !== null && ratio >= ES256_MIN_SHARE, null);
  }
  for (const wk of o.tls ? [] : ['a', 'b', 'c']) {
    if (!o.workloads.includes(wk)) continue;
    const f = get('fastws', wk);
    for (const [ref, limit] of [['uws', 1 / 3], ['aspnetcore', 1 / 5]]) {
      const b = get(ref, wk);
      const ratio = f?.cpuPer1k && b?.cpuPer1k ? f.cpuPer1k / b.cpuPer1k : null;
      add(`CPU/1k msgs vs ${SERVERS[ref].label}`, wk, fmtInt(f?.cpuPer1k), SERVERS[ref].label, fmtInt(b?.cpuPer1k), ratio,
        `≤ ${limit === 1 / 3 ? '0.33' : '0.20'}`, ratio !== null && ratio <= limit + 1e-9, lossy(f) ? 'FastWs lost messages' : lossy(b) ? `${SERVERS[ref].label} lost messages` : null);
    }
    const bases = BASELINES.map((k) => [k, get(k, wk)]).filter(([, r]) => r?.p99 !== null && r?.p99 !== undefined);
    const bestBase = bases.sort((x, y) => x[1].p99 - y[1].p99)[0];
    const ratio = f?.p99 && bestBase ? f.p99 / bestBase[1].p99 : null;
    add('p99 vs best baseline', wk, f ? `${fmtMs(f.p99)} ms` : dash, bestBase ? SERVERS[bestBase[0]].label : dash,
      bestBase ? `${fmtMs(bestBase[1].p99)} ms` : dash, ratio, '< 1', ratio !== null && ratio < 1 && !lossy(f),
      lossy(f) ? 'FastWs lost messages' : bestBase && lossy(bestBase[1]) ? `${SERVERS[bestBase[0]].label} lost messages`
        : [f, ...bases.map(([, r]) => r)].some((r) => r?.lagMs >= STALL_MS) ? 'stall †: re-run'
          : bases.length < BASELINES.length && ratio !== null ? 'not all baselines ran' : null);
  }
  if (o.workloads.includes('e')) {
    const f = get('fastws', 'e');
    const bases = BASELINES.map((k) => [k, get(k, 'e')]).filter(([, r]) => r && r.maxRate !== undefined);
    const bestBase = bases.sort((x, y) => (y[1].maxRate ?? 0) - (x[1].maxRate ?? 0))[0];
    const fr = f?.maxRate ?? (f ? 0 : null);
    const br = bestBase ? bestBase[1].maxRate ?? 0 : null;
    const ratio = fr !== null && br ? fr / br : fr !== null && br === 0 && fr > 0 ? Infinity : null;
    const caveats = [];
    if (f?.capped && bestBase?.[1].capped) caveats.push('both hit the ladder top');
    if (bestBase && (f?.failToolCpu >= TOOL_BOUND_PCT || bestBase[1].failToolCpu >= TOOL_BOUND_PCT)) caveats.push('tool-bound?');
    add('(e) max sustained rate vs best baseline', 'e', fr === null ? dash : fmtInt(fr), bestBase ? SERVERS[bestBase[0]].label : dash,
      br === null ? dash : fmtInt(br), ratio, '> 1', ratio !== null && ratio > 1, caveats.join(', ') || null);
  }
  if (o.workloads.includes('d')) {
    const f = get('fastws', 'd');
    const u = get('uws', 'd');
    const ratio = f?.memPerConn && u?.memPerConn ? f.memPerConn / u.memPerConn : null;
    add('memory/idle conn vs uWS.js', 'd', fmtBytes(f?.memPerConn), 'uWS.js', fmtBytes(u?.memPerConn), ratio, '< 1',
      ratio !== null && ratio < 1, null);
    const bases = BASELINES.map((k) => [k, get(k, 'd')]).filter(([, r]) => r?.handshakes);
    const bestBase = bases.sort((x, y) => y[1].handshakes - x[1].handshakes)[0];
    const hr = f?.handshakes && bestBase ? f.handshakes / bestBase[1].handshakes : null;
    add('handshakes/s vs best baseline', 'd', fmtInt(f?.handshakes), bestBase ? SERVERS[bestBase[0]].label : dash,
      bestBase ? fmtInt(bestBase[1].handshakes) : dash, hr, '> 1', hr !== null && hr > 1, null);
  }
  return mdTable(['target', 'wl', 'FastWs', 'vs', 'value', 'ratio', 'goal', 'verdict'], rows, ['l', 'l', 'r', 'l', 'r', 'r', 'l', 'l']);
}

/** True when no target applies to the workloads run (for example f-conflation alone): the Targets section is left out. */
function targetsEmpty(results, o) {
  return targets(results, o).split('\n').length <= 2;
}

function probesSection(results, o) {
  if (!o.workloads.includes('e')) return '';
  const lines = [];
  for (const key of o.servers) {
    const r = results[key]?.e;
    if (!r || r.failed) continue;
    const seq = (r.probes ?? []).map((p) => `${fmtInt(p.rate)}${p.attempt > 1 ? '(retry)' : ''} ${p.pass ? '✓' : `✗ ${p.why.join('/')}`}`);
    lines.push(`- ${SERVERS[key].label}: ${seq.join(' → ')}`);
  }
  return lines.join('\n');
}

function notesSection(results, o) {
  const lines = [];
  for (const wk of o.workloads) {
    for (const key of o.servers) {
      const r = results[key]?.[wk];
      if (!r) continue;
      const notes = r.failed ? [r.error] : [...(r.notes ?? [])];
      if (wk === 'e' && r.failToolCpu >= TOOL_BOUND_PCT) {
        notes.unshift(`TOOL-BOUND? the load tool was at ${fmtPct(r.failToolCpu)} of its core (≥ ${TOOL_BOUND_PCT}%) at the lowest failing rate`);
      }
      if (notes.length) lines.push(`- ${wk} ${SERVERS[key].label}: ${notes.join('; ')}`);
    }
  }
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------------------------
// Machine

function sh(cmd, args) {
  try { return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim(); } catch { return null; }
}

function machineInfo() {
  const lscpu = sh('lscpu', []) ?? '';
  const model = (lscpu.match(/^Model name:\s*(.+)$/m) ?? [])[1] ?? os.cpus()[0]?.model ?? '?';
  const head = sh('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD']);
  const dirty = sh('git', ['-C', ROOT, 'status', '--porcelain', '--', 'src', 'perf/baselines', 'tools']);
  return {
    cpu: model.trim(),
    nproc: sh('nproc', []) ?? String(os.cpus().length),
    kernel: sh('uname', ['-r']) ?? os.release(),
    dotnet: sh('dotnet', ['--version']) ?? '?',
    node: process.version,
    git: head ? `${head}${dirty ? ' + uncommitted changes in src/perf/tools' : ''}` : '?',
    load: os.loadavg().map((x) => x.toFixed(2)).join(' '),
    mem: `${(os.totalmem() / 1024 ** 3).toFixed(1)} GiB`,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Main

function log(s) { process.stdout.write(`${s}\n`); }

/** --tls: a fresh self-signed P-256 certificate for 127.0.0.1/localhost in the results dir (or --cert/--key as given). */
function setupTls(o, ctx) {
  if (o.cert) return { cert: o.cert, key: o.key, generated: false };
  const dir = path.join(ctx.resultsDir, 'tls');
  fs.mkdirSync(dir, { recursive: true });
  const cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', key, '-out', cert, '-days', '7', '-subj', '/CN=fastws-compare',
    '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'], { encoding: 'utf8' });
  if (r.status !== 0) {
    log(`error: openssl could not make the test certificate (${r.error?.message ?? r.stderr?.trim()}); install openssl or pass --cert/--key`);
    return null;
  }
  log(`tls: self-signed P-256 certificate ${rel(cert)} (key ${rel(key)}), trusted by the load tool with --ca`);
  return { cert, key, generated: true };
}

/** Token workloads: an HS256 secret and an ES256 key pair (the load tool's keygen) in the results dir. */
function setupAuth(ctx) {
  const dir = path.join(ctx.resultsDir, 'keys');
  const r = spawnSync(LOADGEN, ['keygen', 'es256', '--out', dir, '--force'], { encoding: 'utf8' });
  if (r.status !== 0) {
    log(`error: FastWs.LoadGen keygen es256 failed: ${(r.stderr || r.stdout || '').trim()}`);
    return null;
  }
  // A throwaway test secret (it shows in the process list, as the load-tool README says): 64 hex characters.
  const secret = require('node:crypto').randomBytes(32).toString('hex');
  return { secret, publicKey: path.join(dir, 'pub.pem'), privateKey: path.join(dir, 'key.pem') };
}

function build(o, ctx) {
  const steps = [
    ['perf/baselines/install.sh', []],
    ['dotnet', ['build', '-c', 'Release', 'src/Server', '--nologo', '-v', 'quiet', '--disable-build-servers']],
    ['dotnet', ['build', '-c', 'Release', 'tools/FastWs.LoadGen', '--nologo', '-v', 'quiet', '--disable-build-servers']],
  ];
  for (const [cmd, args] of steps) {
    if (stopping) return false;
    log(`==> ${cmd} ${args.join(' ')}`);
    const r = spawnSync(cmd, args, { cwd: ROOT, stdio: 'inherit', env: { ...process.env, FASTWS_COMPARE_RUN: RUN_ID } });
    if (r.status !== 0) {
      log(`build step failed (${r.error?.message ?? `exit ${r.status}${r.signal ? `, ${r.signal}` : ''}`}): ${cmd} ${args.join(' ')}`);
      return false;
    }
  }
  return true;
}

function render(results, o, ctx, finished) {
  const m = ctx.machine;
  const when = ctx.startedAt.toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
  const minutes = (ctx.minutes ?? (Date.now() - ctx.startedAt.getTime()) / 60000).toFixed(1);
  const modeLine = o.quick
    ? `quick: (a)-(c) ${o.warmup} s warm-up + ${o.duration} s measured; (d) ${fmtInt(o.connections)} connections, ${o.hold} s hold; (e) ${o.probeWarmup}+${o.probeDuration} s probes, ladder ${o.ladder.map((r) => r / 1000 + 'k').join('/')}, bisect to ×${o.resolution}, ≤ ${o.searchBudget} s per server`
    : `full: (a)-(c) ${o.warmup} s warm-up + ${o.duration} s measured; (d) ${fmtInt(o.connections)} connections, ${o.hold} s hold; (e) ${o.probeWarmup}+${o.probeDuration} s probes, ladder ${o.ladder.map((r) => r / 1000 + 'k').join('/')}, bisect to ×${o.resolution}, failed probes retried once, ≤ ${o.searchBudget} s per server`;
  const repeatLine = (o.repeat ?? 1) > 1
    ? `\n- Repeats: each (a)-(d) cell is the median of ${o.repeat} runs, the servers taking turns run by run; the delivery ratio is the worst run's; CPU µs/1k and p99 show the range (min–max) of the runs under the median`
    : '';
  return `# FastWs vs baselines — ${when}${finished ? '' : ' (INTERRUPTED: partial results)'}

- Command: \`${ctx.cmdline}\`
- Machine: ${m.cpu}, nproc ${m.nproc}, ${m.mem} RAM, kernel ${m.kernel}, dotnet ${m.dotnet}, node ${m.node}; load average at start ${m.load}
- Code: ${m.git}
- Pinning: ${ctx.pin ? 'each server `taskset -c 0`, the load tool `taskset -c 1`' : 'NONE (fewer than 2 CPUs)'}; loopback only; payload 100 B; one fresh server process per workload
- Mode: ${modeLine}; took ${minutes} min${repeatLine}
- Raw results: \`${rel(ctx.resultsDir)}/<server>/<workload>/${(o.repeat ?? 1) > 1 ? 'run<N>/' : ''}summary.json\` (+ report.html, logs)${o.tls ? `
- TLS: wss:// on every run: FastWs (\`FastWs:WebSocket:Tls:CertificateFile/KeyFile\`, Kestrel's TLS on its socket transport) and uWS.js \`SSLApp\` with the same ${o.cert ? 'PEM certificate and key' : 'self-signed P-256 certificate (openssl, made for this run)'}; the load tool trusts it with \`--ca\` (TLS 1.2/1.3, no session resumption)` : ''}${o.workloads.some(isTokenWorkload) ? `
- Tokens: the d-* runs start FastWs with \`--FastWs:Auth:Jwt:HmacSecret=<64 hex chars>\` and \`--FastWs:Auth:Jwt:PublicKeyFiles:0=pub.pem\` (both, on every d-* run); the load tool sends no token, or mints one per connection before the ramp (\`--mint-token hs256|es256 --token-in header\`)` : ''}

${o.workloads.every(isConflationWorkload) ? '' : `## Results

${resultsTable(results, o)}

CPU µs/1k msgs = server CPU time (utime+stime from /proc) in the measured window per 1,000 delivered messages;
user / kernel = the same split into utime and stime (on loopback the kernel part includes the receiving side's TCP work).
Server RSS = peak in the window ((d): after the hold). mem/idle conn = (RSS after hold − RSS before ramp) / connections.
(e) row: the numbers of the highest passing probe (ratio 1.0, p99 < ${E_P99_MS} ms, publisher ≥ ${E_MIN_PUBLISH_SHARE * 100}% of its rate, no errors).
tool CPU = the load tool's own CPU, % of its one core (≥ 85% means it may be the bottleneck; for (e), ≥ ${TOOL_BOUND_PCT}% at the failing rate is flagged tool-bound?).
† = the publisher fell ≥ ${STALL_MS} ms behind its schedule in that run: a stall of the machine (or a server pushing back) that usually shows up in p99; compare such a row with care, or re-run it.

`}${inlineSection(results, o) ? `## Inline vs envelope (issue 17)

${inlineSection(results, o)}

Both run the same FastWs binary; \`fastws-inline\` adds \`--FastWs:Namespaces:bench:Format=Inline\`, so each delivery is the published object with \`"channel"\` and \`"seq"\` appended instead of \`{"type":"message","channel","seq","data"}\`. CPU µs/1k = server CPU per 1,000 delivered messages (median of the runs, their range in brackets); goal: inline ≤ ${INLINE_MAX_CPU_RATIO} × envelope.

` : ''}${conflationSection(results, o) ? `## Conflation (issue 17)

${conflationSection(results, o)}

FastWs's \`price\` defaults (inline, \`ConflationInterval\` 500 ms, snapshots). Each subscriber takes 10 slabs (subscriber i: slabs 10i … 10i+9 mod 1,000, so 10 subscribers per slab) and one of the 20 probe slabs. delivered ÷ unconflated = slab updates delivered ÷ (published × subscribers per slab). CPU µs/1k published and delivered = the server's CPU in the window per 1,000 updates published (slabs and probes) and per 1,000 delivered. conflatedWaiting max = the highest /ws/stats \`conflatedWaiting\`, read once a second. Probe latency = the first update after a quiet interval (each probe slab is updated once every 1.5 s), which must go out at once: goal p99 < ${PROBE_P99_MS} ms, no value backwards or repeated, every probe update delivered. Conflated latency includes up to the interval by design. backwards / repeats / stale = values older than or equal to the last one a subscriber had, and subscriptions that did not end with their slab's last value.

` : ''}${compressionSection(results, o) ? `## Compression (issue 20)

${compressionSection(results, o)}

Every server with permessage-deflate on: FastWs by default (each message compressed once, \`server_no_context_takeover\`, threshold 128 B), uWS.js \`compression: SHARED_COMPRESSOR\` with \`publish(..., compress = true)\`, Node ws \`perMessageDeflate: { serverNoContextTakeover: true, threshold: 128 }\` (compresses per socket). The load tool offers \`permessage-deflate; client_max_window_bits\` on every connection and inflates with System.IO.Compression; data = ~1 KB price objects (\`--payload-kind price\`). wire bytes/delivery = bytes the subscribers read ÷ data messages received (frames with headers; acks and pings included). deflate negotiated = subscribers whose upgrade accepted the offer. Goals: FastWs CPU/1k ≤ 1/3 of the better peer's, p99 below both.

` : ''}${coalescingSection(results, o) ? `## Write coalescing (issue 20)

${coalescingSection(results, o)}

\`fastws-coalesce\` is the same binary with \`--FastWs:Namespaces:bench:WriteDelay=${COALESCE_DELAY}\`: a subscriber's messages within 2 ms of the first go out in one write.

` : ''}${tokensSection(results, o) ? `## Handshakes with tokens (issue 16)

${tokensSection(results, o)}

Handshakes/s = connections opened ÷ ramp time, each with its subscribe ack; server CPU µs/handshake = the server's CPU in the ramp ÷ connections. Minting is not timed.

` : ''}${targetsEmpty(results, o) ? '' : `## Targets (${o.tls || (o.workloads.some(isTokenWorkload) && !o.workloads.some((w) => DEFAULT_WORKLOADS.includes(w))) ? 'issue 16' : o.workloads.some(isTokenWorkload) ? 'issues 5 and 16' : 'issue 5'})

${targets(results, o)}

`}${o.workloads.includes('e') ? `## (e) search probes (publishes/s)\n\n${probesSection(results, o)}\n\n` : ''}## Notes

${notesSection(results, o) || '- none'}
`;
}

async function main() {
  let o;
  try { o = parseArgs(process.argv.slice(2)); } catch (e) {
    process.stderr.write(`error: ${e.message}\n\n${usage()}`);
    process.exit(1);
  }
  if (o.render) {
    const saved = JSON.parse(fs.readFileSync(path.join(o.render, 'results.json'), 'utf8'));
    const ctxSaved = { ...saved, startedAt: new Date(saved.startedAt), resultsDir: saved.resultsDir ?? o.render };
    const md = render(saved.results, saved.options, ctxSaved, saved.finished ?? true);
    fs.writeFileSync(o.output, md);
    log(md);
    log(`written: ${rel(o.output)} (re-rendered from ${rel(path.join(o.render, 'results.json'))})`);
    return;
  }
  const stamp = new Date().toISOString().replace(/[:.]/g, '-').replace(/-\d+Z$/, 'Z');
  const ctx = {
    startedAt: new Date(),
    resultsDir: o.results ?? path.join(HERE, 'out', stamp),
    cmdline: process.env.FASTWS_COMPARE_CMDLINE || ['node', rel(__filename), ...process.argv.slice(2)].join(' '),
    // Needs 2 CPUs and taskset (util-linux); without them the run still works, unpinned, and says so.
    pin: os.availableParallelism() >= 2 && spawnSync('taskset', ['-c', '1', 'true']).status === 0,
    currentLoad: null,
  };
  fs.mkdirSync(ctx.resultsDir, { recursive: true });
  pidFile = process.env.FASTWS_COMPARE_PIDFILE || path.join(ctx.resultsDir, 'children.pids');
  writePidFile();

  const results = {};
  let finished = false;
  const writeOut = () => {
    const md = render(results, o, ctx, finished);
    fs.mkdirSync(path.dirname(o.output), { recursive: true });
    fs.writeFileSync(o.output, md);
    fs.writeFileSync(path.join(ctx.resultsDir, 'results.json'), JSON.stringify({
      options: o, machine: ctx.machine, tls: ctx.tls ?? null, cmdline: ctx.cmdline, startedAt: ctx.startedAt, pin: ctx.pin, finished,
      minutes: (Date.now() - ctx.startedAt.getTime()) / 60000, resultsDir: ctx.resultsDir, results,
    }, null, 2));
    return md;
  };

  let lastSignal = 0;
  const onSignal = (sig) => {
    const now = Date.now();
    if (stopping && now - lastSignal > 1500) {
      log(`\n${sig} again: killing everything now`);
      killAllNow();
      process.exit(130);
    }
    if (stopping) return; // the same Ctrl+C delivered twice (terminal + run.sh forwarding)
    stopping = true;
    lastSignal = now;
    log(`\n${sig}: stopping the load tool and the server, then writing the partial table (again to abort at once)`);
    if (ctx.currentLoad) killGroup(ctx.currentLoad.pid, 'SIGTERM');
    for (const [pid, c] of children) if (c.name !== 'loadgen') killGroup(pid, 'SIGTERM');
    setTimeout(() => { killAllNow(); }, 8000).unref();
  };
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGHUP', () => onSignal('SIGHUP'));
  process.on('exit', () => killAllNow());

  if (!o.skipBuild && !build(o, ctx)) {
    process.exit(stopping ? 130 : 1);
  }
  if (!fs.existsSync(LOADGEN)) { log(`error: ${rel(LOADGEN)} is missing (build tools/FastWs.LoadGen in Release)`); process.exit(1); }
  ctx.machine = machineInfo();
  if (o.tls) {
    ctx.tls = setupTls(o, ctx);
    if (!ctx.tls) process.exit(1);
  }
  if (o.workloads.some(isTokenWorkload)) {
    ctx.auth = setupAuth(ctx);
    if (!ctx.auth) process.exit(1);
  }
  const nofile = sh('bash', ['-c', 'ulimit -n']);
  if (o.workloads.includes('d') && nofile && nofile !== 'unlimited' && Number(nofile) < o.connections + 1000) {
    log(`warning: ulimit -n is ${nofile}; (d) needs more than ${o.connections} descriptors per process`);
  }

  log(`FastWs comparison: servers ${o.servers.join(',')}; workloads ${o.workloads.join(',')}; ${o.quick ? 'quick' : 'full'} mode`);
  log(`machine: ${ctx.machine.cpu}, nproc ${ctx.machine.nproc}, load average ${ctx.machine.load}${ctx.pin ? '' : '  (NOT PINNED: fewer than 2 CPUs)'}`);
  log(`raw results: ${rel(ctx.resultsDir)}`);

  // Workload-major order: the servers' runs of one workload follow each other, so a busy spell on the shared
  // machine tends to hit one workload for everybody rather than every workload of one server.
  for (const key of o.servers) results[key] = {};
  // With --repeat, the runs of one workload go round the servers in turn (a, b, c... then again), and each cell
  // is the median of its server's runs.
  const runsOf = {};
  const record = (key, wk, r, rounds) => {
    if (rounds === 1) { results[key][wk] = r; return; }
    const all = ((runsOf[key] ??= {})[wk] ??= []);
    all.push(r);
    results[key][wk] = combineRuns(all);
  };
  // The plan: workload-major as above; the token workloads (d-none, d-hs256, d-es256) form one group whose runs
  // take turns (none, hs256, es256, none, ...), so a busy spell hits the three alike. They run on FastWs only.
  const plan = [];
  const tokenWks = o.workloads.filter(isTokenWorkload);
  for (const wk of o.workloads) {
    if (isTokenWorkload(wk)) {
      if (wk !== tokenWks[0]) continue;
      for (let round = 1; round <= o.repeat; round++) for (const t of tokenWks) plan.push({ wk: t, round, rounds: o.repeat, key: 'fastws' });
      continue;
    }
    const rounds = WORKLOADS[wk].kind === 'search' ? 1 : o.repeat;
    const keys = isConflationWorkload(wk) ? ['fastws'] : isDeflateWorkload(wk) ? o.servers.filter((k) => SERVERS[k].deflate) : o.servers;
    for (let round = 1; round <= rounds; round++) for (const key of keys) plan.push({ wk, round, rounds, key });
  }
  outer:
  for (const { wk, round, rounds, key } of plan) {
    {
      if (stopping) break outer;
      const t0 = Date.now();
      log(`--> ${SERVERS[key].label} ${WORKLOADS[wk].title}${rounds > 1 ? ` (run ${round} of ${rounds})` : ''}`);
      try {
        const r = WORKLOADS[wk].kind === 'search' ? await runSearch(key, o, ctx) : await runFixed(key, wk, o, ctx, round);
        if (stopping) { r.notes = [...(r.notes ?? []), 'interrupted']; }
        record(key, wk, r, rounds);
        const secs = ((Date.now() - t0) / 1000).toFixed(0);
        if (isConflationWorkload(wk)) {
          log(`    ${fmtInt(r.publishRate)} published/s, ${fmtInt(r.delivered)} delivered/s (${r.conflationRatio === null || r.conflationRatio === undefined ? dash : r.conflationRatio.toFixed(4)} of unconflated), probe p99 ${fmtMs(r.p99)} ms, ${fmtInt(r.cpuPer1kPublished)} µs/1k published, backwards ${fmtInt(r.backwards)}, server CPU ${fmtPct(r.serverCpuPct)}, tool CPU ${fmtPct(r.toolCpu)} (${secs} s)`);
        } else if (WORKLOADS[wk].kind === 'connect') {
          log(`    ${fmtInt(r.connections)} conns, ${fmtInt(r.handshakes)} handshakes/s, ${fmtInt(r.cpuPerHs)} µs CPU/handshake, ${fmtBytes(r.memPerConn)}/conn, RSS ${fmtBytes(r.rss)}, tool CPU ${fmtPct(r.toolCpu)} (${secs} s)`);
        } else if (wk === 'e') {
          log(`    max sustained ${r.maxRate === null ? dash : fmtInt(r.maxRate)} pub/s${r.capped ? ' (ladder top)' : ''} (${secs} s)`);
        } else {
          log(`    ${fmtInt(r.delivered)} msgs/s, ratio ${fmtRatio(r.ratio)}, p50 ${fmtMs(r.p50)} / p99 ${fmtMs(r.p99)} / p99.9 ${fmtMs(r.p999)} ms, ${fmtInt(r.cpuPer1k)} µs/1k, server CPU ${fmtPct(r.serverCpuPct)}, tool CPU ${fmtPct(r.toolCpu)} (${secs} s)`);
        }
      } catch (e) {
        log(`    FAILED: ${e.message.split('\n')[0]}`);
        record(key, wk, { failed: true, error: e.message.split('\n').slice(0, 3).join(' / ') }, rounds);
      }
      if (!stopping) await sleep(500); // let TIME_WAIT / CPU settle between servers
    }
  }

  finished = !stopping;
  const md = writeOut();
  log('');
  log(md);
  log(`written: ${rel(o.output)} (raw: ${rel(ctx.resultsDir)})`);
  killAllNow();
  process.exit(stopping ? 130 : 0);
}

// Run as a script (run.sh), or required as a library by cluster.js (perf/compare/cluster.sh), which reuses the child
// process handling, the ports, the fanout row and the (e) probe rules.
if (require.main === module) {
  main().catch((e) => {
    process.stderr.write(`error: ${e.stack ?? e}\n`);
    killAllNow();
    process.exit(1);
  });
}

/**
 * The search for the highest passing publish rate, shared by (e) here and cluster.js's (h): climb `o.ladder` until a
 * rung fails; if even the first fails, walk down by halves (not below `floor`); then bisect geometrically between the
 * last pass and the first fail down to `o.resolution`. `probe(rate, attempt)` runs one probe and returns
 * `{ pass, interrupted }` (and whatever the caller keeps); a failed probe is retried once with `o.retryFails`. Stops
 * when `o.searchBudget` (s) would be exceeded by another probe or `stopped()` says so.
 */
async function searchMaxRate(o, probe, { probeCost, elapsed, stopped, floor }) {
  let pass = null, best = null, fail = null, firstFail = null, budgetHit = false, tested = 0;
  const test = async (rate) => {
    tested++;
    let p = await probe(rate, 1);
    if (!p.pass && o.retryFails && !stopped() && elapsed() + probeCost <= o.searchBudget) p = await probe(rate, 2);
    if (p.interrupted) return false; // neither a pass nor a fail
    if (p.pass) {
      if (pass === null || rate > pass) { pass = rate; best = p; }
    } else if (fail === null || rate < fail) {
      fail = rate; firstFail = p;
    }
    return p.pass;
  };
  for (const rate of o.ladder) {
    if (stopped()) break;
    if (tested > 0 && elapsed() + probeCost > o.searchBudget) { budgetHit = true; break; }
    if (!(await test(rate))) break;
  }
  // Even the lowest rung failed: walk down.
  while (pass === null && fail !== null && fail > floor && !stopped()) {
    if (elapsed() + probeCost > o.searchBudget) { budgetHit = true; break; }
    await test(niceRate(fail / 2));
  }
  // Bisect (geometrically) between the last pass and the first fail.
  while (pass !== null && fail !== null && fail / pass > o.resolution && !stopped()) {
    if (elapsed() + probeCost > o.searchBudget) { budgetHit = true; break; }
    let mid = niceRate(Math.sqrt(pass * fail));
    if (mid <= pass || mid >= fail) mid = Math.round((pass + fail) / 2);
    if (mid <= pass || mid >= fail) break;
    await test(mid);
  }
  return { pass, best, fail, firstFail, budgetHit };
}

module.exports = {
  ROOT, LOADGEN, RUN_ID, E_P99_MS, E_MIN_PUBLISH_SHARE, TOOL_BOUND_PCT, STALL_MS,
  startChild, stopChild, killGroup, killAllNow, children, sleep, freePorts, canConnect, listenInode, pidOwnsInode, procField,
  readTail, metric, fanoutRow, judgeProbe, niceRate, searchMaxRate, median, combineRuns, machineInfo, sh, log, rel, mdTable,
  fmtInt, fmtNum, fmtMs, fmtRatio, fmtPct, fmtBytes, dash,
  /** The file run.sh reads to kill leftovers: cluster.js sets it as main() does. */
  setPidFile(file) { pidFile = file; writePidFile(); },
};
