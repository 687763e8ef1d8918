'use strict';
// node:cluster's primary side: forks unmodified Node workers and answers their NODE_CLUSTER
// messages (online, queryServer, listening, close, exitedAfterDisconnect).
const { EventEmitter } = require('node:events');
const os = require('node:os');
const path = require('node:path');
const { fork } = require('../subprocess');
const { codes } = require('../errors');
const { Worker } = require('./worker');
const { SharedHandle } = require('./shared_handle');
const { RoundRobinHandle } = require('./round_robin_handle');
const { ReusePortHandle } = require('./reuseport_handle');
const { sendToWorker, clusterListener } = require('./messages');
const { handles, adoptedFor } = require('./listeners');
const { binding } = require('../native');

const SCHED_NONE = 1;
const SCHED_RR = 2;
// Ours: a SO_REUSEPORT socket per worker (Linux).
const SCHED_REUSEPORT = 3;
const POLICIES = { none: SCHED_NONE, rr: SCHED_RR, reuseport: SCHED_REUSEPORT };
const MIN_PORT = 1024;
const MAX_PORT = 65535;
const INSPECT_ARG = /--inspect(?:-brk|-port)?|--debug-port/;

const cluster = new EventEmitter();
// What cluster.disconnect(cb) waits for: the last worker gone.
const allGone = new EventEmitter();
let initialized = false;
let ids = 0;
let inspectPortOffset = 1;

cluster.isWorker = false;
cluster.isMaster = true;
cluster.isPrimary = true;
cluster.Worker = Worker;
cluster.workers = {};
cluster.settings = {};
cluster.SCHED_NONE = SCHED_NONE;
cluster.SCHED_RR = SCHED_RR;
cluster.SCHED_REUSEPORT = SCHED_REUSEPORT;
cluster.schedulingPolicy = POLICIES[process.env.NODE_CLUSTER_SCHED_POLICY] || SCHED_RR;
// Frozen by the first setupPrimary() or fork().
let schedulingPolicy;

cluster.setupPrimary = function setupPrimary(options) {
  const settings = {
    args: process.argv.slice(2),
    exec: process.argv[1],
    execArgv: process.execArgv,
    silent: false,
    ...cluster.settings,
    ...options,
  };
  // V8 profiles of every process to separate files.
  if (settings.execArgv.some((a) => a.startsWith('--prof')) && !settings.execArgv.some((a) => a.startsWith('--logfile='))) {
    settings.execArgv = [...settings.execArgv, '--logfile=v8-%p.log'];
  }
  cluster.settings = settings;
  if (!initialized) {
    initialized = true;
    schedulingPolicy = cluster.schedulingPolicy;
    if (!Object.values(POLICIES).includes(schedulingPolicy)) {
      throw codes.ERR_INVALID_ARG_VALUE('cluster.schedulingPolicy', schedulingPolicy);
    }
  }
  process.nextTick(() => cluster.emit('setup', settings));
};
cluster.setupMaster = cluster.setupPrimary;

const badPort = (port) => Object.assign(new RangeError(`Port should be >= 0 and < 65536. Received ${
  typeof port === 'string' ? `type string ('${port}')` : port}.`), { code: 'ERR_SOCKET_BAD_PORT' });

function workerExecArgv() {
  // Node refuses a null inspectPort whether or not the inspector is used.
  if (cluster.settings.inspectPort === null) throw badPort(null);
  const execArgv = [...cluster.settings.execArgv];
  if (!INSPECT_ARG.test(execArgv.join(' ')) && !INSPECT_ARG.test(process.env.NODE_OPTIONS || '')) return execArgv;
  let port;
  if ('inspectPort' in cluster.settings) {
    const setting = cluster.settings.inspectPort;
    port = typeof setting === 'function' ? setting() : setting;
    if ((typeof port !== 'number' && typeof port !== 'string') || !/^\s*\d+\s*$/.test(String(port)) || +port > MAX_PORT) {
      throw badPort(port);
    }
  } else {
    port = process.debugPort + inspectPortOffset++;
    if (port > MAX_PORT) port = port - MAX_PORT + MIN_PORT - 1;
  }
  execArgv.push(`--inspect-port=${port}`);
  return execArgv;
}

cluster.fork = function clusterFork(env) {
  cluster.setupPrimary();
  const id = ++ids;
  const s = cluster.settings;
  const proc = fork(s.exec, s.args, {
    cwd: s.cwd,
    env: { ...process.env, ...env, NODE_UNIQUE_ID: `${id}` },
    serialization: s.serialization,
    silent: s.silent,
    windowsHide: s.windowsHide,
    execArgv: workerExecArgv(),
    stdio: s.stdio,
    gid: s.gid,
    uid: s.uid,
    // Ours (the supervisor's): a worker in a session of its own is not sent the terminal's
    // Ctrl-C or a signal to the primary's process group; the primary decides how it leaves.
    detached: s.detached,
    // Ours (the supervisor's): workers are killed by the kernel if the primary dies.
    deathSignal: s.deathSignal,
  });
  const worker = new Worker({ id, process: proc });
  worker.on('message', (message, handle) => cluster.emit('message', worker, message, handle));
  proc.once('exit', (code, signal) => {
    // Kept in cluster.workers until disconnected too, so it can still be looked at.
    if (!worker.isConnected()) {
      removeHandlesOf(worker);
      removeWorker(worker);
    }
    worker.exitedAfterDisconnect = !!worker.exitedAfterDisconnect;
    worker.state = 'dead';
    worker.emit('exit', code, signal);
    cluster.emit('exit', worker, code, signal);
  });
  proc.once('disconnect', () => {
    removeHandlesOf(worker);
    if (worker.isDead()) removeWorker(worker);
    worker.exitedAfterDisconnect = !!worker.exitedAfterDisconnect;
    worker.state = 'disconnected';
    worker.emit('disconnect');
    cluster.emit('disconnect', worker);
  });
  proc.on('internalMessage', clusterListener(worker, onWorkerMessage));
  process.nextTick(() => cluster.emit('fork', worker));
  cluster.workers[worker.id] = worker;
  return worker;
};

