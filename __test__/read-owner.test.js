'use strict';
// Who reads a channel: its JS thread while it is idle (a reply costs one wake-up), the engine's
// I/O thread while something must go on with JS blocked (a handle in flight, a flood,
// backpressure). Reading moves between them as the conversation changes; every message must
// arrive exactly once and in order, as with Node, whichever thread read it.
const { describe } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { Worker } = require('node:worker_threads');
const { it, IMPLS, OURS_IMPL, forkTracked, next } = require('./helpers');

// Echoes {seq}; {burst: n, from} sends n messages seq from.. at once (a flood); a handle is
// answered with {seq, got} (its class name) and closed.
const CHILD = `process.on('message', (m, h) => {
  if (h) { process.send({ seq: m.seq, got: h.constructor.name }); h.close(); return; }
  if (m.burst) { for (let i = 0; i < m.burst; i++) process.send({ seq: m.from + i }); return; }
  process.send({ seq: m.seq });
});`;

const STEPS = 120;
const BURST = 300;

// Runs the conversation: step i is a plain message, a handle (every 7th) or a burst request
// (every 11th); the next step goes once the current one's last reply is in. Resolves with
// every seq received, in order, and the handle replies; `observe` is called after each reply
// and after each handle sent.
function converse(child, server, observe = () => {}) {
  return new Promise((resolve, reject) => {
    const seqs = [];
    const got = [];
    let seq = 0;
    let waitFor = -1;
    const step = (i) => {
      if (i === STEPS) return resolve({ seqs, got });
      if (i % 11 === 10) {
        child.send({ burst: BURST, from: seq });
        seq += BURST;
      } else if (i % 7 === 6) {
        child.send({ seq: seq++ }, server);
        // Sending a handle hands reading to the I/O thread at once (its ACK must be read).
        observe();
      } else {
        child.send({ seq: seq++ });
      }
      waitFor = seq - 1;
      stepNo = i;
    };
    let stepNo = 0;
    child.on('message', (m) => {
      seqs.push(m.seq);
      if (m.got) got.push(m.got);
      observe();
      if (m.seq === waitFor) step(stepNo + 1);
    });
    child.on('exit', () => reject(new Error('the child exited')));
    step(0);
  });
}

// What the conversation must bring back: every seq in order, and a reply per handle sent.
function expected() {
  let n = 0;
  let handles = 0;
  for (let i = 0; i < STEPS; i++) {
    if (i % 11 === 10) n += BURST;
    else {
      n++;
      if (i % 7 === 6) handles++;
    }
  }
  return { seqs: Array.from({ length: n }, (_, i) => i), got: Array(handles).fill('Server') };
}

