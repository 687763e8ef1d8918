'use strict';
// Differential tests for exec() and execFile() (callbacks and util.promisify): every scenario runs
// against node:child_process and against native-cluster/child_process (itSame in helpers.js).
const { describe } = require('node:test');
const assert = require('node:assert/strict');
const util = require('node:util');
const { itSame, IMPLS, next, kill } = require('./helpers');

// A plain description of an exec error: its own enumerable keys in order and their values.
function errObs(err) {
  if (err === null || err === undefined) return err;
  const o = { ctor: err.constructor.name, name: err.name, message: err.message, keys: Object.keys(err) };
  for (const k of Object.keys(err)) o[`.${k}`] = err[k];
  return o;
}

function valueObs(v) {
  if (Buffer.isBuffer(v)) return { buffer: v.toString('hex') };
  return v;
}

// Runs exec/execFile with a callback; resolves with the callback's arguments and the child.
function call(t, impl, fn, ...args) {
  return new Promise((resolve) => {
    const child = impl.cp[fn](...args, (...cbArgs) => resolve({ cbArgs, child }));
    t.after(() => kill(child));
  });
}

async function obs(t, impl, fn, ...args) {
  const { cbArgs, child } = await call(t, impl, fn, ...args);
  if (child.exitCode === null && child.signalCode === null) await next(child, 'exit');
  return {
    argc: cbArgs.length,
    error: errObs(cbArgs[0]),
    stdout: valueObs(cbArgs[1]),
    stderr: valueObs(cbArgs[2]),
    killed: child.killed,
  };
}

// A command that ignores SIGPIPE, writes `n` bytes to stdout (or stderr) and then waits: it only
// ends when it is killed, so the signal it dies of is deterministic.
function flood(n, toStderr = false) {
  return `trap '' PIPE; head -c ${n} /dev/zero | tr '\\0' x ${toStderr ? '>&2' : ''}; exec sleep 100`;
}

