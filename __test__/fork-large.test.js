'use strict';
// Differential tests of messages of tens of MiB, in a file of their own so that the test runner
// can run them beside the rest (hundreds of MiB: fork-huge.test.js). Each may take long on a busy machine: the timeouts
// only guard against a hang.
const { describe } = require('node:test');
const { it, IMPLS, forkChild, next, bigString, assertCbOk, assertSameBig } = require('./helpers');
const assert = require('node:assert/strict');

for (const impl of IMPLS) {
  describe(`fork: large messages [${impl.name}]`, { skip: impl.skip }, () => {
    it('64 MiB messages both ways', { timeout: 120000 }, async (t) => {
      const big = bigString(64 << 20);
      const child = forkChild(t, impl, ['echo']);
      const back = next(child, 'message');
      const cb = new Promise((resolve) => {
        // Node returns false: the write could not complete at once (backpressure signal).
        assert.equal(child.send(big, (...a) => resolve(a)), false);
      });
      assertCbOk(await cb);
      assertSameBig((await back)[0], big);
      child.disconnect();
      await next(child, 'exit');
    });

    it('64 MiB message child -> parent', { timeout: 120000 }, async (t) => {
      const n = 64 << 20;
      const child = forkChild(t, impl, ['big', String(n)]);
      const [msg] = await next(child, 'message');
      assertSameBig(msg, bigString(n));
      child.disconnect();
      await next(child, 'exit');
    });
  });
}
