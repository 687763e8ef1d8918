'use strict';
// scripts/build.js, the install script: installed as a dependency it builds in a temporary
// target folder that it removes, keeping only the .node, and says what it is doing; without
// cargo it fails with a message naming rustup. A stand-in `cargo` keeps this fast (the real
// install is checked by hand: npm pack, npm install of the tarball, require and fork).
const assert = require('node:assert');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { describe } = require('node:test');
const { spawn } = require('node:child_process');
const { it } = require('./helpers');

const BUILD = path.join(__dirname, '..', 'scripts', 'build.js');

// A package folder installed as a dependency, and a bin folder with a stand-in cargo that
// writes the library where it is told to build.
function installed(t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nc-install-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const pkg = path.join(dir, 'project', 'node_modules', 'native-cluster');
  fs.mkdirSync(path.join(pkg, 'scripts'), { recursive: true });
  fs.copyFileSync(BUILD, path.join(pkg, 'scripts', 'build.js'));
  const bin = path.join(dir, 'bin');
  fs.mkdirSync(bin);
  fs.writeFileSync(path.join(bin, 'cargo'), [
    '#!/bin/sh',
    'out="${CARGO_TARGET_DIR:-target}/release"',
    'mkdir -p "$out" && echo engine > "$out/libnative_cluster.so" && echo "${CARGO_TARGET_DIR:-target}" > cargo-target',
    '',
  ].join('\n'), { mode: 0o755 });
  return { pkg, bin };
}

// Runs the script without a controlling terminal (so its messages go to stderr).
function build(pkg, PATH) {
  const env = { ...process.env, PATH };
  delete env.CARGO_TARGET_DIR;
  delete env.NATIVE_CLUSTER_DEBUG;
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(pkg, 'scripts', 'build.js')], { cwd: pkg, env, detached: true });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

describe('install script', () => {
  it('as a dependency: builds in a temporary folder, removes it, keeps only the .node, says so', async (t) => {
    const { pkg, bin } = installed(t);
    const r = await build(pkg, `${bin}:${process.env.PATH}`);
    assert.strictEqual(r.code, 0, r.stderr);
    assert.strictEqual(fs.readFileSync(path.join(pkg, 'native-cluster.node'), 'utf8'), 'engine\n');
    assert.deepStrictEqual(fs.readdirSync(pkg).sort(), ['cargo-target', 'native-cluster.node', 'scripts']);
    const target = fs.readFileSync(path.join(pkg, 'cargo-target'), 'utf8').trim();
    assert.ok(target.startsWith(os.tmpdir()), target);
    assert.strictEqual(fs.existsSync(target), false);
    assert.match(r.stderr, /native-cluster: building the native engine from source with cargo/);
    assert.match(r.stderr, /native-cluster: engine built in \d+ s\./);
  });

  it('without cargo: exits 1 saying the Rust toolchain is needed and where to get it', async (t) => {
    const { pkg } = installed(t);
    const r = await build(pkg, '/nonexistent');
    assert.strictEqual(r.code, 1);
    assert.match(r.stderr, /could not run cargo \(ENOENT\): the engine is built from source and needs the Rust toolchain; install it with rustup \(https:\/\/rustup\.rs\)/);
    assert.strictEqual(fs.existsSync(path.join(pkg, 'native-cluster.node')), false);
  });
});
