'use strict';
// Node-style errors: the same codes, names and messages as Node 20's built-ins.
const util = require('node:util');

// Node 20's wording for the value received (its determineSpecificType).
function describeReceived(value) {
  if (value == null) return ` Received ${value}`;
  switch (typeof value) {
    case 'function':
      return ` Received function ${value.name}`;
    case 'object':
      if (value.constructor && 'name' in value.constructor) return ` Received an instance of ${value.constructor.name}`;
      return ` Received ${util.inspect(value, { depth: -1 })}`;
    case 'string': {
      const shown = value.length > 28 ? `${value.slice(0, 25)}...` : value;
      return ` Received type string (${shown.includes("'") ? JSON.stringify(shown) : `'${shown}'`})`;
    }
    case 'number':
      return ` Received type number (${Object.is(value, -0) ? '-0' : value})`;
    case 'bigint':
      return ` Received type bigint (${value}n)`;
    default:
      return ` Received type ${typeof value} (${String(value)})`;
  }
}

// Node's wording for an expected-type list: primitive type names first ("of type string"),
// then classes ("an instance of Buffer or URL"), then anything else ("int32").
const PRIMITIVE_TYPES = new Set(['string', 'function', 'number', 'object', 'boolean', 'bigint', 'symbol']);
const CLASS_NAME = /^([A-Z][a-z0-9]*)+$/;

function joinAlternatives(items, oneOfPrefix) {
  if (items.length > 2) return `${oneOfPrefix}${items.slice(0, -1).join(', ')}, or ${items[items.length - 1]}`;
  if (items.length === 2) return `${oneOfPrefix}${items[0]} or ${items[1]}`;
  return items[0];
}

function describeExpected(expected) {
  const types = [];
  const instances = [];
  const other = [];
  for (const name of expected) {
    if (PRIMITIVE_TYPES.has(name.toLowerCase())) types.push(name.toLowerCase());
    else if (CLASS_NAME.test(name)) instances.push(name);
    else other.push(name);
  }
  // Beside classes, a plain object is named as the class Object.
  if (instances.length > 0 && types.includes('object')) {
    types.splice(types.indexOf('object'), 1);
    instances.push('Object');
  }
  const parts = [];
  if (types.length === 1) parts.push(`of type ${types[0]}`);
  else if (types.length > 1) parts.push(joinAlternatives(types, 'one of type '));
  if (instances.length > 2) parts.push(`an instance of ${joinAlternatives(instances, '')}`);
  else if (instances.length > 0) parts.push(`an instance of ${instances.join(' or ')}`);
  if (other.length === 1) parts.push(other[0] === other[0].toLowerCase() ? other[0] : `an ${other[0]}`);
  else if (other.length > 1) parts.push(joinAlternatives(other, 'one of '));
  return parts.join(' or ');
}

// One class per code, as Node has: its toString() shows the code (`TypeError [CODE]: ...`),
// and its prototype's constructor is the base class.
const errorClasses = new Map();

function errorClass(Base, code) {
  let NodeError = errorClasses.get(code);
  if (NodeError === undefined) {
    NodeError = class extends Base {
      toString() {
        return `${this.name} [${code}]: ${this.message}`;
      }
    };
    Object.defineProperty(NodeError.prototype, 'constructor', {
      value: Base, enumerable: false, writable: true, configurable: true,
    });
    errorClasses.set(code, NodeError);
  }
  return NodeError;
}

function makeError(Base, code, message) {
  const NodeError = errorClass(Base, code);
  const err = new NodeError();
  Object.defineProperty(err, 'code', { value: code, enumerable: true, writable: true, configurable: true });
  Object.defineProperty(err, 'message', { value: message, enumerable: false, writable: true, configurable: true });
  // Node shows the code in the name while the stack is captured, then restores it.
  err.name = `${Base.name} [${code}]`;
  void err.stack;
  delete err.name;
  return err;
}

