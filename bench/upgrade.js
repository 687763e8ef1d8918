'use strict';
// R17 under R1's kind of load: `native-cluster upgrade` twice while wrk keeps 50 keep-alive
// connections busy on the 20 ms app, two loops send one request per new connection, and a
// probe opens a connection every millisecond. Reports, per policy, wrk's requests and errors,
// the fresh-connection failures and the probe's refused connections (the bar: 0 and 0).
//
//   node bench/upgrade.js [rr|none|reuseport …]   (needs wrk)
const { spawn, execFile } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.join(__dirname, '..');
const CLI = path.join(ROOT, 'bin', 'native-cluster.js');
const APP = path.join(ROOT, '__test__', 'fixtures', 'supervisor', 'app.js');
const POLICIES = process.argv.length > 2 ? process.argv.slice(2) : ['rr', 'none', 'reuseport'];
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function run(policy, xdg) {
  const port = await freePort();
  const name = `upgrade-${policy}`;
  const env = { ...process.env, PORT: String(port), HOST: '127.0.0.1', XDG_RUNTIME_DIR: xdg };
  const ctl = (...args) => new Promise((resolve) => execFile(process.execPath, [CLI, ...args], { env },
    (err, stdout, stderr) => resolve({ code: err ? err.code : 0, text: (stdout || stderr).trim() })));
  const cli = spawn(process.execPath, [CLI, APP, '-w', '2', '--policy', policy, '--name', name], { env, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  cli.stdout.on('data', (d) => { out += d; });
  for (let i = 0; i < 200 && !/workers listening/.test(out); i++) await sleep(50);

  const probe = { connected: 0, refused: 0, other: 0 };
  const knock = setInterval(() => {
    const s = net.connect(port, '127.0.0.1');
    s.on('connect', () => {
      probe.connected++;
      s.destroy();
    });
    s.on('error', (e) => (e.code === 'ECONNREFUSED' ? probe.refused++ : probe.other++));
  }, 1);
  const fresh = { ok: 0, failed: 0 };
  let running = true;
  const loops = [0, 1].map(async () => {
    while (running) {
      await new Promise((resolve) => http.get({ port, host: '127.0.0.1', agent: false, timeout: 5000 }, (res) => {
        res.resume();
        res.on('end', () => {
          if (res.statusCode === 200) fresh.ok++;
          else fresh.failed++;
          resolve();
        });
      }).on('error', () => {
        fresh.failed++;
        resolve();
      }));
    }
  });
  const wrk = new Promise((resolve) => execFile('wrk', ['-t', '2', '-c', '50', '-d', '12s', `http://127.0.0.1:${port}/`], (err, stdout) => resolve(stdout || '')));
  await sleep(3000);
  const first = await ctl('upgrade', name);
  await sleep(4000);
  const second = await ctl('upgrade', name);
  const report = await wrk;
  running = false;
  await Promise.all(loops);
  clearInterval(knock);
  await sleep(100);
  await ctl('stop', name);
  const requests = /(\d+) requests in/.exec(report);
  const errors = report.split('\n').filter((l) => /Socket errors|Non-2xx/.test(l)).map((l) => l.trim());
  console.log(`${policy}: ${[first, second].map((u) => u.text).join(' | ')}`);
  console.log(`  wrk: ${requests ? requests[1] : '?'} requests, ${errors.length ? errors.join('; ') : 'no errors'}`);
  console.log(`  new connections: ${fresh.ok} ok, ${fresh.failed} failed; probe: ${probe.connected} connected, ${probe.refused} refused, ${probe.other} other errors`);
}

(async () => {
  const xdg = fs.mkdtempSync(path.join(os.tmpdir(), 'nc-bench-upgrade-'));
  fs.chmodSync(xdg, 0o700);
  try {
    for (const policy of POLICIES) await run(policy, xdg);
  } finally {
    fs.rmSync(xdg, { recursive: true, force: true });
  }
})();
