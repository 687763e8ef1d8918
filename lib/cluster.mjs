// ESM entry of native-cluster/cluster: the CommonJS module's object (one instance for require
// and import) as the default export and by name. Node cannot find these names in lib/cluster.js
// itself, whose export is chosen at run time (worker or primary).
import cluster from './cluster.js';

export default cluster;
export const {
  isPrimary, isMaster, isWorker, worker, Worker, workers, settings, schedulingPolicy,
  SCHED_NONE, SCHED_RR, SCHED_REUSEPORT, setupPrimary, setupMaster, fork, disconnect,
} = cluster;
