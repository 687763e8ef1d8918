// Types for native-cluster/cluster imported as an ES module (lib/cluster.mjs): the default
// export and each property by name.
import type { NativeCluster } from './cluster.js';

export * from 'node:cluster';
export type { NativeCluster } from './cluster.js';

declare const cluster: NativeCluster;
export default cluster;
export declare const isPrimary: NativeCluster['isPrimary'];
export declare const isMaster: NativeCluster['isMaster'];
export declare const isWorker: NativeCluster['isWorker'];
export declare const worker: NativeCluster['worker'];
export declare const workers: NativeCluster['workers'];
export declare const settings: NativeCluster['settings'];
export declare const schedulingPolicy: NativeCluster['schedulingPolicy'];
export declare const SCHED_NONE: NativeCluster['SCHED_NONE'];
export declare const SCHED_RR: NativeCluster['SCHED_RR'];
export declare const SCHED_REUSEPORT: NativeCluster['SCHED_REUSEPORT'];
export declare const setupPrimary: NativeCluster['setupPrimary'];
export declare const setupMaster: NativeCluster['setupMaster'];
export declare const fork: NativeCluster['fork'];
export declare const disconnect: NativeCluster['disconnect'];
