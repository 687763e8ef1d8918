'use strict';
// supervise(): runs an unmodified Node server as a guarded cluster on our primary. Each of the
// N slots has one current worker; a worker that dies is replaced (with backoff), a slot that
// keeps dying before it is ready gives up, a reload replaces the workers one at a time without
// losing a request, and stop drains them all. Distribution itself stays on the engine's thread.
const { EventEmitter } = require('node:events');
const os = require('node:os');
const path = require('node:path');
const cluster = require('../cluster');
const { ipcChannelOf } = require('../subprocess');
const { binding, engineStats } = require('../native');
const proc = require('./proc');
const { captureStack } = require('./inspector');
const { guard } = require('./guard');
const containers = require('./containers');
const metrics = require('./metrics');
const { logsFor } = require('./logs');

const PRELOAD = path.join(__dirname, 'preload.js');
const LOG_PRELOAD = path.join(__dirname, 'log-preload.js');
const POLICIES = { rr: cluster.SCHED_RR, none: cluster.SCHED_NONE, reuseport: cluster.SCHED_REUSEPORT };

const DEFAULTS = {
  workers: 1,
  policy: 'rr',
  ready: 'listening',
  reloadTimeout: 3000,
  drainTimeout: 10000,
  // From SIGTERM (drain deadline passed) to SIGKILL.
  killTimeout: 2000,
  // How long the new primary of an upgrade (the CLI's, service.js) has to get all its workers
  // ready before it is stopped and this one serves on.
  upgradeTimeout: 30000,
  // Backoff between restarts of a slot that keeps dying: the first restart is immediate, then
  // `initial` ms, doubling up to `max`, each ±`jitter`; forgotten once a worker has been ready
  // for `reset` ms.
  backoff: { initial: 100, max: 15000, jitter: 0.2, reset: 30000 },
  // Deaths before ready, in a row, after which a slot gives up.
  giveUpAfter: 5,
  autorestart: true,
  // Exit codes that mean "do not restart" (PM2's stop_exit_codes).
  stopExitCodes: [],
  // Recycling (0 = off): a worker is replaced, the way a reload replaces it, after this many
  // requests (plus a random 0..jitter of its own, so workers do not recycle together) or
  // this many ms of being ready.
  maxRequests: 0,
  maxRequestsJitter: 0,
  maxLifetime: 0,
  // Bytes of RSS (the worker and its descendants) over which, three samples in a row, a worker
  // is replaced (0 = off).
  maxMemory: 0,
  // A worker that has not answered a ping for this long is hung: replaced and killed (0 = off).
  hangTimeout: 10000,
  // Capture a hung worker's JS stack through the inspector before killing it.
  hangStack: false,
  // How often workers are pinged and their memory sampled (on the engine's thread).
  sampleInterval: 1000,
  // Workers' stdout/stderr (pumped by the engine, see logs.js): 'text' (line by line, each
  // prefixed `[w<id> <pid>]`), 'json' (one JSON object a line), or 'inherit' (the primary's
  // own, untouched); to the primary's stdout/stderr, or to `logFile`, rotated once it would pass
  // `logMaxSize` bytes (0 = never), keeping `logKeep` old files.
  logFormat: 'text',
  logFile: null,
  logMaxSize: 10 * 1024 * 1024,
  logKeep: 5,
  // Make this process a child subreaper that reaps the orphans its workers leave (PID 1 in a
  // container is one anyway); the CLI turns it on.
  subreaper: false,
  // Each worker in a cgroup of its own where cgroup v2 is writable.
  cgroups: true,
};

// How long a hung worker's stack may take to capture before it is killed without one. Opening
// the inspector of a spinning process takes seconds on a loaded machine (3 s was seen to run
// out there); the worker is out of rotation and its replacement starting meanwhile.
const STACK_TIMEOUT = 10000;
// Samples over --max-memory, in a row, that make a worker be replaced.
const MEMORY_SAMPLES = 3;

function errorWithCode(message, code, extra) {
  return Object.assign(new Error(message), { code }, extra);
}

function workerCount(n) {
  if (n === 'max' || n === 0 || n === '0') return os.availableParallelism();
  const count = Number(n);
  if (!Number.isInteger(count)) throw errorWithCode(`workers must be a positive integer or 'max' (got ${n})`, 'ERR_INVALID_ARG_VALUE');
  // PM2's -N: all CPUs but N.
  return count < 0 ? Math.max(1, os.availableParallelism() + count) : count;
}

function normalize(script, options) {
  if (typeof script !== 'string' || script === '') throw errorWithCode('script must be a non-empty string', 'ERR_INVALID_ARG_TYPE');
  const o = { ...DEFAULTS, ...options, backoff: { ...DEFAULTS.backoff, ...(options && options.backoff) } };
  o.script = path.resolve(o.cwd || process.cwd(), script);
  o.workers = workerCount(o.workers);
  if (o.workers < 1) throw errorWithCode(`workers must be at least 1 (got ${o.workers})`, 'ERR_INVALID_ARG_VALUE');
  if (!Object.hasOwn(POLICIES, o.policy)) throw errorWithCode(`policy must be rr, none or reuseport (got ${o.policy})`, 'ERR_INVALID_ARG_VALUE');
  if (o.ready !== 'listening' && o.ready !== 'message') throw errorWithCode(`ready must be listening or message (got ${o.ready})`, 'ERR_INVALID_ARG_VALUE');
  for (const k of ['reloadTimeout', 'drainTimeout', 'killTimeout', 'upgradeTimeout', 'giveUpAfter', 'maxRequests', 'maxRequestsJitter', 'maxLifetime',
    'maxMemory', 'hangTimeout', 'sampleInterval']) {
    if (!Number.isFinite(o[k]) || o[k] < 0) throw errorWithCode(`${k} must be a non-negative number (got ${o[k]})`, 'ERR_INVALID_ARG_VALUE');
  }
  if (o.sampleInterval === 0) throw errorWithCode('sampleInterval must be positive', 'ERR_INVALID_ARG_VALUE');
  o.args = o.args || [];
  o.nodeArgs = o.nodeArgs || [];
  o.env = o.env || {};
  o.name = o.name || path.basename(o.script).replace(/\.[cm]?js$/, '');
  return o;
}

