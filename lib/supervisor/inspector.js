'use strict';
// The JS stack of a hung worker, taken from outside: the worker runs with its inspector armed
// and closed (`--inspect-port=0`); SIGUSR1 makes Node open it on a free loopback port (the
// inspector has a thread of its own, so this works while the worker's JS spins), found here as
// the one new listening socket among the worker's descriptors. Over the inspector's WebSocket,
// `Debugger.enable` then `Debugger.pause` interrupts the running JS and reports its call frames.
// Node 20 has no WebSocket client, hence the minimal one below (text frames, client-masked).
const crypto = require('node:crypto');
const http = require('node:http');
const net = require('node:net');
const proc = require('./proc');

const POLL_MS = 50;

function delay(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function getJson(port, path) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { body += d; });
      res.on('end', () => {
        try {
          resolve(JSON.parse(body));
        } catch (err) {
          reject(err);
        }
      });
    });
    req.on('error', reject);
  });
}

// One client frame: FIN + text, masked, with the payload length in 7, 16 or 64 bits.
function frame(text) {
  const payload = Buffer.from(text);
  const len = payload.length;
  const head = len < 126 ? Buffer.from([0x81, 0x80 | len])
    : len < 65536 ? Buffer.from([0x81, 0x80 | 126, len >> 8, len & 0xff])
      : Buffer.concat([Buffer.from([0x81, 0x80 | 127]), (() => { const b = Buffer.alloc(8); b.writeBigUInt64BE(BigInt(len)); return b; })()]);
  const mask = crypto.randomBytes(4);
  for (let i = 0; i < len; i++) payload[i] ^= mask[i & 3];
  return Buffer.concat([head, mask, payload]);
}

// Calls `onMessage(text)` for each complete server message (server frames are not masked);
// returns the bytes not yet part of a whole frame.
function readFrames(buf, state, onMessage) {
  for (;;) {
    if (buf.length < 2) return buf;
    const opcode = buf[0] & 0x0f;
    const fin = (buf[0] & 0x80) !== 0;
    let len = buf[1] & 0x7f;
    let at = 2;
    if (len === 126) {
      if (buf.length < 4) return buf;
      len = buf.readUInt16BE(2);
      at = 4;
    } else if (len === 127) {
      if (buf.length < 10) return buf;
      len = Number(buf.readBigUInt64BE(2));
      at = 10;
    }
    if (buf.length < at + len) return buf;
    const payload = buf.subarray(at, at + len);
    buf = buf.subarray(at + len);
    // Text (1) or its continuation (0); control frames (ping, close) are not needed here.
    if (opcode === 1 || opcode === 0) {
      state.parts.push(payload);
      if (fin) {
        const text = Buffer.concat(state.parts).toString('utf8');
        state.parts = [];
        onMessage(text);
      }
    }
  }
}

// Speaks to the inspector at `wsUrl` until Debugger.paused; resolves with its call frames.
function pausedFrames(wsUrl) {
  const url = new URL(wsUrl);
  return new Promise((resolve, reject) => {
    const sock = net.connect(Number(url.port), url.hostname);
    const key = crypto.randomBytes(16).toString('base64');
    let buf = Buffer.alloc(0);
    let upgraded = false;
    const state = { parts: [] };
    // Frames name their script by id; Debugger.enable announces each script with its url.
    const scripts = new Map();
    const finish = (err, value) => {
      sock.destroy();
      if (err) reject(err);
      else resolve(value);
    };
    sock.on('error', (err) => finish(err));
    sock.on('close', () => finish(new Error('the inspector closed the connection')));
    sock.on('connect', () => {
      sock.write(`GET ${url.pathname} HTTP/1.1\r\nHost: ${url.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
    });
    sock.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      if (!upgraded) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const status = buf.subarray(0, buf.indexOf('\r\n')).toString();
        if (!/^HTTP\/1\.1 101/.test(status)) return finish(new Error(`the inspector refused the WebSocket: ${status}`));
        upgraded = true;
        buf = buf.subarray(end + 4);
        sock.write(frame(JSON.stringify({ id: 1, method: 'Debugger.enable' })));
        sock.write(frame(JSON.stringify({ id: 2, method: 'Debugger.pause' })));
      }
      buf = readFrames(buf, state, (text) => {
        let msg;
        try {
          msg = JSON.parse(text);
        } catch {
          return;
        }
        if (msg.method === 'Debugger.scriptParsed') scripts.set(msg.params.scriptId, msg.params.url);
        else if (msg.method === 'Debugger.paused') {
          finish(null, msg.params.callFrames.map((f) => ({
            functionName: f.functionName || '(anonymous)',
            url: f.url || scripts.get(f.location.scriptId) || '',
            line: f.location.lineNumber + 1,
            column: f.location.columnNumber + 1,
          })));
        }
      });
    });
  });
}

// The JS call frames where `pid` (started with --inspect-port=0) is running now, innermost
// first, within `timeout` ms.
async function captureStack(pid, timeout) {
  let timer;
  const deadline = new Promise((resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`no stack within ${timeout} ms`)), timeout);
  });
  const capture = (async () => {
    const before = proc.listeningPorts(pid);
    process.kill(pid, 'SIGUSR1');
    let port = null;
    for (let waited = 0; port === null && waited < timeout; waited += POLL_MS) {
      await delay(POLL_MS);
      for (const p of proc.listeningPorts(pid)) if (!before.has(p)) port = p;
    }
    if (port === null) throw new Error('the inspector did not open');
    const [target] = await getJson(port, '/json/list');
    if (!target || !target.webSocketDebuggerUrl) throw new Error('the inspector lists no target');
    return pausedFrames(target.webSocketDebuggerUrl);
  })();
  try {
    return await Promise.race([capture, deadline]);
  } finally {
    clearTimeout(timer);
    capture.catch(() => {});
  }
}

module.exports = { captureStack };
