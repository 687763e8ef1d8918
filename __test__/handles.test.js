'use strict';
// Handle passing (send(message, handle)): every handle type both ways, in both serializations,
// differential against node:child_process with an unmodified Node child; then ours only: what
// Node's parent cannot survive (bad descriptors, misbehaving children, a child dying with
// handles queued).
const { describe } = require('node:test');
const assert = require('node:assert/strict');
const net = require('node:net');
const dgram = require('node:dgram');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { it, itSame, IMPLS, OURS_IMPL, fixture, forkTracked, spawnTracked, next, openFds, pool, readAll } =
  require('./helpers');

const CHILD = fixture('handle-child.js');

// Resolves with [message, handle] of the child's next message whose op is `op`.
function nextOp(child, op) {
  return new Promise((resolve) => {
    child.on('message', function on(m, h) {
      if (m && m.op === op) {
        child.removeListener('message', on);
        resolve([m, h]);
      }
    });
  });
}

function listen(server, ...args) {
  return new Promise((resolve) => server.listen(...(args.length ? args : [0, '127.0.0.1']), resolve));
}

// One line from a server that answers each connection with a line and closes (resolves once
// the client's descriptor is closed too).
function fetchLine(port) {
  return new Promise((resolve, reject) => {
    const c = net.connect(port, '127.0.0.1');
    let s = '';
    c.setEncoding('utf8');
    c.on('data', (d) => { s += d; });
    c.on('close', () => resolve(s.trim()));
    c.on('error', reject);
  });
}

// A connection accepted by `server`, and its client end.
async function acceptOne(server) {
  const accepted = next(server, 'connection');
  const client = net.connect(server.address().port, '127.0.0.1');
  const [socket] = await accepted;
  return { socket, client };
}

async function finish(child) {
  const exited = next(child, 'exit');
  if (child.connected) child.disconnect();
  await exited;
}

const SERIALIZATIONS = ['json', 'advanced'];

