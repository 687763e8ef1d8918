'use strict';
// ChildProcess, spawn() and fork() on the native engine (Node's lib/internal/child_process.js).
const diagnosticsChannel = require('node:diagnostics_channel');
const { EventEmitter } = require('node:events');
const net = require('node:net');
const os = require('node:os');
const util = require('node:util');
const native = require('./native');
const { IpcChannel, isInternal } = require('./channel');
const { prepareSend, receive: receiveHandle } = require('./handles');
const { normalizeStdio, stdioStringToArray, stopReading } = require('./stdio');
const { codes, errnoException, AbortError } = require('./errors');
const v = require('./validate');

const { EV } = native;
const signalNames = Object.fromEntries(Object.entries(os.constants.signals).map(([name, num]) => [num, name]));
// Spawn failures Node reports as an 'error' event rather than a throw.
const RUNTIME_SPAWN_ERRORS = new Set(['EACCES', 'EAGAIN', 'EMFILE', 'ENFILE', 'ENOENT']);
const DEFAULT_MAX_FRAME = 512 * 1024 * 1024;
// Node's deprecated alias of `channel`, with its warning (once per process).
const deprecatedChannel = util.deprecate((child) => child.channel,
  '_channel is deprecated. Use ChildProcess.channel instead.', 'DEP0129');
// Node publishes every ChildProcess it constructs here, before it is spawned.
const childProcessChannel = diagnosticsChannel.channel('child_process');
// Newer Nodes (24, not 22) also trace each spawn (start, then end or error) on
// 'tracing:child_process.spawn:*': ours does when the running Node's own spawn() does.
const spawnTracing = /\bchildProcessSpawn\.start\.publish\b/.test(require('node:child_process').ChildProcess.prototype.spawn)
  ? diagnosticsChannel.tracingChannel('child_process.spawn') : null;

// The IPC channel's lifecycle, one state per child; Node's public `connected` and `channel`
// follow it (set in _ipcTo only):
//   NONE          no channel was asked for: `channel` undefined, `connected` false
//   OPEN          `connected` true, `channel` the IpcChannel; messages are delivered
//   DISCONNECTED  disconnect() was called: `connected` false, `channel` null; the engine still
//                 writes what was queued, and its acks and failures still reach the channel
//   CLOSED        the engine has closed it (after a disconnect, or the child's end went first)
// The IpcChannel itself (kIpc) lives from OPEN until CLOSED.
const IPC = { NONE: 0, OPEN: 1, DISCONNECTED: 2, CLOSED: 3 };
const kIpcState = Symbol('kIpcState');
const kPending = Symbol('kPendingMessages');
// The engine's child (a NativeChild), from the spawn for as long as this object lives; null
// when the spawn failed. Collecting it releases the engine's entry, never the process.
const kChild = Symbol('kChild');
const kProcessRef = Symbol('kProcessRef');
const kIpc = Symbol('kIpc');
// Deliveries waiting behind a received handle that is still being set up (null: none).
const kHeld = Symbol('kHeldDeliveries');

// A function constructor with EventEmitter's prototype, as Node's: called without `new`, it
// fails as Node's does.
function ChildProcess() {
  EventEmitter.call(this);
  this._closesNeeded = 1;
  this._closesGot = 0;
  this.connected = false;
  this.signalCode = null;
  this.exitCode = null;
  this.killed = false;
  this.spawnfile = null;
  this._handle = null;
  this[kChild] = null;
  this[kIpcState] = IPC.NONE;
  this[kIpc] = null;
  this[kPending] = [];
  this[kProcessRef] = false;
  if (childProcessChannel.hasSubscribers) childProcessChannel.publish({ process: this });
}
Object.setPrototypeOf(ChildProcess.prototype, EventEmitter.prototype);
Object.setPrototypeOf(ChildProcess, EventEmitter);

// ChildProcess's methods, installed on its prototype below.
class ChildProcessMethods {
  // Undefined without a channel (as Node), null once disconnected.
  get channel() {
    const state = this[kIpcState];
    return state === IPC.OPEN ? this[kIpc] : state === IPC.NONE ? undefined : null;
  }

  _ipcTo(state) {
    this[kIpcState] = state;
    this.connected = state === IPC.OPEN;
  }

  get _channel() {
    return deprecatedChannel(this);
  }

