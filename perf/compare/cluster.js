#!/usr/bin/env node
'use strict';
// Several nodes on one Redis (issue 18): FastWs with its Redis broker against ASP.NET Core SignalR with its Redis
// backplane (perf/baselines/signalr), and one FastWs node alone as the single-node reference. Run it through
// perf/compare/cluster.sh (the run.sh wrapper: nothing it starts survives it). See perf/compare/README.md, "Several nodes".
//
// Every run starts a fresh redis-server and fresh nodes, all pinned to core 0 (taskset -c 0), and the load tool on
// core 1; subscribers go round robin over the nodes, the publisher to node 1, and CPU per delivery is summed over the
// nodes and redis-server (the tool's repeated --server-pid).

const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const c = require('./compare.js');

const HERE = __dirname;
const ROOT = c.ROOT;
const CALLER_CWD = process.env.FASTWS_COMPARE_CWD || process.cwd();
let FASTWS_DLL = path.join(ROOT, 'src/Server/bin/Release/net10.0/FastWs.Server.dll');
const SIGNALR_DLL = path.join(ROOT, 'perf/baselines/signalr/bin/Release/net10.0/FastWs.Baseline.SignalR.dll');

// The Redis every clustered run gets: no persistence (nothing on disk per publish), and the pub/sub output bound
// deploy/cluster.sh states too (a node further behind than this is disconnected by Redis).
const REDIS_ARGS = ['--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--client-output-buffer-limit', 'pubsub 32mb 8mb 60'];

const SERVERS = {
  // The single-node reference: the same binary, no broker, one process.
  fastws: { label: 'FastWs, 1 node', nodes: 1, redis: false, kind: 'fastws' },
  // Issue 18's cluster: two nodes with FastWs:Broker:Kind=Redis on one redis-server.
  'fastws-redis': { label: 'FastWs, 2 nodes + Redis', nodes: 2, redis: true, kind: 'fastws' },
  // One node with the Redis broker (every message through Redis, no second node): the Redis path's own cost,
  // apart from two nodes sharing a core.
  'fastws-redis-1': { label: 'FastWs, 1 node + Redis', nodes: 1, redis: true, kind: 'fastws' },
  // The anchor: SignalR with Microsoft.AspNetCore.SignalR.StackExchangeRedis, two nodes on one redis-server.
  'signalr-redis': { label: 'SignalR, 2 nodes + Redis', nodes: 2, redis: true, kind: 'signalr' },
};
const SERVER_ORDER = ['fastws', 'fastws-redis', 'fastws-redis-1', 'signalr-redis'];

const WORKLOADS = {
  a: { kind: 'fanout', subscribers: 100, channels: 1, rate: 1000, title: '(a) 100 subs, 1 ch, 1k pub/s' },
  c: { kind: 'fanout', subscribers: 1000, channels: 100, rate: 5000, title: '(c) 1k subs, 100 ch, 5k pub/s' },
  // The ceiling: (e)'s search (100 subscribers on one channel; full delivery, p99 < 10 ms, the publisher on schedule).
  h: { kind: 'search', subscribers: 100, channels: 1, title: '(h) max publishes/s @100 subs, p99<10ms' },
};
const WORKLOAD_ORDER = ['a', 'c', 'h'];

// Issue 18's targets.
const CROSS_NODE_MAX_EXTRA_P99_MS = 1;
const SIGNALR_MIN_RATIO = 5;

function usage() {
  return `Usage: perf/compare/cluster.sh [options]

Several nodes on one redis-server (issue 18): ${SERVER_ORDER.map((k) => `${k} (${SERVERS[k].label})`).join(', ')}.
Nodes and redis-server pinned to core 0, the load tool to core 1; subscribers round robin over the nodes, the
publisher on node 1; CPU per delivery summed over the nodes and redis-server.

Options:
  --servers LIST        comma-separated subset of: ${SERVER_ORDER.join(',')} (default: all but fastws-redis-1)
  --workloads LIST      comma-separated subset of: ${WORKLOAD_ORDER.join(',')} (default: all)
                        ${WORKLOAD_ORDER.map((w) => `${w}: ${WORKLOADS[w].title}`).join('\n                        ')}
  --quick               short runs and a coarse search: checks that everything works
  --duration N          measured seconds per run (default 20, quick 3)
  --warmup N            warm-up seconds per run (default 5, quick 1)
  --repeat N            runs of (a) and (c) per setup, the setups taking turns; medians (default 3, quick 1)
  --probe-duration N    measured seconds per (h) probe (default 5, quick 2)
  --search-budget N     seconds per setup for (h) (default 300, quick 90)
  --output FILE         Markdown table (default perf/compare/last-cluster-run.md)
  --results DIR         raw results (default perf/compare/out/<timestamp>-cluster)
  --skip-build          do not build the server, the SignalR anchor and the load tool
  --fastws-dll PATH     run this FastWs.Server.dll instead of this checkout's (e.g. another branch's Release build)
  --redis-core N        pin redis-server to core N instead of the nodes' core 0 (1: beside the load tool, as
                        Redis on a machine of its own leaves the nodes their core; default 0)
  --render DIR          re-render DIR/results.json and exit
`;
}

