// Types for native-cluster/cluster (CommonJS): node:cluster's own declarations from @types/node,
// plus our SO_REUSEPORT policy.
/// <reference types="node" />
import type { Cluster } from 'node:cluster';

export * from 'node:cluster';

export interface NativeCluster extends Cluster {
  /** Ours (Linux): a SO_REUSEPORT socket per worker; the kernel spreads connections. */
  readonly SCHED_REUSEPORT: 3;
}

declare const cluster: NativeCluster;
export default cluster;