  // Validates in Node's order: options, stdio, serialization, envPairs (when there is a
  // channel), file, args.
  spawn(options) {
    v.validateObject(options, 'options');
    const { entries, ipcIndex } = normalizeStdio(options.stdio || 'pipe');
    v.validateOneOf(options.serialization, 'options.serialization', [undefined, 'json', 'advanced']);
    const serialization = options.serialization || 'json';
    let envPairs = options.envPairs;
    if (ipcIndex !== -1) {
      if (envPairs === undefined) envPairs = [];
      else v.validateArray(envPairs, 'options.envPairs');
      envPairs = envPairs.filter((pair) => !/^NODE_CHANNEL_(FD|SERIALIZATION_MODE)=/.test(pair));
      envPairs.push(`NODE_CHANNEL_FD=${ipcIndex}`, `NODE_CHANNEL_SERIALIZATION_MODE=${serialization}`);
    } else if (!Array.isArray(envPairs)) {
      // Node's process wrap: without a list, the child gets this process's environment.
      envPairs = Object.entries(process.env).map(([key, value]) => `${key}=${value}`);
    }
    v.validateString(options.file, 'options.file');
    this.spawnfile = options.file;
    if (options.args === undefined) {
      this.spawnargs = [];
    } else {
      v.validateArray(options.args, 'options.args');
      this.spawnargs = options.args;
    }
    const maxFrameSize = options.maxFrameSize === undefined ? DEFAULT_MAX_FRAME : options.maxFrameSize;
    v.validateInteger(maxFrameSize, 'options.maxFrameSize', 1);

    const traced = spawnTracing !== null && spawnTracing.hasSubscribers;
    if (traced) spawnTracing.start.publish({ process: this, options });
    let r;
    try {
      r = native.binding.spawn({
        ...engineSpawnSpec(options, this.spawnargs, envPairs, entries),
        maxFrameSize,
        advanced: serialization === 'advanced',
      });
    } catch (engineErr) {
      const error = native.nodeError(engineErr);
      if (traced) spawnTracing.error.publish({ process: this, error });
      if (typeof error.errno !== 'number' || !RUNTIME_SPAWN_ERRORS.has(error.code)) throw error;
      const err = error.errno;
      const name = error.code;
      // Node sets the child up as far as it can unless it ran out of fds.
      const partial = name !== 'EMFILE' && name !== 'ENFILE';
      if (partial) stopReading(entries);
      this._spawnFailed(err, entries, partial && ipcIndex !== -1, serialization === 'advanced');
      return err;
    }
    if (traced) spawnTracing.end.publish({ process: this });
    stopReading(entries);
    const child = r.child;
    native.debug('spawn %d: pid %d, %s %j', child.id, child.pid, options.file, this.spawnargs.slice(1));
    this[kChild] = child;
    this.pid = child.pid;
    this._handle = { pid: child.pid };
    this[kProcessRef] = true;
    native.ref();
    native.owners.set(child.id, this);
    const sockets = entries.map((e, i) => (e.kind === 'pipe' ? this._wrapPipe(r.fds[i], i) : null));
    this._setStdio(sockets);
    if (ipcIndex !== -1) this._setupChannel(child.id, serialization === 'advanced');
    process.nextTick(() => this.emit('spawn'));
    return 0;
  }

  // Node still hands out stdio streams for a failed spawn: stdin is destroyed, the readable
  // ones end empty (and close once read, which flushStdio sees to). Engine id 0 is no channel.
  _spawnFailed(err, entries, withChannel, advanced) {
    // As in Node, a channel that was asked for exists: sends fail with EPIPE, then it closes.
    if (withChannel) this._setupChannel(0, advanced);
    const sockets = entries.map((e, i) => {
      if (e.kind !== 'pipe') return null;
      const socket = new net.Socket({ readable: i > 0, writable: i === 0 });
      if (i > 0) {
        this._closesNeeded++;
        socket.on('close', () => this._maybeClose());
        socket.push(null);
      }
      return socket;
    });
    this._setStdio(sockets);
    process.nextTick(() => {
      this.exitCode = err;
      if (this.stdin) this.stdin.destroy();
      const syscall = this.spawnfile ? `spawn ${this.spawnfile}` : 'spawn';
      const error = errnoException(err, syscall);
      if (this.spawnfile) error.path = this.spawnfile;
      error.spawnargs = this.spawnargs.slice(1);
      this.emit('error', error);
      process.nextTick(flushStdio, this);
      if (withChannel) process.nextTick(() => this._onChannelClosed());
      this._maybeClose();
    });
  }

