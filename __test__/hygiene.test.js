'use strict';
// Ours only: resource hygiene of the engine in the parent and in the child: no fd leaks after
// many forks and after channels that die mid-message, no zombies, FD_CLOEXEC on every fd the
// engine opens, and exactly fds 0-3 in the child.
// Run with NC_OURS_IS_NODE=1 to check the scenarios themselves against node:child_process (Node
// fails the "exactly fds 0-3" tests when this process inherited stray fds: it passes them on).
const { describe } = require('node:test');
const assert = require('node:assert/strict');
const {
  it, OURS_IMPL, fixture, forkChild, forkTracked, next, openFds, fdTarget, fdFlags, O_CLOEXEC, procState,
  zombieChildren, pool, turns,
} = require('./helpers');

const impl = OURS_IMPL;

// Describes an fd target independently of inode numbers: 'socket', 'pipe', 'anon_inode:[eventfd]',
// '/dev/null', ...
function kind(target) {
  return target.replace(/^(socket|pipe):\[\d+\]$/, '$1');
}

// fds opened between `before` and now, with their target and flags.
function newFds(before) {
  const b = new Set(before);
  return openFds().filter((fd) => !b.has(fd)).map((fd) => ({ fd, target: fdTarget(fd), flags: fdFlags(fd) }));
}

// Checks in the 'exit' listener that the child has been reaped.
function expectReapedAtExit(child) {
  const pid = child.pid;
  return next(child, 'exit').then((args) => {
    const state = procState(pid);
    assert.ok(state === null || state !== 'Z', `child ${pid} is a zombie at 'exit'`);
    return args;
  });
}

// Runs `n` short-lived children (at most 4 at a time), waiting for the 'close' of each.
async function churn(t, n, args, options, check) {
  await pool(n, 4, async () => {
    const child = forkChild(t, impl, args, options);
    child.on('error', () => {});
    const exit = expectReapedAtExit(child);
    await next(child, 'close');
    if (check) check(child, await exit);
  });
}

