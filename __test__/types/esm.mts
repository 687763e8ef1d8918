// An ES module using every entry by name and by default.
import cluster, { isPrimary, fork, worker, SCHED_REUSEPORT } from 'native-cluster/cluster';
import type { Worker } from 'native-cluster/cluster';
import nc, { exec, spawnSync } from 'native-cluster';
import * as cp from 'native-cluster/child_process';

if (isPrimary) {
  const w: Worker = fork();
  cluster.schedulingPolicy = SCHED_REUSEPORT;
  w.on('online', () => console.log(worker));
}
exec('ls', (err, stdout: string) => console.log(stdout));
const r: string = spawnSync('ls', { encoding: 'utf8' }).stdout;
nc.cluster.disconnect();
cp.fork('./worker.js').send('hi');
export { r };