for (const impl of IMPLS) {
  for (const serialization of SERIALIZATIONS) {
    const fork = (t, impl) => forkTracked(t, impl, CHILD, [], { serialization });
    describe(`handles parent → child, ${serialization} [${impl.name}]`, { skip: impl.skip }, () => {
      itSame(impl, 'net.Server: the child listens on the same port; parent and child both accept', async (t, impl) => {
        const child = fork(t, impl);
        const server = net.createServer((s) => s.end('parent\n'));
        await listen(server);
        const port = server.address().port;
        const got = nextOp(child, 'got');
        const sent = child.send({ tag: 'srv' }, server);
        const [m] = await got;
        const seen = new Set();
        for (let i = 0; i < 2000 && seen.size < 2; i++) seen.add(await fetchLine(port));
        const listening = server.listening;
        server.close();
        await finish(child);
        return { sent, m: { ...m, port: m.port === port }, seen: [...seen].sort(), listening };
      }, (o) => assert.deepEqual(o.seen, ['child', 'parent']));

      itSame(impl, 'net.Socket from a server: the connection goes on in the child; getConnections and close ask it',
        async (t, impl) => {
          const child = fork(t, impl);
          const server = net.createServer();
          await listen(server);
          const { socket, client } = await acceptOne(server);
          let clientData = '';
          client.setEncoding('utf8');
          client.on('data', (d) => { clientData += d; });
          const got = nextOp(child, 'got');
          const callback = new Promise((resolve) => child.send({ tag: 's1', stayOpen: true }, socket, resolve));
          const detached = { handle: socket._handle, destroyed: socket.destroyed };
          const [m] = await got;
          const callbackErr = await callback;
          const count = await new Promise((resolve) => server.getConnections((e, n) => resolve([e && e.code, n])));
          const clientEnded = next(client, 'end');
          client.end();
          await clientEnded;
          const closed = await new Promise((resolve) => server.close((err) => resolve(err ? err.code : 'closed')));
          await finish(child);
          return { m, callbackErr, detached, count, closed, clientData };
        }, (o) => {
          assert.deepEqual(o.count, [null, 1]);
          assert.equal(o.clientData, 'child:s1\n');
        });

      itSame(impl, 'net.Socket with keepOpen: the parent keeps using its copy', async (t, impl) => {
        const child = fork(t, impl);
        const server = net.createServer();
        await listen(server);
        const { socket, client } = await acceptOne(server);
        const data = readAll(client);
        const got = nextOp(child, 'got');
        child.send({ tag: 'k', stayOpen: true }, socket, { keepOpen: true });
        const kept = socket._handle !== null;
        await got;
        socket.end('parent\n');
        const clientData = await data;
        server.close();
        await finish(child);
        return { kept, clientData };
      }, (o) => assert.deepEqual(o, { kept: true, clientData: 'child:k\nparent\n' }));

      itSame(impl, 'net.Native: a server\'s raw TCP handle arrives as one', async (t, impl) => {
        const child = fork(t, impl);
        const server = net.createServer();
        await listen(server);
        const got = nextOp(child, 'got');
        child.send({ tag: 'raw' }, server._handle);
        const [m] = await got;
        server.close();
        await finish(child);
        return m;
      }, (m) => assert.deepEqual(m, { op: 'got', type: 'TCP', tag: 'raw', hasFd: true }));

      itSame(impl, 'net.Socket over a unix socket arrives Pipe-backed and keeps working', async (t, impl) => {
        const child = fork(t, impl);
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nc-pipe-'));
        t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
        const server = net.createServer();
        await listen(server, path.join(dir, 's'));
        const accepted = next(server, 'connection');
        const client = net.connect(path.join(dir, 's'));
        const [socket] = await accepted;
        const data = readAll(client);
        const got = nextOp(child, 'got');
        child.send({ tag: 'unix' }, socket);
        const [m] = await got;
        const clientData = await data;
        server.close();
        await finish(child);
        return { m, clientData };
      }, (o) => assert.equal(o.clientData, 'child:unix\n'));

      itSame(impl, 'dgram.Socket: the child receives on the same port', async (t, impl) => {
        const child = fork(t, impl);
        const sock = dgram.createSocket('udp4');
        await new Promise((resolve) => sock.bind(0, '127.0.0.1', resolve));
        const port = sock.address().port;
        const got = nextOp(child, 'got');
        await new Promise((resolve) => child.send({ tag: 'udp' }, sock, resolve));
        const [m] = await got;
        // Only the child's copy is left to receive.
        sock.close();
        const datagram = nextOp(child, 'datagram');
        const sender = dgram.createSocket('udp4');
        sender.send('hello', port, '127.0.0.1');
        const [d] = await datagram;
        sender.close();
        await finish(child);
        return { m: { ...m, port: m.port === port }, d };
      }, (o) => assert.deepEqual(o.d, { op: 'datagram', data: 'hello' }));

      itSame(impl, 'dgram.Native: a raw UDP handle arrives as one', async (t, impl) => {
        const child = fork(t, impl);
        const sock = dgram.createSocket('udp4');
        await new Promise((resolve) => sock.bind(0, '127.0.0.1', resolve));
        const got = nextOp(child, 'got');
        const { handle } = sock[Object.getOwnPropertySymbols(sock).find((s) => s.description === 'state symbol')];
        child.send({ tag: 'rawudp' }, handle);
        const [m] = await got;
        sock.close();
        await finish(child);
        return m;
      }, (m) => assert.deepEqual(m, { op: 'got', type: 'UDP', tag: 'rawudp', hasFd: true }));

      itSame(impl, 'send() return values and order while a handle is in flight', async (t, impl) => {
        const child = fork(t, impl);
        const server = net.createServer();
        await listen(server);
        const tags = [];
        const all = new Promise((resolve) => child.on('message', (m) => m.op === 'got' && tags.push([m.tag, m.type]) === 5 &&
          resolve()));
        const returns = [
          child.send({ op: 'tagged', tag: 0 }, server._handle),
          child.send({ op: 'tagged', tag: 1 }),
          child.send({ op: 'tagged', tag: 2 }),
          child.send({ op: 'tagged', tag: 3 }, server._handle),
          child.send({ op: 'tagged', tag: 4 }),
        ];
        await all;
        server.close();
        await finish(child);
        return { returns, tags };
      }, (o) => assert.deepEqual(o.returns, [true, true, false, false, false]));

      itSame(impl, 'what cannot be sent: wrong objects throw, a destroyed socket sends the bare message',
        async (t, impl) => {
          const child = fork(t, impl);
          const errors = [{}, 'str', 42, new (require('node:events').EventEmitter)()].map((h) => {
            try {
              child.send('x', h);
              return 'sent';
            } catch (err) {
              return [err.name, err.code, err.message];
            }
          });
          const server = net.createServer();
          await listen(server);
          const { socket, client } = await acceptOne(server);
          socket.destroy();
          client.destroy();
          const got = nextOp(child, 'got');
          child.send({ op: 'tagged', tag: 'bare' }, socket);
          const [m] = await got;
          server.close();
          await finish(child);
          return { errors, m };
        }, (o) => assert.equal(o.m.type, 'none'));

      itSame(impl, 'both sides send handles at once (replies bypass the queues)', async (t, impl) => {
        const child = fork(t, impl);
        const server = net.createServer();
        await listen(server);
        // A received server is emitted once it listens, so 'native' may overtake it (in Node too).
        const replies = Promise.all([nextOp(child, 'server'), nextOp(child, 'got'), nextOp(child, 'native')]);
        child.send({ op: 'send-server' });
        child.send({ tag: 'crossing' }, server._handle);
        child.send({ op: 'send-native' });
        const [[m1, h1], [m2], [m3, h3]] = await replies;
        h1.close();
        h3.close();
        server.close();
        await finish(child);
        return { m1: { op: m1.op, server: h1 instanceof net.Server }, m2, m3: { op: m3.op, type: h3.constructor.name } };
      });

      itSame(impl, '2,000 accepted sockets passed in a loop; the parent\'s descriptors are all released',
        async (t, impl) => {
          const child = fork(t, impl);
          const server = net.createServer((s) => child.send({ tag: 'loop' }, s));
          await listen(server);
          const before = openFds().length;
          let ok = 0;
          await pool(2000, 16, async () => {
            if ((await fetchLine(server.address().port)) === 'child:loop') ok++;
          });
          // Every handle has been ACKed (closing the parent's copy) once the child answers this.
          const pong = nextOp(child, 'pong');
          child.send({ op: 'ping' });
          await pong;
          const after = openFds().length;
          server.close();
          await finish(child);
          return { ok, leaked: after - before };
        }, (o) => assert.deepEqual(o, { ok: 2000, leaked: 0 }));
    });

    describe(`handles child → parent, ${serialization} [${impl.name}]`, { skip: impl.skip }, () => {
      itSame(impl, 'net.Server: the parent gets a listening server on the child\'s port', async (t, impl) => {
        const child = fork(t, impl);
        const got = nextOp(child, 'server');
        child.send({ op: 'send-server' });
        const [m, server] = await got;
        server.on('connection', (s) => s.end('parent\n'));
        const line = await fetchLine(m.port);
        const o = { isServer: server instanceof net.Server, listening: server.listening, samePort: server.address().port === m.port,
          line: line === 'parent' || line === 'child' };
        server.close();
        await finish(child);
        return o;
      }, (o) => assert.deepEqual(o, { isServer: true, listening: true, samePort: true, line: true }));

      itSame(impl, 'net.Native: a raw TCP handle', async (t, impl) => {
        const child = fork(t, impl);
        const got = nextOp(child, 'native');
        child.send({ op: 'send-native' });
        const [, h] = await got;
        const o = { type: h.constructor.name, fd: h.fd >= 0 };
        h.close();
        await finish(child);
        return o;
      }, (o) => assert.deepEqual(o, { type: 'TCP', fd: true }));

      itSame(impl, 'net.Socket with a key: the parent answers the child\'s getConnections and close', async (t, impl) => {
        const child = fork(t, impl);
        const got = nextOp(child, 'socket');
        child.send({ op: 'send-socket' });
        const [, socket] = await got;
        const isSocket = socket instanceof net.Socket;
        let count = nextOp(child, 'count');
        child.send({ op: 'count' });
        const open = (await count)[0];
        const read = nextOp(child, 'client-read');
        const closed = next(socket, 'close');
        socket.end('via parent');
        const [r] = await read;
        await closed;
        count = nextOp(child, 'count');
        child.send({ op: 'count' });
        const after = (await count)[0];
        const serverClosed = nextOp(child, 'server-closed');
        child.send({ op: 'close-server' });
        await serverClosed;
        await finish(child);
        return { isSocket, open, r, after };
      }, (o) => assert.deepEqual(o, {
        isSocket: true, open: { op: 'count', err: null, n: 1 }, r: { op: 'client-read', data: 'via parent' },
        after: { op: 'count', err: null, n: 0 },
      }));

      itSame(impl, 'dgram.Socket and a raw UDP handle', async (t, impl) => {
        const child = fork(t, impl);
        let got = nextOp(child, 'dgram');
        child.send({ op: 'send-dgram' });
        const [m, sock] = await got;
        const o = { isDgram: sock instanceof dgram.Socket, samePort: sock.address().port === m.port, type: sock.type };
        got = nextOp(child, 'udp-native');
        child.send({ op: 'send-udp-native' });
        const [, raw] = await got;
        o.raw = raw.constructor.name;
        sock.close();
        raw.close();
        await finish(child);
        return o;
      }, (o) => assert.deepEqual(o, { isDgram: true, samePort: true, type: 'udp4', raw: 'UDP' }));
    });
  }

  describe(`handle protocol corners [${impl.name}]`, { skip: impl.skip }, () => {
    const fork = (t, impl) => forkTracked(t, impl, CHILD, []);
    // A raw child started without a Node channel of its own, speaking the protocol by hand.
    const raw = (t, impl, mode, ...args) => spawnTracked(t, impl, '/bin/sh', ['-c', 'unset NODE_CHANNEL_FD; exec "$0" "$@"',
      process.execPath, CHILD, mode, ...args], { stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });

    for (const nacks of [1, 4]) {
      itSame(impl, `${nacks} NACK(s) for an accepted socket: retransmitted with its descriptor, then given up`, async (t, impl) => {
        const child = raw(t, impl, 'nacker', String(nacks));
        const out = readAll(child.stdout);
        const warnings = [];
        const onWarning = (w) => warnings.push([w.name, w.message]);
        process.on('warning', onWarning);
        const server = net.createServer();
        await listen(server);
        const { socket, client } = await acceptOne(server);
        child.send('first', socket);
        // 'report' is held behind the handle until it is settled.
        child.send('report');
        if (nacks > 3) await new Promise((resolve) => process.once('warning', resolve));
        const exited = next(child, 'exit');
        await new Promise((resolve) => setImmediate(resolve));
        child.disconnect();
        const framesAndFds = (await out).trim();
        await exited;
        process.removeListener('warning', onWarning);
        client.destroy();
        server.close();
        return { framesAndFds, warnings };
      }, (o) => {
        const n = Math.min(nacks, 3) + 1;
        assert.equal(o.framesAndFds, `${n} ${n}`);
      });
    }

    itSame(impl, 'the peer holds our handle un-ACKed until we ACK its own: we answer while ours is in flight',
      async (t, impl) => {
        const child = raw(t, impl, 'delayed-ack');
        const server = net.createServer();
        await listen(server);
        const got = [];
        const done = new Promise((resolve) => child.on('message', (m, h) => {
          got.push([m, h ? h.constructor.name : 'none']);
          if (h) h.close();
          if (m === 'done') resolve();
        }));
        child.send('ours', server._handle);
        child.send('after');
        await done;
        await next(child, 'exit');
        server.close();
        return got;
      }, (got) => assert.deepEqual(got, [['mine', 'TCP'], ['done', 'none']]));

    itSame(impl, 'a handle message with a lone surrogate arrives with its handle', async (t, impl) => {
      const child = fork(t, impl);
      const got = nextOp(child, 'server');
      child.send({ op: 'send-server', s: 'a\ud800b' });
      const [m, server] = await got;
      const o = { s: m.s, isServer: server instanceof net.Server };
      server.close();
      await finish(child);
      return o;
    }, (o) => assert.deepEqual(o, { s: 'a\ud800b', isServer: true }));

    itSame(impl, 'a message right behind a received server is not delivered before it, even from a busy parent',
      async (t, impl) => {
        const child = fork(t, impl);
        const order = [];
        const both = new Promise((resolve) => child.on('message', (m, h) => {
          if (m.op !== 'order') return;
          order.push(m.what);
          if (h) h.close();
          if (order.length === 2) resolve();
        }));
        child.send({ op: 'server-then-after' });
        // Busy while both arrive, so they come to JS together.
        const until = Date.now() + 300;
        while (Date.now() < until);
        await both;
        await finish(child);
        return order;
      }, (order) => assert.deepEqual(order, ['server', 'after']));
  });
}

