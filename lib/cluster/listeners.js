'use strict';
// The primary's listening sockets. `handles`: the ones workers listen on, by key. `adopted`:
// sockets this process was handed (systemd's socket activation, or the primary it replaced in
// an upgrade); each serves the address it is bound to, so a worker's listen() there is given
// it instead of a new socket, under every scheduling policy.
const fs = require('node:fs');
const path = require('node:path');
const { binding } = require('../native');

const handles = new Map();
// { fd: ReceivedFd, name, kind: 'tcp'|'udp'|'unix', family, address, port }
const adopted = [];

function adopt(entries) {
  adopted.push(...entries);
}

const WILDCARD = new Set(['0.0.0.0', '::']);

// A worker asking for no address (or a wildcard) is served by a socket on a wildcard address.
function sameHost(asked, bound) {
  return asked == null || WILDCARD.has(asked) ? WILDCARD.has(bound) : asked === bound;
}

// Node names a path in the abstract namespace with a leading NUL, systemd with '@'.
function samePath(asked, bound) {
  if (typeof asked !== 'string') return false;
  if (asked.startsWith('\0')) return bound === `@${asked.slice(1)}`;
  return path.resolve(asked) === bound;
}

// The adopted socket a worker's queryServer message asks for, if any (marked `used`).
function adoptedFor({ addressType, address, port, fd }) {
  if (fd >= 0) return undefined;
  const found = adopted.find((a) => {
    if (a.fd.raw < 0) return false;
    if (addressType === 'udp4' || addressType === 'udp6') {
      return a.kind === 'udp' && a.port === port && sameHost(address, a.address);
    }
    if (port > 0) return a.kind === 'tcp' && a.port === port && sameHost(address, a.address);
    return port < 0 && a.kind === 'unix' && samePath(address, a.address);
  });
  if (found) found.used = true;
  return found;
}

function kindOf(fd) {
  try {
    return binding.socketDescribe(fd).kind;
  } catch {
    return null;
  }
}

// Every listening socket of this process, each once (adopted ones first): what a primary
// upgrade hands to its successor. [{ fd, name }]
// Not a unix socket a worker's listen() bound here: closing it here would remove its path
// (libuv and the engine unlink what they bound) from under the successor.
function listening() {
  const seen = new Set();
  const out = [];
  const add = (fd, name) => {
    if (!(fd >= 0)) return;
    let ino;
    try {
      ino = fs.fstatSync(fd).ino;
    } catch {
      return;
    }
    if (seen.has(ino)) return;
    seen.add(ino);
    out.push({ fd, name });
  };
  for (const a of adopted) add(a.fd.raw, a.name);
  for (const handle of handles.values()) {
    const fd = handle.listenerFd();
    if (fd >= 0 && kindOf(fd) !== 'unix') add(fd, null);
  }
  return out;
}

module.exports = { handles, adopt, adoptedFor, listening };
