// Types for native-cluster/child_process: node:child_process's own declarations from
// @types/node, with our additions.
/// <reference types="node" />
import type * as cp from 'node:child_process';

export * from 'node:child_process';

interface FrameSizeOption {
  /** Ours: with an IPC channel, the largest message accepted from the child, in bytes (default
   * 512 MiB). Longer frames are skipped and reported as ERR_IPC_FRAME_TOO_LARGE. */
  maxFrameSize?: number;
}
export interface ForkOptions extends cp.ForkOptions, FrameSizeOption {}
export interface SpawnOptions extends cp.SpawnOptions, FrameSizeOption {}

export declare const fork: {
  (modulePath: string | URL, options?: ForkOptions): cp.ChildProcess;
  (modulePath: string | URL, args?: readonly string[], options?: ForkOptions): cp.ChildProcess;
};
/** Node's overloads, then the ones that take our options. */
export declare const spawn: typeof cp.spawn & {
  (command: string, options: SpawnOptions): cp.ChildProcess;
  (command: string, args: readonly string[], options: SpawnOptions): cp.ChildProcess;
};

/** Error codes the parent reports for what a misbehaving child sends; the channel carries on. */
export type PeerErrorCode =
  | 'ERR_IPC_INVALID_MESSAGE'
  | 'ERR_IPC_FRAME_TOO_LARGE'
  | 'ERR_IPC_UNEXPECTED_ACK'
  | 'ERR_IPC_MISSING_HANDLE'
  | 'ERR_IPC_UNEXPECTED_HANDLE'
  | 'ERR_INVALID_HANDLE_TYPE';
