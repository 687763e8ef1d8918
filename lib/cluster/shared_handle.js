'use strict';
// SCHED_NONE (and every UDP socket): the primary binds one socket and sends it to each worker,
// which listens on it itself; the kernel spreads the connections.
const net = require('node:net');
const os = require('node:os');
const { newUdpWrap } = require('../handles');

class SharedHandle {
  constructor(key, address, { port, addressType, fd, flags }) {
    this.key = key;
    this.workers = new Map();
    this.handle = null;
    this.errno = 0;
    const made = addressType === 'udp4' || addressType === 'udp6'
      ? udpHandle(address, port, addressType, fd, flags)
      : net._createServerHandle(address, port, addressType, fd, flags);
    if (typeof made === 'number') this.errno = made;
    else this.handle = made;
    // libuv reports a TCP bind's EADDRINUSE only at listen(): the socket comes back unbound.
    // The worker is told the error rather than sent a socket on some other port.
    if (this.handle && Number(port) > 0 && !(fd >= 0) && addressType !== 'udp4' && addressType !== 'udp6') {
      const bound = {};
      this.handle.getsockname(bound);
      if (bound.port !== Number(port)) {
        this.handle.close();
        this.handle = null;
        this.errno = -os.constants.errno.EADDRINUSE;
      }
    }
  }

  add(worker, reply) {
    this.workers.set(worker.id, worker);
    reply(this.errno, null, this.handle);
  }

  has(worker) {
    return this.workers.has(worker.id);
  }

  listenerFd() {
    return this.handle ? this.handle.fd : -1;
  }

  // Returns true when the last worker has left and the socket is closed.
  remove(worker) {
    if (!this.workers.delete(worker.id) || this.workers.size !== 0) return false;
    if (this.handle) this.handle.close();
    this.handle = null;
    return true;
  }
}

// What Node's primary makes for a UDP query (node:dgram's _createSocketHandle, whose export is
// deprecated): the worker's fd opened, or the address bound; or a negative errno.
function udpHandle(address, port, addressType, fd, flags) {
  const handle = newUdpWrap(addressType);
  let err = 0;
  if (Number.isInteger(fd) && fd > 0) err = handle.open(fd);
  else if (port || address) err = handle.bind(address, port || 0, flags);
  if (err) {
    handle.close();
    return err;
  }
  return handle;
}

module.exports = { SharedHandle };
