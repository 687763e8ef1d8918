'use strict';
// SCHED_REUSEPORT (ours, Linux): each worker gets a socket of its own, bound with SO_REUSEPORT
// to the same address, and listens on it; the kernel spreads connections across them. The
// primary keeps no copy, so a worker that leaves takes its socket (and only its own queue of
// connections) with it.
const { binding } = require('../native');
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
    const fd = binding.reusePortSocket(this.address, this.port, this.ipv6Only);
    if (fd < 0) {
      reply(fd, null);
      return;
    }
    const wrap = streamWrap(fd);
    if (typeof wrap === 'number') {
      binding.closeFd(fd);
      reply(wrap, null);
      return;
    }
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

  remove(worker) {
    return this.workers.delete(worker.id) && this.workers.size === 0;
  }
}

module.exports = { ReusePortHandle };
