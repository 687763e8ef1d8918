'use strict';
// Handles crossing a channel (Node's NODE_HANDLE envelope): what a send() of a server, socket
// or raw wrap puts on the wire and does to the sender's object, and the Node objects a
// received descriptor becomes. The engine passes the descriptors and runs the ACK/NACK
// protocol; this is the JS-object side of it.
const net = require('node:net');
const dgram = require('node:dgram');
const { codes, errnoException } = require('./errors');
const { socketLists } = require('./socket_list');

// The libuv wraps Node builds its handles on (TCP, Pipe, UDP) are reachable only through
// process.binding, which is deprecated (DEP0111); node:net and node:dgram make them for us, and
// a raw wrap a user sends is known by its class's name and its HandleWrap ancestry.
const WRAP_TYPES = { TCP: 'net.Native', Pipe: 'net.Native', UDP: 'dgram.Native' };

function rawWrapType(handle) {
  const proto = handle !== null && typeof handle === 'object' ? Object.getPrototypeOf(handle) : null;
  const type = Object.hasOwn(WRAP_TYPES, proto?.constructor?.name) ? WRAP_TYPES[proto.constructor.name] : undefined;
  for (let p = proto; type !== undefined && p !== null; p = Object.getPrototypeOf(p)) {
    if (p.constructor?.name === 'HandleWrap') return type;
  }
  return undefined;
}

// A dgram.Socket keeps its UDP wrap under node:dgram's private state symbol.
function dgramWrap(socket) {
  const state = Object.getOwnPropertySymbols(socket).find((s) => s.description === 'state symbol');
  return state === undefined ? null : socket[state].handle;
}

// A UDP wrap with no descriptor yet, set up by node:dgram for `type` ('udp4' or 'udp6') as
// dgram's own private _createSocketHandle (deprecated, DEP0112) would.
function newUdpWrap(type) {
  return dgramWrap(dgram.createSocket(type));
}

// A TCP or Pipe wrap (as the fd is) taking over `fd`, made the way node:cluster's primary makes
// one; or a negative errno, the fd then still the caller's.
function streamWrap(fd) {
  return net._createServerHandle(null, 0, 0, fd);
}

function nop() {}

// The descriptor kinds (as the engine names them) each envelope type can be built from.
const KINDS = {
  'net.Server': ['tcp', 'pipe'],
  'net.Socket': ['tcp', 'pipe'],
  'net.Native': ['tcp', 'pipe'],
  'dgram.Socket': ['udp'],
  'dgram.Native': ['udp'],
};

// How Node's send() names a handle object (the envelope's `type`), or ERR_INVALID_HANDLE_TYPE.
function handleType(handle) {
  if (handle instanceof net.Socket) return 'net.Socket';
  if (handle instanceof net.Server) return 'net.Server';
  if (handle instanceof dgram.Socket) return 'dgram.Socket';
  const type = rawWrapType(handle);
  if (type === undefined) throw codes.ERR_INVALID_HANDLE_TYPE();
  return type;
}

// What sending `handle` with `message` takes: the envelope, the wrap whose fd goes, and what to
// do to the sender's object once the engine has its own copy of the fd. `wrap` is null when the
// object has no descriptor any more (a destroyed socket, a closed server): Node then sends the
// bare message.
function prepareSend(child, message, handle, keepOpen) {
  const type = handleType(handle);
  const envelope = { cmd: 'NODE_HANDLE', type, msg: message };
  let wrap;
  let sent = nop;
  switch (type) {
    case 'net.Socket':
      wrap = handle._handle;
      if (wrap) {
        const server = handle.server;
        if (server) envelope.key = server._connectionKey;
        sent = () => socketSent(child, handle, wrap, envelope.key, keepOpen);
      }
      break;
    case 'net.Server':
      wrap = handle._handle;
      break;
    case 'dgram.Socket':
      wrap = dgramWrap(handle);
      envelope.dgramType = handle.type;
      break;
    default:
      wrap = handle;
  }
  return { envelope, type, wrap: wrap || null, retransmit: type === 'net.Socket' && !keepOpen, sent };
}

