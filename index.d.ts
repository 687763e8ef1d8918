// Types for native-cluster: native-cluster/child_process's, and native-cluster/cluster as
// `cluster` (loaded on first use).
/// <reference types="node" />
import type { NativeCluster } from './lib/cluster';

export * from './lib/child_process';
export declare const cluster: NativeCluster;
