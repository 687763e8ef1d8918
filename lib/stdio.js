'use strict';
// Normalises the `stdio` option as Node's getValidStdio does, into what the engine needs.
const util = require('node:util');
const { codes } = require('./errors');

function stdioStringToArray(stdio, channel) {
  const list = [];
  switch (stdio) {
    case 'ignore':
    case 'overlapped':
    case 'pipe':
      list.push(stdio, stdio, stdio);
      break;
    case 'inherit':
      list.push(0, 1, 2);
      break;
    default:
      throw codes.ERR_INVALID_ARG_VALUE('stdio', stdio);
  }
  if (channel) list.push(channel);
  return list;
}

// The libuv handle inside a stream (a net.Socket's pipe or TCP wrap), if it has an fd.
function handleOf(value) {
  const handle = value._handle || value.handle;
  return handle && typeof handle.fd === 'number' && handle.fd >= 0 ? handle : undefined;
}

// Returns { entries: [{ kind: 'pipe'|'ipc'|'ignore'|'fd', fd, input?, stream? }], ipcIndex }.
// `sync`: for spawnSync, where an IPC channel cannot work and a string or buffer entry at fd 0
// is its input.
function normalizeStdio(stdio, sync = false) {
  if (typeof stdio === 'string') stdio = stdioStringToArray(stdio);
  else if (!Array.isArray(stdio)) throw codes.ERR_INVALID_ARG_VALUE('stdio', stdio);
  // Node pads to three entries, in the caller's array itself.
  while (stdio.length < 3) stdio.push(undefined);
  let ipcIndex = -1;
  const entries = stdio.map((s, i) => {
    if (s == null) s = i < 3 ? 'pipe' : 'ignore';
    if (s === 'ignore') return { kind: 'ignore', fd: -1 };
    if (s === 'pipe' || s === 'overlapped') return { kind: 'pipe', fd: -1 };
    if (s === 'ipc') {
      if (sync) throw codes.ERR_IPC_SYNC_FORK();
      if (ipcIndex !== -1) throw codes.ERR_IPC_ONE_PIPE();
      ipcIndex = i;
      return { kind: 'ipc', fd: -1 };
    }
    if (s === 'inherit') return { kind: 'fd', fd: i };
    if (typeof s === 'number') return { kind: 'fd', fd: s };
    if (s !== null && typeof s === 'object') {
      if (typeof s.fd === 'number') return { kind: 'fd', fd: s.fd };
      // A stream over a handle: the child gets its fd and the parent stops reading it.
      const handle = handleOf(s);
      if (handle) return { kind: 'fd', fd: handle.fd, stream: s };
    }
    if (typeof s === 'string' || ArrayBuffer.isView(s)) {
      if (!sync) throw codes.ERR_INVALID_SYNC_FORK_INPUT(util.inspect(s));
      // Node writes such input to stdin only; elsewhere the entry is an output pipe.
      return i === 0 ? { kind: 'pipe', fd: -1, input: s } : { kind: 'pipe', fd: -1 };
    }
    throw codes.ERR_INVALID_ARG_VALUE('stdio', s);
  });
  return { entries, ipcIndex };
}

// Node's rule for a stream handed to a child: the parent stops reading from it, so what
// arrives there is the child's.
function stopReading(entries) {
  for (const { stream } of entries) {
    if (!stream) continue;
    const handle = handleOf(stream);
    if (handle && typeof handle.readStop === 'function') {
      handle.reading = false;
      handle.readStop();
    }
    if (typeof stream.pause !== 'function') continue;
    stream.pause();
    stream.readableFlowing = false;
    if (stream._readableState) stream._readableState.reading = false;
  }
}

module.exports = { stdioStringToArray, normalizeStdio, stopReading };
