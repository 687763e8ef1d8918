'use strict';
// Loaded into every worker with `--require` (the app itself is not changed). It answers the
// primary's pings from the event loop (a worker that stops answering is hung), counts HTTP
// requests (for --max-requests and the metrics), and changes how servers close once the
// primary has asked the worker to leave (node:cluster's `disconnect`).
//
// The worker then closes its servers. An HTTP server closing that way would, on Node >= 19,
// destroy its idle keep-alive connections at once, racing a client that is just sending its
// next request on one (ECONNRESET), and would answer requests in flight with
// `Connection: keep-alive`, so their clients keep using a worker that is going away. While
// leaving, every HTTP server finishes what it has with `Connection: close` instead: in-flight
// responses and any request still arriving on an open connection end the connection after the
// response; idle connections close on their next request or on the server's keepAliveTimeout.
// A server closed by the app for its own reasons keeps Node's behaviour.
const diagnostics = require('node:diagnostics_channel');
const http = require('node:http');
const https = require('node:https');

// Requests after which the primary recycles this worker (0: never); the app does not see it.
const maxRequests = Number(process.env.NATIVE_CLUSTER_MAX_REQUESTS) || 0;
delete process.env.NATIVE_CLUSTER_MAX_REQUESTS;
let requests = 0;

// Internal messages (a `NODE_` cmd) are never the app's 'message'; node:cluster ignores those
// that are not its own. Sent only while the channel is open: an error here would be the app's.
function tell(message) {
  if (process.connected) process.send(message);
}

diagnostics.subscribe('http.server.request.start', () => {
  // Once, when the limit is reached: the count itself travels with the pings.
  if (++requests === maxRequests) tell({ cmd: 'NODE_NC_MAX_REQUESTS', requests });
});

// How long a leaving worker keeps its channel open after its servers have closed.
const LINGER_MS = 100;

let leaving = false;
process.prependListener('internalMessage', (message) => {
  if (message && message.cmd === 'NODE_NC_PING') tell({ cmd: 'NODE_NC_PONG', seq: message.seq, requests });
  else if (message && message.cmd === 'NODE_CLUSTER' && message.act === 'disconnect' && !leaving) {
    leaving = true;
    lingerBeforeDisconnect();
  }
});

// The primary takes a leaving worker out of round-robin on its engine thread while the
// `disconnect` message travels, so a connection handed out just before may arrive after it.
// node:cluster's worker refuses such a connection (the primary gives it to another worker),
// but only while its channel is open: once the worker has closed it, the connection would be
// lost. So the worker lingers a little before it closes the channel.
// A worker asked to leave that keeps running once its channel has closed (a timer of the app's)
// is ended by the primary at its drain deadline. Should the primary die first, nobody would:
// so once the channel is closed, the worker leaves when it sees itself re-parented.
function leaveWithParent() {
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent) process.exit(0);
  }, 1000).unref();
}

function lingerBeforeDisconnect() {
  process.once('disconnect', leaveWithParent);
  const disconnect = process.disconnect;
  process.disconnect = function lingeringDisconnect() {
    setTimeout(() => {
      if (process.connected) disconnect.call(process);
    }, LINGER_MS);
  };
}

function stopKeepAlive(res) {
  if (!res.headersSent) res.shouldKeepAlive = false;
  else if (!res.writableFinished) res.once('finish', () => res.socket && res.socket.end());
}

function onRequest(req, res) {
  res.shouldKeepAlive = false;
}

function closeLeaving(server, baseClose, args) {
  if (!server.listening && !server._handle) return baseClose.apply(server, args);
  server.prependListener('request', onRequest);
  const connections = Object.getOwnPropertySymbols(server).find((s) => s.description === 'http.server.connections');
  const list = connections && server[connections];
  if (list && typeof list.all === 'function') {
    for (const parser of list.all()) {
      const res = parser.socket && parser.socket._httpMessage;
      if (res && !res.writableFinished) stopKeepAlive(res);
    }
  }
  return baseClose.apply(server, args);
}

for (const { Server } of [http, https]) {
  const ownClose = Server.prototype.close;
  // What http.Server#close calls after closing idle connections: net's or tls's close.
  const baseClose = Object.getPrototypeOf(Server.prototype).close;
  Server.prototype.close = function close(...args) {
    return leaving ? closeLeaving(this, baseClose, args) : ownClose.apply(this, args);
  };
}
