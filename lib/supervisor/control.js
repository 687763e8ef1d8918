'use strict';
// The control socket of a running cluster: a unix socket, owner-only, in
// $XDG_RUNTIME_DIR/native-cluster/ (else <tmpdir>/native-cluster-<uid>/), named after the
// cluster. One JSON line in (`{cmd, args}`), one JSON line out (`{ok, result}` or `{ok: false,
// error, code}`).
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

function controlDir() {
  const base = process.env.XDG_RUNTIME_DIR;
  return base ? path.join(base, 'native-cluster') : path.join(os.tmpdir(), `native-cluster-${process.getuid()}`);
}

const socketPath = (name) => path.join(controlDir(), `${name}.sock`);

// Creates the folder owner-only, and refuses one somebody else owns or can write to.
function ensureDir() {
  const dir = controlDir();
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const st = fs.statSync(dir);
  if (st.uid !== process.getuid() || (st.mode & 0o077) !== 0) {
    throw Object.assign(new Error(`${dir} must belong to uid ${process.getuid()} with mode 0700`), { code: 'ERR_CONTROL_DIR' });
  }
  return dir;
}

function connect(file) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(file);
    sock.once('connect', () => resolve(sock));
    sock.once('error', reject);
  });
}

// Listens on the cluster's socket; `handle(cmd, args)` returns (a promise of) the result.
async function serve(name, handle) {
  ensureDir();
  const file = socketPath(name);
  if (fs.existsSync(file)) {
    // A live socket is another cluster of that name; a dead one is left from a crash.
    const other = await connect(file).catch(() => null);
    if (other) {
      other.destroy();
      throw Object.assign(new Error(`a cluster named '${name}' is already running (${file}); choose another --name`), { code: 'ERR_NAME_IN_USE' });
    }
    fs.unlinkSync(file);
  }
  const server = net.createServer((sock) => {
    let buf = '';
    sock.setEncoding('utf8');
    sock.on('error', () => {});
    sock.on('data', async (chunk) => {
      buf += chunk;
      const nl = buf.indexOf('\n');
      if (nl < 0) {
        if (buf.length > 65536) sock.destroy();
        return;
      }
      const line = buf.slice(0, nl);
      buf = '';
      let reply;
      try {
        const { cmd, args } = JSON.parse(line);
        reply = { ok: true, result: await handle(cmd, args || []) };
      } catch (err) {
        reply = { ok: false, error: err.message, code: err.code };
      }
      if (!sock.destroyed) sock.end(`${JSON.stringify(reply)}\n`);
    });
  });
  const mask = process.umask(0o177);
  try {
    await new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(file, resolve);
    });
  } finally {
    process.umask(mask);
  }
  fs.chmodSync(file, 0o600);
  return {
    path: file,
    close() {
      server.close();
      try {
        fs.unlinkSync(file);
      } catch {
        // Already gone.
      }
    },
  };
}

// Names of the clusters running here. A socket nobody listens on any more (its primary was
// killed) is left from a crash: it is removed, as serve() would.
async function list() {
  let names;
  try {
    names = fs.readdirSync(controlDir()).filter((f) => f.endsWith('.sock')).map((f) => f.slice(0, -5));
  } catch {
    return [];
  }
  const live = await Promise.all(names.map((name) => connect(socketPath(name)).then((sock) => {
    sock.destroy();
    return true;
  }, (err) => {
    if (err.code === 'ECONNREFUSED') fs.rmSync(socketPath(name), { force: true });
    return err.code !== 'ECONNREFUSED';
  })));
  return names.filter((name, i) => live[i]);
}

// Sends one command to the named cluster and resolves with its result.
async function request(name, cmd, args = []) {
  const file = socketPath(name);
  const sock = await connect(file).catch((err) => {
    throw Object.assign(new Error(`no cluster named '${name}' is running (${file}: ${err.code})`), { code: 'ERR_NOT_RUNNING' });
  });
  return new Promise((resolve, reject) => {
    let buf = '';
    sock.setEncoding('utf8');
    sock.on('data', (d) => { buf += d; });
    sock.on('error', reject);
    sock.on('end', () => {
      let reply;
      try {
        reply = JSON.parse(buf);
      } catch {
        return reject(Object.assign(new Error(`cluster '${name}' closed the connection without an answer`), { code: 'ERR_NO_ANSWER' }));
      }
      if (reply.ok) resolve(reply.result);
      else reject(Object.assign(new Error(reply.error), { code: reply.code }));
    });
    sock.write(`${JSON.stringify({ cmd, args })}\n`);
  });
}

module.exports = { serve, request, list, socketPath, controlDir };
