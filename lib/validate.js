'use strict';
// Argument validation with Node 20's codes and messages.
const os = require('node:os');
const { fileURLToPath } = require('node:url');
const { codes } = require('./errors');

function validateObject(value, name) {
  if (value === null || Array.isArray(value) || typeof value !== 'object') {
    throw codes.ERR_INVALID_ARG_TYPE(name, 'Object', value);
  }
}

function validateString(value, name) {
  if (typeof value !== 'string') throw codes.ERR_INVALID_ARG_TYPE(name, 'string', value);
}

function validateBoolean(value, name) {
  if (typeof value !== 'boolean') throw codes.ERR_INVALID_ARG_TYPE(name, 'boolean', value);
}

function validateArray(value, name) {
  if (!Array.isArray(value)) throw codes.ERR_INVALID_ARG_TYPE(name, 'Array', value);
}

function validateInteger(value, name, min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER) {
  if (typeof value !== 'number') throw codes.ERR_INVALID_ARG_TYPE(name, 'number', value);
  if (!Number.isInteger(value)) throw codes.ERR_OUT_OF_RANGE(name, 'an integer', value);
  if (value < min || value > max) throw codes.ERR_OUT_OF_RANGE(name, `>= ${min} && <= ${max}`, value);
}

// Node's spawn options uid/gid check: anything but an int32 is a type error.
function validateInt32(value, name) {
  if (value !== (value | 0)) throw codes.ERR_INVALID_ARG_TYPE(name, 'int32', value);
}

function validateOneOf(value, name, oneOf) {
  if (!oneOf.includes(value)) {
    const allowed = oneOf.map((o) => (typeof o === 'string' ? `'${o}'` : String(o))).join(', ');
    throw codes.ERR_INVALID_ARG_VALUE(name, value, `must be one of: ${allowed}`);
  }
}

function validateArgumentNullCheck(arg, name) {
  if (typeof arg === 'string' && arg.includes('\u0000')) {
    throw codes.ERR_INVALID_ARG_VALUE(name, arg, 'must be a string without null bytes');
  }
}

function validateArgumentsNullCheck(args, name) {
  for (let i = 0; i < args.length; i++) validateArgumentNullCheck(args[i], `${name}[${i}]`);
}

// A path given as a string, Buffer or file: URL, as Node's getValidatedPath accepts: a URL
// becomes a string, a Buffer stays a Buffer.
function validatePath(value, name) {
  let path = value;
  if (value instanceof URL) path = fileURLToPath(value);
  else if (!Buffer.isBuffer(value) && typeof value !== 'string') {
    throw codes.ERR_INVALID_ARG_TYPE(name, ['string', 'Buffer', 'URL'], value);
  }
  if (String(path).includes('\u0000')) {
    throw codes.ERR_INVALID_ARG_VALUE(name, value, 'must be a string, Uint8Array, or URL without null bytes');
  }
  return path;
}

function validateTimeout(timeout) {
  if (timeout != null && !(Number.isInteger(timeout) && timeout >= 0)) {
    throw codes.ERR_OUT_OF_RANGE('timeout', 'an unsigned integer', timeout);
  }
}

function validateMaxBuffer(maxBuffer) {
  if (maxBuffer != null && !(typeof maxBuffer === 'number' && maxBuffer >= 0)) {
    throw codes.ERR_OUT_OF_RANGE('options.maxBuffer', 'a positive number', maxBuffer);
  }
}

function validateFunction(value, name) {
  if (typeof value !== 'function') throw codes.ERR_INVALID_ARG_TYPE(name, 'Function', value);
}

function validateAbortSignal(signal, name) {
  if (signal !== undefined && (signal === null || typeof signal !== 'object' || !('aborted' in signal))) {
    throw codes.ERR_INVALID_ARG_TYPE(name, 'AbortSignal', signal);
  }
}

const signalNumbers = new Set(Object.values(os.constants.signals));

function convertToValidSignal(signal) {
  if (typeof signal === 'number' && signalNumbers.has(signal)) return signal;
  if (typeof signal === 'string') {
    const num = os.constants.signals[signal.toUpperCase()];
    if (num) return num;
  }
  throw codes.ERR_UNKNOWN_SIGNAL(signal);
}

function sanitizeKillSignal(killSignal) {
  if (typeof killSignal === 'string' || typeof killSignal === 'number') return convertToValidSignal(killSignal);
  if (killSignal != null) throw codes.ERR_INVALID_ARG_TYPE('options.killSignal', ['string', 'number'], killSignal);
  return undefined;
}

module.exports = {
  validateObject, validateString, validateBoolean, validateArray, validateInteger, validateInt32,
  validateOneOf, validateArgumentNullCheck, validateArgumentsNullCheck, validatePath, validateTimeout,
  validateAbortSignal, convertToValidSignal, sanitizeKillSignal, validateMaxBuffer, validateFunction,
};