function parseArgs(argv) {
  const o = { quick: false, servers: SERVER_ORDER.filter((k) => k !== 'fastws-redis-1'), workloads: [...WORKLOAD_ORDER], duration: null, warmup: null, repeat: null,
    probeDuration: null, searchBudget: null, output: path.join(HERE, 'last-cluster-run.md'), results: null, skipBuild: false, render: null, redisCore: 0 };
  const num = (name, v) => { const n = Number(v); if (!(n > 0)) throw new Error(`${name} needs a positive number`); return n; };
  const list = (name, v, allowed) => {
    const items = (v ?? '').split(',').map((s) => s.trim().toLowerCase()).filter(Boolean);
    if (items.length === 0) throw new Error(`${name} needs a list`);
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
      case '--servers': o.servers = list(a, next(), SERVER_ORDER); break;
      case '--workloads': o.workloads = list(a, next(), WORKLOAD_ORDER); break;
      case '--duration': o.duration = num(a, next()); break;
      case '--warmup': o.warmup = Number(next()); if (!(o.warmup >= 0)) throw new Error('--warmup needs a number >= 0'); break;
      case '--repeat': o.repeat = Math.round(num(a, next())); break;
      case '--probe-duration': o.probeDuration = num(a, next()); break;
      case '--search-budget': o.searchBudget = num(a, next()); break;
      case '--output': o.output = path.resolve(CALLER_CWD, next() ?? ''); break;
      case '--results': o.results = path.resolve(CALLER_CWD, next() ?? ''); break;
      case '--skip-build': o.skipBuild = true; break;
      case '--fastws-dll': o.fastwsDll = path.resolve(CALLER_CWD, next() ?? ''); break;
      case '--redis-core': o.redisCore = Number(next()); if (![0, 1].includes(o.redisCore)) throw new Error('--redis-core needs 0 or 1'); break;
      case '--render': o.render = path.resolve(CALLER_CWD, next() ?? ''); break;
      case '-h': case '--help': process.stdout.write(usage()); process.exit(0); break;
      default: throw new Error(`unknown option ${a}`);
    }
  }
  o.duration ??= o.quick ? 3 : 20;
  o.warmup ??= o.quick ? 1 : 5;
  o.grace = o.quick ? 1 : 2;
  o.repeat ??= o.quick ? 1 : 3;
  o.probeDuration ??= o.quick ? 2 : 5;
  o.probeWarmup = o.quick ? 1 : 2;
  o.searchBudget ??= o.quick ? 90 : 300;
  // SignalR's ceiling is far below FastWs's, so the ladder starts low; the walk-down goes to 10/s.
  o.ladder = o.quick ? [500, 2000, 8000, 32000, 128000] : [500, 1000, 2000, 5000, 10000, 20000, 40000, 80000, 160000];
  o.resolution = o.quick ? 1.5 : 1.1;
  o.retryFails = !o.quick;
  return o;
}

// ---------------------------------------------------------------------------------------------------------------
// A cluster: redis-server (when the setup has one) and its nodes, each a child in its own process group

let stopping = false;

function httpStatus(port, urlPath) {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: urlPath, timeout: 1000 }, (res) => { res.resume(); resolve(res.statusCode); });
    req.on('error', () => resolve(null));
    req.on('timeout', () => { req.destroy(); resolve(null); });
  });
}

async function waitReady(name, proc, check, logPath) {
  let exited = null;
  proc.exited.then((r) => { exited = r; });
  const deadline = Date.now() + 30000;
  while (Date.now() < deadline && !exited && !stopping) {
    if (await check()) return;
    await c.sleep(100);
  }
  throw new Error(`${name} not ready within 30 s${exited ? ` (exited: ${JSON.stringify(exited)})` : ''}\n${c.readTail(logPath, 1500)}`);
}

function pinned(ctx, cmd, args, core) { return ctx.pin ? ['taskset', ['-c', String(core), cmd, ...args]] : [cmd, args]; }

