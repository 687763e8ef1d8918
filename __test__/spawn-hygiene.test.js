'use strict';
// Ours only: resource hygiene of spawn() and spawnSync(): no fd leaks and no zombies after many
// short-lived children. (Run with NC_OURS_IS_NODE=1 to check the scenarios against Node.)
const { describe } = require('node:test');
const assert = require('node:assert/strict');
const { it, OURS_IMPL, next, openFds, zombieChildren, pool, procState } = require('./helpers');

const impl = OURS_IMPL;

// Spawns /bin/true and waits for 'close'; checks the outcome and that it is reaped at 'exit'.
async function one(options) {
  const child = impl.cp.spawn('/bin/true', [], options);
  const pid = child.pid;
  let reaped = null;
  child.on('exit', () => {
    const state = procState(pid);
    reaped = state === null || state !== 'Z';
  });
  const [code, signal] = await next(child, 'close');
  assert.deepEqual([code, signal], [0, null]);
  assert.equal(reaped, true, `child ${pid} is a zombie at 'exit'`);
}

describe('spawn hygiene [ours]', { skip: impl.skip }, () => {
  it('no fd leak and no zombie after 1,000 spawns of /bin/true (waiting for each close)', { timeout: 60000 }, async () => {
    await one(); // warm-up: lazily created engine fds
    const before = openFds();
    await pool(1000, 4, () => one());
    assert.deepEqual(openFds(), before);
    assert.deepEqual(zombieChildren(), []);
  });

  it("no fd leak after spawns with stdio 'ignore' and with extra pipes", async () => {
    await one({ stdio: ['pipe', 'pipe', 'pipe', 'pipe'] });
    const before = openFds();
    await pool(50, 4, () => one({ stdio: 'ignore' }));
    await pool(50, 4, () => one({ stdio: ['pipe', 'pipe', 'pipe', 'pipe', 'pipe'] }));
    assert.deepEqual(openFds(), before);
    assert.deepEqual(zombieChildren(), []);
  });

  it('no fd leak after failed spawns', async () => {
    await one();
    const before = openFds();
    await pool(50, 4, async () => {
      const child = impl.cp.spawn('/nonexistent/command');
      const [err] = await next(child, 'error');
      assert.equal(err.code, 'ENOENT');
      // Node emits 'close' after the error; do not depend on it here (spawn.test.js checks it).
      for (const s of child.stdio) if (s) s.destroy();
      await new Promise((r) => setImmediate(r));
    });
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(openFds(), before);
  });

  it('no fd leak and no zombie after 200 spawnSync calls', () => {
    impl.cp.spawnSync('/bin/true');
    const before = openFds();
    for (let i = 0; i < 200; i++) {
      const r = impl.cp.spawnSync('/bin/true', [], i % 2 ? { input: 'x' } : { stdio: 'ignore' });
      assert.equal(r.status, 0);
    }
    for (let i = 0; i < 20; i++) {
      const r = impl.cp.spawnSync('sleep', ['10'], { timeout: 1 });
      assert.equal(r.error && r.error.code, 'ETIMEDOUT');
    }
    for (let i = 0; i < 20; i++) impl.cp.spawnSync('/nonexistent/command');
    assert.deepEqual(openFds(), before);
    assert.deepEqual(zombieChildren(), []);
  });
});
