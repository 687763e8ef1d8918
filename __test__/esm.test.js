'use strict';
// ES module consumers: the root and both subpaths can be imported by name and as the default
// export, with the names node:child_process and node:cluster have (plus ours).
const assert = require('node:assert');
const { describe } = require('node:test');
const { execFile } = require('node:child_process');
const { it, fixture } = require('./helpers');

// A module namespace's public names ('default', Node's internals such as _forkChild or an
// EventEmitter's _events, and Node 24's 'module.exports' aside).
function names(ns) {
  return Object.keys(ns).filter((k) => k !== 'default' && k !== 'module.exports' && !k.startsWith('_')).sort();
}

describe('ESM', () => {
  it('every name is importable by name and as the default export, the same values as require() gives', async () => {
    const { root, childProcess, clusterModule } = await import(fixture('esm-imports.mjs'));
    const cjsRoot = require('native-cluster');
    assert.strictEqual(root.default, cjsRoot);
    assert.strictEqual(childProcess.default, require('native-cluster/child_process'));
    assert.strictEqual(clusterModule.default, require('native-cluster/cluster'));
    for (const m of [root, childProcess, clusterModule]) {
      assert.deepStrictEqual(names(m.ns), Object.keys(m.named).sort());
      for (const [name, value] of Object.entries(m.named)) {
        assert.strictEqual(value, m.default[name], name);
        assert.strictEqual(m.ns[name], value, name);
      }
    }
    assert.strictEqual(root.named.cluster, clusterModule.default);
    assert.strictEqual(root.named.fork, childProcess.named.fork);
    assert.strictEqual(typeof root.named.fork, 'function');
    assert.strictEqual(clusterModule.named.isPrimary, true);
  });

  it("the exported names are node:child_process's and node:cluster's, plus ours", async () => {
    const { root, childProcess, clusterModule } = await import(fixture('esm-imports.mjs'));
    const nodeCp = names(await import('node:child_process'));
    const nodeCluster = names(await import('node:cluster'));
    assert.deepStrictEqual(names(childProcess.ns), nodeCp);
    assert.deepStrictEqual(names(root.ns), [...nodeCp, 'cluster', 'engineStats'].sort());
    // `worker` is a worker's own (undefined in the primary, where Node's module lacks it).
    assert.deepStrictEqual(names(clusterModule.ns), [...nodeCluster, 'SCHED_REUSEPORT', 'worker'].sort());
  });

  it('a cluster written as an ES module: primary and worker import by name', async () => {
    const stdout = await new Promise((resolve, reject) => {
      execFile(process.execPath, [fixture('esm-cluster.mjs')], { timeout: 20000 }, (err, out, errOut) =>
        (err ? reject(Object.assign(err, { errOut })) : resolve(out)));
    });
    assert.deepStrictEqual(JSON.parse(stdout), { id: 1, same: true, isWorker: true });
  });
});
