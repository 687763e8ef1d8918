// Types for native-cluster: the shape of node:child_process (node:cluster comes later).
/// <reference types="node" />
import { EventEmitter } from 'node:events';
import type { Readable, Writable, Stream } from 'node:stream';
import type { Socket, Server } from 'node:net';
import type { Socket as DgramSocket } from 'node:dgram';

export type StdioEntry = 'pipe' | 'overlapped' | 'ignore' | 'inherit' | 'ipc' | Stream | number | null | undefined;
export type StdioOption = 'pipe' | 'overlapped' | 'ignore' | 'inherit' | StdioEntry[];
export type Serializable = string | object | number | boolean;
/**
 * What `send()` can pass along with a message: a server, a socket, or a raw libuv
 * `TCP`/`Pipe`/`UDP` handle (`net.Native`/`dgram.Native`, typed loosely as Node's are).
 */
export type SendHandle = Socket | Server | DgramSocket | object;

interface CommonOptions {
  cwd?: string | URL;
  env?: NodeJS.ProcessEnv;
  uid?: number;
  gid?: number;
  timeout?: number;
  killSignal?: NodeJS.Signals | number;
  windowsHide?: boolean;
}

export interface SpawnOptions extends CommonOptions {
  argv0?: string;
  stdio?: StdioOption;
  detached?: boolean;
  shell?: boolean | string;
  signal?: AbortSignal;
  serialization?: 'json' | 'advanced';
  windowsVerbatimArguments?: boolean;
  /** With an 'ipc' entry in stdio: the largest message accepted from the child, in bytes
   * (default 512 MiB). Longer frames are skipped and reported as ERR_IPC_FRAME_TOO_LARGE. */
  maxFrameSize?: number;
}

export interface ForkOptions extends CommonOptions {
  execPath?: string;
  execArgv?: string[];
  silent?: boolean;
  stdio?: StdioOption;
  detached?: boolean;
  signal?: AbortSignal;
  serialization?: 'json' | 'advanced';
  argv0?: string;
  /** Largest message accepted from the child, in bytes (default 512 MiB). Longer frames are
   * skipped and reported as ERR_IPC_FRAME_TOO_LARGE. */
  maxFrameSize?: number;
}

export interface ExecOptions extends CommonOptions {
  shell?: string;
  signal?: AbortSignal;
  maxBuffer?: number;
  encoding?: BufferEncoding | 'buffer' | null;
}

export interface ExecFileOptions extends CommonOptions {
  shell?: boolean | string;
  signal?: AbortSignal;
  maxBuffer?: number;
  encoding?: BufferEncoding | 'buffer' | null;
  windowsVerbatimArguments?: boolean;
}

export interface SpawnSyncOptions extends CommonOptions {
  argv0?: string;
  /** Entries may also be a string or buffer: input for the child to read on that fd. */
  stdio?: 'pipe' | 'overlapped' | 'ignore' | 'inherit' | Array<StdioEntry | string | NodeJS.ArrayBufferView>;
  input?: string | NodeJS.ArrayBufferView;
  shell?: boolean | string;
  maxBuffer?: number;
  encoding?: BufferEncoding | 'buffer' | null;
  detached?: boolean;
}

export interface ExecSyncOptions extends SpawnSyncOptions {
  shell?: string;
}

export interface SpawnSyncReturns<T> {
  pid: number;
  output: Array<T | null> | null;
  stdout: T;
  stderr: T;
  status: number | null;
  signal: NodeJS.Signals | null;
  error?: Error;
}

/** The error given to exec()/execFile() callbacks and thrown by the sync variants. */
export interface ExecException extends Error {
  code?: number | string;
  killed?: boolean;
  signal?: NodeJS.Signals | null;
  cmd?: string;
}

type Output = string | Buffer;
export type ExecCallback = (error: ExecException | null, stdout: Output, stderr: Output) => void;

