'use strict';
// Supervision benchmark: `native-cluster` against PM2 7 (and node:cluster for throughput), in
// one run, on the same unmodified apps over loopback. PM2 is fetched with `npx pm2@7` into a
// temporary folder with its own PM2_HOME; its daemon is killed at the end.
//
//   npm run bench:supervise
//   BENCH_SUP_ONLY=reload,restart,crash,throughput,idle,hang,memory,guardcpu npm run bench:supervise
//
// Scenarios (each tool runs 2 workers):
//   reload      3 reloads of the 20 ms app under keep-alive load (50 connections) and under one
//               new connection per request (16 at a time): failed requests per reload, p99
//   restart     SIGKILL a worker, then GET /pid on new connections every 5 ms until a new pid
//               answers: ms (8 trials). Ours runs with --backoff-reset 1000 and the trials are
//               1.5 s apart, so each kill meets a reset backoff (the first restart is immediate)
//   crash       spawns per minute per slot of an app that dies 50 ms after start before
//               listening (20 s), and of one that dies 1.5 s after listening (60 s)
//   throughput  hello world, wrk -t2 -c50 -d8s (or the Node load generator without wrk), best of 2
//   logs        (R9) the same with one console.log per request (fixtures/logapp.js); each tool's
//               logs go to a file: node:cluster's and ours' stdout redirected, PM2's own log files
//   flood       (R9) 2 workers writing 50 MB/s of 1 KiB lines for BENCH_SUP_FLOOD_S (60) s, to
//               /dev/null (ours --log-file, PM2 --output/--error): the primary's (PM2: the God
//               daemon's) RSS growth over its RSS before the flood, and the MB/s that got through
//   blocked     (ours only, R11) hello world through the API in this process: wrk for 4 s while
//               this process's JS busy-loops, against wrk for 4 s while another process does
//               (the same loss of a core on this 2-core box, with the primary free)
//   idle        the primary's (PM2: the God daemon's) RSS and CPU over 5 s with 2 idle workers,
//               and how long `status` takes (socket round trip, and the whole CLI) vs `pm2 jlist`
//   hang        (R7) GET /spin makes one worker spin forever; new connections at 100/s (5 s
//               timeout each) for 12 s: ms until a new worker answers, failed requests. Ours
//               with --hang-timeout 3s; PM2 has no hang detection (pm2#3916)
//   memory      (R8) an app leaking 10 MB/s with a 200 MB limit (ours --max-memory 200M, PM2
//               --max-memory-restart 200M): peak VmHWM of the first leaking worker until it is
//               replaced (60 s at most), failed requests under light load meanwhile
//   guardcpu    (R8, ours only) CPU of the engine's I/O thread (pings + RSS sampling) over 20 s
//               with 8 idle workers and --max-memory, against the same with the guard off
const { spawn, spawnSync, execFile } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const { load } = require('../__test__/fixtures/supervisor/load');

const ROOT = path.join(__dirname, '..');
const CLI = path.join(ROOT, 'bin', 'native-cluster.js');
const APP = path.join(ROOT, '__test__', 'fixtures', 'supervisor', 'app.js');
const FAST = path.join(__dirname, 'fixtures', 'fast.js');
const NODE_PRIMARY = path.join(__dirname, 'fixtures', 'node-cluster-primary.js');
const LOGAPP = path.join(__dirname, 'fixtures', 'logapp.js');
const FLOOD = path.join(__dirname, 'fixtures', 'flood.js');
const ONLY = (process.env.BENCH_SUP_ONLY || 'reload,restart,crash,throughput,logs,flood,blocked,idle,hang,memory,guardcpu').split(',');
const PORT = 3456;
const TMP = fs.mkdtempSync(path.join(os.tmpdir(), 'nc-bench-sup-'));
const PM2_HOME = path.join(TMP, '.pm2');
const XDG = path.join(TMP, 'xdg');
fs.mkdirSync(XDG, { mode: 0o700 });

