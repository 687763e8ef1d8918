'use strict';
// serialization: 'advanced': V8-serialised, length-prefixed frames. Differential against
// node:child_process (values that arrive, the exact bytes a parent writes, internal messages),
// then ours only: garbage frames from a child never crash the parent.
const { describe } = require('node:test');
const assert = require('node:assert/strict');
const util = require('node:util');
const v8 = require('node:v8');
const { it, itSame, IMPLS, OURS_IMPL, fixture, forkTracked, spawnTracked, next, readAll } = require('./helpers');

const CHILD = fixture('advanced-child.js');

// A child with the channel at fd 3 but no Node channel of its own: it sees raw bytes.
function spawnRaw(t, impl, frames, options = {}) {
  const child = spawnTracked(t, impl, '/bin/sh', ['-c', 'unset NODE_CHANNEL_FD; exec "$0" "$@"', process.execPath,
    CHILD, 'raw'], { stdio: ['pipe', 'pipe', 'inherit', 'ipc'], serialization: 'advanced', ...options });
  child.stdin.end(Buffer.concat(frames));
  return child;
}

// A frame as a Node child writes it, for values without typed arrays (those are host objects
// in Node's format, which v8.serialize writes differently).
function frame(value) {
  const payload = v8.serialize(value);
  const header = Buffer.alloc(4);
  header.writeUInt32BE(payload.length);
  return Buffer.concat([header, payload]);
}

function lengthFrame(length, payload = Buffer.alloc(0)) {
  const header = Buffer.alloc(4);
  header.writeUInt32BE(length);
  return Buffer.concat([header, payload]);
}

function values() {
  const circular = { name: 'loop' };
  circular.self = circular;
  const sparse = [1, , 3]; // eslint-disable-line no-sparse-arrays
  sparse.extra = 'prop';
  return [
    { kept: undefined, n: null, t: true, f: false, i: -3, big: 2 ** 31, d: 1.5, nan: NaN, neg0: -0 },
    'plain', 'é latin1', 'two-byte 😀 \u2028', '', 0, 42, -1e300, true,
    { bigints: [12345678901234567890n, -5n] },
    new Date(86400000), /a+b/gimsuy,
    new Map([[1, 'one'], ['k', { nested: [1, 2] }]]), new Set([1, 'a', null]),
    Buffer.from('a Buffer'), new Uint8Array([1, 2, 255]), new Int8Array([-1, 2]), new Uint8ClampedArray([300 & 255]),
    new Int16Array([-300]), new Uint16Array([65535]), new Int32Array([-1 << 30]), new Uint32Array([2 ** 32 - 1]),
    new Float32Array([0.5]), new Float64Array([Math.PI]), new BigInt64Array([-(2n ** 63n)]),
    new BigUint64Array([2n ** 64n - 1n]), new DataView(new Uint8Array([9, 8, 7]).buffer),
    Buffer.from('offset view').subarray(3, 7),
    { buffers: [Buffer.from('x'), Buffer.from('y')], map: new Map([[{ k: 1 }, new Set([2n])]]) },
    circular, sparse, [[[]]], { 1: 'int key', a: 'string key' },
    new (class Custom { constructor() { this.x = 1; } })(),
  ];
}