describe('reading moves between the JS thread and the I/O thread', () => {
  for (const impl of IMPLS) {
    it(`${impl.name}: a conversation mixing replies, handles and floods: every reply once, in order`, async (t) => {
      const server = net.createServer();
      await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
      t.after(() => server.close());
      const child = forkTracked(t, impl, '-e', [CHILD]);
      const readers = new Set();
      const ours = impl.isNode ? null : require('native-cluster');
      const observe = ours
        ? () => readers.add(ours.engineStats().channels.find((c) => c.pid === child.pid).reader)
        : undefined;
      assert.deepEqual(await converse(child, server, observe), expected());
      // Both threads read this channel (a handle moves it to the I/O thread until its ACK;
      // replies after a write bring it back).
      if (ours) assert.deepEqual([...readers].sort(), ['io', 'js']);
    });
  }

  // Node emits a reply in the poll phase of the loop turn that reads it; ours reads in that
  // phase and calls JS from a check handle run before Node's own setImmediate callbacks.
  for (const impl of IMPLS) {
    it(`${impl.name}: a reply that came while JS was busy is emitted before the setImmediate callbacks queued meanwhile`,
      { skip: impl.skip }, async (t) => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nc-order-'));
        t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
        const mark = path.join(dir, 'sent');
        // Replies, then notes (once the reply is in the socket) which seq it answered.
        const child = forkTracked(t, impl, '-e', [`const fs = require('node:fs');
          process.on('message', (m) => process.send({ seq: m.seq }, () => fs.writeFileSync(process.argv[1], String(m.seq))));`, mark]);
        child.send({ seq: 0 });
        await next(child, 'message');
        const order = [];
        const done = new Promise((resolve) => child.once('message', () => {
          order.push('message');
          setImmediate(resolve);
        }));
        setTimeout(() => {
          child.send({ seq: 1 });
          setImmediate(() => order.push('immediate'));
          // Busy until the reply is waiting in the socket.
          const deadline = Date.now() + 20000;
          while (Date.now() < deadline && !(fs.existsSync(mark) && fs.readFileSync(mark, 'utf8') === '1'));
        }, 0);
        await done;
        assert.deepEqual(order, ['message', 'immediate']);
      });
  }

  it('ours: a JS thread blocked while its thread reads the channel: nothing is read or lost meanwhile',
    { skip: OURS_IMPL.skip }, async (t) => {
      const ours = require('native-cluster');
      const child = forkTracked(t, OURS_IMPL, '-e', [CHILD]);
      const stats = () => ours.engineStats().channels.find((c) => c.pid === child.pid);
      child.send({ seq: 0 });
      await next(child, 'message');
      assert.equal(stats().reader, 'js');
      const bytesIn = stats().bytesIn;
      // Asked for a reply, then blocked: the reply waits in the socket, as with Node.
      child.send({ seq: 1 });
      const until = Date.now() + 200;
      while (Date.now() < until);
      assert.equal(stats().bytesIn, bytesIn);
      const [reply] = await next(child, 'message');
      assert.deepEqual(reply, { seq: 1 });
    });
});

// A worker thread's channels are read on the worker's own loop; a worker that ends with a
// conversation going on closes its channels (and the watches on its loop) without harm.
describe('reading on a worker thread [ours]', { skip: OURS_IMPL.skip || OURS_IMPL.isNode }, () => {
  const WORKER = `
    const { parentPort, workerData } = require('node:worker_threads');
    const cp = require(workerData.root);
    const child = cp.fork('-e', [workerData.child + ';process.on("disconnect", () => process.exit(0))']);
    const seqs = [];
    let n = 0;
    child.on('message', (m) => {
      seqs.push(m.seq);
      if (workerData.endless || ++n < 200) child.send({ seq: seqs.length });
      else if (n === 200) child.send({ burst: 300, from: 200 });
      if (seqs.length === 500) parentPort.postMessage({ seqs, pid: child.pid });
      if (workerData.endless && seqs.length === 50) parentPort.postMessage({ pid: child.pid });
    });
    child.send({ seq: 0 });`;
  const ROOT = path.join(__dirname, '..');
  // Each open descriptor with what it is.
  const openFds = () => fs.readdirSync('/proc/self/fd').map((fd) => {
    try {
      return `${fd} ${fs.readlinkSync(`/proc/self/fd/${fd}`)}`;
    } catch {
      return fd; // the directory's own descriptor, gone by now
    }
  });

  it('a worker thread converses with its child: every reply in order', async () => {
    const worker = new Worker(WORKER, { eval: true, workerData: { root: ROOT, child: CHILD } });
    const [{ seqs }] = await next(worker, 'message');
    assert.deepEqual(seqs, Array.from({ length: 500 }, (_, i) => i));
    await worker.terminate();
  });

  it('a worker terminated mid-conversation: its channel closes, its child sees it, no descriptor is left', async () => {
    const before = openFds();
    const worker = new Worker(WORKER, { eval: true, workerData: { root: ROOT, child: CHILD, endless: true } });
    const [{ pid }] = await next(worker, 'message');
    await worker.terminate();
    // The child exits once it sees its channel close.
    const until = Date.now() + 10000;
    const alive = () => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    while (alive() && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(alive(), false);
    // Nothing it opened is left (what was open before may have closed meanwhile).
    const extra = () => openFds().filter((fd) => !before.includes(fd));
    while (extra().length > 0 && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 20));
    assert.deepEqual(extra(), []);
  });
});
