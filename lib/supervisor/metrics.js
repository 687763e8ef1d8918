'use strict';
// The supervisor's numbers in the Prometheus text format (version 0.0.4, prom-client's naming:
// `_total` counters, base units, seconds and bytes), rendered from stats() so that `status
// --json` and `/metrics` never disagree; and the HTTP server of `--metrics host:port`.
const http = require('node:http');

const escape = (v) => String(v).replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

function labels(obj) {
  const parts = Object.entries(obj).map(([k, v]) => `${k}="${escape(v)}"`);
  return parts.length ? `{${parts.join(',')}}` : '';
}

// Renders `families`: [name, type, help, [[labels, value], ...]]; null values are left out.
function format(families) {
  const out = [];
  for (const [name, type, help, samples] of families) {
    const present = samples.filter(([, v]) => v !== null && v !== undefined && Number.isFinite(v));
    if (present.length === 0 && samples.length > 0) continue;
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [l, v] of present) out.push(`${name}${labels(l)} ${v}`);
  }
  return `${out.join('\n')}\n`;
}

function render(s) {
  const c = s.counters;
  const base = { cluster: s.name };
  const each = (pick) => s.list.map((w) => [{ ...base, slot: w.slot, id: w.id, pid: w.pid }, pick(w)]);
  const seconds = (ms) => (ms == null ? null : ms / 1000);
  const keyed = (obj, key) => Object.entries(obj).map(([k, v]) => [{ ...base, [key]: k }, v]);
  // Workers' output (none with --log-format inherit: the families are left out).
  const logs = (pick) => [[base, s.logs ? pick(s.logs) : null]];
  return format([
    ['native_cluster_workers', 'gauge', 'Worker slots.', [[base, s.workers]]],
    ['native_cluster_workers_ready', 'gauge', 'Slots whose current worker is ready.', [[base, s.ready]]],
    ['native_cluster_workers_answering', 'gauge', 'Ready workers whose last ping was answered (all of them with pings off).', [[base, s.answering]]],
    ['native_cluster_uptime_seconds', 'gauge', 'Time since the supervisor started.', [[base, seconds(s.uptime)]]],
    ['native_cluster_primary_resident_memory_bytes', 'gauge', "The primary's RSS.", [[base, s.rss]]],
    ['native_cluster_restarts_total', 'counter', 'Workers restarted after dying or hanging.', [[base, c.restarts]]],
    ['native_cluster_reloads_total', 'counter', 'Rolling reloads completed.', [[base, c.reloads]]],
    ['native_cluster_reloads_aborted_total', 'counter', 'Rolling reloads aborted (the new code was not ready).', [[base, c.reloadsAborted]]],
    ['native_cluster_recycles_total', 'counter', 'Workers replaced by recycling or the memory limit, by reason.', keyed(c.recycles, 'reason')],
    ['native_cluster_recycles_aborted_total', 'counter', 'Replacements that did not become ready (the worker kept serving).', [[base, c.recyclesAborted]]],
    ['native_cluster_hangs_total', 'counter', 'Workers found hung (no answer to pings).', [[base, c.hangs]]],
    ['native_cluster_worker_exits_total', 'counter', 'Worker exits, by reason.', keyed(c.exits, 'reason')],
    ['native_cluster_worker_uptime_seconds', 'gauge', 'Time since the worker started.', each((w) => seconds(w.uptime))],
    ['native_cluster_worker_restarts', 'gauge', "Restarts of the worker's slot.", each((w) => w.restarts)],
    ['native_cluster_worker_resident_memory_bytes', 'gauge', "The worker's RSS.", each((w) => w.rss)],
    ['native_cluster_worker_tree_resident_memory_bytes', 'gauge', 'RSS of the worker and its descendants at the last memory sample.', each((w) => w.treeRss)],
    ['native_cluster_worker_cpu_seconds_total', 'counter', 'CPU time of the worker (user + system).', each((w) => w.cpuSeconds)],
    ['native_cluster_worker_requests_total', 'counter', 'HTTP requests the worker has received (as of its last answer to a ping).', each((w) => w.requests)],
    ['native_cluster_worker_ping_rtt_seconds', 'gauge', "Round trip of the worker's last ping.", each((w) => seconds(w.pingRtt))],
    ['native_cluster_worker_ping_missed', 'gauge', "1 while the worker's last ping is unanswered (it is routed no connection).", each((w) => Number(w.pingMissed))],
    ['native_cluster_worker_awaiting_ack', 'gauge', 'Hand-offs sent to the worker and not yet ACKed.', each((w) => w.awaitingAck)],
    ['native_cluster_worker_ipc_bytes_in_total', 'counter', "Bytes read from the worker's IPC channel.", each((w) => w.channel.bytesIn)],
    ['native_cluster_worker_ipc_bytes_out_total', 'counter', "Bytes written to the worker's IPC channel.", each((w) => w.channel.bytesOut)],
    ['native_cluster_worker_ipc_frames_in_total', 'counter', 'Messages read from the worker.', each((w) => w.channel.framesIn)],
    ['native_cluster_worker_ipc_frames_out_total', 'counter', 'Messages written to the worker.', each((w) => w.channel.framesOut)],
    ['native_cluster_worker_ipc_fds_out_total', 'counter', 'Descriptors (connections, handles) passed to the worker.', each((w) => w.channel.fdsOut)],
    ['native_cluster_worker_ipc_queued_bytes', 'gauge', 'Bytes written to the worker and not yet taken by its socket.', each((w) => w.channel.queuedBytes)],
    ['native_cluster_log_written_bytes_total', 'counter', "Bytes of workers' output written to the log sinks.", logs((l) => l.written)],
    ['native_cluster_log_dropped_bytes_total', 'counter', 'Bytes of workers\' output lost to failed writes (EPIPE, ENOSPC, ...).', logs((l) => l.dropped)],
    ['native_cluster_log_write_errors_total', 'counter', 'Failed writes (or reopens) of the log sinks.', logs((l) => l.errors)],
    ['native_cluster_log_rotations_total', 'counter', 'Log file rotations.', logs((l) => l.rotations)],
    ['native_cluster_log_queued_bytes', 'gauge', 'Bytes of output queued for the log sinks, not yet written.', logs((l) => l.queued)],
    ['native_cluster_log_stalled', 'gauge', "1 while a log sink is not keeping up (workers may be blocked writing).", logs((l) => Number(l.stalled))],
    ['native_cluster_rr_dispatched_total', 'counter', 'Connections handed out by a round-robin listener.', s.groups.map((g) => [{ ...base, group: g.id }, g.dispatched])],
    ['native_cluster_rr_pending', 'gauge', 'Connections accepted and waiting for a free worker.', s.groups.map((g) => [{ ...base, group: g.id }, g.pending])],
    ['native_cluster_rr_shed_total', 'counter', 'Connections closed at once for want of descriptors.', s.groups.map((g) => [{ ...base, group: g.id }, g.shed])],
  ]);
}

// Serves `GET /metrics` (and `/`) with sup.metrics() on host:port; resolves once listening.
function serve(sup, { host, port }) {
  const server = http.createServer((req, res) => {
    if (req.method !== 'GET' || (req.url !== '/metrics' && req.url !== '/')) {
      res.writeHead(404).end('not found: GET /metrics\n');
      return;
    }
    res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4; charset=utf-8' }).end(sup.metrics());
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      // Metrics alone do not keep the primary alive.
      server.unref();
      resolve(server);
    });
  });
}

module.exports = { render, serve };
