// Types for native-cluster: the shape of node:child_process (and later node:cluster).
/// <reference types="node" />
import { EventEmitter } from 'node:events';
import type { Readable, Writable, Stream } from 'node:stream';
import type { Socket } from 'node:net';

export type StdioEntry = 'pipe' | 'overlapped' | 'ignore' | 'inherit' | 'ipc' | Stream | number | null | undefined;
export type Serializable = string | object | number | boolean;

export interface ForkOptions {
  cwd?: string | URL;
  env?: NodeJS.ProcessEnv;
  execPath?: string;
  execArgv?: string[];
  silent?: boolean;
  stdio?: 'pipe' | 'overlapped' | 'ignore' | 'inherit' | StdioEntry[];
  detached?: boolean;
  uid?: number;
  gid?: number;
  timeout?: number;
  killSignal?: NodeJS.Signals | number;
  signal?: AbortSignal;
  serialization?: 'json' | 'advanced';
  windowsHide?: boolean;
  argv0?: string;
  /** Largest message accepted from the child, in bytes (default 512 MiB). Longer frames are
   * skipped and reported as ERR_IPC_FRAME_TOO_LARGE. */
  maxFrameSize?: number;
}

export interface MessageOptions {
  keepOpen?: boolean;
}

export interface IpcChannel extends EventEmitter {
  ref(): void;
  unref(): void;
}

/** Error codes the parent reports for what a misbehaving child sends; the channel carries on. */
export type PeerErrorCode =
  | 'ERR_IPC_INVALID_MESSAGE'
  | 'ERR_IPC_FRAME_TOO_LARGE'
  | 'ERR_IPC_UNEXPECTED_ACK'
  | 'ERR_IPC_HANDLE_REFUSED';

export class ChildProcess extends EventEmitter {
  readonly pid?: number;
  readonly connected: boolean;
  readonly channel: IpcChannel | null;
  readonly exitCode: number | null;
  readonly signalCode: NodeJS.Signals | null;
  readonly killed: boolean;
  readonly spawnfile: string;
  readonly spawnargs: string[];
  stdin: Writable | null;
  stdout: Readable | null;
  stderr: Readable | null;
  readonly stdio: Array<Socket | null>;
  send(message: Serializable, callback?: (error: Error | null) => void): boolean;
  send(message: Serializable, sendHandle?: unknown, callback?: (error: Error | null) => void): boolean;
  send(message: Serializable, sendHandle?: unknown, options?: MessageOptions, callback?: (error: Error | null) => void): boolean;
  disconnect(): void;
  kill(signal?: NodeJS.Signals | number): boolean;
  ref(): void;
  unref(): void;

  on(event: 'spawn', listener: () => void): this;
  on(event: 'message', listener: (message: Serializable, sendHandle: unknown) => void): this;
  on(event: 'disconnect', listener: () => void): this;
  on(event: 'exit', listener: (code: number | null, signal: NodeJS.Signals | null) => void): this;
  on(event: 'close', listener: (code: number | null, signal: NodeJS.Signals | null) => void): this;
  on(event: 'error', listener: (err: Error & { code?: string }) => void): this;
  on(event: string | symbol, listener: (...args: any[]) => void): this;
  once(event: 'spawn', listener: () => void): this;
  once(event: 'message', listener: (message: Serializable, sendHandle: unknown) => void): this;
  once(event: 'disconnect', listener: () => void): this;
  once(event: 'exit', listener: (code: number | null, signal: NodeJS.Signals | null) => void): this;
  once(event: 'close', listener: (code: number | null, signal: NodeJS.Signals | null) => void): this;
  once(event: 'error', listener: (err: Error & { code?: string }) => void): this;
  once(event: string | symbol, listener: (...args: any[]) => void): this;
}

export function fork(modulePath: string | URL, options?: ForkOptions): ChildProcess;
export function fork(modulePath: string | URL, args?: readonly string[], options?: ForkOptions): ChildProcess;