function startProc(name, dir, ctx, cmd, args, core = 0) {
  const [full, fullArgs] = pinned(ctx, cmd, args, core);
  const logPath = path.join(dir, `${name}.log`);
  fs.appendFileSync(logPath, `# ${[full, ...fullArgs].join(' ')}\n`);
  const proc = c.startChild(name, full, fullArgs, logPath);
  if (!proc.pid) throw new Error(`could not start ${name}: ${cmd} not found?`);
  return { proc, logPath };
}

async function startCluster(key, dir, ctx) {
  if (stopping) throw new Error('interrupted');
  const def = SERVERS[key];
  fs.mkdirSync(dir, { recursive: true });
  const cluster = { key, procs: [], nodes: [], redis: null };
  try {
    if (def.redis) {
      const [port] = await c.freePorts(1);
      const { proc, logPath } = startProc('redis', dir, ctx, 'redis-server', ['--port', String(port), ...REDIS_ARGS], ctx.redisCore);
      cluster.procs.push(proc);
      await waitReady('redis-server', proc, () => c.canConnect(port), logPath);
      cluster.redis = { pid: proc.pid, port };
    }
    for (let i = 1; i <= def.nodes; i++) {
      const name = `node${i}`;
      if (def.kind === 'fastws') {
        const [ws, httpPort] = await c.freePorts(2);
        const args = [FASTWS_DLL, '--environment', 'LoadTest', `--FastWs:WebSocket:Port=${ws}`, `--FastWs:Http:Port=${httpPort}`];
        if (def.redis) args.push('--FastWs:Broker:Kind=Redis', `--FastWs:Broker:Redis:Configuration=127.0.0.1:${cluster.redis.port}`);
        const { proc, logPath } = startProc(name, dir, ctx, 'dotnet', args);
        cluster.procs.push(proc);
        // Ready: /readyz on the HTTP port (with a broker it also says whether the node reaches Redis).
        await waitReady(`FastWs ${name}`, proc, async () => (await httpStatus(httpPort, '/readyz')) === 200, logPath);
        cluster.nodes.push({ pid: proc.pid, url: `ws://127.0.0.1:${ws}/ws`, logPath });
      } else {
        const [port] = await c.freePorts(1);
        const args = [SIGNALR_DLL, '--port', String(port), ...(def.redis ? ['--redis', `127.0.0.1:${cluster.redis.port}`] : [])];
        const { proc, logPath } = startProc(name, dir, ctx, 'dotnet', args);
        cluster.procs.push(proc);
        await waitReady(`SignalR ${name}`, proc, () => c.canConnect(port), logPath);
        cluster.nodes.push({ pid: proc.pid, url: `ws://127.0.0.1:${port}/hub`, logPath });
      }
    }
    for (const p of cluster.procs) {
      const want = cluster.redis && p.pid === cluster.redis.pid ? String(ctx.redisCore) : '0';
      const cpus = c.procField(p.pid, 'Cpus_allowed_list');
      if (ctx.pin && cpus !== want) throw new Error(`${key}: PID ${p.pid} is not pinned to CPU ${want} (Cpus_allowed_list ${cpus})`);
    }
    // Start-up work (JIT, first GCs, the broker's connection) out of the 'before' readings.
    await c.sleep(1000);
    return cluster;
  } catch (e) {
    await stopCluster(cluster);
    throw e;
  }
}

async function stopCluster(cluster) {
  // Nodes first (they close their clients), Redis last.
  const nodes = cluster.procs.filter((p) => p.name !== 'redis');
  await Promise.all(nodes.map((p) => c.stopChild(p)));
  for (const p of cluster.procs.filter((q) => q.name === 'redis')) await c.stopChild(p);
}

const clusterAlive = (cluster) => cluster.procs.every((p) => c.children.has(p.pid));

// ---------------------------------------------------------------------------------------------------------------
// One load-tool run against a cluster

async function runLoad(cluster, scenarioArgs, dir, maxRunTime, ctx) {
  fs.mkdirSync(dir, { recursive: true });
  const def = SERVERS[cluster.key];
  const args = [...scenarioArgs, ...(def.kind === 'signalr' ? ['--protocol', 'signalr'] : [])];
  for (const n of cluster.nodes) args.push('--url', n.url);
  args.push('--publish-url', cluster.nodes[0].url);
  for (const n of cluster.nodes) args.push('--server-pid', String(n.pid));
  if (cluster.redis) args.push('--server-pid', String(cluster.redis.pid));
  args.push('--report', dir, '--max-run-time', String(Math.ceil(maxRunTime)));
  const full = ctx.pin ? ['taskset', ['-c', '1', c.LOADGEN, ...args]] : [c.LOADGEN, args];
  const logPath = path.join(dir, 'loadgen.log');
  fs.rmSync(path.join(dir, 'summary.json'), { force: true });
  fs.writeFileSync(logPath, `# ${[full[0], ...full[1]].join(' ')}\n`);
  const proc = c.startChild('loadgen', full[0], full[1], logPath);
  ctx.currentLoad = proc;
  const timer = setTimeout(() => c.stopChild(proc, 3000), (maxRunTime + 45) * 1000);
  const r = await proc.exited;
  clearTimeout(timer);
  ctx.currentLoad = null;
  let summary = null;
  try { summary = JSON.parse(fs.readFileSync(path.join(dir, 'summary.json'), 'utf8')); } catch { /* none */ }
  return { exit: r.code, signal: r.signal, summary, seconds: 0, logPath };
}

