// Types for native-cluster: native-cluster/child_process's, and native-cluster/cluster as
// `cluster` (loaded on first use).
/// <reference types="node" />
import type { NativeCluster } from './lib/cluster';

export * from './lib/child_process';
export declare const cluster: NativeCluster;

/** One IPC channel's counters and state, as the engine keeps them. */
export interface ChannelStats {
  id: number;
  /** The child's pid, where this process spawned it. */
  pid?: number;
  bytesIn: number;
  framesIn: number;
  bytesOut: number;
  framesOut: number;
  /** Bytes written and not yet taken by the socket. */
  queuedBytes: number;
  handleInFlight: boolean;
  /** Sends held behind the handle awaiting its ACK. */
  heldSends: number;
  fdsIn: number;
  fdsOut: number;
  fdsHeld: number;
  open: boolean;
  /** Bytes read from the child and not yet taken by JS. */
  unreadBytes: number;
  /** Reading is paused until JS takes more of them (read backpressure). */
  readPaused: boolean;
  /**
   * Which thread reads the channel: `js`, its JS thread while idle (a conversation), or `io`,
   * the engine's I/O thread (a handle in flight, a cluster worker, a flood, backpressure).
   */
  reader: 'js' | 'io';
}

/** One round-robin group's counters (a cluster primary's listener). */
export interface GroupStats {
  id: number;
  workers: number;
  pending: number;
  awaitingAck: number;
  awaitingReply: number;
  dispatched: number;
  /** Connections closed at once for want of descriptors. */
  shed: number;
  fdsHeld: number;
}

/**
 * A child this process spawned and still holds (its ChildProcess has not been collected):
 * the engine's entry for it, released when the ChildProcess is collected, never the process.
 */
export interface ChildStats {
  id: number;
  pid: number;
  /** Reaped: its exit is reported (or on its way). */
  exited: boolean;
}

/**
 * Ours: every channel's and round-robin group's counters, and the children held, read in one
 * engine call.
 */
export declare function engineStats(): { channels: ChannelStats[]; groups: GroupStats[]; children: ChildStats[] };
