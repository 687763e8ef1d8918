'use strict';
// Loaded into every worker (with `--require`) whose stdout and stderr are pipes the primary's
// engine pumps (logs.js). Node writes to a pipe through a net.Socket: asynchronously, and into
// the worker's own memory once the pipe is full. Here, as Node does for a file, process.stdout
// and process.stderr write straight to the fd, synchronously: less work per console.log, and a
// slow log sink blocks the worker in write(2) (back-pressure) instead of growing it.
const fs = require('node:fs');
const { Writable } = require('node:stream');

// A descendant sharing the pipe may have made it non-blocking: then a full pipe is waited out.
const pause = new Int32Array(new SharedArrayBuffer(4));

function writeAll(fd, data) {
  let buf = data;
  for (;;) {
    let n;
    try {
      n = fs.writeSync(fd, buf);
    } catch (err) {
      if (err.code !== 'EAGAIN') throw err;
      Atomics.wait(pause, 0, 0, 1);
      n = 0;
    }
    const length = typeof buf === 'string' ? Buffer.byteLength(buf) : buf.length;
    if (n >= length) return;
    if (typeof buf === 'string') buf = Buffer.from(buf);
    buf = buf.subarray(n);
  }
}

class PipeSyncStream extends Writable {
  constructor(fd) {
    super({ decodeStrings: false });
    this.fd = fd;
    this.isTTY = false;
    this._type = 'fs';
    this._isStdio = true;
  }

  _write(chunk, encoding, cb) {
    try {
      writeAll(this.fd, typeof chunk === 'string' && encoding !== 'utf8' ? Buffer.from(chunk, encoding) : chunk);
    } catch (err) {
      return cb(err);
    }
    cb();
  }

  // Never closes the fd (as Node's stdio streams).
  _destroy(err, cb) {
    cb(err);
  }
}

for (const [name, fd] of [['stdout', 1], ['stderr', 2]]) {
  let stat;
  try {
    stat = fs.fstatSync(fd);
  } catch {
    continue;
  }
  if (!stat.isFIFO()) continue;
  let stream = null;
  Object.defineProperty(process, name, {
    configurable: true,
    enumerable: true,
    get() {
      if (stream === null) stream = new PipeSyncStream(fd);
      return stream;
    },
  });
}
