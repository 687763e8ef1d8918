'use strict';
// Benchmark: native-cluster against Node's built-in child_process, side by side.
//
//   npm run bench                       all scenarios, 5 runs per implementation
//   BENCH_RUNS=3 npm run bench          fewer runs
//   BENCH_ONLY=a,c npm run bench        only some scenarios ('d' selects d-small and d-1gib)
//   BENCH_STRICT=1 npm run bench        fail instead of aliasing 'ours' to Node if it won't load
//
// Every measurement runs in a fresh parent process (`node bench/scenario.js <impl> <name>`),
// so the heap and JIT state of one implementation never affect the other. Within a scenario
// the implementations alternate, and the order flips every run. Prints medians, the ratio
// ours/node and the target for that ratio as a Markdown table, also written to
// bench/results.md. Scenario definitions live in bench/scenarios.js.
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { scenarios, median } = require('./scenarios');

const ROOT = path.join(__dirname, '..');
const IMPLS = ['node', 'ours'];
const RUNS = Math.max(1, Number(process.env.BENCH_RUNS || 5));
const ONLY = (process.env.BENCH_ONLY || '')
  .split(',')
  .map((s) => s.trim())
  .filter(Boolean);
const RUN_TIMEOUT_MS = Number(process.env.BENCH_RUN_TIMEOUT_MS || 180000);

const log = (s) => process.stderr.write(s + '\n');

function selected(s) {
  return ONLY.length === 0 || ONLY.some((t) => s.name === t || s.name.startsWith(t + '-'));
}

// ------------------------------------------------------------- preflight

function newestMtime(dir) {
  let newest = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    newest = Math.max(newest, e.isDirectory() ? newestMtime(p) : fs.statSync(p).mtimeMs);
  }
  return newest;
}

function preflight() {
  const notes = [];
  const addon = path.join(ROOT, 'native-cluster.node');
  if (!fs.existsSync(addon)) notes.push('native-cluster.node is missing (run `npm run build`)');
  else if (fs.existsSync(path.join(ROOT, 'src')) && newestMtime(path.join(ROOT, 'src')) > fs.statSync(addon).mtimeMs)
    notes.push('src/ is newer than native-cluster.node: the addon may be stale (run `npm run build`)');
  const probe = spawnSync(process.execPath, ['-e', "require('native-cluster/child_process').fork"], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 30000,
  });
  const loads = probe.status === 0;
  if (!loads) {
    const why = (probe.stderr || String(probe.error || '')).split('\n').find((l) => /Error|error/.test(l)) || 'unknown';
    notes.push(`native-cluster/child_process does not load: ${why.trim()}`);
  }
  return { loads, notes };
}

// ------------------------------------------------------------- runner

function measure(scenario, impl) {
  const args = [...(scenario.nodeArgs || []), path.join(__dirname, 'scenario.js'), impl, scenario.name];
  const t0 = Date.now();
  const r = spawnSync(process.execPath, args, {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: RUN_TIMEOUT_MS,
    maxBuffer: 64 * 1024 * 1024,
    killSignal: 'SIGKILL',
  });
  const line = (r.stdout || '')
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .pop();
  let res;
  try {
    res = JSON.parse(line);
  } catch {
    res = { ok: false, error: `no result (status ${r.status}, signal ${r.signal}${r.error ? ', ' + r.error.message : ''})` };
  }
  if (!res.ok && r.stderr) res.stderr = r.stderr.slice(-2000);
  res.wallS = (Date.now() - t0) / 1000;
  return res;
}

function runAll(list) {
  const results = {}; // name -> impl -> [result]
  for (const s of list) {
    results[s.name] = { node: [], ours: [] };
    for (let run = 0; run < RUNS; run++) {
      const order = run % 2 === 0 ? IMPLS : [...IMPLS].reverse();
      for (const impl of order) {
        const res = measure(s, impl);
        results[s.name][impl].push(res);
        const brief = res.ok
          ? s.metrics.map((m) => `${m.key}=${fmt(res.metrics[m.key], m.digits)}`).join(' ')
          : `ERROR ${res.error.split('\n')[0]}`;
        log(`[${s.name}] run ${run + 1}/${RUNS} ${impl.padEnd(4)} ${res.wallS.toFixed(1)}s  ${brief}${res.aliased && res.aliased.length ? '  (ALIASED to node)' : ''}`);
        if (!res.ok && res.stderr) log(res.stderr.trimEnd().split('\n').slice(-8).map((l) => '    | ' + l).join('\n'));
      }
    }
  }
  return results;
}

// ------------------------------------------------------------- table