describe('handles: what Node\'s parent cannot survive [ours]', { skip: OURS_IMPL.skip }, () => {
  const impl = OURS_IMPL;

  it('a descriptor a Node child cannot take is refused with ERR_INVALID_HANDLE_TYPE; the channel stays usable', async (t) => {
    const child = forkTracked(t, impl, CHILD, []);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nc-fifo-'));
    t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
    spawnSync('mkfifo', [path.join(dir, 'f')]);
    const fifo = new net.Socket({ fd: fs.openSync(path.join(dir, 'f'), fs.constants.O_RDWR | fs.constants.O_NONBLOCK) });
    const { Pipe } = process.binding('pipe_wrap');
    const file = new Pipe(0);
    file.open(fs.openSync(__filename, 'r'));
    const before = openFds().length;
    for (const h of [fifo, file]) {
      assert.throws(() => child.send('x', h), { code: 'ERR_INVALID_HANDLE_TYPE', name: 'TypeError' });
    }
    assert.equal(openFds().length, before);
    assert.notEqual(fifo._handle, null, 'a refused socket is left as it was');
    const got = nextOp(child, 'got');
    child.send({ op: 'tagged', tag: 'after' });
    assert.deepEqual((await got)[0], { op: 'got', type: 'none', tag: 'after' });
    fifo.destroy();
    file.close();
    await finish(child);
  });

  it('garbage handle frames from a child: each reported, answered, closed; the parent carries on', async (t) => {
    const before = openFds().length;
    const child = spawnTracked(t, impl, '/bin/sh', ['-c', 'unset NODE_CHANNEL_FD; exec "$0" "$@"', process.execPath, CHILD,
      'bad-handles'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], maxFrameSize: 4096 });
    const log = [];
    child.on('error', (e) => log.push(['error', e.code, e.reason]));
    await new Promise((resolve) => child.on('message', (m, h) => {
      log.push(['message', m, h === undefined ? 'none' : 'handle']);
      if (m === 'm9') resolve();
      else if (/^m\d$/.test(m)) child.send('next');
    }));
    const report = nextOp(child, undefined);
    child.send('done');
    const [code] = await next(child, 'exit');
    assert.equal(code, 0);
    // Exactly one reply per handle frame: a NACK for each refused one, nothing else.
    assert.deepEqual((await report)[0], { replies: { NODE_HANDLE_NACK: 6, NODE_HANDLE_ACK: 1 } });
    log.pop();
    assert.deepEqual(log, [
      ['message', 'm0', 'none'],
      ['error', 'ERR_IPC_MISSING_HANDLE', undefined], ['message', 'm1', 'none'],
      ['message', 'a plain message with a fd', 'none'], ['error', 'ERR_IPC_UNEXPECTED_HANDLE', 'fd'],
      ['message', 'm2', 'none'],
      ['error', 'ERR_INVALID_HANDLE_TYPE', 'type'], ['message', 'm3', 'none'],
      ['error', 'ERR_INVALID_HANDLE_TYPE', 'fd'], ['message', 'm4', 'none'],
      ['error', 'ERR_INVALID_HANDLE_TYPE', 'fd'], ['message', 'm5', 'none'],
      ['error', 'ERR_INVALID_HANDLE_TYPE', 'fd'], ['message', 'm6', 'none'],
      ['error', 'ERR_IPC_UNEXPECTED_ACK', undefined], ['message', 'm7', 'none'],
      ['error', 'EINVAL', undefined], ['message', 'm8', 'none'],
      ['error', 'ERR_IPC_FRAME_TOO_LARGE', undefined], ['message', 'm9', 'none'],
    ]);
    assert.equal(openFds().length, before);
  });

  it('a child dying with handles queued: every callback is called, every descriptor closed', async (t) => {
    const server = net.createServer();
    await listen(server);
    const before = openFds().length;
    // Never reads its channel, so nothing is ever ACKed.
    const child = spawnTracked(t, impl, '/bin/sh', ['-c', 'unset NODE_CHANNEL_FD; exec "$0" -e "setInterval(() => {}, 1000)"',
      process.execPath], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    child.on('error', () => {});
    const results = [];
    const sends = [];
    for (let i = 0; i < 5; i++) {
      sends.push(new Promise((resolve) => child.send({ i }, server, (err) => resolve(results.push([i, err && err.code])))));
      sends.push(new Promise((resolve) => child.send({ plain: i }, (err) => resolve(results.push([`p${i}`, err && err.code])))));
    }
    await sends[0];
    child.kill('SIGKILL');
    await Promise.all(sends);
    await next(child, 'exit');
    await new Promise((resolve) => setImmediate(resolve));
    // The first handle was written; everything held behind it failed.
    assert.deepEqual(results[0], [0, null]);
    assert.equal(results.length, 10);
    assert.ok(results.slice(1).every(([, code]) => code === 'EPIPE'), JSON.stringify(results));
    assert.equal(openFds().length, before);
    server.close();
  });
});