function fanoutArgs(w, o, rate, duration, warmup) {
  return ['fanout', '--subscribers', String(w.subscribers), '--channels', String(w.channels), '--rate', String(rate),
    '--duration', String(duration), '--warmup', String(warmup), '--grace', String(o.grace), '--no-progress'];
}

/** compare.js's fanout row, plus the CPU per 1,000 deliveries split into the nodes' and redis-server's. */
function clusterRow(run, cluster) {
  const row = c.fanoutRow(run, null);
  const s = run.summary;
  const per = (pid) => c.metric(s, `server_cpu_us_per_1k.${pid}`);
  if (cluster.nodes.length + (cluster.redis ? 1 : 0) > 1) {
    row.cpuNodes = cluster.nodes.map((n) => per(n.pid)).reduce((a, b) => (a === null || b === null ? null : a + b), 0);
    row.cpuRedis = cluster.redis ? per(cluster.redis.pid) : null;
    row.cpuPerNode = cluster.nodes.map((n) => per(n.pid));
  } else {
    row.cpuNodes = row.cpuPer1k;
    row.cpuRedis = null;
    row.cpuPerNode = [row.cpuPer1k];
  }
  row.subscribersPerNode = cluster.nodes.map((_, i) => c.metric(s, `subscribers_url${i + 1}`) ?? (cluster.nodes.length === 1 ? c.metric(s, 'subscribers') : null));
  if (!clusterAlive(cluster)) row.notes.push('a node or redis-server exited during the run');
  return row;
}

/**
 * A fresh cluster, then a short fanout through it that is not measured: SignalR's nodes compile their hub, group and
 * backplane paths on first use (tiered JIT), which put p99 at 40 ms even at 100 publishes/s in a cold 1 + 2 s probe;
 * FastWs warms itself up at start but gets the same run, so both are measured warm.
 */
async function startWarmCluster(key, dir, ctx, o) {
  const cluster = await startCluster(key, dir, ctx);
  try {
    const w = { subscribers: 20, channels: 1 };
    const warm = await runLoad(cluster, fanoutArgs(w, o, 200, o.quick ? 2 : 4, 0), path.join(dir, 'warm-up'), 60, ctx);
    if (!warm.summary) throw new Error(`the warm-up run wrote no summary (see ${c.rel(warm.logPath)})`);
    return cluster;
  } catch (e) {
    await stopCluster(cluster);
    throw e;
  }
}

async function runFixed(key, wk, o, ctx, rep) {
  const w = WORKLOADS[wk];
  const dir = o.repeat > 1 ? path.join(ctx.resultsDir, key, wk, `run${rep}`) : path.join(ctx.resultsDir, key, wk);
  const cluster = await startWarmCluster(key, dir, ctx, o);
  try {
    const run = await runLoad(cluster, fanoutArgs(w, o, w.rate, o.duration, o.warmup), dir, o.warmup + o.duration + o.grace + 120, ctx);
    return clusterRow(run, cluster);
  } finally {
    await stopCluster(cluster);
  }
}

/** compare.js's rounding to 2-3 significant digits, down to 10/s (SignalR's ceiling can be below compare.js's floor of 100). */
const niceRate = (r) => {
  const mag = 10 ** Math.max(0, Math.floor(Math.log10(r)) - 1);
  return Math.max(10, Math.round(r / mag) * mag);
};