describe('hygiene [ours]', { skip: impl.skip }, () => {
  // Must be the first fork of this process: the engine's lazily created fds (event loop
  // helpers, signal fds, thread wake-ups, ...) are then part of the "new" set too.
  for (const [label, options] of [
    ['default stdio', undefined],
    ['silent + an extra pipe', { stdio: ['pipe', 'pipe', 'pipe', 'ipc', 'pipe'] }],
  ]) {
    it(`every fd the engine opens in the parent has FD_CLOEXEC (${label})`, async (t) => {
      const before = openFds();
      const child = forkChild(t, impl, ['echo-ready'], options);
      await next(child, 'message'); // the child is alive and connected
      const added = newFds(before);
      assert.ok(added.length >= 1, 'at least the channel fd is new');
      assert.ok(added.some((f) => kind(f.target) === 'socket'), `a socket among ${JSON.stringify(added)}`);
      const leaky = added.filter((f) => (f.flags & O_CLOEXEC) === 0);
      assert.deepEqual(leaky, [], 'fds without FD_CLOEXEC');
      child.kill();
      await next(child, 'close');
    });
  }

  // The child here is /bin/sh running fixtures/fds.sh (fork() with execPath '/bin/sh' and
  // execArgv []), because a Node child opens fds of its own at startup. It reports every fd it
  // has (except the shell's fd on the script) over the channel. Node's own fork() would also pass
  // on any fd this test process inherited without CLOEXEC; ours must pass exactly 0-3.
  for (const [label, options, check] of [
    ['default stdio', {}, (fds) => {
      for (const fd of [0, 1, 2]) assert.equal(fds[fd], fdTarget(fd), `fd ${fd} is inherited`);
    }],
    ['silent', { silent: true }, (fds) => {
      for (const fd of [0, 1, 2]) assert.match(fds[fd], /^(socket|pipe):/, `fd ${fd} is a pipe`);
    }],
    ["'ignore'", { stdio: ['ignore', 'ignore', 'ignore', 'ipc'] }, (fds) => {
      for (const fd of [0, 1, 2]) assert.equal(fds[fd], '/dev/null', `fd ${fd} is /dev/null`);
    }],
  ]) {
    it(`the child receives exactly fds 0, 1, 2 and the channel 3 (${label})`, async (t) => {
      const script = fixture('fds.sh');
      const child = forkTracked(t, impl, script, [script], { ...options, execPath: '/bin/sh', execArgv: [] });
      if (child.stdout) child.stdout.resume();
      if (child.stderr) child.stderr.resume();
      const [list] = await next(child, 'message');
      const fds = Object.fromEntries(list);
      assert.deepEqual(Object.keys(fds).map(Number).sort((a, b) => a - b), [0, 1, 2, 3], JSON.stringify(list));
      assert.match(fds[3], /^socket:/);
      check(fds);
      await next(child, 'exit');
    });
  }

  it('no fd is left behind after 50 forks that exit (waiting for each close)', async (t) => {
    await churn(t, 1, ['exit', '0']); // warm-up
    const before = openFds();
    await churn(t, 50, ['exit', '0'], undefined, (child, [code, signal]) => {
      assert.equal(code, 0);
      assert.equal(signal, null);
    });
    assert.deepEqual(openFds(), before);
    assert.deepEqual(zombieChildren(), []);
  });

  it('no fd is left behind after forks with piped stdio', async (t) => {
    const opts = { stdio: ['pipe', 'pipe', 'pipe', 'ipc', 'pipe'] };
    await churn(t, 1, ['exit', '0'], opts);
    const before = openFds();
    await churn(t, 40, ['exit', '0'], opts);
    assert.deepEqual(openFds(), before);
  });

  for (const how of ['exit', 'kill']) {
    it(`no fd is left behind after channels that die mid-message (child ${how})`, async (t) => {
      await churn(t, 1, ['exit', '0']);
      const before = openFds();
      await pool(40, 4, async () => {
        const child = forkChild(t, impl, ['half', how]);
        const messages = [];
        child.on('message', (m) => messages.push(m));
        child.on('error', () => {});
        const exit = expectReapedAtExit(child);
        await next(child, 'close');
        assert.deepEqual(await exit, how === 'exit' ? [0, null] : [null, 'SIGKILL']);
        assert.deepEqual(messages, ['whole'], 'the half frame is never delivered');
      });
      assert.deepEqual(openFds(), before);
      assert.deepEqual(zombieChildren(), []);
    });
  }

  it('no fd is left behind when the child dies while the parent is writing', async (t) => {
    await churn(t, 1, ['exit', '0']);
    const before = openFds();
    const big = 'x'.repeat(16 << 20);
    await pool(10, 2, async () => {
      const child = forkChild(t, impl, ['hang']);
      child.on('error', () => {});
      await next(child, 'message');
      const cb = new Promise((resolve) => child.send(big, resolve));
      child.kill('SIGKILL');
      await next(child, 'close');
      await cb; // called once, with or without an error
    });
    assert.deepEqual(openFds(), before);
  });

  it('no fd is left behind after spawn failures', async (t) => {
    await churn(t, 1, ['exit', '0']);
    const before = openFds();
    await pool(20, 4, async () => {
      const child = forkChild(t, impl, ['exit', '0'], { execPath: '/nonexistent/node' });
      const [err] = await next(child, 'error');
      assert.equal(err.code, 'ENOENT');
      // (whether 'close' follows is checked in fork.test.js; do not depend on it here)
      await turns(10);
    });
    assert.deepEqual(openFds(), before);
  });

  it("no zombie: a killed child is reaped by the time of 'exit'", async (t) => {
    const child = forkChild(t, impl, ['hang']);
    await next(child, 'message');
    const exit = expectReapedAtExit(child);
    const close = next(child, 'close');
    child.kill('SIGKILL');
    assert.deepEqual(await exit, [null, 'SIGKILL']);
    await close;
    assert.deepEqual(zombieChildren(), []);
  });
});
