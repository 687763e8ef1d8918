'use strict';
// Node's socket-list side protocol. A server whose accepted sockets were sent to a child asks
// that child how many it still has (`server.getConnections()`) and to report when all are closed
// (`server.close()`); the side that received such sockets answers for them.
const { EventEmitter } = require('node:events');
const { codes } = require('./errors');

// The sender's view of the sockets with one server key held by one child. `net.Server` calls
// getConnections(cb) and close(cb) on it and drops it on 'exit'.
class SentSockets extends EventEmitter {
  constructor(child, key) {
    super();
    this.child = child;
    this.key = key;
    child.once('exit', () => this.emit('exit', this));
  }

  getConnections(callback) {
    this.#request('NODE_SOCKET_GET_COUNT', 'NODE_SOCKET_COUNT', (err, reply) => callback(err, err ? undefined : reply.count));
  }

  close(callback) {
    this.#request('NODE_SOCKET_NOTIFY_CLOSE', 'NODE_SOCKET_ALL_CLOSED', callback);
  }

  #request(cmd, replyCmd, callback) {
    const child = this.child;
    if (!child.connected) {
      process.nextTick(callback, codes.ERR_CHILD_CLOSED_BEFORE_REPLY());
      return;
    }
    const onReply = (message) => {
      if (message.cmd !== replyCmd || message.key !== this.key) return;
      done();
      callback(null, message);
    };
    const onDisconnect = () => {
      done();
      callback(codes.ERR_CHILD_CLOSED_BEFORE_REPLY());
    };
    const done = () => {
      child.removeListener('internalMessage', onReply);
      child.removeListener('disconnect', onDisconnect);
    };
    child.on('internalMessage', onReply);
    child.once('disconnect', onDisconnect);
    child._sendInternal({ cmd, key: this.key });
  }
}

// The receiver's view: sockets it got with one key, and the sender's requests about them.
class ReceivedSockets {
  #child;
  #key;
  #open = 0;
  // NODE_SOCKET_NOTIFY_CLOSE requests waiting for the last socket to close; each gets a reply.
  #closeRequests = 0;

  constructor(child, key) {
    this.#child = child;
    this.#key = key;
    child.on('internalMessage', (message) => {
      if (message.key !== key) return;
      if (message.cmd === 'NODE_SOCKET_GET_COUNT') {
        this.#reply({ cmd: 'NODE_SOCKET_COUNT', key, count: this.#open });
      } else if (message.cmd === 'NODE_SOCKET_NOTIFY_CLOSE') {
        this.#closeRequests++;
        this.#maybeAllClosed();
      }
    });
  }

  add(socket) {
    this.#open++;
    socket.once('close', () => {
      this.#open--;
      this.#maybeAllClosed();
    });
  }

  #maybeAllClosed() {
    if (this.#open !== 0) return;
    for (; this.#closeRequests > 0; this.#closeRequests--) this.#reply({ cmd: 'NODE_SOCKET_ALL_CLOSED', key: this.#key });
  }

  #reply(message) {
    if (this.#child.connected) this.#child._sendInternal(message);
  }
}

// Per child, one list per server key and direction.
const kLists = Symbol('socketLists');

function socketLists(child) {
  let lists = child[kLists];
  if (lists === undefined) {
    const sent = new Map();
    const received = new Map();
    lists = child[kLists] = {
      sending(key) {
        let list = sent.get(key);
        const created = list === undefined;
        if (created) sent.set(key, (list = new SentSockets(child, key)));
        return { list, created };
      },
      receiving(key) {
        let list = received.get(key);
        if (list === undefined) received.set(key, (list = new ReceivedSockets(child, key)));
        return list;
      },
    };
  }
  return lists;
}

module.exports = { socketLists };
