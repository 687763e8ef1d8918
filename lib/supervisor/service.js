'use strict';
// The CLI's primary as a service: what it was handed (sockets: activation.js), what it tells
// systemd (systemd.js), and handing itself over to a new primary (upgrade.js).
const activation = require('./activation');
const upgrade = require('./upgrade');
const { Notifier } = require('./systemd');

class Service {
  #log;
  #successorOf;
  // The environment as this primary got it, less what was for it alone: the new primary's.
  #env;
  #notifier;
  #upgrading = null;
  #adopted;

  constructor(log) {
    this.#log = log;
    const env = process.env;
    this.#successorOf = upgrade.successorOf(env);
    const { adopted, problems } = activation.adoptFromEnv(env, this.#successorOf);
    this.#adopted = adopted;
    for (const p of problems) log(`warning: LISTEN_FDS: ${p}`);
    if (adopted.length) {
      const from = this.#successorOf ? `handed over by pid ${this.#successorOf}` : 'socket activation';
      log(`${from}: ${adopted.map(activation.describe).join(', ')}`);
    }
    this.#env = { ...env };
    // systemd's watchdog is for the main process, which the new primary becomes.
    delete this.#env.WATCHDOG_PID;
    this.#notifier = new Notifier(env, { warn: (m) => log(`warning: ${m}`), muted: this.#successorOf > 0 });
  }

  // Follows `sup`; resolves once this primary is the one in charge (at once, unless an upgrade
  // started it: then once the old one has handed over, or gone).
  attach(sup) {
    const turn = this.#successorOf === 0 ? Promise.resolve() : upgrade.takeOver(sup.ready).then(() => {
      this.#log(`took over from pid ${this.#successorOf}`);
    }, (err) => {
      this.#log(`warning: ${err.message}; serving on`);
    }).then(() => this.#notifier.takeOver());
    this.#notifier.attach(sup, turn);
    if (this.#successorOf > 0) {
      // The old primary keeps such a path (closing it there would unlink it from under us): it
      // is not handed over, and our workers' listen on it fails.
      // Whatever it gave up on, the old primary is told why.
      sup.on('gave-up', (e) => {
        if (!e.all) return;
        const why = e.path
          ? `cannot listen on the unix socket ${e.path}: a unix socket path a worker bound is not handed over on upgrade ` +
            '(pass it by socket activation to upgrade this cluster)'
          : `gave up: ${e.reason}`;
        this.#log(`upgrade refused: this primary ${why}`);
        upgrade.refuse(why);
      });
    }
    // A passed socket no worker listens on is most likely a port mismatch between the units.
    sup.ready.then(() => {
      const unused = this.#adopted.filter((a) => !a.used);
      if (unused.length) this.#log(`warning: no worker listens on ${unused.map(activation.describe).join(', ')} (passed to this primary)`);
    }, () => {});
    return turn;
  }

  // Hands the service to a new primary, which has `timeout` ms to get all its workers ready;
  // `release()` gives up what names this one (control socket, metrics port). Resolves with
  // { pid, ms } once this one may drain; one at a time.
  upgrade(timeout, release) {
    if (this.#upgrading) return this.#upgrading;
    const handOver = (pid) => {
      release();
      this.#notifier.handOver(pid, `handed over to the new primary, pid ${pid}`);
    };
    this.#upgrading = upgrade.start({ env: this.#env, timeout, release: handOver }).then(async (r) => {
      await upgrade.quiesce();
      return r;
    }, (err) => {
      this.#upgrading = null;
      throw err;
    });
    return this.#upgrading;
  }
}

module.exports = { Service };
