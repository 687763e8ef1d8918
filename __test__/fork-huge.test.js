'use strict';
// A message of hundreds of MiB each way, in a file of its own so that the test runner can run it
// beside the rest (fork-large.test.js has the tens of MiB). It takes seconds on a quiet machine
// and minutes on a busy one, beside other files (its JSON alone is seconds of CPU each way): the
// timeout only guards against a hang.
const { describe } = require('node:test');
const { it, IMPLS, forkChild, next, bigString, assertCbOk, assertSameBig } = require('./helpers');

for (const impl of IMPLS) {
  describe(`fork: huge messages [${impl.name}]`, { skip: impl.skip }, () => {
    // HEAVY: 256 Mi code units (~270 MB of UTF-8 with the multi-byte characters) each way.
    // Node's own module passes too but needs ~20 s here, so it only runs for Node with
    // NC_HEAVY_NODE=1 to keep the suite short.
    it('256 MiB message each way (heavy)', {
      timeout: 300000, skip: impl.isNode && !process.env.NC_HEAVY_NODE && 'heavy; set NC_HEAVY_NODE=1',
    }, async (t) => {
      let big = bigString(256 << 20);
      const child = forkChild(t, impl, ['echo']);
      const back = next(child, 'message');
      const cb = new Promise((resolve) => child.send(big, (...a) => resolve(a)));
      assertCbOk(await cb);
      const [msg] = await back;
      assertSameBig(msg, big);
      big = null;
      child.disconnect();
      await next(child, 'exit');
    });
  });
}