const log = (s) => process.stderr.write(`${s}\n`);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? (s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2) : NaN;
};
const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(s.length * p))];
};
const rssMb = (pid) => Number(fs.readFileSync(`/proc/${pid}/statm`, 'utf8').split(' ')[1]) * 4096 / 1048576;
// Private memory: RSS less the file pages (mostly the node binary, shared with every Node process).
const anonMb = (pid) => Number(/RssAnon:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024;
const cpuTicks = (pid) => {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]);
};

// ---------------------------------------------------------------- the tools

let pm2Bin = null;
function findPm2() {
  const r = spawnSync('npx', ['--yes', '-p', 'pm2@7', '-c', 'command -v pm2'], { cwd: TMP, encoding: 'utf8', timeout: 300000 });
  const bin = r.stdout.trim().split('\n').pop();
  return r.status === 0 && bin && fs.existsSync(bin) ? bin : null;
}
const pm2Env = (env = {}) => ({ ...process.env, PM2_HOME, PM2_DISABLE_VERSION_CHECK: '1', ...env });
function pm2(args, env) {
  return spawnSync(pm2Bin, args, { env: pm2Env(env), encoding: 'utf8', timeout: 60000 });
}
function pm2Async(args) {
  return new Promise((resolve) => execFile(pm2Bin, args, { env: pm2Env(), timeout: 60000 }, (err) => resolve(!err)));
}

let ours = null;
// `stdout`: 'pipe' (its lines are collected) or an fd (a file).
function startOurs(script, args, env = {}, stdout = 'pipe') {
  const proc = spawn(process.execPath, [CLI, script, '-w', '2', '--name', 'bench', ...args], {
    env: { ...process.env, XDG_RUNTIME_DIR: XDG, PORT: String(PORT), ...env }, stdio: ['ignore', stdout, 'inherit'],
  });
  const lines = [];
  let buf = '';
  if (proc.stdout) proc.stdout.setEncoding('utf8').on('data', (d) => {
    buf += d;
    const parts = buf.split('\n');
    buf = parts.pop();
    lines.push(...parts);
  });
  const exited = new Promise((resolve) => proc.on('exit', (code) => resolve(code)));
  ours = { proc, lines, exited };
  return ours;
}
async function stopOurs() {
  if (!ours) return;
  if (ours.proc.exitCode === null) ours.proc.kill('SIGTERM');
  await ours.exited;
  ours = null;
}
const oursCtl = (args) => new Promise((resolve) => execFile(process.execPath, [CLI, ...args, 'bench'],
  { env: { ...process.env, XDG_RUNTIME_DIR: XDG }, timeout: 60000 }, (err) => resolve(!err)));

function getPid() {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port: PORT, path: '/pid', agent: false, timeout: 1000 }, (res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve(body.trim()));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(null));
  });
}

// Waits until `n` different pids answer (bounded).
async function servingPids(n, deadline = 20000) {
  const pids = new Set();
  const end = Date.now() + deadline;
  while (pids.size < n && Date.now() < end) {
    const pid = await getPid();
    if (pid) pids.add(pid);
    else await sleep(20);
  }
  return pids;
}

async function start(tool, script, env = {}) {
  if (tool === 'ours') startOurs(script, env.args || [], env.env);
  else pm2(['start', script, '-i', '2', '--name', 'bench', ...(env.pm2Args || [])], { PORT: String(PORT), ...env.env });
}
async function stop(tool) {
  if (tool === 'ours') await stopOurs();
  else pm2(['delete', 'bench']);
}

// ---------------------------------------------------------------- scenarios

const results = {};

