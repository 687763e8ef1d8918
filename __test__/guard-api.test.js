'use strict';
// Guard rails of the supervisor through its API (`native-cluster/supervisor`): hang detection
// against a blocked primary, recycling and the memory limit with their events, option errors.
// In a file of its own, beside guard.test.js (the same guard rails through the CLI), so the
// test runner runs the two side by side.
const { describe } = require('node:test');
const { once } = require('node:events');
const assert = require('node:assert/strict');
const { it } = require('./helpers');
const { load } = require('./fixtures/supervisor/load');
const { APP, freePort } = require('./fixtures/supervisor/harness');

const MB = 1048576;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

describe('native-cluster/supervisor API guard rails', () => {
  const { supervise } = require('native-cluster/supervisor');

  it("does not take a blocked primary's late pings for hung workers", async (t) => {
    const port = await freePort();
    const sup = supervise(APP, { workers: 1, hangTimeout: 1500, env: { PORT: String(port), HOST: '127.0.0.1' } });
    t.after(() => sup.stop());
    await sup.ready;
    const hung = [];
    sup.on('worker-hung', (e) => hung.push(e));
    // Past a ping or two, then blocked for longer than the hang timeout.
    await sleep(1200);
    const from = Date.now();
    while (Date.now() - from < 2500);
    // Three ping periods more, each answered.
    await sleep(3000);
    assert.deepEqual(hung, []);
    assert.equal(sup.stats().counters.hangs, 0);
  });

  it('recycles through the API with max-requests and emits recycle events', async (t) => {
    const port = await freePort();
    const sup = supervise(APP, { workers: 1, maxRequests: 50, env: { PORT: String(port), HOST: '127.0.0.1' } });
    t.after(() => sup.stop());
    const [{ pid }] = (await sup.ready).list;
    const traffic = load({ port, keepAlive: true, concurrency: 2 });
    const [recycle] = await once(sup, 'recycle');
    assert.deepEqual([recycle.kind, recycle.reason, recycle.pid], ['max-requests', '50 requests', pid]);
    const [done] = await once(sup, 'recycled');
    assert.equal(done.replacedPid, pid);
    const res = await traffic.stop();
    assert.equal(res.failed, 0);
  });

  it('keeps a worker whose memory falls back under the limit before the third sample, draining the replacement it started', async (t) => {
    const port = await freePort();
    const sup = supervise(APP, { workers: 1, maxMemory: 120 * MB, sampleInterval: 500, logFormat: 'inherit', nodeArgs: ['--expose-gc'],
      env: { PORT: String(port), HOST: '127.0.0.1', MODE: 'spike' } });
    t.after(() => sup.stop());
    const [{ pid }] = (await sup.ready).list;
    const traffic = load({ port, keepAlive: true, concurrency: 2 });
    const [recycle] = await once(sup, 'recycle');
    assert.deepEqual([recycle.kind, recycle.pid], ['memory-limit', pid]);
    const [aborted] = await once(sup, 'recycle-aborted');
    assert.deepEqual([aborted.kind, aborted.reason, aborted.replacing], ['memory-limit', 'memory-limit no longer holds', sup.stats().list.find((w) => w.pid === pid).id]);
    const [exit] = await once(sup, 'worker-exit');
    assert.equal(exit.id, aborted.id);
    assert.deepEqual(sup.stats().list.map((w) => w.pid), [pid]);
    const res = await traffic.stop();
    assert.equal(res.failed, 0);
  });

  it('rejects bad guard-rail options with a code', () => {
    assert.throws(() => supervise(APP, { maxMemory: -1 }), { code: 'ERR_INVALID_ARG_VALUE' });
    assert.throws(() => supervise(APP, { hangTimeout: 'soon' }), { code: 'ERR_INVALID_ARG_VALUE' });
    assert.throws(() => supervise(APP, { sampleInterval: 0 }), { code: 'ERR_INVALID_ARG_VALUE' });
  });
});
