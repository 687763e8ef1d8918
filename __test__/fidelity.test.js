'use strict';
// Differential tests for the details of Node's API that clients rely on (issue 12): the
// channel's counted references, what a send() to a child that is going away reports, stdio
// streams after exit, and the constructors, errors and diagnostics Node exposes.
const { describe } = require('node:test');
const assert = require('node:assert/strict');
const diagnosticsChannel = require('node:diagnostics_channel');
const fs = require('node:fs');
const util = require('node:util');
const { PassThrough } = require('node:stream');
const { spawnSync } = require('node:child_process');
const nodeCluster = require('node:cluster');
const {
  IMPLS, NODE_IMPL, OURS_IMPL, CHILD, fixture, forkChild, spawnTracked, itSame, next, procState, turns,
} = require('./helpers');

const PARENT = fixture('fidelity-parent.js');

// Runs fidelity-parent.js with impl: what it printed, and whether it exited on its own.
function runParent(impl, scenario) {
  const r = spawnSync(process.execPath, [PARENT, impl.isNode ? 'node' : 'ours', scenario], {
    encoding: 'utf8', timeout: 20000, stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stderr = r.stderr.replace(/^\(node:\d+\)/gm, '(node:PID)');
  return { out: r.stdout.split('\n').filter(Boolean), status: r.status, signal: r.signal, stderr };
}

// Blocks until the process has exited (so that this process has not seen it go yet) and its
// descriptors are closed: its main thread is a zombie and no other thread is left (a Node
// child's other threads may still be exiting, holding the descriptors, when the main one is).
function waitDead(pid) {
  for (;;) {
    const state = procState(pid);
    if (state === null) return;
    if (state === 'Z') {
      try {
        if (fs.readdirSync(`/proc/${pid}/task`).length <= 1) return;
      } catch {
        return;
      }
    }
  }
}

// Records what a user sees around send(): callback results, 'error' events, warnings and the
// lifecycle, until 'close'.
function watch(t, child) {
  const seen = { callbacks: [], errors: [], warnings: [], lifecycle: [] };
  child.on('error', (err) => seen.errors.push(err.code));
  const onWarning = (w) => seen.warnings.push(w.code || w.name);
  process.on('warning', onWarning);
  t.after(() => process.removeListener('warning', onWarning));
  for (const ev of ['disconnect', 'exit', 'close']) child.on(ev, () => seen.lifecycle.push(ev));
  seen.callback = (label) => (err, ...rest) => seen.callbacks.push([label, err ? err.code : err, rest.length]);
  seen.closed = next(child, 'close');
  return seen;
}

function errorShape(err) {
  return {
    name: err.name,
    code: err.code,
    message: err.message,
    string: String(err),
    stackHead: err.stack.split('\n')[0],
    inspectHead: util.inspect(err).split('\n').filter((l) => !/^\s+at /.test(l)).join('\n'),
    ownProps: Object.getOwnPropertyNames(err).sort(),
    keys: Object.keys(err),
    isTypeError: err instanceof TypeError,
    isRangeError: err instanceof RangeError,
    constructorName: err.constructor.name,
  };
}

function thrownShape(fn) {
  try {
    fn();
  } catch (err) {
    return errorShape(err);
  }
  return 'no throw';
}

for (const impl of IMPLS) {
  if (impl === NODE_IMPL && IMPLS.includes(OURS_IMPL)) continue; // itSame runs Node's side too
  describe(`fidelity [${impl.name}]`, { skip: impl.skip }, () => {
    // ------------------------------------------------------------ item 1: counted references
    describe('channel.refCounted() / unrefCounted()', () => {
      itSame(impl, 'the channel has Node\'s methods, and counted references emit \'unref\' as Node\'s', async (t, impl) => {
        const child = forkChild(t, impl, ['echo-ready']);
        await next(child, 'message');
        const channel = child.channel;
        const methods = ['ref', 'unref', 'refCounted', 'unrefCounted'].map((m) => typeof channel[m]);
        const log = [];
        channel.on('unref', () => log.push('unref'));
        const step = (name) => {
          channel[name]();
          log.push(name);
        };
        // 0 -> 1 -> 0 ('unref'), -1, 0, 1, 2, 1, 0 ('unref')
        for (const name of ['refCounted', 'unrefCounted', 'unrefCounted', 'refCounted', 'refCounted', 'refCounted',
          'unrefCounted', 'unrefCounted']) step(name);
        // After an explicit unref() or ref(), the counter no longer changes anything.
        for (const name of ['unref', 'refCounted', 'unrefCounted', 'ref', 'refCounted', 'unrefCounted']) step(name);
        // The channel still works.
        child.send('still');
        const [echoed] = await next(child, 'message');
        child.disconnect();
        await next(child, 'exit');
        return { methods, log, echoed, isEmitter: typeof channel.on === 'function' };
      }, (o) => assert.deepEqual(o.methods, ['function', 'function', 'function', 'function']));

      for (const scenario of ['counted', 'counted-held', 'counted-twice', 'explicit-unref', 'explicit-ref', 'below-zero']) {
        itSame(impl, `what keeps the parent alive: ${scenario}`, async (t, impl) => runParent(impl, scenario),
          (o) => assert.equal(o.status, 0, o.stderr));
      }

      itSame(impl, 'an execa-style getOneMessage() holds a counted reference while it waits', async (t, impl) => {
        // 'two' never comes ('unref-event' comes before 'got one' up to Node 22).
        return runParent(impl, 'execa');
      }, (o) => assert.deepEqual(o.out.filter((l) => l !== 'unref-event'), ['set up', 'one', 'got one']));

      itSame(impl, 'an execa-style message round trip (sendMessage / getOneMessage)', async (t, impl) => {
        const child = forkChild(t, impl, ['echo-ready']);
        // getOneMessage(): a counted reference while waiting, released once the message is in.
        async function getOneMessage() {
          child.channel.refCounted();
          try {
            const [message] = await next(child, 'message');
            return message;
          } finally {
            child.channel.unrefCounted();
          }
        }
        // sendMessage(): send() with a callback, as a promise.
        const sendMessage = (message) => new Promise((resolve, reject) => {
          child.send(message, (err) => (err ? reject(err) : resolve()));
        });
        const got = [await getOneMessage()];
        for (const m of [{ n: 1 }, 'two', [3]]) {
          const reply = getOneMessage();
          await sendMessage(m);
          got.push(await reply);
        }
        child.disconnect();
        await next(child, 'exit');
        return got;
      }, (o) => assert.deepEqual(o, ['ready', { n: 1 }, 'two', [3]]));
    });

    // ------------------------------------------------------------ item 3: EPIPE
    describe('send() to a child that is going away', () => {
      itSame(impl, 'send(m, cb) then kill(): the callback gets null and nothing else is reported', async (t, impl) => {
        const child = forkChild(t, impl, ['hang']);
        await next(child, 'message');
        const seen = watch(t, child);
        const sent = child.send('x', seen.callback('cb'));
        child.send('y');
        child.kill('SIGKILL');
        // The child is gone before this process looks again (as after any kill, sooner or later).
        waitDead(child.pid);
        await seen.closed;
        await turns();
        return { sent, ...seen, closed: undefined, callback: undefined };
      }, (o) => assert.deepEqual(o.callbacks, [['cb', null, 0]]));

      itSame(impl, 'sends after the child has died, before its exit is seen: each fails with EPIPE in order', async (t, impl) => {
        const child = forkChild(t, impl, ['hang']);
        await next(child, 'message');
        const seen = watch(t, child);
        child.send('before', seen.callback('before'));
        child.kill('SIGKILL');
        waitDead(child.pid);
        const sent = [child.send('a', seen.callback('a')), child.send('b'), child.send('c')];
        await seen.closed;
        await turns();
        return { sent, ...seen, closed: undefined, callback: undefined };
      }, (o) => {
        assert.deepEqual(o.callbacks, [['before', null, 0], ['a', 'EPIPE', 0]]);
        assert.deepEqual(o.errors, ['EPIPE', 'EPIPE']);
      });

      itSame(impl, 'a flood into a child that is killed: every callback gets null, no error', async (t, impl) => {
        const child = forkChild(t, impl, ['hang']);
        await next(child, 'message');
        const seen = watch(t, child);
        const big = 'x'.repeat(100000);
        for (let i = 0; i < 100; i++) child.send(big, seen.callback(i));
        for (let i = 0; i < 20; i++) child.send(big);
        child.kill('SIGKILL');
        waitDead(child.pid);
        await seen.closed;
        await turns();
        const failed = seen.callbacks.filter(([, err]) => err !== null);
        return { count: seen.callbacks.length, failed, errors: seen.errors, warnings: seen.warnings };
      }, (o) => assert.deepEqual(o, { count: 100, failed: [], errors: [], warnings: [] }));

      itSame(impl, 'a flood into a child that exits on the first message: every callback gets null', async (t, impl) => {
        const child = impl.cp.fork(PARENT, ['-', 'child-exit-on-message']);
        t.after(() => child.exitCode === null && child.signalCode === null && child.kill('SIGKILL'));
        await next(child, 'message');
        const seen = watch(t, child);
        child.send('quit');
        const big = 'x'.repeat(100000);
        for (let i = 0; i < 100; i++) child.send(big, seen.callback(i));
        await seen.closed;
        await turns();
        const failed = seen.callbacks.filter(([, err]) => err !== null);
        return { count: seen.callbacks.length, failed, errors: seen.errors, warnings: seen.warnings };
      }, (o) => assert.deepEqual(o, { count: 100, failed: [], errors: [], warnings: [] }));

      itSame(impl, 'sends queued behind a backlog when the child dies: nothing reported, before or after its death', async (t, impl) => {
        // A child that never reads its channel, so that the writes back up.
        const child = spawnTracked(t, impl, '/bin/sh', ['-c', 'unset NODE_CHANNEL_FD; exec "$0" -e "setInterval(() => {}, 1000)"',
          process.execPath], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
        await next(child, 'spawn');
        const seen = watch(t, child);
        const big = 'x'.repeat(100000);
        for (let i = 0; i < 40; i++) child.send(big, seen.callback(i));
        child.kill('SIGKILL');
        waitDead(child.pid);
        child.send('after', seen.callback('after'));
        child.send('after, without a callback');
        await seen.closed;
        await turns();
        const failed = seen.callbacks.filter(([, err]) => err !== null);
        return { count: seen.callbacks.length, failed, errors: seen.errors, warnings: seen.warnings };
      }, (o) => assert.deepEqual(o, { count: 41, failed: [], errors: [], warnings: [] }));

      itSame(impl, 'a parent that sends and exits at once: the child gets every message', async (t, impl) => {
        return runParent(impl, 'send-exit');
      }, (o) => assert.deepEqual(o.out, ['got a', 'got b']));
    });

    // ------------------------------------------------------------ item 11: stdio after exit
    describe('stdio streams after the child has exited', () => {
      const WRITER = ['-e', 'process.stdout.write("x".repeat(100000)); process.stderr.write("e")'];

      async function drained(t, impl, setup) {
        const child = spawnTracked(t, impl, process.execPath, WRITER);
        const log = [];
        let bytes = 0;
        child.on('exit', () => log.push('exit'));
        child.stdout.on('end', () => log.push('stdout end'));
        child.on('close', () => log.push('close'));
        const closed = next(child, 'close');
        setup(child, (n) => { bytes += n; });
        await closed;
        return { log, bytes, flowing: child.stdout.readableFlowing, left: child.stdout.readableLength };
      }

      itSame(impl, 'paused with a \'data\' listener: resumed after exit, every byte emitted, then close', (t, impl) =>
        drained(t, impl, (child, count) => {
          child.stdout.on('data', (d) => count(d.length));
          child.stdout.pause();
        }), (o) => assert.deepEqual(o, { log: ['exit', 'stdout end', 'close'], bytes: 100000, flowing: true, left: 0 }));

      itSame(impl, 'paused without a listener: resumed after exit, then close', (t, impl) =>
        drained(t, impl, (child) => child.stdout.pause()),
      (o) => assert.deepEqual(o.log, ['exit', 'stdout end', 'close']));

      itSame(impl, 'piped, then unpiped from its last destination: resumed after exit, then close', (t, impl) =>
        drained(t, impl, (child) => {
          const sink = new PassThrough();
          child.stdout.pipe(sink);
          child.stdout.unpipe(sink);
        }), (o) => assert.deepEqual(o.log, ['exit', 'stdout end', 'close']));

      itSame(impl, 'read through \'readable\': left to its reader after exit', async (t, impl) => {
        const child = spawnTracked(t, impl, process.execPath, WRITER);
        let exited = false;
        let bytes = 0;
        // Reads nothing until the child has exited and the parent has had its chance to resume.
        const read = () => {
          if (!exited) return;
          for (let chunk; (chunk = child.stdout.read()) !== null;) bytes += chunk.length;
        };
        child.stdout.on('readable', read);
        const closed = next(child, 'close');
        await next(child, 'exit');
        await turns();
        const flowing = child.stdout.readableFlowing;
        exited = true;
        read();
        await closed;
        return { flowing, bytes };
      }, (o) => assert.deepEqual(o, { flowing: false, bytes: 100000 }));
    });

    // ------------------------------------------------------------ item 8: API details
    describe('constructors, errors and diagnostics', () => {
      itSame(impl, 'ChildProcess: called without new, and a fresh instance', async (t, impl) => {
        const { ChildProcess } = impl.cp;
        const child = new ChildProcess();
        return {
          withoutNew: thrownShape(() => ChildProcess()).message,
          keys: Object.keys(child).sort(),
          fields: [child.pid, child.stdin, child.stdio, child.spawnfile, child.spawnargs, child.connected,
            child.exitCode, child.signalCode, child.killed, child.channel, typeof child.send],
          isEmitter: child instanceof require('node:events').EventEmitter,
          staticProto: Object.getPrototypeOf(ChildProcess) === require('node:events').EventEmitter,
          protoKeys: Object.keys(ChildProcess.prototype),
        };
      });

      // Node's spawn() replaces options.stdio and extends options.envPairs: fresh ones each time.
      const spawnOptions = () => ({
        undefined, null: null, number: 1, array: [], empty: {}, 'file number': { file: 1 },
        'args number': { file: 'x', args: 1 }, 'args string': { file: 'x', args: 'a' }, 'args null': { file: 'x', args: null },
        'args object': { file: 'x', args: {} }, 'bad stdio first': { file: 1, args: 1, stdio: 'x' },
        'serialization before file': { file: 1, serialization: 'x' }, 'file before args': { file: 1, args: 1, envPairs: 1 },
        'args before envPairs without ipc': { file: 'x', args: 1, envPairs: 1 },
        'envPairs with ipc': { file: 'x', envPairs: 5, stdio: ['pipe', 'pipe', 'pipe', 'ipc'] },
        'envPairs with ipc before file': { file: 1, envPairs: 'a', stdio: ['pipe', 'pipe', 'pipe', 'ipc'] },
      });
      itSame(impl, 'ChildProcess.prototype.spawn(options) validates as Node\'s, in Node\'s order', async (t, impl) => {
        const out = {};
        for (const [label, options] of Object.entries(spawnOptions())) {
          out[label] = thrownShape(() => new impl.cp.ChildProcess().spawn(options));
        }
        return out;
      });

      itSame(impl, 'ChildProcess.prototype.spawn(): envPairs that are not a list give the parent\'s environment', async (t, impl) => {
        const out = [];
        for (const envPairs of [1, 'A=1', {}, null, ['NC_FIDELITY=set', 7]]) {
          const child = new impl.cp.ChildProcess();
          t.after(() => child.pid && child.exitCode === null && child.kill('SIGKILL'));
          const r = child.spawn({
            file: '/bin/sh', args: ['sh', '-c', 'echo "$HOME|$NC_FIDELITY|$(env | grep -c "^7$")"'], envPairs, stdio: 'pipe',
          });
          let s = '';
          child.stdout.on('data', (d) => { s += d; });
          await next(child, 'close');
          out.push([r, s]);
        }
        return out;
      }, (o) => assert.equal(o[0][1], `${process.env.HOME}||0\n`));

      itSame(impl, 'cluster.Worker: with no options, without new, with odd options', async (t, impl) => {
        const cluster = impl.isNode ? nodeCluster : require('native-cluster/cluster');
        const { Worker } = cluster;
        const describeWorker = (w) => ({
          isWorker: w instanceof Worker, keys: Object.keys(w), id: w.id, state: w.state,
          exitedAfterDisconnect: w.exitedAfterDisconnect, process: w.process,
        });
        return {
          noOptions: describeWorker(new Worker()),
          withoutNew: describeWorker(Worker({ id: 3, state: 'online' })),
          withoutNewNoOptions: describeWorker(Worker()),
          nullOptions: describeWorker(new Worker(null)),
          numberOptions: describeWorker(new Worker(5)),
          idCoerced: [new Worker({ id: '7' }).id, new Worker({ id: 7.9 }).id],
          proto: [Object.getPrototypeOf(Worker) === require('node:events').EventEmitter, Worker.length, Worker.name],
          methods: ['kill', 'send', 'isDead', 'isConnected', 'disconnect', 'destroy'].map((m) => typeof new Worker()[m]),
          isDead: thrownShape(() => new Worker().isDead()).message,
          send: thrownShape(() => new Worker().send('x')).message,
          kill: thrownShape(() => new Worker().kill()).message,
        };
      }, (o) => assert.deepEqual([o.noOptions.id, o.noOptions.state], [0, 'none']));

      itSame(impl, 'errors print as Node\'s: name, message, String(), stack head, inspect, properties', async (t, impl) => {
        const child = forkChild(t, impl, ['hang']);
        await next(child, 'message');
        const out = {
          invalidArgType: thrownShape(() => impl.cp.spawn(1)),
          invalidArgValue: thrownShape(() => impl.cp.spawn('x', { stdio: 'bogus' })),
          outOfRange: thrownShape(() => impl.cp.fork(CHILD, { timeout: 'a' })),
          unknownSignal: thrownShape(() => child.kill('SIGFOO')),
          missingArgs: thrownShape(() => child.send(undefined)),
          ipcRequired: thrownShape(() => impl.cp.fork(CHILD, { stdio: ['pipe', 'pipe', 'pipe'] })),
          callbackType: thrownShape(() => impl.cp.execFile('/bin/true', [], {}, 'nope')),
          stringTruncated: thrownShape(() => impl.cp.spawn('x', 'a string longer than twenty-eight characters')),
          stringQuote: thrownShape(() => impl.cp.spawn('x', "it's")),
          stringControl: thrownShape(() => impl.cp.spawn('x', 'a\nb\u0000')),
          symbol: thrownShape(() => impl.cp.spawn('x', Symbol('a long symbol description here'))),
        };
        child.kill('SIGKILL');
        await next(child, 'close');
        return out;
      }, (o) => {
        assert.equal(o.invalidArgType.string, 'TypeError [ERR_INVALID_ARG_TYPE]: The "file" argument must be of type string. Received type number (1)');
        assert.equal(o.invalidArgType.stackHead, o.invalidArgType.string);
      });

      itSame(impl, 'exec() and execFile() take argv0 but do not use it, as Node\'s', async (t, impl) => {
        const run = (fn) => new Promise((resolve) => fn((err, stdout) => resolve([err && err.code, stdout])));
        return [
          await run((cb) => impl.cp.execFile('/bin/sh', ['-c', 'echo "$0"'], { argv0: 'renamed' }, cb)),
          await run((cb) => impl.cp.exec('echo "$0"', { argv0: 'renamed' }, cb)),
        ];
      }, (o) => assert.deepEqual(o, [[null, '/bin/sh\n'], [null, '/bin/sh\n']]));

      itSame(impl, 'child._channel is the channel, with Node\'s deprecation warning (once)', async (t, impl) => {
        return runParent(impl, 'deprecated-channel');
      }, (o) => assert.deepEqual(o.out, ['true true',
        'DeprecationWarning DEP0129 _channel is deprecated. Use ChildProcess.channel instead.']));

      itSame(impl, 'every ChildProcess is published on the \'child_process\' diagnostics channel, and traced as the running Node does', async (t, impl) => {
        const log = [];
        let current;
        const onPublish = (message, name) => {
          const child = message.process;
          log.push([current, name, Object.keys(message), child.constructor.name, child.pid, child.spawnfile]);
        };
        diagnosticsChannel.subscribe('child_process', onPublish);
        // Node 24 also traces spawn() (Node 20 and 22 publish nothing here). Its options.stdio
        // holds Node's internal stdio objects, left out.
        const traced = {};
        for (const event of ['start', 'end', 'error']) {
          traced[event] = (message, name) => log.push([current, name, Object.keys(message), message.process.pid,
            message.process.spawnfile, message.options && Object.keys(message.options).filter((k) => k !== 'stdio').sort(),
            message.options && [message.options.file, message.options.args, message.options.detached],
            message.error && [String(message.error), message.error.code, message.error.errno, message.error.syscall]]);
          diagnosticsChannel.subscribe(`tracing:child_process.spawn:${event}`, traced[event]);
        }
        const children = [];
        const run = (label, fn) => {
          current = label;
          try {
            const child = fn();
            if (child && typeof child.on === 'function') {
              child.on('error', () => {});
              children.push(child);
            }
          } catch (err) {
            log.push([label, 'threw', err.code]);
          }
        };
        run('spawn', () => impl.cp.spawn('/bin/true', ['a'], { env: { A: '1' } }));
        run('spawn ENOTDIR', () => impl.cp.spawn('/bin/true', { cwd: '/dev/null' }));
        run('spawn ENOENT', () => impl.cp.spawn('/nonexistent/command'));
        run('spawn throws before construction', () => impl.cp.spawn(1));
        run('spawn throws after construction', () => impl.cp.spawn('/bin/true', { stdio: 'bogus' }));
        run('fork', () => impl.cp.fork(CHILD, ['exit']));
        run('exec', () => impl.cp.exec('true', () => {}));
        run('execFile', () => impl.cp.execFile('/bin/true', () => {}));
        run('spawnSync', () => impl.cp.spawnSync('/bin/true'));
        run('execSync', () => impl.cp.execSync('true'));
        run('execFileSync', () => impl.cp.execFileSync('/bin/true'));
        run('new ChildProcess', () => new impl.cp.ChildProcess());
        diagnosticsChannel.unsubscribe('child_process', onPublish);
        for (const event of ['start', 'end', 'error']) diagnosticsChannel.unsubscribe(`tracing:child_process.spawn:${event}`, traced[event]);
        await Promise.all(children.filter((c) => c.pid !== undefined).map((c) => (c.exitCode === null && c.signalCode === null ? next(c, 'exit') : null)));
        return log;
      });
    });

    describe('option errors of every function, swept', () => {
      itSame(impl, 'positional arguments of every function with values of every type', { timeout: 120000 }, async (t, impl) => {
        const values = () => [undefined, 1, '', 'x\u0000y', true, {}, [], null, () => {}, [1], ['a\u0000'],
          new URL(`file://${CHILD}`), Buffer.from('/bin/true'), { timeout: 'a' }];
        const calls = {
          'fork(v)': (cp, v) => cp.fork(v),
          'fork(m, v)': (cp, v) => cp.fork(CHILD, v),
          'fork(m, [], v)': (cp, v) => cp.fork(CHILD, ['exit'], v),
          'spawn(v)': (cp, v) => cp.spawn(v),
          'spawn(f, v)': (cp, v) => cp.spawn('/bin/true', v),
          'spawn(f, [], v)': (cp, v) => cp.spawn('/bin/true', [], v),
          'exec(v)': (cp, v) => cp.exec(v, () => {}),
          'exec(c, v)': (cp, v) => cp.exec('true', v),
          'exec(c, {}, v)': (cp, v) => cp.exec('true', {}, v),
          'execFile(v)': (cp, v) => cp.execFile(v, () => {}),
          'execFile(f, v)': (cp, v) => cp.execFile('/bin/true', v),
          'execFile(f, [], v)': (cp, v) => cp.execFile('/bin/true', [], v),
          'execFile(f, [], {}, v)': (cp, v) => cp.execFile('/bin/true', [], {}, v),
          'spawnSync(v)': (cp, v) => cp.spawnSync(v),
          'spawnSync(f, v)': (cp, v) => cp.spawnSync('/bin/true', v),
          'execSync(v)': (cp, v) => cp.execSync(v),
          'execFileSync(v)': (cp, v) => cp.execFileSync(v),
          'execFileSync(f, v)': (cp, v) => cp.execFileSync('/bin/true', v),
        };
        const out = [];
        const children = [];
        for (const [name, call] of Object.entries(calls)) {
          for (const [i] of values().entries()) {
            let result;
            try {
              const r = call(impl.cp, values()[i]);
              result = 'ok';
              if (r && typeof r.kill === 'function') {
                r.on('error', () => {});
                children.push(r);
              }
            } catch (err) {
              result = `${String(err)} | ${err.code}`;
            }
            out.push(`${name} #${i}: ${result}`);
          }
        }
        for (const child of children) {
          if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
        }
        await Promise.all(children.filter((c) => c.pid !== undefined).map((c) => (c.exitCode === null && c.signalCode === null ? next(c, 'exit') : null)));
        return out;
      });

      const OPTIONS = ['cwd', 'env', 'argv0', 'stdio', 'detached', 'uid', 'gid', 'serialization', 'shell',
        'windowsVerbatimArguments', 'windowsHide', 'signal', 'timeout', 'killSignal', 'maxBuffer', 'encoding',
        'execPath', 'execArgv', 'silent', 'input', 'keepOpen'];
      const values = () => [1, 'str', true, {}, [], null, -1, 1.5, NaN, () => {}, Symbol('s'), 10n, 'SIGFOO'];
      const label = (value) => (typeof value === 'symbol' || typeof value === 'bigint' || typeof value === 'function'
        ? String(value) : JSON.stringify(value) ?? String(value));
      const CALLS = {
        // /bin/true as the "Node" that fork() starts, unless execPath is the option swept: the
        // options are checked the same, and a child costs far less.
        fork: (cp, o) => cp.fork(CHILD, ['exit'], { execPath: '/bin/true', ...o }),
        spawn: (cp, o) => cp.spawn('/bin/true', [], o),
        exec: (cp, o) => cp.exec('true', o, () => {}),
        execFile: (cp, o) => cp.execFile('/bin/true', [], o, () => {}),
        spawnSync: (cp, o) => cp.spawnSync('/bin/true', [], o),
        execSync: (cp, o) => cp.execSync('true', o),
        execFileSync: (cp, o) => cp.execFileSync('/bin/true', [], o),
      };
      for (const [name, call] of Object.entries(CALLS)) {
        itSame(impl, `${name}(): each option with values of every type`, { timeout: 120000 }, async (t, impl) => {
          const out = [];
          const children = [];
          for (const key of OPTIONS) {
            // A 1 ms timeout or input to /bin/true races with the child, in Node as well.
            const sync = name.endsWith('Sync');
            for (const [i] of values().entries()) {
              const value = values()[i];
              if (sync && ((key === 'timeout' && value === 1) || key === 'input')) continue;
              let result;
              try {
                const r = call(impl.cp, { [key]: value });
                result = 'ok';
                if (r && typeof r.kill === 'function') {
                  r.on('error', () => {});
                  children.push(r);
                }
              } catch (err) {
                result = `${String(err)} | ${err.code}`;
              }
              out.push(`${key}=${label(value)}: ${result}`);
            }
          }
          for (const child of children) {
            if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
          }
          await Promise.all(children.filter((c) => c.pid !== undefined).map((c) => (c.exitCode === null && c.signalCode === null ? next(c, 'exit') : null)));
          return out;
        });
      }
    });
  });
}