async function reloadLoss(tool) {
  const out = {};
  // The same keep-alive load without reloads, for the p99 to compare with.
  await start(tool, APP);
  await servingPids(2);
  const calm = load({ port: PORT, keepAlive: true, concurrency: 50 });
  await sleep(8000);
  out.calmP99 = (await calm.stop()).p99;
  await stop(tool);
  log(`  ${tool} no reload, keep-alive: p99 ${out.calmP99.toFixed(1)} ms`);
  for (const keepAlive of [true, false]) {
    await start(tool, APP);
    await servingPids(2);
    const traffic = load({ port: PORT, keepAlive, concurrency: keepAlive ? 50 : 16 });
    for (let i = 0; i < 3; i++) {
      await sleep(2500);
      const ok = tool === 'ours' ? await oursCtl(['reload']) : await pm2Async(['reload', 'bench']);
      if (!ok) log(`  ${tool}: reload ${i + 1} reported a failure`);
    }
    await sleep(2500);
    const r = await traffic.stop();
    await stop(tool);
    out[keepAlive ? 'ka' : 'fresh'] = { failed: r.failed, perReload: r.failed / 3, ok: r.ok, p99: r.p99, errors: r.errors };
    log(`  ${tool} reload ${keepAlive ? 'keep-alive' : 'new connections'}: ${r.failed} failed of ${r.ok + r.failed}, p99 ${r.p99.toFixed(1)} ms ${JSON.stringify(r.errors)}`);
  }
  return out;
}

async function restartLatency(tool) {
  await start(tool, APP, { args: ['--backoff-reset', '1000'] });
  const times = [];
  for (let trial = 0; trial < 8; trial++) {
    const before = await servingPids(2);
    if (before.size < 2) break;
    const victim = Number([...before][trial % 2]);
    const t0 = process.hrtime.bigint();
    process.kill(victim, 'SIGKILL');
    const end = Date.now() + 10000;
    for (;;) {
      const pid = await getPid();
      if (pid && !before.has(pid)) break;
      if (Date.now() > end) break;
      await sleep(5);
    }
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
    await sleep(1500);
  }
  await stop(tool);
  log(`  ${tool} restart: ${times.map((t) => t.toFixed(0)).join(' ')} ms`);
  return { p50: median(times), p95: pct(times, 0.95) };
}

async function crashLoop(tool, env, seconds) {
  await start(tool, APP, { env });
  const t0 = Date.now();
  let spawns;
  if (tool === 'ours') {
    await Promise.race([ours.exited, sleep(seconds * 1000)]);
    const gaveUp = ours.proc.exitCode !== null;
    spawns = ours.lines.filter((l) => / exited: /.test(l)).length + (gaveUp ? 0 : 2);
    await stopOurs();
  } else {
    await sleep(seconds * 1000);
    const list = JSON.parse(pm2(['jlist']).stdout || '[]').filter((p) => p.name === 'bench');
    spawns = list.reduce((n, p) => n + p.pm2_env.restart_time + 1, 0);
    pm2(['delete', 'bench']);
  }
  const perMinute = (spawns / 2) * (60000 / Math.max(Date.now() - t0, seconds * 1000));
  log(`  ${tool} crash ${JSON.stringify(env)}: ${spawns} spawns in ${seconds} s (2 slots)`);
  return { spawns, perSlot: spawns / 2, perSlotPerMinute: perMinute };
}

const hasWrk = spawnSync('wrk', ['--version']).error === undefined;

// CPU ticks (user + system) of a primary (PM2: God) and its children, the workers.
function treeTicks(root) {
  const tasks = fs.readdirSync(`/proc/${root}/task`);
  const children = tasks.flatMap((t) => fs.readFileSync(`/proc/${root}/task/${t}/children`, 'utf8').split(' ').filter(Boolean));
  return [root, ...children].reduce((n, pid) => {
    try {
      return n + cpuTicks(pid);
    } catch {
      return n;
    }
  }, 0);
}

