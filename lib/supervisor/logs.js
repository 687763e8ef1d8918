'use strict';
// Workers' stdout and stderr, off the IPC channel: each is a pipe the engine pumps on its I/O
// thread (so a busy primary JS does not stall logging), line by line, prefixed `[w<id> <pid>]`
// or as JSON lines, to the primary's stdout and stderr or to one file rotated by size. A slow
// sink stops the pumping: the worker's pipe fills and its writes block; the primary holds a
// bounded queue per sink (1 MiB) whatever the workers write.
const { EventEmitter } = require('node:events');
const os = require('node:os');
const path = require('node:path');
const { binding, nodeError, owners, EV } = require('../native');

const FORMATS = ['text', 'json', 'inherit'];
// How long a stopping primary waits for the last lines of its workers, and an exiting one for
// what is queued.
const FLUSH_TIMEOUT = 2000;
const EXIT_FLUSH_TIMEOUT = 1000;

function errorWithCode(message, code) {
  return Object.assign(new Error(message), { code });
}

function validate(o) {
  if (!FORMATS.includes(o.logFormat)) throw errorWithCode(`logFormat must be text, json or inherit (got ${o.logFormat})`, 'ERR_INVALID_ARG_VALUE');
  if (o.logFile != null && (typeof o.logFile !== 'string' || o.logFile === '')) throw errorWithCode('logFile must be a path', 'ERR_INVALID_ARG_TYPE');
  if (o.logFile != null && o.logFormat === 'inherit') throw errorWithCode('logFile needs logFormat text or json', 'ERR_INVALID_ARG_VALUE');
  for (const k of ['logMaxSize', 'logKeep']) {
    if (!Number.isInteger(o[k]) || o[k] < 0) throw errorWithCode(`${k} must be a non-negative integer (got ${o[k]})`, 'ERR_INVALID_ARG_VALUE');
  }
}

function call(fn, ...args) {
  try {
    return fn(...args);
  } catch (err) {
    throw nodeError(err);
  }
}

// Emits 'failed' (err: code EPIPE, ENOSPC, …; `sink`: 'stdout', 'stderr' or the file's path)
// for the first failed write of each episode (the first since a write went well): the lines
// are dropped, and counted, until one goes well again.
class Logs extends EventEmitter {
  #sinks;
  // The primary's stdout is written by the engine's writer (no log file).
  #ownsStdout = false;

  // `o`: the supervisor's options (logFormat, logFile, logMaxSize, logKeep, cwd).
  constructor(o) {
    super();
    validate(o);
    const format = o.logFormat;
    const common = { format, hostname: os.hostname() };
    if (o.logFile != null) {
      const file = { ...common, path: path.resolve(o.cwd || process.cwd(), o.logFile), maxSize: o.logMaxSize, keep: o.logKeep };
      const sink = call(binding.logSink, file);
      this.#sinks = { stdout: sink, stderr: sink };
      this.#watch(sink, file.path);
    } else {
      this.#sinks = { stdout: call(binding.logSink, { ...common, fd: 1 }), stderr: call(binding.logSink, { ...common, fd: 2 }) };
      this.#ownsStdout = true;
      this.#watch(this.#sinks.stdout, 'stdout');
      this.#watch(this.#sinks.stderr, 'stderr');
    }
    // What is queued is written before the process is gone.
    process.once('exit', () => {
      for (const sink of this.#distinctSinks()) binding.logFlush(sink, EXIT_FLUSH_TIMEOUT, false);
    });
  }

  #watch(sink, name) {
    owners.set(sink, {
      onEngineEvent: (ev) => {
        if (ev.kind !== EV.LOG_FAILED) return;
        const err = nodeError({ errno: ev.errno }, 'write');
        const where = name === 'stdout' || name === 'stderr' ? `the primary's ${name}` : name;
        this.emit('failed', Object.assign(new Error(`workers' output to ${where}: ${err.message}: lines are dropped (status --json: ` +
          'logs.dropped) until a write goes through again'), { code: err.code, errno: err.errno, syscall: 'write', sink: name }));
      },
    });
  }

  #distinctSinks() {
    return new Set(Object.values(this.#sinks));
  }

  // Writes the primary's own `text` (whole lines) to its stdout, in order with the workers'
  // lines when the engine writes there too (so neither tears the other's); whether it did.
  writeStdout(text) {
    if (!this.#ownsStdout) return false;
    call(binding.logWrite, this.#sinks.stdout, text);
    return true;
  }

  // Pipes for one worker: `stdio` for its spawn (fds 1 and 2), then `attach(id, pid)` once it
  // is spawned (or `close()` if the spawn failed).
  pipes() {
    const out = call(binding.logPipe);
    const err = call(binding.logPipe);
    const close = () => {
      for (const fd of [...out, ...err]) fd.close();
    };
    return {
      stdio: ['inherit', out[1].raw, err[1].raw, 'ipc'],
      attach: (id, pid) => {
        try {
          call(binding.logPump, this.#sinks.stdout, out[0].raw, id, pid, 'stdout');
          call(binding.logPump, this.#sinks.stderr, err[0].raw, id, pid, 'stderr');
        } finally {
          // The engine has its own copies of the read ends, the worker of the write ends.
          close();
        }
      },
      close,
    };
  }

  // The file is opened again (after logrotate moved it away: its copy-less rotation).
  reopen() {
    for (const sink of this.#distinctSinks()) call(binding.logReopen, sink);
  }

  // Blocks until the workers' pipes have ended and every line is written, at most `timeout` ms.
  flush(timeout = FLUSH_TIMEOUT) {
    let all = true;
    const deadline = Date.now() + timeout;
    for (const sink of this.#distinctSinks()) all = call(binding.logFlush, sink, Math.max(0, deadline - Date.now()), true) && all;
    return all;
  }

  // Whether worker `id`'s output waits for room in a sink: it may be blocked writing to its full
  // pipe (so answering no ping) without being hung.
  holdsBack(id) {
    for (const sink of this.#distinctSinks()) if (call(binding.logHoldsBack, sink, id)) return true;
    return false;
  }

  // Bytes written, dropped (a failed write), queued; rotations; whether a sink is not keeping up
  // (workers may then be blocked writing to their full pipes).
  stats() {
    const sum = { written: 0, dropped: 0, errors: 0, rotations: 0, queued: 0, stalled: false };
    for (const sink of this.#distinctSinks()) {
      const s = call(binding.logStats, sink);
      for (const k of ['written', 'dropped', 'errors', 'rotations', 'queued']) sum[k] += s[k];
      sum.stalled ||= s.stalled;
    }
    return sum;
  }
}

// Sinks live as long as the process (each has a writer thread): one per distinct setting.
const opened = new Map();

function logsFor(o) {
  validate(o);
  if (o.logFormat === 'inherit') return null;
  const key = JSON.stringify([o.logFormat, o.logFile != null ? path.resolve(o.cwd || process.cwd(), o.logFile) : null, o.logMaxSize, o.logKeep]);
  if (!opened.has(key)) opened.set(key, new Logs(o));
  return opened.get(key);
}

module.exports = { logsFor };
