'use strict';
// Workers' output, pumped by the engine off the IPC channel (R9): JSON lines, a log file rotated
// by size, SIGUSR1 reopening it, and a sink nobody reads holding the worker back instead of
// growing the primary. Every wait is on a line printed, a response, a process exit or a /proc
// state, bounded by the test's timeout.
const { describe } = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const { it } = require('./helpers');
const { CLI, freePort, runtimeDir, start, ctl, status } = require('./fixtures/supervisor/harness');

const LOGGER = path.join(__dirname, 'fixtures', 'supervisor', 'logger.js');
const READY = /workers listening on/;
const MB = 1048576;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function tempDir(t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nc-logs-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

// A GET on a connection of its own (round-robin spreads them over the workers): the body.
function get(port, p) {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: p, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d) => { body += d; }).on('end', () => resolve(body));
    }).on('error', reject);
  });
}

function rss(pid) {
  return Number(/^VmRSS:\s+(\d+) kB$/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) * 1024;
}

// `native-cluster stop` and the primary's exit: the workers' last lines are written by then.
// The CLI running LOGGER with a 2 s hang timeout, its stdout read up to the ready line and then
// no more: a sink that does not keep up.
async function startUnread(t, args, env) {
  const primary = spawn(process.execPath, [CLI, LOGGER, ...args, '--hang-timeout', '2s'], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  t.after(() => primary.kill('SIGKILL'));
  let text = '';
  await new Promise((resolve) => {
    const onData = (d) => {
      text += d;
      if (READY.test(text)) {
        primary.stdout.off('data', onData);
        primary.stdout.pause();
        resolve();
      }
    };
    primary.stdout.setEncoding('utf8').on('data', onData);
  });
  return primary;
}

async function stop(c, name) {
  const r = await ctl(c, ['stop', name]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(await c.exited, { code: 0, signal: null });
}

describe('native-cluster worker logs (engine-pumped)', () => {
  it('writes JSON lines with pino fields, passing a worker\'s own JSON through with worker and pid added', async (t) => {
    const port = await freePort();
    const c = start(t, [LOGGER, '-w', '1', '--name', 'json', '--log-format', 'json'], { PORT: port });
    await c.wait(READY);
    const pid = Number(await get(port, '/json'));
    const own = JSON.parse(await c.wait(/from pino/, { seen: true }));
    const plain = JSON.parse(await c.wait(/plain error line/, { seen: true }));
    const [w] = (await status(c, 'json')).list;
    assert.equal(w.pid, pid);
    assert.deepEqual(own, { hostname: os.hostname(), worker: w.id, stream: 'stdout', level: 40, time: 5, pid, msg: 'from pino', extra: { a: 1 } });
    assert.equal(typeof plain.time, 'number');
    assert.deepEqual({ ...plain, time: 0 },
      { level: 50, time: 0, pid, hostname: os.hostname(), worker: w.id, stream: 'stderr', msg: 'plain error line' });
  });

  it('rotates --log-file by size between whole lines, keeping --log-keep old files', async (t) => {
    const port = await freePort();
    const dir = tempDir(t);
    const file = path.join(dir, 'app.log');
    const c = start(t, [LOGGER, '-w', '2', '--name', 'rotate', '--log-file', file, '--log-max-size', '20K', '--log-keep', '2'], { PORT: port });
    await c.wait(READY);
    // 4 × 50 lines of ~1 KiB from both workers, on stdout and stderr: ~200 KiB, 10 files' worth.
    const pids = new Set();
    for (const stream of ['stdout', 'stderr', 'stdout', 'stderr']) pids.add(await get(port, `/lines?n=50&size=1000&tag=${stream}&stream=${stream}`));
    assert.equal(pids.size, 2);
    await stop(c, 'rotate');
    assert.deepEqual(fs.readdirSync(dir).sort(), ['app.log', 'app.log.1', 'app.log.2']);
    const line = /^\[w\d+ (\d+)\] (stdout|stderr) (\d+) (\d+) ([a-z])\5{999}$/;
    for (const name of ['app.log.2', 'app.log.1']) {
      const text = fs.readFileSync(path.join(dir, name), 'utf8');
      assert.ok(text.length <= 20 * 1024 && text.length > 15 * 1024, `${name}: ${text.length} bytes`);
      assert.ok(text.endsWith('\n'));
      for (const l of text.slice(0, -1).split('\n')) {
        const m = line.exec(l);
        assert.ok(m, `${name}: torn or foreign line ${l.slice(0, 80)}`);
        assert.equal(m[1], m[3]);
      }
    }
  });

  it('opens the log file again on SIGUSR1 (logrotate moved it away)', async (t) => {
    const port = await freePort();
    const dir = tempDir(t);
    const file = path.join(dir, 'app.log');
    const c = start(t, [LOGGER, '-w', '1', '--name', 'reopen', '--log-file', file], { PORT: port });
    await c.wait(READY);
    await get(port, '/lines?n=10&tag=before');
    // The lines reach the file from the engine's thread: wait for them (bounded by the test).
    while (!/before \d+ 9 /.test(fs.readFileSync(file, 'utf8'))) await sleep(20);
    fs.renameSync(file, `${file}.moved`);
    process.kill(c.proc.pid, 'SIGUSR1');
    await c.wait(/SIGUSR1: log file reopened/);
    await get(port, '/lines?n=10&tag=after');
    await stop(c, 'reopen');
    const count = (name, tag) => fs.readFileSync(path.join(dir, name), 'utf8').split('\n').filter((l) => l.includes(` ${tag} `)).length;
    assert.deepEqual([count('app.log.moved', 'before'), count('app.log.moved', 'after'), count('app.log', 'before'), count('app.log', 'after')], [10, 0, 0, 10]);
  });

  it('says once per episode that writes to the log file fail (ENOSPC), and again after one went through', async (t) => {
    const port = await freePort();
    const dir = tempDir(t);
    const file = path.join(dir, 'app.log');
    // A full disk: the log file is /dev/full.
    const full = () => {
      fs.rmSync(file, { force: true });
      fs.symlinkSync('/dev/full', file);
    };
    full();
    const c = start(t, [LOGGER, '-w', '1', '--name', 'enospc', '--log-file', file], { PORT: port });
    await c.wait(READY);
    const warning = /warning: workers' output to .*app\.log: write ENOSPC: lines are dropped/;
    const warned = () => c.lines.filter((l) => warning.test(l)).length;
    await get(port, '/lines?n=5&tag=lost1');
    await c.wait(warning, { seen: true });
    // More failed writes in the same episode: counted, not said again.
    const errors = (await status(c, 'enospc')).logs.errors;
    await get(port, '/lines?n=5&tag=lost2');
    while ((await status(c, 'enospc')).logs.errors === errors) await sleep(20);
    assert.equal(warned(), 1, c.output());
    // Room again (a file): a write goes through and ends the episode.
    fs.rmSync(file);
    process.kill(c.proc.pid, 'SIGUSR1');
    await c.wait(/SIGUSR1: log file reopened/);
    await get(port, '/lines?n=5&tag=kept');
    while (!/kept \d+ 4 /.test(fs.readFileSync(file, 'utf8'))) await sleep(20);
    // Full again: a new episode, said again.
    full();
    process.kill(c.proc.pid, 'SIGUSR1');
    await c.wait(/SIGUSR1: log file reopened/);
    await get(port, '/lines?n=5&tag=lost3');
    while (warned() < 2) await c.wait(warning);
    const s = await status(c, 'enospc');
    assert.ok(s.logs.dropped > 0 && s.logs.errors >= 3, JSON.stringify(s.logs));
    await stop(c, 'enospc');
    assert.equal(warned(), 2, c.output());
  });

  it('says on stderr that the primary\'s stdout fails (EPIPE), once', async (t) => {
    const port = await freePort();
    const xdg = runtimeDir(t);
    const primary = spawn(process.execPath, [CLI, LOGGER, '-w', '1', '--name', 'epipe'], {
      env: { ...process.env, XDG_RUNTIME_DIR: xdg, PORT: String(port) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise((resolve) => primary.on('exit', (code, signal) => resolve({ code, signal })));
    t.after(() => primary.kill('SIGKILL'));
    let stderr = '';
    const warning = /warning: workers' output to the primary's stdout: write EPIPE/;
    const stderrHas = new Promise((resolve) => primary.stderr.setEncoding('utf8').on('data', (d) => {
      stderr += d;
      if (warning.test(stderr)) resolve();
    }));
    let text = '';
    await new Promise((resolve) => primary.stdout.setEncoding('utf8').on('data', (d) => {
      text += d;
      if (READY.test(text)) resolve();
    }));
    // Nobody reads the primary's stdout any more: its writes fail with EPIPE.
    primary.stdout.destroy();
    const ctlEnv = { env: { ...process.env, XDG_RUNTIME_DIR: xdg } };
    await get(port, '/lines?n=5&tag=lost1');
    await stderrHas;
    const errors = (await status(ctlEnv, 'epipe')).logs.errors;
    await get(port, '/lines?n=5&tag=lost2');
    while ((await status(ctlEnv, 'epipe')).logs.errors === errors) await sleep(20);
    const r = await ctl(ctlEnv, ['stop', 'epipe']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await exited, { code: 0, signal: null });
    assert.equal(stderr.split('\n').filter((l) => warning.test(l)).length, 1, stderr);
  });

  it('a primary stdout nobody reads blocks the worker in write(2) and keeps the primary\'s RSS bounded; nothing is lost', { timeout: 60000 }, async (t) => {
    const port = await freePort();
    const xdg = runtimeDir(t);
    const primary = await startUnread(t, ['-w', '1', '--name', 'stall'], { XDG_RUNTIME_DIR: xdg, PORT: String(port) });
    const exited = new Promise((resolve) => primary.on('exit', (code, signal) => resolve({ code, signal })));
    const { list: [w] } = await status({ env: { ...process.env, XDG_RUNTIME_DIR: xdg } }, 'stall');
    const before = rss(primary.pid);
    const FLOOD = 64;
    const flood = get(port, `/flood?mb=${FLOOD}`);
    // The worker is held in write(2) on its full pipe.
    // (`pipe_write`, or `anon_pipe_write` on newer kernels).
  while (!/pipe_write$/.test(fs.readFileSync(`/proc/${w.pid}/wchan`, 'utf8'))) await sleep(20);
    // Blocked on its log sink, it answers no ping: not a hang (it would be killed by now and
    // the flood's request would fail).
    await sleep(3500);
    const grown = rss(primary.pid) - before;
    assert.ok(grown < 16 * MB, `primary grew ${(grown / MB).toFixed(1)} MB while the worker was blocked`);
    // Reading again: every line arrives, whole, and the flood's request completes.
    let lines = 0;
    let partial = '';
    primary.stdout.on('data', (d) => {
      const parts = (partial + d).split('\n');
      partial = parts.pop();
      for (const l of parts) {
        if (l.startsWith('[native-cluster]')) continue;
        assert.match(l, /^\[w\d+ \d+\] ([a-z])\1{8190}$/);
        lines++;
      }
    });
    primary.stdout.resume();
    assert.equal(await flood, String(w.pid));
    const r = await ctl({ env: { ...process.env, XDG_RUNTIME_DIR: xdg } }, ['stop', 'stall']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await exited, { code: 0, signal: null });
    assert.equal(lines, FLOOD * 128);
  });

  it('a worker hung while another is held back by a stalled sink is still replaced', { timeout: 60000 }, async (t) => {
    const port = await freePort();
    const xdg = runtimeDir(t);
    const env = { env: { ...process.env, XDG_RUNTIME_DIR: xdg } };
    await startUnread(t, ['-w', '2', '--name', 'stallhang'], { XDG_RUNTIME_DIR: xdg, PORT: String(port) });
    const pids = (await status(env, 'stallhang')).list.map((w) => w.pid);
    get(port, '/flood?mb=64').catch(() => {});
    const wchan = (pid) => fs.readFileSync(`/proc/${pid}/wchan`, 'utf8');
    let held;
    while (!(held = pids.find((pid) => /pipe_write$/.test(wchan(pid))))) await sleep(20);
    const other = pids.find((pid) => pid !== held);
    // The other worker hangs (the held-back one, busy, gets none of these).
    for (let i = 0; i < 3; i++) get(port, '/spin').catch(() => {});
    let s;
    do {
      await sleep(100);
      s = await status(env, 'stallhang');
    } while (!s.lastHang);
    assert.equal(s.lastHang.pid, other);
  });

  it('goes on logging while the primary\'s JS is blocked (the engine pumps)', async (t) => {
    const c = start(t, [path.join(__dirname, 'fixtures', 'supervisor', 'busy-primary.js')],
      { PORT: String(await freePort()), TICK_MS: '20', BLOCK_MS: '2000' }, { raw: true });
    assert.deepEqual(await c.exited, { code: 0, signal: null });
    const from = c.lines.indexOf('blocking');
    const to = c.lines.indexOf('unblocked');
    assert.ok(from >= 0 && to > from, c.output());
    // About 100 ticks are due during the 2 s; a primary pumping in JS would show none.
    const during = c.lines.slice(from, to).filter((l) => /^\[w1 \d+\] tick \d+$/.test(l)).length;
    assert.ok(during >= 10, `${during} lines while the primary was blocked`);
  });

  it('rejects bad log options with a clear error', async (t) => {
    const { supervise } = require('native-cluster/supervisor');
    assert.throws(() => supervise(LOGGER, { logFormat: 'inherit', logFile: 'x.log' }), { code: 'ERR_INVALID_ARG_VALUE' });
    assert.throws(() => supervise(LOGGER, { logKeep: -1 }), { code: 'ERR_INVALID_ARG_VALUE', message: /logKeep/ });
    const c = start(t, [LOGGER, '--log-max-size', 'huge']);
    assert.equal((await c.exited).code, 2);
    assert.match(c.output(), /--log-max-size must be a size/);
    const d = start(t, [LOGGER, '--log-file', path.join(tempDir(t), 'no', 'such', 'dir.log')], { PORT: String(await freePort()) });
    assert.equal((await d.exited).code, 1);
    assert.match(d.output(), /ENOENT/);
  });
});
