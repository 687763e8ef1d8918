'use strict';
// TypeScript: code written for node:child_process and node:cluster type-checks unchanged with
// its import switched to ours (tsc --noEmit over __test__/types, with @types/node). The same
// samples, switched back to node:*, must check too, so they stay code written for Node.
const assert = require('node:assert');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { describe } = require('node:test');
const { execFile } = require('node:child_process');
const { it } = require('./helpers');

const ROOT = path.join(__dirname, '..');
const SAMPLES = path.join(__dirname, 'types');
const TSC = path.join(path.dirname(require.resolve('typescript/package.json')), 'bin', 'tsc');

function tsc(project) {
  return new Promise((resolve) => {
    execFile(process.execPath, [TSC, '-p', project], { cwd: ROOT, timeout: 120000 }, (error, stdout, stderr) => {
      resolve({ code: error ? error.code : 0, output: stdout + stderr });
    });
  });
}

describe('TypeScript', () => {
  it('the samples type-check against native-cluster', { timeout: 150000 }, async () => {
    const r = await tsc(SAMPLES);
    assert.deepStrictEqual(r, { code: 0, output: '' });
  });

  it('the samples written for Node type-check against node:child_process and node:cluster', { timeout: 150000 }, async (t) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nc-types-'));
    t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
    for (const name of ['child_process.ts', 'cluster.ts']) {
      const source = fs.readFileSync(path.join(SAMPLES, name), 'utf8').replaceAll("'native-cluster/", "'node:");
      fs.writeFileSync(path.join(dir, name), source);
    }
    const config = JSON.parse(fs.readFileSync(path.join(SAMPLES, 'tsconfig.json'), 'utf8'));
    config.compilerOptions.typeRoots = [path.join(ROOT, 'node_modules', '@types')];
    fs.writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify(config));
    const r = await tsc(dir);
    assert.deepStrictEqual(r, { code: 0, output: '' });
  });
});
