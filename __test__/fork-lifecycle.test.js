'use strict';
// Differential tests of a forked child's lifecycle events: every scenario runs against
// node:child_process and against native-cluster/child_process, with the same assertions (Node's
// behaviour is the reference), except for the documented deliberate differences (marked
// "DIFFERENCE"). In a file of its own, beside fork.test.js, so the test runner runs the two
// side by side.
const { describe } = require('node:test');
const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const {
  it, IMPLS, fixture, forkChild, next, record, thrown, readAll, turns, pool, norm, roundTrip,
} = require('./helpers');

for (const impl of IMPLS) {
  describe(`fork [${impl.name}]`, { skip: impl.skip }, () => {
    // ------------------------------------------------------------------ lifecycle
    describe('lifecycle events', () => {
      it('child that exits normally', async (t) => {
        const child = forkChild(t, impl, ['hello']);
        const log = record(child);
        await next(child, 'close');
        assert.deepEqual(norm(log), [
          ['spawn'], ['message', 'hello'], ['disconnect'], ['exit', 0, null], ['close', 0, null],
        ]);
        assert.equal(child.exitCode, 0);
        assert.equal(child.signalCode, null);
        assert.equal(child.killed, false);
        assert.equal(child.connected, false);
      });

      // Under load even Node occasionally reports 'exit' before 'message'/'disconnect' here, so
      // only the invariants are checked: nothing lost, 'message' before 'disconnect', 'close' last.
      it('40 children (8 at a time) that send and exit at once: nothing lost, close last', async (t) => {
        await pool(40, 8, async () => {
          const child = forkChild(t, impl, ['hello']);
          const log = record(child);
          await next(child, 'close');
          const got = norm(log);
          const names = got.map((e) => e[0]);
          assert.deepEqual([...names].sort(), ['close', 'disconnect', 'exit', 'message', 'spawn'], JSON.stringify(got));
          assert.equal(names[0], 'spawn');
          assert.ok(names.indexOf('message') < names.indexOf('disconnect'), JSON.stringify(got));
          assert.ok(names.indexOf('exit') < names.indexOf('close'), JSON.stringify(got));
          // Node emits 'disconnect' on a later tick than EOF, so under load its 'close' can come
          // first; ours reports both in the engine's order, 'close' last.
          if (impl.name === 'ours') assert.deepEqual(got[4], ['close', 0, null]);
          assert.deepEqual(got.find((e) => e[0] === 'message'), ['message', 'hello']);
          assert.deepEqual(got.find((e) => e[0] === 'exit'), ['exit', 0, null]);
        });
      });

      it('child that exits with a code', async (t) => {
        const child = forkChild(t, impl, ['exit', '3']);
        const log = record(child);
        await next(child, 'close');
        assert.deepEqual(norm(log), [['spawn'], ['disconnect'], ['exit', 3, null], ['close', 3, null]]);
        assert.equal(child.exitCode, 3);
        assert.equal(child.signalCode, null);
        assert.equal(child.killed, false);
      });

      for (const [sig, name] of [
        [undefined, 'SIGTERM'], ['SIGTERM', 'SIGTERM'], ['SIGINT', 'SIGINT'], ['SIGKILL', 'SIGKILL'],
        ['SIGHUP', 'SIGHUP'], [9, 'SIGKILL'], [15, 'SIGTERM'], [2, 'SIGINT'],
      ]) {
        it(`kill(${sig === undefined ? '' : JSON.stringify(sig)}) -> ${name}`, async (t) => {
          const child = forkChild(t, impl, ['hang']);
          const log = record(child);
          await next(child, 'message');
          assert.equal(child.killed, false);
          assert.equal(sig === undefined ? child.kill() : child.kill(sig), true);
          assert.equal(child.killed, true);
          await next(child, 'close');
          assert.deepEqual(norm(log), [
            ['spawn'], ['message', 'ready'], ['disconnect'], ['exit', null, name], ['close', null, name],
          ]);
          assert.equal(child.exitCode, null);
          assert.equal(child.signalCode, name);
          assert.equal(child.killed, true);
        });
      }

      it('kill() right after fork(), before any event', async (t) => {
        const child = forkChild(t, impl, ['hang']);
        const log = record(child);
        assert.equal(child.kill(), true);
        assert.equal(child.killed, true);
        await next(child, 'close');
        assert.deepEqual(norm(log), [['spawn'], ['disconnect'], ['exit', null, 'SIGTERM'], ['close', null, 'SIGTERM']]);
      });

      it('kill(0) returns true, sets killed and does not kill', async (t) => {
        const child = forkChild(t, impl, ['echo-ready']);
        await next(child, 'message');
        assert.equal(child.kill(0), true);
        assert.equal(child.killed, true); // (sic) Node sets killed for signal 0 too
        await roundTrip(child);
        child.disconnect();
        assert.deepEqual(await next(child, 'exit'), [0, null]);
      });

      it("connected and channel in 'disconnect' and 'exit' listeners", async (t) => {
        const child = forkChild(t, impl, ['exit', '0']);
        const states = [];
        child.on('disconnect', () => states.push(['disconnect', child.connected, child.channel]));
        child.on('exit', () => states.push(['exit', child.connected, child.channel]));
        await next(child, 'close');
        assert.deepEqual(states, [['disconnect', false, null], ['exit', false, null]]);
      });

      it('kill() with an unknown signal throws ERR_UNKNOWN_SIGNAL', async (t) => {
        const child = forkChild(t, impl, ['hang']);
        await next(child, 'message');
        const err = thrown(() => child.kill('SIGNOPE'));
        assert.equal(err.code, 'ERR_UNKNOWN_SIGNAL');
        assert.equal(err.name, 'TypeError');
        assert.equal(child.killed, false);
        child.kill();
        await next(child, 'close');
      });

      it('kill() after exit returns false', async (t) => {
        const child = forkChild(t, impl, ['exit', '0']);
        await next(child, 'close');
        assert.equal(child.kill(), false);
        assert.equal(child.killed, false);
      });

      it('child calls process.disconnect()', async (t) => {
        const child = forkChild(t, impl, ['disconnect'], { silent: true });
        const log = record(child);
        const out = readAll(child.stdout);
        child.on('disconnect', () => {
          assert.equal(child.connected, false);
          child.stdin.end(); // lets the child exit
        });
        await next(child, 'close');
        assert.deepEqual(norm(log), [
          ['spawn'], ['message', 'bye'], ['disconnect'], ['exit', 0, null], ['close', 0, null],
        ]);
        assert.equal(await out, '');
      });

      it('parent calls disconnect()', async (t) => {
        const child = forkChild(t, impl, ['echo-ready']);
        const log = record(child);
        await next(child, 'message');
        assert.equal(child.connected, true);
        child.disconnect();
        assert.equal(child.connected, false);
        assert.ok(child.channel == null, 'channel is gone after disconnect()');
        assert.deepEqual(norm(log), [['spawn'], ['message', 'ready']], "'disconnect' is asynchronous");
        if (impl.isNode) {
          // Node never emits 'close' here (nodejs/node#19433).
          await next(child, 'exit');
          await turns(10);
          assert.deepEqual(norm(log), [['spawn'], ['message', 'ready'], ['disconnect'], ['exit', 0, null]]);
        } else {
          // DIFFERENCE: ours emits 'close' after 'exit'.
          await next(child, 'close');
          assert.deepEqual(norm(log), [
            ['spawn'], ['message', 'ready'], ['disconnect'], ['exit', 0, null], ['close', 0, null],
          ]);
        }
      });

      it("channel has ref()/unref(); child.ref()/unref() exist", async (t) => {
        const child = forkChild(t, impl, ['echo']);
        assert.equal(typeof child.channel, 'object');
        assert.equal(typeof child.channel.ref, 'function');
        assert.equal(typeof child.channel.unref, 'function');
        assert.equal(typeof child.ref, 'function');
        assert.equal(typeof child.unref, 'function');
        child.unref();
        child.ref();
        child.channel.unref();
        child.channel.ref();
        await roundTrip(child);
        child.disconnect();
        await next(child, 'exit');
      });

      function runParent(t, scenario) {
        const r = spawnSync(process.execPath, [fixture('unref-parent.js'), impl.isNode ? 'node' : 'ours', scenario], {
          encoding: 'utf8', timeout: 30000, stdio: ['ignore', 'pipe', 'pipe'],
        });
        const [pidLine, ...rest] = r.stdout.split('\n');
        const pid = Number(pidLine);
        t.after(() => {
          try { process.kill(pid, 'SIGKILL'); } catch { /* already gone */ }
        });
        assert.ok(pid > 0, `grandchild pid printed (stdout ${JSON.stringify(r.stdout)}, stderr ${r.stderr})`);
        assert.equal(r.signal, null, 'parent had to be killed: it did not exit on its own');
        assert.equal(r.status, 0, r.stderr);
        return { pid, out: rest.join('\n') };
      }

      it('a parent that unrefs the child and its channel exits on its own', (t) => {
        const { pid } = runParent(t, 'unref-both');
        process.kill(pid, 0); // the grandchild was not killed by the parent's exit
      });

      it('the channel keeps the parent alive until the child is done', (t) => {
        assert.equal(runParent(t, 'plain').out, 'late\n');
      });

      it('after child.unref() the channel still keeps the parent alive', (t) => {
        assert.equal(runParent(t, 'unref-process').out, 'late\n');
      });
    });
  });
}
