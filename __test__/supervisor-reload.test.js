'use strict';
// Reloads of the supervisor as users meet them through `native-cluster`: under keep-alive and
// new-connection load, under --policy none, aborted by broken new code, and two issued at once.
// An unmodified HTTP server (fixtures/supervisor/app.js) under real load over loopback, counting
// failed requests. In a file of its own, beside supervisor.test.js (the rest of the CLI and the
// API), so the test runner runs the two side by side. Every wait is on a line the CLI prints or
// on a process exit, bounded by the test's timeout; no duration is asserted.
const { describe } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { it } = require('./helpers');
const { load } = require('./fixtures/supervisor/load');

const { APP, freePort, runtimeDir, start, ctl, status } = require('./fixtures/supervisor/harness');

const READY = /workers listening on/;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// The primary's children, from /proc (what R3 counts).
function childrenOf(pid) {
  return fs.readdirSync(`/proc/${pid}/task`).flatMap((tid) => fs.readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim().split(/\s+/)).filter(Boolean).map(Number);
}

describe('native-cluster supervisor: reloads', () => {
  for (const keepAlive of [true, false]) {
    it(`reloads 3 times under ${keepAlive ? 'keep-alive' : 'new-connection'} load with 0 failed requests`, async (t) => {
      const port = await freePort();
      const c = start(t, [APP, '-w', '2', '--name', 'zero'], { PORT: port });
      await c.wait(READY);
      const first = (await status(c, 'zero')).list.map((w) => String(w.pid));
      const traffic = load({ port, keepAlive, concurrency: 16 });
      const seen = [];
      for (let i = 0; i < 3; i++) {
        // Some requests in before each reload.
        const floor = traffic.result.ok + 50;
        while (traffic.result.ok < floor) await sleep(20);
        if (i === 1) {
          c.proc.kill('SIGHUP');
          await c.wait(/reload: done/);
        } else {
          const r = await ctl(c, ['reload', 'zero']);
          assert.equal(r.code, 0, r.stderr);
          assert.match(r.stdout, /2 workers replaced/);
        }
        seen.push((await status(c, 'zero')).list.map((w) => String(w.pid)));
      }
      const floor = traffic.result.ok + 50;
      while (traffic.result.ok < floor) await sleep(20);
      const res = await traffic.stop();
      assert.deepEqual(res.errors, {});
      assert.equal(res.failed, 0);
      // The last generation served, the first is gone.
      assert.ok(seen[2].some((pid) => res.pids.includes(pid)));
      for (const pid of first) assert.ok(!seen[2].includes(pid));
      assert.equal(seen[2].length, 2);
    });
  }

  it('reloads under --policy none (one shared socket) with 0 failed requests', async (t) => {
    const port = await freePort();
    const c = start(t, [APP, '-w', '2', '--name', 'none', '--policy', 'none'], { PORT: port });
    await c.wait(READY);
    const kept = load({ port, keepAlive: true, concurrency: 8 });
    const fresh = load({ port, keepAlive: false, concurrency: 8 });
    for (let i = 0; i < 2; i++) {
      const floor = kept.result.ok + 50;
      while (kept.result.ok < floor) await sleep(20);
      assert.equal((await ctl(c, ['reload', 'none'])).code, 0);
    }
    const [a, b] = [await kept.stop(), await fresh.stop()];
    assert.deepEqual([a.failed, b.failed, a.errors, b.errors], [0, 0, {}, {}]);
  });

  for (const broken of ['throw', 'never']) {
    it(`aborts a reload whose new code ${broken === 'throw' ? 'throws at start' : 'never listens'}: the old workers keep serving`, async (t) => {
      const port = await freePort();
      const modeFile = path.join(runtimeDir(t), 'mode');
      fs.writeFileSync(modeFile, '');
      const c = start(t, [APP, '-w', '2', '--name', 'abort', '--reload-timeout', '1000'], { PORT: port, MODE_FILE: modeFile });
      await c.wait(READY);
      const old = (await status(c, 'abort')).list.map((w) => w.pid).sort();
      const traffic = load({ port, keepAlive: true, concurrency: 8 });
      fs.writeFileSync(modeFile, broken);
      const r = await ctl(c, ['reload', 'abort']);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /reload aborted/);
      await c.wait(/reload aborted: /, { seen: true });
      const floor = traffic.result.ok + 50;
      while (traffic.result.ok < floor) await sleep(20);
      const res = await traffic.stop();
      assert.equal(res.failed, 0, JSON.stringify(res.errors));
      const now = await status(c, 'abort');
      assert.deepEqual(now.list.filter((w) => w.state === 'ready').map((w) => w.pid).sort(), old);
      assert.ok(res.pids.every((pid) => old.includes(Number(pid))));
      // Fixed code reloads fine afterwards.
      fs.writeFileSync(modeFile, '');
      assert.equal((await ctl(c, ['reload', 'abort'])).code, 0);
    });
  }

  it('serializes two reloads issued together: exactly N workers after, no orphan', async (t) => {
    const port = await freePort();
    const c = start(t, [APP, '-w', '2', '--name', 'twice'], { PORT: port });
    await c.wait(READY);
    const [a, b] = await Promise.all([ctl(c, ['reload', 'twice']), ctl(c, ['reload', 'twice'])]);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(b.code, 0, b.stderr);
    const s = await status(c, 'twice');
    assert.equal(s.list.length, 2);
    assert.deepEqual(childrenOf(c.proc.pid).sort(), s.list.map((w) => w.pid).sort());
    // Only the new generation answers.
    for (let i = 0; i < 10; i++) {
      const pid = Number(await (await fetch(`http://127.0.0.1:${port}/pid`)).text());
      assert.ok(s.list.some((w) => w.pid === pid), `${pid} is a current worker`);
    }
  });
});