// `script` FAST, or LOGAPP whose lines go to a file (PM2: its own log files). Returns req/s and
// the CPU the tool's processes spent per request (µs), which a busy box disturbs less.
async function throughputOnce(tool, script = FAST) {
  const out = script === LOGAPP ? fs.openSync(path.join(TMP, `${tool.replace(':', '-')}.out`), 'w') : 'ignore';
  if (tool === 'ours') startOurs(script, [], {}, out);
  else if (tool === 'pm2') pm2(['start', script, '-i', '2', '--name', 'bench'], { PORT: String(PORT) });
  const node = tool === 'node:cluster'
    ? spawn(process.execPath, [NODE_PRIMARY, script, '2'], { env: { ...process.env, PORT: String(PORT) }, stdio: ['ignore', out, 'ignore'] }) : null;
  if (typeof out === 'number') fs.closeSync(out);
  const pids = await servingPids(2);
  await sleep(300);
  const root = tool === 'ours' ? ours.proc.pid : node ? node.pid : Number(fs.readFileSync(path.join(PM2_HOME, 'pm2.pid'), 'utf8'));
  const ticks = treeTicks(root);
  let rps;
  if (hasWrk) {
    const r = spawnSync('wrk', ['-t2', '-c50', '-d8s', `http://127.0.0.1:${PORT}/`], { encoding: 'utf8' });
    rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(r.stdout)[1]);
  } else {
    const traffic = load({ port: PORT, keepAlive: true, concurrency: 50 });
    await sleep(8000);
    rps = (await traffic.stop()).ok / 8;
  }
  const cpu = ((treeTicks(root) - ticks) * 10000) / (rps * 8);
  if (node) {
    node.kill('SIGTERM');
    await new Promise((resolve) => node.on('exit', resolve));
    for (const pid of pids) try { process.kill(Number(pid), 'SIGTERM'); } catch { /* already gone */ }
  } else await stop(tool);
  await sleep(500);
  return { rps, cpu };
}

// R9: a 50 MB/s log flood through 2 workers; the primary (PM2: God) must not grow with it.
async function flood(tool) {
  const seconds = Number(process.env.BENCH_SUP_FLOOD_S) || 60;
  const countDir = fs.mkdtempSync(path.join(TMP, 'flood-'));
  const env = { COUNT_DIR: countDir, RATE_MB: '50', WORKERS: '2' };
  if (tool === 'ours') startOurs(FLOOD, ['--log-file', '/dev/null', '--hang-timeout', '0'], env);
  else pm2(['start', FLOOD, '-i', '2', '--name', 'bench', '--output', '/dev/null', '--error', '/dev/null'], { PORT: String(PORT), ...env });
  await servingPids(2);
  await sleep(1000);
  const pid = tool === 'ours' ? ours.proc.pid : Number(fs.readFileSync(path.join(PM2_HOME, 'pm2.pid'), 'utf8'));
  const before = rssMb(pid);
  // Each worker starts flooding on its first /start (new connections until both have).
  const started = new Set();
  for (let i = 0; i < 100 && started.size < 2; i++) {
    const pidText = await new Promise((resolve) => http.get({ host: '127.0.0.1', port: PORT, path: '/start', agent: false }, (res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve(body));
    }).on('error', () => resolve(null)));
    if (pidText) started.add(pidText);
  }
  let peak = before;
  for (let s = 0; s < seconds; s++) {
    await sleep(1000);
    peak = Math.max(peak, rssMb(pid));
  }
  await sleep(1100);
  const taken = fs.readdirSync(countDir).reduce((n, f) => n + Number(fs.readFileSync(path.join(countDir, f), 'utf8')), 0);
  await stop(tool);
  const out = { before, growth: peak - before, mbps: taken / 1048576 / (seconds + 1) };
  log(`  ${tool} flood ${seconds} s: RSS ${before.toFixed(1)} MB before, +${out.growth.toFixed(1)} MB at peak; workers wrote ${out.mbps.toFixed(1)} MB/s`);
  return out;
}