/** compare.js's (e) search, on a cluster: climb the ladder, walk down if even its first rung fails, bisect. */
async function runSearch(key, o, ctx) {
  const w = WORKLOADS.h;
  const baseDir = path.join(ctx.resultsDir, key, 'h');
  const started = Date.now();
  const elapsed = () => (Date.now() - started) / 1000;
  const probeCost = o.probeWarmup + o.probeDuration + o.grace + 12;
  const probes = [];
  let cluster = null;
  let pass = null, best = null, fail = null, firstFail = null, budgetHit = false;

  const probe = async (rate, attempt) => {
    if (cluster && !clusterAlive(cluster)) { await stopCluster(cluster); cluster = null; }
    if (!cluster) cluster = await startWarmCluster(key, baseDir, ctx, o);
    const dir = path.join(baseDir, `rate-${rate}${attempt > 1 ? `-try${attempt}` : ''}`);
    const run = await runLoad(cluster, fanoutArgs(w, o, rate, o.probeDuration, o.probeWarmup), dir, o.probeWarmup + o.probeDuration + o.grace + 60, ctx);
    const row = clusterRow(run, cluster);
    const why = c.judgeProbe(row);
    const p = { rate, attempt, pass: why.length === 0, why, row };
    if (stopping) { p.pass = false; p.interrupted = true; p.why = ['interrupted']; }
    probes.push(p);
    c.log(`    ${key} (h) ${c.fmtInt(rate)}/s${attempt > 1 ? ' (retry)' : ''}: ${p.pass ? 'pass' : `FAIL (${why.join(', ')})`}` +
      ` p99 ${c.fmtMs(row.p99)} ms, server CPU ${c.fmtNum(row.serverCpuPct, 0)}%, tool CPU ${c.fmtNum(row.toolCpu, 0)}%`);
    if (!p.pass) { await stopCluster(cluster); cluster = null; } // fresh processes (and Redis) after an overload
    return p;
  };
  try {
    ({ pass, best, fail, firstFail, budgetHit } = await c.searchMaxRate(o, probe, { probeCost, elapsed, stopped: () => stopping, floor: 10 }));
  } finally {
    if (cluster) await stopCluster(cluster);
  }

  const row = best ? { ...best.row } : { ok: probes.length > 0, notes: [] };
  row.notes = [...(best?.row.notes ?? [])];
  Object.assign(row, { maxRate: pass, firstFail: fail, capped: pass !== null && fail === null && !budgetHit, budgetHit, probes: probes.map((p) => ({ rate: p.rate, attempt: p.attempt, pass: p.pass, why: p.why, p99: p.row.p99, serverCpuPct: p.row.serverCpuPct, toolCpu: p.row.toolCpu })) });
  row.failToolCpu = firstFail?.row.toolCpu ?? null;
  if (fail !== null) row.notes.unshift(`lowest failing rate ${c.fmtInt(fail)}/s: ${firstFail.why.join(', ')}; server CPU (all processes) there ${c.fmtNum(firstFail.row.serverCpuPct, 0)}%, tool CPU ${c.fmtNum(firstFail.row.toolCpu, 0)}%`);
  if (row.capped) row.notes.unshift(`passed the whole ladder (max ${c.fmtInt(o.ladder[o.ladder.length - 1])}/s): a lower bound`);
  if (budgetHit) row.notes.unshift(`search budget (${o.searchBudget} s) reached`);
  row.notes.push(`${probes.length} probe(s), ${Math.round(elapsed())} s`);
  return row;
}

// ---------------------------------------------------------------------------------------------------------------
// Rendering