const addressKey = (a) => `${a.addressType}:${a.address}:${a.port}:${a.fd}`;

function describeAddress(a) {
  if (a.addressType === -1) return a.address;
  const host = a.address == null ? (a.addressType === 6 ? '::' : '0.0.0.0') : a.address;
  return a.addressType === 6 ? `[${host}]:${a.port}` : `${host}:${a.port}`;
}

// The delay before restart number `crashes` (1 = the first since the slot was last healthy).
function backoffDelay(crashes, { initial, max, jitter }) {
  if (crashes <= 1) return 0;
  const base = Math.min(max, initial * 2 ** (crashes - 2));
  return Math.round(base * (1 + jitter * (2 * Math.random() - 1)));
}

let policyTaken = null;

class Supervisor extends EventEmitter {
  #o;
  #slots = [];
  // Every live worker we started: current, candidates of a reload, and draining ones.
  #members = new Map();
  #stopping = null;
  // The reload running and the one queued behind it (which later callers join).
  #reloadTail = Promise.resolve();
  #reloadQueued = null;
  #reloading = false;
  #oomKills = proc.oomKills();
  #readyResolve;
  #readyReject;
  #startedAt = Date.now();
  #givenUp = null;
  // Notes the descendants of each worker without a cgroup once per sampleInterval, for a
  // whole-tree stop (unref'd: workers keep the primary up). Pings and memory samples run on the
  // engine's thread.
  #sampler = null;
  #lastHang = null;
  #logs;
  #onLogFailed = (err) => this.emit('warning', err);
  #counters = { restarts: 0, reloads: 0, reloadsAborted: 0, recycles: {}, recyclesAborted: 0, hangs: 0, exits: {} };
  #cgroups = null;
  #subreaperError = null;
  // The last 'health' told: { ready, answering }.
  #health = { ready: 0, answering: 0 };

