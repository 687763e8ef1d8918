'use strict';
// Differential tests: every scenario runs against node:child_process and against
// native-cluster/child_process, with the same assertions (Node's behaviour is the reference),
// except for the documented deliberate differences (marked "DIFFERENCE"). The lifecycle events
// are in fork-lifecycle.test.js, which the test runner runs beside this file.
const { describe } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const url = require('node:url');
const {
  it, IMPLS, CHILD, forkChild, forkTracked, next, collect, record, thrown, readAll,
  waitForText, turns, kill, bigString, assertCbOk, norm, roundTrip,
} = require('./helpers');

for (const impl of IMPLS) {
  const cp = impl.cp;
  describe(`fork [${impl.name}]`, { skip: impl.skip }, () => {
    // ------------------------------------------------------------------ messages
    describe('messages', () => {
      it('round-trips JSON values of many types', async (t) => {
        const deep = {};
        let cur = deep;
        for (let i = 0; i < 100; i++) cur = cur.next = { i, a: [i, String(i)] };
        const values = [
          'plain', '', 'line1\nline2\r\n', 'quote " backslash \\ tab \t ctrl \u0001 del \u007f',
          '\u2028\u2029 separators', 'emoji \ud83d\ude00\ud83c\udf89', 'lone high \ud800', 'lone low \udc00 x',
          '\ud800\ud800\udfff', 'bmp \u00e9\u4e2d\uffff\u0000nul', bigString(100000),
          0, -0, 1, -1.5, 3.141592653589793, 2 ** 53, -(2 ** 31), 1e308, 5e-324, NaN, Infinity,
          null, true, false,
          [], [1, [2, [3, [4]]]], ['a', null, true, { x: 1 }], new Array(3),
          {}, { a: { b: { c: [1, 'x', null] } } }, deep,
          { date: new Date(0), u: undefined, f() {}, n: NaN, buf: Buffer.from('hi') },
          { cmd: 'NODE_' }, { cmd: 'fooNODE_HANDLE' }, { cmd: 42 }, { 'key\nwith\u2028': '\ud800' },
        ];
        const child = forkChild(t, impl, ['echo']);
        const got = collect(child, 'message', values.length);
        for (const v of values) child.send(v);
        const expected = values.map((v) => JSON.parse(JSON.stringify(v)));
        assert.deepEqual(await got, expected);
        child.disconnect();
        await next(child, 'exit');
      });

      it('internal messages ({cmd: "NODE_..."}) sent to the child are not user messages', async (t) => {
        const child = forkChild(t, impl, ['echo']);
        const got = collect(child, 'message', 2);
        child.send({ cmd: 'NODE_TEST_UNKNOWN', x: 1 });
        child.send('first');
        child.send({ cmd: 'NODE_' });
        assert.deepEqual(await got, ['first', { cmd: 'NODE_' }]);
        child.disconnect();
        await next(child, 'exit');
      });

      it('unusual but valid JSON frames written raw by the child', async (t) => {
        const frames = [
          '  "spaces"  \n', '"crlf"\r\n', '\t{"tab" : [ 1 , 2 ] }\n', '{"a":1,"a":2}\n', '1e400\n', '-0\n',
          '"\\ud800\\u0000\\/"\n', '"\u2028\u2029"\n', '"\ud83d\ude00"\n', '[]\n', 'null\n',
        ];
        const hex = frames.map((f) => Buffer.from(f, 'utf8').toString('hex'));
        const child = forkChild(t, impl, ['raw', ...hex]);
        const got = await collect(child, 'message', frames.length);
        assert.deepEqual(got, frames.map((f) => JSON.parse(f)));
        assert.ok(Object.is(got[5], -0));
        child.disconnect();
        await next(child, 'exit');
      });

      it('keeps the order of 10,000 messages parent -> child -> parent', async (t) => {
        const N = 10000;
        const child = forkChild(t, impl, ['echo']);
        const got = collect(child, 'message', N);
        for (let i = 0; i < N; i++) child.send({ i, s: 'm' + i });
        const msgs = await got;
        assert.deepEqual(msgs.map((m) => m.i), Array.from({ length: N }, (_, i) => i));
        assert.ok(msgs.every((m) => m.s === 'm' + m.i));
        child.disconnect();
        await next(child, 'exit');
      });

      it('keeps the order of 10,000 messages child -> parent', async (t) => {
        const N = 10000;
        const child = forkChild(t, impl, ['burst', String(N)]);
        const msgs = await collect(child, 'message', N);
        assert.deepEqual(msgs, Array.from({ length: N }, (_, i) => i));
        child.disconnect();
        await next(child, 'exit');
      });

      it('30 concurrent children: messages stay per child and in order', async (t) => {
        const N = 300;
        const kids = Array.from({ length: 30 }, () => forkChild(t, impl, ['echo']));
        await Promise.all(kids.map(async (child, k) => {
          const got = collect(child, 'message', N);
          for (let i = 0; i < N; i++) child.send([k, i]);
          assert.deepEqual(await got, Array.from({ length: N }, (_, i) => [k, i]));
          child.disconnect();
          await next(child, 'exit');
        }));
      });

      it('keeps messages that arrive before a message listener exists', async (t) => {
        const child = forkChild(t, impl, ['pending', '3'], { silent: true });
        // The child prints 'sent' once all three were written to the channel.
        await waitForText(child.stdout, 'sent');
        await turns(20);
        const got = collect(child, 'message', 3);
        assert.deepEqual(await got, [{ i: 0 }, { i: 1 }, { i: 2 }]);
        child.disconnect();
        await next(child, 'exit');
      });

      it('send() returns true and calls the callback with (null), asynchronously', async (t) => {
        const child = forkChild(t, impl, ['echo']);
        let sync = true;
        const cbArgs = new Promise((resolve) => {
          const r = child.send('a', (...args) => {
            assert.equal(sync, false, 'callback called synchronously');
            resolve(args);
          });
          assert.equal(r, true);
        });
        const cbArgs2 = new Promise((resolve) => {
          assert.equal(child.send('b', undefined, {}, (...args) => resolve(args)), true);
        });
        const cbArgs3 = new Promise((resolve) => {
          assert.equal(child.send('c', null, (...args) => resolve(args)), true);
        });
        sync = false;
        assertCbOk(await cbArgs);
        assertCbOk(await cbArgs2);
        assertCbOk(await cbArgs3);
        assert.deepEqual(await collect(child, 'message', 3), ['a', 'b', 'c']);
        child.disconnect();
        await next(child, 'exit');
      });

      it('send() after disconnect: ERR_IPC_CHANNEL_CLOSED via callback, returns false', async (t) => {
        const child = forkChild(t, impl, ['echo']);
        const errors = [];
        child.on('error', (e) => errors.push(e));
        child.disconnect();
        let sync = true;
        const p = new Promise((resolve) => {
          assert.equal(child.send('late', (err) => {
            assert.equal(sync, false, 'callback called synchronously');
            resolve(err);
          }), false);
        });
        sync = false;
        const err = await p;
        assert.equal(err.code, 'ERR_IPC_CHANNEL_CLOSED');
        assert.equal(err.name, 'Error');
        await next(child, 'exit');
        assert.deepEqual(errors, [], 'no error event when a callback is given');
      });

      it("send() after disconnect: ERR_IPC_CHANNEL_CLOSED via 'error', returns false", async (t) => {
        const child = forkChild(t, impl, ['echo']);
        const errors = [];
        child.on('error', (e) => errors.push(e));
        child.disconnect();
        assert.equal(child.send('late'), false);
        assert.equal(errors.length, 0, "'error' emitted synchronously");
        const [err] = await next(child, 'error');
        assert.equal(err.code, 'ERR_IPC_CHANNEL_CLOSED');
        assert.equal(err.name, 'Error');
        await next(child, 'exit');
        assert.equal(errors.length, 1);
      });

      it('send() after the child exited: ERR_IPC_CHANNEL_CLOSED', async (t) => {
        const child = forkChild(t, impl, ['exit', '0']);
        await next(child, 'close');
        assert.equal(child.connected, false);
        const err = await new Promise((resolve) => {
          assert.equal(child.send('late', resolve), false);
        });
        assert.equal(err.code, 'ERR_IPC_CHANNEL_CLOSED');
      });

      it('disconnect() twice emits ERR_IPC_DISCONNECTED synchronously', async (t) => {
        const child = forkChild(t, impl, ['echo']);
        const errors = [];
        child.on('error', (e) => errors.push(e));
        child.disconnect();
        assert.equal(child.connected, false);
        assert.equal(errors.length, 0);
        child.disconnect();
        assert.equal(errors.length, 1);
        assert.equal(errors[0].code, 'ERR_IPC_DISCONNECTED');
        assert.equal(errors[0].name, 'Error');
        await next(child, 'exit');
        assert.equal(errors.length, 1);
      });
    });

    // ------------------------------------------------------------------ properties
    describe('properties', () => {
      it('pid, spawnfile, spawnargs, connected, stdio of a default fork', async (t) => {
        const child = forkChild(t, impl, ['info', 'extra arg']);
        assert.equal(typeof child.pid, 'number');
        assert.ok(child.pid > 0);
        assert.equal(child.connected, true);
        assert.equal(child.exitCode, null);
        assert.equal(child.signalCode, null);
        assert.equal(child.killed, false);
        assert.equal(child.spawnfile, process.execPath);
        assert.deepEqual(child.spawnargs, [process.execPath, ...process.execArgv, CHILD, 'info', 'extra arg']);
        assert.equal(child.stdin, null);
        assert.equal(child.stdout, null);
        assert.equal(child.stderr, null);
        assert.deepEqual(child.stdio, [null, null, null, null]);
        const [info] = await next(child, 'message');
        assert.equal(info.pid, child.pid);
        assert.equal(info.ppid, process.pid);
        assert.deepEqual(info.argv, ['info', 'extra arg']);
        assert.equal(info.connected, true);
        assert.equal(info.channelFd, 3);
        assert.equal(info.env.NODE_CHANNEL_FD, undefined);
        assert.equal(info.env.NODE_CHANNEL_SERIALIZATION_MODE, undefined);
        await next(child, 'exit');
      });

      it('spawnargs with execArgv option and args', async (t) => {
        const child = forkChild(t, impl, ['info', 'a', 'b'], { execArgv: ['--expose-gc'] });
        assert.deepEqual(child.spawnargs, [process.execPath, '--expose-gc', CHILD, 'info', 'a', 'b']);
        const [info] = await next(child, 'message');
        assert.equal(info.gc, 'function');
        assert.deepEqual(info.execArgv, ['--expose-gc']);
        await next(child, 'exit');
      });
    });

    // ------------------------------------------------------------------ argument validation
    describe('argument validation', () => {
      const F = CHILD;
      const forkCases = [
        ['no modulePath', () => cp.fork(), 'ERR_INVALID_ARG_TYPE', 'TypeError'],
        ['numeric modulePath', () => cp.fork(123), 'ERR_INVALID_ARG_TYPE', 'TypeError'],
        ['modulePath with NUL', () => cp.fork('a\0b'), 'ERR_INVALID_ARG_VALUE', 'TypeError'],
        ['string args', () => cp.fork(F, 'str'), 'ERR_INVALID_ARG_TYPE', 'TypeError'],
        ['numeric args', () => cp.fork(F, 5), 'ERR_INVALID_ARG_TYPE', 'TypeError'],
        ['arg with NUL', () => cp.fork(F, ['a\0']), 'ERR_INVALID_ARG_VALUE', 'TypeError'],
        ['string options', () => cp.fork(F, [], 'opts'), 'ERR_INVALID_ARG_TYPE', 'TypeError'],
        ['numeric options', () => cp.fork(F, [], 42), 'ERR_INVALID_ARG_TYPE', 'TypeError'],
        ['array options', () => cp.fork(F, [], []), 'ERR_INVALID_ARG_TYPE', 'TypeError'],
        ['numeric cwd', () => cp.fork(F, { cwd: 42 }), 'ERR_INVALID_ARG_TYPE', 'TypeError'],
        ['numeric execPath', () => cp.fork(F, { execPath: 5 }), 'ERR_INVALID_ARG_TYPE', 'TypeError'],
        ['bad stdio string', () => cp.fork(F, { stdio: 'bogus' }), 'ERR_INVALID_ARG_VALUE', 'TypeError'],
        ['bad stdio entry (object)', () => cp.fork(F, { stdio: ['pipe', 'pipe', 'pipe', 'ipc', {}] }),
          'ERR_INVALID_ARG_VALUE', 'TypeError'],
        ['bad stdio entry (boolean)', () => cp.fork(F, { stdio: ['pipe', 'pipe', 'pipe', 'ipc', true] }),
          'ERR_INVALID_ARG_VALUE', 'TypeError'],
        ['stdio without ipc', () => cp.fork(F, { stdio: ['pipe', 'pipe', 'pipe'] }),
          'ERR_CHILD_PROCESS_IPC_REQUIRED', 'Error'],
        ['stdio with two ipc', () => cp.fork(F, { stdio: ['pipe', 'pipe', 'pipe', 'ipc', 'ipc'] }),
          'ERR_IPC_ONE_PIPE', 'Error'],
        ['bad serialization', () => cp.fork(F, { serialization: 'xml' }), 'ERR_INVALID_ARG_VALUE', 'TypeError'],
        ['negative timeout', () => cp.fork(F, { timeout: -1 }), 'ERR_OUT_OF_RANGE', 'RangeError'],
        ['fractional timeout', () => cp.fork(F, { timeout: 1.5 }), 'ERR_OUT_OF_RANGE', 'RangeError'],
        ['string timeout', () => cp.fork(F, { timeout: 'x' }), 'ERR_OUT_OF_RANGE', 'RangeError'],
        ['unknown killSignal', () => cp.fork(F, { killSignal: 'SIGNOPE' }), 'ERR_UNKNOWN_SIGNAL', 'TypeError'],
        ['object killSignal', () => cp.fork(F, { killSignal: {} }), 'ERR_INVALID_ARG_TYPE', 'TypeError'],
        ['bad signal', () => cp.fork(F, { signal: {} }), 'ERR_INVALID_ARG_TYPE', 'TypeError'],
        ['string uid', () => cp.fork(F, { uid: 'x' }), 'ERR_INVALID_ARG_TYPE', 'TypeError'],
        ['fractional gid', () => cp.fork(F, { gid: -1.5 }), 'ERR_INVALID_ARG_TYPE', 'TypeError'],
        ['string detached', () => cp.fork(F, { detached: 'x' }), 'ERR_INVALID_ARG_TYPE', 'TypeError'],
      ];
      for (const [name, fn, code, errName] of forkCases) {
        it(`fork(): ${name} -> ${code}`, () => {
          let ret;
          let err;
          try {
            ret = fn();
          } catch (e) {
            err = e;
          }
          if (ret && typeof ret.kill === 'function') {
            ret.on('error', () => {});
            kill(ret);
          }
          assert.ok(err, 'fork() did not throw');
          assert.equal(err.code, code);
          assert.equal(err.name, errName);
        });
      }

      it('send() argument errors are thrown and leave the channel usable', async (t) => {
        const child = forkChild(t, impl, ['echo']);
        const circular = {};
        circular.self = circular;
        const cases = [
          ['no message', () => child.send(), 'ERR_MISSING_ARGS', 'TypeError'],
          ['undefined message', () => child.send(undefined), 'ERR_MISSING_ARGS', 'TypeError'],
          ['symbol message', () => child.send(Symbol('s')), 'ERR_INVALID_ARG_TYPE', 'TypeError'],
          ['function message', () => child.send(() => {}), 'ERR_INVALID_ARG_TYPE', 'TypeError'],
          ['bigint message', () => child.send(1n), 'ERR_INVALID_ARG_TYPE', 'TypeError'],
          ['string options', () => child.send('x', null, 'o'), 'ERR_INVALID_ARG_TYPE', 'TypeError'],
          ['numeric options', () => child.send('x', undefined, 5), 'ERR_INVALID_ARG_TYPE', 'TypeError'],
          ['nested bigint', () => child.send({ a: 1n }), undefined, 'TypeError'],
          ['circular', () => child.send(circular), undefined, 'TypeError'],
        ];
        for (const [name, fn, code, errName] of cases) {
          const err = thrown(fn);
          assert.equal(err.code, code, name);
          assert.equal(err.name, errName, name);
        }
        await roundTrip(child, 'still works');
        child.disconnect();
        await next(child, 'exit');
      });
    });

    // ------------------------------------------------------------------ options
    describe('options', () => {
      it('cwd', async (t) => {
        const dir = fs.realpathSync(os.tmpdir());
        const child = forkChild(t, impl, ['info'], { cwd: dir });
        const [info] = await next(child, 'message');
        assert.equal(info.cwd, dir);
        await next(child, 'exit');
      });

      it('nonexistent cwd -> error ENOENT', async (t) => {
        const child = forkChild(t, impl, ['info'], { cwd: '/nonexistent/dir' });
        const log = record(child, ['spawn', 'error', 'exit']);
        const [err] = await next(child, 'error');
        assert.equal(err.code, 'ENOENT');
        assert.equal(child.pid, undefined);
        await turns(10);
        assert.deepEqual(log.map((e) => e[0]), ['error']);
      });

      it('env replaces the environment; channel variables are not visible', async (t) => {
        const child = forkChild(t, impl, ['info'], { env: { FOO: 'bar', PATH: process.env.PATH } });
        const [info] = await next(child, 'message');
        assert.equal(info.env.FOO, 'bar');
        assert.equal(info.env.HOME, undefined);
        assert.equal(info.env.NODE_CHANNEL_FD, undefined);
        assert.equal(info.env.NODE_CHANNEL_SERIALIZATION_MODE, undefined);
        await next(child, 'exit');
      });

      if (!impl.isNode) {
        // Node breaks here (the user's NODE_CHANNEL_FD wins and the child aborts).
        it('a user NODE_CHANNEL_FD in env is stripped', async (t) => {
          const child = forkChild(t, impl, ['echo'], { env: { ...process.env, NODE_CHANNEL_FD: '7' } });
          await roundTrip(child, { still: 'works' });
          child.disconnect();
          assert.deepEqual((await next(child, 'exit')), [0, null]);
        });

        it('a user NODE_CHANNEL_SERIALIZATION_MODE in env is stripped', async (t) => {
          const child = forkChild(t, impl, ['echo'], {
            env: { ...process.env, NODE_CHANNEL_SERIALIZATION_MODE: 'advanced' },
          });
          await roundTrip(child, { still: 'works' });
          child.disconnect();
          assert.deepEqual((await next(child, 'exit')), [0, null]);
        });
      }

      it('env values are converted to strings; undefined values are dropped', async (t) => {
        const child = forkChild(t, impl, ['info'], {
          env: { NUM: 5, BOOL: true, NUL: null, UNDEF: undefined, PATH: process.env.PATH },
        });
        const [info] = await next(child, 'message');
        assert.equal(info.env.NUM, '5');
        assert.equal(info.env.BOOL, 'true');
        assert.equal(info.env.NUL, 'null');
        assert.equal('UNDEF' in info.env, false);
        await next(child, 'exit');
      });

      it('args elements that are not strings are converted', async (t) => {
        const child = forkChild(t, impl, ['info', 1, true, null]);
        const [info] = await next(child, 'message');
        assert.deepEqual(info.argv, ['info', '1', 'true', 'null']);
        await next(child, 'exit');
      });

      it('modulePath as a file: URL or a Buffer; cwd as a file: URL', async (t) => {
        for (const modulePath of [url.pathToFileURL(CHILD), Buffer.from(CHILD)]) {
          const child = forkTracked(t, impl, modulePath, ['info']);
          assert.equal(String(child.spawnargs[child.spawnargs.length - 2]), CHILD);
          const [info] = await next(child, 'message');
          assert.deepEqual(info.argv, ['info']);
          await next(child, 'exit');
        }
        const dir = fs.realpathSync(os.tmpdir());
        const child = forkChild(t, impl, ['info'], { cwd: url.pathToFileURL(dir) });
        const [info] = await next(child, 'message');
        assert.equal(info.cwd, dir);
        await next(child, 'exit');
      });

      it('timeout: 0 means no timeout', async (t) => {
        const child = forkChild(t, impl, ['hello'], { timeout: 0 });
        assert.deepEqual(await next(child, 'close'), [0, null]);
        assert.equal(child.killed, false);
      });

      it('nonexistent execPath -> error ENOENT, then close', async (t) => {
        const execPath = '/nonexistent/node';
        const child = forkChild(t, impl, ['info', 'x'], { execPath });
        const log = record(child, ['spawn', 'error', 'exit', 'close']);
        assert.equal(child.spawnfile, execPath);
        assert.deepEqual(child.spawnargs, [execPath, ...process.execArgv, CHILD, 'info', 'x']);
        await next(child, 'close');
        assert.equal(child.pid, undefined);
        assert.deepEqual(log, [
          ['error', {
            name: 'Error', code: 'ENOENT', errno: os.constants.errno.ENOENT * -1, syscall: `spawn ${execPath}`,
            path: execPath, spawnargs: [...process.execArgv, CHILD, 'info', 'x'],
          }],
          ['close', -2, null],
        ]);
      });

      it('silent: true pipes stdin/stdout/stderr', async (t) => {
        const child = forkChild(t, impl, ['stdio'], { silent: true });
        assert.ok(child.stdin && child.stdout && child.stderr);
        assert.equal(child.stdio.length, 4);
        assert.equal(child.stdio[0], child.stdin);
        assert.equal(child.stdio[1], child.stdout);
        assert.equal(child.stdio[2], child.stderr);
        assert.equal(child.stdio[3], null);
        const out = readAll(child.stdout);
        const err = readAll(child.stderr);
        await next(child, 'message');
        child.stdin.end('hello');
        assert.equal(await out, 'to-stdout\nstdin:hello');
        assert.equal(await err, 'to-stderr\n');
        assert.deepEqual(await next(child, 'close'), [0, null]);
      });

      it("stdio 'pipe' string", async (t) => {
        const child = forkChild(t, impl, ['stdio'], { stdio: 'pipe' });
        const out = readAll(child.stdout);
        const err = readAll(child.stderr);
        await next(child, 'message');
        child.stdin.end('x');
        assert.equal(await out, 'to-stdout\nstdin:x');
        assert.equal(await err, 'to-stderr\n');
        assert.deepEqual(await next(child, 'close'), [0, null]);
      });

      it('stdio array with extra pipes beyond fd 2', async (t) => {
        const child = forkChild(t, impl, ['stdio', '4', '5'], {
          stdio: ['pipe', 'pipe', 'pipe', 'ipc', 'pipe', 'pipe'],
        });
        assert.equal(child.stdio.length, 6);
        assert.equal(child.stdio[3], null);
        assert.ok(child.stdio[4] && child.stdio[5]);
        const outs = [1, 2, 4, 5].map((i) => readAll(child.stdio[i]));
        await next(child, 'message');
        child.stdin.end('in');
        assert.deepEqual(await Promise.all(outs), ['to-stdout\nstdin:in', 'to-stderr\n', 'to-fd-4\n', 'to-fd-5\n']);
        assert.deepEqual(await next(child, 'close'), [0, null]);
      });

      it("stdio 'overlapped' behaves like 'pipe'", async (t) => {
        const child = forkChild(t, impl, ['stdio'], { stdio: 'overlapped' });
        assert.equal(child.stdio.length, 4);
        const out = readAll(child.stdout);
        child.stderr.resume();
        await next(child, 'message');
        child.stdin.end('o');
        assert.equal(await out, 'to-stdout\nstdin:o');
        assert.deepEqual(await next(child, 'close'), [0, null]);
      });

      it('an fd number in stdio is given to the child', async (t) => {
        const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'nc-')), 'out.txt');
        const fd = fs.openSync(file, 'w');
        let child;
        try {
          child = forkChild(t, impl, ['stdio'], { stdio: ['pipe', fd, 'ignore', 'ipc'] });
        } finally {
          fs.closeSync(fd);
        }
        assert.equal(child.stdout, null);
        await next(child, 'message');
        child.stdin.end('f');
        assert.deepEqual(await next(child, 'close'), [0, null]);
        assert.equal(fs.readFileSync(file, 'utf8'), 'to-stdout\nstdin:f');
        fs.rmSync(path.dirname(file), { recursive: true });
      });

      it("stdio 'ignore' entries", async (t) => {
        const child = forkChild(t, impl, ['info'], { stdio: ['ignore', 'ignore', 'ignore', 'ipc'] });
        assert.equal(child.stdin, null);
        assert.equal(child.stdout, null);
        assert.equal(child.stderr, null);
        const [info] = await next(child, 'message');
        assert.equal(info.pid, child.pid);
        assert.deepEqual(await next(child, 'close'), [0, null]);
      });

      it("stdio 'inherit' (string and array)", async (t) => {
        for (const stdio of ['inherit', ['inherit', 'inherit', 'inherit', 'ipc'], [0, 1, 2, 'ipc']]) {
          const child = forkChild(t, impl, ['info'], { stdio });
          assert.equal(child.stdout, null);
          const [info] = await next(child, 'message');
          assert.equal(info.channelFd, 3);
          assert.deepEqual(await next(child, 'close'), [0, null]);
        }
      });

      it("'ipc' at another index sets the channel fd", async (t) => {
        const child = forkChild(t, impl, ['info'], { stdio: ['pipe', 'pipe', 'pipe', 'ignore', 'ipc'] });
        const [info] = await next(child, 'message');
        assert.equal(info.channelFd, 4);
        assert.equal(child.stdio.length, 5);
        assert.equal(child.stdio[4], null);
        child.stdout.resume();
        child.stderr.resume();
        assert.deepEqual(await next(child, 'close'), [0, null]);
      });

      it('detached: true makes the child a session and group leader', async (t) => {
        const child = forkChild(t, impl, ['info'], { detached: true });
        const [info] = await next(child, 'message');
        assert.equal(info.stat.session, child.pid);
        assert.equal(info.stat.pgrp, child.pid);
        await next(child, 'exit');
      });

      it('detached: false keeps the parent session', async (t) => {
        const child = forkChild(t, impl, ['info']);
        const [info] = await next(child, 'message');
        const self = fs.readFileSync('/proc/self/stat', 'utf8');
        const selfSession = Number(self.slice(self.lastIndexOf(')') + 2).split(' ')[3]);
        assert.equal(info.stat.session, selfSession);
        assert.notEqual(info.stat.pgrp, child.pid);
        await next(child, 'exit');
      });

      if (process.getuid && process.getuid() === 0) {
        it('uid/gid', async (t) => {
          // The checkout may sit in a directory only root can enter (mktemp -d is 0700): run a
          // copy of the fixture from a directory the target user can read.
          const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nc-uid-'));
          t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
          fs.chmodSync(dir, 0o755);
          const script = path.join(dir, 'child.js');
          fs.copyFileSync(CHILD, script);
          fs.chmodSync(script, 0o644);
          const child = forkTracked(t, impl, script, ['info'], { uid: 65534, gid: 65534, cwd: '/' });
          const [info] = await Promise.race([
            next(child, 'message'),
            next(child, 'exit').then(([code]) => assert.fail(`the child exited (${code}) before reporting`)),
          ]);
          assert.equal(info.uid, 65534);
          assert.equal(info.gid, 65534);
          await next(child, 'exit');
        });
      }

      for (const [killSignal, name] of [['SIGINT', 'SIGINT'], [9, 'SIGKILL']]) {
        it(`timeout kills the child with killSignal ${killSignal}`, async (t) => {
          const child = forkChild(t, impl, ['hang'], { timeout: 100, killSignal });
          const log = record(child);
          await next(child, 'close');
          assert.deepEqual(norm(log).filter((e) => e[0] !== 'message'), [
            ['spawn'], ['disconnect'], ['exit', null, name], ['close', null, name],
          ]);
          assert.equal(child.killed, true);
          assert.equal(child.signalCode, name);
        });
      }

      it('AbortSignal abort -> AbortError and the child is killed', async (t) => {
        const ac = new AbortController();
        const child = forkChild(t, impl, ['hang'], { signal: ac.signal });
        const log = record(child);
        await next(child, 'message');
        const reason = new Error('why');
        ac.abort(reason);
        await next(child, 'close');
        assert.deepEqual(norm(log), [
          ['spawn'], ['message', 'ready'], ['error', { name: 'AbortError', code: 'ABORT_ERR' }], ['disconnect'],
          ['exit', null, 'SIGTERM'], ['close', null, 'SIGTERM'],
        ]);
        assert.equal(child.killed, true);
      });

      it('AbortSignal abort cause and killSignal', async (t) => {
        const ac = new AbortController();
        const child = forkChild(t, impl, ['hang'], { signal: ac.signal, killSignal: 'SIGKILL' });
        await next(child, 'message');
        const reason = new Error('why');
        const err = next(child, 'error');
        ac.abort(reason);
        const [e] = await err;
        assert.equal(e.name, 'AbortError');
        assert.equal(e.cause, reason);
        assert.deepEqual(await next(child, 'close'), [null, 'SIGKILL']);
      });

      it('already aborted signal', async (t) => {
        const child = forkChild(t, impl, ['hang'], { signal: AbortSignal.abort() });
        const log = record(child);
        await next(child, 'close');
        assert.deepEqual(norm(log).filter((e) => e[0] !== 'message'), [
          ['spawn'], ['error', { name: 'AbortError', code: 'ABORT_ERR' }], ['disconnect'],
          ['exit', null, 'SIGTERM'], ['close', null, 'SIGTERM'],
        ]);
      });
    });
  });
}