// R11: distribution goes on while the primary's JS is blocked (round-robin is on the engine's
// thread). Runs the API in this process, so it must come after every other use of ours.
async function blocked() {
  const { supervise } = require('../lib/supervisor');
  const sup = supervise(FAST, { workers: 2, env: { PORT: String(PORT) } });
  await sup.ready;
  const rps = (where) => new Promise((resolve) => {
    const args = hasWrk ? ['-t2', '-c50', '-d4s', `http://127.0.0.1:${PORT}/`] : null;
    const wrk = hasWrk ? spawn('wrk', args, { stdio: ['ignore', 'pipe', 'ignore'] }) : null;
    let out = '';
    if (wrk) wrk.stdout.on('data', (d) => { out += d; });
    const spin = 'const end = Date.now() + 4000; while (Date.now() < end);';
    if (where === 'primary') setTimeout(() => new Function(spin)(), 100);
    else spawn(process.execPath, ['-e', spin], { stdio: 'ignore' });
    if (wrk) wrk.on('exit', () => resolve(Number(/Requests\/sec:\s+([\d.]+)/.exec(out)[1])));
    else resolve(NaN);
  });
  const free = await rps('other');
  const busy = await rps('primary');
  await sup.stop();
  log(`  ours blocked primary: ${busy.toFixed(0)} req/s against ${free.toFixed(0)} unblocked`);
  return { free, busy };
}

