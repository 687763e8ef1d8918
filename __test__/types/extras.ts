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
