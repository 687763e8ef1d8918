'use strict';
// The table of benchmark scenarios. Each entry is measured in a fresh parent process
// (bench/scenario.js) once per run and implementation; bench/run.js alternates the
// implementations, takes medians and prints the comparison.
//
// An entry:
//   name      short id, selectable with BENCH_ONLY (a token also selects `token-*`)
//   title     what is measured, shown in the table
//   nodeArgs  extra flags for the measuring parent process (optional)
//   metrics   [{ key, label, digits, target?: { op: '<=' | '>=', value } }]
//             target applies to the ratio ours/node of the medians
//   run(ctx)  async, returns { [metric key]: number, ...extra info }
//             ctx.load(mod)      -> 'child_process', 'cluster', ... of the implementation under test
//             ctx.fixture(file)  -> absolute path of bench/fixtures/<file>
//
// To add a scenario (handle passing, cluster connections/s, ...) append an entry here, with
// any child program it needs in bench/fixtures/.

const num = (name, dflt) => {
  const v = process.env[name];
  return v !== undefined && v !== '' ? Number(v) : dflt;
};

const MSGS = num('BENCH_MSGS', 200000); // (a), (b)
const WARM_MSGS = num('BENCH_WARM_MSGS', 20000);
const CHUNK = num('BENCH_CHUNK', 1000); // messages per setImmediate turn
const PAYLOAD = 40; // 'x'.repeat(40)
const RTTS = num('BENCH_RTTS', 20000); // (c)
const WARM_RTTS = num('BENCH_WARM_RTTS', 1000);
const FORKS = num('BENCH_FORKS', 10); // (d) per run
const BIG_HEAP_MIB = num('BENCH_HEAP_MIB', 1024); // (d) big-heap parent
const BIG_MSG_MIB = num('BENCH_BIG_MIB', 64); // (e)
const BIG_ROUNDS = num('BENCH_BIG_ROUNDS', 3);
const SPAWNS = num('BENCH_SPAWNS', 40); // spawn-*, exec: per run
const DRAIN_MIB = num('BENCH_DRAIN_MIB', 256); // drain
const HANDOFFS = num('BENCH_HANDOFFS', 10000); // handoff
const HANDOFF_WIDTH = num('BENCH_HANDOFF_WIDTH', 32); // connections the load generator keeps open
const CLUSTER_CONNS = num('BENCH_CLUSTER_CONNS', 10000); // cluster-*
const CLUSTER_WIDTH = num('BENCH_CLUSTER_WIDTH', 32);
const POOL_JOBS = num('BENCH_POOL_JOBS', 24000); // pool-*
const POOL_CHILDREN = 4;
const SLOW_MIB = num('BENCH_SLOW_MIB', 1024); // slow-parent: MiB the child sends, 1 MiB each
const SLOW_MS = num('BENCH_SLOW_MS', 2); // slow-parent: busy time per message
const WRK_SECONDS = num('BENCH_WRK_SECONDS', 5);

// ---------------------------------------------------------------- helpers

const hr = () => process.hrtime.bigint();
const usSince = (t0) => Number(hr() - t0) / 1e3;
const cpuUs = (d) => d.user + d.system;

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

// Nearest-rank percentile of an already sorted array.
function pct(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

// Resolves with the first non-undefined value onMessage(msg) returns; rejects if the
// child exits or errors first.
function until(child, onMessage) {
  return new Promise((resolve, reject) => {
    const cleanup = () => {
      child.off('message', onMsg);
      child.off('exit', onExit);
      child.off('error', onError);
    };
    const onMsg = (m) => {
      let v;
      try {
        v = onMessage(m);
      } catch (e) {
        cleanup();
        reject(e);
        return;
      }
      if (v !== undefined) {
        cleanup();
        resolve(v);
      }
    };
    const onExit = (code, sig) => {
      cleanup();
      reject(new Error(`child exited early (code ${code}, signal ${sig})`));
    };
    const onError = (e) => {
      cleanup();
      reject(e);
    };
    child.on('message', onMsg);
    child.on('exit', onExit);
    child.on('error', onError);
  });
}

const ready = (child) => until(child, (m) => (m && m.ready ? true : undefined));

// Disconnects the child and waits for it to exit (SIGKILL after 5 s).
function finish(child) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    if (child.connected) child.disconnect();
    else child.kill();
  });
}

