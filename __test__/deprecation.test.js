'use strict';
// No deprecated Node API is used: loading the package and every feature run under
// --throw-deprecation (a deprecation kills the process) and --pending-deprecation (which turns
// on warnings such as process.binding's DEP0111), with nothing on stderr.
const assert = require('node:assert');
const { describe } = require('node:test');
const { execFile } = require('node:child_process');
const { it, fixture } = require('./helpers');

const FLAGS = ['--throw-deprecation', '--pending-deprecation'];

function run(args) {
  return new Promise((resolve) => {
    execFile(process.execPath, [...FLAGS, ...args], { timeout: 20000 }, (error, stdout, stderr) => {
      resolve({ code: error ? error.code : 0, stdout, stderr });
    });
  });
}

describe('no deprecation warnings', () => {
  it('requiring the root and both subpaths', async () => {
    const r = await run(['-e', "require('native-cluster'); require('native-cluster/child_process'); require('native-cluster/cluster').fork; console.log('ok')"]);
    assert.deepStrictEqual(r, { code: 0, stdout: 'ok\n', stderr: '' });
  });

  it('spawn, exec, the sync calls; fork, then send a TCP server, a unix server, a socket, a dgram socket and a raw TCP handle both ways', async () => {
    const r = await run([fixture('every-feature.js'), 'handles']);
    assert.deepStrictEqual(r, { code: 0, stdout: 'ok\n', stderr: '' });
  });

  for (const policy of ['rr', 'none', 'reuseport']) {
    it(`cluster (${policy}): a worker serves TCP and binds UDP`, async () => {
      const r = await run([fixture('every-feature.js'), 'cluster', policy]);
      assert.deepStrictEqual(r, { code: 0, stdout: 'ok\n', stderr: '' });
    });
  }
});
