'use strict';
// systemd's Type=notify, from the primary: READY=1 once every worker is ready, RELOADING=1 (with
// MONOTONIC_USEC) and READY=1 around a reload, STOPPING=1, a STATUS= line as workers come and
// go, WATCHDOG=1 at half of WATCHDOG_USEC only while at least one worker answers its health
// ping, and MAINPID= when an upgrade hands the service to a new primary. The datagrams go out
// from the engine (NOTIFY_SOCKET: a socket path, or @name in the abstract namespace). The
// variables are cleared from the environment so that workers never notify in our name.
const { binding, nodeError } = require('../native');

const VARIABLES = ['NOTIFY_SOCKET', 'WATCHDOG_USEC', 'WATCHDOG_PID'];

// CLOCK_MONOTONIC in µs, as systemd wants it with RELOADING=1 (libuv's hrtime is that clock).
const monotonicUsec = () => String(process.hrtime.bigint() / 1000n);

class Notifier {
  #address;
  #warn;
  #muted;
  #failed = false;
  #watchdogMs = 0;
  #timer = null;

  // `env`: where the variables are read from (and removed). `muted`: a primary started by an
  // upgrade says nothing until the service is handed to it (its pid is not MAINPID before).
  constructor(env, { warn = () => {}, muted = false } = {}) {
    this.#address = env.NOTIFY_SOCKET || null;
    this.#warn = warn;
    this.#muted = muted;
    const usec = Number(env.WATCHDOG_USEC);
    const forUs = env.WATCHDOG_PID === undefined || env.WATCHDOG_PID === String(process.pid);
    if (this.#address && forUs && Number.isFinite(usec) && usec > 0) this.#watchdogMs = Math.max(1, Math.floor(usec / 2000));
    for (const name of VARIABLES) delete env[name];
  }

  get enabled() {
    return this.#address !== null;
  }

  // Sends `fields` ({ KEY: value }) as one notification. A failure is said once; the cluster
  // runs on regardless.
  send(fields) {
    if (!this.#address || this.#muted) return;
    const message = Object.entries(fields).map(([k, v]) => `${k}=${String(v).replace(/\n/g, ' ')}`).join('\n');
    try {
      binding.notifySend(this.#address, message);
    } catch (err) {
      if (this.#failed) return;
      this.#failed = true;
      this.#warn(`NOTIFY_SOCKET=${this.#address}: ${nodeError(err).message} (systemd is not told how the service is)`);
    }
  }

  // The service is handed to the primary `pid` (an upgrade): told once, then nothing more from here.
  handOver(pid, status) {
    this.send({ MAINPID: pid, STATUS: status });
    this.#muted = true;
    clearInterval(this.#timer);
  }

  // This primary is now the service's main process (an upgrade handed it over).
  takeOver() {
    this.#muted = false;
  }

  // Follows supervisor `sup`. `turn`: resolves once this primary is the service's (at once,
  // unless it was started by an upgrade).
  attach(sup, turn = Promise.resolve()) {
    if (!this.#address) return;
    let ready = false;
    const status = (what) => {
      const s = sup.stats();
      const where = s.addresses.length ? `, listening on ${s.addresses.join(', ')}` : '';
      return `${s.ready}/${s.workers} workers ready${what ? `, ${what}` : ''}${where}`;
    };
    const update = () => {
      if (ready) this.send({ STATUS: status() });
    };
    sup.on('worker-ready', update);
    sup.on('worker-exit', update);
    sup.on('scale', update);
    sup.on('reload-start', () => this.send({ RELOADING: 1, MONOTONIC_USEC: monotonicUsec(), STATUS: status('reloading') }));
    sup.on('reload-done', (e) => this.send({ READY: 1, STATUS: status(`reloaded in ${e.ms} ms`) }));
    sup.on('reload-aborted', (e) => this.send({ READY: 1, STATUS: status(`reload aborted: ${e.reason}`) }));
    sup.on('stopping', () => {
      this.send({ STOPPING: 1, STATUS: 'stopping: draining workers' });
      clearInterval(this.#timer);
    });
    sup.ready.then(() => turn).then(() => {
      ready = true;
      this.send({ READY: 1, MAINPID: process.pid, STATUS: status() });
      this.#startWatchdog(sup);
    }, () => {});
  }

  // WATCHDOG=1 only while some worker answers its health ping (or, with pings off, while some
  // worker is ready), as the supervisor's guard reports it: a primary whose workers all hang
  // is restarted by systemd.
  #startWatchdog(sup) {
    if (this.#watchdogMs === 0 || this.#muted) return;
    let answering = sup.stats().answering;
    sup.on('health', (e) => {
      answering = e.answering;
    });
    this.#timer = setInterval(() => {
      if (answering > 0) this.send({ WATCHDOG: 1 });
    }, this.#watchdogMs);
    this.#timer.unref();
  }
}

module.exports = { Notifier };