for (const impl of IMPLS) {
  describe(`exec [${impl.name}]`, { skip: impl.skip }, () => {
    itSame(impl, 'exec: success -> (null, stdout, stderr)', async (t, impl) =>
      obs(t, impl, 'exec', 'echo out; echo err >&2'),
    (o) => assert.deepEqual(o, { argc: 3, error: null, stdout: 'out\n', stderr: 'err\n', killed: false }));

    itSame(impl, 'execFile: success, with options', async (t, impl) =>
      obs(t, impl, 'execFile', 'sh', ['-c', 'echo "$A" $0; pwd'], { env: { A: 'a b', PATH: process.env.PATH }, cwd: '/' }),
    (o) => assert.equal(o.stdout, 'a b sh\n/\n'));

    itSame(impl, 'exec: non-zero exit -> error with code, killed, signal, cmd, message', async (t, impl) =>
      obs(t, impl, 'exec', 'echo out; echo err >&2; exit 3'),
    (o) => {
      assert.equal(o.error.message, 'Command failed: echo out; echo err >&2; exit 3\nerr\n');
      assert.deepEqual(o.error.keys, ['code', 'killed', 'signal', 'cmd']);
      assert.equal(o.error['.code'], 3);
      assert.equal(o.error['.killed'], false);
      assert.equal(o.error['.signal'], null);
      assert.equal(o.error['.cmd'], 'echo out; echo err >&2; exit 3');
      assert.equal(o.stdout, 'out\n');
    });

    itSame(impl, 'execFile: non-zero exit -> cmd is file and args joined', async (t, impl) =>
      obs(t, impl, 'execFile', 'sh', ['-c', 'exit 2', 'x y']),
    (o) => {
      assert.equal(o.error['.cmd'], 'sh -c exit 2 x y');
      assert.equal(o.error.message, 'Command failed: sh -c exit 2 x y\n');
    });

    itSame(impl, 'exec: killed from outside -> killed true, signal', async (t, impl) => {
      const { cbArgs, child } = await new Promise((resolve) => {
        const c = impl.cp.exec('exec sleep 100', (...a) => resolve({ cbArgs: a, child: c }));
        t.after(() => kill(c));
        c.once('spawn', () => c.kill());
      });
      return { error: errObs(cbArgs[0]), stdout: cbArgs[1], killed: child.killed };
    }, (o) => {
      assert.equal(o.error['.killed'], true);
      assert.equal(o.error['.signal'], 'SIGTERM');
    });

    for (const encoding of ['utf8', 'latin1', 'hex', 'buffer', null]) {
      itSame(impl, `encoding ${JSON.stringify(encoding)}`, async (t, impl) => {
        const r = await obs(t, impl, 'execFile', 'printf', ['\\351\\342\\202\\254x'], { encoding });
        return { ...r, stdoutType: r.stdout && r.stdout.buffer !== undefined ? 'Buffer' : typeof r.stdout };
      }, (o) => {
        if (encoding === 'buffer' || encoding === null) {
          assert.equal(o.stdoutType, 'Buffer');
          assert.deepEqual(o.stdout, { buffer: 'e9e282ac78' });
          assert.deepEqual(o.stderr, { buffer: '' });
        } else {
          assert.equal(o.stdout, Buffer.from('e9e282ac78', 'hex').toString(encoding));
        }
      });
    }

    itSame(impl, 'encoding buffer on a failure: stdout/stderr are Buffers in the callback', async (t, impl) =>
      obs(t, impl, 'exec', 'echo out; echo err >&2; exit 1', { encoding: 'buffer' }),
    (o) => assert.deepEqual(o.stdout, { buffer: Buffer.from('out\n').toString('hex') }));

    itSame(impl, 'default maxBuffer (1 MiB) exceeded on stdout -> ERR_CHILD_PROCESS_STDIO_MAXBUFFER, child killed', async (t, impl) => {
      const p = call(t, impl, 'exec', flood(2 << 20));
      const { cbArgs, child } = await p;
      if (child.exitCode === null && child.signalCode === null) await next(child, 'exit');
      const [err, stdout, stderr] = cbArgs;
      return {
        error: errObs(err), stdoutLen: stdout.length, stdoutAllX: /^x*$/.test(stdout), stderr,
        killed: child.killed, signalCode: child.signalCode,
      };
    }, (o) => {
      assert.equal(o.error['.code'], 'ERR_CHILD_PROCESS_STDIO_MAXBUFFER');
      assert.equal(o.error.message, 'stdout maxBuffer length exceeded');
      assert.equal(o.stdoutLen, 1024 * 1024);
      assert.equal(o.killed, true);
      assert.equal(o.signalCode, 'SIGTERM');
    });

    for (const [label, cmd, opts] of [
      ['custom maxBuffer on stdout', 'echo 0123456789abcdef', { maxBuffer: 10 }],
      ['custom maxBuffer on stderr', 'echo 0123456789abcdef >&2', { maxBuffer: 10 }],
      ['custom maxBuffer, encoding buffer', 'echo 0123456789abcdef', { maxBuffer: 10, encoding: 'buffer' }],
      // Node counts bytes but truncates the string by characters.
      ['custom maxBuffer with multi-byte characters', 'echo éééééééééé', { maxBuffer: 10 }],
      ['maxBuffer not exceeded (exactly)', 'printf 0123456789', { maxBuffer: 10 }],
      ['maxBuffer Infinity', 'echo 0123456789abcdef', { maxBuffer: Infinity }],
    ]) {
      itSame(impl, label, async (t, impl) => {
        // The child may exit before it is killed: only compare what does not depend on that.
        const { cbArgs } = await call(t, impl, 'exec', cmd, opts);
        return { argc: cbArgs.length, error: errObs(cbArgs[0]), stdout: valueObs(cbArgs[1]), stderr: valueObs(cbArgs[2]) };
      });
    }

    itSame(impl, 'maxBuffer exceeded on stderr with a child that waits -> killed with SIGTERM', async (t, impl) => {
      const { cbArgs, child } = await call(t, impl, 'exec', flood(100000, true), { maxBuffer: 1000 });
      if (child.exitCode === null && child.signalCode === null) await next(child, 'exit');
      return {
        error: errObs(cbArgs[0]), stdout: cbArgs[1], stderrLen: cbArgs[2].length, killed: child.killed,
        signalCode: child.signalCode,
      };
    }, (o) => {
      assert.equal(o.error.message, 'stderr maxBuffer length exceeded');
      assert.equal(o.stderrLen, 1000);
      assert.equal(o.signalCode, 'SIGTERM');
    });

    for (const [fn, args] of [['exec', ['exec sleep 100']], ['execFile', ['sleep', ['100']]]]) {
      for (const killSignal of [undefined, 'SIGUSR2', 9]) {
        itSame(impl, `${fn}: timeout with killSignal ${killSignal} -> killed, signal`, async (t, impl) =>
          obs(t, impl, fn, ...args, { timeout: 20, killSignal }),
        (o) => {
          const sig = killSignal === undefined ? 'SIGTERM' : killSignal === 9 ? 'SIGKILL' : killSignal;
          assert.equal(o.error['.killed'], true);
          assert.equal(o.error['.signal'], sig);
          assert.equal(o.error['.code'], null);
          assert.equal(o.killed, true);
        });
      }
    }

    itSame(impl, 'execFile: missing command -> ENOENT error with cmd', async (t, impl) =>
      obs(t, impl, 'execFile', 'nc-no-such-command', ['a', 'b']),
    (o) => {
      assert.equal(o.error['.code'], 'ENOENT');
      assert.equal(o.error['.errno'], -2);
      assert.equal(o.error['.syscall'], 'spawn nc-no-such-command');
      assert.equal(o.error['.path'], 'nc-no-such-command');
      assert.deepEqual(o.error['.spawnargs'], ['a', 'b']);
      assert.equal(o.error['.cmd'], 'nc-no-such-command a b');
      assert.equal(o.stdout, '');
      assert.equal(o.stderr, '');
    });

    itSame(impl, 'exec: missing command -> the shell exits 127', async (t, impl) =>
      obs(t, impl, 'exec', 'nc-no-such-command a'),
    (o) => assert.equal(o.error['.code'], 127));

    itSame(impl, 'exec with a shell path; execFile with shell: true', async (t, impl) => {
      const a = await obs(t, impl, 'exec', 'echo $0 ${BASH_VERSION:+is-bash}', { shell: '/bin/bash' });
      const b = await obs(t, impl, 'execFile', 'echo', ['"x  y"', '$NC_VAR', '|', 'tr', 'a-z', 'A-Z'],
        { shell: true, env: { ...process.env, NC_VAR: 'var' } });
      return [a, b];
    }, (o) => {
      assert.equal(o[0].stdout, '/bin/bash is-bash\n');
      assert.equal(o[1].stdout, 'X  Y VAR\n');
    });

    itSame(impl, 'exec: AbortSignal -> AbortError in the callback', async (t, impl) => {
      const ac = new AbortController();
      const p = call(t, impl, 'exec', 'exec sleep 100', { signal: ac.signal });
      ac.abort();
      const { cbArgs, child } = await p;
      const e = cbArgs[0];
      return { name: e.name, code: e.code, message: e.message, cmd: e.cmd, keys: Object.keys(e), killed: child.killed };
    }, (o) => assert.equal(o.name, 'AbortError'));

    describe('util.promisify', () => {
      itSame(impl, 'promisify(exec) resolves { stdout, stderr }; .child on the promise', async (t, impl) => {
        const p = util.promisify(impl.cp.exec)('echo out; echo err >&2');
        const child = p.child;
        t.after(() => kill(child));
        const isChild = child instanceof impl.cp.ChildProcess;
        const v = await p;
        return { isChild, pidType: typeof child.pid, value: v, keys: Object.keys(v) };
      }, (o) => assert.deepEqual(o, {
        isChild: true, pidType: 'number', value: { stdout: 'out\n', stderr: 'err\n' }, keys: ['stdout', 'stderr'],
      }));

      itSame(impl, 'promisify(execFile) resolves Buffers with encoding buffer', async (t, impl) => {
        const p = util.promisify(impl.cp.execFile)('printf', ['ab'], { encoding: 'buffer' });
        t.after(() => kill(p.child));
        const v = await p;
        return { stdout: valueObs(v.stdout), stderr: valueObs(v.stderr) };
      }, (o) => assert.deepEqual(o, { stdout: { buffer: '6162' }, stderr: { buffer: '' } }));

      for (const fn of ['exec', 'execFile']) {
        itSame(impl, `promisify(${fn}) rejects with stdout and stderr on the error`, async (t, impl) => {
          const args = fn === 'exec' ? ['echo out; echo err >&2; exit 4'] : ['sh', ['-c', 'echo out; echo err >&2; exit 4']];
          const p = util.promisify(impl.cp[fn])(...args);
          t.after(() => kill(p.child));
          const err = await p.then(() => null, (e) => e);
          return errObs(err);
        }, (o) => {
          assert.equal(o['.code'], 4);
          assert.equal(o['.stdout'], 'out\n');
          assert.equal(o['.stderr'], 'err\n');
        });
      }

      itSame(impl, 'promisify(execFile) rejects for a missing command', async (t, impl) => {
        const p = util.promisify(impl.cp.execFile)('nc-no-such-command', ['x']);
        t.after(() => kill(p.child));
        return errObs(await p.then(() => null, (e) => e));
      }, (o) => assert.equal(o['.code'], 'ENOENT'));
    });

    describe('argument handling', () => {
      const cases = [
        ['exec without a callback returns a child', (cp) => cp.exec('true')],
        ['execFile(file, callback)', (cp) => cp.execFile('true', () => {})],
        ['execFile(file, options, callback)', (cp) => cp.execFile('true', { cwd: '/' }, () => {})],
        ['execFile(file, null, null, callback)', (cp) => cp.execFile('true', null, null, () => {})],
        ['exec with a non-string command', (cp) => cp.exec(42, () => {})],
        ['exec with a non-function callback', (cp) => cp.exec('true', {}, 'cb')],
        ['execFile with a bad args type', (cp) => cp.execFile('true', 42, () => {})],
        ['execFile with a bad options type', (cp) => cp.execFile('true', [], 42, () => {})],
        ['maxBuffer negative', (cp) => cp.execFile('true', [], { maxBuffer: -1 }, () => {})],
        ['timeout negative', (cp) => cp.execFile('true', [], { timeout: -1 }, () => {})],
        ['killSignal unknown', (cp) => cp.execFile('true', [], { killSignal: 'SIGNOPE' }, () => {})],
        ['NUL in the command', (cp) => cp.exec('tr\0ue', () => {})],
      ];
      for (const [label, fn] of cases) {
        itSame(impl, label, async (t, impl) => {
          let child;
          try {
            child = fn(impl.cp);
          } catch (e) {
            return { threw: { code: e.code, name: e.name, message: e.message } };
          }
          t.after(() => kill(child));
          child.on('error', () => {});
          const r = { instance: child instanceof impl.cp.ChildProcess };
          await next(child, 'close');
          return r;
        });
      }
    });
  });
}
