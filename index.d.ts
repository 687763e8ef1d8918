// Types for native-cluster: native-cluster/child_process's, and native-cluster/cluster as
// `cluster` (loaded on first use).
/// <reference types="node" />
import type { NativeCluster } from './lib/cluster';

export * from './lib/child_process';
export declare const cluster: NativeCluster;

/** One IPC channel's counters and state, as the engine keeps them. */
export interface ChannelStats {
  id: number;
  /** The child's pid, where the channel belongs to a child of this JS environment. */
  pid?: number;
  bytesIn: number;
  framesIn: number;
  bytesOut: number;
  framesOut: number;
  /** Bytes written and not yet taken by the socket. */
  queuedBytes: number;
  handleInFlight: boolean;
  /** Sends held behind the handle in flight. */
  heldSends: number;
  fdsIn: number;
  fdsOut: number;
  /** Descriptors the channel holds: a handle in flight, received ones awaiting their frame. */
  fdsHeld: number;
  /** Not disconnected. */
  open: boolean;
}

/** One cluster round-robin group's counters. */
export interface GroupStats {
  id: number;
  workers: number;
  pending: number;
  awaitingAck: number;
  awaitingReply: number;
  dispatched: number;
  /** Connections closed at once because the primary was out of descriptors. */
  shed: number;
  /** Descriptors the group holds: its listener, its reserve and the connections in hand. */
  fdsHeld: number;
}

/** Every channel's and round-robin group's counters, read from the engine in one call (ours). */
export declare function engineStats(): { channels: ChannelStats[]; groups: GroupStats[] };
