// Code written for node:cluster, with only the import changed (types.test.js also checks it
// against node:cluster itself).
import cluster from 'native-cluster/cluster';
import type { Worker, Address, ClusterSettings } from 'native-cluster/cluster';
import http from 'node:http';
import { availableParallelism } from 'node:os';

if (cluster.isPrimary) {
  const settings: ClusterSettings = { exec: 'server.js', silent: false };
  cluster.setupPrimary(settings);
  cluster.schedulingPolicy = cluster.SCHED_RR;
  for (let i = 0; i < availableParallelism(); i++) cluster.fork({ WORKER_INDEX: i });
  cluster.on('listening', (worker: Worker, address: Address) => console.log(worker.id, address.port));
  cluster.on('exit', (worker, code, signal) => {
    if (!worker.exitedAfterDisconnect) cluster.fork();
    console.log(code, signal);
  });
  for (const worker of Object.values(cluster.workers ?? {})) worker?.send('hello');
  cluster.disconnect(() => console.log('all gone'));
} else {
  http.createServer((req, res) => res.end(`worker ${cluster.worker?.id}`)).listen(8000);
  cluster.worker?.on('message', (message) => console.log(message));
}