  _wrapPipe(fd, i) {
    const socket = new net.Socket({ fd: fd.release(), readable: i > 0, writable: i === 0 || i > 2 });
    if (i > 0) {
      this._closesNeeded++;
      socket.on('close', () => this._maybeClose());
    }
    return socket;
  }

  _setStdio(sockets) {
    this.stdin = sockets[0] || null;
    this.stdout = sockets[1] || null;
    this.stderr = sockets[2] || null;
    this.stdio = sockets;
  }

  _setupChannel(id, advanced) {
    // Like Node, only a child with a channel has send() and disconnect().
    this.send = send;
    this.disconnect = disconnect;
    this._closesNeeded++;
    this[kIpc] = new IpcChannel(id, advanced, (event, value, ev) => this._deliver(event, value, ev));
    this._ipcTo(IPC.OPEN);
    // Messages that arrive with no 'message' listener wait for one, as in Node.
    this.on('newListener', (event) => {
      if (event !== 'message') return;
      process.nextTick(() => {
        if (this[kIpcState] !== IPC.OPEN || this.listenerCount('message') === 0) return;
        const pending = this[kPending];
        this[kPending] = [];
        for (const [m, handle] of pending) this.emit('message', m, handle);
      });
    });
  }

  _deliver(event, value, ev) {
    // A received server or dgram socket is emitted once it listens; what came after it waits,
    // so the order is the child's.
    if (this[kHeld]) {
      this[kHeld].push([event, value, ev]);
      return;
    }
    if (event === 'error') {
      this._peerError(value);
    } else if (event === 'handle') {
      this._receiveHandle(value, ev.fd, ev.fdKind);
    } else {
      this._emitMessage(event, value, undefined);
    }
  }

  // Node emits a message's handle as the listeners' second argument (undefined without one).
  _emitMessage(event, message, handle) {
    if (this[kIpcState] !== IPC.OPEN) {
      // Disconnected meanwhile: nobody will take the handle.
      if (handle) closeHandle(handle);
      return;
    }
    if (event === 'internalMessage') native.guarded(this.emit, this, 'internalMessage', message, handle);
    else if (this.listenerCount('message') > 0) native.guarded(this.emit, this, 'message', message, handle);
    else this[kPending].push([message, handle]);
  }

  _receiveHandle(envelope, fd, kind) {
    if (this[kIpcState] !== IPC.OPEN) {
      fd.close();
      return;
    }
    let settled = false;
    const held = [];
    const release = () => {
      settled = true;
      if (this[kHeld] !== held) return;
      this[kHeld] = null;
      while (held.length > 0 && !this[kHeld]) this._deliver(...held.shift());
      if (this[kHeld]) this[kHeld].push(...held);
    };
    try {
      receiveHandle(this, envelope, fd, kind, (message, handle) => {
        this._emitMessage(isInternal(message) ? 'internalMessage' : 'message', message, handle);
        release();
      }, (err) => {
        this._peerError(err);
        release();
      });
    } catch (err) {
      settled = true;
      this._peerError(err);
    }
    if (!settled) this[kHeld] = held;
  }

  // Internal messages the parent sends (the socket-list protocol), queued like any send.
  _sendInternal(message) {
    return this[kIpc].send(message, null);
  }

  // Misbehaviour of the child is reported, never fatal: without an 'error' listener it
  // becomes a process warning instead of an uncaught exception.
  _peerError(err) {
    if (this.listenerCount('error') > 0) native.guarded(this.emit, this, 'error', err);
    else process.emitWarning(err);
  }

  onEngineEvent(ev) {
    // Deliveries only while open; the engine's acks and failures as long as the channel lives.
    const channel = this[kIpcState] === IPC.OPEN ? this[kIpc] : null;
    switch (ev.kind) {
      case EV.MESSAGES:
        if (channel) channel.onMessages(ev.text);
        break;
      case EV.INTERNAL:
        if (channel) channel.onInternal(ev.text);
        break;
      case EV.FRAMES:
        if (channel) channel.onFrames(ev.data);
        break;
      case EV.HANDLE:
        if (channel) channel.onHandle(ev);
        else ev.fd.close();
        break;
      case EV.HANDLE_LOST:
        this[kIpc]?.onHandleLost();
        break;
      case EV.BAD_FRAME:
        this._peerError(badFrameError(ev));
        break;
      case EV.WRITTEN:
        this[kIpc]?.onWritten(ev.ack);
        break;
      case EV.WRITE_FAILED:
        this[kIpc]?.onWriteFailed(ev.errno);
        break;
      case EV.CLOSED:
        this._onChannelClosed();
        break;
      case EV.EXIT:
        this._onExit(ev.exitCode ?? null, ev.signal === undefined || ev.signal === null ? null : signalNames[ev.signal]);
        break;
      case EV.FAILED:
        this._onEngineFailure(ev.source, ev.text);
        break;
    }
  }

