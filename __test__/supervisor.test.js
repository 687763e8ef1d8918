'use strict';
// The supervisor as users meet it: `native-cluster` running an unmodified HTTP server
// (fixtures/supervisor/app.js) under real load over loopback, counting failed requests through
// crashes, a reload gated on a 'ready' message, scaling and stops (the other reloads:
// supervisor-reload.test.js, run beside this one). Every wait is on a line the CLI prints or on
// a process exit, bounded by the test's timeout; no duration is asserted.
const { describe } = require('node:test');
const assert = require('node:assert/strict');
const { execFile } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');
const { once } = require('node:events');
const { it, fixture } = require('./helpers');
const { load } = require('./fixtures/supervisor/load');

const { CLI, APP, freePort, runtimeDir, start, ctl, status } = require('./fixtures/supervisor/harness');

const READY = /workers listening on/;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

describe('native-cluster supervisor', () => {
  it('restarts a worker killed from outside, with the reason, and keeps serving', async (t) => {
    const port = await freePort();
    const c = start(t, [APP, '-w', '2', '--name', 'crash'], { PORT: port });
    await c.wait(READY);
    const before = await status(c, 'crash');
    const victim = before.list[0];
    const traffic = load({ port, keepAlive: false, concurrency: 2 });
    process.kill(victim.pid, 'SIGKILL');
    await c.wait(new RegExp(`pid ${victim.pid}, slot 0\\) exited: signal SIGKILL \\(external\\)`));
    await c.wait(/slot 0\) ready/);
    const after = await status(c, 'crash');
    const slot0 = after.list.find((w) => w.slot === 0);
    assert.notEqual(slot0.pid, victim.pid);
    assert.equal(slot0.restarts, 1);
    assert.equal(slot0.lastExit, 'signal SIGKILL (external)');
    const res = await traffic.stop();
    assert.ok(res.ok > 0);
    assert.ok(res.pids.includes(String(slot0.pid)) || res.ok > 0);
  });

  it('backs off a crash loop, gives up on each slot after 5 deaths before ready, and exits 1 saying why', async (t) => {
    const port = await freePort();
    const c = start(t, [APP, '-w', '2', '--name', 'loop'], { PORT: port, MODE: 'crash' });
    const { code } = await c.exited;
    const out = c.output();
    assert.equal(code, 1, out);
    assert.match(out, /slot 0 gave up: died before ready 5 times in a row \(last: died before ready \(code 1\)\)/);
    assert.match(out, /slot 1 gave up/);
    assert.match(out, /gave up on every worker; exiting with code 1/);
    // 5 spawns per slot, no more.
    assert.equal(out.split('\n').filter((l) => /exited: died before ready/.test(l)).length, 10);
    // Per slot: the first restart at once, then growing delays.
    const delays = out.split('\n').filter((l) => /^\[native-cluster\] slot 0: restart/.test(l))
      .map((l) => (/restart now/.test(l) ? 0 : Number(/in (\d+) ms/.exec(l)[1])));
    assert.equal(delays.length, 4);
    assert.equal(delays[0], 0);
    for (let i = 2; i < delays.length; i++) assert.ok(delays[i] > delays[i - 1], `delays grow: ${delays}`);
  });

  it('stops on SIGTERM after draining a request in flight, and exits 0', async (t) => {
    const port = await freePort();
    const c = start(t, [APP, '-w', '2', '--name', 'drain'], { PORT: port });
    await c.wait(READY);
    const pids = (await status(c, 'drain')).list.map((w) => w.pid);
    const response = fetch(`http://127.0.0.1:${port}/slow?ms=1500`).then(async (r) => [r.status, await r.text()]);
    await c.wait(/slow request started/);
    c.proc.kill('SIGTERM');
    const [code, body] = await response;
    assert.equal(code, 200);
    assert.match(body, /^ok /);
    assert.deepEqual(await c.exited, { code: 0, signal: null });
    assert.match(c.output(), /stopped: 2 workers drained/);
    for (const pid of pids) assert.throws(() => process.kill(pid, 0), { code: 'ESRCH' });
  });

  it('names the process holding the port and exits 1 without retrying', async (t) => {
    const holder = net.createServer();
    await new Promise((resolve) => holder.listen(0, '127.0.0.1', resolve));
    t.after(() => holder.close());
    const c = start(t, [APP, '-w', '2', '--name', 'held'], { PORT: holder.address().port });
    const { code } = await c.exited;
    const out = c.output();
    assert.equal(code, 1, out);
    assert.match(out, new RegExp(`gave up: port ${holder.address().port} is in use by pid ${process.pid} \\(`));
    assert.ok(out.split('\n').filter((l) => /exited:/.test(l)).length <= 2, out);
    assert.ok(!/restart/.test(out), out);
  });

  it('answers status as a table and as JSON over the control socket', async (t) => {
    const port = await freePort();
    const c = start(t, [APP, '-w', '2', '--name', 'stat'], { PORT: port });
    await c.wait(READY);
    const s = await status(c, 'stat');
    assert.equal(s.name, 'stat');
    assert.equal(s.pid, c.proc.pid);
    assert.equal(s.policy, 'rr');
    assert.deepEqual([s.workers, s.ready], [2, 2]);
    assert.deepEqual(s.addresses, [`127.0.0.1:${port}`]);
    for (const w of s.list) {
      assert.equal(w.state, 'ready');
      assert.ok(w.rss > 1e6);
      assert.equal(typeof w.cpu, 'number');
      assert.equal(w.restarts, 0);
      assert.equal(w.awaitingAck, 0);
    }
    const text = await ctl(c, ['status', 'stat']);
    assert.equal(text.code, 0);
    assert.match(text.stdout, /│ id │ slot │ pid +│ uptime │ ↺ │ status │ cpu +│ mem +│ conns │ unacked │ last exit │/);
    for (const w of s.list) assert.match(text.stdout, new RegExp(`│ ${w.pid} │`));
    // With one cluster running, the name may be left out.
    assert.equal((await ctl(c, ['status', '--json'])).code, 0);
    // The socket is the owner's only.
    const sock = path.join(c.env.XDG_RUNTIME_DIR, 'native-cluster', 'stat.sock');
    assert.equal(fs.statSync(sock).mode & 0o777, 0o600);
    assert.equal(fs.statSync(path.dirname(sock)).mode & 0o777, 0o700);
    const missing = await ctl(c, ['status', 'nobody']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no cluster named 'nobody'/);
  });

  it('scales up and down by command and by SIGTTIN/SIGTTOU', async (t) => {
    const port = await freePort();
    const c = start(t, [APP, '-w', '1', '--name', 'scale'], { PORT: port });
    await c.wait(READY);
    assert.equal((await ctl(c, ['scale', '3', 'scale'])).code, 0);
    let s = await status(c, 'scale');
    assert.equal(s.workers, 3);
    while ((await status(c, 'scale')).ready < 3) await c.wait(/ready/);
    c.proc.kill('SIGTTOU');
    await c.wait(/exited: code 0/);
    s = await status(c, 'scale');
    assert.deepEqual([s.workers, s.list.length], [2, 2]);
    c.proc.kill('SIGTTIN');
    await c.wait(/slot 2\) ready/);
    assert.equal((await status(c, 'scale')).ready, 3);
  });

  it("with --ready message, counts a worker ready on its 'ready' message and gates a reload on it", async (t) => {
    const port = await freePort();
    const modeFile = path.join(runtimeDir(t), 'mode');
    fs.writeFileSync(modeFile, 'message');
    const c = start(t, [APP, '-w', '2', '--name', 'msg', '--ready', 'message', '--reload-timeout', '1000'], { PORT: port, MODE_FILE: modeFile });
    await c.wait(READY);
    assert.match(c.output(), /ready on message/);
    // Listening without the message is not ready: the reload is aborted.
    fs.writeFileSync(modeFile, '');
    const r = await ctl(c, ['reload', 'msg']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /not ready within 1000 ms/);
    fs.writeFileSync(modeFile, 'message');
    assert.equal((await ctl(c, ['reload', 'msg'])).code, 0);
  });

  it('says oom-killed when the cgroup counted an OOM kill', async (t) => {
    // A memory cgroup of our own (root; cgroup v1 or v2 with the memory controller), with the
    // CLI and so its workers in it.
    const name = `nc-oom-${process.pid}`;
    const dirs = [`/sys/fs/cgroup/memory/${name}`, `/sys/fs/cgroup/${name}`];
    let dir = null;
    for (const d of dirs) {
      try {
        fs.mkdirSync(d);
        const limit = fs.existsSync(`${d}/memory.limit_in_bytes`) ? 'memory.limit_in_bytes' : 'memory.max';
        fs.writeFileSync(`${d}/${limit}`, String(300 * 1024 * 1024));
        dir = d;
        break;
      } catch {
        try { fs.rmdirSync(d); } catch { // left behind; the next place is tried
        }
      }
    }
    if (!dir) return t.skip('no memory cgroup can be made here');
    const port = await freePort();
    const c = start(t, ['-e', `require('fs').writeFileSync(${JSON.stringify(`${dir}/cgroup.procs`)}, String(process.pid));
      process.argv.splice(1, 0, ${JSON.stringify(CLI)}); require(${JSON.stringify(CLI)})`, APP, '-w', '1', '--name', 'oom'],
    { PORT: port, MODE: 'leak' }, { raw: true });
    // After start()'s own hook has stopped the CLI (hooks run in the order they were added).
    t.after(async () => {
      for (let i = 0; i < 50 && fs.readFileSync(`${dir}/cgroup.procs`, 'utf8').trim(); i++) await sleep(100);
      fs.rmdirSync(dir);
    });
    await c.wait(/exited: oom-killed \(unexpected\)/);
    await c.wait(/slot 0: restart/, { seen: true });
  });

  it('explains bad arguments with exit code 2', async (t) => {
    const env = { ...process.env, XDG_RUNTIME_DIR: runtimeDir(t) };
    const run = (args) => new Promise((resolve) => execFile(process.execPath, [CLI, ...args], { env }, (err, stdout, stderr) => {
      resolve({ code: err ? err.code : 0, stdout, stderr });
    }));
    for (const [args, message] of [
      [[APP, '-w', 'lots'], /--workers must be a number or max/],
      [[APP, '--policy', 'random'], /policy must be rr, none or reuseport/],
      [[APP, '--drain-timeout', 'soon'], /--drain-timeout must be a number of milliseconds/],
      [[APP, '--env', 'NOEQUALS'], /--env wants KEY=VALUE/],
      [[APP, '--bogus'], /Unknown option '--bogus'/],
      [['nothere.js'], /nothere.js: no such file/],
      [['scale'], /scale wants a worker count/],
    ]) {
      const r = await run(args);
      assert.ok(r.code === 2 || r.code === 1, `${args.join(' ')}: ${r.code}`);
      assert.match(r.stderr, message);
    }
    const help = await run(['--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /usage: native-cluster/);
  });

  it('reads a PM2 ecosystem file and warns about keys it does not know', async (t) => {
    const port = await freePort();
    const dir = runtimeDir(t);
    const config = path.join(dir, 'ecosystem.config.js');
    fs.writeFileSync(config, `module.exports = { apps: [{ name: 'eco', script: ${JSON.stringify(APP)}, instances: 2,
      exec_mode: 'cluster', env: { PORT: ${port} }, kill_timeout: 3000, watch: false }] };`);
    const c = start(t, [config]);
    await c.wait(READY);
    assert.match(c.output(), /unknown key 'watch' ignored/);
    const s = await status(c, 'eco');
    assert.equal(s.workers, 2);
  });
});

