'use strict';
// R17, upgrading the primary without closing the port (`native-cluster upgrade [name]`, SIGUSR2):
// 1. the running primary spawns a new one, with the same command line (so the installed
//    version, maybe a newer one), handing it every listening socket as inherited descriptors
//    3, 4, … by the LISTEN_FDS convention (NATIVE_CLUSTER_UPGRADE_FROM, our pid, stands for
//    LISTEN_PID, which nobody can know before the spawn), and an IPC channel;
// 2. the new primary adopts them (activation.js), starts its workers and gates them on ready;
//    meanwhile both serve, from the same sockets;
// 3. once all its workers are ready it says so; the old primary gives up its control socket
//    name and (under systemd) MAINPID, stops accepting, hands out what it had accepted, and
//    drains its own workers and exits.
// If the new primary exits, or is not ready in time, it is stopped and the old one keeps
// serving, saying why. SO_REUSEPORT sockets belong to the workers: the new primary's workers
// bind their own beside them.
const { spawn } = require('../child_process');
const { binding, engineStats } = require('../native');
const listeners = require('../cluster/listeners');

const READY = 'NODE_NC_UPGRADE_READY';
const TAKE_OVER = 'NODE_NC_UPGRADE_TAKE_OVER';
const REFUSED = 'NODE_NC_UPGRADE_REFUSED';
const FROM = 'NATIVE_CLUSTER_UPGRADE_FROM';

// How long the old primary waits for what its round-robin groups accepted to be handed out.
const HAND_OUT_MS = 2000;

function errorWithCode(message, code) {
  return Object.assign(new Error(message), { code });
}

// In the old primary: starts the new one and resolves with { pid, ms } once it has taken over
// (`release(pid)`: what gives it our name). `env`: the environment this primary was started
// with; `timeout`: how long the new one has to become ready.
function start({ env, timeout, release }) {
  if (process.pid === 1) {
    return Promise.reject(errorWithCode('this primary is PID 1, which cannot exit without ending the container: ' +
      'run it under an init (docker run --init) to upgrade it', 'ERR_UPGRADE_PID1'));
  }
  const began = Date.now();
  const sockets = listeners.listening();
  const names = sockets.map((s, i) => (s.name || `listener${i}`).replace(/[^\w.-]/g, '_'));
  const childEnv = { ...env, LISTEN_FDS: String(sockets.length), LISTEN_FDNAMES: names.join(':'), [FROM]: String(process.pid) };
  delete childEnv.LISTEN_PID;
  let child;
  try {
    child = spawn(process.execPath, [...process.execArgv, process.argv[1], ...process.argv.slice(2)], {
      stdio: ['inherit', 'inherit', 'inherit', ...sockets.map((s) => s.fd), 'ipc'],
      env: childEnv,
    });
  } catch (err) {
    return Promise.reject(errorWithCode(`could not start the new primary: ${err.message}`, 'ERR_UPGRADE_FAILED'));
  }
  return new Promise((resolve, reject) => {
    let settled = false;
    // `stopping`: it said why it cannot serve, and stops by itself.
    const fail = (why, stopping = false) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      // It drains what it started (a SIGTERM is its graceful stop).
      if (!stopping && child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      reject(errorWithCode(`upgrade failed: ${why}; this primary (pid ${process.pid}) keeps serving`, 'ERR_UPGRADE_FAILED'));
    };
    const timer = setTimeout(() => fail(`the new primary (pid ${child.pid}) was not ready within ${timeout} ms`), timeout);
    child.on('error', (err) => fail(`the new primary: ${err.message}`));
    // 'close', not 'exit': a child's last messages (its reason for refusing) may come after
    // its exit, never after its close.
    child.on('close', (code, signal) => fail(`the new primary (pid ${child.pid}) exited (${signal ? `signal ${signal}` : `code ${code}`}) before it was ready`));
    child.on('internalMessage', (msg) => {
      if (msg && msg.cmd === REFUSED && typeof msg.reason === 'string') fail(`the new primary (pid ${child.pid}) ${msg.reason}`, true);
      if (!msg || msg.cmd !== READY || settled) return;
      settled = true;
      clearTimeout(timer);
      Promise.resolve(release(child.pid)).then(() => {
        child.send({ cmd: TAKE_OVER });
        child.disconnect();
        // It outlives us: nothing here waits for it.
        child.removeAllListeners('close');
        child.unref();
        resolve({ pid: child.pid, ms: Date.now() - began });
      }, reject);
    });
  });
}

// In the old primary, after the hand-over: its round-robin groups accept no more (the new
// primary accepts on the same sockets) and hand out what they had, until every connection is
// a worker's; then its workers can drain (a connection still on its way to a worker as they
// all leave would have no worker left to go back to).
async function quiesce() {
  const ids = [...listeners.handles.values()].map((h) => h.id).filter((id) => typeof id === 'number' && id > 0);
  for (const id of ids) binding.roundRobinQuiesce(id);
  const deadline = Date.now() + HAND_OUT_MS;
  const waiting = () => engineStats().groups.some((g) => ids.includes(g.id) && g.pending + g.awaitingAck + g.awaitingReply > 0);
  // The engine's thread takes the request in its own time: one turn before looking.
  do await new Promise((resolve) => setTimeout(resolve, 10));
  while (waiting() && Date.now() < deadline);
}

// In a primary an upgrade started: the old primary's pid, or 0 (removed from `env`).
function successorOf(env) {
  const from = Number(env[FROM]);
  delete env[FROM];
  return Number.isInteger(from) && from > 0 && from === process.ppid && typeof process.send === 'function' ? from : 0;
}

// In the new primary: tells the old one once `ready` resolves, and resolves once it has handed
// over. Rejects if the old one goes away first (it then keeps serving, or is gone).
function takeOver(ready) {
  return new Promise((resolve, reject) => {
    const onMessage = (msg) => {
      if (!msg || msg.cmd !== TAKE_OVER) return;
      process.off('internalMessage', onMessage);
      process.off('disconnect', onGone);
      if (process.connected) process.disconnect();
      resolve();
    };
    const onGone = () => {
      process.off('internalMessage', onMessage);
      reject(errorWithCode('the old primary went away before it handed over', 'ERR_UPGRADE_FAILED'));
    };
    process.on('internalMessage', onMessage);
    process.once('disconnect', onGone);
    ready.then(() => {
      if (process.connected) process.send({ cmd: READY, pid: process.pid });
    }, () => {});
  });
}

// In the new primary: tells the old one why this one cannot serve (it then stops by itself).
function refuse(reason) {
  if (process.connected) process.send({ cmd: REFUSED, reason });
}

module.exports = { start, quiesce, successorOf, takeOver, refuse };