  // The engine's thread failed on this child's work: said loudly, and nothing waits forever.
  _onEngineFailure(source, what) {
    const err = new Error(`native-cluster engine failure (${source}): ${what}`);
    err.code = 'ERR_NATIVE_CLUSTER_ENGINE';
    process.emitWarning(err);
    if (this.listenerCount('error') > 0) native.guarded(this.emit, this, 'error', err);
    if (source === 'channel' && this[kIpc]) {
      this[kIpc].onWriteFailed(-os.constants.errno.EIO);
      this._onChannelClosed();
    } else if (source === 'child' && this._handle) {
      this._onExit(null, null);
    }
  }

  _onChannelClosed() {
    const channel = this[kIpc];
    if (!channel) return;
    channel.onClosed();
    this[kIpc] = null;
    const wasOpen = this[kIpcState] === IPC.OPEN;
    this._ipcTo(IPC.CLOSED);
    // The child closed its end (or died): Node's disconnect on EOF. Emitted now rather than on
    // a later tick, so it keeps the engine's order against an 'exit' in the same batch.
    if (wasOpen) this.emit('disconnect');
    this._maybeClose();
    this._release();
  }

  _onExit(exitCode, signalCode) {
    native.debug('exit %d: pid %d, code %s, signal %s', this[kChild].id, this.pid, exitCode, signalCode);
    if (signalCode) this.signalCode = signalCode;
    else this.exitCode = exitCode;
    if (this.stdin) this.stdin.destroy();
    this._handle = null;
    if (this[kProcessRef]) {
      this[kProcessRef] = false;
      native.unref();
    }
    this.emit('exit', this.exitCode, this.signalCode);
    process.nextTick(flushStdio, this);
    this._maybeClose();
    this._release();
  }

  _release() {
    if (this._handle === null && !this[kIpc] && this[kChild]) native.owners.delete(this[kChild].id);
  }

  _maybeClose() {
    this._closesGot++;
    if (this._closesGot === this._closesNeeded) this.emit('close', this.exitCode, this.signalCode);
  }

  kill(sig) {
    const signal = sig === 0 ? 0 : v.convertToValidSignal(sig === undefined ? 'SIGTERM' : sig);
    if (this._handle) {
      // What send() has batched goes first: Node has written it by now.
      this[kIpc]?.flush();
      let err;
      try {
        this[kChild].kill(signal);
        this.killed = true;
        return true;
      } catch (engineErr) {
        err = native.nodeError(engineErr);
      }
      if (err.code === 'EINVAL' || err.code === 'ENOSYS') throw err;
      if (err.code !== 'ESRCH') this.emit('error', err);
    }
    return false;
  }

  ref() {
    if (this._handle && !this[kProcessRef]) {
      this[kProcessRef] = true;
      native.ref();
    }
  }

  unref() {
    if (this._handle && this[kProcessRef]) {
      this[kProcessRef] = false;
      native.unref();
    }
  }

  [Symbol.dispose]() {
    if (!this.killed) this.kill();
  }
}
// Node's public methods are enumerable (assigned to its prototype).
const ENUMERABLE_METHODS = new Set(['spawn', 'kill', 'ref', 'unref']);
for (const key of Reflect.ownKeys(ChildProcessMethods.prototype)) {
  if (key !== 'constructor') {
    const descriptor = Object.getOwnPropertyDescriptor(ChildProcessMethods.prototype, key);
    descriptor.enumerable = ENUMERABLE_METHODS.has(key);
    Object.defineProperty(ChildProcess.prototype, key, descriptor);
  }
}

function send(message, handle, options, callback) {
  if (typeof handle === 'function') {
    callback = handle;
    handle = undefined;
    options = undefined;
  } else if (typeof options === 'function') {
    callback = options;
    options = undefined;
  } else if (options !== undefined) {
    v.validateObject(options, 'options');
  }
  if (this[kIpcState] === IPC.OPEN) return sendMessage(this, message, handle, options, callback);
  const ex = codes.ERR_IPC_CHANNEL_CLOSED();
  if (typeof callback === 'function') process.nextTick(callback, ex);
  else process.nextTick(() => this.emit('error', ex));
  return false;
}

