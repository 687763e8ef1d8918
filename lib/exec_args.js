'use strict';
// Argument shapes shared by exec/execFile and their sync variants (Node's normalizeExec*Args).
const v = require('./validate');

// Node 20's default maxBuffer for exec, execFile and the sync variants.
const MAX_BUFFER = 1024 * 1024;

function normalizeExecArgs(command, options, callback) {
  v.validateString(command, 'command');
  v.validateArgumentNullCheck(command, 'command');
  if (typeof options === 'function') {
    callback = options;
    options = undefined;
  }
  options = { ...options };
  options.shell = typeof options.shell === 'string' ? options.shell : true;
  return { file: command, options, callback };
}

function normalizeExecFileArgs(file, args, options, callback) {
  if (Array.isArray(args)) {
    args = args.slice();
  } else if (args != null && typeof args === 'object') {
    callback = options;
    options = args;
    args = null;
  } else if (typeof args === 'function') {
    callback = args;
    options = null;
    args = null;
  }
  if (args == null) args = [];
  if (typeof options === 'function') callback = options;
  else if (options != null) v.validateObject(options, 'options');
  if (options == null || typeof options === 'function') options = {};
  if (callback != null) v.validateFunction(callback, 'callback');
  if (options.argv0 != null) {
    v.validateString(options.argv0, 'options.argv0');
    v.validateArgumentNullCheck(options.argv0, 'options.argv0');
  }
  return { file, args, options, callback };
}

module.exports = { MAX_BUFFER, normalizeExecArgs, normalizeExecFileArgs };
