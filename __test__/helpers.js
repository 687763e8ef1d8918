'use strict';
// Shared helpers for the native-cluster test suites (not a test file).
//
// Environment knobs (for developing the suites):
//   NC_IMPLS=node        run the differential suites against Node's module only
//   NC_IMPLS=ours        run them against ours only
//   NC_OURS_IS_NODE=1    run the "ours only" suites against node:child_process instead (to check
//                        that a scenario itself is sound; robustness tests will crash Node)

const fs = require('node:fs');
const path = require('node:path');
const nodeCp = require('node:child_process');

let oursCp = null;
let oursLoadError = null;
try {
  oursCp = require('native-cluster/child_process');
} catch (err) {
  oursLoadError = err;
}

const FIXTURES = path.join(__dirname, 'fixtures');
const CHILD = path.join(FIXTURES, 'child.js');

function fixture(name) {
  return path.join(FIXTURES, name);
}

const NODE_IMPL = { name: 'node', cp: nodeCp, isNode: true, skip: false };
const OURS_IMPL = process.env.NC_OURS_IS_NODE
  ? { name: 'ours(node)', cp: nodeCp, isNode: true, skip: false }
  : {
    name: 'ours',
    cp: oursCp,
    isNode: false,
    skip: oursCp ? false : `native-cluster/child_process does not load: ${oursLoadError && oursLoadError.message}`,
  };

// Implementations for the differential suites.
const IMPLS = [NODE_IMPL, OURS_IMPL].filter((impl) => {
  const only = process.env.NC_IMPLS;
  return !only || only.split(',').includes(impl.name.replace(/\(.*$/, ''));
});

// node:test's it() with a default per-test timeout, so that a hang fails one test only.
function it(name, options, fn) {
  const { it: nodeIt } = require('node:test');
  if (typeof options === 'function') {
    fn = options;
    options = {};
  }
  // A ref'd timer keeps the event loop alive while the test runs, so that an implementation
  // that loses an event fails this test by its timeout instead of ending the whole file with
  // "Promise resolution is still pending but the event loop has already resolved".
  return nodeIt(name, { timeout: 30000, ...options }, async (t) => {
    const keepAlive = setInterval(() => {}, 1 << 30);
    try {
      return await fn(t);
    } finally {
      clearInterval(keepAlive);
    }
  });
}

// Forks a child with impl and makes sure it is dead when the test ends (whatever the outcome).
function forkTracked(t, impl, modulePath, args, options) {
  const child = impl.cp.fork(modulePath, args, options);
  t.after(() => kill(child));
  return child;
}

// Convenience: fork the multi-purpose fixture in the given mode.
function forkChild(t, impl, modeArgs, options) {
  return forkTracked(t, impl, CHILD, modeArgs, options);
}

function isAlive(child) {
  return child.pid !== undefined && child.exitCode === null && child.signalCode === null;
}

function kill(child) {
  if (isAlive(child)) {
    try {
      child.kill('SIGKILL');
    } catch {
      // ignore
    }
  }
  for (const s of [child.stdin, child.stdout, child.stderr]) {
    if (s && !s.destroyed) s.destroy();
  }
}

// Resolves with the argument list of the next `event` emitted by `emitter`. Unlike
// events.once() it does not reject on 'error' (tests record errors themselves).
function next(emitter, event) {
  return new Promise((resolve) => emitter.once(event, (...args) => resolve(args)));
}

// Resolves after `n` emissions of `event`, with the list of first arguments.
function collect(emitter, event, n) {
  return new Promise((resolve) => {
    const got = [];
    if (n === 0) return resolve(got);
    function on(arg) {
      got.push(arg);
      if (got.length === n) {
        emitter.removeListener(event, on);
        resolve(got);
      }
    }
    emitter.on(event, on);
  });
}

const LIFECYCLE = ['spawn', 'message', 'disconnect', 'exit', 'close', 'error'];

// Records lifecycle events in order as [name, ...args]. Errors are recorded as a plain object
// with the interesting fields so that the logs can be compared with deepStrictEqual.
function record(child, events = LIFECYCLE) {
  const log = [];
  for (const ev of events) {
    child.on(ev, (...args) => log.push([ev, ...args.map((a) => (a instanceof Error ? errInfo(a) : a))]));
  }
  return log;
}

function errInfo(err) {
  const o = { name: err.name, code: err.code };
  for (const k of ['reason', 'errno', 'syscall', 'path', 'spawnargs']) {
    if (err[k] !== undefined) o[k] = err[k];
  }
  return o;
}

// Returns the error thrown by fn (fails if nothing is thrown).
function thrown(fn) {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected an exception, none was thrown');
}

// Reads a whole readable stream as a string.
function readAll(stream) {
  return new Promise((resolve, reject) => {
    let s = '';
    stream.setEncoding('utf8');
    stream.on('data', (d) => { s += d; });
    stream.on('end', () => resolve(s));
    stream.on('error', reject);
  });
}

// Resolves when `stream` has produced a chunk containing `text` (accumulated).
function waitForText(stream, text) {
  return new Promise((resolve) => {
    let s = '';
    stream.setEncoding('utf8');
    function on(d) {
      s += d;
      if (s.includes(text)) {
        stream.removeListener('data', on);
        resolve(s);
      }
    }
    stream.on('data', on);
  });
}

// Lets pending I/O callbacks, timers-free: a few macrotask turns (setImmediate), no sleeping.
async function turns(n = 5) {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
}

// ---------- /proc helpers (Linux) ----------

function fdList(pid = 'self') {
  return fs.readdirSync(`/proc/${pid}/fd`).map(Number).sort((a, b) => a - b);
}

// fd numbers open now, excluding the directory fd readdirSync used (it is closed already).
function openFds() {
  return fdList().filter((fd) => {
    try {
      fs.readlinkSync(`/proc/self/fd/${fd}`);
      return true;
    } catch {
      return false;
    }
  });
}

function fdTarget(fd, pid = 'self') {
  try {
    return fs.readlinkSync(`/proc/${pid}/fd/${fd}`);
  } catch {
    return null;
  }
}

// The 'flags' field of /proc/self/fdinfo/N as a number (it is printed in octal).
function fdFlags(fd) {
  const info = fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8');
  const m = /^flags:\s*([0-7]+)/m.exec(info);
  return parseInt(m[1], 8);
}

const O_CLOEXEC = 0o2000000;

// Process state letter from /proc/<pid>/stat, or null if the process is gone.
function procState(pid) {
  let s;
  try {
    s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  return s.slice(s.lastIndexOf(')') + 2).split(' ')[0];
}

// pids of zombie children of this process.
function zombieChildren() {
  const out = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let s;
    try {
      s = fs.readFileSync(`/proc/${name}/stat`, 'utf8');
    } catch {
      continue;
    }
    const rest = s.slice(s.lastIndexOf(')') + 2).split(' ');
    if (rest[0] === 'Z' && Number(rest[1]) === process.pid) out.push(Number(name));
  }
  return out;
}

// Runs `fn(i)` for i in [0, n) with at most `width` promises in flight.
async function pool(n, width, fn) {
  let i = 0;
  async function worker() {
    while (i < n) await fn(i++);
  }
  await Promise.all(Array.from({ length: Math.min(width, n) }, worker));
}

// Spawns with impl and makes sure the child is dead when the test ends (whatever the outcome).
function spawnTracked(t, impl, file, args, options) {
  const child = impl.cp.spawn(file, args, options);
  t.after(() => kill(child));
  return child;
}

// Reads a whole readable stream as one Buffer.
function readAllBuffer(stream) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    stream.on('data', (d) => chunks.push(d));
    stream.on('end', () => resolve(Buffer.concat(chunks)));
    stream.on('error', reject);
  });
}

