// What native-cluster adds to Node's API, and the root's exports.
import { fork, spawn, cluster, engineStats } from 'native-cluster';
import type { PeerErrorCode } from 'native-cluster';
import nativeCluster from 'native-cluster/cluster';

const child = fork('./worker.js', { maxFrameSize: 1 << 20 });
spawn('node', ['worker.js'], { stdio: ['pipe', 'pipe', 'pipe', 'ipc'], maxFrameSize: 1 << 20 });
child.on('error', (err: Error & { code?: string }) => {
  const code = err.code as PeerErrorCode;
  console.log(code);
});
cluster.schedulingPolicy = cluster.SCHED_REUSEPORT;
const same: typeof nativeCluster = cluster;
if (same.isPrimary) same.fork();

const { channels, groups } = engineStats();
const sent: number = channels.reduce((n, c) => n + c.framesOut, 0);
const shed: number = groups.reduce((n, g) => n + g.shed, 0);
console.log(sent, shed, channels[0]?.pid);

// The supervisor's guard rails.
import { supervise } from 'native-cluster/supervisor';
import type { StackFrame } from 'native-cluster/supervisor';

const sup = supervise('app.js', { workers: 2, maxRequests: 2000, maxRequestsJitter: 200, maxLifetime: 3_600_000, maxMemory: 512 * 1048576, hangTimeout: 10000, hangStack: true,
  logFormat: 'json', logFile: '/var/log/app.log', logMaxSize: 50 * 1048576, logKeep: 10 });
sup.reopenLogs();
const logBytes: number | undefined = sup.stats().logs?.written;
void logBytes;
sup.on('recycle', (e) => console.log(e.kind, e.reason));
sup.on('worker-hung', (e) => console.log(e.silentMs, e.handedAfterMiss));
sup.on('hang-stack', (e) => e.frames?.forEach((f: StackFrame) => console.log(f.functionName, f.line)));
const { counters, list } = sup.stats();
const recycled: number = (counters.recycles['memory-limit'] ?? 0) + counters.hangs;
console.log(recycled, list[0]?.requests, list[0]?.channel.fdsOut, sup.metrics().length);
