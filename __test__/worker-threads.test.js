'use strict';
// child_process in worker threads (issue 12 item 2), against node:child_process: the package
// works in several JS threads at once, each with its own events; a thread that loaded it
// first and exited leaves the main thread working; a child spawned from a thread that exits
// keeps running and sees its channel close. Each scenario runs in a process of its own
// (fixtures/threads.js), so "loaded first in a thread" is really first.
const { describe } = require('node:test');
const assert = require('node:assert/strict');
const nodeCp = require('node:child_process');
const { it, OURS_IMPL, fixture } = require('./helpers');

const THREADS = fixture('threads.js');

function run(impl, scenario) {
  const r = nodeCp.spawnSync(process.execPath, [THREADS, impl, scenario], { encoding: 'utf8', timeout: 60000 });
  assert.equal(r.status, 0, `${impl} ${scenario}: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

const EXCHANGE = (tag) => [
  ['message', `${tag}:1`], ['message', `${tag}:2`], ['message', 'last'], ['disconnect'], ['exit', 0, null],
];

describe('worker threads [ours]', { skip: OURS_IMPL.skip || OURS_IMPL.isNode }, () => {
  it('a worker thread and the main thread fork and exchange messages at once; the main thread carries on after the worker exits', () => {
    const want = run('node', 'both');
    assert.deepEqual(want, { worker: { code: 0, messages: [EXCHANGE('worker')] }, main: EXCHANGE('main'), after: EXCHANGE('after') });
    assert.deepEqual(run('ours', 'both'), want);
  });

  it('a thread that loaded the package first and exited does not break the main thread', () => {
    const want = run('node', 'first');
    assert.deepEqual(want, { worker: { code: 0, messages: [EXCHANGE('worker')] }, main: EXCHANGE('main') });
    assert.deepEqual(run('ours', 'first'), want);
  });

  it("a child spawned from a thread that exits keeps running, and sees the thread's channel close", () => {
    const want = run('node', 'orphan');
    assert.deepEqual(want, { code: 0, aliveAfterThreadExit: true, childSaid: 'disconnected', aliveAfterDisconnect: true });
    assert.deepEqual(run('ours', 'orphan'), want);
  });
});
