'use strict';
// Normalises the `stdio` option as Node's getValidStdio does, into what the engine needs.
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

// The fd behind a stream or handle a user passes in stdio, if it has one.
function fdOf(value) {
  if (value == null || typeof value !== 'object') return undefined;
  if (typeof value.fd === 'number') return value.fd;
  const handle = value._handle || value.handle;
  if (handle && typeof handle.fd === 'number' && handle.fd >= 0) return handle.fd;
  return undefined;
}

// Returns { entries: [{ kind: 'pipe'|'ipc'|'ignore'|'fd', fd }], ipcIndex }. `sync`: for
// spawnSync, where an IPC channel cannot work.
function normalizeStdio(stdio, sync = false) {
  if (typeof stdio === 'string') stdio = stdioStringToArray(stdio);
  else if (!Array.isArray(stdio)) throw codes.ERR_INVALID_ARG_VALUE('stdio', stdio);
  // Node pads to three entries.
  while (stdio.length < 3) stdio = [...stdio, undefined];
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
    const fd = fdOf(s);
    if (fd !== undefined) return { kind: 'fd', fd };
    throw codes.ERR_INVALID_ARG_VALUE('stdio', s);
  });
  return { entries, ipcIndex };
}

module.exports = { stdioStringToArray, normalizeStdio };