  constructor(script, options = {}) {
    super();
    this.#o = normalize(script, options);
    this.#logs = logsFor(this.#o);
    // A failing log sink is said once per episode (lines are dropped, and counted, meanwhile).
    if (this.#logs) this.#logs.on('failed', this.#onLogFailed);
    const policy = POLICIES[this.#o.policy];
    if (policyTaken !== null && policyTaken !== policy) {
      throw errorWithCode('one process has one scheduling policy: supervise() was already called with another', 'ERR_INVALID_STATE');
    }
    policyTaken = policy;
    cluster.schedulingPolicy = policy;
    if (this.#o.subreaper) this.#subreaperError = containers.reapOrphans();
    if (this.#subreaperError !== null) {
      const err = errorWithCode(`orphans left by workers will not be reaped: ${this.#subreaperError}`, 'ERR_SUBREAPER');
      process.nextTick(() => this.emit('warning', err));
    }
    this.#cgroups = this.#o.cgroups ? new containers.Cgroups(this.#o.name) : null;
    if (this.#o.hangTimeout > 0 || this.#o.maxMemory > 0) {
      this.#sampler = setInterval(() => this.#lookAtTrees(), this.#o.sampleInterval);
      this.#sampler.unref();
    }
    this.ready = new Promise((resolve, reject) => {
      this.#readyResolve = resolve;
      this.#readyReject = reject;
    });
    // Awaiting `ready` is optional: an unobserved rejection must not kill the process.
    this.ready.catch(() => {});
    // The first worker starts alone, the others once it is ready or dead: a port held by
    // another process, or an app that cannot start, shows up (and logs its error) once.
    process.nextTick(() => {
      const first = this.#addSlot().current;
      const settled = (e) => {
        if (e.id !== first.id) return;
        this.off('worker-ready', settled);
        this.off('worker-exit', settled);
        // After the exit has been dealt with (a port conflict gives up on everything).
        setImmediate(() => {
          if (this.#stopping || this.#givenUp) return;
          for (let i = this.#slots.length; i < this.#o.workers; i++) this.#addSlot();
        });
      };
      this.on('worker-ready', settled);
      this.on('worker-exit', settled);
    });
  }

  get name() {
    return this.#o.name;
  }

  get options() {
    return { ...this.#o, backoff: { ...this.#o.backoff } };
  }

  // ---- workers ----

  #addSlot() {
    const slot = { index: this.#slots.length, current: null, candidate: null, restarts: 0, crashes: 0, earlyDeaths: 0,
      timer: null, resetTimer: null, gaveUp: false, lastExit: null, removed: false };
    this.#slots.push(slot);
    slot.current = this.#spawn(slot);
    return slot;
  }

  #spawn(slot) {
    const o = this.#o;
    // With --hang-stack the inspector is armed but closed (port 0: SIGUSR1 opens it on a free
    // loopback port); node:cluster passes the port on as --inspect-port.
    const execArgv = [...o.nodeArgs, '--require', PRELOAD, ...(o.hangStack ? ['--inspect-port=0'] : [])];
    const pipes = this.#logs && this.#logs.pipes();
    const stdio = pipes ? pipes.stdio : ['inherit', 'inherit', 'inherit', 'ipc'];
    if (pipes) execArgv.push('--require', LOG_PRELOAD);
    cluster.setupPrimary({ exec: o.script, args: o.args, cwd: o.cwd, execArgv, silent: false, stdio, detached: true,
      deathSignal: containers.DEATH_SIGNAL, ...(o.hangStack ? { inspectPort: 0 } : {}) });
    const env = { ...o.env, NODE_APP_INSTANCE: String(slot.index) };
    if (o.maxRequests > 0) env.NATIVE_CLUSTER_MAX_REQUESTS = String(o.maxRequests + Math.floor(Math.random() * (o.maxRequestsJitter + 1)));
    let worker;
    try {
      worker = cluster.fork(env);
    } finally {
      if (pipes) {
        if (worker) pipes.attach(worker.id, worker.process.pid ?? 0);
        else pipes.close();
      }
    }
    const m = {
      worker, slot, id: worker.id, pid: worker.process.pid, state: 'starting', startedAt: Date.now(), readyAt: 0,
      addresses: new Map(), queried: [], signalled: null, retiring: null, drainTimedOut: false, timers: [],
      exited: null, waiters: [], cpu: null,
      // Guard rails: requests served (as of its last pong), the engine's guard (pings, memory
      // samples), the last round trip, memory samples over the limit in a row, why it is being
      // replaced.
      requests: 0, guard: null, rtt: null, memory: null, over: 0, everUnder: false,
      recycle: null, hung: false,
      // Its descendants as last seen (/proc): those still there once it has exited are
      // terminated too, even when they left its process group or were re-parented.
      tree: new Map(),
    };
    m.exited = new Promise((resolve) => m.waiters.push(resolve));
    m.cgroup = this.#cgroups !== null && this.#cgroups.adopt(m.id, m.pid);
    this.#members.set(worker.id, m);
    worker.process.on('internalMessage', (msg) => {
      if (!msg) return;
      if (msg.cmd === 'NODE_CLUSTER' && msg.act === 'queryServer') {
        if (msg.port > 0) m.queried.push({ port: msg.port, address: msg.address });
        else if (msg.addressType === -1 && typeof msg.address === 'string') m.queried.push({ path: msg.address });
      }
      else if (msg.cmd === 'NODE_NC_PONG') this.#onPong(m, msg);
      else if (msg.cmd === 'NODE_NC_MAX_REQUESTS' && Number.isInteger(msg.requests)) {
        m.requests = Math.max(m.requests, msg.requests);
        this.#recycle(m, 'max-requests', `${msg.requests} requests`);
      }
    });
    worker.on('listening', (info) => {
      m.addresses.set(addressKey(info), info);
      this.#checkReady(m);
    });
    worker.on('message', (msg) => {
      if (msg === 'ready' || (msg && msg.type === 'ready')) {
        m.sentReady = true;
        this.#checkReady(m);
      }
    });
    // A worker's 'error' (a bogus message) must not become the primary's uncaught exception.
    // A write to a worker that is going away fails with EPIPE: its exit tells the story.
    worker.on('error', (err) => {
      if (err.code !== 'EPIPE' && err.code !== 'ERR_IPC_CHANNEL_CLOSED') this.emit('warning', err);
    });
    worker.process.once('exit', (code, signal) => this.#onExit(m, code, signal));
    return m;
  }

  // Ready: it sent 'ready' (--ready message), or it listens on every address the worker it
  // replaces listened on (any address, the first time).
  #checkReady(m) {
    if (m.state !== 'starting') return;
    if (this.#o.ready === 'message') {
      if (!m.sentReady) return;
    } else {
      if (m.addresses.size === 0) return;
      const required = m.required || [];
      if (!required.every((k) => m.addresses.has(k))) return;
    }
    m.state = 'ready';
    m.readyAt = Date.now();
    this.#checkHealth();
    this.#watch(m);
    const slot = m.slot;
    if (slot.current === m) this.#slotHealthy(slot);
    this.emit('worker-ready', { id: m.id, pid: m.pid, slot: slot.index, addresses: [...m.addresses.values()], replacing: m.replacing || null });
    if (m.onReady) m.onReady();
    this.#checkAllReady();
  }

  #slotHealthy(slot) {
    slot.earlyDeaths = 0;
    clearTimeout(slot.resetTimer);
    slot.resetTimer = setTimeout(() => {
      slot.crashes = 0;
    }, this.#o.backoff.reset);
    slot.resetTimer.unref();
  }

  #checkAllReady() {
    const live = this.#slots.filter((s) => !s.removed);
    const ready = (s) => s.current && s.current.state === 'ready';
    if (live.length >= this.#o.workers && live.some(ready) && live.every((s) => ready(s) || s.gaveUp)) {
      this.#readyResolve(this.stats());
    }
  }

  #classify(m, code, signal) {
    const beforeReady = m.readyAt === 0;
    let kind;
    let text;
    if (m.drainTimedOut) {
      kind = 'drain-timeout';
      text = `drain timeout (${signal ? `signal ${signal}` : `code ${code}`})`;
    } else if (signal) {
      const ours = m.signalled !== null;
      let oom = false;
      if (!ours && signal === 'SIGKILL') {
        const kills = proc.oomKills();
        oom = kills > this.#oomKills;
        this.#oomKills = kills;
      }
      kind = oom ? 'oom-killed' : 'signal';
      text = oom ? 'oom-killed' : `signal ${signal} (${ours ? 'ours' : 'external'})`;
    } else {
      kind = 'code';
      text = `code ${code}`;
    }
    if (beforeReady && !m.retiring) {
      kind = 'died-before-ready';
      text = `died before ready (${text})`;
    } else if (m.hung) {
      kind = 'hang-killed';
      text = `hang-killed (${text})`;
    } else if (m.recycle && m.retiring === m.recycle.kind) {
      kind = m.recycle.kind;
      text = `${kind}: ${m.recycle.detail} (${text})`;
    }
    return { kind, text, code, signal, beforeReady, requested: Boolean(m.retiring) };
  }

  #onExit(m, code, signal) {
    const reason = this.#classify(m, code, signal);
    const previous = m.state;
    m.state = 'dead';
    this.#checkHealth();
    for (const t of m.timers) clearTimeout(t);
    if (m.guard) m.guard.stop();
    if (m.recycle && m.recycle.settle) m.recycle.settle(true);
    this.#reapTree(m);
    this.#reapCgroup(m);
    this.#members.delete(m.id);
    this.#counters.exits[reason.kind] = (this.#counters.exits[reason.kind] || 0) + 1;
    const slot = m.slot;
    const event = { id: m.id, pid: m.pid, slot: slot.index, code, signal, reason: reason.text, kind: reason.kind, requested: reason.requested, state: previous };
    this.emit('worker-exit', event);
    for (const resolve of m.waiters) resolve(event);
    if (m.onExit) m.onExit(event);
    if (m.retiring || slot.current !== m) return;
    slot.lastExit = reason.text;
    if (this.#stopping || slot.removed || slot.candidate) return;
    this.#unexpectedDeath(slot, m, reason, code);
  }

  #unexpectedDeath(slot, m, reason, code) {
    slot.current = null;
    if (reason.beforeReady) {
      const holder = this.#portConflict(m);
      if (holder) {
        this.#giveUpAll(holder);
        return;
      }
    }
    if (!this.#o.autorestart || (code !== null && this.#o.stopExitCodes.includes(code))) return;
    slot.crashes++;
    clearTimeout(slot.resetTimer);
    if (reason.beforeReady && ++slot.earlyDeaths >= this.#o.giveUpAfter) {
      slot.gaveUp = true;
      const why = `died before ready ${slot.earlyDeaths} times in a row (last: ${reason.text})`;
      const all = this.#slots.every((s) => s.removed || s.gaveUp);
      this.emit('gave-up', { slot: slot.index, reason: why, all });
      if (all) this.#allGaveUp(why);
      else this.#checkAllReady();
      return;
    }
    const delay = backoffDelay(slot.crashes, this.#o.backoff);
    slot.restarts++;
    this.#counters.restarts++;
    this.emit('restart', { slot: slot.index, delay, after: reason.text, restarts: slot.restarts });
    const restart = () => {
      slot.timer = null;
      if (!this.#stopping && !slot.removed && slot.current === null) slot.current = this.#spawn(slot);
    };
    if (delay === 0) restart();
    else slot.timer = setTimeout(restart, delay);
  }

  // A worker that died before it listened may have been refused its port or unix socket path
  // by another process: that is not going to change by restarting it, so everyone gives up at
  // once, naming it. A socket this primary holds too (activated, or handed over by an upgrade)
  // is shared, not in the way.
  #portConflict(m) {
    const bound = new Set([...m.addresses.values()].map((a) => (a.addressType === -1 ? a.address : a.port)));
    const ourPids = new Set([process.pid, ...[...this.#members.values()].map((x) => x.pid)]);
    for (const { port, path: file } of m.queried) {
      if (bound.has(file ?? port)) continue;
      const all = file === undefined ? proc.portHolders(port) : proc.unixPathHolders(file);
      if (all.some((h) => h.pid === process.pid)) continue;
      const holders = all.filter((h) => !ourPids.has(h.pid));
      if (holders.length > 0) {
        const who = holders.map((h) => `pid ${h.pid} (${h.command})`).join(', ');
        return file === undefined
          ? { port, holders, reason: `port ${port} is in use by ${who}` }
          : { path: file, holders, reason: `unix socket ${file} is in use by ${who}` };
      }
    }
    return null;
  }

  #giveUpAll(conflict) {
    for (const s of this.#slots) {
      s.gaveUp = true;
      clearTimeout(s.timer);
    }
    this.emit('gave-up', { slot: null, reason: conflict.reason, all: true, port: conflict.port, path: conflict.path, holders: conflict.holders });
    this.#allGaveUp(conflict.reason);
    // The other slots' workers will fail the same way: do not wait for them.
    for (const m of this.#members.values()) this.#retire(m, 'gave up');
  }

  #allGaveUp(why) {
    this.#givenUp = why;
    this.#readyReject(errorWithCode(`gave up: ${why}`, 'ERR_GAVE_UP'));
  }

  // Signals the worker's whole process group (it leads one: workers start in a session of
  // their own) and every descendant seen, wherever it has gone.
  #kill(m, signal) {
    if (m.state === 'dead') return;
    if (m.signalled === null || signal === 'SIGKILL') m.signalled = signal;
    this.#lookAtTree(m);
    try {
      process.kill(-m.pid, signal);
    } catch {
      try {
        m.worker.process.kill(signal);
      } catch {
        // Gone already: its exit is on the way.
      }
    }
    this.#signalTree(m, signal);
  }

  // Notes the worker's descendants now (and returns them).
  #lookAtTree(m) {
    const now = proc.descendants(m.pid, m.tree);
    for (const d of now) m.tree.set(d.pid, d.start);
    return now;
  }

  // Signals the descendants of `m` seen so far that still exist (the same process: same start
  // time); returns how many.
  #signalTree(m, signal) {
    let alive = 0;
    for (const [pid, start] of m.tree) {
      if (proc.startTime(pid) !== start) {
        m.tree.delete(pid);
        continue;
      }
      try {
        process.kill(pid, signal);
        alive++;
      } catch {
        m.tree.delete(pid);
      }
    }
    return alive;
  }

  // After a worker has exited: its descendants still running (a child that kept the port,
  // say) get SIGTERM, and SIGKILL after killTimeout.
  #reapTree(m) {
    if (m.tree.size === 0 || this.#signalTree(m, 'SIGTERM') === 0) return;
    this.emit('warning', errorWithCode(`worker ${m.id} (pid ${m.pid}) left ${m.tree.size} process(es) behind (${[...m.tree.keys()].join(', ')}): terminating them`,
      'ERR_LEFT_BEHIND'));
    setTimeout(() => this.#signalTree(m, 'SIGKILL'), this.#o.killTimeout);
  }

  // After a worker has exited: what is left in its cgroup (wherever it went: a detached child,
  // a re-parented grandchild) gets SIGTERM and, after killTimeout, the cgroup's SIGKILL; at
  // once while stopping (the primary is about to exit).
  #reapCgroup(m) {
    if (!m.cgroup) return;
    const left = this.#cgroups.members(m.id);
    if (left.length === 0 || this.#stopping) {
      this.#cgroups.kill(m.id);
      return;
    }
    for (const pid of left) {
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        // Gone already.
      }
    }
    const timer = setTimeout(() => this.#cgroups.kill(m.id), this.#o.killTimeout);
    timer.unref();
  }

  // Takes a worker out of distribution and asks it to leave as node:cluster's disconnect()
  // does (it closes its servers; our preload makes keep-alive connections end after the
  // response in flight); after `drainTimeout` SIGTERM, after `killTimeout` more SIGKILL.
  // Resolves with its exit.
  #retire(m, why, drainTimeout = this.#o.drainTimeout) {
    if (m.state === 'dead' || m.retiring) return m.exited;
    m.retiring = why;
    m.state = 'draining';
    this.#checkHealth();
    this.#lookAtTree(m);
    let terminated = false;
    const terminate = () => {
      if (terminated) return;
      terminated = true;
      this.#kill(m, 'SIGTERM');
      m.timers.push(setTimeout(() => this.#kill(m, 'SIGKILL'), this.#o.killTimeout));
    };
    if (drainTimeout > 0 && m.worker.isConnected()) {
      // A worker over its memory limit is not left to grow until the drain deadline: once its
      // servers have closed (it has served what it had) and it has let go of its channel, it
      // is terminated.
      if (why === 'memory-limit') m.worker.process.once('disconnect', terminate);
      m.worker.disconnect();
      m.timers.push(setTimeout(() => {
        if (terminated) return;
        m.drainTimedOut = true;
        terminate();
      }, drainTimeout));
    } else terminate();
    return m.exited;
  }

  // ---- reload ----

  reload() {
    if (this.#stopping) return Promise.reject(errorWithCode('the cluster is stopping', 'ERR_STOPPING'));
    // A reload already waiting to start covers this request too.
    if (this.#reloadQueued) return this.#reloadQueued;
    const run = this.#reloadTail.catch(() => {}).then(() => {
      this.#reloadQueued = null;
      return this.#reloadAll();
    });
    this.#reloadQueued = run;
    this.#reloadTail = run;
    return run;
  }

  async #reloadAll() {
    this.#reloading = true;
    const retired = [];
    const started = Date.now();
    this.emit('reload-start', { workers: this.#slots.filter((s) => !s.removed).length });
    try {
      for (const slot of [...this.#slots]) {
        if (this.#stopping) throw errorWithCode('the cluster is stopping', 'ERR_STOPPING');
        if (slot.removed) continue;
        const old = await this.#reloadSlot(slot);
        if (old) retired.push(old);
      }
      this.#counters.reloads++;
    } catch (err) {
      if (err.code === 'ERR_RELOAD_ABORTED') this.#counters.reloadsAborted++;
      throw err;
    } finally {
      this.#reloading = false;
    }
    const exits = await Promise.all(retired);
    const result = { replaced: exits.length, ms: Date.now() - started };
    this.emit('reload-done', result);
    return result;
  }

  // Starts the slot's replacement, waits until it is ready, then retires the old worker (for a
  // reload, or for `recycle`: { kind, detail }). Resolves with the old worker's exit (a
  // promise), or throws ERR_RELOAD_ABORTED.
  async #reloadSlot(slot, recycle = null) {
    const old = slot.current && slot.current.state !== 'dead' ? slot.current : null;
    clearTimeout(slot.timer);
    slot.timer = null;
    const m = this.#spawn(slot);
    slot.candidate = m;
    if (old && this.#o.ready === 'listening' && old.state === 'ready') m.required = [...old.addresses.keys()];
    m.replacing = old ? old.id : null;
    let failure = await new Promise((resolve) => {
      const timer = setTimeout(() => resolve(`not ready within ${this.#o.reloadTimeout} ms`), this.#o.reloadTimeout);
      m.onReady = () => {
        clearTimeout(timer);
        resolve(null);
      };
      m.onExit = (e) => {
        clearTimeout(timer);
        resolve(`worker ${e.id} exited before ready: ${e.reason}`);
      };
    });
    m.onReady = null;
    m.onExit = null;
    if (failure === null && recycle && recycle.gate) {
      // The candidate serves alongside while the recycle waits to be confirmed.
      if (!(await recycle.gate)) failure = `${recycle.kind} no longer holds`;
      else if (m.state === 'dead') failure = `worker ${m.id} exited before it could take over`;
    }
    slot.candidate = null;
    if (failure !== null) {
      // Connections it may already have been handed are drained, not dropped.
      if (m.state !== 'dead') this.#retire(m, 'reload aborted', m.addresses.size > 0 ? this.#o.drainTimeout : 0);
      // The old worker died while we waited: the slot restarts as after any death.
      if (old && old.state === 'dead' && slot.current === old && !this.#stopping) this.#unexpectedDeath(slot, old, { beforeReady: false, text: old.slot.lastExit }, null);
      const event = { slot: slot.index, id: m.id, pid: m.pid, reason: failure };
      if (recycle) this.emit('recycle-aborted', { ...event, kind: recycle.kind, replacing: old && old.id });
      else this.emit('reload-aborted', event);
      throw errorWithCode(`${recycle ? 'recycle' : 'reload'} aborted: ${failure}; the old workers keep serving`, 'ERR_RELOAD_ABORTED', event);
    }
    slot.current = m;
    slot.gaveUp = false;
    this.#checkHealth();
    this.#slotHealthy(slot);
    if (!old) return null;
    const step = { slot: slot.index, id: m.id, pid: m.pid, replaced: old.id, replacedPid: old.pid };
    if (!recycle) {
      this.emit('reload-step', step);
      return this.#retire(old, 'reload');
    }
    this.#counters.recycles[recycle.kind] = (this.#counters.recycles[recycle.kind] || 0) + 1;
    this.emit('recycled', { ...step, kind: recycle.kind, reason: recycle.detail });
    return this.#retire(old, recycle.kind);
  }

  // ---- guard rails: recycling, memory limit, hung workers ----

  // Replaces worker `m` through the reload path (surge, gate, out of round-robin, drain), one
  // replacement at a time and never during a reload. A replacement that does not become ready
  // leaves `m` serving; it is tried again later.
  // With `gate` ({ gate, settle }), the replacement takes over only once `gate` resolves true.
  #recycle(m, kind, detail, gate = null) {
    if (m.recycle || m.retiring || m.state !== 'ready' || this.#stopping || m.slot.current !== m) return;
    m.recycle = { kind, detail, ...gate };
    this.emit('recycle', { slot: m.slot.index, id: m.id, pid: m.pid, kind, reason: detail });
    const run = this.#reloadTail.catch(() => {}).then(async () => {
      if (this.#stopping || m.retiring || m.state !== 'ready' || m.slot.current !== m || m.slot.removed) return;
      try {
        await this.#reloadSlot(m.slot, m.recycle);
      } catch (err) {
        if (err.code !== 'ERR_RELOAD_ABORTED') throw err;
        this.#counters.recyclesAborted++;
        m.recycle = null;
        m.over = 0;
        // The memory check asks again by itself; the others after the longest backoff.
        if (kind !== 'memory-limit') {
          const retry = setTimeout(() => this.#recycle(m, kind, detail), this.#o.backoff.max);
          retry.unref();
          m.timers.push(retry);
        }
      }
    });
    this.#reloadTail = run;
    run.catch((err) => this.emit('warning', err));
  }

  // A worker just became ready: its lifetime starts, and it is pinged from now on.
  #watch(m) {
    const o = this.#o;
    if (o.maxLifetime > 0) {
      const timer = setTimeout(() => this.#recycle(m, 'max-lifetime', `ready for ${o.maxLifetime} ms`), o.maxLifetime);
      timer.unref();
      m.timers.push(timer);
    }
    this.#guard(m);
  }

  // Pings and memory samples on the engine's thread (a new guard starts with the worker routable).
  #guard(m) {
    const o = this.#o;
    if (m.guard) m.guard.stop();
    m.guard = null;
    if (o.hangTimeout > 0 || o.maxMemory > 0) {
      const settings = { tick: o.sampleInterval, hangTimeout: o.hangTimeout, sampleMemory: o.maxMemory > 0 };
      m.guard = guard(m.worker.process, settings, (report, value, ev) => this.#onGuard(m, report, value, ev));
    }
  }

  // What the engine's guard saw: out of round-robin (it resumes by itself), back, hung, or
  // its memory.
  #onGuard(m, report, value, ev) {
    if (report === 'answered' || report === 'missed') {
      if (report === 'answered') m.rtt = value;
      m.pingMissed = report === 'missed';
      this.#checkHealth();
    } else if (report === 'hung') this.#hung(m, value, ev.handed);
    else if (report === 'rss') {
      m.memory = value;
      if (m.state === 'ready' && !m.retiring) this.#sampleMemory(m);
    }
  }

  // Slots whose current worker is ready, and of those the ones whose last ping was answered (all
  // of them with pings off): 'health' tells each change (systemd's WATCHDOG=1 follows it).
  #healthNow() {
    let ready = 0;
    let answering = 0;
    for (const slot of this.#slots) {
      const m = slot.current;
      if (slot.removed || !m || m.state !== 'ready') continue;
      ready++;
      if (!m.pingMissed) answering++;
    }
    return { ready, answering };
  }

  #checkHealth() {
    const now = this.#healthNow();
    if (now.ready === this.#health.ready && now.answering === this.#health.answering) return;
    this.#health = now;
    this.emit('health', { ...now });
  }

  #onPong(m, msg) {
    if (Number.isInteger(msg.requests)) m.requests = msg.requests;
  }

  // A worker in a cgroup of its own needs no snapshots: its cgroup holds every descendant.
  #lookAtTrees() {
    for (const m of this.#members.values()) if (!m.cgroup) this.#lookAtTree(m);
  }

  // The RSS of the worker and its descendants (m.memory) against the limit.
  #sampleMemory(m) {
    const limit = this.#o.maxMemory;
    if (m.memory <= limit) {
      m.over = 0;
      m.everUnder = true;
      // Back under before it was confirmed: its replacement is not needed.
      if (m.recycle && m.recycle.settle) m.recycle.settle(false);
      return;
    }
    const mb = (b) => Math.round(b / 1048576);
    ++m.over;
    if (m.everUnder && m.over === 1) {
      // The replacement starts now and is promoted only if the next samples are over too: the
      // leaking worker then goes as soon as the limit is confirmed, not a start-up later.
      let settle;
      const gate = new Promise((resolve) => { settle = resolve; });
      this.#recycle(m, 'memory-limit', `rss ${mb(m.memory)} MB over ${mb(limit)} MB (sample 1 of ${MEMORY_SAMPLES}: its replacement starts, ` +
        'and takes over if the next ones are over too)', { gate, settle });
    }
    if (m.over < MEMORY_SAMPLES) return;
    if (!m.everUnder) {
      // A replacement would start over the limit too: restarting it would be a loop.
      if (!m.baselineWarned) {
        m.baselineWarned = true;
        this.emit('warning', errorWithCode(`worker ${m.id} (pid ${m.pid}) uses ${mb(m.memory)} MB from its start, over --max-memory ` +
          `${mb(limit)} MB (limit below baseline): not replaced; raise the limit`, 'ERR_LIMIT_BELOW_BASELINE'));
      }
      return;
    }
    const detail = `rss ${mb(m.memory)} MB over ${mb(limit)} MB in ${MEMORY_SAMPLES} samples`;
    if (m.recycle && m.recycle.kind === 'memory-limit' && m.recycle.settle) {
      m.recycle.detail = detail;
      m.recycle.settle(true);
    } else this.#recycle(m, 'memory-limit', detail);
  }

  // No answer to pings for hangTimeout (the engine took it out of round-robin at its first
  // missed ping): it is asked to leave (its `disconnect` waits in its channel, unread), a
  // replacement starts, and it is killed, after its JS stack has been captured with hangStack.
  #hung(m, silentMs, handedAfterMiss) {
    if (m.state === 'dead' || m.retiring || this.#stopping) return;
    // A log sink that does not keep up blocks the workers writing to it (back-pressure): that is
    // not a hang, and a replacement would block as well: it is watched afresh. Only a worker the
    // sink holds back: another worker's flood must not hide a hang.
    if (this.#logs && this.#logs.holdsBack(m.id)) {
      this.#guard(m);
      return;
    }
    const slot = m.slot;
    m.hung = true;
    m.retiring = 'hang';
    m.state = 'draining';
    this.#checkHealth();
    this.#counters.hangs++;
    if (m.worker.isConnected()) m.worker.disconnect();
    this.#lastHang = { id: m.id, pid: m.pid, slot: slot.index, silentMs, handedAfterMiss, at: Date.now() };
    this.emit('worker-hung', { ...this.#lastHang });
    if (slot.current === m && !slot.candidate && !slot.removed) {
      slot.restarts++;
      this.#counters.restarts++;
      this.emit('restart', { slot: slot.index, delay: 0, after: 'hang', restarts: slot.restarts });
      slot.current = this.#spawn(slot);
    }
    const kill = () => this.#kill(m, 'SIGKILL');
    if (!this.#o.hangStack) return kill();
    captureStack(m.pid, STACK_TIMEOUT).then((frames) => {
      this.emit('hang-stack', { id: m.id, pid: m.pid, slot: slot.index, frames });
    }, (err) => {
      this.emit('hang-stack', { id: m.id, pid: m.pid, slot: slot.index, frames: null, error: err.message });
    }).finally(kill);
  }

  // The engine's counters of the worker's channel (zeros once it is closed).
  #channelStats(m) {
    const channel = ipcChannelOf(m.worker.process);
    const found = channel && engineStats().channels.find((c) => c.id === channel.id);
    return found || { bytesIn: 0, framesIn: 0, bytesOut: 0, framesOut: 0, fdsOut: 0, queuedBytes: 0 };
  }

  // ---- scale, stop, stats ----

  scale(n) {
    const want = workerCount(n);
    if (want < 1) throw errorWithCode(`workers must be at least 1 (got ${n})`, 'ERR_INVALID_ARG_VALUE');
    if (this.#stopping) throw errorWithCode('the cluster is stopping', 'ERR_STOPPING');
    const live = this.#slots.filter((s) => !s.removed);
    const exits = [];
    for (let i = live.length; i < want; i++) this.#addSlot();
    for (const slot of live.slice(want)) {
      slot.removed = true;
      clearTimeout(slot.timer);
      clearTimeout(slot.resetTimer);
      for (const m of [slot.current, slot.candidate]) if (m) exits.push(this.#retire(m, 'scale down'));
    }
    this.#slots = this.#slots.filter((s) => !s.removed);
    this.#slots.forEach((s, i) => {
      s.index = i;
    });
    this.#o.workers = want;
    this.emit('scale', { workers: want });
    // Scaling down may leave only ready slots before `ready` has resolved.
    this.#checkAllReady();
    return Promise.all(exits).then(() => ({ workers: want }));
  }

  stop() {
    if (this.#stopping) return this.#stopping;
    this.emit('stopping', { workers: this.#members.size });
    clearInterval(this.#sampler);
    const exits = [];
    for (const slot of this.#slots) {
      clearTimeout(slot.timer);
      clearTimeout(slot.resetTimer);
    }
    for (const m of this.#members.values()) exits.push(this.#retire(m, 'stop'));
    this.#stopping = Promise.all(exits).then((events) => {
      if (this.#cgroups) this.#cgroups.close();
      this.#readyReject(errorWithCode('stopped before ready', 'ERR_STOPPING'));
      // The workers' last lines are out before anyone acts on 'stopped' (and exits).
      if (this.#logs) {
        this.#logs.flush();
        this.#logs.off('failed', this.#onLogFailed);
      }
      const result = { stopped: events.length, drainTimeouts: events.filter((e) => e.kind === 'drain-timeout').length };
      this.emit('stopped', result);
      return result;
    });
    return this.#stopping;
  }

  stats() {
    const now = Date.now();
    const workers = [];
    for (const m of this.#members.values()) {
      const cpu = proc.cpuSeconds(m.pid);
      let cpuPercent = null;
      if (cpu !== null) {
        const since = m.cpu || { seconds: 0, at: m.startedAt };
        cpuPercent = now > since.at ? Math.round((1000 * 100 * (cpu - since.seconds)) / (now - since.at)) / 10 : 0;
        m.cpu = { seconds: cpu, at: now };
      }
      const channel = ipcChannelOf(m.worker.process);
      const ipc = this.#channelStats(m);
      workers.push({
        id: m.id,
        slot: m.slot.index,
        pid: m.pid,
        state: m.slot.current === m || m.state !== 'ready' ? m.state : 'standby',
        uptime: now - m.startedAt,
        restarts: m.slot.restarts,
        lastExit: m.slot.lastExit,
        rss: proc.rss(m.pid),
        cpu: cpuPercent,
        addresses: [...m.addresses.values()].map(describeAddress),
        // Not counted by the engine yet.
        connections: null,
        // A hand-off (or other handle) sent and not yet ACKed: the engine holds at most one.
        awaitingAck: channel && binding.channelHeld(channel.id) >= 0 ? 1 : 0,
        // Guard rails: HTTP requests it has served (as of its last answer to a ping), the round
        // trip of that ping (ms), RSS with its descendants at the last sample, and its channel.
        requests: m.requests,
        pingRtt: m.rtt,
        // Its last ping went unanswered: the engine routes it no connection until it answers.
        pingMissed: Boolean(m.pingMissed),
        cpuSeconds: cpu,
        treeRss: m.memory,
        channel: { bytesIn: ipc.bytesIn, bytesOut: ipc.bytesOut, framesIn: ipc.framesIn, framesOut: ipc.framesOut, fdsOut: ipc.fdsOut,
          queuedBytes: ipc.queuedBytes },
      });
    }
    workers.sort((a, b) => a.slot - b.slot || a.id - b.id);
    const slots = this.#slots.filter((s) => !s.removed);
    return {
      name: this.#o.name,
      script: this.#o.script,
      pid: process.pid,
      policy: this.#o.policy,
      workers: slots.length,
      ready: slots.filter((s) => s.current && s.current.state === 'ready').length,
      // Of those, the ones whose last ping was answered (all of them with pings off).
      answering: this.#healthNow().answering,
      reloading: this.#reloading,
      stopping: Boolean(this.#stopping),
      gaveUp: this.#givenUp,
      slots: slots.map((s) => ({ slot: s.index, gaveUp: s.gaveUp, restarts: s.restarts, lastExit: s.lastExit,
        restartPending: s.timer !== null })),
      uptime: now - this.#startedAt,
      rss: proc.rss(process.pid),
      addresses: [...new Set(workers.flatMap((w) => w.addresses))],
      counters: { ...this.#counters, recycles: { ...this.#counters.recycles }, exits: { ...this.#counters.exits } },
      lastHang: this.#lastHang,
      // Workers' output: bytes written, dropped (failed writes), queued; file rotations.
      logs: this.#logs ? this.#logs.stats() : null,
      // PID 1 / containers: a cgroup per worker (or why not), the subreaper and its orphans.
      containers: {
        cgroups: Boolean(this.#cgroups && this.#cgroups.enabled),
        cgroupNote: this.#cgroups ? this.#cgroups.note : 'cgroups: off',
        subreaper: this.#o.subreaper && this.#subreaperError === null,
        subreaperError: this.#subreaperError,
        orphansReaped: containers.orphansReaped(),
      },
      // The engine's round-robin groups (connections handed out, waiting, unACKed).
      groups: engineStats().groups,
      list: workers,
    };
  }

  // Log files are opened again (SIGUSR1 in the CLI: logrotate moved them away).
  reopenLogs() {
    if (this.#logs) this.#logs.reopen();
  }

  // The primary's own output (whole lines), in order with the workers' lines on its stdout.
  writeStdout(text) {
    if (!(this.#logs && this.#logs.writeStdout(text))) process.stdout.write(text);
  }

  // stats() in the Prometheus text format.
  metrics() {
    return metrics.render(this.stats());
  }
}

function supervise(script, options) {
  return new Supervisor(script, options);
}

module.exports = { supervise, Supervisor };
