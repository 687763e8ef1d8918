'use strict';
// `native-cluster`: runs an unmodified Node server as a guarded cluster in the foreground, or
// sends a command to one that runs. A thin shell over supervise().
const fs = require('node:fs');
const path = require('node:path');
const { parseArgs } = require('node:util');
const control = require('./control');

const COMMANDS = new Set(['reload', 'stop', 'scale', 'status', 'upgrade']);

const USAGE = `usage: native-cluster [options] app.js [-- app args]
       native-cluster [options] ecosystem.config.js
       native-cluster reload|stop|status [--json]|scale N|upgrade [name]

options:
  -w, -i, --workers <n|max>   workers (default 1; max = os.availableParallelism())
  --policy rr|none|reuseport  how connections are spread (default rr)
  --ready listening|message   when a worker counts as ready (default listening)
  --reload-timeout <ms>       a replacement not ready by then aborts the reload (3000)
  --drain-timeout <ms>        a leaving worker gets this long, then SIGTERM (10000)
  --upgrade-timeout <time>    the new primary of an upgrade not ready by then is stopped,
                              and this one serves on: ms, 30s, 2m (30s)
  --name <name>               the cluster's name (default: the script's)
  --env KEY=VALUE             environment of the workers (repeatable)
  --node-args "<args>"        node options of the workers
  --backoff-reset <ms>        ready time after which a slot's backoff is forgotten (30000)
  --max-requests <n>          replace a worker after n requests, without losing one (off)
  --max-requests-jitter <n>   plus a random 0..n per worker, so they do not recycle together
  --max-lifetime <time>       replace a worker after it has been ready this long: ms, 30s, 30m, 2h (off)
  --max-memory <size>         replace a worker whose RSS (with its children) stays over this
                              for 3 samples a second apart: 512M, 1G (off)
  --hang-timeout <time>       a worker not answering pings this long is replaced and killed (10s; 0 = off)
  --hang-stack                log a hung worker's JS stack (from its inspector) before killing it
  --metrics <host:port>       serve Prometheus metrics at http://host:port/metrics
  --log-format text|json|inherit  workers' output: lines prefixed [w<id> <pid>] (default),
                              JSON lines, or the primary's stdout/stderr untouched
  --log-file <path>           workers' output to this file instead of the primary's stdout/stderr
  --log-max-size <size>       rotate the file before it passes this size: 10M (default), 0 = never
  --log-keep <n>              old files kept by rotation: path.1 … path.n (5)
  --no-cgroups                no cgroup per worker (made where cgroup v2 is writable)

signals: HUP reload, TERM/INT stop, TTIN/TTOU one worker more/less, USR1 reopen the log file,
USR2 upgrade (a new primary takes the listening sockets over, then this one drains and exits)
systemd: Type=notify (NOTIFY_SOCKET, WATCHDOG_USEC) and socket activation (LISTEN_FDS)`;

