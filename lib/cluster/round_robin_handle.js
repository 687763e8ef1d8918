'use strict';
// SCHED_RR: the primary listens and hands each connection to the next free worker as a
// `newconn`, closing its copy once the worker has accepted it.
const net = require('node:net');
const { constants: TCPConstants } = process.binding('tcp_wrap');
const { sendToWorker } = require('./messages');

class RoundRobinHandle {
  constructor(key, address, { port, fd, flags, backlog, readableAll, writableAll }) {
    this.key = key;
    this.all = new Map();
    this.free = new Map();
    // Connections not yet handed to a worker, oldest first.
    this.pending = [];
    // Per worker id, the connection it was sent and has not answered for.
    this.inFlight = new Map();
    this.handle = null;
    this.server = net.createServer(() => {});
    if (fd >= 0) this.server.listen({ fd, backlog });
    else if (port >= 0) {
      this.server.listen({ port, host: address, ipv6Only: Boolean(flags & TCPConstants.UV_TCP_IPV6ONLY), backlog });
    } else this.server.listen({ path: address, backlog, readableAll, writableAll });
    this.server.once('listening', () => {
      this.handle = this.server._handle;
      this.handle.onconnection = (err, conn) => this.distribute(err, conn);
      this.server._handle = null;
      this.server = null;
    });
  }

  add(worker, reply) {
    this.all.set(worker.id, worker);
    const ready = () => {
      if (this.handle.getsockname) {
        const sockname = {};
        this.handle.getsockname(sockname);
        reply(null, { sockname }, null);
      } else {
        reply(null, null, null);
      }
      this.handoff(worker);
    };
    if (this.server === null) {
      ready();
      return;
    }
    this.server.once('listening', ready);
    this.server.once('error', (err) => reply(err.errno, null));
  }

  // Returns true when the last worker has left and the listener is closed. A connection in
  // flight to the leaving worker goes to another (Node's primary loses it).
  remove(worker) {
    if (!this.all.delete(worker.id)) return false;
    this.free.delete(worker.id);
    const orphan = this.inFlight.get(worker.id);
    this.inFlight.delete(worker.id);
    if (orphan) this.distribute(0, orphan);
    if (this.all.size !== 0) return false;
    for (const conn of this.pending.splice(0)) conn.close();
    if (this.handle) this.handle.close();
    this.handle = null;
    return true;
  }

  distribute(err, conn) {
    if (err) return;
    this.pending.push(conn);
    const [entry] = this.free;
    if (entry) {
      this.free.delete(entry[0]);
      this.handoff(entry[1]);
    }
  }

  handoff(worker) {
    if (!this.all.has(worker.id)) return;
    const conn = this.pending.shift();
    if (conn === undefined) {
      this.free.set(worker.id, worker);
      return;
    }
    this.inFlight.set(worker.id, conn);
    sendToWorker(worker, { act: 'newconn', key: this.key }, conn, (reply) => {
      if (this.inFlight.get(worker.id) !== conn) return;
      this.inFlight.delete(worker.id);
      if (reply.accepted) conn.close();
      else this.distribute(0, conn);
      this.handoff(worker);
    });
  }
}

module.exports = { RoundRobinHandle };
