'use strict';
// spawnSync(), execSync() and execFileSync(): the engine runs the child to completion,
// blocking in native code.
const native = require('./native');
const { normalizeSpawnArguments, engineSpawnSpec } = require('./subprocess');
const { normalizeStdio } = require('./stdio');
const { codes, errnoException } = require('./errors');
const { MAX_BUFFER, normalizeExecArgs, normalizeExecFileArgs } = require('./exec_args');
const v = require('./validate');
const os = require('node:os');

// What stdout and stderr are when the child never started (no output at all): null up to Node
// 22.9, undefined from 22.10 on. Ours is what the running Node's is.
const [major, minor] = process.versions.node.split('.').map(Number);
const NO_OUTPUT = major > 22 || (major === 22 && minor >= 10) ? undefined : null;

const signalNames = Object.fromEntries(Object.entries(os.constants.signals).map(([name, num]) => [num, name]));

function toInput(input, encoding, name) {
  if (typeof input === 'string') return Buffer.from(input, encoding);
  if (ArrayBuffer.isView(input)) return Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  throw codes.ERR_INVALID_ARG_TYPE(name, ['Buffer', 'TypedArray', 'DataView', 'string'], input);
}

function spawnSync(file, args, options) {
  options = { maxBuffer: MAX_BUFFER, ...normalizeSpawnArguments(file, args, options) };
  v.validateTimeout(options.timeout);
  v.validateMaxBuffer(options.maxBuffer);
  const killSignal = v.sanitizeKillSignal(options.killSignal) ?? os.constants.signals.SIGTERM;
  const { entries } = normalizeStdio(options.stdio || 'pipe', true);
  // As Node: a falsy input is none; a given one is validated whatever stdin is.
  const input = options.input ? options.input : entries[0].input;
  const stdin = input == null ? undefined : toInput(input, options.encoding, 'options.stdio[0]');

  const r = native.binding.spawnSync(
    { ...engineSpawnSpec(options, options.args, options.envPairs, entries), maxFrameSize: 0 },
    {
      input: entries[0].kind === 'pipe' ? stdin : undefined,
      timeout: options.timeout ?? undefined,
      killSignal,
      // As Node: null is no limit.
      maxBuffer: options.maxBuffer ?? undefined,
    },
  );

  const spawned = r.pid !== 0;
  const result = {};
  if (r.errno !== 0) {
    const error = errnoException(-r.errno, `spawnSync ${options.file}`);
    error.path = options.file;
    error.spawnargs = options.args.slice(1);
    result.error = error;
  }
  result.status = r.status ?? null;
  result.signal = r.signal == null ? null : signalNames[r.signal];
  let output = spawned ? r.output : null;
  if (output && options.encoding && options.encoding !== 'buffer') {
    output = output.map((o) => (o ? o.toString(options.encoding) : o));
  }
  result.output = output;
  result.pid = r.pid;
  result.stdout = output ? output[1] : NO_OUTPUT;
  result.stderr = output ? output[2] : NO_OUTPUT;
  return result;
}

function checkExecSyncError(ret, args, cmd) {
  if (ret.error) return Object.assign(ret.error, ret);
  if (ret.status !== 0) {
    let msg = `Command failed: ${cmd || args.join(' ')}`;
    if (ret.stderr && ret.stderr.length > 0) msg += `\n${ret.stderr.toString()}`;
    return Object.assign(new Error(msg), ret);
  }
  return undefined;
}

function execFileSync(file, args, options) {
  ({ file, args, options } = normalizeExecFileArgs(file, args, options));
  const inheritStderr = !options.stdio;
  const ret = spawnSync(file, args, options);
  if (inheritStderr && ret.stderr) process.stderr.write(ret.stderr);
  const err = checkExecSyncError(ret, [options.argv0 || file, ...args]);
  if (err) throw err;
  return ret.stdout;
}

function execSync(command, options) {
  const opts = normalizeExecArgs(command, options, null);
  const inheritStderr = !opts.options.stdio;
  const ret = spawnSync(opts.file, opts.options);
  if (inheritStderr && ret.stderr) process.stderr.write(ret.stderr);
  const err = checkExecSyncError(ret, undefined, command);
  if (err) throw err;
  return ret.stdout;
}

module.exports = { spawnSync, execSync, execFileSync };
