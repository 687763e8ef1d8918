'use strict';
// Socket activation: systemd (a .socket unit) or the primary this one upgrades passes listening
// sockets as descriptors 3, 4, … with LISTEN_FDS (how many), LISTEN_FDNAMES (their names) and
// LISTEN_PID (which process they are for). They are taken over close-on-exec and serve the
// addresses they are bound to (lib/cluster/listeners.js): a worker's listen() on such an
// address gets the passed socket, under every scheduling policy. The variables are cleared, so
// workers do not see them. TCP, unix stream and UDP sockets; systemd's Accept=yes (connected
// sockets) is not supported.
const { binding, nodeError } = require('../native');
const listeners = require('../cluster/listeners');

const LISTEN_FDS_START = 3;
const VARIABLES = ['LISTEN_PID', 'LISTEN_FDS', 'LISTEN_FDNAMES'];

function describe(a) {
  const where = a.kind === 'unix' ? a.address : a.family === 6 ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
  return `${a.kind} ${where} (${a.name})`;
}

// Takes over the sockets `env` passes to this process (`successorOf`: the pid of the primary
// that started this one in an upgrade, which cannot know our pid for LISTEN_PID beforehand).
// Returns { adopted: [{ fd, name, kind, family, address, port }], problems: [text] }.
function adoptFromEnv(env, successorOf = 0) {
  const count = Number(env.LISTEN_FDS);
  const forUs = env.LISTEN_PID === String(process.pid) || (successorOf > 0 && successorOf === process.ppid);
  const names = (env.LISTEN_FDNAMES || '').split(':');
  for (const name of VARIABLES) delete env[name];
  const adopted = [];
  const problems = [];
  if (!forUs || !Number.isInteger(count) || count <= 0) return { adopted, problems };
  for (let i = 0; i < count; i++) {
    const fd = LISTEN_FDS_START + i;
    const name = names[i] || `fd${fd}`;
    let owned;
    try {
      owned = binding.listenerAdopt(fd);
      const d = binding.socketDescribe(owned.raw);
      if (d.kind !== 'udp' && !d.listening) {
        owned.close();
        problems.push(`fd ${fd} (${name}) is a connected socket, not a listening one (Accept=yes is not supported): closed`);
        continue;
      }
      adopted.push({ fd: owned, name, kind: d.kind, family: d.family, address: d.address, port: d.port });
    } catch (err) {
      if (owned) owned.close();
      problems.push(`fd ${fd} (${name}): ${nodeError(err).message}`);
    }
  }
  listeners.adopt(adopted);
  return { adopted, problems };
}

module.exports = { adoptFromEnv, describe };
