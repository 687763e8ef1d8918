'use strict';
// Differential tests for spawnSync(), execSync() and execFileSync(): every scenario runs against
// node:child_process and against native-cluster/child_process (itSame in helpers.js).
const { describe } = require('node:test');
const assert = require('node:assert/strict');
const { it, itSame, IMPLS, procState, zombieChildren } = require('./helpers');

function val(v) {
  if (Buffer.isBuffer(v)) return { buffer: v.toString('latin1') };
  if (Array.isArray(v)) return v.map(val);
  return v;
}

function errObs(err) {
  const o = { ctor: err.constructor.name, name: err.name, message: err.message, keys: Object.keys(err) };
  for (const k of Object.keys(err)) {
    if (k === 'pid') o['.pid'] = typeof err.pid;
    else if (k === 'error') o['.error'] = err.error === err ? '(itself)' : errObs(err.error);
    else o[`.${k}`] = val(err[k]);
  }
  return o;
}

// The result object of spawnSync as plain data (pid replaced by its type, the error described).
function resObs(r) {
  const o = { keys: Object.keys(r) };
  for (const k of Object.keys(r)) {
    if (k === 'pid') o.pid = r.pid > 0 ? 'positive' : r.pid;
    else if (k === 'error') o.error = errObs(r.error);
    else o[k] = val(r[k]);
  }
  return o;
}

function thrownObs(fn) {
  try {
    return { returned: val(fn()) };
  } catch (e) {
    return { threw: errObs(e) };
  }
}

// stdout and stderr of a child that never started: null up to Node 22.9, undefined from 22.10.
const [major, minor] = process.versions.node.split('.').map(Number);
const NO_OUTPUT = major > 22 || (major === 22 && minor >= 10) ? undefined : null;

const KEYS = ['status', 'signal', 'output', 'pid', 'stdout', 'stderr'];
const ERR_KEYS = ['error', ...KEYS];

