'use strict';
// What running as a container's PID 1 (or anywhere) asks of the primary beyond supervising:
//
// - Workers die with the primary. Each is spawned with a parent-death signal (SIGKILL, the
//   kernel's PR_SET_PDEATHSIG): a primary killed with SIGKILL leaves no worker behind, even one
//   spinning too hard to notice its channel closing. posix_spawn cannot set it, so the engine
//   takes its fork path for these spawns (a small primary forks cheaply); the kernel ties the
//   signal to the spawning thread, so it is set only when the supervisor runs on the main
//   thread (a worker thread's end would take the workers with it).
// - Orphans are reaped. The primary is a child subreaper: what a worker leaves behind is
//   re-parented to it, not to init, and reaped by the engine once it exits, by pid, never
//   taking the exit status of a worker or of a child Node spawned (declared here as they start).
// - Each worker gets a cgroup of its own where cgroup v2 is mounted and writable (a delegated
//   subtree of the primary's cgroup): stop and reload then end everything the worker started,
//   through `cgroup.kill`, wherever it went. Elsewhere this is skipped and `cgroupNote` says
//   why.
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const childProcess = require('node:child_process');
const { binding, nodeError } = require('../native');

const { isMainThread } = require('node:worker_threads');

// Not from a worker thread: the kernel would kill the workers when that thread ends.
const DEATH_SIGNAL = isMainThread ? os.constants.signals.SIGKILL : undefined;

let subreaper = null;

// Becomes a child subreaper reaping its orphans (once). Returns null, or why it could not.
function reapOrphans() {
  if (subreaper !== null) return subreaper.error;
  subreaper = { error: null };
  // Orphans are found in /proc by pid: a /proc mounted for another pid namespace (a container
  // started without its own) would name other processes.
  let procPid = null;
  try {
    procPid = fs.readlinkSync('/proc/self');
  } catch {
    // no /proc at all: said below
  }
  if (procPid !== String(process.pid)) {
    subreaper.error = procPid === null
      ? 'no /proc: orphans cannot be found (mount proc)'
      : `/proc belongs to another pid namespace (it says pid ${procPid}, this is ${process.pid}): ` +
        "orphans cannot be found; mount this namespace's proc (e.g. unshare --pid --fork --mount-proc)";
    return subreaper.error;
  }
  try {
    binding.reapOrphans();
  } catch (err) {
    subreaper.error = nodeError(err, 'prctl').message;
    return subreaper.error;
  }
  // Node's own children (node:child_process in this process) are libuv's to reap.
  const { spawn } = childProcess.ChildProcess.prototype;
  childProcess.ChildProcess.prototype.spawn = function spawnKept(...args) {
    const result = spawn.apply(this, args);
    if (typeof this.pid === 'number') {
      const pid = this.pid;
      binding.keepChild(pid, true);
      this.once('exit', () => binding.keepChild(pid, false));
    }
    return result;
  };
  return null;
}

// The primary's cgroup v2 directory, if cgroup v2 is mounted and it can make cgroups there.
function ownCgroup() {
  let line;
  let mount;
  try {
    line = fs.readFileSync('/proc/self/cgroup', 'utf8').split('\n').find((l) => l.startsWith('0::'));
    mount = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' '))
      .find((f) => f[f.indexOf('-') + 1] === 'cgroup2');
  } catch {
    return { dir: null, note: 'cgroups: /proc does not say (not Linux?)' };
  }
  if (!line || !mount) return { dir: null, note: 'cgroups: cgroup v2 is not mounted; workers are tracked by process group only' };
  const dir = path.join(mount[4], line.slice(3));
  try {
    fs.accessSync(dir, fs.constants.W_OK);
    fs.accessSync(path.join(dir, 'cgroup.procs'), fs.constants.W_OK);
  } catch {
    return { dir: null, note: `cgroups: ${dir} is not writable (no delegated subtree); workers are tracked by process group only` };
  }
  return { dir, note: null };
}

// Folders of primaries that are gone (killed: they could not remove theirs), if empty.
function removeStale(dir) {
  let names;
  try {
    names = fs.readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) {
    const m = /^native-cluster\..+\.(\d+)$/.exec(name);
    if (!m || fs.existsSync(`/proc/${m[1]}`)) continue;
    const base = path.join(dir, name);
    try {
      for (const w of fs.readdirSync(base, { withFileTypes: true })) if (w.isDirectory()) fs.rmdirSync(path.join(base, w.name));
      fs.rmdirSync(base);
    } catch {
      // Still busy, or not ours to remove.
    }
  }
}

class Cgroups {
  #base = null;
  note = null;

  constructor(name) {
    const own = ownCgroup();
    this.note = own.note;
    if (own.dir === null) return;
    removeStale(own.dir);
    const base = path.join(own.dir, `native-cluster.${name}.${process.pid}`);
    try {
      fs.mkdirSync(base);
      this.#base = base;
    } catch (err) {
      this.note = `cgroups: cannot create ${base} (${err.code}); workers are tracked by process group only`;
    }
  }

  get enabled() {
    return this.#base !== null;
  }

  // Moves worker `pid` (id `id`) into a cgroup of its own; false if it could not.
  adopt(id, pid) {
    if (this.#base === null) return false;
    const dir = path.join(this.#base, `w${id}`);
    try {
      fs.mkdirSync(dir);
      fs.writeFileSync(path.join(dir, 'cgroup.procs'), String(pid));
      return true;
    } catch {
      this.#remove(dir);
      return false;
    }
  }

  // Pids still in worker `id`'s cgroup.
  members(id) {
    if (this.#base === null) return [];
    try {
      return fs.readFileSync(path.join(this.#base, `w${id}`, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
    } catch {
      return [];
    }
  }

  // Kills everything left in worker `id`'s cgroup (SIGKILL, by the kernel) and removes it
  // once empty. Returns how many processes were left.
  kill(id) {
    if (this.#base === null) return 0;
    const dir = path.join(this.#base, `w${id}`);
    const left = this.members(id).length;
    if (left > 0) {
      try {
        fs.writeFileSync(path.join(dir, 'cgroup.kill'), '1');
      } catch {
        // No cgroup.kill (kernel < 5.14): the process-group and tree signals did what they could.
      }
    }
    this.#removeWhenEmpty(dir);
    return left;
  }

  #removeWhenEmpty(dir, tries = 50) {
    try {
      fs.rmdirSync(dir);
    } catch (err) {
      if (err.code === 'EBUSY' && tries > 0) setTimeout(() => this.#removeWhenEmpty(dir, tries - 1), 20).unref();
    }
  }

  #remove(dir) {
    try {
      fs.rmdirSync(dir);
    } catch {
      // Not made, or not empty: left for close().
    }
  }

  // Removes the primary's folder (its worker cgroups are gone by now).
  close() {
    if (this.#base === null) return;
    try {
      for (const d of fs.readdirSync(this.#base, { withFileTypes: true })) if (d.isDirectory()) this.#remove(path.join(this.#base, d.name));
      fs.rmdirSync(this.#base);
    } catch {
      // Busy still (a process left): the kernel keeps it until that one is gone.
    }
  }
}

module.exports = { DEATH_SIGNAL, reapOrphans, Cgroups, orphansReaped: () => binding.orphansReaped() };