function sendMessage(child, message, handle, options, callback) {
  if (message === undefined) throw codes.ERR_MISSING_ARGS('message');
  const type = typeof message;
  if (type !== 'string' && type !== 'object' && type !== 'number' && type !== 'boolean') {
    throw codes.ERR_INVALID_ARG_TYPE('message', ['string', 'object', 'number', 'boolean'], message);
  }
  const channel = child[kIpc];
  if (handle === undefined || handle === null) return channel.send(message, callback);
  const out = prepareSend(child, message, handle, Boolean(options?.keepOpen));
  if (out.wrap === null) return channel.send(message, callback);
  const result = channel.sendHandle(out.envelope, out.wrap.fd, out.type, out.retransmit, callback);
  out.sent();
  return result;
}

function disconnect() {
  if (this[kIpcState] !== IPC.OPEN) {
    this.emit('error', codes.ERR_IPC_DISCONNECTED());
    return;
  }
  this._ipcTo(IPC.DISCONNECTED);
  this[kIpc].close();
  process.nextTick(() => this.emit('disconnect'));
}

// What the engine needs to start a child, from normalised spawn options.
function engineSpawnSpec(options, args, envPairs, entries) {
  return {
    file: options.file,
    // Node's process wrap converts every argument to a string.
    args: args.map(String),
    env: envPairs.map(String),
    cwd: options.cwd == null ? undefined : String(options.cwd),
    stdio: entries.map((e) => e.kind),
    stdioFds: entries.map((e) => e.fd),
    detached: !!options.detached,
    uid: options.uid ?? undefined,
    gid: options.gid ?? undefined,
    // Ours, for the supervisor's workers: the signal a child gets when its parent dies.
    deathSignal: Number.isInteger(options.deathSignal) ? options.deathSignal : undefined,
  };
}

function closeHandle(handle) {
  if (typeof handle.destroy === 'function') handle.destroy();
  else handle.close();
}

function badFrameError(ev) {
  return codes[ev.code](ev.reason);
}

// Node's rule once the child has exited: every readable stdio stream is resumed, a paused one
// too (its buffered data is emitted, then 'end'), so the child's 'close' comes; only a stream
// read through 'readable' is left to its reader.
function flushStdio(subprocess) {
  const stdio = subprocess.stdio;
  if (stdio == null) return;
  for (const stream of stdio) {
    if (!stream || !stream.readable || stream._readableState?.readableListening) continue;
    stream.resume();
  }
}

function envPairsOf(env) {
  const pairs = [];
  for (const key of Object.keys(env)) {
    const value = env[key];
    if (value === undefined) continue;
    v.validateArgumentNullCheck(key, `options.env['${key}']`);
    v.validateArgumentNullCheck(String(value), `options.env['${key}']`);
    pairs.push(`${key}=${value}`);
  }
  return pairs;
}

