'use strict';
// Measures one scenario once with one implementation, in this fresh process, and prints
// one JSON line on stdout. Usage: node bench/scenario.js <node|ours> <scenario name>
//
// 'node' uses node:<module>; 'ours' uses native-cluster/<module> (the package's own
// exports, resolved by self-reference). If ours cannot be loaded, 'ours' falls back to
// Node's module with a warning on stderr and "aliased" in the result, unless
// BENCH_STRICT=1, in which case the run fails.
const path = require('node:path');
const { scenarios } = require('./scenarios');

const [impl, name] = process.argv.slice(2);
const scenario = scenarios.find((s) => s.name === name);

function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

if (!['node', 'ours'].includes(impl) || !scenario) {
  emit({ ok: false, error: `usage: scenario.js <node|ours> <${scenarios.map((s) => s.name).join('|')}>` });
  process.exit(2);
}

const aliased = [];
const loaded = new Map();
function load(mod) {
  if (loaded.has(mod)) return loaded.get(mod);
  let m;
  if (impl === 'node') {
    m = require(`node:${mod}`);
  } else {
    try {
      m = require(`native-cluster/${mod}`);
    } catch (err) {
      if (process.env.BENCH_STRICT === '1') throw err;
      process.stderr.write(
        `WARNING: native-cluster/${mod} did not load (${String(err.message).split('\n')[0]}); ` +
          `'ours' is ALIASED to node:${mod} for this run\n`,
      );
      aliased.push(mod);
      m = require(`node:${mod}`);
    }
  }
  loaded.set(mod, m);
  return m;
}

const ctx = {
  impl,
  load,
  fixture: (file) => path.join(__dirname, 'fixtures', file),
};

const timeoutMs = Number(process.env.BENCH_SCENARIO_TIMEOUT_MS || 150000);
const watchdog = setTimeout(() => {
  emit({ ok: false, impl, name, aliased, error: `timed out after ${timeoutMs} ms` });
  process.exit(3);
}, timeoutMs);
watchdog.unref();

const t0 = process.hrtime.bigint();
scenario
  .run(ctx)
  .then((metrics) => {
    emit({ ok: true, impl, name, aliased, wallMs: Number(process.hrtime.bigint() - t0) / 1e6, metrics });
    process.exit(0);
  })
  .catch((err) => {
    emit({ ok: false, impl, name, aliased, error: String((err && err.stack) || err) });
    process.exit(1);
  });
