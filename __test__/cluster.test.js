'use strict';
// cluster: the same cluster program (fixtures/cluster-app.js) run with node:cluster and with
// ours as its primary, under each scheduling policy; workers are plain Node either way. What
// the primary observed must match: events per worker and their order, addresses, responses
// from every worker, settings, kill/exit codes and signals, bind errors.
const { describe } = require('node:test');
const assert = require('node:assert/strict');
const { execFile } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { it, OURS_IMPL, fixture } = require('./helpers');

const APP = fixture('cluster-app.js');

function run(impl, scenario, policy, extra = '', cwd = undefined) {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [APP, impl, scenario, extra], {
      env: { ...process.env, NODE_CLUSTER_SCHED_POLICY: policy }, timeout: 25000, cwd,
    }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`${impl} ${scenario}: ${err.message}\n${stdout}\n${stderr}`));
      const out = JSON.parse(stdout.trim().split('\n').pop());
      // 'disconnect' and 'exit' of one worker come in either order, in Node too.
      for (const [id, evs] of Object.entries(out.events || {})) {
        out.events[id] = [...evs.filter((e) => !/^(disconnect|exit)/.test(e)), ...evs.filter((e) => /^(disconnect|exit)/.test(e)).sort()];
      }
      resolve(out);
    });
  });
}

function tmpDir(t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nc-cluster-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

// [scenario, extra argument (given the test), check]
const SCENARIOS = [
  ['http', () => 'json', (o) => assert.deepEqual(o.seen, ['w1', 'w2'])],
  ['http', () => 'advanced', (o) => assert.deepEqual(o.seen, ['w1', 'w2'])],
  ['tcp', () => '', (o) => {
    assert.deepEqual([o.seen, o.seenV6, o.ports], [['w1', 'w2'], ['v6:w1', 'v6:w2'], 2]);
    assert.equal(o.v4Refused, 'ECONNREFUSED');
  }],
  ['unix', (t, impl) => path.join(tmpDir(t), `${impl}.sock`), (o) => assert.deepEqual(o.seen, ['w1', 'w2'])],
  // A path longer than sun_path holds: the primary binds it relative to its cwd.
  ['unix', (t, impl) => {
    const dir = path.join(tmpDir(t), 'x'.repeat(100));
    fs.mkdirSync(dir);
    return path.join(dir, `${impl}.sock`);
  }, (o) => assert.deepEqual(o.seen, ['w1', 'w2']), 'long path'],
  ['forms', () => '', (o) => assert.equal(o.ok.length, 4)],
  ['data', () => '', (o) => assert.deepEqual([o.first, o.second], [{ data: { from: 1 } }, { data: { from: 1 } }])],
  ['kill', () => '', (o) => assert.deepEqual(o.exit, [null, 'SIGTERM'])],
  ['sigkill', () => '', (o) => assert.deepEqual(o.exit, [null, 'SIGKILL'])],
  ['udp', () => '', (o) => assert.equal(o.reply, 'w1:ping')],
  ['eaddrinuse', () => '', (o) => assert.equal(o.message.error, 'EADDRINUSE')],
  ['settings', () => '', (o) => assert.equal(o.message.env, 'extra')],
];


describe('cluster primary, differential against node:cluster', { skip: OURS_IMPL.skip }, () => {
  for (const policy of ['rr', 'none']) {
    for (const [scenario, extra, check, label] of SCENARIOS) {
      const name = scenario === 'http' ? `http, ${extra()} serialization` : label ? `${scenario}, ${label}` : scenario;
      it(`${name} (${policy})`, async (t) => {
        // Unix paths: the primary runs in the socket's directory (a long path is bound relative).
        const args = (impl) => {
          const x = extra(t, impl);
          return [impl, scenario, policy, x, scenario === 'unix' ? path.dirname(x) : undefined];
        };
        const [want, got] = await Promise.all([run(...args('node')), run(...args('ours'))]);
        if (got.message && got.message.argv) got.message.argv[0] = want.message.argv[0];
        assert.deepEqual(got, want);
        check(got);
      });
    }
  }
});

describe('cluster primary beyond Node [ours]', { skip: OURS_IMPL.skip }, () => {
  it('round-robin connections are accepted and served while the primary\'s JS is blocked', async (t) => {
    const o = await run('ours', 'busy', 'rr', tmpDir(t));
    assert.equal(o.servedWhileBlocked, true);
  });

  it('a connection handed to a worker that leaves without reading it goes to another worker', async (t) => {
    const o = await run('ours', 'leaver', 'rr', tmpDir(t));
    assert.deepEqual(o.answers, ['w1', 'w1', 'w1', 'w1', 'w1', 'w1']);
  });

  it('bogus cluster messages and garbage from a worker are its \'error\'s; the primary carries on', async () => {
    const o = await run('ours', 'bogus', 'rr');
    assert.deepEqual(o.errors, ['ERR_IPC_INVALID_MESSAGE', 'ERR_IPC_INVALID_MESSAGE']);
    assert.equal(o.message, 'still here');
  });

  it('when the primary dies, its workers exit', async () => {
    const { pids } = await run('ours', 'orphans', 'rr');
    const alive = (pid) => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    // Each worker exits once it sees its channel close; give them up to 10 s.
    for (let i = 0; i < 200 && pids.some(alive); i++) await new Promise((resolve) => setTimeout(resolve, 50));
    assert.deepEqual(pids.filter(alive), []);
  });

  it('SCHED_REUSEPORT: a socket per worker, the kernel spreads connections, a worker leaving takes only its own', async () => {
    const o = await run('ours', 'spread', 'reuseport');
    assert.equal(o.policy, 3);
    assert.deepEqual(Object.keys(o.counts).sort(), ['w1', 'w2']);
    assert.deepEqual(o.afterLeave, ['w2']);
  });

  for (const policy of ['rr', 'none', 'reuseport']) {
    it(`a worker SIGKILLed under load (${policy}): the other serves on, the primary keeps no descriptor`, async () => {
      const o = await run('ours', 'killUnderLoad', policy);
      assert.deepEqual(o.afterKill, ['w2']);
      assert.equal(o.fdsLeft, 0);
    });
  }
});
