'use strict';
// cluster: the same cluster program (fixtures/cluster-app.js) run with node:cluster and with
// ours as its primary, under each scheduling policy; workers are plain Node either way. What
// the primary observed must match: events per worker and their order, addresses, responses
// from every worker, settings, kill/exit codes and signals, bind errors.
const { describe } = require('node:test');
const assert = require('node:assert/strict');
const { execFile } = require('node:child_process');
const { it, OURS_IMPL, fixture } = require('./helpers');

const APP = fixture('cluster-app.js');

function run(impl, scenario, policy) {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [APP, impl, scenario], {
      env: { ...process.env, NODE_CLUSTER_SCHED_POLICY: policy }, timeout: 25000,
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

const CHECKS = {
  http: (o) => assert.deepEqual(o.seen, ['w1', 'w2']),
  kill: (o) => assert.deepEqual(o.exit, [null, 'SIGTERM']),
  sigkill: (o) => assert.deepEqual(o.exit, [null, 'SIGKILL']),
  udp: (o) => assert.equal(o.reply, 'w1:ping'),
  eaddrinuse: (o) => assert.equal(o.message.error, 'EADDRINUSE'),
  settings: (o) => assert.deepEqual(o.message, { argv: ['ours', 'settings', 'x'].map((a, i) => (i === 0 ? o.message.argv[0] : a)), env: 'extra' }),
};

describe('cluster primary, differential against node:cluster', { skip: OURS_IMPL.skip }, () => {
  for (const policy of ['rr', 'none']) {
    for (const scenario of Object.keys(CHECKS)) {
      it(`${scenario} (${policy})`, async () => {
        const [want, got] = await Promise.all([run('node', scenario, policy), run('ours', scenario, policy)]);
        if (got.message && got.message.argv) got.message.argv[0] = want.message.argv[0];
        assert.deepEqual(got, want);
        CHECKS[scenario](got);
      });
    }
  }
});