const OPTIONS = {
  workers: { type: 'string', short: 'w' },
  instances: { type: 'string', short: 'i' },
  policy: { type: 'string' },
  ready: { type: 'string' },
  'reload-timeout': { type: 'string' },
  'drain-timeout': { type: 'string' },
  'upgrade-timeout': { type: 'string' },
  'backoff-reset': { type: 'string' },
  'max-requests': { type: 'string' },
  'max-requests-jitter': { type: 'string' },
  'max-lifetime': { type: 'string' },
  'max-memory': { type: 'string' },
  'hang-timeout': { type: 'string' },
  'hang-stack': { type: 'boolean' },
  metrics: { type: 'string' },
  'log-format': { type: 'string' },
  'log-file': { type: 'string' },
  'log-max-size': { type: 'string' },
  'log-keep': { type: 'string' },
  'no-cgroups': { type: 'boolean' },
  name: { type: 'string' },
  env: { type: 'string', multiple: true },
  'node-args': { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
};

class UsageError extends Error {}

// Where the CLI's own lines go: once a cluster runs, through it, in order with the workers'
// lines (two writers to one pipe could tear a long line).
let writeStdout = (text) => process.stdout.write(text);

function milliseconds(value, what) {
  const n = Number(value);
  if (value === undefined || value === '' || !Number.isFinite(n) || n < 0) throw new UsageError(`${what} must be a number of milliseconds (got ${value})`);
  return n;
}

const TIME_UNITS = { ms: 1, s: 1000, m: 60000, h: 3600000, d: 86400000 };
const SIZE_UNITS = { '': 1, b: 1, k: 1024, kb: 1024, m: 1048576, mb: 1048576, g: 1073741824, gb: 1073741824 };

// `30000`, `30s`, `30m`, `2h`, `1d` → ms.
function timeSpan(value, what) {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(String(value).trim());
  if (!m) throw new UsageError(`${what} must be a time: ms, or with s, m, h or d (got ${value})`);
  return Math.round(Number(m[1]) * TIME_UNITS[m[2] || 'ms']);
}

// `512M`, `1G`, `300MB`, `200K`, bytes → bytes.
function size(value, what) {
  const m = /^(\d+(?:\.\d+)?)\s*([kmg]?b?)$/i.exec(String(value).trim());
  if (!m) throw new UsageError(`${what} must be a size such as 512M or 1G (got ${value})`);
  return Math.round(Number(m[1]) * SIZE_UNITS[m[2].toLowerCase()]);
}

function count(value, what) {
  if (!/^\d+$/.test(value)) throw new UsageError(`${what} must be a whole number (got ${value})`);
  return Number(value);
}

// `host:port`, `[::1]:port` or `port` (loopback).
function hostPort(value, what) {
  const m = /^(?:\[([^\]]+)\]:|([^:]+):)?(\d+)$/.exec(String(value));
  if (!m || Number(m[3]) > 65535) throw new UsageError(`${what} must be host:port (got ${value})`);
  return { host: m[1] || m[2] || '127.0.0.1', port: Number(m[3]) };
}

// PM2 ecosystem keys we read, with what they become; the rest are warned about.
const ECOSYSTEM = {
  script: (v, o) => { o.script = v; },
  name: (v, o) => { o.name = v; },
  instances: (v, o) => { o.workers = v === -1 ? -1 : v; },
  exec_mode: (v, o, warn) => { if (v !== 'cluster' && v !== 'cluster_mode') warn(`exec_mode '${v}': native-cluster always runs a cluster`); },
  args: (v, o) => { o.args = Array.isArray(v) ? v.map(String) : String(v).split(/\s+/).filter(Boolean); },
  node_args: (v, o) => { o.nodeArgs = Array.isArray(v) ? v.map(String) : String(v).split(/\s+/).filter(Boolean); },
  interpreter_args: (v, o) => ECOSYSTEM.node_args(v, o),
  env: (v, o) => { o.env = { ...o.env, ...v }; },
  cwd: (v, o) => { o.cwd = v; },
  kill_timeout: (v, o) => { o.drainTimeout = Number(v); },
  listen_timeout: (v, o) => { o.reloadTimeout = Number(v); },
  wait_ready: (v, o) => { if (v) o.ready = 'message'; },
  max_restarts: (v, o) => { o.giveUpAfter = Number(v); },
  restart_delay: (v, o) => { o.backoff = { ...o.backoff, initial: Number(v) }; },
  exp_backoff_restart_delay: (v, o) => { o.backoff = { ...o.backoff, initial: Number(v) }; },
  stop_exit_codes: (v, o) => { o.stopExitCodes = [].concat(v).map(Number); },
  autorestart: (v, o) => { o.autorestart = v !== false; },
  min_uptime: (v, o, warn) => warn('min_uptime: not needed, a worker that dies before it is ready counts towards giving up'),
  max_memory_restart: (v, o) => { o.maxMemory = size(v, 'max_memory_restart'); },
  shutdown_with_message: (v, o, warn) => warn("shutdown_with_message: not supported, workers leave by node:cluster's disconnect"),
};