function normalizeSpawnArguments(file, args, options) {
  v.validateString(file, 'file');
  v.validateArgumentNullCheck(file, 'file');
  if (file.length === 0) throw codes.ERR_INVALID_ARG_VALUE('file', file, 'cannot be empty');
  if (Array.isArray(args)) {
    args = args.slice();
  } else if (args == null) {
    args = [];
  } else if (typeof args !== 'object') {
    throw codes.ERR_INVALID_ARG_TYPE('args', 'object', args);
  } else {
    options = args;
    args = [];
  }
  v.validateArgumentsNullCheck(args, 'args');
  if (options === undefined) options = {};
  else v.validateObject(options, 'options');
  let cwd = options.cwd;
  if (cwd != null) cwd = v.validatePath(cwd, 'options.cwd');
  if (options.detached != null) v.validateBoolean(options.detached, 'options.detached');
  if (options.uid != null) v.validateInt32(options.uid, 'options.uid');
  if (options.gid != null) v.validateInt32(options.gid, 'options.gid');
  if (options.argv0 != null) {
    v.validateString(options.argv0, 'options.argv0');
    v.validateArgumentNullCheck(options.argv0, 'options.argv0');
  }
  if (options.windowsHide != null) v.validateBoolean(options.windowsHide, 'options.windowsHide');
  if (options.windowsVerbatimArguments != null) {
    v.validateBoolean(options.windowsVerbatimArguments, 'options.windowsVerbatimArguments');
  }
  if (options.shell != null && typeof options.shell !== 'boolean' && typeof options.shell !== 'string') {
    throw codes.ERR_INVALID_ARG_TYPE('options.shell', ['boolean', 'string'], options.shell);
  }
  const env = options.env || process.env;
  const envPairs = envPairsOf(env);
  if (options.env !== undefined && process.env.NODE_V8_COVERAGE !== undefined && env.NODE_V8_COVERAGE === undefined) {
    envPairs.push(`NODE_V8_COVERAGE=${process.env.NODE_V8_COVERAGE}`);
  }
  if (options.shell) {
    v.validateArgumentNullCheck(options.shell, 'options.shell');
    // Node's quoting: the command and its arguments joined by spaces, run by `sh -c`.
    const command = [file, ...args].join(' ');
    file = typeof options.shell === 'string' ? options.shell : '/bin/sh';
    args = ['-c', command];
  }
  args.unshift(typeof options.argv0 === 'string' ? options.argv0 : file);
  // Node's shape (a null-prototype copy), which its spawn tracing publishes.
  return {
    __proto__: null,
    ...options,
    args,
    cwd,
    detached: !!options.detached,
    envPairs,
    file,
    windowsHide: !!options.windowsHide,
    windowsVerbatimArguments: !!options.windowsVerbatimArguments,
  };
}

function spawn(file, args, options) {
  const opts = normalizeSpawnArguments(file, args, options);
  v.validateTimeout(opts.timeout);
  v.validateAbortSignal(opts.signal, 'options.signal');
  const killSignal = v.sanitizeKillSignal(opts.killSignal);
  const child = new ChildProcess();
  child.spawn(opts);
  if (opts.timeout > 0) {
    let timer = setTimeout(() => {
      if (timer) {
        try {
          child.kill(killSignal);
        } catch (err) {
          child.emit('error', err);
        }
        timer = null;
      }
    }, opts.timeout);
    child.once('exit', () => {
      if (timer) {
        clearTimeout(timer);
        timer = null;
      }
    });
  }
  if (opts.signal) {
    const signal = opts.signal;
    const onAbort = () => {
      try {
        if (child.kill(killSignal)) child.emit('error', new AbortError(undefined, { cause: signal.reason }));
      } catch (err) {
        child.emit('error', err);
      }
    };
    if (signal.aborted) process.nextTick(onAbort);
    else {
      signal.addEventListener('abort', onAbort, { once: true });
      child.once('exit', () => signal.removeEventListener('abort', onAbort));
    }
  }
  return child;
}

function fork(modulePath, args, options) {
  modulePath = v.validatePath(modulePath, 'modulePath');
  if (args == null) {
    args = [];
  } else if (typeof args === 'object' && !Array.isArray(args)) {
    options = args;
    args = [];
  } else {
    v.validateArray(args, 'args');
  }
  if (options != null) v.validateObject(options, 'options');
  options = { ...options, shell: false };
  options.execPath = options.execPath || process.execPath;
  v.validateArgumentNullCheck(options.execPath, 'options.execPath');
  let execArgv = options.execArgv || process.execArgv;
  v.validateArgumentsNullCheck(execArgv, 'options.execArgv');
  // Node's rule: a parent run with -e does not pass its -e code on (no fork bombs).
  if (execArgv === process.execArgv && process._eval != null) {
    const index = execArgv.lastIndexOf(process._eval);
    if (index > 0) {
      execArgv = execArgv.slice();
      execArgv.splice(index - 1, 2);
    }
  }
  args = [...execArgv, modulePath, ...args];
  if (typeof options.stdio === 'string') {
    options.stdio = stdioStringToArray(options.stdio, 'ipc');
  } else if (!Array.isArray(options.stdio)) {
    options.stdio = stdioStringToArray(options.silent ? 'pipe' : 'inherit', 'ipc');
  } else if (!options.stdio.includes('ipc')) {
    throw codes.ERR_CHILD_PROCESS_IPC_REQUIRED('options.stdio');
  }
  return spawn(options.execPath, args, options);
}

// The live IPC channel of a child (null once closed), for the cluster primary.
function ipcChannelOf(child) {
  return child[kIpc] || null;
}

module.exports = { ChildProcess, spawn, fork, normalizeSpawnArguments, engineSpawnSpec, ipcChannelOf };
