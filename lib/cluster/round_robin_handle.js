'use strict';
// SCHED_RR: the engine accepts on the primary's listening socket on its own thread and hands
// each connection to the next free worker as a `newconn`, the next one as soon as the worker
// has ACKed the last; it closes its copy once the worker has accepted, and gives a refused one
// to another worker. A busy primary event loop does not hold connections up. This object only
// opens the listener and tells the engine who takes part.
const net = require('node:net');
const { binding, nodeError } = require('../native');
const { ipcChannelOf } = require('../subprocess');
const { codes } = require('../errors');
const { UV_TCP_IPV6ONLY } = require('./messages');

class RoundRobinHandle {
  constructor(key, address, { port, fd, flags, backlog, readableAll, writableAll }) {
    this.key = key;
    this.all = new Map();
    // The engine's group (0 until listening), or the errno listening failed with.
    this.id = 0;
    this.errno = 0;
    this.sockname = null;
    this.server = null;
    // The listening socket as this process holds it (-1 for a unix path the engine bound): what
    // a primary upgrade hands on. A copy of our own for a TCP socket bound here.
    this.fd = fd >= 0 ? fd : -1;
    this.listener = null;
    if (fd >= 0 || !(port >= 0)) {
      // An fd of this process (kept open, as Node does), or a unix socket path bound by the
      // engine (closing a JS pipe server would remove the path).
      if (!(fd >= 0) && typeof address !== 'string') throw codes.ERR_INVALID_ARG_TYPE('address', 'string', address);
      try {
        this.id = fd >= 0
          ? binding.roundRobinStart(fd, backlog | 0, key)
          : binding.roundRobinListenUnix(address, backlog | 0, Boolean(readableAll), Boolean(writableAll), key);
      } catch (err) {
        this.errno = nodeError(err).errno;
      }
      return;
    }
    // TCP: node:net resolves and binds exactly as Node's primary would; the engine takes over
    // the listening socket.
    this.server = net.createServer();
    this.server.once('listening', () => {
      const server = this.server;
      this.server = null;
      // Every worker left while it was being set up: nothing to serve.
      if (this.all.size === 0) {
        server.close();
        return;
      }
      const handle = server._handle;
      this.sockname = {};
      handle.getsockname(this.sockname);
      try {
        this.listener = binding.dupFd(handle.fd);
        this.id = binding.roundRobinStart(handle.fd, backlog | 0, key);
      } catch (err) {
        this.errno = nodeError(err).errno;
      }
      server.close();
    });
    this.server.once('error', (err) => {
      this.errno = err.errno;
      this.server = null;
    });
    this.server.listen({ port, host: address, ipv6Only: Boolean(flags & UV_TCP_IPV6ONLY), backlog });
  }

  add(worker, reply) {
    this.all.set(worker.id, worker);
    const ready = () => {
      if (!this.all.has(worker.id)) return;
      if (this.errno) {
        reply(this.errno, null);
        return;
      }
      reply(null, this.sockname ? { sockname: this.sockname } : null, null);
      // The reply goes out before the worker's first newconn can.
      const channel = ipcChannelOf(worker.process);
      if (channel) {
        channel.flush();
        binding.roundRobinAdd(this.id, channel.id);
      }
    };
    if (this.server === null) ready();
    else {
      this.server.once('listening', ready);
      this.server.once('error', ready);
    }
  }

  has(worker) {
    return this.all.has(worker.id);
  }

  listenerFd() {
    return this.listener ? this.listener.raw : this.fd;
  }

  // Returns true when the last worker has left and the engine has closed the listener (and
  // every connection not yet handed out).
  remove(worker) {
    if (!this.all.delete(worker.id)) return false;
    const channel = ipcChannelOf(worker.process);
    if (channel && this.id) binding.roundRobinRemove(this.id, channel.id);
    if (this.all.size !== 0) return false;
    if (this.id) binding.roundRobinClose(this.id);
    if (this.listener) this.listener.close();
    this.listener = null;
    this.id = 0;
    return true;
  }
}

module.exports = { RoundRobinHandle };
