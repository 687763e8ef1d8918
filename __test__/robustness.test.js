'use strict';
// Ours only: garbage written by a child to the IPC channel must never crash the parent.
// The ChildProcess emits 'error' (ERR_IPC_INVALID_MESSAGE with reason 'empty' | 'utf8' | 'json',
// ERR_IPC_FRAME_TOO_LARGE, ERR_IPC_UNEXPECTED_ACK), drops the bad frame and keeps delivering
// the valid frames around it, in order. (Node's own parent crashes on all of these, so there is
// no differential run.) The child writes raw bytes to fd 3; see the 'garbage*' modes of
// fixtures/child.js: they write 'm0', <case 0>, 'm1', <case 1>, ..., 'mN'.
const { describe } = require('node:test');
const assert = require('node:assert/strict');
const { it, OURS_IMPL, forkChild, next, collect } = require('./helpers');

const impl = OURS_IMPL;

const CASES = [
  // [case, expected code, expected reason, fork options]
  ['empty', 'ERR_IPC_INVALID_MESSAGE', 'empty'],
  ['utf8', 'ERR_IPC_INVALID_MESSAGE', 'utf8'],
  ['json', 'ERR_IPC_INVALID_MESSAGE', 'json'],
  ['json-truncated', 'ERR_IPC_INVALID_MESSAGE', 'json'],
  ['toolarge', 'ERR_IPC_FRAME_TOO_LARGE', undefined, { maxFrameSize: 1 << 20 }],
  ['ack', 'ERR_IPC_UNEXPECTED_ACK'],
  ['nack', 'ERR_IPC_UNEXPECTED_ACK'],
];

// Forks a garbage child and logs messages and errors in one ordered list.
function forkLogged(t, args, options) {
  const child = forkChild(t, impl, args, options);
  const log = [];
  child.on('message', (m) => log.push(['message', m]));
  child.on('error', (e) => log.push(['error', e.code, e.reason, e instanceof Error]));
  return { child, log };
}

// Waits until the message `last` arrived, then proves the channel still works both ways.
async function settle(child, log, last) {
  if (!log.some((e) => e[0] === 'message' && e[1] === last)) {
    await new Promise((resolve) => {
      child.on('message', function on(m) {
        if (m === last) {
          child.removeListener('message', on);
          resolve();
        }
      });
    });
  }
  const p = next(child, 'message');
  child.send('later');
  assert.deepEqual((await p)[0], 'later');
  assert.equal(child.connected, true);
}

async function finish(child) {
  child.disconnect();
  await next(child, 'exit');
}

