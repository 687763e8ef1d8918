'use strict';
// SCHED_REUSEPORT (ours, Linux): each worker gets a socket of its own, bound with SO_REUSEPORT
// to the same address, and listens on it; the kernel spreads connections across them. The
// primary keeps no copy, so a worker that leaves takes its socket (and only its own queue of
// connections) with it.
const { binding, nodeError } = require('../native');
const { streamWrap } = require('../handles');
const { UV_TCP_IPV6ONLY } = require('./messages');

class ReusePortHandle {
  constructor(key, address, { port, flags }) {
    this.key = key;
    this.workers = new Map();
    this.address = address == null ? null : address;
    // Port 0: whatever the first socket got, for all the others.
    this.port = port;
    this.ipv6Only = Boolean(flags & UV_TCP_IPV6ONLY);
  }

  add(worker, reply) {
    this.workers.set(worker.id, worker);
    let fd;
    try {
      fd = binding.reusePortSocket(this.address, this.port, this.ipv6Only);
    } catch (err) {
      reply(nodeError(err).errno, null);
      return;
    }
    const wrap = streamWrap(fd.raw);
    if (typeof wrap === 'number') {
      fd.close();
      reply(wrap, null);
      return;
    }
    fd.release();
    if (this.port === 0) {
      const bound = {};
      wrap.getsockname(bound);
      this.port = bound.port;
    }
    // Sending duplicates the descriptor; this process lets go of its own at once.
    reply(0, null, wrap);
    wrap.close();
  }

  has(worker) {
    return this.workers.has(worker.id);
  }

  // Each worker holds its own socket; a successor primary binds its own alongside.
  listenerFd() {
    return -1;
  }

  remove(worker) {
    return this.workers.delete(worker.id) && this.workers.size === 0;
  }
}

module.exports = { ReusePortHandle };