describe('native-cluster/supervisor API', () => {
  const { supervise } = require('native-cluster/supervisor');

  it('gives an exit of its own its code as the reason, and restarts it', async (t) => {
    const port = await freePort();
    const sup = supervise(APP, { workers: 1, env: { PORT: String(port), HOST: '127.0.0.1', MODE: 'crash-late', CRASH_MS: '100' } });
    t.after(() => sup.stop());
    const [first] = await once(sup, 'worker-exit');
    assert.deepEqual([first.reason, first.kind, first.code, first.requested], ['code 2', 'code', 2, false]);
    const [restart] = await once(sup, 'restart');
    assert.deepEqual([restart.slot, restart.after], [0, 'code 2']);
    await sup.stop();
    assert.equal(sup.stats().list.length, 0);
  });

  it('terminates a worker whose request outlives the drain deadline, with the reason', async (t) => {
    const port = await freePort();
    const sup = supervise(APP, { workers: 1, env: { PORT: String(port), HOST: '127.0.0.1' }, drainTimeout: 300 });
    t.after(() => sup.stop());
    const ready = await sup.ready;
    assert.equal(ready.list.length, 1);
    const exits = [];
    sup.on('worker-exit', (e) => exits.push(e));
    const res = await fetch(`http://127.0.0.1:${port}/slow?ms=20000`);
    assert.equal(res.status, 200);
    const body = res.text().catch((e) => e);
    const stopped = await sup.stop();
    assert.deepEqual(stopped, { stopped: 1, drainTimeouts: 1 });
    assert.deepEqual([exits[0].reason, exits[0].kind, exits[0].requested], ['drain timeout (signal SIGTERM)', 'drain-timeout', true]);
    assert.ok((await body) instanceof Error);
  });

  it("keeps handing out new connections while the primary's JS is blocked", async (t) => {
    const port = await freePort();
    const sup = supervise(APP, { workers: 2, env: { PORT: String(port), HOST: '127.0.0.1' } });
    t.after(() => sup.stop());
    await sup.ready;
    const child = execFile(process.execPath, [fixture('supervisor/load-child.js'), String(port), '3000']);
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    const exited = once(child, 'exit');
    // Once the load is flowing, block this process (the primary) for a second.
    await sleep(1000);
    const from = Date.now();
    while (Date.now() - from < 1000);
    const to = Date.now();
    await exited;
    const { done, failed } = JSON.parse(out);
    assert.equal(failed, 0);
    assert.ok(done.filter((at) => at > from + 100 && at < to).length > 0, 'requests completed while the primary was blocked');
  });

  it('rejects bad options with a code', () => {
    assert.throws(() => supervise(APP, { workers: 'lots' }), { code: 'ERR_INVALID_ARG_VALUE' });
    assert.throws(() => supervise(APP, { policy: 'random' }), { code: 'ERR_INVALID_ARG_VALUE' });
    assert.throws(() => supervise(APP, { ready: 'soon' }), { code: 'ERR_INVALID_ARG_VALUE' });
    assert.throws(() => supervise('', {}), { code: 'ERR_INVALID_ARG_TYPE' });
  });
});