function fmt(x, digits = 2) {
  if (x === undefined || x === null || Number.isNaN(x)) return '—';
  return x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function summarize(list, results) {
  const rows = [];
  for (const s of list) {
    for (const m of s.metrics) {
      const med = {};
      const errs = {};
      for (const impl of IMPLS) {
        const rs = results[s.name][impl];
        const ok = rs.filter((r) => r.ok && typeof r.metrics[m.key] === 'number');
        errs[impl] = rs.length - ok.length;
        med[impl] = ok.length ? median(ok.map((r) => r.metrics[m.key])) : undefined;
      }
      const ratio = med.node !== undefined && med.ours !== undefined && med.node !== 0 ? med.ours / med.node : undefined;
      let status = '';
      if (m.target) {
        const measured = m.target.ours ? med.ours : ratio;
        if (measured === undefined) status = 'ERR';
        else status = (m.target.op === '<=' ? measured <= m.target.value : measured >= m.target.value) ? 'PASS' : 'MISS';
      }
      rows.push({ s, m, med, errs, ratio, status });
    }
  }
  return rows;
}

function table(rows) {
  const head = ['Scenario', 'Metric', 'node (median)', 'ours (median)', 'ours/node', 'target', 'result'];
  const lines = [
    `| ${head.join(' | ')} |`,
    '| --- | --- | ---: | ---: | ---: | :---: | :---: |',
  ];
  for (const { s, m, med, errs, ratio, status } of rows) {
    const cell = (impl) => fmt(med[impl], m.digits) + (errs[impl] ? ` (${errs[impl]} failed)` : '');
    lines.push(
      `| ${s.name}: ${s.title} | ${m.label} | ${cell('node')} | ${cell('ours')} | ${fmt(ratio, 2)} | ${
        m.target ? `${m.target.ours ? 'ours ' : ''}${m.target.op} ${m.target.value}` : ''
      } | ${status} |`,
    );
  }
  return lines.join('\n');
}

function rawRuns(list, results) {
  const out = [];
  for (const s of list) {
    for (const impl of IMPLS) {
      const rs = results[s.name][impl];
      const vals = s.metrics.map(
        (m) => `${m.key}: ${rs.map((r) => (r.ok ? fmt(r.metrics[m.key], m.digits) : 'ERR')).join(', ')}`,
      );
      out.push(`- ${s.name} / ${impl}: ${vals.join('; ')}`);
      rs.forEach((r, i) => {
        if (!r.ok) out.push(`  - run ${i + 1} failed: ${String(r.error).split('\n')[0]}`);
      });
    }
  }
  return out.join('\n');
}

// ------------------------------------------------------------- main

function main() {
  const list = scenarios.filter(selected);
  if (list.length === 0) {
    log(`BENCH_ONLY=${process.env.BENCH_ONLY} selects nothing; scenarios: ${scenarios.map((s) => s.name).join(', ')}`);
    process.exit(2);
  }
  const unknown = ONLY.filter((t) => !scenarios.some((s) => s.name === t || s.name.startsWith(t + '-')));
  if (unknown.length) log(`WARNING: BENCH_ONLY names no scenario for: ${unknown.join(', ')}`);
  const started = Date.now();
  const load0 = os.loadavg()[0];
  if (load0 > 0.5) log(`WARNING: load average is ${load0.toFixed(2)} before starting; other work on this machine will add noise`);
  const pre = preflight();
  for (const n of pre.notes) log(`WARNING: ${n}`);
  if (!pre.loads) {
    log(
      process.env.BENCH_STRICT === '1'
        ? 'BENCH_STRICT=1: the ours runs will fail.'
        : "WARNING: 'ours' will be ALIASED to node:child_process — this is NOT a real comparison.",
    );
  }
  log(`benchmarking ${list.map((s) => s.name).join(', ')} with ${RUNS} run(s) per implementation`);

  const results = runAll(list);
  const rows = summarize(list, results);
  const anyAliased = list.some((s) => results[s.name].ours.some((r) => r.aliased && r.aliased.length));
  const elapsed = (Date.now() - started) / 1000;
  const load1 = os.loadavg()[0];

  const header = [
    `# native-cluster benchmark`,
    '',
    `${new Date().toISOString()} · Node ${process.version} · ${os.cpus().length}× ${os.cpus()[0] ? os.cpus()[0].model.trim() : '?'} · ${(
      os.totalmem() / 2 ** 30
    ).toFixed(0)} GiB · ${RUNS} run(s) per implementation, each in a fresh parent process · ${elapsed.toFixed(0)} s · load avg ${load0.toFixed(2)} before, ${load1.toFixed(2)} after`,
    '',
    anyAliased
      ? "**WARNING: 'ours' was ALIASED to node:child_process (native-cluster did not load) — the 'ours' column is Node itself, NOT a real comparison.**"
      : "'ours' = `require('native-cluster/child_process')` (the real implementation); 'node' = `node:child_process`.",
    ...pre.notes.map((n) => `\n> note: ${n}`),
    '',
    'Ratios are ours/node of the medians; the target applies to the ratio (to our median where it says "ours"). Parent CPU is `process.cpuUsage()` of the',
    'parent (all its threads) across the measured phase, divided by the message count.',
    '',
  ].join('\n');
  const md = `${header}\n${table(rows)}\n\n<details><summary>per-run values</summary>\n\n${rawRuns(list, results)}\n\n</details>\n`;

  process.stdout.write('\n' + md);
  fs.writeFileSync(path.join(__dirname, 'results.md'), md);
  log(`\nwritten to bench/results.md (${elapsed.toFixed(0)} s)`);
}

main();