// ---------------------------------------------------------------- measurements

// (a) The child sends n messages; measured from 'go' until the n-th arrives.
async function receivePhase(child, n) {
  let count = 0;
  const c0 = process.cpuUsage();
  const t0 = hr();
  const p = until(child, (m) => {
    if (m.seq !== count) throw new Error(`message ${count} arrived as seq ${m.seq}`);
    if (++count === n) return { us: usSince(t0), cpu: cpuUs(process.cpuUsage(c0)) };
  });
  child.send({ cmd: 'go', n, chunk: CHUNK, payload: PAYLOAD });
  const { us, cpu } = await p;
  return { msgsPerSec: n / (us / 1e6), cpuUsPerMsg: cpu / n };
}

// (b) The parent sends n messages, CHUNK per event-loop turn, then {cmd:'end'}; measured
// until the child's single reply with its count.
async function sendPhase(child, n) {
  const payload = 'x'.repeat(PAYLOAD);
  const c0 = process.cpuUsage();
  const t0 = hr();
  const p = until(child, (m) => (m && m.count !== undefined ? m : undefined));
  let seq = 0;
  await new Promise((resolve) => {
    (function burst() {
      const end = Math.min(n, seq + CHUNK);
      for (; seq < end; seq++) child.send({ seq, payload });
      if (seq < n) setImmediate(burst);
      else resolve();
    })();
  });
  child.send({ cmd: 'end' });
  const reply = await p;
  const us = usSince(t0);
  const cpu = cpuUs(process.cpuUsage(c0));
  if (reply.count !== n || !reply.inOrder) {
    throw new Error(`child counted ${reply.count} of ${n} messages (in order: ${reply.inOrder})`);
  }
  return { msgsPerSec: n / (us / 1e6), cpuUsPerMsg: cpu / n };
}

// (c) n sequential round trips; returns the RTTs in microseconds.
function pingPong(child, n) {
  const rtts = new Float64Array(n);
  let i = 0;
  let t0;
  const p = until(child, (m) => {
    if (m.seq !== i) throw new Error(`reply ${m.seq} while waiting for ${i}`);
    rtts[i++] = usSince(t0);
    if (i === n) return rtts;
    t0 = hr();
    child.send({ seq: i });
  });
  t0 = hr();
  child.send({ seq: 0 });
  return p;
}

// (d) `forks` times: fork() the hello child, time the fork() call and the first message.
async function forkLatency(ctx, forks) {
  const { fork } = ctx.load('child_process');
  const file = ctx.fixture('hello.js');
  const firstMs = [];
  const callMs = [];
  for (let i = 0; i <= forks; i++) {
    const t0 = hr();
    const child = fork(file);
    const t1 = hr();
    await until(child, (m) => (m && m.hello ? true : undefined));
    const t2 = hr();
    await finish(child);
    if (i === 0) continue; // warm-up fork, not counted
    callMs.push(Number(t1 - t0) / 1e6);
    firstMs.push(Number(t2 - t0) / 1e6);
  }
  return {
    firstMsgMs: median(firstMs),
    forkCallMs: median(callMs),
    firstMsgMinMs: Math.min(...firstMs),
    firstMsgMaxMs: Math.max(...firstMs),
  };
}

// Allocates `mib` MiB of Buffers and writes every page, so the parent's resident set
// (and page tables) really hold them. Kept alive on globalThis.
function holdHeap(mib) {
  const SLAB = 16 * 1024 * 1024;
  const bufs = [];
  for (let done = 0; done < mib * 1024 * 1024; done += SLAB) {
    const b = Buffer.allocUnsafe(SLAB);
    b.fill((bufs.length % 250) + 1);
    bufs.push(b);
  }
  globalThis.__benchHeap = bufs;
  return process.memoryUsage().rss / (1024 * 1024);
}

