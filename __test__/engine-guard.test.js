'use strict';
// The supervisor's guard runs on the engine's thread (src/guard): pings and memory samples go
// on while the primary's JS is busy, and a worker that misses a ping is taken out of
// round-robin there and then. The primary here is this test process, through the API; its JS
// is blocked with a bounded busy loop while a client process (which it cannot serve) measures.
const { describe } = require('node:test');
const { once } = require('node:events');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { it } = require('./helpers');
const { APP, freePort } = require('./fixtures/supervisor/harness');

// Sends /spin (one worker starts spinning forever), says `spun`, then 100 fresh-connection
// requests to /pid 20 ms apart, each given 5 s; writes [pid or null] in send order to OUT.
const CLIENT = `
const http = require('node:http');
const fs = require('node:fs');
const [port, out] = process.argv.slice(1);
const spin = http.get({ host: '127.0.0.1', port, path: '/spin', agent: false });
spin.on('error', () => {});
spin.on('socket', (s) => s.on('connect', () => {
  process.stdout.write('spun\\n');
  const results = new Array(100).fill(undefined);
  let settled = 0;
  const done = (i, v) => {
    if (results[i] !== undefined) return;
    results[i] = v;
    if (++settled === results.length) {
      fs.writeFileSync(out + '.tmp', JSON.stringify(results));
      fs.renameSync(out + '.tmp', out);
      process.exit(0);
    }
  };
  let i = 0;
  const iv = setInterval(() => {
    const n = i++;
    if (i === results.length) clearInterval(iv);
    const req = http.get({ host: '127.0.0.1', port, path: '/pid', agent: false }, (res) => {
      let body = '';
      res.on('data', (d) => body += d);
      res.on('end', () => done(n, Number(body)));
    });
    req.setTimeout(5000, () => req.destroy());
    req.on('error', () => done(n, null));
  }, 20);
}));
`;

describe('the engine-side guard', () => {
  const { supervise } = require('native-cluster/supervisor');

  it("takes a spinning worker out of round-robin while the primary's JS is blocked", { timeout: 60000 }, async (t) => {
    const port = await freePort();
    const out = path.join(os.tmpdir(), `nc-blocked-${process.pid}-${port}.json`);
    t.after(() => fs.rmSync(out, { force: true }));
    const sup = supervise(APP, { workers: 2, hangTimeout: 1000, sampleInterval: 200, env: { PORT: String(port), HOST: '127.0.0.1' } });
    t.after(() => sup.stop());
    const pids = (await sup.ready).list.map((w) => w.pid);
    const hung = once(sup, 'worker-hung');
    const client = spawn(process.execPath, ['-e', CLIENT, String(port), out], { stdio: ['ignore', 'pipe', 'inherit'] });
    t.after(() => client.kill());
    await once(client.stdout, 'data');
    // Blocked from here until the client has its results (bounded): nothing in this thread
    // pings, reads or routes.
    const deadline = Date.now() + 20000;
    while (!fs.existsSync(out) && Date.now() < deadline);
    assert.ok(fs.existsSync(out), 'the client finished within 20 s');
    const results = JSON.parse(fs.readFileSync(out, 'utf8'));
    const [event] = await hung;
    const spinner = event.pid;
    const other = pids.find((p) => p !== spinner);
    assert.ok(pids.includes(spinner));
    // Requests sent once the spinner had missed a ping (two 200 ms ticks, 20 of the 100) all
    // went to the other worker; only some sent before that could be lost.
    const late = results.slice(50);
    assert.deepEqual(late.filter((p) => p !== other), []);
    assert.ok(results.filter((p) => p === null).length <= 20, JSON.stringify(results));
    assert.equal(event.handedAfterMiss, 0);
    t.diagnostic(`lost before the first missed ping: ${results.filter((p) => p === null).length} of 100; ` +
      `handed to the spinner after it: ${event.handedAfterMiss}; silent ${event.silentMs} ms`);
  });
});