const codes = {
  ERR_INVALID_ARG_TYPE: (name, types, value) => makeError(TypeError, 'ERR_INVALID_ARG_TYPE',
    `The "${name}" ${name.includes('.') ? 'property' : 'argument'} must be ${describeExpected([].concat(types))}.${describeReceived(value)}`),
  ERR_INVALID_ARG_VALUE: (name, value, reason = 'is invalid') => makeError(TypeError, 'ERR_INVALID_ARG_VALUE',
    `The ${name.includes('.') ? 'property' : 'argument'} '${name}' ${reason}. Received ${util.inspect(value)}`),
  ERR_OUT_OF_RANGE: (name, range, value) => makeError(RangeError, 'ERR_OUT_OF_RANGE',
    `The value of "${name}" is out of range. It must be ${range}. Received ${util.inspect(value)}`),
  ERR_MISSING_ARGS: (name) => makeError(TypeError, 'ERR_MISSING_ARGS', `The "${name}" argument must be specified`),
  ERR_UNKNOWN_SIGNAL: (sig) => makeError(TypeError, 'ERR_UNKNOWN_SIGNAL', `Unknown signal: ${sig}`),
  ERR_IPC_CHANNEL_CLOSED: () => makeError(Error, 'ERR_IPC_CHANNEL_CLOSED', 'Channel closed'),
  ERR_IPC_DISCONNECTED: () => makeError(Error, 'ERR_IPC_DISCONNECTED', 'IPC channel is already disconnected'),
  ERR_IPC_SYNC_FORK: () => makeError(Error, 'ERR_IPC_SYNC_FORK', 'IPC cannot be used with synchronous forks'),
  ERR_CHILD_PROCESS_STDIO_MAXBUFFER: (name) => makeError(RangeError, 'ERR_CHILD_PROCESS_STDIO_MAXBUFFER',
    `${name} maxBuffer length exceeded`),
  ERR_INVALID_SYNC_FORK_INPUT: (value) => makeError(TypeError, 'ERR_INVALID_SYNC_FORK_INPUT',
    `Asynchronous forks do not support Buffer, TypedArray, DataView or string input: ${value}`),
  ERR_IPC_ONE_PIPE: () => makeError(Error, 'ERR_IPC_ONE_PIPE', 'Child process can have only one IPC pipe'),
  ERR_CHILD_PROCESS_IPC_REQUIRED: (name) => makeError(Error, 'ERR_CHILD_PROCESS_IPC_REQUIRED',
    `Forked processes must have an IPC channel, missing value 'ipc' in ${name}`),
  // Node's, for a handle that cannot be sent; with a reason, ours for one a child sent.
  ERR_INVALID_HANDLE_TYPE: (reason) => Object.assign(makeError(TypeError, 'ERR_INVALID_HANDLE_TYPE',
    reason === undefined ? 'This handle type cannot be sent'
      : `The child sent a handle that cannot be received (${reason === 'type' ? 'unknown type' : 'wrong kind of descriptor'}); refused`),
  reason === undefined ? {} : { reason }),
  ERR_CHILD_CLOSED_BEFORE_REPLY: () => makeError(Error, 'ERR_CHILD_CLOSED_BEFORE_REPLY', 'Child closed before reply received'),
  // Ours: what a misbehaving peer sent. The channel carries on after each.
  ERR_IPC_INVALID_MESSAGE: (reason) => Object.assign(makeError(Error, 'ERR_IPC_INVALID_MESSAGE',
    `Invalid IPC message from the child (${reason})`), { reason }),
  ERR_IPC_FRAME_TOO_LARGE: () => makeError(Error, 'ERR_IPC_FRAME_TOO_LARGE',
    'IPC message from the child exceeds maxFrameSize; skipped'),
  ERR_IPC_UNEXPECTED_ACK: () => makeError(Error, 'ERR_IPC_UNEXPECTED_ACK',
    'The child acknowledged a handle that was never sent; ignored'),
  ERR_IPC_MISSING_HANDLE: () => makeError(Error, 'ERR_IPC_MISSING_HANDLE',
    'The child sent a handle message without a descriptor; refused'),
  ERR_IPC_UNEXPECTED_HANDLE: (reason) => Object.assign(makeError(Error, 'ERR_IPC_UNEXPECTED_HANDLE',
    reason === 'truncated' ? 'The child sent more descriptors than fit one message; the rest were lost'
      : 'The child sent a descriptor without a handle message; closed'), { reason }),
};

// util._errnoException without the private API: errno is negative, as Node's.
function errnoException(errno, syscall, original) {
  const code = util.getSystemErrorName(errno);
  const message = original ? `${syscall} ${code} ${original}` : `${syscall} ${code}`;
  const err = new Error(message);
  err.errno = errno;
  err.code = code;
  err.syscall = syscall;
  return err;
}

class AbortError extends Error {
  constructor(message = 'The operation was aborted', options = undefined) {
    super(message, options);
    this.code = 'ABORT_ERR';
    this.name = 'AbortError';
  }
}

module.exports = { codes, errnoException, AbortError };
