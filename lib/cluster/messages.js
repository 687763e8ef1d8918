'use strict';
// The NODE_CLUSTER envelope: one sequence counter for every worker of the primary (kept by the
// engine, which numbers its own `newconn`s from it), and replies matched to requests by `ack`.
const { binding } = require('../native');

const callbacks = new Map();

// The bit of a queryServer's `flags` that asks for ipv6Only: libuv's UV_TCP_IPV6ONLY (Node's own
// constant is reachable only through process.binding, deprecated).
const UV_TCP_IPV6ONLY = 1;

// Sends `{cmd: 'NODE_CLUSTER', ...message, seq}`; `onReply` gets the worker's reply.
function sendToWorker(worker, message, handle, onReply) {
  const proc = worker.process;
  if (!proc.connected) return false;
  const seq = binding.clusterSeq();
  const envelope = { cmd: 'NODE_CLUSTER', ...message, seq };
  if (typeof onReply === 'function') callbacks.set(seq, onReply);
  return proc.send(envelope, handle);
}

// An 'internalMessage' listener: replies go to their request's callback, the rest to `onMessage`.
function clusterListener(worker, onMessage) {
  return (message, handle) => {
    if (message.cmd !== 'NODE_CLUSTER') return;
    let fn = onMessage;
    if (message.ack !== undefined) {
      const callback = callbacks.get(message.ack);
      if (callback !== undefined) {
        fn = callback;
        callbacks.delete(message.ack);
      }
    }
    fn.call(worker, message, handle);
  };
}

module.exports = { sendToWorker, clusterListener, UV_TCP_IPV6ONLY };
