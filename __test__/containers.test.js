'use strict';
// PID 1 and containers (R12) and whole-tree stop (R13), through `native-cluster`: workers die
// with a primary killed by SIGKILL (parent-death signal), the primary reaps the orphans its
// workers leave without taking its workers' exit statuses, SIGTERM to PID 1 of a pid namespace
// (`unshare -pf --mount-proc`) drains and exits 0, and no descendant of a worker keeps its port
// after stop or reload (a cgroup per worker where cgroup v2 is writable). Every wait is on a line
// the CLI prints or on /proc, bounded in time.
const { describe } = require('node:test');
const assert = require('node:assert/strict');
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const { it } = require('./helpers');
const { CLI, freePort, runtimeDir, start, ctl, status } = require('./fixtures/supervisor/harness');
const proc = require('../lib/supervisor/proc');

const APP = path.join(__dirname, 'fixtures', 'supervisor', 'containers-app.js');
const READY = /workers listening on/;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const alive = (pid) => {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return false;
  }
};
const exists = (pid) => fs.existsSync(`/proc/${pid}`);

// Polls `check` every 20 ms until it holds or `ms` have passed; returns whether it held.
async function until(check, ms) {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) return false;
    await sleep(20);
  }
  return true;
}

function get(port, p) {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: p, agent: false }, (res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('error', (err) => resolve({ error: err.code }));
  });
}

const unshareProbe = spawnSync('unshare', ['-pf', '--mount-proc', 'true']);
const noUnshare = unshareProbe.error ? `unshare is not available (${unshareProbe.error.code})`
  : unshareProbe.status !== 0 ? `unshare -pf --mount-proc is not permitted here (${String(unshareProbe.stderr).trim()})` : false;