// A socket is handed over: the server learns to ask the child about it and, unless kept open,
// the sender's object lets go of it. The engine holds its own copy of the fd until the ACK, so
// the wrap can close now.
function socketSent(child, socket, wrap, key, keepOpen) {
  const server = socket.server;
  if (server) {
    const { list, created } = socketLists(child).sending(key);
    if (created) server._setupWorker(list);
    if (!keepOpen) server._connections--;
  }
  if (keepOpen) return;
  wrap.onread = nop;
  socket._handle = null;
  socket.setTimeout(0);
  // An HTTP server's socket: release its parser and detach it from its response, as Node does.
  const { freeParser, HTTPParser } = require('_http_common');
  if (socket.parser && socket.parser instanceof HTTPParser) {
    freeParser(socket.parser, null, socket);
    if (socket._httpMessage) socket._httpMessage.detachSocket(socket);
  }
  wrap.close();
}

// The outermost envelope carries the fd; a retransmission by Node wraps the original envelope
// in another. The innermost one says what the handle is and what the message was.
function unwrap(envelope) {
  let inner = envelope;
  while (inner.msg !== null && typeof inner.msg === 'object' && inner.msg.cmd === 'NODE_HANDLE') inner = inner.msg;
  return inner;
}

// A libuv wrap around a received fd (the engine's ReceivedFd), of the kind the engine found it
// to be; the wrap owns the descriptor from here on.
function wrapFd(fd, kind) {
  const wrap = kind === 'udp' ? newUdpWrap('udp4') : streamWrap(fd.raw);
  const err = typeof wrap === 'number' ? wrap : kind === 'udp' ? wrap.open(fd.raw) : 0;
  if (err !== 0) closeAndThrow(fd, errnoException(err, 'open'));
  fd.release();
  return wrap;
}

function closeAndThrow(fd, err) {
  fd.close();
  throw err;
}

// Turns a received envelope and fd into what Node's 'message' listeners get, and calls
// `emit(message, handle)` (at once, or once a server listens or a socket is bound, as Node), or
// `fail(err)` if the descriptor will not listen or bind (it is closed then).
function receive(child, envelope, fd, kind, emit, fail) {
  const { type, msg, key, dgramType } = unwrap(envelope);
  // The engine checked the fd against the outer envelope; a nested one must agree with it.
  const usable = KINDS[type]?.includes(kind) && (type !== 'dgram.Socket' || dgramType === 'udp4' || dgramType === 'udp6');
  if (!usable) {
    fd.close();
    throw codes.ERR_INVALID_HANDLE_TYPE();
  }
  switch (type) {
    case 'net.Server': {
      const wrap = wrapFd(fd, kind);
      const server = new net.Server();
      settle(server, (done) => server.listen(wrap, done), () => emit(msg, server), fail);
      break;
    }
    case 'net.Socket': {
      let socket;
      try {
        // node:net wraps the fd in a socket's TCP or Pipe, as Node's channel does.
        socket = new net.Socket({ fd: fd.raw, readable: true, writable: true });
      } catch (err) {
        closeAndThrow(fd, err);
      }
      fd.release();
      if (key) socketLists(child).receiving(key).add(socket);
      emit(msg, socket);
      break;
    }
    case 'dgram.Socket': {
      const wrap = wrapFd(fd, kind);
      const socket = dgram.createSocket(dgramType);
      settle(socket, (done) => socket.bind(wrap, done), () => emit(msg, socket), fail);
      break;
    }
    default:
      emit(msg, wrapFd(fd, kind));
  }
}

// Runs `start(done)` on a server or dgram socket; its 'error' before `done` is `fail`'s (and
// closes it), later ones are the user's.
function settle(target, start, ok, fail) {
  const onError = (err) => {
    target.close();
    fail(err);
  };
  target.once('error', onError);
  start(() => {
    target.removeListener('error', onError);
    ok();
  });
}

module.exports = { prepareSend, receive, newUdpWrap, streamWrap };
