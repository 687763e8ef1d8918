'use strict';
// Differential tests for spawn(): every scenario runs against node:child_process and against
// native-cluster/child_process (see itSame in helpers.js): the observation made with ours must
// equal the one made with Node's module, and the explicit checks hold for both.
const { describe, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const net = require('node:net');
const path = require('node:path');
const url = require('node:url');
const crypto = require('node:crypto');
const {
  itSame, IMPLS, fixture, spawnTracked, next, readAll, readAllBuffer, fdTarget, procState,
  kill, thrown, turns,
} = require('./helpers');

const SPAWN_CHILD = fixture('spawn-child.js');
const TMP = fs.mkdtempSync(path.join(os.tmpdir(), 'nc-spawn-'));
const BIG = path.join(TMP, 'big.bin');
const BIG_SIZE = 64 << 20;
let bigHash = null;
const GLOB_DIR = path.join(TMP, 'glob');
fs.mkdirSync(GLOB_DIR);
fs.writeFileSync(path.join(GLOB_DIR, 'one.txt'), '');
fs.writeFileSync(path.join(GLOB_DIR, 'two.txt'), '');
fs.writeFileSync(path.join(GLOB_DIR, 'three.dat'), '');
const BINARY = crypto.randomBytes(4 << 20);

before(() => {
  const r = require('node:child_process').spawnSync('sh', ['-c', `head -c ${BIG_SIZE} /dev/urandom > '${BIG}'`]);
  assert.equal(r.status, 0);
  bigHash = crypto.createHash('sha256').update(fs.readFileSync(BIG)).digest('hex');
});

after(() => {
  fs.rmSync(TMP, { recursive: true, force: true });
});

function errFull(err) {
  const o = { name: err.name, code: err.code, message: err.message };
  for (const k of ['errno', 'syscall', 'path', 'spawnargs']) {
    if (err[k] !== undefined) o[k] = err[k];
  }
  return o;
}

// Records the lifecycle events (errors as plain objects) in order.
function recordEvents(child, events = ['spawn', 'exit', 'close', 'error', 'disconnect']) {
  const log = [];
  for (const ev of events) {
    child.on(ev, (...args) => log.push([ev, ...args.map((a) => (a instanceof Error ? errFull(a) : a))]));
  }
  return log;
}

// Resolves at 'close'; but if 'error' is emitted first and 'close' does not follow within a few
// event loop turns (Node emits it right after the error of a failed spawn), resolves anyway so
// that the observation shows the missing 'close' instead of a test timeout.
function closeOrStuck(child) {
  const close = next(child, 'close');
  const stuck = next(child, 'error').then(() => turns(50));
  return Promise.race([close, stuck]);
}

// The value of a promise if it settles within a few turns, else '(pending)'.
function settled(p) {
  return Promise.race([p, turns(50).then(() => '(pending)')]);
}

// Spawns, optionally writes `input` to stdin, collects stdout/stderr (as strings) and the
// lifecycle events until 'close'.
async function run(t, impl, file, args, options, input) {
  const child = spawnTracked(t, impl, file, args, options);
  const log = recordEvents(child);
  const out = child.stdout ? readAll(child.stdout) : Promise.resolve(null);
  const err = child.stderr ? readAll(child.stderr) : Promise.resolve(null);
  if (child.stdin) {
    child.stdin.on('error', () => {});
    if (input !== undefined) child.stdin.end(input);
  }
  await closeOrStuck(child);
  return { log, stdout: child.stdout ? await settled(out) : null, stderr: child.stderr ? await settled(err) : null, child };
}

// A shell script that prints the targets of its own fds 0, 1 and 2 on its fd 3 (no redirection
// of the shell itself while it reads them).
const READ_FDS = 'a=$(readlink /proc/$$/fd/0); b=$(readlink /proc/$$/fd/1); c=$(readlink /proc/$$/fd/2); '
  + 'printf "%s\\n%s\\n%s\\n" "$a" "$b" "$c" >&3';

function shape(child) {
  return {
    stdio: child.stdio.map((s) => (s === null ? null : s.constructor.name)),
    stdin: child.stdin === child.stdio[0],
    stdout: child.stdout === child.stdio[1],
    stderr: child.stderr === child.stdio[2],
  };
}

function sessionOf(pid) {
  const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = s.slice(s.lastIndexOf(')') + 2).split(' ');
  return { ppid: Number(rest[1]), session: Number(rest[3]) };
}

for (const impl of IMPLS) {
  describe(`spawn [${impl.name}]`, { skip: impl.skip }, () => {
    // ------------------------------------------------------------------ stdio
    describe('stdio', () => {
      for (const mode of ['pipe', 'overlapped']) {
        itSame(impl, `'${mode}': stdin, stdout and stderr are pipes; events spawn, exit, close`, async (t, impl) => {
          const r = await run(t, impl, 'sh', ['-c', 'read x; echo "got $x"; echo err >&2; exit 5'],
            { stdio: mode }, 'hello\n');
          return { log: r.log, stdout: r.stdout, stderr: r.stderr, shape: shape(r.child) };
        }, (o) => {
          assert.deepEqual(o.log, [['spawn'], ['exit', 5, null], ['close', 5, null]]);
          assert.equal(o.stdout, 'got hello\n');
          assert.equal(o.stderr, 'err\n');
        });
      }

      itSame(impl, "'inherit' (string): no streams on the parent side", async (t, impl) => {
        const r = await run(t, impl, 'true', [], { stdio: 'inherit' });
        return { log: r.log, shape: shape(r.child), stdin: r.child.stdin, stdout: r.child.stdout };
      }, (o) => assert.deepEqual(o.shape.stdio, [null, null, null]));

      itSame(impl, "'inherit' (array): the child has the parent's fds 0-2", async (t, impl) => {
        const child = spawnTracked(t, impl, 'sh', ['-c', READ_FDS],
          { stdio: ['inherit', 'inherit', 'inherit', 'pipe'] });
        const out = readAll(child.stdio[3]);
        await next(child, 'close');
        return { lines: (await out).split('\n').filter(Boolean), shape: shape(child) };
      }, (o) => assert.deepEqual(o.lines, [0, 1, 2].map((fd) => fdTarget(fd))));

      itSame(impl, "'ignore': the child's fds 0-2 are /dev/null", async (t, impl) => {
        const child = spawnTracked(t, impl, 'sh', ['-c', READ_FDS],
          { stdio: ['ignore', 'ignore', 'ignore', 'pipe'] });
        const out = readAll(child.stdio[3]);
        await next(child, 'close');
        return { lines: (await out).split('\n').filter(Boolean), shape: shape(child) };
      }, (o) => {
        assert.deepEqual(o.lines, ['/dev/null', '/dev/null', '/dev/null']);
        assert.deepEqual(o.shape.stdio, [null, null, null, 'Socket']);
      });

      for (const index of [0, 1, 3]) {
        itSame(impl, `'ipc' at index ${index} with a node child`, async (t, impl) => {
          const stdio = ['pipe', 'pipe', 'pipe'];
          stdio[index] = 'ipc';
          const child = spawnTracked(t, impl, process.execPath, [SPAWN_CHILD, 'ipc'], { stdio });
          const log = recordEvents(child, ['spawn', 'exit', 'close', 'error', 'disconnect']);
          for (const s of [child.stdout, child.stderr]) if (s) s.resume();
          // Node emits each message (nextTick) before it reads the channel's EOF in a later I/O
          // callback, so `connected` is still true right after the echo comes back.
          const [hello] = await next(child, 'message');
          const target = (fdTarget(index, child.pid) || '').replace(/\[\d+\]$/, '');
          const echo = next(child, 'message');
          child.send({ x: [1, 'two'] });
          const [back] = await echo;
          const connected = child.connected;
          const sh = shape(child);
          await next(child, 'close');
          return { hello, target, back, connected, shape: sh, log, channel: typeof child.channel };
        }, (o) => {
          assert.deepEqual(o.hello, { connected: true, hasChannel: true });
          assert.equal(o.target, 'socket:');
          assert.deepEqual(o.back, { x: [1, 'two'] });
          assert.equal(o.connected, true);
          assert.equal(o.shape.stdio[index], null);
          assert.deepEqual(o.log, [['spawn'], ['disconnect'], ['exit', 0, null], ['close', 0, null]]);
        });
      }

      itSame(impl, 'fd numbers: a file opened with fs.openSync as stdin and as stdout/stderr', async (t, impl) => {
        const inFile = path.join(TMP, `in-${impl.name}`);
        const outFile = path.join(TMP, `out-${impl.name}`);
        fs.writeFileSync(inFile, 'from the file\n');
        const fdIn = fs.openSync(inFile, 'r');
        const fdOut = fs.openSync(outFile, 'w');
        t.after(() => { fs.closeSync(fdIn); fs.closeSync(fdOut); });
        const r = await run(t, impl, 'sh', ['-c', 'cat; echo err >&2'], { stdio: [fdIn, fdOut, fdOut] });
        return { log: r.log, file: fs.readFileSync(outFile, 'utf8'), shape: shape(r.child) };
      }, (o) => {
        assert.equal(o.file, 'from the file\nerr\n');
        assert.deepEqual(o.shape.stdio, [null, null, null]);
      });

      itSame(impl, 'a stream with an fd (fs.WriteStream) as stdout', async (t, impl) => {
        const outFile = path.join(TMP, `ws-${impl.name}`);
        const ws = fs.createWriteStream(outFile);
        await next(ws, 'open');
        t.after(() => ws.destroy());
        const r = await run(t, impl, 'sh', ['-c', 'echo via-stream'], { stdio: ['ignore', ws, 'inherit'] });
        return { log: r.log, file: fs.readFileSync(outFile, 'utf8') };
      }, (o) => assert.equal(o.file, 'via-stream\n'));

      itSame(impl, 'a net.Socket as stdin and stdout', async (t, impl) => {
        const sockPath = path.join(TMP, `sock-${impl.name}-${process.hrtime.bigint()}`);
        const server = net.createServer();
        const accepted = next(server, 'connection');
        await new Promise((r) => server.listen(sockPath, r));
        const client = net.connect(sockPath);
        const [serverSide] = await accepted;
        t.after(() => { client.destroy(); serverSide.destroy(); server.close(); });
        const reply = readAll(client);
        const r = run(t, impl, 'sh', ['-c', 'read x; echo "got $x"'], { stdio: [serverSide, serverSide, 'inherit'] });
        client.write('ping\n');
        const { log } = await r;
        serverSide.end();
        const got = await reply;
        return { got, log };
      }, (o) => assert.equal(o.got, 'got ping\n'));

      itSame(impl, 'extra fds beyond 2 are readable and writable; undefined leaves an fd closed', async (t, impl) => {
        const script = 'echo hi >&3; cat <&3 >&4; if [ -e /proc/$$/fd/5 ]; then echo open5; else echo closed5; fi >&6';
        const child = spawnTracked(t, impl, 'sh', ['-c', script],
          { stdio: ['pipe', 'pipe', 'pipe', 'pipe', 'pipe', undefined, 'pipe'] });
        const log = recordEvents(child);
        const s3 = child.stdio[3];
        const s4 = child.stdio[4];
        const flags = [3, 4, 6].map((i) => [child.stdio[i].readable, child.stdio[i].writable]);
        const d3 = readAll(s3);
        const d4 = readAll(s4);
        const d6 = readAll(child.stdio[6]);
        s3.write('ping\n');
        s3.end();
        await next(child, 'close');
        return { flags, d3: await d3, d4: await d4, d6: await d6, log, shape: shape(child) };
      }, (o) => {
        assert.deepEqual(o.flags, [[true, true], [true, true], [true, true]]);
        assert.equal(o.d3, 'hi\n');
        assert.equal(o.d4, 'ping\n');
        assert.equal(o.d6, 'closed5\n');
        assert.equal(o.shape.stdio[5], null);
        assert.equal(o.shape.stdio.length, 7);
      });

      itSame(impl, '64 MiB of stdout arrive complete and byte-exact (sha256)', { timeout: 60000 }, async (t, impl) => {
        const child = spawnTracked(t, impl, 'cat', [BIG]);
        const hash = crypto.createHash('sha256');
        let len = 0;
        child.stdout.on('data', (d) => {
          len += d.length;
          hash.update(d);
        });
        const end = next(child.stdout, 'end');
        await next(child, 'close');
        await end;
        return { len, hash: hash.digest('hex') };
      }, (o) => assert.deepEqual(o, { len: BIG_SIZE, hash: bigHash }));

      itSame(impl, 'binary data round-trips through cat', async (t, impl) => {
        const child = spawnTracked(t, impl, 'cat', []);
        const out = readAllBuffer(child.stdout);
        child.stdin.end(BINARY);
        const [code, signal] = await next(child, 'close');
        const buf = await out;
        return { code, signal, len: buf.length, equal: buf.equals(BINARY) };
      }, (o) => assert.deepEqual(o, { code: 0, signal: null, len: BINARY.length, equal: true }));
    });

    // ------------------------------------------------------------------ shell
    describe('shell', () => {
      const env = { ...process.env, NC_VAR: 'var' };
      itSame(impl, 'shell: true runs the command with /bin/sh -c (quotes, $VAR, globs, pipes)', async (t, impl) => {
        const cmd = 'echo "a  b" \'$NC_VAR\' $NC_VAR *.txt | tr a-z A-Z';
        const r = await run(t, impl, cmd, { shell: true, cwd: GLOB_DIR, env });
        return { stdout: r.stdout, log: r.log, spawnfile: r.child.spawnfile, spawnargs: r.child.spawnargs };
      }, (o) => {
        assert.equal(o.stdout, 'A  B $NC_VAR VAR ONE.TXT TWO.TXT\n');
        assert.equal(o.spawnfile, '/bin/sh');
      });

      itSame(impl, 'shell: true joins the arguments with spaces, unquoted', async (t, impl) => {
        const r = await run(t, impl, 'echo', ['"x  y"', '$NC_VAR', '*.txt', '|', 'tr', 'a-z', 'A-Z'],
          { shell: true, cwd: GLOB_DIR, env });
        return { stdout: r.stdout, spawnfile: r.child.spawnfile, spawnargs: r.child.spawnargs };
      }, (o) => {
        assert.equal(o.stdout, 'X  Y VAR ONE.TXT TWO.TXT\n');
        assert.deepEqual(o.spawnargs, ['/bin/sh', '-c', 'echo "x  y" $NC_VAR *.txt | tr a-z A-Z']);
      });

      itSame(impl, 'shell as a path (/bin/bash)', async (t, impl) => {
        const r = await run(t, impl, 'echo $0 ${BASH_VERSION:+is-bash}', { shell: '/bin/bash' });
        return { stdout: r.stdout, spawnfile: r.child.spawnfile, spawnargs: r.child.spawnargs };
      }, (o) => assert.equal(o.stdout, '/bin/bash is-bash\n'));

      itSame(impl, 'shell + argv0: argv0 replaces the shell\'s $0', async (t, impl) => {
        const r = await run(t, impl, 'echo $0', { shell: true, argv0: 'my-zero' });
        return { stdout: r.stdout, spawnfile: r.child.spawnfile, spawnargs: r.child.spawnargs };
      });
    });

    // ------------------------------------------------------------------ argv0, cwd, env
    describe('argv0, cwd, env, windowsHide', () => {
      itSame(impl, 'argv0 is the child\'s $0', async (t, impl) => {
        const r = await run(t, impl, 'sh', ['-c', 'echo $0'], { argv0: 'custom0' });
        return { stdout: r.stdout, spawnfile: r.child.spawnfile, spawnargs: r.child.spawnargs };
      }, (o) => {
        assert.equal(o.stdout, 'custom0\n');
        assert.deepEqual(o, { stdout: 'custom0\n', spawnfile: 'sh', spawnargs: ['custom0', '-c', 'echo $0'] });
      });

      itSame(impl, 'argv0 in /proc/self/cmdline', async (t, impl) => {
        const r = await run(t, impl, 'cat', ['/proc/self/cmdline'], { argv0: 'xyz' });
        return r.stdout;
      }, (o) => assert.equal(o, 'xyz\0/proc/self/cmdline\0'));

      itSame(impl, 'cwd as a string and as a file: URL', async (t, impl) => {
        const a = await run(t, impl, 'pwd', [], { cwd: GLOB_DIR });
        const b = await run(t, impl, 'pwd', [], { cwd: url.pathToFileURL(GLOB_DIR) });
        return [a.stdout, b.stdout];
      }, (o) => assert.deepEqual(o, [`${GLOB_DIR}\n`, `${GLOB_DIR}\n`]));

      itSame(impl, 'a cwd that does not exist', async (t, impl) => {
        const r = await run(t, impl, 'pwd', [], { cwd: path.join(TMP, 'no-such-dir') });
        return { log: r.log, pid: r.child.pid };
      }, (o) => assert.equal(o.log[0][0], 'error'));

      itSame(impl, 'env: exactly the given variables; undefined values are skipped', async (t, impl) => {
        const r = await run(t, impl, '/usr/bin/env', [], { env: { A: '1', U: undefined, N: 5, E: '', S: 'x=y z' } });
        return r.stdout.split('\n').filter(Boolean).sort();
      }, (o) => assert.deepEqual(o, ['A=1', 'E=', 'N=5', 'S=x=y z']));

      itSame(impl, "the command is looked up in the child's env PATH", async (t, impl) => {
        const dir = path.join(TMP, 'bin');
        fs.mkdirSync(dir, { recursive: true });
        fs.writeFileSync(path.join(dir, 'nc-only-here'), '#!/bin/sh\necho only-here\n', { mode: 0o755 });
        const a = await run(t, impl, 'nc-only-here', [], { env: { PATH: `/nonexistent:${dir}` } });
        const b = await run(t, impl, 'sh', ['-c', 'echo x'], { env: { PATH: '/nonexistent' } });
        return { a: { log: a.log, stdout: a.stdout }, b: { log: b.log, stdout: b.stdout } };
      }, (o) => assert.equal(o.a.stdout, 'only-here\n'));

      itSame(impl, 'windowsHide and windowsVerbatimArguments are accepted', async (t, impl) => {
        const r = await run(t, impl, 'echo', ['a b'], { windowsHide: true, windowsVerbatimArguments: true });
        return { log: r.log, stdout: r.stdout };
      }, (o) => assert.equal(o.stdout, 'a b\n'));
    });

    // ------------------------------------------------------------------ timeout, abort, kill
    describe('timeout, AbortSignal, kill, exit', () => {
      for (const killSignal of [undefined, 'SIGUSR1', 9]) {
        itSame(impl, `timeout kills the child with killSignal ${killSignal}`, async (t, impl) => {
          const r = await run(t, impl, 'sleep', ['10'], { timeout: 20, killSignal });
          return { log: r.log, killed: r.child.killed, exitCode: r.child.exitCode, signalCode: r.child.signalCode };
        }, (o) => {
          const sig = killSignal === undefined ? 'SIGTERM' : killSignal === 9 ? 'SIGKILL' : killSignal;
          assert.deepEqual(o.log, [['spawn'], ['exit', null, sig], ['close', null, sig]]);
          assert.equal(o.killed, true);
        });
      }

      itSame(impl, 'a timeout that does not expire changes nothing', async (t, impl) => {
        const r = await run(t, impl, 'true', [], { timeout: 20000 });
        return { log: r.log, killed: r.child.killed };
      }, (o) => assert.deepEqual(o, { log: [['spawn'], ['exit', 0, null], ['close', 0, null]], killed: false }));

      itSame(impl, 'AbortSignal: abort() after spawn -> AbortError, then exit by killSignal', async (t, impl) => {
        const ac = new AbortController();
        const child = spawnTracked(t, impl, 'sleep', ['10'], { signal: ac.signal, killSignal: 'SIGINT' });
        const log = recordEvents(child);
        let cause;
        child.on('error', (e) => { cause = e.cause; });
        await next(child, 'spawn');
        const reason = new Error('my reason');
        ac.abort(reason);
        const syncLog = log.map((e) => e[0]);
        await next(child, 'close');
        return { log, syncLog, causeIsReason: cause === reason, killed: child.killed };
      }, (o) => {
        assert.deepEqual(o.log[1][0], 'error');
        assert.equal(o.log[1][1].name, 'AbortError');
        assert.equal(o.log[1][1].code, 'ABORT_ERR');
        assert.deepEqual(o.log.slice(2), [['exit', null, 'SIGINT'], ['close', null, 'SIGINT']]);
        assert.equal(o.causeIsReason, true);
      });

      itSame(impl, 'AbortSignal already aborted', async (t, impl) => {
        const child = spawnTracked(t, impl, 'sleep', ['10'], { signal: AbortSignal.abort() });
        const log = recordEvents(child);
        await next(child, 'close');
        return { log, killed: child.killed, pidType: typeof child.pid };
      }, (o) => assert.ok(o.log.some((e) => e[0] === 'error' && e[1].name === 'AbortError')));

      itSame(impl, 'missing command: error ENOENT, no spawn event, then close', async (t, impl) => {
        const r = await run(t, impl, 'nc-no-such-command', ['a', 'b']);
        const c = r.child;
        return {
          log: r.log, pid: c.pid, exitCode: c.exitCode, signalCode: c.signalCode, killed: c.killed,
          shape: shape(c), spawnfile: c.spawnfile, spawnargs: c.spawnargs, stdout: r.stdout,
        };
      }, (o) => {
        assert.deepEqual(o.log, [
          ['error', {
            name: 'Error', code: 'ENOENT', message: 'spawn nc-no-such-command ENOENT', errno: -2,
            syscall: 'spawn nc-no-such-command', path: 'nc-no-such-command', spawnargs: ['a', 'b'],
          }],
          ['close', -2, null],
        ]);
        assert.equal(o.pid, undefined);
      });

      itSame(impl, 'a file without execute permission: error EACCES', async (t, impl) => {
        const r = await run(t, impl, fixture('fds.sh'), []);
        return { log: r.log, pid: r.child.pid };
      }, (o) => assert.equal(o.log[0][1].code, 'EACCES'));

      itSame(impl, 'exit codes', async (t, impl) => {
        const out = [];
        for (const code of [0, 1, 3, 255]) {
          const r = await run(t, impl, 'sh', ['-c', `exit ${code}`]);
          out.push({ log: r.log, exitCode: r.child.exitCode, signalCode: r.child.signalCode });
        }
        const r = await run(t, impl, 'sh', ['-c', 'kill -TERM $$']);
        out.push({ log: r.log, exitCode: r.child.exitCode, signalCode: r.child.signalCode });
        return out;
      }, (o) => assert.deepEqual(o[4].log, [['spawn'], ['exit', null, 'SIGTERM'], ['close', null, 'SIGTERM']]));

      for (const sig of [undefined, 'SIGTERM', 'SIGINT', 'SIGHUP', 'SIGKILL', 9, 15, 'SIGUSR2']) {
        itSame(impl, `kill(${JSON.stringify(sig)})`, async (t, impl) => {
          const child = spawnTracked(t, impl, 'sleep', ['10']);
          const log = recordEvents(child);
          await next(child, 'spawn');
          const ret = sig === undefined ? child.kill() : child.kill(sig);
          const killedNow = child.killed;
          await next(child, 'close');
          const again = child.kill();
          return { ret, killedNow, log, again, signalCode: child.signalCode };
        }, (o) => {
          assert.equal(o.ret, true);
          assert.equal(o.killedNow, true);
          assert.equal(o.again, false);
        });
      }

      itSame(impl, 'kill(0) probes and kill() with an unknown signal throws', async (t, impl) => {
        const child = spawnTracked(t, impl, 'sleep', ['10']);
        const log = recordEvents(child);
        await next(child, 'spawn');
        const probe = child.kill(0);
        const killedAfterProbe = child.killed;
        const e1 = thrown(() => child.kill('SIGBOGUS'));
        const e2 = thrown(() => child.kill(12345));
        child.kill('SIGKILL');
        await next(child, 'close');
        return {
          probe, killedAfterProbe, log,
          e1: { code: e1.code, name: e1.name, message: e1.message },
          e2: { code: e2.code, name: e2.name, message: e2.message },
        };
      }, (o) => {
        assert.equal(o.probe, true);
        assert.equal(o.e1.code, 'ERR_UNKNOWN_SIGNAL');
      });
    });

    // ------------------------------------------------------------------ close semantics, detached
    describe('close and detached', () => {
      itSame(impl, "'close' waits for the stdio of a grandchild that outlives the child", async (t) => {
        // sh starts `sleep` in the background (it inherits stdout), prints its pid and exits. The
        // pipe stays open until we kill the grandchild, which we do only once 'exit' is emitted.
        const child = spawnTracked(t, impl, 'sh', ['-c', 'sleep 1000 & echo $!']);
        const order = [];
        let stdout = '';
        let gotPid;
        const pid = new Promise((resolve) => { gotPid = resolve; });
        child.stdout.setEncoding('utf8');
        child.stdout.on('data', (d) => {
          stdout += d;
          if (stdout.endsWith('\n')) gotPid(Number(stdout));
        });
        t.after(async () => { try { process.kill(await pid, 'SIGKILL'); } catch { /* gone */ } });
        child.on('exit', async (code, signal) => {
          order.push(['exit', code, signal], ['stdin destroyed', child.stdin.destroyed]);
          const p = await pid;
          order.push(['grandchild alive', procState(p) !== null]);
          process.kill(p, 'SIGKILL');
          order.push('killed');
        });
        const [code, signal] = await next(child, 'close');
        order.push(['close', code, signal]);
        return order;
      }, (o) => assert.deepEqual(o, [
        ['exit', 0, null], ['stdin destroyed', true], ['grandchild alive', true], 'killed', ['close', 0, null],
      ]));

      itSame(impl, 'a detached child with stdio ignore + unref() outlives its parent', async (t, impl) => {
        const which = impl.isNode ? 'node' : 'ours';
        const r = await run(t, impl, process.execPath, [SPAWN_CHILD, 'detached-parent', which]);
        const pid = Number(r.stdout.trim());
        let alive = false;
        let info = null;
        if (pid > 0) {
          t.after(() => { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } });
          const state = procState(pid);
          alive = state !== null && state !== 'Z';
          info = sessionOf(pid);
          process.kill(pid, 'SIGKILL');
        }
        return {
          log: r.log, stdout: /^\d+\n$/.test(r.stdout), alive,
          sessionLeader: info && info.session === pid, reparented: info && info.ppid !== r.child.pid,
        };
      }, (o) => assert.deepEqual(o, {
        log: [['spawn'], ['exit', 0, null], ['close', 0, null]], stdout: true, alive: true, sessionLeader: true,
        reparented: true,
      }));
    });

    // ------------------------------------------------------------------ properties
    itSame(impl, 'ChildProcess properties after spawn and after close', async (t, impl) => {
      const child = spawnTracked(t, impl, 'sh', ['-c', 'exit 7']);
      const early = {
        instance: child instanceof impl.cp.ChildProcess, pidType: typeof child.pid, exitCode: child.exitCode,
        signalCode: child.signalCode, killed: child.killed, connected: child.connected, channel: child.channel,
        spawnfile: child.spawnfile, spawnargs: child.spawnargs, shape: shape(child),
        methods: ['kill', 'ref', 'unref', 'send', 'disconnect'].map((m) => typeof child[m]),
      };
      for (const s of [child.stdout, child.stderr]) s.resume();
      await next(child, 'close');
      return { early, late: { exitCode: child.exitCode, signalCode: child.signalCode, killed: child.killed } };
    }, (o) => assert.deepEqual(o.late, { exitCode: 7, signalCode: null, killed: false }));

    // ------------------------------------------------------------------ validation
    describe('argument validation', () => {
      const cases = [
        ['NUL in file', (cp) => cp.spawn('ec\0ho')],
        ['NUL in args', (cp) => cp.spawn('echo', ['a\0b'])],
        ['NUL in env value', (cp) => cp.spawn('echo', [], { env: { A: 'x\0y' } })],
        ['NUL in env key', (cp) => cp.spawn('echo', [], { env: { 'A\0B': 'x' } })],
        ['NUL in cwd', (cp) => cp.spawn('echo', [], { cwd: '/tm\0p' })],
        ['NUL in argv0', (cp) => cp.spawn('echo', [], { argv0: 'a\0b' })],
        ['NUL in shell', (cp) => cp.spawn('echo', [], { shell: '/bin/s\0h' })],
        ['NUL in shell command', (cp) => cp.spawn('echo a\0b', { shell: true })],
        ['file not a string', (cp) => cp.spawn(123)],
        ['file undefined', (cp) => cp.spawn()],
        ['empty file', (cp) => cp.spawn('')],
        ['args a string', (cp) => cp.spawn('echo', 'abc')],
        ['options a string', (cp) => cp.spawn('echo', [], 'opts')],
        ['args a number', (cp) => cp.spawn('echo', 5)],
        ['cwd a number', (cp) => cp.spawn('echo', [], { cwd: 42 })],
        ['argv0 a number', (cp) => cp.spawn('echo', [], { argv0: 42 })],
        ['shell a number', (cp) => cp.spawn('echo', [], { shell: 42 })],
        ['shell an object', (cp) => cp.spawn('echo', [], { shell: {} })],
        ['detached a string', (cp) => cp.spawn('echo', [], { detached: 'yes' })],
        ['uid a string', (cp) => cp.spawn('echo', [], { uid: 'root' })],
        ['gid a float', (cp) => cp.spawn('echo', [], { gid: 1.5 })],
        ['windowsHide a string', (cp) => cp.spawn('echo', [], { windowsHide: 'x' })],
        ['windowsVerbatimArguments a number', (cp) => cp.spawn('echo', [], { windowsVerbatimArguments: 1 })],
        ['stdio an unknown string', (cp) => cp.spawn('echo', [], { stdio: 'bogus' })],
        ['stdio an unknown entry', (cp) => cp.spawn('echo', [], { stdio: ['pipe', 'bogus', 'pipe'] })],
        ['stdio two ipc', (cp) => cp.spawn('echo', [], { stdio: ['ipc', 'ipc', 'pipe'] })],
        ['timeout negative', (cp) => cp.spawn('echo', [], { timeout: -1 })],
        ['timeout a string', (cp) => cp.spawn('echo', [], { timeout: '10' })],
        ['killSignal unknown', (cp) => cp.spawn('echo', [], { killSignal: 'SIGBOGUS' })],
        ['killSignal an object', (cp) => cp.spawn('echo', [], { killSignal: {} })],
        ['signal not an AbortSignal', (cp) => cp.spawn('echo', [], { signal: 'x' })],
        ['serialization unknown', (cp) => cp.spawn('echo', [], { serialization: 'xml' })],
      ];
      function obs(cp, fn, withMessage) {
        let err;
        try {
          const child = fn(cp);
          // Not thrown: clean up whatever was started.
          child.on('error', () => {});
          kill(child);
          return 'no exception';
        } catch (e) {
          err = e;
        }
        const o = { code: err.code, name: err.name, ctor: err.constructor.name };
        if (withMessage) o.message = err.message;
        return o;
      }
      for (const [label, fn] of cases) {
        itSame(impl, `throws like Node: ${label}`, async (t, impl) => obs(impl.cp, fn, false));
      }
      itSame(impl, 'validation error messages are the same as Node\'s', async (t, impl) => cases.map(([l, fn]) => [l, obs(impl.cp, fn, true)]));
    });

    // Issue 12 item 4: glibc's posix_spawn leaves its internal signals (32, 33) ignored in the
    // child unless told otherwise, and an ignored signal survives exec.
    describe('signal dispositions', () => {
      const masks = async (t, impl, options) => {
        const r = await run(t, impl, 'cat', ['/proc/self/status'], options);
        return r.stdout.split('\n').filter((l) => /^Sig(Ign|Blk):/.test(l));
      };
      itSame(impl, 'a child starts with no signal ignored or blocked (SigIgn, SigBlk)', (t, impl) => masks(t, impl, {}),
        (lines) => assert.deepEqual(lines, ['SigBlk:\t0000000000000000', 'SigIgn:\t0000000000000000']));
      itSame(impl, 'likewise on the fork path (uid/gid given)', (t, impl) => masks(t, impl, { uid: process.getuid() }),
        (lines) => assert.deepEqual(lines, ['SigBlk:\t0000000000000000', 'SigIgn:\t0000000000000000']));
    });
  });
}