// A string of `n` UTF-16 code units mixing ASCII, multi-byte characters, U+2028 and a pair.
function bigString(n) {
  const pattern = 'abcdefghijklmnopqrstuvwxyz0123456789\u00e9\u2028\ud83d\ude00';
  return pattern.repeat(Math.ceil(n / pattern.length)).slice(0, n);
}

// The send() callback is called with exactly one argument, null (as Node does).
function assertCbOk(args) {
  const assert = require('node:assert/strict');
  assert.equal(args.length, 1, `callback called with ${args.length} arguments`);
  assert.equal(args[0], null);
}

function assertSameBig(got, want) {
  const assert = require('node:assert/strict');
  assert.equal(typeof got, 'string');
  assert.equal(got.length, want.length);
  assert.ok(got === want, 'large message content differs');
}

// Strips trailing `undefined` arguments from a log entry (Node emits 'message' with an undefined
// handle argument; a listener cannot tell the difference).
function norm(log) {
  return log.map((e) => {
    const a = [...e];
    while (a.length > 1 && a[a.length - 1] === undefined) a.pop();
    return a;
  });
}

// Sends 'x' to an echo child and waits for it to come back: proves the channel still works.
async function roundTrip(child, msg = 'x') {
  const assert = require('node:assert/strict');
  const p = next(child, 'message');
  child.send(msg);
  assert.deepEqual((await p)[0], msg);
}

// Node's observations of the differential scenarios of this file, by name and occurrence: the
// suites are generated by one loop over IMPLS, so the k-th itSame of a name under Node is the
// same scenario as the k-th under ours, and Node's side runs once per run.
const nodeObservations = new Map();
const itSameCalls = new Map();

// A differential test: `scenario(t, impl)` runs a scenario with one implementation and returns
// an observation (plain data). For Node, the observation is checked with `check` (if given); for
// any other implementation, it must be deepStrictEqual to Node's observation of the same
// scenario (taken from Node's suite when it ran in this process, else run now), and `check`
// must hold as well.
function itSame(impl, name, options, scenario, check) {
  if (typeof options === 'function') {
    check = scenario;
    scenario = options;
    options = {};
  }
  const calls = itSameCalls.get(impl) || new Map();
  itSameCalls.set(impl, calls);
  const occurrence = (calls.get(name) || 0) + 1;
  calls.set(name, occurrence);
  const key = `${name}#${occurrence}`;
  return it(name, options, async (t) => {
    const assert = require('node:assert/strict');
    if (impl === NODE_IMPL) {
      const got = await scenario(t, impl);
      if (check) check(got);
      nodeObservations.set(key, got);
      return;
    }
    const want = nodeObservations.has(key) ? nodeObservations.get(key) : await scenario(t, NODE_IMPL);
    const got = await scenario(t, impl);
    assert.deepEqual(got, want, `${impl.name} differs from node`);
    if (check) check(got);
  });
}

module.exports = {
  it,
  IMPLS,
  NODE_IMPL,
  OURS_IMPL,
  CHILD,
  FIXTURES,
  fixture,
  forkTracked,
  forkChild,
  spawnTracked,
  readAllBuffer,
  itSame,
  bigString,
  assertCbOk,
  assertSameBig,
  isAlive,
  kill,
  next,
  collect,
  record,
  norm,
  roundTrip,
  errInfo,
  thrown,
  readAll,
  waitForText,
  turns,
  fdList,
  openFds,
  fdTarget,
  fdFlags,
  O_CLOEXEC,
  procState,
  zombieChildren,
  pool,
  LIFECYCLE,
};