export interface MessageOptions {
  /** For a `net.Socket`: keep using it in this process after sending it. */
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
  | 'ERR_IPC_MISSING_HANDLE'
  | 'ERR_IPC_UNEXPECTED_HANDLE'
  | 'ERR_INVALID_HANDLE_TYPE';

export class ChildProcess extends EventEmitter {
  readonly pid?: number;
  readonly connected: boolean;
  /** Undefined for a child without an IPC channel, null once disconnected. */
  readonly channel?: IpcChannel | null;
  readonly exitCode: number | null;
  readonly signalCode: NodeJS.Signals | null;
  readonly killed: boolean;
  readonly spawnfile: string;
  readonly spawnargs: string[];
  stdin: Writable | null;
  stdout: Readable | null;
  stderr: Readable | null;
  readonly stdio: Array<Socket | null>;
  /** Present only on a child with an IPC channel, as in Node. */
  send(message: Serializable, callback?: (error: Error | null) => void): boolean;
  send(message: Serializable, sendHandle?: SendHandle, callback?: (error: Error | null) => void): boolean;
  send(message: Serializable, sendHandle?: SendHandle, options?: MessageOptions, callback?: (error: Error | null) => void): boolean;
  disconnect(): void;
  kill(signal?: NodeJS.Signals | number): boolean;
  ref(): void;
  unref(): void;

  on(event: 'spawn', listener: () => void): this;
  on(event: 'message', listener: (message: Serializable, sendHandle: SendHandle | undefined) => void): this;
  on(event: 'disconnect', listener: () => void): this;
  on(event: 'exit', listener: (code: number | null, signal: NodeJS.Signals | null) => void): this;
  on(event: 'close', listener: (code: number | null, signal: NodeJS.Signals | null) => void): this;
  on(event: 'error', listener: (err: Error & { code?: string }) => void): this;
  on(event: string | symbol, listener: (...args: any[]) => void): this;
  once(event: 'spawn', listener: () => void): this;
  once(event: 'message', listener: (message: Serializable, sendHandle: SendHandle | undefined) => void): this;
  once(event: 'disconnect', listener: () => void): this;
  once(event: 'exit', listener: (code: number | null, signal: NodeJS.Signals | null) => void): this;
  once(event: 'close', listener: (code: number | null, signal: NodeJS.Signals | null) => void): this;
  once(event: 'error', listener: (err: Error & { code?: string }) => void): this;
  once(event: string | symbol, listener: (...args: any[]) => void): this;
}

export function fork(modulePath: string | URL, options?: ForkOptions): ChildProcess;
export function fork(modulePath: string | URL, args?: readonly string[], options?: ForkOptions): ChildProcess;

export function spawn(command: string, options?: SpawnOptions): ChildProcess;
export function spawn(command: string, args?: readonly string[], options?: SpawnOptions): ChildProcess;

export function exec(command: string, callback?: ExecCallback): ChildProcess;
export function exec(command: string, options?: ExecOptions, callback?: ExecCallback): ChildProcess;
export namespace exec {
  function __promisify__(
    command: string,
    options?: ExecOptions,
  ): Promise<{ stdout: Output; stderr: Output }> & { child: ChildProcess };
}

export function execFile(file: string, callback?: ExecCallback): ChildProcess;
export function execFile(file: string, args?: readonly string[] | null, callback?: ExecCallback): ChildProcess;
export function execFile(file: string, options?: ExecFileOptions, callback?: ExecCallback): ChildProcess;
export function execFile(
  file: string,
  args?: readonly string[] | null,
  options?: ExecFileOptions,
  callback?: ExecCallback,
): ChildProcess;
export namespace execFile {
  function __promisify__(
    file: string,
    args?: readonly string[] | null,
    options?: ExecFileOptions,
  ): Promise<{ stdout: Output; stderr: Output }> & { child: ChildProcess };
}

export function spawnSync(command: string, options?: SpawnSyncOptions): SpawnSyncReturns<Output>;
export function spawnSync(
  command: string,
  args?: readonly string[],
  options?: SpawnSyncOptions,
): SpawnSyncReturns<Output>;
export function execSync(command: string, options?: ExecSyncOptions): Output;
export function execFileSync(file: string, options?: SpawnSyncOptions): Output;
export function execFileSync(file: string, args?: readonly string[], options?: SpawnSyncOptions): Output;