// `times` times (after one warm-up): spawn /bin/true and wait for 'exit'; then spawnSync it.
async function spawnLatency(ctx, times) {
  const { spawn, spawnSync } = ctx.load('child_process');
  const asyncMs = [];
  const syncMs = [];
  for (let i = 0; i <= times; i++) {
    const t0 = hr();
    const child = spawn('/bin/true', [], { stdio: 'ignore' });
    await new Promise((resolve, reject) => {
      child.once('exit', resolve);
      child.once('error', reject);
    });
    const t1 = hr();
    const r = spawnSync('/bin/true', [], { stdio: 'ignore' });
    const t2 = hr();
    if (r.status !== 0) throw new Error(`spawnSync /bin/true: status ${r.status}, ${r.error}`);
    if (i === 0) continue;
    asyncMs.push(Number(t1 - t0) / 1e6);
    syncMs.push(Number(t2 - t1) / 1e6);
  }
  return { asyncMs: median(asyncMs), syncMs: median(syncMs) };
}

// (a) and its advanced-mode twin: a warm-up flood, then the measured one.
async function receiveFlood(ctx, options) {
  const { fork } = ctx.load('child_process');
  const child = fork(ctx.fixture('sender.js'), options);
  await ready(child);
  await receivePhase(child, WARM_MSGS);
  const r = await receivePhase(child, MSGS);
  await finish(child);
  return r;
}

// (e) and its advanced-mode twin: `data` sent to the echo child and back, BIG_ROUNDS times.
async function bigRoundTrips(ctx, options, data) {
  const { fork } = ctx.load('child_process');
  const child = fork(ctx.fixture('echo.js'), options);
  await ready(child);
  const times = [];
  for (let i = 0; i < BIG_ROUNDS; i++) {
    const t0 = hr();
    const p = until(child, (m) => (m && m.seq === i ? m : undefined));
    child.send({ seq: i, data });
    const back = await p;
    times.push(usSince(t0) / 1e3);
    if (back.data.length !== data.length) throw new Error(`echo came back with length ${back.data.length}`);
  }
  await finish(child);
  return { rttMs: median(times), minMs: Math.min(...times), maxMs: Math.max(...times) };
}

