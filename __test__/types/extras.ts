// What native-cluster adds to Node's API, and the root's exports.
import { fork, spawn, cluster } from 'native-cluster';
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
