'use strict';
// Edge cases of handing things to a child: a stream given as stdin must block in the child,
// spawnSync's string entries, and a child that never started but was asked for a channel.
// Differential against node:child_process.
const { describe } = require('node:test');
const assert = require('node:assert/strict');
const net = require('node:net');
const { itSame, IMPLS, spawnTracked, next, readAll, waitForText } = require('./helpers');

for (const impl of IMPLS) {
  describe(`handing over stdio and channels [${impl.name}]`, { skip: impl.skip }, () => {
    itSame(impl, 'a non-blocking socket handed over as stdin reads like a blocking one', async (t, impl) => {
      const [a, b] = await new Promise((resolve) => {
        const server = net.createServer((conn) => {
          server.close();
          resolve([client, conn]);
        });
        let client;
        server.listen(0, '127.0.0.1', () => {
          client = net.connect(server.address().port, '127.0.0.1');
        });
      });
      t.after(() => {
        a.destroy();
        b.destroy();
      });
      // The socket is O_NONBLOCK in the parent; `head` treats EAGAIN as an error. The data is
      // written only once the child is about to read, so its first read finds none.
      const child = spawnTracked(t, impl, 'sh', ['-c', 'echo ready; head -c 5'], { stdio: [b, 'pipe', 'pipe'] });
      const err = readAll(child.stderr);
      const exited = next(child, 'exit');
      await waitForText(child.stdout, 'ready\n');
      const out = readAll(child.stdout);
      a.write('hello world');
      const [code] = await exited;
      return { code, out: await out, err: await err };
    }, (o) => assert.deepEqual(o, { code: 0, out: 'hello', err: '' }));

    itSame(impl, 'spawnSync: a string in stdio beyond fd 0 is an output pipe', (t, impl) => {
      const r = impl.cp.spawnSync('sh', ['-c', 'echo to1; cat'], { stdio: ['pipe', 'abc', 'pipe'], input: 'in' });
      return { status: r.status, signal: r.signal, out1: String(r.output[1]) };
    }, (o) => assert.deepEqual(o, { status: 0, signal: null, out1: 'to1\nin' }));

    itSame(impl, 'fork with a missing execPath still has a channel whose sends fail with EPIPE', async (t, impl) => {
      const child = impl.cp.fork(__filename, { execPath: '/nonexistent/node' });
      const events = [];
      for (const e of ['spawn', 'error', 'disconnect', 'exit', 'close']) child.on(e, (a) => events.push([e, a?.code ?? a]));
      const shape = [typeof child.send, child.connected];
      const sent = child.send('hi', (err) => events.push(['callback', err?.code]));
      await next(child, 'close');
      if (child.connected) await next(child, 'disconnect');
      // Node emits 'close' before 'disconnect' here, ours after: compare the sets.
      return { shape, sent, events: events.map((e) => JSON.stringify(e)).sort(), connected: child.connected };
    }, (o) => assert.deepEqual(o.shape, ['function', true]));
  });
}