// handoff: every connection the parent accepts is sent to the child, which writes a byte and
// closes it. A separate load-generator process makes `n` connections; measured from its start
// to its last close, with the parent's CPU (all its threads) over the same span.
async function handoffs(ctx, server, n) {
  const { spawn } = require('node:child_process');
  const c0 = process.cpuUsage();
  const t0 = hr();
  const gen = spawn(process.execPath, [ctx.fixture('connector.js'), server.address().port, n, HANDOFF_WIDTH], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  gen.stdout.on('data', (d) => { out += d; });
  const code = await new Promise((resolve) => gen.on('close', resolve));
  const us = usSince(t0);
  const cpu = cpuUs(process.cpuUsage(c0));
  const r = JSON.parse(out || '{}');
  if (code !== 0 || r.bytes !== n) throw new Error(`load generator exited ${code}, read ${r.bytes} of ${n} bytes`);
  return { handoffsPerSec: n / (us / 1e6), cpuUsPerHandoff: cpu / n };
}

// Two HTTP workers under `policy`; resolves once both listen.
async function startCluster(ctx, policy) {
  const cluster = ctx.load('cluster');
  cluster.schedulingPolicy = cluster[policy];
  cluster.setupPrimary({ exec: ctx.fixture('http-worker.js') });
  const port = await new Promise((resolve) => {
    let n = 0;
    cluster.on('listening', (w, addr) => ++n === 2 && resolve(addr.port));
    cluster.fork();
    cluster.fork();
  });
  return { cluster, port };
}

// cluster-*: 2 workers serving short HTTP connections under `policy` (a name in the
// implementation's cluster: SCHED_RR, SCHED_NONE, SCHED_REUSEPORT); a separate load generator
// makes the connections. Connections/s, the primary's CPU (all threads) per connection, and
// how evenly the workers were used (max/min of their counts).
async function clusterLoad(ctx, policy) {
  const { spawn } = require('node:child_process');
  const { cluster, port } = await startCluster(ctx, policy);
  const load = async (n) => {
    const c0 = process.cpuUsage();
    const t0 = hr();
    const gen = spawn(process.execPath, [ctx.fixture('http-load.js'), port, n, CLUSTER_WIDTH], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    gen.stdout.on('data', (d) => { out += d; });
    const code = await new Promise((resolve) => gen.on('close', resolve));
    const us = usSince(t0);
    const cpu = cpuUs(process.cpuUsage(c0));
    if (code !== 0) throw new Error(`load generator exited ${code}`);
    const counts = Object.values(JSON.parse(out).counts);
    const spread = counts.length < 2 ? Infinity : Math.max(...counts) / Math.min(...counts);
    return { connsPerSec: n / (us / 1e6), cpuUsPerConn: cpu / n, spread };
  };
  await load(Math.ceil(CLUSTER_CONNS / 10));
  const r = await load(CLUSTER_CONNS);
  await new Promise((resolve) => cluster.disconnect(resolve));
  return r;
}

// pool-*: POOL_CHILDREN forked workers, `inFlight` jobs outstanding per worker, POOL_JOBS jobs
// in all (a worker gets its next job as soon as it answers one). Jobs/s and the parent's CPU
// (all its threads) per job.
async function pool(ctx, inFlight) {
  const { fork } = ctx.load('child_process');
  const children = Array.from({ length: POOL_CHILDREN }, () => fork(ctx.fixture('worker-job.js')));
  await Promise.all(children.map(ready));
  const run = (jobs) => new Promise((resolve, reject) => {
    let sent = 0;
    let done = 0;
    const c0 = process.cpuUsage();
    const t0 = hr();
    for (const child of children) {
      child.removeAllListeners('message');
      child.on('message', (m) => {
        if (m.result !== m.id * 2) reject(new Error(`job ${m.id} answered ${m.result}`));
        if (++done === jobs) resolve({ jobsPerSec: jobs / (usSince(t0) / 1e6), cpuUsPerJob: cpuUs(process.cpuUsage(c0)) / jobs });
        else if (sent < jobs) child.send({ id: sent, n: sent++ });
      });
      for (let i = 0; i < inFlight && sent < jobs; i++) child.send({ id: sent, n: sent++ });
    }
  });
  await run(Math.ceil(POOL_JOBS / 10));
  const r = await run(POOL_JOBS);
  await Promise.all(children.map(finish));
  return r;
}

// Runs `fn` with two CPU-burning processes beside it (a busy machine), killed afterwards.
async function withBurners(fn) {
  const { spawn } = require('node:child_process');
  const burners = [0, 1].map(() => spawn(process.execPath, [require('node:path').join(__dirname, 'fixtures', 'burn.js')], { stdio: 'ignore' }));
  try {
    return await fn();
  } finally {
    for (const b of burners) b.kill('SIGKILL');
  }
}

async function pingPongScenario(ctx) {
  const { fork } = ctx.load('child_process');
  const child = fork(ctx.fixture('echo.js'));
  await ready(child);
  await pingPong(child, WARM_RTTS);
  const rtts = (await pingPong(child, RTTS)).sort();
  await finish(child);
  return { p50Us: pct(rtts, 50), p99Us: pct(rtts, 99), meanUs: rtts.reduce((s, x) => s + x, 0) / rtts.length };
}

// The process's peak resident set (VmHWM), MiB.
function peakRssMiB() {
  const m = /VmHWM:\s+(\d+) kB/.exec(require('node:fs').readFileSync('/proc/self/status', 'utf8'));
  return Number(m[1]) / 1024;
}

// slow-parent: a child sends SLOW_MIB messages of 1 MiB, one per event-loop turn, to a parent
// that spends SLOW_MS on each. The parent's peak RSS, whether everything arrived in order, and
// how many of the child's sends returned false (the channel pushing back).
async function slowParent(ctx) {
  const { fork } = ctx.load('child_process');
  const child = fork(ctx.fixture('big-sender.js'));
  await ready(child);
  const base = peakRssMiB();
  let next = 0;
  const done = until(child, (m) => {
    if (m.done) return m;
    if (m.seq !== next++ || m.data.length !== 1 << 20) throw new Error(`message ${m.seq} out of order or cut`);
    const until = Date.now() + SLOW_MS;
    while (Date.now() < until);
  });
  child.send({ cmd: 'go', count: SLOW_MIB, size: 1 << 20 });
  const { refused } = await done;
  if (next !== SLOW_MIB) throw new Error(`${next} of ${SLOW_MIB} messages arrived`);
  await finish(child);
  return { peakRssMiB: peakRssMiB(), baseRssMiB: base, refusedSends: refused };
}

// cluster-rr-wrk: the cluster-rr workload driven by wrk (Connection: close) when it is
// installed; connections/s and the primary's CPU per connection. Without wrk the scenario
// reports `loadGenerator: 0` and uses the Node load generator instead.
function hasWrk() {
  return require('node:child_process').spawnSync('wrk', ['--version']).error === undefined;
}

async function clusterWrk(ctx) {
  if (!hasWrk()) return { ...(await clusterLoad(ctx, 'SCHED_RR')), wrk: 0 };
  const { spawn } = require('node:child_process');
  const { cluster, port } = await startCluster(ctx, 'SCHED_RR');
  const wrk = async (seconds) => {
    const c0 = process.cpuUsage();
    const gen = spawn('wrk', ['-t1', `-c${CLUSTER_WIDTH}`, `-d${seconds}s`, '-H', 'Connection: close', `http://127.0.0.1:${port}/`], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    gen.stdout.on('data', (d) => { out += d; });
    await new Promise((resolve) => gen.on('close', resolve));
    const cpu = cpuUs(process.cpuUsage(c0));
    const n = Number((/(\d+) requests in/.exec(out) || [])[1]);
    const rate = Number((/Requests\/sec:\s+([\d.]+)/.exec(out) || [])[1]);
    if (!n) throw new Error(`wrk printed no request count:\n${out}`);
    return { connsPerSec: rate, cpuUsPerConn: cpu / n, wrk: 1 };
  };
  await wrk(1);
  const r = await wrk(WRK_SECONDS);
  await new Promise((resolve) => cluster.disconnect(resolve));
  return r;
}

// cluster-blocked: round-robin under new-connection load while the primary's JS thread is
// blocked for BLOCK_MS in the middle of the run: the slowest request any client saw (connect
// to response; wrk with a timeout well above the block, else the Node load generator) and the
// requests that failed. Node's primary accepts and hands out on its JS thread, so its clients
// wait out the block; ours distributes on the engine's thread.
const BLOCK_MS = num('BENCH_BLOCK_MS', 2000);

// Blocks this thread for BLOCK_MS once `afterMs` have passed; `blocked()` says whether it has.
function blockSoon(afterMs) {
  let done = false;
  const timer = setTimeout(() => {
    const until = Date.now() + BLOCK_MS;
    while (Date.now() < until);
    done = true;
  }, afterMs);
  return { blocked: () => done, cancel: () => clearTimeout(timer) };
}

async function clusterBlocked(ctx) {
  const { spawn } = require('node:child_process');
  const { cluster, port } = await startCluster(ctx, 'SCHED_RR');
  const seconds = Math.ceil(BLOCK_MS / 1000) + 2;
  const run = (cmd, args) => new Promise((resolve, reject) => {
    const gen = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    gen.stdout.on('data', (d) => { out += d; });
    gen.on('error', reject);
    gen.on('close', (code) => resolve({ code, out }));
  });
  const useWrk = hasWrk();
  // The load runs for `seconds`; the block starts a second in and ends a second before.
  const block = blockSoon(1000);
  try {
    let r;
    if (useWrk) {
      const { out } = await run('wrk', ['-t1', `-c${CLUSTER_WIDTH}`, `-d${seconds}s`, '--timeout', `${seconds + 10}s`, '-H', 'Connection: close',
        `http://127.0.0.1:${port}/`]);
      // wrk's "Latency  avg  stdev  max  +/-": the max, in us, ms or s.
      const lat = /Latency\s+\S+\s+\S+\s+([\d.]+)(us|ms|s)/.exec(out);
      if (!lat) throw new Error(`wrk printed no latency:\n${out}`);
      const worstMs = Number(lat[1]) * { us: 1e-3, ms: 1, s: 1e3 }[lat[2]];
      const errs = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
      const non2xx = Number((/Non-2xx or 3xx responses: (\d+)/.exec(out) || [0, 0])[1]);
      const failed = (errs ? errs.slice(1).reduce((a, b) => a + Number(b), 0) : 0) + non2xx;
      r = { worstMs, failed, wrk: 1 };
    } else {
      const { code, out } = await run(process.execPath, [ctx.fixture('http-load.js'), port, 0, CLUSTER_WIDTH, seconds]);
      if (code !== 0) throw new Error(`load generator exited ${code}`);
      r = { worstMs: JSON.parse(out).maxMs, failed: 0, wrk: 0 };
    }
    if (!block.blocked()) throw new Error('the load ended before the primary was blocked');
    return r;
  } finally {
    block.cancel();
    await new Promise((resolve) => cluster.disconnect(resolve));
  }
}

const ratioTarget = (op, value) => ({ op, value });
// A bar on ours' median itself rather than on the ratio.
const oursTarget = (op, value) => ({ op, value, ours: true });

// ---------------------------------------------------------------- the table

const scenarios = [
  {
    name: 'a',
    title: `child→parent ${MSGS} small msgs`,
    metrics: [
      { key: 'msgsPerSec', label: 'msgs/s', digits: 0, target: ratioTarget('>=', 1.0) },
      { key: 'cpuUsPerMsg', label: 'parent CPU µs/msg', digits: 2, target: ratioTarget('<=', 0.5) },
    ],
    run: (ctx) => receiveFlood(ctx),
  },
  {
    name: 'b',
    title: `parent→child ${MSGS} small msgs`,
    metrics: [
      { key: 'msgsPerSec', label: 'msgs/s', digits: 0, target: ratioTarget('>=', 1.0) },
      { key: 'cpuUsPerMsg', label: 'parent CPU µs/msg', digits: 2, target: ratioTarget('<=', 0.5) },
    ],
    async run(ctx) {
      const { fork } = ctx.load('child_process');
      const child = fork(ctx.fixture('counter.js'));
      await ready(child);
      await sendPhase(child, WARM_MSGS);
      const r = await sendPhase(child, MSGS);
      await finish(child);
      return r;
    },
  },
  {
    name: 'c',
    title: `ping-pong ${RTTS} round trips`,
    metrics: [
      { key: 'p50Us', label: 'RTT p50 µs', digits: 1, target: ratioTarget('<=', 0.9) },
      { key: 'p99Us', label: 'RTT p99 µs', digits: 1, target: ratioTarget('<=', 0.8) },
    ],
    run: pingPongScenario,
  },
  {
    name: 'c-busy',
    title: `ping-pong ${RTTS} round trips, two CPU burners beside it`,
    metrics: [
      { key: 'p50Us', label: 'RTT p50 µs', digits: 1, target: ratioTarget('<=', 0.9) },
      { key: 'p99Us', label: 'RTT p99 µs', digits: 1, target: ratioTarget('<=', 0.8) },
    ],
    run: (ctx) => withBurners(() => pingPongScenario(ctx)),
  },
  {
    name: 'pool-1',
    title: `worker pool: ${POOL_CHILDREN} children, 1 job in flight each, ${POOL_JOBS} jobs`,
    metrics: [
      { key: 'jobsPerSec', label: 'jobs/s', digits: 0, target: ratioTarget('>=', 1.3) },
      { key: 'cpuUsPerJob', label: 'parent CPU µs/job', digits: 1, target: ratioTarget('<=', 0.7) },
    ],
    run: (ctx) => pool(ctx, 1),
  },
  {
    name: 'pool-8',
    title: `worker pool: ${POOL_CHILDREN} children, 8 jobs in flight each, ${POOL_JOBS} jobs`,
    metrics: [
      { key: 'jobsPerSec', label: 'jobs/s', digits: 0, target: ratioTarget('>=', 1.3) },
      { key: 'cpuUsPerJob', label: 'parent CPU µs/job', digits: 1 },
    ],
    run: (ctx) => pool(ctx, 8),
  },
  {
    name: 'slow-parent',
    title: `a child sends ${SLOW_MIB} × 1 MiB to a parent spending ${SLOW_MS} ms on each`,
    metrics: [
      { key: 'peakRssMiB', label: 'parent peak RSS MiB', digits: 0 },
      { key: 'refusedSends', label: "child's send() false", digits: 0 },
    ],
    run: slowParent,
  },
  {
    name: 'd-small',
    title: `fork→first msg, small parent heap (median of ${FORKS})`,
    metrics: [
      { key: 'firstMsgMs', label: 'fork→first msg ms', digits: 2 },
      { key: 'forkCallMs', label: 'fork() call ms', digits: 2 },
    ],
    async run(ctx) {
      const rssMiB = process.memoryUsage().rss / (1024 * 1024);
      return { ...(await forkLatency(ctx, FORKS)), rssMiB };
    },
  },
  {
    name: 'd-1gib',
    title: `fork→first msg, parent holding ${BIG_HEAP_MIB} MiB touched (median of ${FORKS})`,
    nodeArgs: ['--max-old-space-size=4096'],
    metrics: [
      { key: 'firstMsgMs', label: 'fork→first msg ms', digits: 2, target: ratioTarget('<=', 0.2) },
      { key: 'forkCallMs', label: 'fork() call ms', digits: 2 },
      { key: 'rssMiB', label: 'parent RSS MiB', digits: 0 },
    ],
    async run(ctx) {
      const rssMiB = holdHeap(BIG_HEAP_MIB);
      return { ...(await forkLatency(ctx, FORKS)), rssMiB };
    },
  },
  {
    name: 'e',
    title: `${BIG_MSG_MIB} MiB message round trip (median of ${BIG_ROUNDS})`,
    metrics: [{ key: 'rttMs', label: 'round trip ms', digits: 1, target: ratioTarget('<=', 1.0) }],
    run: (ctx) => bigRoundTrips(ctx, {}, 'x'.repeat(BIG_MSG_MIB * 1024 * 1024)),
  },
  {
    name: 'adv-msgs',
    title: `advanced serialization: child→parent ${MSGS} small msgs`,
    metrics: [
      { key: 'msgsPerSec', label: 'msgs/s', digits: 0, target: ratioTarget('>=', 1.0) },
      { key: 'cpuUsPerMsg', label: 'parent CPU µs/msg', digits: 2 },
    ],
    run: (ctx) => receiveFlood(ctx, { serialization: 'advanced' }),
  },
  {
    name: 'adv-big',
    title: `advanced serialization: ${BIG_MSG_MIB} MiB Uint8Array round trip (median of ${BIG_ROUNDS})`,
    metrics: [{ key: 'rttMs', label: 'round trip ms', digits: 1, target: ratioTarget('<=', 1.0) }],
    run: (ctx) => bigRoundTrips(ctx, { serialization: 'advanced' }, new Uint8Array(BIG_MSG_MIB << 20).fill(7)),
  },
  {
    name: 'handoff',
    title: `${HANDOFFS} accepted TCP sockets sent parent→child (child writes a byte, closes)`,
    metrics: [
      { key: 'handoffsPerSec', label: 'handoffs/s', digits: 0, target: ratioTarget('>=', 3.0) },
      { key: 'cpuUsPerHandoff', label: 'parent CPU µs/handoff', digits: 1, target: ratioTarget('<=', 0.3) },
    ],
    async run(ctx) {
      const net = require('node:net');
      const { fork } = ctx.load('child_process');
      const child = fork(ctx.fixture('handoff-child.js'));
      await ready(child);
      const server = net.createServer((socket) => child.send('s', socket));
      await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
      await handoffs(ctx, server, Math.ceil(HANDOFFS / 10));
      const r = await handoffs(ctx, server, HANDOFFS);
      server.close();
      await finish(child);
      return r;
    },
  },
  {
    name: 'cluster-rr',
    title: `cluster, 2 workers, ${CLUSTER_CONNS} HTTP connections (Connection: close), round-robin`,
    metrics: [
      { key: 'connsPerSec', label: 'connections/s', digits: 0, target: ratioTarget('>=', 1.3) },
      { key: 'cpuUsPerConn', label: 'primary CPU µs/conn', digits: 1, target: ratioTarget('<=', 0.2) },
      { key: 'spread', label: 'spread max/min', digits: 2 },
    ],
    run: (ctx) => clusterLoad(ctx, 'SCHED_RR'),
  },
  {
    name: 'cluster-wrk',
    title: `cluster, 2 workers, round-robin, wrk ${WRK_SECONDS} s Connection: close (Node generator when wrk is missing)`,
    metrics: [
      { key: 'connsPerSec', label: 'connections/s', digits: 0, target: ratioTarget('>=', 1.1) },
      { key: 'cpuUsPerConn', label: 'primary CPU µs/conn', digits: 1, target: ratioTarget('<=', 0.35) },
      { key: 'wrk', label: 'wrk used (1) or Node generator (0)', digits: 0 },
    ],
    run: clusterWrk,
  },
  {
    name: 'cluster-blocked',
    title: `cluster, 2 workers, round-robin, new-connection load (wrk, else the Node generator), primary's JS blocked for ${BLOCK_MS} ms`,
    metrics: [
      { key: 'worstMs', label: 'worst client latency ms', digits: 0, target: oursTarget('<=', 700) },
      { key: 'failed', label: 'failed requests', digits: 0 },
      { key: 'wrk', label: 'wrk used (1) or Node generator (0)', digits: 0 },
    ],
    run: clusterBlocked,
  },
  {
    name: 'cluster-kernel',
    title: `cluster, 2 workers, ${CLUSTER_CONNS} HTTP connections: ours SCHED_REUSEPORT vs node SCHED_NONE`,
    metrics: [
      { key: 'connsPerSec', label: 'connections/s', digits: 0 },
      { key: 'cpuUsPerConn', label: 'primary CPU µs/conn', digits: 2 },
      { key: 'spread', label: 'spread max/min', digits: 2 },
    ],
    run: (ctx) => clusterLoad(ctx, ctx.impl === 'node' ? 'SCHED_NONE' : 'SCHED_REUSEPORT'),
  },
  {
    name: 'spawn-small',
    title: `spawn /bin/true → exit, small parent heap (median of ${SPAWNS})`,
    metrics: [
      { key: 'asyncMs', label: 'spawn→exit ms', digits: 3, target: ratioTarget('<=', 1.0) },
      { key: 'syncMs', label: 'spawnSync ms', digits: 3, target: ratioTarget('<=', 1.0) },
    ],
    run: (ctx) => spawnLatency(ctx, SPAWNS),
  },
  {
    name: 'spawn-1gib',
    title: `spawn /bin/true → exit, parent holding ${BIG_HEAP_MIB} MiB touched (median of ${SPAWNS})`,
    nodeArgs: ['--max-old-space-size=4096'],
    metrics: [
      { key: 'asyncMs', label: 'spawn→exit ms', digits: 3, target: ratioTarget('<=', 0.2) },
      { key: 'syncMs', label: 'spawnSync ms', digits: 3, target: ratioTarget('<=', 0.2) },
    ],
    async run(ctx) {
      holdHeap(BIG_HEAP_MIB);
      return spawnLatency(ctx, SPAWNS);
    },
  },
  {
    name: 'exec',
    title: `exec('echo hi') round trip (median of ${SPAWNS})`,
    metrics: [{ key: 'execMs', label: 'exec ms', digits: 3, target: ratioTarget('<=', 1.0) }],
    async run(ctx) {
      const { exec } = ctx.load('child_process');
      const times = [];
      for (let i = 0; i <= SPAWNS; i++) {
        const t0 = hr();
        const stdout = await new Promise((resolve, reject) => {
          exec('echo hi', (err, out) => (err ? reject(err) : resolve(out)));
        });
        if (stdout !== 'hi\n') throw new Error(`exec printed ${JSON.stringify(stdout)}`);
        if (i > 0) times.push(usSince(t0) / 1e3);
      }
      return { execMs: median(times) };
    },
  },
  {
    name: 'drain',
    title: `${DRAIN_MIB} MiB of a child's stdout drained`,
    metrics: [{ key: 'mibPerSec', label: 'MiB/s', digits: 0, target: ratioTarget('>=', 1.0) }],
    async run(ctx) {
      const { spawn } = ctx.load('child_process');
      const bytes = DRAIN_MIB * 1024 * 1024;
      const t0 = hr();
      const child = spawn('head', ['-c', String(bytes), '/dev/zero'], { stdio: ['ignore', 'pipe', 'inherit'] });
      let got = 0;
      child.stdout.on('data', (chunk) => {
        got += chunk.length;
      });
      await new Promise((resolve, reject) => {
        child.once('close', resolve);
        child.once('error', reject);
      });
      const us = usSince(t0);
      if (got !== bytes) throw new Error(`drained ${got} of ${bytes} bytes`);
      return { mibPerSec: DRAIN_MIB / (us / 1e6) };
    },
  },
];

module.exports = { scenarios, median };
