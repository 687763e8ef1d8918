'use strict';
// Read backpressure: what the engine reads from a child and JS has not taken is bounded, so a
// child faster than its parent backs up (its send() returns false) as it does with Node, and
// the parent's memory stays bounded; replies the engine itself awaits (a handle's ACK) are
// read all the same.
const { describe } = require('node:test');
const assert = require('node:assert/strict');
const net = require('node:net');
const { execFile } = require('node:child_process');
const { it, IMPLS, NODE_IMPL, OURS_IMPL, fixture, forkTracked } = require('./helpers');

// Runs fixtures/slow-parent.js in a process of its own (its peak RSS is the measure).
function slowParent(impl, count, busyMs) {
  return new Promise((resolve, reject) => {
    const args = [fixture('slow-parent.js'), impl.isNode ? 'node' : 'ours', String(count), String(busyMs)];
    execFile(process.execPath, args, { maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
      if (err) reject(Object.assign(err, { stderr }));
      else resolve(JSON.parse(stdout));
    });
  });
}

function busy(ms) {
  const until = Date.now() + ms;
  while (Date.now() < until);
}

describe('read backpressure', () => {
  // Node's run of the slow parent, taken once per run: its own test's, or ours' when Node's
  // suite is not run.
  let nodeRun = null;
  const runNode = () => (nodeRun ??= slowParent(NODE_IMPL, 256, 5));

  for (const impl of IMPLS) {
    it(`${impl.name}: a child sending 256 MiB to a slow parent: every message in order, its send() returns false`,
      { timeout: 120000 }, async () => {
        const r = await (impl === NODE_IMPL ? runNode() : slowParent(impl, 256, 5));
        assert.equal(r.received, 256);
        assert.equal(r.inOrder, true);
        assert.ok(r.refused > 0, `the child's send() never returned false (${JSON.stringify(r)})`);
        if (!impl.isNode) {
          // A memory bound is a correctness property: the engine must not read what JS has
          // not taken without limit. The parent's own garbage (1 MiB strings) grows its heap
          // with either implementation, so ours is held to Node's growth + 32 MiB.
          const node = await runNode();
          const grew = r.peak - r.base;
          const nodeGrew = node.peak - node.base;
          assert.ok(grew <= nodeGrew + 32, `peak RSS grew ${grew} MiB, Node's ${nodeGrew} MiB`);
        }
      });
  }

  const ours = () => require('native-cluster');
  const channelOf = (child) => ours().engineStats().channels.find((c) => c.pid === child.pid);
  // Spins (JS taking nothing) until `done()` or 10 s; says whether `done()` came true. Bounded,
  // as a test timeout cannot fire while the event loop is blocked.
  const spinUntil = (done) => {
    const until = Date.now() + 10000;
    while (!done() && Date.now() < until) busy(1);
    return done();
  };

  // Bytes the engine reads stop growing (checked every 100 ms of spinning, within 10 s).
  const settled = (child) => {
    let last = -1;
    return spinUntil(() => {
      const { bytesIn } = channelOf(child);
      if (bytesIn === last) return true;
      last = bytesIn;
      busy(100);
      return false;
    });
  };

  it('ours: while JS is behind, what was read and not taken stays bounded; reading resumes once JS takes it',
    { skip: OURS_IMPL.skip }, async (t) => {
      const child = forkTracked(t, OURS_IMPL, fixture('flood-child.js'));
      await new Promise((resolve) => child.once('message', resolve));
      const count = 400;
      let next = 0;
      let settledWhileBehind = false;
      const done = new Promise((resolve, reject) => {
        child.on('message', (m) => {
          if (m.done) return resolve();
          if (m.seq !== next++) reject(new Error(`message ${m.seq} arrived as #${next - 1}`));
          if (m.seq === 0) {
            // JS takes nothing while this runs. The JS thread reads this channel while it is
            // idle, so nothing more is read (the child backs up, as with Node); if the I/O
            // thread has taken reading over (a flood), it reads up to its bound and stops.
            settledWhileBehind = settled(child);
            const { unreadBytes, readPaused } = channelOf(child);
            assert.ok(unreadBytes <= 3 << 20, `unread ${unreadBytes}`);
            assert.equal(readPaused, unreadBytes >= 1 << 20, `unread ${unreadBytes}, paused ${readPaused}`);
          }
        });
      });
      child.send({ cmd: 'flood', count, size: 64 << 10 });
      await done;
      assert.equal(settledWhileBehind, true);
      assert.equal(next, count);
      assert.equal(channelOf(child).readPaused, false);
    });

  it('ours: a handle sent to a child flooding a parent that is behind gets its ACK; what is read stays bounded',
    { skip: OURS_IMPL.skip }, async (t) => {
      const child = forkTracked(t, OURS_IMPL, fixture('flood-child.js'));
      await new Promise((resolve) => child.once('message', resolve));
      const server = net.createServer();
      await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
      t.after(() => server.close());
      let got = null;
      let ackedWhileBehind = false;
      let settledWhileBehind = false;
      let unreadWhileBehind = 0;
      const done = new Promise((resolve) => {
        child.on('message', (m) => {
          if (m.got) got = m.got;
          if (m.done) return resolve();
          if (m.seq !== 0) return;
          // JS takes nothing from here, yet the child's ACK is read (the I/O thread reads the
          // channel while a handle is in flight)...
          child.send({ type: 'server' }, server);
          ackedWhileBehind = spinUntil(() => !channelOf(child).handleInFlight);
          // ...and what is read meanwhile stays bounded.
          settledWhileBehind = settled(child);
          unreadWhileBehind = channelOf(child).unreadBytes;
        });
      });
      child.send({ cmd: 'flood', count: 400, size: 64 << 10, polite: true });
      await done;
      assert.equal(ackedWhileBehind, true);
      assert.equal(settledWhileBehind, true);
      assert.ok(unreadWhileBehind <= 17 << 20, `unread ${unreadWhileBehind}`);
      assert.equal(got, 'server');
    });
});

describe('read backpressure and round-robin', () => {
  it('ours: a worker flooding a primary that is behind still receives connections', { skip: OURS_IMPL.skip },
    async (t) => {
      const { spawn } = require('node:child_process');
      const primary = spawn(process.execPath, [fixture('flooded-primary.js')], { stdio: ['pipe', 'pipe', 'inherit'] });
      t.after(() => primary.kill());
      const exited = new Promise((resolve) => primary.on('exit', resolve));
      const { port } = await new Promise((resolve) => {
        let out = '';
        primary.stdout.on('data', (d) => {
          out += d;
          if (out.includes('\n')) resolve(JSON.parse(out));
        });
      });
      // The primary's JS thread is blocked from here on, and reads from the worker paused.
      for (let i = 0; i < 5; i++) {
        const reply = await new Promise((resolve, reject) => {
          let text = '';
          net.connect(port, '127.0.0.1').setEncoding('utf8').on('data', (d) => (text += d))
            .on('end', () => resolve(text)).on('error', reject);
        });
        assert.equal(reply, 'w1');
      }
      primary.stdin.end('done\n');
      assert.equal(await exited, 0);
    });
});
