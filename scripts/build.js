'use strict';
// Builds the native addon from source with cargo and places it where lib/native.js loads it.
// In a checkout the build goes to target/ (incremental); installed as a dependency (inside
// node_modules) it goes to a temporary folder removed afterwards, so only the .node stays.
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const root = path.join(__dirname, '..');
const asDependency = root.split(path.sep).includes('node_modules');

// npm hides a dependency's install script output unless it fails (or `foreground-scripts` is
// set): what the user must see goes to the terminal itself when there is one.
let tty = null;
if (asDependency) {
  try {
    tty = fs.openSync('/dev/tty', 'w');
  } catch {
    // No controlling terminal (CI, a service): stderr, which npm shows if the build fails.
  }
}
function say(line) {
  fs.writeSync(tty ?? 2, `native-cluster: ${line}\n`);
}

if (process.platform !== 'linux') {
  say(`the engine supports Linux only (this is ${process.platform}); skipping the build.`);
  process.exit(0);
}

const tempTarget = asDependency && !process.env.CARGO_TARGET_DIR
  ? fs.mkdtempSync(path.join(os.tmpdir(), 'native-cluster-build-'))
  : null;
const targetDir = tempTarget ?? process.env.CARGO_TARGET_DIR ?? path.join(root, 'target');
const profile = process.env.NATIVE_CLUSTER_DEBUG ? 'debug' : 'release';
const args = ['build', '--lib', '--locked'];
if (profile === 'release') args.push('--release');

const started = Date.now();
const elapsed = () => `${Math.round((Date.now() - started) / 1000)} s`;
if (asDependency) say('building the native engine from source with cargo (a few minutes the first time)...');
const r = spawnSync('cargo', args, {
  cwd: root,
  env: { ...process.env, CARGO_TARGET_DIR: targetDir },
  // cargo's progress goes to the terminal too.
  stdio: ['ignore', tty ?? 'inherit', tty ?? 'inherit'],
});
try {
  if (r.error) {
    say(`could not run cargo (${r.error.code}): the engine is built from source and needs the Rust toolchain;`
      + ' install it with rustup (https://rustup.rs), then install native-cluster again.');
    process.exitCode = 1;
  } else if (r.status !== 0) {
    say(`cargo build failed (${r.signal ?? `exit code ${r.status}`}) after ${elapsed()}; its output is above.`);
    process.exitCode = 1;
  } else {
    const built = path.join(targetDir, profile, 'libnative_cluster.so');
    const dest = path.join(root, 'native-cluster.node');
    // Copy to a temporary name and rename, so a process that has the old addon loaded keeps its mapping.
    fs.copyFileSync(built, dest + '.tmp');
    fs.renameSync(dest + '.tmp', dest);
    if (asDependency) say(`engine built in ${elapsed()}.`);
  }
} finally {
  if (tempTarget) fs.rmSync(tempTarget, { recursive: true, force: true });
}