describe('robustness [ours]', { skip: impl.skip }, () => {
  for (const [kase, code, reason, options] of CASES) {
    for (const mode of ['garbage', 'garbage-separate']) {
      const how = mode === 'garbage' ? 'in one write' : 'in separate writes';
      it(`${kase} ${how} -> ${code}${reason ? ` (${reason})` : ''}, neighbours delivered`, async (t) => {
        const { child, log } = forkLogged(t, [mode, kase], options);
        await settle(child, log, 'm1');
        const messages = log.filter((e) => e[0] === 'message').map((e) => e[1]);
        const errors = log.filter((e) => e[0] === 'error');
        assert.deepEqual(messages, ['m0', 'm1', 'later']);
        assert.deepEqual(errors, [['error', code, reason, true]]);
        await finish(child);
      });
    }
  }

  it('errors are reported in stream order between the messages', async (t) => {
    const kases = CASES.map((c) => c[0]);
    const { child, log } = forkLogged(t, ['garbage', ...kases], { maxFrameSize: 1 << 20 });
    const last = `m${kases.length}`;
    await settle(child, log, last);
    const expected = [['message', 'm0']];
    CASES.forEach(([, code, reason], i) => {
      expected.push(['error', code, reason, true], ['message', `m${i + 1}`]);
    });
    expected.push(['message', 'later']);
    assert.deepEqual(log, expected);
    await finish(child);
  });

  it('many garbage frames in a row: every valid frame still arrives in order', async (t) => {
    const kases = [];
    for (let i = 0; i < 50; i++) kases.push(CASES[i % CASES.length][0]);
    const { child, log } = forkLogged(t, ['garbage', ...kases], { maxFrameSize: 1 << 20 });
    await settle(child, log, `m${kases.length}`);
    const messages = log.filter((e) => e[0] === 'message').map((e) => e[1]);
    assert.deepEqual(messages, [...Array.from({ length: kases.length + 1 }, (_, i) => `m${i}`), 'later']);
    assert.equal(log.filter((e) => e[0] === 'error').length, kases.length);
    await finish(child);
  });

  it('an unknown internal message is ignored: no message, no error', async (t) => {
    const { child, log } = forkLogged(t, ['garbage', 'internal']);
    await settle(child, log, 'm1');
    assert.deepEqual(log, [['message', 'm0'], ['message', 'm1'], ['message', 'later']]);
    await finish(child);
  });

  it('a multi-byte character split across writes is not an error', async (t) => {
    const { child, log } = forkLogged(t, ['split-utf8']);
    await settle(child, log, 'after');
    assert.deepEqual(log, [['message', '\u00e9\u2028\ud83d\ude00'], ['message', 'after'], ['message', 'later']]);
    await finish(child);
  });

  it('a multi-byte character cut short by a newline in a later write -> utf8', async (t) => {
    const writes = ['"m0"\n', '"\xf0\x9f', '"\n"m1"\n'].map((w) => Buffer.from(w, 'latin1').toString('hex'));
    const { child, log } = forkLogged(t, ['raw', ...writes]);
    await settle(child, log, 'm1');
    assert.deepEqual(log, [
      ['message', 'm0'], ['error', 'ERR_IPC_INVALID_MESSAGE', 'utf8', true], ['message', 'm1'], ['message', 'later'],
    ]);
    await finish(child);
  });

  it('garbage as the very first bytes and a frame split across writes', async (t) => {
    const writes = ['{x\n"m', '0"', '\n\n"m1"\n'].map((w) => Buffer.from(w, 'latin1').toString('hex'));
    const { child, log } = forkLogged(t, ['raw', ...writes]);
    await settle(child, log, 'm1');
    assert.deepEqual(log, [
      ['error', 'ERR_IPC_INVALID_MESSAGE', 'json', true], ['message', 'm0'],
      ['error', 'ERR_IPC_INVALID_MESSAGE', 'empty', true], ['message', 'm1'], ['message', 'later'],
    ]);
    await finish(child);
  });

  it('a frame below maxFrameSize is delivered', async (t) => {
    const n = 512 * 1024; // < 1 MiB of UTF-8 with the pattern's multi-byte characters
    const { child, log } = forkLogged(t, ['big', String(n)], { maxFrameSize: 1 << 20 });
    const [msg] = await next(child, 'message');
    assert.equal(msg.length, n);
    assert.deepEqual(log.filter((e) => e[0] === 'error'), []);
    await finish(child);
  });

  it('a healthy child is unaffected while another one sends garbage', async (t) => {
    const bad = forkLogged(t, ['garbage-loop']);
    const good = forkLogged(t, ['echo']);
    // wait until the bad child has produced some garbage
    await collect(bad.child, 'error', 10);
    const N = 2000;
    const got = collect(good.child, 'message', N);
    for (let i = 0; i < N; i++) good.child.send(i);
    assert.deepEqual(await got, Array.from({ length: N }, (_, i) => i));
    assert.deepEqual(good.log.filter((e) => e[0] === 'error'), []);
    // the bad child's valid frames g0, g1, ... arrived in order, none lost
    bad.child.disconnect();
    await next(bad.child, 'exit');
    const gs = bad.log.filter((e) => e[0] === 'message').map((e) => e[1]);
    assert.ok(gs.length > 0);
    assert.deepEqual(gs, Array.from({ length: gs.length }, (_, i) => `g${i}`));
    // every garbage chunk holds 3 bad frames: '{nope', '', '\xff'
    const errs = bad.log.filter((e) => e[0] === 'error');
    assert.ok(errs.every((e) => e[1] === 'ERR_IPC_INVALID_MESSAGE'));
    assert.ok(errs.length >= 3 * (gs.length - 1), `${errs.length} errors for ${gs.length} chunks`);
    await finish(good.child);
  });
});