function readEcosystem(file, pick, warn) {
  const config = require(path.resolve(file));
  const apps = Array.isArray(config) ? config : config.apps;
  if (!Array.isArray(apps) || apps.length === 0) throw new UsageError(`${file} has no apps[]`);
  const app = pick ? apps.find((a) => a.name === pick) : apps[0];
  if (!app) throw new UsageError(`${file} has no app named '${pick}'`);
  if (!pick && apps.length > 1) warn(`${file} has ${apps.length} apps; running '${app.name}' (choose with --name)`);
  const o = { env: {} };
  for (const [key, value] of Object.entries(app)) {
    if (Object.hasOwn(ECOSYSTEM, key)) ECOSYSTEM[key](value, o, warn);
    else warn(`${file}: unknown key '${key}' ignored`);
  }
  if (!o.script) throw new UsageError(`${file}: the app has no script`);
  o.cwd = path.resolve(path.dirname(path.resolve(file)), o.cwd || '.');
  return o;
}

function parse(argv) {
  const dashdash = argv.indexOf('--');
  const own = dashdash < 0 ? argv : argv.slice(0, dashdash);
  const appArgs = dashdash < 0 ? [] : argv.slice(dashdash + 1);
  let parsed;
  try {
    parsed = parseArgs({ args: own, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError(err.message);
  }
  return { values: parsed.values, positionals: parsed.positionals, appArgs };
}

function runOptions(values, target, appArgs, warn) {
  const isConfig = /\.config\.[cm]?js$|\.json$/.test(target);
  const o = isConfig ? readEcosystem(target, values.name, warn) : { script: target, env: {} };
  const workers = values.workers ?? values.instances;
  if (workers !== undefined) o.workers = workers === 'max' ? 'max' : Number(workers);
  if (o.workers !== undefined && o.workers !== 'max' && !Number.isInteger(o.workers)) throw new UsageError(`--workers must be a number or max (got ${workers})`);
  if (values.policy !== undefined) o.policy = values.policy;
  if (values.ready !== undefined) o.ready = values.ready;
  if (values['reload-timeout'] !== undefined) o.reloadTimeout = milliseconds(values['reload-timeout'], '--reload-timeout');
  if (values['drain-timeout'] !== undefined) o.drainTimeout = milliseconds(values['drain-timeout'], '--drain-timeout');
  if (values['upgrade-timeout'] !== undefined) o.upgradeTimeout = timeSpan(values['upgrade-timeout'], '--upgrade-timeout');
  if (values['backoff-reset'] !== undefined) o.backoff = { ...o.backoff, reset: milliseconds(values['backoff-reset'], '--backoff-reset') };
  if (values.name !== undefined) o.name = values.name;
  if (values['max-requests'] !== undefined) o.maxRequests = count(values['max-requests'], '--max-requests');
  if (values['max-requests-jitter'] !== undefined) o.maxRequestsJitter = count(values['max-requests-jitter'], '--max-requests-jitter');
  if (values['max-lifetime'] !== undefined) o.maxLifetime = timeSpan(values['max-lifetime'], '--max-lifetime');
  if (values['max-memory'] !== undefined) o.maxMemory = size(values['max-memory'], '--max-memory');
  if (values['hang-timeout'] !== undefined) o.hangTimeout = timeSpan(values['hang-timeout'], '--hang-timeout');
  if (values['hang-stack']) o.hangStack = true;
  if (values['no-cgroups']) o.cgroups = false;
  // The CLI's primary reaps what its workers leave behind (it may be a container's PID 1).
  o.subreaper = true;
  if (values['log-format'] !== undefined) o.logFormat = values['log-format'];
  if (values['log-file'] !== undefined) o.logFile = values['log-file'];
  if (values['log-max-size'] !== undefined) o.logMaxSize = size(values['log-max-size'], '--log-max-size');
  if (values['log-keep'] !== undefined) o.logKeep = count(values['log-keep'], '--log-keep');
  if (values.metrics !== undefined) o.metrics = hostPort(values.metrics, '--metrics');
  for (const kv of values.env || []) {
    const eq = kv.indexOf('=');
    if (eq <= 0) throw new UsageError(`--env wants KEY=VALUE (got ${kv})`);
    o.env[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  if (values['node-args'] !== undefined) o.nodeArgs = values['node-args'].split(/\s+/).filter(Boolean);
  if (appArgs.length) o.args = appArgs;
  if (o.name !== undefined && !/^[\w.-]+$/.test(o.name)) throw new UsageError(`--name may hold letters, digits, '.', '_' and '-' (got ${o.name})`);
  return o;
}

// ---- output ----

function duration(ms) {
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86400) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}D`;
}

const megabytes = (b) => (b == null ? '-' : `${(b / 1048576).toFixed(1)}mb`);

function table(rows) {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => String(r[i]).length)));
  const line = (l, m, r) => l + widths.map((w) => '─'.repeat(w + 2)).join(m) + r;
  const row = (r) => `│ ${r.map((c, i) => String(c).padEnd(widths[i])).join(' │ ')} │`;
  return [line('┌', '┬', '┐'), row(rows[0]), line('├', '┼', '┤'), ...rows.slice(1).map(row), line('└', '┴', '┘')].join('\n');
}

function statusText(s) {
  const head = `${s.name}: primary pid ${s.pid} · ${s.ready}/${s.workers} ready · policy ${s.policy} · ${s.addresses.join(', ') || 'not listening'}` +
    ` · up ${duration(s.uptime)} · primary ${megabytes(s.rss)}${s.reloading ? ' · reloading' : ''}${s.gaveUp ? ` · gave up: ${s.gaveUp}` : ''}`;
  const rows = [['id', 'slot', 'pid', 'uptime', '↺', 'status', 'cpu', 'mem', 'conns', 'unacked', 'last exit']];
  for (const w of s.list) {
    rows.push([w.id, w.slot, w.pid, duration(w.uptime), w.restarts, w.state, w.cpu == null ? '-' : `${w.cpu}%`, megabytes(w.rss),
      w.connections == null ? '-' : w.connections, w.awaitingAck, w.lastExit || '-']);
  }
  for (const slot of s.slots) {
    if (!s.list.some((w) => w.slot === slot.slot && w.state !== 'draining')) {
      rows.push(['-', slot.slot, '-', '-', slot.restarts, slot.gaveUp ? 'gave up' : slot.restartPending ? 'restarting' : 'down', '-', '-', '-', '-', slot.lastExit || '-']);
    }
  }
  return `${head}\n${table(rows)}`;
}

// ---- commands to a running cluster ----

async function resolveName(name) {
  if (name) return name;
  const names = await control.list();
  if (names.length === 1) return names[0];
  throw new UsageError(names.length === 0 ? `no cluster is running (${control.controlDir()})` : `several clusters run (${names.join(', ')}): name one`);
}

async function command(cmd, positionals, values, out) {
  if (cmd === 'scale') {
    const n = positionals[0];
    if (n === undefined || !(n === 'max' || /^-?\d+$/.test(n))) throw new UsageError('scale wants a worker count: native-cluster scale N [name]');
    const r = await control.request(await resolveName(positionals[1]), 'scale', [n === 'max' ? 'max' : Number(n)]);
    out(`scaled to ${r.workers} workers`);
    return 0;
  }
  const name = await resolveName(positionals[0]);
  if (cmd === 'status') {
    const s = await control.request(name, 'status');
    out(values.json ? JSON.stringify(s) : statusText(s));
  } else if (cmd === 'reload') {
    const r = await control.request(name, 'reload');
    out(`reloaded ${name}: ${r.replaced} workers replaced in ${r.ms} ms`);
  } else if (cmd === 'upgrade') {
    const r = await control.request(name, 'upgrade');
    out(`upgraded ${name}: the new primary (pid ${r.pid}) serves, in ${r.ms} ms; the old one drains and exits`);
  } else if (cmd === 'stop') {
    const r = await control.request(name, 'stop');
    out(`stopped ${name}: ${r.stopped} workers${r.drainTimeouts ? `, ${r.drainTimeouts} after the drain timeout` : ''}`);
  }
  return 0;
}

// ---- running a cluster ----

function run(o, log) {
  const { supervise } = require('./index');
  // Before the first worker: sockets handed to us, and the variables workers must not see.
  const { Service } = require('./service');
  const service = new Service(log);
  const sup = supervise(o.script, o);
  writeStdout = (text) => sup.writeStdout(text);
  const name = sup.name;
  const who = (e) => `worker ${e.id} (pid ${e.pid}, slot ${e.slot})`;
  let controlServer = null;
  let exitCode = 0;
  let done;
  const finished = new Promise((resolve) => { done = resolve; });
  const opts = sup.options;
  log(`${name}: primary pid ${process.pid}, ${opts.workers} workers of ${path.relative(process.cwd(), opts.script) || opts.script}, policy ${opts.policy}, ready on ${opts.ready}`);

  sup.on('worker-ready', (e) => log(`${who(e)} ready${e.replacing ? ` (replaces worker ${e.replacing})` : ''}`));
  sup.on('worker-exit', (e) => log(`${who(e)} exited: ${e.reason}${e.requested ? '' : ' (unexpected)'}`));
  sup.on('restart', (e) => log(`slot ${e.slot}: restart ${e.delay ? `in ${e.delay} ms` : 'now'} (restart ${e.restarts})`));
  sup.on('reload-start', (e) => log(`reload: replacing ${e.workers} workers one at a time`));
  sup.on('reload-step', (e) => log(`reload: worker ${e.id} (pid ${e.pid}) serves slot ${e.slot}; worker ${e.replaced} (pid ${e.replacedPid}) drains`));
  sup.on('reload-done', (e) => log(`reload: done, ${e.replaced} workers replaced in ${e.ms} ms`));
  sup.on('reload-aborted', (e) => log(`reload aborted: ${e.reason}; the old workers keep serving`));
  sup.on('scale', (e) => log(`scale: ${e.workers} workers`));
  sup.on('stopping', (e) => log(`stopping: draining ${e.workers} workers`));
  sup.on('warning', (err) => {
    // The primary's stdout is what fails: said where it can still be read.
    if (err.sink === 'stdout') process.stderr.write(`[native-cluster] warning: ${err.message}\n`);
    else log(`warning: ${err.message}`);
  });
  sup.on('recycle', (e) => log(`${who(e)}: ${e.kind} (${e.reason}); starting its replacement`));
  sup.on('recycled', (e) => log(`${e.kind}: worker ${e.id} (pid ${e.pid}) serves slot ${e.slot}; worker ${e.replaced} (pid ${e.replacedPid}) drains`));
  sup.on('recycle-aborted', (e) => log(`${e.kind}: replacement worker ${e.id} not taken on (${e.reason}); worker ${e.replacing} keeps serving`));
  sup.on('worker-hung', (e) => log(`${who(e)} hung: no answer to pings for ${e.silentMs} ms; out of round-robin, replaced, killing it`));
  sup.on('hang-stack', (e) => log(e.frames
    ? `${who(e)} hung at:\n${e.frames.map((f) => `    at ${f.functionName} (${f.url}:${f.line}:${f.column})`).join('\n')}`
    : `${who(e)}: no stack (${e.error})`));
  sup.on('gave-up', (e) => {
    log(e.slot === null ? `gave up: ${e.reason}` : `slot ${e.slot} gave up: ${e.reason}`);
    if (e.all) {
      log(`gave up on every worker; exiting with code 1`);
      exitCode = 1;
      shutdown();
    }
  });

  let stopping = null;
  function shutdown() {
    if (!stopping) {
      stopping = sup.stop().then((r) => {
        if (exitCode === 0) log(`stopped: ${r.stopped} workers drained${r.drainTimeouts ? ` (${r.drainTimeouts} by the drain timeout)` : ''}`);
        if (controlServer) controlServer.close();
        if (metricsServer) metricsServer.close();
        process.exitCode = exitCode;
        done(exitCode);
        // Whatever might still hold the loop (a client of the control socket) is not waited for.
        setTimeout(() => process.exit(exitCode), 1000).unref();
        return r;
      });
    }
    return stopping;
  }

  const reload = () => sup.reload().catch((err) => {
    if (err.code !== 'ERR_RELOAD_ABORTED') log(`reload failed: ${err.message}`);
    throw err;
  });
  let signalled = 0;
  const stopSignal = (sig) => {
    if (++signalled > 1) {
      log(`${sig} again: exiting without waiting for the drain`);
      process.exit(1);
    }
    log(`${sig}: stopping`);
    shutdown();
  };
  process.on('SIGTERM', stopSignal);
  process.on('SIGINT', stopSignal);
  process.on('SIGHUP', () => {
    log('SIGHUP: reload');
    reload().catch(() => {});
  });
  const scaleBy = (d) => {
    const n = sup.stats().workers + d;
    if (n >= 1 && !stopping) sup.scale(n);
  };
  // logrotate's copy-less rotation: it moved the file away, we open it again.
  process.on('SIGUSR1', () => {
    sup.reopenLogs();
    log('SIGUSR1: log file reopened');
  });
  process.on('SIGTTIN', () => scaleBy(1));
  process.on('SIGTTOU', () => scaleBy(-1));
  // The control socket and metrics port go to the new primary; then this one drains and exits.
  const upgrade = () => {
    if (stopping) return Promise.reject(Object.assign(new Error('the cluster is stopping'), { code: 'ERR_STOPPING' }));
    log('upgrade: starting a new primary with the listening sockets');
    return service.upgrade(opts.upgradeTimeout, () => {
      if (controlServer) controlServer.close();
      if (metricsServer) metricsServer.close();
      controlServer = null;
      metricsServer = null;
    }).then((r) => {
      log(`upgrade: the new primary (pid ${r.pid}) serves; draining this one`);
      shutdown();
      return r;
    }, (err) => {
      log(err.message);
      throw err;
    });
  };
  process.on('SIGUSR2', () => upgrade().catch(() => {}));

  const handlers = {
    status: () => sup.stats(),
    reload: () => reload(),
    scale: (n) => sup.scale(n),
    stop: () => shutdown(),
    upgrade: () => upgrade(),
  };
  // A primary an upgrade started takes the name (and the metrics port) once it is in charge.
  const turn = service.attach(sup);
  turn.then(() => control.serve(name, (cmd, args) => {
    if (!Object.hasOwn(handlers, cmd)) throw Object.assign(new Error(`unknown command ${cmd}`), { code: 'ERR_UNKNOWN_COMMAND' });
    return handlers[cmd](...args);
  })).then((server) => {
    controlServer = server;
    if (stopping) server.close();
  }, (err) => {
    log(`error: ${err.message}`);
    exitCode = 1;
    shutdown();
  });

  let metricsServer = null;
  if (o.metrics) {
    turn.then(() => require('./metrics').serve(sup, o.metrics)).then((server) => {
      metricsServer = server;
      const a = server.address();
      log(`metrics: http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}/metrics`);
      if (stopping) server.close();
    }, (err) => {
      log(`error: --metrics ${o.metrics.host}:${o.metrics.port}: ${err.message}`);
      exitCode = 1;
      shutdown();
    });
  }

  sup.ready.then((s) => {
    const where = s.addresses.length ? `listening on ${s.addresses.join(', ')}` : 'ready';
    log(`${name}: ${s.ready}/${s.workers} workers ${where}; control: native-cluster status ${name}`);
  }, () => {});
  return finished;
}

async function main(argv = process.argv.slice(2)) {
  const out = (line) => process.stdout.write(`${line}\n`);
  const log = (line) => writeStdout(`[native-cluster] ${line}\n`);
  const warn = (line) => process.stderr.write(`[native-cluster] warning: ${line}\n`);
  try {
    const { values, positionals, appArgs } = parse(argv);
    if (values.help) {
      out(USAGE);
      return 0;
    }
    if (positionals.length === 0) throw new UsageError('no app given');
    const [first, ...rest] = positionals;
    if (COMMANDS.has(first) && !fs.existsSync(first)) return await command(first, rest, values, out);
    if (rest.length) throw new UsageError(`unexpected ${rest.join(' ')} (app arguments go after --)`);
    if (!fs.existsSync(first)) throw new UsageError(`${first}: no such file`);
    return await run(runOptions(values, first, appArgs, warn), log);
  } catch (err) {
    process.stderr.write(`native-cluster: ${err.message}\n`);
    if (err instanceof UsageError) process.stderr.write(`${USAGE.split('\n')[0]}\n(native-cluster --help for more)\n`);
    return err instanceof UsageError ? 2 : 1;
  }
}

module.exports = { main, parse, runOptions, statusText };
