'use strict';
// cluster.Worker in the primary: a ChildProcess with a worker id and a state.
const { EventEmitter } = require('node:events');

class Worker extends EventEmitter {
  constructor({ id, process: proc, state }) {
    super();
    this.exitedAfterDisconnect = undefined;
    this.state = state || 'none';
    this.id = id | 0;
    if (proc) {
      this.process = proc;
      proc.on('error', (code, signal) => this.emit('error', code, signal));
      proc.on('message', (message, handle) => this.emit('message', message, handle));
    }
  }

  send(...args) {
    return this.process.send(...args);
  }

  kill(...args) {
    return this.destroy(...args);
  }

  isDead() {
    return this.process.exitCode != null || this.process.signalCode != null;
  }

  isConnected() {
    return this.process.connected;
  }
}

module.exports = { Worker };