describe('native-cluster as PID 1 and in containers', () => {
  it('takes every worker down with a primary killed by SIGKILL, a spinning one too', async (t) => {
    const port = await freePort();
    const c = start(t, [APP, '-w', '2', '--name', 'pdeath'], { PORT: port });
    await c.wait(READY);
    const pids = (await status(c, 'pdeath')).list.map((w) => w.pid);
    // One worker spins (it will never notice its channel closing).
    http.get({ host: '127.0.0.1', port, path: '/spin', agent: false }).on('error', () => {});
    await sleep(100);
    const t0 = Date.now();
    c.proc.kill('SIGKILL');
    const gone = await until(() => pids.every((p) => !alive(p)), 5000);
    const ms = Date.now() - t0;
    // Without the parent-death signal the spinning worker would stay (bar: gone within 1 s).
    t.diagnostic(`primary SIGKILLed → both workers gone in ${ms} ms`);
    assert.ok(gone, `workers left: ${pids.filter(alive)}`);
  });

  // The kernel clears a parent-death signal when the child's credentials change (prctl(2)):
  // set before setuid/setgid, it would be gone by the exec.
  it('a child spawned with uid/gid and a death signal still dies with its parent', { skip: process.getuid() !== 0 && 'needs root (setuid)' }, async (t) => {
    const parentScript = `
      const { spawn } = require(${JSON.stringify(path.join(__dirname, '..', 'lib', 'child_process.js'))});
      const c = spawn('sleep', ['30'], { uid: 65534, gid: 65534, deathSignal: 9, stdio: 'ignore' });
      c.on('error', (err) => console.log('error', err.code));
      setTimeout(() => { console.log(c.pid); process.exit(0); }, 50);`;
    const parent = spawn(process.execPath, ['-e', parentScript], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    parent.stdout.on('data', (d) => { out += d; });
    await new Promise((resolve) => parent.on('exit', resolve));
    // Root without the right to change its ids (a user namespace, say) cannot run this.
    if (out.startsWith('error')) return t.skip(`cannot spawn as uid 65534 here (${out.trim()})`);
    const pid = Number(out.trim());
    assert.ok(pid > 0, `no pid printed: ${JSON.stringify(out)}`);
    t.after(() => {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Gone already, as it should be.
      }
    });
    assert.ok(await until(() => !alive(pid), 5000), `child ${pid} outlived its parent`);
  });

  it("reaps orphans re-parented to the primary, and still reports its workers' own exits", async (t) => {
    const port = await freePort();
    const c = start(t, [APP, '-w', '2', '--name', 'orphans'], { PORT: port, MODE: 'orphan' });
    await c.wait(READY);
    const orphanLines = () => c.lines.filter((l) => /orphan \d+/.test(l));
    assert.ok(await until(() => orphanLines().length === 2, 10000), c.output());
    const orphans = orphanLines().map((l) => Number(/orphan (\d+)/.exec(l)[1]));
    // Each sleep's shell has exited: the primary (a subreaper) is its parent now; once it ends,
    // the engine reaps it.
    assert.ok(await until(() => orphans.every((p) => !exists(p)), 5000), `left: ${orphans.filter(exists)} (zombies?)`);
    const s = await status(c, 'orphans');
    assert.equal(s.containers.subreaper, true);
    assert.ok(s.containers.orphansReaped >= 1, JSON.stringify(s.containers));
    // A worker killed from outside: its exit status is ours to see, not the reaper's.
    const victim = s.list[0].pid;
    process.kill(victim, 'SIGKILL');
    await c.wait(new RegExp(`pid ${victim}, slot \\d\\) exited: signal SIGKILL \\(external\\)`));
  });

  it('leaves no descendant holding the port after a reload or a stop', async (t) => {
    const port = await freePort();
    const c = start(t, [APP, '-w', '2', '--policy', 'none', '--name', 'holders', '--drain-timeout', '1000'], { PORT: port, MODE: 'holder' });
    await c.wait(READY);
    const first = (await status(c, 'holders'));
    t.diagnostic(`cgroups: ${first.containers.cgroups ? 'one per worker' : first.containers.cgroupNote}`);
    const holderOf = async () => Number(/holder (\d+)/.exec(await c.wait(/holder \d+/))[1]);
    const seen = c.lines.filter((l) => /holder \d+/.test(l)).map((l) => Number(/holder (\d+)/.exec(l)[1]));
    assert.equal(seen.length, 2);
    assert.ok(seen.every(alive));
    // Reload: the old workers go, and their holders with them.
    const reloaded = ctl(c, ['reload', 'holders']);
    const fresh = [await holderOf(), await holderOf()];
    assert.equal((await reloaded).code, 0);
    assert.ok(await until(() => !seen.some(alive), 10000), `old holders left: ${seen.filter(alive)}`);
    // Stop: nothing holds the port afterwards.
    c.proc.kill('SIGTERM');
    const { code } = await c.exited;
    assert.equal(code, 0);
    assert.ok(await until(() => proc.portHolders(port).length === 0, 5000), JSON.stringify(proc.portHolders(port)));
    assert.ok(!fresh.some(alive));
  });

  it("says it cannot reap orphans as PID 1 of a pid namespace whose /proc is another namespace's, and serves on", { skip: noUnshare }, async (t) => {
    const port = await freePort();
    const xdg = runtimeDir(t);
    // No --mount-proc: /proc/self is the host's pid for this process, not 1.
    const child = spawn('unshare', ['-pf', process.execPath, CLI, APP, '-w', '1', '--name', 'pid1proc'], {
      env: { ...process.env, XDG_RUNTIME_DIR: xdg, PORT: String(port), HOST: '127.0.0.1' }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    t.after(() => child.kill('SIGKILL'));
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d) => { out += d; });
    child.stderr.setEncoding('utf8').on('data', (d) => { out += d; });
    const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
    assert.ok(await until(() => READY.test(out), 20000), out);
    assert.match(out, /primary pid 1,/);
    assert.match(out, /orphans left by workers will not be reaped: \/proc belongs to another pid namespace/);
    assert.equal((await get(port, '/')).status, 200);
    process.kill(proc.descendants(child.pid)[0].pid, 'SIGTERM');
    assert.equal((await exited).code, 0, out);
  });

  it('drains on SIGTERM as PID 1 of a pid namespace and exits 0, reaping orphans meanwhile', { skip: noUnshare }, async (t) => {
    const port = await freePort();
    const xdg = runtimeDir(t);
    const child = spawn('unshare', ['-pf', '--mount-proc', process.execPath, CLI, APP, '-w', '2', '--name', 'pid1'], {
      env: { ...process.env, XDG_RUNTIME_DIR: xdg, PORT: String(port), HOST: '127.0.0.1', MODE: 'orphan' }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    t.after(() => child.kill('SIGKILL'));
    let out = '';
    const waitFor = (re) => until(() => re.test(out), 20000);
    child.stdout.setEncoding('utf8').on('data', (d) => { out += d; });
    child.stderr.setEncoding('utf8').on('data', (d) => { out += d; });
    const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
    assert.ok(await waitFor(READY), out);
    assert.match(out, /primary pid 1,/);
    // The primary as this namespace's PID 1, seen from outside: unshare's child.
    const primary = proc.descendants(child.pid)[0].pid;
    // The orphaned sleeps end and are reaped: no zombie child of PID 1 stays.
    assert.ok(await waitFor(/orphan \d+[^]*orphan \d+/), out);
    const zombies = () => proc.descendants(primary).filter((d) => !alive(d.pid) && exists(d.pid));
    await sleep(600);
    assert.ok(await until(() => zombies().length === 0, 5000), JSON.stringify(zombies()));
    // A request in flight on each worker when SIGTERM comes: both drain at once, both answered.
    const inFlight = [get(port, '/slow?ms=1500'), get(port, '/slow?ms=1500')];
    await sleep(100);
    const t0 = Date.now();
    process.kill(primary, 'SIGTERM');
    const { code } = await exited;
    const ms = Date.now() - t0;
    const answers = await Promise.all(inFlight);
    t.diagnostic(`SIGTERM → exit ${code} in ${ms} ms (two 1.5 s requests in flight)`);
    assert.equal(code, 0, out);
    assert.deepEqual(answers.map((a) => a.status), [200, 200]);
    // In parallel: both workers began to close before either had exited (one at a time, the
    // second would be asked only once the first had gone).
    const firstExit = out.search(/exited: /);
    assert.equal(out.slice(0, firstExit).match(/closing \d+/g).length, 2, out);
    assert.match(out, /stopped: 2 workers drained/);
  });
});