for (const impl of IMPLS) {
  describe(`spawnSync/execSync/execFileSync [${impl.name}]`, { skip: impl.skip }, () => {
    describe('spawnSync', () => {
      itSame(impl, 'result object: keys in order, status, signal, output, pid, stdout, stderr', async (t, impl) =>
        resObs(impl.cp.spawnSync('sh', ['-c', 'echo out; echo err >&2; exit 3'])),
      (o) => assert.deepEqual(o, {
        keys: KEYS, status: 3, signal: null, output: [null, { buffer: 'out\n' }, { buffer: 'err\n' }],
        pid: 'positive', stdout: { buffer: 'out\n' }, stderr: { buffer: 'err\n' },
      }));

      itSame(impl, 'killed by a signal: status null, signal name', async (t, impl) =>
        resObs(impl.cp.spawnSync('sh', ['-c', 'kill -USR1 $$'])),
      (o) => assert.deepEqual([o.status, o.signal], [null, 'SIGUSR1']));

      for (const [label, input] of [
        ['a string', 'hello\u00e9'],
        ['a Buffer', Buffer.from([0, 1, 2, 255, 254, 10])],
        ['a Uint8Array', new Uint8Array([65, 66, 67])],
        ['a DataView', new DataView(Buffer.from('xyz').buffer.slice(0, 3))],
        ['an empty string', ''],
      ]) {
        itSame(impl, `input as ${label}`, async (t, impl) => resObs(impl.cp.spawnSync('cat', [], { input })));
      }

      itSame(impl, 'input with encoding (latin1): the input string is encoded with it', async (t, impl) =>
        resObs(impl.cp.spawnSync('od', ['-An', '-tx1'], { input: '\u00e9', encoding: 'latin1' })),
      (o) => assert.equal(o.stdout.trim(), 'e9'));

      itSame(impl, 'input larger than a pipe buffer', async (t, impl) => {
        const input = Buffer.alloc(1 << 20, 'ab');
        const r = impl.cp.spawnSync('cat', [], { input });
        return { status: r.status, same: Buffer.isBuffer(r.stdout) && r.stdout.equals(input) };
      }, (o) => assert.deepEqual(o, { status: 0, same: true }));

      for (const encoding of ['utf8', 'latin1', 'hex', 'buffer']) {
        itSame(impl, `encoding ${encoding}`, async (t, impl) =>
          resObs(impl.cp.spawnSync('printf', ['\\351\\342\\202\\254'], { encoding })));
      }

      for (const [label, stdio, script] of [
        ["'inherit'", 'inherit', 'exit 0'],
        ["'ignore'", 'ignore', 'echo out; echo err >&2'],
        ["['pipe', 'ignore', 'pipe']", ['pipe', 'ignore', 'pipe'], 'echo out; echo err >&2'],
        ["['ignore', 'pipe', 'inherit']", ['ignore', 'pipe', 'inherit'], 'echo out'],
        ['an extra pipe (fd 3)', ['pipe', 'pipe', 'pipe', 'pipe'], 'echo out; echo three >&3'],
        ['fd numbers', [0, 'pipe', 'pipe'], 'echo out; echo err >&2'],
      ]) {
        itSame(impl, `stdio ${label}`, async (t, impl) => resObs(impl.cp.spawnSync('sh', ['-c', script], { stdio })));
      }

      itSame(impl, 'cwd, env, argv0, shell', async (t, impl) => [
        resObs(impl.cp.spawnSync('pwd', [], { cwd: '/tmp' })),
        resObs(impl.cp.spawnSync('/usr/bin/env', [], { env: { A: '1', B: undefined } })),
        resObs(impl.cp.spawnSync('sh', ['-c', 'echo $0'], { argv0: 'zero' })),
        resObs(impl.cp.spawnSync('echo "$X"  *.nomatch | tr a-z A-Z', { shell: true, env: { ...process.env, X: 'x  y' } })),
      ]);

      for (const [label, killSignal, sig] of [
        ['default killSignal', undefined, 'SIGTERM'], ["killSignal 'SIGUSR2'", 'SIGUSR2', 'SIGUSR2'], ['killSignal 9', 9, 'SIGKILL'],
      ]) {
        itSame(impl, `timeout (${label}) -> error ETIMEDOUT, signal`, async (t, impl) =>
          resObs(impl.cp.spawnSync('sleep', ['100'], { timeout: 20, killSignal })),
        (o) => {
          assert.deepEqual(o.keys, ERR_KEYS);
          assert.equal(o.error['.code'], 'ETIMEDOUT');
          assert.equal(o.error['.errno'], -110);
          assert.equal(o.error['.syscall'], 'spawnSync sleep');
          assert.equal(o.error['.path'], 'sleep');
          assert.deepEqual(o.error['.spawnargs'], ['100']);
          assert.equal(o.error.message, 'spawnSync sleep ETIMEDOUT');
          assert.equal(o.status, null);
          assert.equal(o.signal, sig);
        });
      }

      itSame(impl, 'maxBuffer exceeded -> error ENOBUFS, child killed', async (t, impl) => {
        const r = impl.cp.spawnSync('sh', ['-c', "trap '' PIPE; head -c 100000 /dev/zero; exec sleep 100"], { maxBuffer: 1000 });
        // The truncated length depends on read chunk sizes: do not compare it exactly.
        const len = r.stdout && r.stdout.length;
        const o = resObs(r);
        delete o.stdout;
        delete o.output;
        // Whether `head` gets to complain about the closed pipe before SIGTERM lands is timing.
        delete o.stderr;
        return { ...o, atLeastMax: len >= 1000, outputLen: r.output && r.output.length, dead: procState(r.pid) === null };
      }, (o) => {
        assert.equal(o.error['.code'], 'ENOBUFS');
        assert.equal(o.error['.syscall'], 'spawnSync sh');
        assert.equal(o.atLeastMax, true);
        assert.equal(o.signal, 'SIGTERM');
        assert.equal(o.dead, true);
      });

      itSame(impl, 'missing command -> error ENOENT, pid 0, output null', async (t, impl) =>
        resObs(impl.cp.spawnSync('nc-no-such-command', ['a', 'b'])),
      (o) => assert.deepEqual(o, {
        keys: ERR_KEYS,
        error: {
          ctor: 'Error', name: 'Error', message: 'spawnSync nc-no-such-command ENOENT',
          keys: ['errno', 'code', 'syscall', 'path', 'spawnargs'], '.errno': -2, '.code': 'ENOENT',
          '.syscall': 'spawnSync nc-no-such-command', '.path': 'nc-no-such-command', '.spawnargs': ['a', 'b'],
        },
        status: null, signal: null, output: null, pid: 0, stdout: NO_OUTPUT, stderr: NO_OUTPUT,
      }));

      itSame(impl, "'ipc' in stdio -> ERR_IPC_SYNC_FORK thrown", async (t, impl) => [
        thrownObs(() => impl.cp.spawnSync('true', [], { stdio: ['pipe', 'pipe', 'pipe', 'ipc'] })),
        thrownObs(() => impl.cp.execFileSync('true', [], { stdio: ['ipc', 'pipe', 'pipe'] })),
      ], (o) => assert.equal(o[0].threw['.code'], 'ERR_IPC_SYNC_FORK'));

      itSame(impl, 'validation errors', async (t, impl) => [
        thrownObs(() => impl.cp.spawnSync('')),
        thrownObs(() => impl.cp.spawnSync('a\0b')),
        thrownObs(() => impl.cp.spawnSync('true', [], { timeout: -5 })),
        thrownObs(() => impl.cp.spawnSync('true', [], { maxBuffer: 'x' })),
        thrownObs(() => impl.cp.spawnSync('true', [], { killSignal: 'SIGNOPE' })),
        thrownObs(() => impl.cp.spawnSync('true', [], { input: 42 })),
      ].map((x) => (x.threw ? { code: x.threw['.code'], name: x.threw.name } : x)));

      itSame(impl, 'validation error messages', async (t, impl) => [
        thrownObs(() => impl.cp.spawnSync('true', [], { timeout: -5 })),
        thrownObs(() => impl.cp.spawnSync('true', [], { maxBuffer: 'x' })),
        thrownObs(() => impl.cp.spawnSync('true', [], { input: 42 })),
      ].map((x) => (x.threw ? x.threw.message : x)));

      it('a sync call blocks the event loop: a setTimeout(0) scheduled before does not fire during it', async () => {
        for (const i of IMPLS.includes(impl) ? [impl] : []) {
          let fired = false;
          const timer = new Promise((resolve) => setTimeout(() => { fired = true; resolve(); }, 0));
          // The child runs for a while (sleep in the child, not in the test) so that the timer is due.
          const r = i.cp.spawnSync('sh', ['-c', 'sleep 0.05; echo done']);
          assert.equal(String(r.stdout), 'done\n');
          assert.equal(fired, false, 'timer fired during spawnSync');
          const r2 = i.cp.execFileSync('sh', ['-c', 'sleep 0.05; echo done2'], { encoding: 'utf8' });
          assert.equal(r2, 'done2\n');
          assert.equal(fired, false, 'timer fired during execFileSync');
          await timer;
          assert.equal(fired, true);
        }
      });

      it('no zombie after spawnSync', () => {
        const r = impl.cp.spawnSync('true');
        assert.equal(r.status, 0);
        assert.equal(procState(r.pid), null);
        assert.deepEqual(zombieChildren(), []);
      });
    });

    describe('execSync / execFileSync', () => {
      itSame(impl, 'execSync returns stdout as a Buffer, or a string with encoding', async (t, impl) => [
        val(impl.cp.execSync('echo hi')),
        val(impl.cp.execSync('echo hi', { encoding: 'utf8' })),
        val(impl.cp.execSync('cat', { input: 'in put' })),
      ], (o) => assert.deepEqual(o, [{ buffer: 'hi\n' }, 'hi\n', { buffer: 'in put' }]));

      itSame(impl, 'execFileSync returns stdout', async (t, impl) => [
        val(impl.cp.execFileSync('echo', ['a', 'b c'])),
        val(impl.cp.execFileSync('echo', ['x'], { encoding: 'latin1' })),
        val(impl.cp.execFileSync('sh', { encoding: 'utf8', input: 'echo from-stdin' })),
      ], (o) => assert.deepEqual(o, [{ buffer: 'a b c\n' }, 'x\n', 'from-stdin\n']));

      itSame(impl, 'execSync failure: message with stderr, status, stdout, stderr', async (t, impl) =>
        thrownObs(() => impl.cp.execSync('echo out; echo err >&2; exit 2', { stdio: 'pipe' })),
      (o) => {
        assert.equal(o.threw.message, 'Command failed: echo out; echo err >&2; exit 2\nerr\n');
        assert.equal(o.threw['.status'], 2);
        assert.deepEqual(o.threw['.stdout'], { buffer: 'out\n' });
        assert.deepEqual(o.threw['.stderr'], { buffer: 'err\n' });
      });

      itSame(impl, 'execFileSync failure without stderr output, with encoding', async (t, impl) =>
        thrownObs(() => impl.cp.execFileSync('sh', ['-c', 'echo o; exit 4'], { stdio: 'pipe', encoding: 'utf8' })),
      (o) => {
        assert.equal(o.threw.message, 'Command failed: sh -c echo o; exit 4');
        assert.equal(o.threw['.stdout'], 'o\n');
      });

      itSame(impl, 'execFileSync killed by a signal', async (t, impl) =>
        thrownObs(() => impl.cp.execFileSync('sh', ['-c', 'kill -TERM $$'], { stdio: 'pipe' })),
      (o) => assert.equal(o.threw['.signal'], 'SIGTERM'));

      itSame(impl, 'execFileSync: missing command throws the spawn error', async (t, impl) =>
        thrownObs(() => impl.cp.execFileSync('nc-no-such-command', ['x'], { stdio: 'pipe' })),
      (o) => {
        assert.equal(o.threw['.code'], 'ENOENT');
        assert.equal(o.threw['.syscall'], 'spawnSync nc-no-such-command');
        assert.equal(o.threw['.path'], 'nc-no-such-command');
        assert.deepEqual(o.threw['.spawnargs'], ['x']);
      });

      itSame(impl, 'execSync: missing command -> the shell exits 127', async (t, impl) =>
        thrownObs(() => impl.cp.execSync('nc-no-such-command', { stdio: 'pipe' })),
      (o) => assert.equal(o.threw['.status'], 127));

      itSame(impl, 'execSync timeout -> ETIMEDOUT thrown', async (t, impl) =>
        thrownObs(() => impl.cp.execSync('exec sleep 100', { timeout: 20, stdio: 'pipe' })),
      (o) => {
        assert.equal(o.threw['.code'], 'ETIMEDOUT');
        assert.equal(o.threw['.signal'], 'SIGTERM');
      });

      itSame(impl, 'execSync maxBuffer -> ENOBUFS thrown', async (t, impl) => {
        const o = thrownObs(() => impl.cp.execSync("trap '' PIPE; head -c 100000 /dev/zero; exec sleep 100",
          { maxBuffer: 100, stdio: 'pipe' }));
        return { code: o.threw['.code'], signal: o.threw['.signal'], keys: o.threw.keys, message: o.threw.message };
      }, (o) => assert.equal(o.code, 'ENOBUFS'));
    });
  });
}