function resultsTable(results, o) {
  const rows = [];
  for (const wk of o.workloads.filter((w) => WORKLOADS[w].kind === 'fanout')) {
    for (const key of o.servers) {
      const r = results[key]?.[wk];
      if (!r) continue;
      if (r.failed) { rows.push([WORKLOADS[wk].title, SERVERS[key].label, `FAILED: ${r.error}`, '', '', '', '', '', '', '', '', '']); continue; }
      rows.push([WORKLOADS[wk].title, SERVERS[key].label, c.fmtInt(r.delivered), c.fmtRatio(r.ratio), c.fmtMs(r.p50), c.fmtMs(r.p99), c.fmtMs(r.p999),
        c.fmtInt(r.cpuPer1k), (r.cpuPerNode ?? []).map(c.fmtInt).join(' + '), r.cpuRedis === null || r.cpuRedis === undefined ? c.dash : c.fmtInt(r.cpuRedis),
        (r.subscribersPerNode ?? []).map(c.fmtInt).join(' / '), c.fmtPct(r.toolCpu)]);
    }
  }
  for (const key of o.servers) {
    const r = results[key]?.h;
    if (!o.workloads.includes('h') || !r) continue;
    rows.push([WORKLOADS.h.title, SERVERS[key].label, r.failed ? `FAILED: ${r.error}` : `**${r.maxRate === null ? c.dash : c.fmtInt(r.maxRate)} pub/s**${r.capped ? ' (ladder top)' : ''}`,
      c.fmtRatio(r.ratio), c.fmtMs(r.p50), c.fmtMs(r.p99), c.fmtMs(r.p999), c.fmtInt(r.cpuPer1k), (r.cpuPerNode ?? []).map(c.fmtInt).join(' + '),
      r.cpuRedis === null || r.cpuRedis === undefined ? c.dash : c.fmtInt(r.cpuRedis), (r.subscribersPerNode ?? []).map(c.fmtInt).join(' / '), c.fmtPct(r.toolCpu)]);
  }
  return c.mdTable(['workload', 'setup', 'delivered msgs/s', 'ratio', 'p50 ms', 'p99 ms', 'p99.9 ms', 'CPU µs/1k msgs (all)', 'nodes µs/1k', 'redis µs/1k', 'subs per node', 'tool CPU'],
    rows, ['l', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r']);
}

function targetsTable(results, o) {
  const rows = [];
  const single = results.fastws?.a, cross = results['fastws-redis']?.a;
  if (o.workloads.includes('a') && single && cross && !single.failed && !cross.failed) {
    const extra = cross.p99 !== null && single.p99 !== null ? cross.p99 - single.p99 : null;
    const lossy = cross.received !== null && cross.expected !== null && cross.received < cross.expected;
    rows.push(['(a) cross-node p99 − single-node p99 (FastWs)', `${c.fmtMs(cross.p99)} − ${c.fmtMs(single.p99)} = ${extra === null ? c.dash : `${extra.toFixed(3)} ms`}`,
      `≤ ${CROSS_NODE_MAX_EXTRA_P99_MS} ms`, extra === null ? 'n/a' : lossy ? 'MISS (lost messages)' : extra <= CROSS_NODE_MAX_EXTRA_P99_MS ? 'PASS' : 'MISS']);
  } else if (o.workloads.includes('a')) {
    rows.push(['(a) cross-node p99 − single-node p99 (FastWs)', c.dash, `≤ ${CROSS_NODE_MAX_EXTRA_P99_MS} ms`, 'n/a']);
  }
  const f = results['fastws-redis']?.h, s = results['signalr-redis']?.h;
  if (o.workloads.includes('h')) {
    const ratio = f?.maxRate && s?.maxRate ? f.maxRate / s.maxRate : null;
    rows.push(['(h) FastWs ÷ SignalR sustained publishes/s, 2 nodes on the same Redis', ratio === null ? c.dash : `${c.fmtInt(f.maxRate)} ÷ ${c.fmtInt(s.maxRate)} = ${ratio.toFixed(1)}`,
      `≥ ${SIGNALR_MIN_RATIO}`, ratio === null ? 'n/a' : `${ratio >= SIGNALR_MIN_RATIO ? 'PASS' : 'MISS'}${f.capped ? ' (FastWs at the ladder top: a lower bound)' : ''}`]);
  }
  return c.mdTable(['target (issue 18)', 'measured', 'goal', 'verdict'], rows, ['l', 'r', 'l', 'l']);
}

function probesSection(results, o) {
  return o.servers.filter((k) => results[k]?.h?.probes).map((k) => `- ${SERVERS[k].label}: ${results[k].h.probes.map((p) =>
    `${c.fmtInt(p.rate)}${p.attempt > 1 ? ' (retry)' : ''} ${p.pass ? '✓' : `✗ ${p.why.join(', ')}`}`).join(' → ')}`).join('\n');
}

function notesSection(results, o) {
  const lines = [];
  for (const wk of o.workloads) {
    for (const key of o.servers) {
      const r = results[key]?.[wk];
      for (const n of r?.notes ?? []) lines.push(`- ${WORKLOADS[wk].title}, ${SERVERS[key].label}: ${n}`);
    }
  }
  return lines.length ? lines.join('\n') : '- none';
}

function render(results, o, ctx, finished) {
  const m = ctx.machine ?? {};
  return `# Several nodes on one Redis: FastWs vs SignalR (issue 18)${finished ? '' : ' — PARTIAL (interrupted)'}

- Command: \`${ctx.cmdline}\`
- Started ${new Date(ctx.startedAt).toISOString()}; machine: ${m.cpu ?? '?'}, nproc ${m.nproc ?? '?'}, kernel ${m.kernel ?? '?'}, .NET SDK ${m.dotnet ?? '?'}, git ${m.git ?? '?'}, load average at start ${m.load ?? '?'}
- Pinning: ${!ctx.pin ? 'NONE (fewer than 2 CPUs)' : ctx.redisCore === 1 ? 'every node `taskset -c 0` (they share one core), redis-server and the load tool `taskset -c 1`' : 'every node and redis-server `taskset -c 0` (they share one core), the load tool `taskset -c 1`'}; loopback only; payload 100 B; a fresh redis-server (no persistence, \`client-output-buffer-limit pubsub 32mb 8mb 60\`) and fresh nodes for every run
- Subscribers round robin over the nodes (\`--url\` repeated), the publisher on node 1 (\`--publish-url\`): on 2 nodes half the subscribers are on the publisher's node, half across Redis. CPU µs/1k is summed over every node and redis-server (\`--server-pid\` repeated), then split
- FastWs: \`${o.fastwsDll ? c.rel(o.fastwsDll) : 'FastWs.Server.dll'} --environment LoadTest\` (+ \`--FastWs:Broker:Kind=Redis --FastWs:Broker:Redis:Configuration=127.0.0.1:PORT\` for fastws-redis and fastws-redis-1); SignalR: perf/baselines/signalr (JSON hub protocol over WebSockets, \`Subscribe\` = join a group, \`Publish\` = send to the group, Redis backplane), measured by the load tool's \`--protocol signalr\`
- (a), (c): ${o.warmup} s warm-up + ${o.duration} s measured, ${o.repeat} run(s) each, setups taking turns, medians. (h): probes of ${o.probeWarmup} + ${o.probeDuration} s; a probe passes with every message delivered, p99 < ${c.E_P99_MS} ms, the publisher ≥ ${c.E_MIN_PUBLISH_SHARE * 100} % of its schedule and no errors${o.retryFails ? '; a failed probe is retried once on fresh processes' : ''}
- Every fresh cluster first carries an unmeasured warm-up fanout (20 subscribers, 200 publishes/s, ${o.quick ? 2 : 4} s) so that neither side is measured cold
- Raw results: \`${c.rel(ctx.resultsDir)}/<setup>/<workload>/\`

## Results

${resultsTable(results, o)}

## Targets

${targetsTable(results, o)}
${o.workloads.includes('h') ? `
## (h) search probes (publishes/s)

${probesSection(results, o)}
` : ''}
## Notes

${notesSection(results, o)}
`;
}

// ---------------------------------------------------------------------------------------------------------------

function build(ctx) {
  const steps = [
    ['dotnet', ['build', '-c', 'Release', 'src/Server']],
    ['dotnet', ['build', '-c', 'Release', 'perf/baselines/signalr']],
    ['dotnet', ['build', '-c', 'Release', 'tools/FastWs.LoadGen']],
  ];
  for (const [cmd, args] of steps) {
    c.log(`build: ${cmd} ${args.join(' ')}`);
    const r = spawnSync(cmd, args, { cwd: ROOT, encoding: 'utf8' });
    fs.appendFileSync(path.join(ctx.resultsDir, 'build.log'), `# ${cmd} ${args.join(' ')}\n${r.stdout}${r.stderr}`);
    if (r.status !== 0) { c.log(`build failed (see ${c.rel(path.join(ctx.resultsDir, 'build.log'))})`); return false; }
  }
  return true;
}

async function main() {
  let o;
  try { o = parseArgs(process.argv.slice(2)); } catch (e) {
    process.stderr.write(`error: ${e.message}\n\n${usage()}`);
    process.exit(1);
  }
  if (o.render) {
    const saved = JSON.parse(fs.readFileSync(path.join(o.render, 'results.json'), 'utf8'));
    const md = render(saved.results, saved.options, { ...saved, resultsDir: saved.resultsDir ?? o.render }, saved.finished ?? true);
    fs.writeFileSync(o.output, md);
    c.log(md);
    return;
  }
  const stamp = new Date().toISOString().replace(/[:.]/g, '-').replace(/-\d+Z$/, 'Z');
  const ctx = {
    startedAt: new Date(),
    resultsDir: o.results ?? path.join(HERE, 'out', `${stamp}-cluster`),
    cmdline: process.env.FASTWS_COMPARE_CMDLINE || ['node', c.rel(__filename), ...process.argv.slice(2)].join(' '),
    pin: os.availableParallelism() >= 2 && spawnSync('taskset', ['-c', '1', 'true']).status === 0,
    redisCore: o.redisCore,
    currentLoad: null,
  };
  fs.mkdirSync(ctx.resultsDir, { recursive: true });
  c.setPidFile(process.env.FASTWS_COMPARE_PIDFILE || path.join(ctx.resultsDir, 'children.pids'));

  const results = {};
  let finished = false;
  const writeOut = () => {
    const md = render(results, o, ctx, finished);
    fs.mkdirSync(path.dirname(o.output), { recursive: true });
    fs.writeFileSync(o.output, md);
    fs.writeFileSync(path.join(ctx.resultsDir, 'results.json'), JSON.stringify({
      options: o, machine: ctx.machine, cmdline: ctx.cmdline, startedAt: ctx.startedAt, pin: ctx.pin, redisCore: ctx.redisCore, finished, resultsDir: ctx.resultsDir, results,
    }, null, 2));
    return md;
  };

  const onSignal = (sig) => {
    if (stopping) { c.log(`\n${sig} again: killing everything now`); c.killAllNow(); process.exit(130); }
    stopping = true;
    c.log(`\n${sig}: stopping the load tool and the cluster, then writing the partial table`);
    if (ctx.currentLoad) c.killGroup(ctx.currentLoad.pid, 'SIGTERM');
    setTimeout(() => c.killAllNow(), 8000).unref();
  };
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGHUP', () => onSignal('SIGHUP'));
  process.on('exit', () => c.killAllNow());

  if (o.fastwsDll) FASTWS_DLL = o.fastwsDll;
  if (!o.skipBuild && !build(ctx)) process.exit(1);
  for (const f of [c.LOADGEN, ...(o.servers.some((k) => SERVERS[k].kind === 'fastws') ? [FASTWS_DLL] : []), ...(o.servers.includes('signalr-redis') ? [SIGNALR_DLL] : [])]) {
    if (!fs.existsSync(f)) { c.log(`error: ${c.rel(f)} is missing (build it in Release)`); process.exit(1); }
  }
  if (o.servers.some((k) => SERVERS[k].redis) && spawnSync('redis-server', ['--version']).status !== 0) {
    c.log('error: redis-server not found (Debian: apt-get install redis-server)');
    process.exit(1);
  }
  ctx.machine = c.machineInfo();
  c.log(`FastWs cluster comparison: setups ${o.servers.join(',')}; workloads ${o.workloads.join(',')}; ${o.quick ? 'quick' : 'full'} mode`);
  c.log(`raw results: ${c.rel(ctx.resultsDir)}`);

  const runsOf = {};
  for (const key of o.servers) results[key] = {};
  const plan = [];
  for (const wk of o.workloads) {
    const rounds = WORKLOADS[wk].kind === 'search' ? 1 : o.repeat;
    for (let round = 1; round <= rounds; round++) for (const key of o.servers) plan.push({ wk, round, rounds, key });
  }
  for (const { wk, round, rounds, key } of plan) {
    if (stopping) break;
    c.log(`--> ${SERVERS[key].label} ${WORKLOADS[wk].title}${rounds > 1 ? ` (run ${round} of ${rounds})` : ''}`);
    try {
      const r = WORKLOADS[wk].kind === 'search' ? await runSearch(key, o, ctx) : await runFixed(key, wk, o, ctx, round);
      if (rounds === 1) results[key][wk] = r;
      else {
        const all = ((runsOf[key] ??= {})[wk] ??= []);
        all.push(r);
        const row = c.combineRuns(all);
        // combineRuns takes the medians of numbers; the per-node splits are arrays: their medians node by node.
        const ok = all.filter((x) => !x.failed);
        if (ok.length) {
          row.cpuPerNode = ok[0].cpuPerNode.map((_, i) => c.median(ok.map((x) => x.cpuPerNode?.[i])));
          row.subscribersPerNode = ok[0].subscribersPerNode;
        }
        results[key][wk] = row;
      }
      if (wk === 'h') c.log(`    max sustained ${r.maxRate === null ? c.dash : c.fmtInt(r.maxRate)} pub/s`);
      else c.log(`    ${c.fmtInt(r.delivered)} msgs/s, ratio ${c.fmtRatio(r.ratio)}, p50 ${c.fmtMs(r.p50)} / p99 ${c.fmtMs(r.p99)} ms, ${c.fmtInt(r.cpuPer1k)} µs/1k (nodes ${(r.cpuPerNode ?? []).map(c.fmtInt).join(' + ')}, redis ${c.fmtInt(r.cpuRedis)}), tool CPU ${c.fmtPct(r.toolCpu)}`);
    } catch (e) {
      c.log(`    FAILED: ${e.message.split('\n')[0]}`);
      results[key][wk] = { failed: true, error: e.message.split('\n').slice(0, 3).join(' / ') };
    }
    writeOut();
    if (!stopping) await c.sleep(500);
  }
  finished = !stopping;
  const md = writeOut();
  c.log('');
  c.log(md);
  c.log(`written: ${c.rel(o.output)} (raw: ${c.rel(ctx.resultsDir)})`);
  c.killAllNow();
  process.exit(stopping ? 130 : 0);
}

main().catch((e) => {
  process.stderr.write(`error: ${e.stack ?? e}\n`);
  c.killAllNow();
  process.exit(1);
});