cluster.disconnect = function clusterDisconnect(cb) {
  const workers = Object.values(cluster.workers);
  if (workers.length === 0) process.nextTick(() => allGone.emit('disconnect'));
  for (const worker of workers) if (worker.isConnected()) worker.disconnect();
  if (typeof cb === 'function') allGone.once('disconnect', cb);
};

Worker.prototype.disconnect = function disconnect() {
  this.exitedAfterDisconnect = true;
  // Out of round-robin first (Node sends first): the engine then hands this worker no new
  // connection that would only come back refused once its servers are closed.
  removeHandlesOf(this);
  sendToWorker(this, { act: 'disconnect' });
  removeWorker(this);
  return this;
};

// Node 20's primary kills the process straight away (no disconnect first).
Worker.prototype.destroy = function destroy(signal) {
  this.process.kill(signal || 'SIGTERM');
};

function removeWorker(worker) {
  delete cluster.workers[worker.id];
  if (Object.keys(cluster.workers).length === 0) allGone.emit('disconnect');
}

function createHandle(key, message) {
  let address = message.address;
  // sun_path holds about 100 bytes: bind to the shorter of the relative and absolute path.
  if (message.port < 0 && typeof address === 'string') {
    const relative = path.relative(process.cwd(), address);
    if (relative.length < address.length) address = relative;
  }
  // UDP is connectionless: always one shared socket. REUSEPORT applies to TCP addresses (not
  // unix paths or inherited fds).
  const udp = message.addressType === 'udp4' || message.addressType === 'udp6';
  const tcpAddress = !udp && message.port >= 0 && !(message.fd >= 0);
  // Ours: a socket this process was handed for the address (socket activation, or the primary
  // it upgraded) serves it: round-robin accepts on it, the other policies share it.
  const adopted = adoptedFor(message);
  if (adopted && schedulingPolicy === SCHED_RR && !udp) return new RoundRobinHandle(key, address, { ...message, fd: adopted.fd.raw });
  if (adopted) {
    // The shared handle owns (and closes) a copy; the adopted socket stays for the next one.
    const copy = binding.dupFd(adopted.fd.raw);
    // Node opens a descriptor only with no address or port given.
    const handle = new SharedHandle(key, null, { ...message, fd: copy.raw, port: 0 });
    if (handle.handle) copy.release();
    else copy.close();
    return handle;
  }
  if (schedulingPolicy === SCHED_RR && !udp) return new RoundRobinHandle(key, address, message);
  if (schedulingPolicy === SCHED_REUSEPORT && tcpAddress) return new ReusePortHandle(key, address, message);
  return new SharedHandle(key, address, message);
}

function removeHandlesOf(worker) {
  for (const [key, handle] of handles) if (handle.remove(worker)) handles.delete(key);
}

const onAct = {
  online(worker) {
    worker.state = 'online';
    worker.emit('online');
    cluster.emit('online', worker);
  },

  exitedAfterDisconnect(worker, message) {
    worker.exitedAfterDisconnect = true;
    sendToWorker(worker, { ack: message.seq });
  },

  queryServer(worker, message) {
    if (worker.exitedAfterDisconnect) return;
    const key = `${message.address}:${message.port}:${message.addressType}:${message.fd}:${message.index}`;
    let handle = handles.get(key);
    if (handle === undefined) {
      try {
        handle = createHandle(key, message);
      } catch (cause) {
        // Nothing Node's worker sends gets here; a hand-made message might. The worker is
        // answered (so it fails instead of waiting) and gets the 'error'.
        sendToWorker(worker, { errno: -os.constants.errno.EINVAL, key, ack: message.seq, data: null });
        throw Object.assign(codes.ERR_IPC_INVALID_MESSAGE('queryServer'), { cause });
      }
      handles.set(key, handle);
    }
    // The first worker's server data (TLS ticket keys) is shared with all.
    if (!handle.data) handle.data = message.data;
    handle.add(worker, (errno, reply, socket) => {
      // The worker may have left (and the handle gone) while the listener was being set up.
      if (!handle.has(worker)) return;
      // A failed handle is dropped (once no worker uses it) so the next worker tries again.
      if (errno && handle.remove(worker) && handles.get(key) === handle) handles.delete(key);
      sendToWorker(worker, { errno, key, ack: message.seq, data: handle.data, ...reply }, socket);
    });
  },

  listening(worker, message) {
    const info = { addressType: message.addressType, address: message.address, port: message.port, fd: message.fd };
    worker.state = 'listening';
    worker.emit('listening', info);
    cluster.emit('listening', worker, info);
  },

  close(worker, message) {
    const handle = handles.get(message.key);
    if (handle && handle.remove(worker)) handles.delete(message.key);
  },
};

// Unknown acts are ignored, as Node does; a message the primary cannot act on (a bogus
// queryServer, say) is the worker's 'error', never the primary's crash.
function onWorkerMessage(message) {
  const fn = Object.hasOwn(onAct, message.act) ? onAct[message.act] : undefined;
  if (!fn) return;
  try {
    fn(this, message);
  } catch (err) {
    if (this.listenerCount('error') > 0) this.emit('error', err);
    else process.emitWarning(err);
  }
}

module.exports = cluster;
