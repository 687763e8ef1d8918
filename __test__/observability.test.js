'use strict';
// Ours only: the engine's counters (engineStats()), NODE_DEBUG=native-cluster traces, and a
// round-robin primary out of descriptors, which closes the connections it cannot take at once
// instead of letting clients wait (issue 12 item 9).
const { describe } = require('node:test');
const assert = require('node:assert/strict');
const net = require('node:net');
const path = require('node:path');
const readline = require('node:readline');
const nodeCp = require('node:child_process');
const { it, OURS_IMPL, fixture, next, readAll } = require('./helpers');

const ROOT = path.join(__dirname, '..');
const PRIMARY = fixture('rr-primary.js');

// Starts the round-robin primary fixture; resolves once its worker listens, with a way to ask
// it for its engineStats(). With `nofile`, the primary alone (not its worker) is then limited
// to that many descriptors.
async function startPrimary(t, scenario, { nofile, debug } = {}) {
  const env = { ...process.env, NODE_DEBUG: debug ? 'native-cluster' : '' };
  const proc = nodeCp.spawn(process.execPath, [PRIMARY, scenario], { env });
  // A failed assertion must not leave the primary (and its worker) running.
  t.after(() => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
  });
  const stderr = readAll(proc.stderr);
  const lines = readline.createInterface({ input: proc.stdout })[Symbol.asyncIterator]();
  const { port } = JSON.parse((await lines.next()).value);
  if (nofile) {
    const r = nodeCp.spawnSync('prlimit', ['--pid', String(proc.pid), `--nofile=${nofile}:${nofile}`]);
    assert.equal(r.status, 0, String(r.stderr));
  }
  return {
    port,
    async stats() {
      proc.stdin.write('stats\n');
      return JSON.parse((await lines.next()).value);
    },
    release() {
      proc.stdin.write('release\n');
    },
    async exit() {
      proc.stdin.write('exit\n');
      await next(proc, 'close');
      return stderr;
    },
  };
}

// One connection: what the worker wrote, or '' when it was closed (or reset) without a word.
function request(port) {
  return new Promise((resolve) => {
    let got = '';
    const c = net.connect(port, '127.0.0.1');
    c.setEncoding('utf8');
    c.on('data', (d) => (got += d));
    c.on('error', () => {});
    c.on('close', () => resolve(got));
  });
}

describe('observability [ours]', { skip: OURS_IMPL.skip || OURS_IMPL.isNode }, () => {
  const nc = require(ROOT);

  it('engineStats() counts the frames and bytes of a channel both ways, by pid', async () => {
    const child = nc.fork('-e', ['process.on("message", (m) => process.send(m))']);
    const messages = Array.from({ length: 10 }, (_, i) => ({ i, text: 'x'.repeat(i) }));
    const replies = new Promise((resolve) => {
      let n = 0;
      child.on('message', () => ++n === messages.length && resolve());
    });
    for (const m of messages) child.send(m);
    await replies;
    const bytes = messages.reduce((sum, m) => sum + JSON.stringify(m).length + 1, 0);
    const channel = nc.engineStats().channels.find((c) => c.pid === child.pid);
    // Which thread reads it depends on how the replies arrived (see read-owner.test.js).
    assert.match(channel.reader, /^(js|io)$/);
    assert.deepEqual(
      { ...channel, id: 0 },
      {
        id: 0, pid: child.pid, open: true, framesOut: 10, bytesOut: bytes, framesIn: 10, bytesIn: bytes,
        queuedBytes: 0, handleInFlight: false, heldSends: 0, fdsIn: 0, fdsOut: 0, fdsHeld: 0,
        unreadBytes: 0, readPaused: false, reader: channel.reader,
      });
    child.disconnect();
    await next(child, 'exit');
    assert.equal(nc.engineStats().channels.find((c) => c.pid === child.pid), undefined);
  });

  it('a ChildProcess let go releases its engine entry (engineStats().children), never its process: the child is still reaped', async (t) => {
    const proc = nodeCp.spawn(process.execPath, ['--expose-gc', fixture('forgotten-child.js')], { stdio: ['ignore', 'pipe', 'inherit'] });
    t.after(() => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    });
    const [out] = await Promise.all([readAll(proc.stdout), next(proc, 'exit')]);
    assert.deepEqual(JSON.parse(out), {
      // Held by JS: the entry lives on past the exit (reported, and reaped), until collected.
      held: { running: { exited: false }, exit: [null, 'SIGKILL'], exited: { exited: true }, afterExit: null, released: true },
      // The thread that held it ended while it ran: the entry went with it; killed from
      // here, the child was still reaped by the engine.
      worker: { running: true, released: true, reaped: true },
    });
  });

  it('round-robin: a group counts its dispatches; NODE_DEBUG=native-cluster traces them', async (t) => {
    const primary = await startPrimary(t, 'serve', { debug: true });
    for (let i = 0; i < 5; i++) assert.equal(await request(primary.port), 'w1');
    // The worker's `accepted` reply can reach the engine after its response reached us: ask
    // again (each ask is a round trip to the primary) until the last hand-off is settled.
    let stats = await primary.stats();
    for (let i = 0; i < 100 && stats.groups[0] && stats.groups[0].awaitingAck + stats.groups[0].awaitingReply > 0; i++) {
      stats = await primary.stats();
    }
    const { groups, channels } = stats;
    assert.equal(groups.length, 1);
    const { id, ...group } = groups[0];
    assert.ok(id > 0);
    // Listener and reserve are all it holds once every connection is the worker's.
    assert.deepEqual(group,
      { workers: 1, pending: 0, awaitingAck: 0, awaitingReply: 0, dispatched: 5, shed: 0, fdsHeld: 2 });
    assert.equal(channels.length, 1);
    assert.equal(channels[0].fdsOut, 5);
    const stderr = await primary.exit();
    assert.match(stderr, /NATIVE-CLUSTER \d+: spawn \d+: pid \d+/);
    assert.equal(stderr.match(/engine \d+: newconn \d+ to channel \d+/g).length, 5);
    assert.equal(stderr.match(/newconn \d+ ACKed by channel/g).length, 5);
    assert.equal(stderr.match(/newconn \d+ accepted/g).length, 5);
    assert.match(stderr, /channel \d+: closed/);
    assert.match(stderr, /exit \d+: pid \d+, code 0/);
  });

  it('round-robin out of descriptors: excess connections are closed at once, counted, warned of once; the primary serves on', { timeout: 60000 }, async (t) => {
    // The worker stalls until the primary has shed a connection, so connections pile up in a
    // primary limited to 64 descriptors; each is either served or closed at once, none waits
    // for the worker.
    const primary = await startPrimary(t, 'stall', { nofile: 64 });
    const pending = Promise.all(Array.from({ length: 150 }, () => request(primary.port)));
    while ((await primary.stats()).groups[0].shed === 0) await new Promise((resolve) => setTimeout(resolve, 20));
    primary.release();
    const results = await pending;
    const served = results.filter((r) => r === 'w1').length;
    const closed = results.filter((r) => r === '').length;
    assert.equal(served + closed, results.length);
    assert.ok(closed > 0, 'some connections were shed');
    assert.ok(served > 0, 'the others were served');
    // It keeps serving afterwards.
    assert.equal(await request(primary.port), 'w1');
    const { groups } = await primary.stats();
    assert.equal(groups[0].shed, closed);
    assert.equal(groups[0].dispatched, served + 1);
    const stderr = await primary.exit();
    assert.equal(stderr.match(/NativeClusterWarning/g).length, 1);
  });
});
