'use strict';
// Loads the engine and routes its events to the objects that own each id.
const path = require('node:path');
const util = require('node:util');
const { codes, errnoException } = require('./errors');

if (process.platform !== 'linux') {
  const err = new Error(`native-cluster supports Linux only (this is ${process.platform})`);
  err.code = 'ERR_NATIVE_CLUSTER_UNSUPPORTED_PLATFORM';
  throw err;
}

let binding;
try {
  binding = require(path.join(__dirname, '..', 'native-cluster.node'));
} catch (cause) {
  const err = new Error('native-cluster: the native engine is not built; run `npm run build` (needs cargo)', { cause });
  err.code = 'ERR_NATIVE_CLUSTER_NOT_BUILT';
  throw err;
}

const EV = {
  MESSAGES: 1, INTERNAL: 2, BAD_FRAME: 3, WRITTEN: 4, WRITE_FAILED: 5, CLOSED: 6, EXIT: 7, FRAMES: 8,
  HANDLE: 9, HANDLE_LOST: 10, FAILED: 11, TRACE: 12, SHED: 13, GUARD: 14, LOG_FAILED: 15,
};

// NODE_DEBUG=native-cluster traces spawns, channel lifecycle, handle states and round-robin
// dispatch, the engine's part from the trace records it sends while this is on.
let debug = util.debuglog('native-cluster', (fn) => {
  debug = fn;
});

const owners = new Map();

// Events not yet dispatched, oldest first, and whether a dispatch is scheduled.
let backlog = [];
let scheduled = false;

function onWake() {
  const events = binding.drain();
  if (backlog.length === 0) backlog = events;
  else for (const ev of events) backlog.push(ev);
  if (!scheduled) dispatch();
}

// Node reports a channel's EOF and a child's exit from their own libuv callbacks, so code that
// awaits a message and then checks `connected` or waits for 'exit' sees microtasks run in
// between. A close or exit that follows other events of the same batch therefore waits for
// the next macrotask, as it would in Node.
function dispatch() {
  scheduled = false;
  const events = backlog;
  for (let i = 0; i < events.length; i++) {
    const ev = events[i];
    if ((ev.kind === EV.EXIT || ev.kind === EV.CLOSED) && i > 0) {
      backlog = events.slice(i);
      scheduled = true;
      setImmediate(dispatch);
      return;
    }
    if (ev.kind === EV.TRACE) {
      debug('engine %d: %s', ev.id, ev.text);
      continue;
    }
    // A failure of the loop itself, or of an object no JS owner stands for (a round-robin
    // group): a warning. An owner reports its own (with a warning too).
    if (ev.kind === EV.FAILED && (ev.id === 0 || !owners.has(ev.id))) {
      process.emitWarning(`native-cluster engine failure (${ev.source}): ${ev.text}`, 'NativeClusterWarning');
      continue;
    }
    if (ev.kind === EV.SHED) {
      onShed(ev.id);
      continue;
    }
    const owner = owners.get(ev.id);
    if (owner !== undefined) guarded(owner.onEngineEvent, owner, ev);
    // A received descriptor nobody is left to take.
    else if (ev.kind === EV.HANDLE) ev.fd.close();
  }
  backlog = [];
}

function rethrow(err) {
  throw err;
}

// A throwing listener must not cost the rest of a batch: its exception surfaces as an
// uncaught exception right after, as it would from Node's own nextTick-deferred emits.
function guarded(fn, self, ...args) {
  try {
    fn.apply(self, args);
  } catch (err) {
    process.nextTick(rethrow, err);
  }
}

// The engine's one error convention is an error with a `code`, and for a failed system call
// its (negative) `errno` and `syscall`; this is the one place it takes Node's shape. `syscall`
// overrides the engine's name for the call (Node names some by what the user did).
function nodeError(err, syscall) {
  if (err === null || typeof err !== 'object') return err;
  if (typeof err.errno === 'number') return errnoException(err.errno, syscall ?? err.syscall);
  if (typeof err.code === 'string' && typeof codes[err.code] === 'function') return codes[err.code]();
  return err;
}

// Round-robin ran out of descriptors and closes connections at once rather than let clients
// wait; said once per process.
let shedWarned = false;
function onShed(group) {
  debug('round-robin group %d: out of descriptors, closing connections at once', group);
  if (shedWarned) return;
  shedWarned = true;
  process.emitWarning('The cluster primary ran out of file descriptors: new connections are closed at once ' +
    '(counted as `shed` in engineStats()); raise its limit (ulimit -n)', 'NativeClusterWarning');
}

// Every channel's and round-robin group's counters, in one engine call. Channels show the pid
// of their child where JS knows it.
function engineStats() {
  const stats = binding.stats();
  for (const channel of stats.channels) {
    const owner = owners.get(channel.id);
    if (owner !== undefined && typeof owner.pid === 'number') channel.pid = owner.pid;
  }
  return stats;
}

binding.init(onWake);
if (debug.enabled) binding.setTrace(true);

// The engine keeps the event loop alive while anything JS counts as ref'd exists.
let refs = 0;
function ref() {
  if (refs++ === 0) binding.setKeepAlive(true);
}
function unref() {
  if (--refs === 0) binding.setKeepAlive(false);
}

module.exports = {
  binding, EV, owners, ref, unref, guarded, nodeError, engineStats,
  // The current debuglog function (it replaces itself on first use).
  get debug() {
    return debug;
  },
};
