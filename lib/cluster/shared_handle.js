'use strict';
// SCHED_NONE (and every UDP socket): the primary binds one socket and sends it to each worker,
// which listens on it itself; the kernel spreads the connections.
const net = require('node:net');
const dgram = require('node:dgram');
const os = require('node:os');

class SharedHandle {
  constructor(key, address, { port, addressType, fd, flags }) {
    this.key = key;
    this.workers = new Map();
    this.handle = null;
    this.errno = 0;
    const made = addressType === 'udp4' || addressType === 'udp6'
      ? dgram._createSocketHandle(address, port, addressType, fd, flags)
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

  // Returns true when the last worker has left and the socket is closed.
  remove(worker) {
    if (!this.workers.delete(worker.id) || this.workers.size !== 0) return false;
    if (this.handle) this.handle.close();
    this.handle = null;
    return true;
  }
}

module.exports = { SharedHandle };