async function idle() {
  const out = {};
  startOurs(APP, []);
  await servingPids(2);
  await sleep(2000);
  const pid = ours.proc.pid;
  let t = cpuTicks(pid);
  await sleep(5000);
  out.ours = { rss: rssMb(pid), anon: anonMb(pid), cpu: (cpuTicks(pid) - t) / 5 };
  const { request } = requireControl();
  const socket = [];
  for (let i = 0; i < 20; i++) {
    const t0 = process.hrtime.bigint();
    await request('bench', 'status');
    socket.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  const cli = [];
  for (let i = 0; i < 10; i++) {
    const t0 = process.hrtime.bigint();
    await oursCtl(['status', '--json']);
    cli.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  out.ours.statusSocket = median(socket);
  out.ours.statusCli = median(cli);
  await stopOurs();
  if (pm2Bin) {
    pm2(['start', APP, '-i', '2', '--name', 'bench'], { PORT: String(PORT) });
    await servingPids(2);
    await sleep(2000);
    const god = Number(fs.readFileSync(path.join(PM2_HOME, 'pm2.pid'), 'utf8'));
    t = cpuTicks(god);
    await sleep(5000);
    out.pm2 = { rss: rssMb(god), anon: anonMb(god), cpu: (cpuTicks(god) - t) / 5 };
    const jlist = [];
    for (let i = 0; i < 5; i++) {
      const t0 = process.hrtime.bigint();
      await pm2Async(['jlist']);
      jlist.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    out.pm2.statusCli = median(jlist);
    pm2(['delete', 'bench']);
  }
  return out;
}

// R7: one worker spins forever; how long until a new one serves, and what new connections lose.
async function hang(tool) {
  await start(tool, APP, { args: ['--hang-timeout', '3s'] });
  const before = await servingPids(2);
  const t0 = Date.now();
  const spin = http.get({ host: '127.0.0.1', port: PORT, path: '/spin', agent: false });
  spin.on('error', () => {});
  const traffic = load({ port: PORT, keepAlive: false, concurrency: 2 });
  let replacedMs = null;
  const end = t0 + 12000;
  while (Date.now() < end) {
    const pid = await getPid();
    if (replacedMs === null && pid && !before.has(pid)) replacedMs = Date.now() - t0;
    await sleep(50);
  }
  const r = await traffic.stop();
  spin.destroy();
  await stop(tool);
  log(`  ${tool} hang: new worker serving after ${replacedMs ?? 'never (12 s)'} ms; ${r.failed} failed of ${r.ok + r.failed} ${JSON.stringify(r.errors)}`);
  return { replacedMs, failed: r.failed, ok: r.ok };
}

// The peak RSS (VmHWM, MB) of `pid`, read every 100 ms until it is gone or `until`.
async function peakUntilGone(pid, until) {
  let peak = 0;
  while (Date.now() < until) {
    let text;
    try {
      text = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    } catch {
      return { peak, gone: true };
    }
    const m = /^VmHWM:\s+(\d+) kB$/m.exec(text);
    if (!m) return { peak, gone: true };
    peak = Math.max(peak, Number(m[1]) / 1024);
    await sleep(100);
  }
  return { peak, gone: false };
}

// R8: a worker leaking 10 MB/s under a 200 MB limit: how far past the limit it gets.
async function memoryLimit(tool) {
  await start(tool, APP, { args: ['--max-memory', '200M'], pm2Args: ['--max-memory-restart', '200M'], env: { MODE: 'drip', LEAK_MB: '10' } });
  const pids = await servingPids(2);
  const traffic = load({ port: PORT, keepAlive: true, concurrency: 2 });
  const first = Number([...pids][0]);
  const { peak, gone } = await peakUntilGone(first, Date.now() + 60000);
  const r = await traffic.stop();
  await stop(tool);
  log(`  ${tool} memory: peak ${peak.toFixed(0)} MB, ${gone ? 'replaced' : 'not replaced in 60 s'}; ${r.failed} failed of ${r.ok + r.failed} ${JSON.stringify(r.errors)}`);
  return { peak, replaced: gone, failed: r.failed };
}

// CPU seconds the primary's engine thread has used (schedstat: ns on CPU).
function ioThreadSeconds(pid) {
  for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
    if (fs.readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').startsWith('native-cluster')) {
      return Number(fs.readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]) / 1e9;
    }
  }
  return NaN;
}

// R8: the engine-side guard's cost with 8 workers (pings and RSS of each tree, every second).
async function guardCpu() {
  const out = {};
  for (const [name, args] of [['on', ['--max-memory', '1G']], ['off', ['--hang-timeout', '0']]]) {
    startOurs(APP, ['-w', '8', ...args]);
    await servingPids(8);
    await sleep(2000);
    const pid = ours.proc.pid;
    const t = ioThreadSeconds(pid);
    await sleep(20000);
    out[name] = ((ioThreadSeconds(pid) - t) / 20) * 100;
    await stopOurs();
    log(`  ours engine thread, 8 idle workers, guard ${name}: ${out[name].toFixed(3)}% of a core`);
  }
  return out;
}

function requireControl() {
  process.env.XDG_RUNTIME_DIR = XDG;
  return require('../lib/supervisor/control');
}

// ---------------------------------------------------------------- report

const fmt = (x, d = 0) => (x === undefined || x === null || Number.isNaN(x) ? 'n/a' : x.toFixed(d));
const ratio = (a, b) => (a && b ? `${(a / b).toFixed(2)}×` : 'n/a');

function report() {
  const r = results;
  const rows = [];
  const row = (what, ours, pm2v, extra = '') => rows.push(`| ${what} | ${ours} | ${pm2v} | ${extra} |`);
  if (r.reload) {
    row('reload, keep-alive load (50 conns): failed requests per reload', fmt(r.reload.ours.ka.perReload, 1), fmt(r.reload.pm2?.ka.perReload, 1));
    row('reload, new connection per request: failed requests per reload', fmt(r.reload.ours.fresh.perReload, 1), fmt(r.reload.pm2?.fresh.perReload, 1));
    row('p99 latency, keep-alive, with 3 reloads / without (ms)', `${fmt(r.reload.ours.ka.p99, 1)} / ${fmt(r.reload.ours.calmP99, 1)}`,
      r.reload.pm2 ? `${fmt(r.reload.pm2.ka.p99, 1)} / ${fmt(r.reload.pm2.calmP99, 1)}` : 'n/a',
      `ours with/without ${ratio(r.reload.ours.ka.p99, r.reload.ours.calmP99)}`);
  }
  if (r.restart) {
    row('SIGKILL → new worker serving, p50 (ms)', fmt(r.restart.ours.p50), fmt(r.restart.pm2?.p50), `ours/PM2 ${ratio(r.restart.ours.p50, r.restart.pm2?.p50)}`);
    row('SIGKILL → new worker serving, p95 (ms)', fmt(r.restart.ours.p95), fmt(r.restart.pm2?.p95));
  }
  if (r.crash) {
    row('boot crash loop (dies 50 ms after start, never listens): spawns per slot in 20 s', fmt(r.crash.ours.boot.perSlot), fmt(r.crash.pm2?.boot.perSlot), 'ours gives up after 5 and exits 1; PM2 marks it errored after 16 restarts');
    row('crash 1.5 s after listening: spawns/min/slot', fmt(r.crash.ours.late.perSlotPerMinute, 1), fmt(r.crash.pm2?.late.perSlotPerMinute, 1));
  }
  if (r.throughput) {
    const t = r.throughput;
    row(`hello world, 2 workers, req/s (${t.tool}, best of 2)`, fmt(t.ours), fmt(t.pm2), `node:cluster ${fmt(t['node:cluster'])}; ours/node:cluster ${ratio(t.ours, t['node:cluster'])}, ours/PM2 ${ratio(t.ours, t.pm2)}`);
  }
  if (r.logs) {
    const t = r.logs;
    row(`hello world + console.log per request, req/s (${t.tool}, best of 2)`, fmt(t.ours), fmt(t.pm2),
      `node:cluster (stdout to a file) ${fmt(t['node:cluster'])}; ours/node:cluster ${ratio(t.ours, t['node:cluster'])} (bar ≥ 0.90), PM2/node:cluster ${ratio(t.pm2, t['node:cluster'])}`);
    row('the same: CPU per request, supervisor + workers (µs, best of 2)', fmt(t.cpu.ours, 1), fmt(t.cpu.pm2, 1),
      `node:cluster ${fmt(t.cpu['node:cluster'], 1)}; ours/node:cluster ${ratio(t.cpu.ours, t.cpu['node:cluster'])}`);
  }
  if (r.flood) {
    row(`log flood 50 MB/s for ${process.env.BENCH_SUP_FLOOD_S || 60} s: primary RSS growth, MB (PM2: God) / MB/s written`,
      `${fmt(r.flood.ours.growth, 1)} / ${fmt(r.flood.ours.mbps, 1)}`, r.flood.pm2 ? `${fmt(r.flood.pm2.growth, 1)} / ${fmt(r.flood.pm2.mbps, 1)}` : 'n/a', 'bar: ours ≤ 10 MB');
  }
  if (r.idle) {
    row('idle primary RSS / of it private (RssAnon), MB; PM2: God daemon', `${fmt(r.idle.ours.rss, 1)} / ${fmt(r.idle.ours.anon, 1)}`,
      r.idle.pm2 ? `${fmt(r.idle.pm2.rss, 1)} / ${fmt(r.idle.pm2.anon, 1)}` : 'n/a', 'the rest is the node binary\'s file pages, shared');
    row('idle primary CPU (% of a core over 5 s)', fmt(r.idle.ours.cpu, 1), fmt(r.idle.pm2?.cpu, 1));
    row('status: socket round trip / whole CLI (ms; PM2: `pm2 jlist`)', `${fmt(r.idle.ours.statusSocket, 1)} / ${fmt(r.idle.ours.statusCli)}`, fmt(r.idle.pm2?.statusCli));
  }
  if (r.hang) {
    row('hung worker (/spin): new worker serving after (ms)', `${fmt(r.hang.ours.replacedMs)} (--hang-timeout 3s)`,
      r.hang.pm2 ? (r.hang.pm2.replacedMs === null ? 'never (no hang detection)' : fmt(r.hang.pm2.replacedMs)) : 'n/a', 'PM2 cannot detect a hung worker (pm2#3916)');
    row('hung worker: failed requests, new connections for 12 s', fmt(r.hang.ours.failed), fmt(r.hang.pm2?.failed));
  }
  if (r.memory) {
    row('leak 10 MB/s, limit 200 MB: peak RSS of the leaking worker (MB)', fmt(r.memory.ours.peak), fmt(r.memory.pm2?.peak),
      `bar ≤ 240; PM2 samples every 30 s${r.memory.pm2 && !r.memory.pm2.replaced ? ', not replaced within 60 s' : ''}`);
    row('leak 10 MB/s: failed requests until it was replaced', fmt(r.memory.ours.failed), fmt(r.memory.pm2?.failed));
  }
  if (r.guardcpu) {
    row('engine thread CPU, 8 idle workers, pings + RSS sampling on / off (% of a core)', `${fmt(r.guardcpu.on, 3)} / ${fmt(r.guardcpu.off, 3)}`, 'n/a',
      'bar < 0.2%; PM2 runs pidusage every 30 s in its daemon');
  }
  if (r.blocked) {
    row("hello world while the primary's JS is blocked 4 s / while another process spins (req/s)", `${fmt(r.blocked.busy)} / ${fmt(r.blocked.free)} (${ratio(r.blocked.busy, r.blocked.free)})`, 'n/a', 'ours through the API; PM2 has no such hook');
  }
  const table = ['| measure (2 workers each) | native-cluster | PM2 7 | notes |', '|---|---|---|---|', ...rows].join('\n');
  process.stdout.write(`\n${table}\n`);
  fs.writeFileSync(path.join(__dirname, 'supervise-results.md'), `${table}\n`);
}

async function main() {
  log(`bench:supervise on Node ${process.version}, ${os.availableParallelism()} CPUs; load: ${hasWrk ? 'wrk' : 'Node load generator (wrk not installed)'} for throughput, Node's http client elsewhere`);
  pm2Bin = findPm2();
  log(pm2Bin ? `PM2: ${pm2Bin} (PM2_HOME ${PM2_HOME})` : 'PM2 could not be fetched with npx: its columns are n/a');
  const tools = pm2Bin ? ['ours', 'pm2'] : ['ours'];
  if (ONLY.includes('reload')) {
    results.reload = {};
    for (const tool of tools) results.reload[tool] = await reloadLoss(tool);
  }
  if (ONLY.includes('restart')) {
    results.restart = {};
    for (const tool of tools) results.restart[tool] = await restartLatency(tool);
  }
  if (ONLY.includes('crash')) {
    results.crash = {};
    for (const tool of tools) {
      results.crash[tool] = {
        boot: await crashLoop(tool, { MODE: 'crash' }, 20),
        late: await crashLoop(tool, { MODE: 'crash-late', CRASH_MS: '1500' }, 60),
      };
    }
  }
  // Best of 2 runs per tool, alternating the order.
  const bestOf = async (script, what) => {
    const t = { tool: hasWrk ? 'wrk' : 'Node load generator', cpu: {} };
    for (const tool of ['node:cluster', ...tools]) {
      t[tool] = 0;
      t.cpu[tool] = Infinity;
    }
    for (let round = 0; round < 2; round++) {
      for (const tool of round ? ['node:cluster', ...tools].reverse() : ['node:cluster', ...tools]) {
        const { rps, cpu } = await throughputOnce(tool, script);
        log(`  ${tool} ${what}: ${rps.toFixed(0)} req/s, ${cpu.toFixed(1)} µs CPU a request`);
        t[tool] = Math.max(t[tool], rps);
        t.cpu[tool] = Math.min(t.cpu[tool], cpu);
      }
    }
    return t;
  };
  if (ONLY.includes('throughput')) results.throughput = await bestOf(FAST, 'hello world');
  if (ONLY.includes('logs')) results.logs = await bestOf(LOGAPP, 'console.log per request');
  if (ONLY.includes('flood')) {
    results.flood = {};
    for (const tool of tools) results.flood[tool] = await flood(tool);
  }
  if (ONLY.includes('idle')) results.idle = await idle();
  for (const [key, run] of [['hang', hang], ['memory', memoryLimit]]) {
    if (!ONLY.includes(key)) continue;
    results[key] = {};
    for (const tool of tools) results[key][tool] = await run(tool);
  }
  if (ONLY.includes('guardcpu')) results.guardcpu = await guardCpu();
  if (ONLY.includes('blocked') && hasWrk) results.blocked = await blocked();
  report();
}

main().catch((err) => {
  process.exitCode = 1;
  log(err.stack);
}).finally(async () => {
  await stopOurs();
  // `pm2 kill` would start a daemon to kill if none ran.
  if (pm2Bin && fs.existsSync(path.join(PM2_HOME, 'pm2.pid'))) pm2(['kill']);
  fs.rmSync(TMP, { recursive: true, force: true });
});
