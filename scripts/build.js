'use strict';
// Builds the native addon from source with cargo and places it where lib/native.js loads it.
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
if (process.platform !== 'linux') {
  console.error(`native-cluster: the engine supports Linux only (this is ${process.platform}); skipping the build.`);
  process.exit(0);
}
const profile = process.env.NATIVE_CLUSTER_DEBUG ? 'debug' : 'release';
const args = ['build', '--lib', '--locked'];
if (profile === 'release') args.push('--release');
const r = spawnSync('cargo', args, { cwd: root, stdio: 'inherit' });
if (r.error) {
  console.error(`native-cluster: could not run cargo (${r.error.code}); install Rust from https://rustup.rs`);
  process.exit(1);
}
if (r.status !== 0) process.exit(r.status || 1);
const targetDir = process.env.CARGO_TARGET_DIR || path.join(root, 'target');
const built = path.join(targetDir, profile, 'libnative_cluster.so');
const dest = path.join(root, 'native-cluster.node');
// Copy to a temporary name and rename, so a process that has the old addon loaded keeps its mapping.
fs.copyFileSync(built, dest + '.tmp');
fs.renameSync(dest + '.tmp', dest);