// A value as plain data to compare: typed arrays by type and bytes (not by the buffer they
// happen to share), objects by their own entries whatever their prototype.
function canon(v, seen = new Set()) {
  if (typeof v !== 'object' || v === null) return typeof v === 'bigint' ? `${v}n` : v;
  if (seen.has(v)) return '[Circular]';
  seen.add(v);
  if (ArrayBuffer.isView(v)) {
    return [v.constructor.name, Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex')];
  }
  if (v instanceof Date || v instanceof RegExp) return [v.constructor.name, String(v)];
  if (v instanceof Map || v instanceof Set) return [v.constructor.name, [...v].map((e) => canon(e, seen))];
  const tag = Array.isArray(v) ? 'Array' : 'Object';
  return [tag, Object.keys(v).map((k) => [k, canon(v[k], seen)])];
}

const describeValue = (v) => util.inspect(canon(v), { depth: Infinity });

for (const impl of IMPLS) {
  describe(`advanced serialization [${impl.name}]`, { skip: impl.skip }, () => {
    itSame(impl, 'every type survives a round trip through an unmodified Node child', async (t, impl) => {
      const child = forkTracked(t, impl, CHILD, ['echo'], { serialization: 'advanced' });
      const sent = values();
      const got = [];
      const all = new Promise((resolve) => child.on('message', (m) => got.push(m) === sent.length && resolve()));
      for (const v of sent) child.send(v);
      await all;
      child.disconnect();
      await next(child, 'exit');
      return {
        got: got.map(describeValue),
        types: got.map((v) => Object.prototype.toString.call(v)),
        protos: got.map((v) => v !== null && typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype),
      };
    }, (o) => {
      assert.deepEqual(o.got, values().map(describeValue));
      // A class instance arrives as a plain object.
      assert.equal(o.protos.at(-1), true);
    });

    itSame(impl, 'a message of 4 × 8 MiB buffers', async (t, impl) => {
      const child = forkTracked(t, impl, CHILD, ['echo'], { serialization: 'advanced' });
      const bufs = [0, 1, 2, 3].map((i) => Buffer.alloc(8 << 20, i + 1));
      const p = next(child, 'message');
      child.send({ bufs });
      const [back] = await p;
      child.disconnect();
      await next(child, 'exit');
      return back.bufs.map((b) => [Buffer.isBuffer(b), b.length, b.equals(bufs[back.bufs.indexOf(b)])]);
    }, (o) => assert.deepEqual(o, [0, 1, 2, 3].map(() => [true, 8 << 20, true])));

    itSame(impl, 'the parent writes the same bytes as Node', async (t, impl) => {
      const child = spawnRaw(t, impl, []);
      const dump = readAll(child.stdout);
      for (const v of values()) child.send(v);
      child.send({ cmd: 'NODE_SOMETHING', x: [1] });
      // Node never emits 'close' after the parent's disconnect() (nodejs/node#19433).
      const exited = next(child, 'exit');
      child.disconnect();
      await exited;
      return await dump;
    }, (hex) => assert.ok(hex.length > 1000));

    itSame(impl, 'internal messages from the child are internalMessage events, not messages', async (t, impl) => {
      const child = spawnRaw(t, impl, [
        frame('m0'), frame({ cmd: 'NODE_UNKNOWN', x: 1 }), frame({ cmd: 'NODE_' }), frame({ cmd: 'fooNODE_X' }),
        frame('m1'),
      ]);
      const log = [];
      child.on('message', (m) => log.push(['message', m]));
      child.on('internalMessage', (m) => log.push(['internal', m]));
      await new Promise((resolve) => child.on('message', (m) => m === 'm1' && resolve()));
      const exited = next(child, 'exit');
      child.disconnect();
      await exited;
      return log;
    }, (log) => assert.deepEqual(log, [
      ['message', 'm0'], ['internal', { cmd: 'NODE_UNKNOWN', x: 1 }], ['message', { cmd: 'NODE_' }],
      ['message', { cmd: 'fooNODE_X' }], ['message', 'm1'],
    ]));
  });
}

describe('advanced serialization: garbage from the child [ours]', { skip: OURS_IMPL.skip }, () => {
  const impl = OURS_IMPL;
  const CASES = [
    // [name, frames between m0 and m1, expected errors, fork options]
    ['not V8 data', [lengthFrame(3, Buffer.from([0xff, 0x0f, 0x99]))], [['ERR_IPC_INVALID_MESSAGE', 'v8']]],
    ['an empty payload', [lengthFrame(0)], [['ERR_IPC_INVALID_MESSAGE', 'v8']]],
    ['a truncated value', [lengthFrame(2, Buffer.from([0xff, 0x0f]))], [['ERR_IPC_INVALID_MESSAGE', 'v8']]],
    ['a frame over maxFrameSize', [lengthFrame(2 << 20, Buffer.alloc(2 << 20, 0x41))], [['ERR_IPC_FRAME_TOO_LARGE']],
      { maxFrameSize: 1 << 20 }],
    ['an unsolicited NODE_HANDLE_ACK', [frame({ cmd: 'NODE_HANDLE_ACK' })], [['ERR_IPC_UNEXPECTED_ACK']]],
    ['an unsolicited NODE_HANDLE_NACK', [frame({ cmd: 'NODE_HANDLE_NACK' })], [['ERR_IPC_UNEXPECTED_ACK']]],
    ['a NODE_HANDLE without a handle', [frame({ cmd: 'NODE_HANDLE', type: 'net.Socket', msg: 'x' })],
      [['ERR_IPC_MISSING_HANDLE']]],
  ];
  for (const [name, garbage, errors, options] of CASES) {
    it(`${name}: reported, and the frames around it are delivered`, async (t) => {
      const child = spawnRaw(t, impl, [frame('m0'), ...garbage, frame('m1')], options);
      const dump = readAll(child.stdout);
      const log = [];
      child.on('message', (m) => log.push(['message', m]));
      child.on('error', (e) => log.push(['error', e.code, ...(e.reason ? [e.reason] : [])]));
      await new Promise((resolve) => child.on('message', (m) => m === 'm1' && resolve()));
      child.send('after');
      child.disconnect();
      await next(child, 'close');
      assert.deepEqual(log, [['message', 'm0'], ...errors.map((e) => ['error', ...e]), ['message', 'm1']]);
      // The child read exactly one NACK per handle frame, then the parent's message.
      const nacks = garbage.some((f) => f.includes('NODE_HANDLE\x22', 0, 'latin1')) ? [frame({ cmd: 'NODE_HANDLE_NACK' })] : [];
      assert.equal(await dump, Buffer.concat([...nacks, frame('after')]).toString('hex'));
    });
  }
});
