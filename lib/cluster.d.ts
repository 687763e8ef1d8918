// Types for native-cluster/cluster: node:cluster's, plus our SO_REUSEPORT policy.
/// <reference types="node" />
import type { Cluster } from 'node:cluster';

declare const cluster: Cluster & {
  /** Ours (Linux): a SO_REUSEPORT socket per worker; the kernel spreads connections. */
  readonly SCHED_REUSEPORT: 3;
};
export = cluster;
