// Types for native-cluster/supervisor.
/// <reference types="node" />
import { EventEmitter } from 'node:events';

export interface BackoffOptions {
  /** Delay of the second restart in a row (the first is immediate), doubling up to `max`. Default 100. */
  initial?: number;
  /** Default 15000. */
  max?: number;
  /** ± fraction of each delay. Default 0.2. */
  jitter?: number;
  /** Ready time after which the slot's backoff is forgotten. Default 30000. */
  reset?: number;
}

export interface SuperviseOptions {
  /** A count, 'max' (os.availableParallelism()), or -N (all but N). Default 1. */
  workers?: number | 'max';
  /** How connections are spread. One policy per process. Default 'rr'. */
  policy?: 'rr' | 'none' | 'reuseport';
  /** A worker is ready once it listens (on every address its predecessor did), or sends 'ready'. Default 'listening'. */
  ready?: 'listening' | 'message';
  /** A reload's replacement not ready by then aborts the reload. Default 3000. */
  reloadTimeout?: number;
  /** A leaving worker gets this long to finish, then SIGTERM. Default 10000. */
  drainTimeout?: number;
  /** From SIGTERM to SIGKILL. Default 2000. */
  killTimeout?: number;
  /** The CLI's upgrade (`native-cluster upgrade`, SIGUSR2): the new primary not ready by then is stopped and this one serves on. Default 30000. */
  upgradeTimeout?: number;
  backoff?: BackoffOptions;
  /** Deaths before ready, in a row, after which a slot gives up. Default 5. */
  giveUpAfter?: number;
  /** Restart workers that die. Default true. */
  autorestart?: boolean;
  /** Exit codes after which a worker is not restarted. Default []. */
  stopExitCodes?: number[];
  /** Replace a worker (as a reload does) after this many HTTP requests. Default 0 (off). */
  maxRequests?: number;
  /** Each worker's maxRequests gets a random 0..maxRequestsJitter more. Default 0. */
  maxRequestsJitter?: number;
  /** Replace a worker once it has been ready this many ms. Default 0 (off). */
  maxLifetime?: number;
  /** Bytes of RSS (the worker and its descendants) over which, in 3 samples in a row, a worker is replaced. Default 0 (off). */
  maxMemory?: number;
  /** A worker that answers no ping for this many ms is replaced and killed. Default 10000; 0 turns pinging off. */
  hangTimeout?: number;
  /** Capture a hung worker's JS stack through its inspector before killing it ('hang-stack' event). Default false. */
  hangStack?: boolean;
  /** How often workers are pinged and sampled, ms. Default 1000. */
  sampleInterval?: number;
  /** Workers' stdout/stderr: whole lines prefixed `[w<id> <pid>]`, JSON lines, or the primary's own. Default 'text'. */
  logFormat?: 'text' | 'json' | 'inherit';
  /** Workers' lines go to this file (appended to) instead of the primary's stdout/stderr. */
  logFile?: string | null;
  /** Rotate logFile before a line would take it past this many bytes; 0 = never. Default 10 MiB. */
  logMaxSize?: number;
  /** Old files kept by rotation (`logFile.1` … `logFile.N`). Default 5. */
  logKeep?: number;
  /** Make this process a child subreaper that reaps the orphans its workers leave (the CLI does). Default false. */
  subreaper?: boolean;
  /** Each worker in a cgroup of its own where cgroup v2 is writable. Default true. */
  cgroups?: boolean;
  name?: string;
  args?: string[];
  nodeArgs?: string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

export interface Address {
  addressType: 4 | 6 | -1 | 'udp4' | 'udp6';
  address: string | null;
  port: number;
  fd?: number;
}

export type ExitKind = 'code' | 'signal' | 'died-before-ready' | 'drain-timeout' | 'oom-killed'
  | 'max-requests' | 'max-lifetime' | 'memory-limit' | 'hang-killed';

export type RecycleKind = 'max-requests' | 'max-lifetime' | 'memory-limit';

export interface RecycleEvent {
  slot: number;
  id: number;
  pid: number;
  kind: RecycleKind;
  /** `213 requests`, `ready for 60000 ms`, `rss 231 MB over 200 MB in 3 samples`. */
  reason: string;
}

export interface WorkerHungEvent {
  id: number;
  pid: number;
  slot: number;
  /** Since its last answer to a ping. */
  silentMs: number;
  /** Connections (descriptors) handed to it after its first unanswered ping; null if it never missed one before. */
  handedAfterMiss: number | null;
}

export interface StackFrame {
  functionName: string;
  url: string;
  line: number;
  column: number;
}

export interface WorkerReadyEvent {
  id: number;
  pid: number;
  slot: number;
  addresses: Address[];
  /** The id of the worker this one replaces in a reload. */
  replacing: number | null;
}

export interface WorkerExitEvent {
  id: number;
  pid: number;
  slot: number;
  code: number | null;
  signal: NodeJS.Signals | null;
  /** `code N`, `signal X (ours|external)`, `died before ready (…)`, `drain timeout (…)`, `oom-killed`. */
  reason: string;
  kind: ExitKind;
  /** We asked it to leave (reload, scale, stop). */
  requested: boolean;
  state: string;
}

export interface GaveUpEvent {
  /** null: the whole cluster (a port or unix socket path held by another process). */
  slot: number | null;
  reason: string;
  /** Every slot has given up. */
  all: boolean;
  port?: number;
  /** The unix socket path held by another process. */
  path?: string;
  holders?: { pid: number; command: string }[];
}

export interface ReloadAbortedEvent {
  slot: number;
  id: number;
  pid: number;
  reason: string;
}

export interface WorkerStats {
  id: number;
  slot: number;
  pid: number;
  state: 'starting' | 'ready' | 'draining' | 'standby';
  /** Milliseconds. */
  uptime: number;
  restarts: number;
  lastExit: string | null;
  /** Bytes, from /proc/<pid>/statm. */
  rss: number | null;
  /** Percent of one CPU since the previous stats() (or the worker's start). */
  cpu: number | null;
  addresses: string[];
  /** Not counted by the engine yet: null. */
  connections: number | null;
  /** Hand-offs sent and not yet ACKed (0 or 1). */
  awaitingAck: number;
  /** HTTP requests received, as of its last answer to a ping. */
  requests: number;
  /** Round trip of its last answered ping, ms. */
  pingRtt: number | null;
  /** Its last ping went unanswered: the engine routes it no new connection until it answers. */
  pingMissed: boolean;
  cpuSeconds: number | null;
  /** RSS of the worker and its descendants at the last memory sample (with maxMemory). */
  treeRss: number | null;
  /** Its IPC channel's counters (engineStats()). */
  channel: { bytesIn: number; bytesOut: number; framesIn: number; framesOut: number; fdsOut: number; queuedBytes: number };
}

export interface Stats {
  name: string;
  script: string;
  pid: number;
  policy: 'rr' | 'none' | 'reuseport';
  workers: number;
  ready: number;
  /** Of the ready slots' workers, those whose last ping was answered (all of them with pings off). */
  answering: number;
  reloading: boolean;
  stopping: boolean;
  gaveUp: string | null;
  slots: { slot: number; gaveUp: boolean; restarts: number; lastExit: string | null; restartPending: boolean }[];
  uptime: number;
  rss: number | null;
  addresses: string[];
  counters: {
    restarts: number;
    reloads: number;
    reloadsAborted: number;
    recycles: Partial<Record<RecycleKind, number>>;
    recyclesAborted: number;
    hangs: number;
    exits: Partial<Record<ExitKind, number>>;
  };
  lastHang: (WorkerHungEvent & { at: number }) | null;
  /** Workers' output pumped by the engine (null with logFormat 'inherit'): bytes written, dropped by failed writes (and how many), queued; file rotations. */
  logs: { written: number; dropped: number; errors: number; rotations: number; queued: number; stalled: boolean } | null;
  /** PID 1 / containers: a cgroup per worker (or why not), the subreaper and the orphans it reaped. */
  containers: {
    cgroups: boolean;
    cgroupNote: string | null;
    subreaper: boolean;
    subreaperError: string | null;
    orphansReaped: number;
  };
  /** The engine's round-robin listeners (engineStats().groups). */
  groups: import('../../index').GroupStats[];
  list: WorkerStats[];
}

export declare class Supervisor extends EventEmitter {
  constructor(script: string, options?: SuperviseOptions);
  readonly name: string;
  readonly options: Required<SuperviseOptions> & { script: string };
  /** Every slot has a ready worker (or gave up, with at least one ready). Rejects (ERR_GAVE_UP) when all gave up. */
  readonly ready: Promise<Stats>;
  /** Replaces the workers one at a time. Serialized; a call while one waits joins it. Rejects with ERR_RELOAD_ABORTED. */
  reload(): Promise<{ replaced: number; ms: number }>;
  scale(workers: number | 'max'): Promise<{ workers: number }>;
  stats(): Stats;
  /** stats() in the Prometheus text format. */
  metrics(): string;
  /** Opens logFile again (after logrotate moved it away; the CLI does it on SIGUSR1). */
  reopenLogs(): void;
  /** Writes the primary's own whole lines to its stdout, in order with the workers' lines (which the engine writes there). */
  writeStdout(text: string): void;
  /** Drains every worker; resolves once all have exited. */
  stop(): Promise<{ stopped: number; drainTimeouts: number }>;

  on(event: 'worker-ready', listener: (e: WorkerReadyEvent) => void): this;
  on(event: 'worker-exit', listener: (e: WorkerExitEvent) => void): this;
  on(event: 'gave-up', listener: (e: GaveUpEvent) => void): this;
  on(event: 'reload-aborted', listener: (e: ReloadAbortedEvent) => void): this;
  on(event: 'restart', listener: (e: { slot: number; delay: number; after: string; restarts: number }) => void): this;
  on(event: 'reload-start', listener: (e: { workers: number }) => void): this;
  on(event: 'reload-step', listener: (e: { slot: number; id: number; pid: number; replaced: number; replacedPid: number }) => void): this;
  on(event: 'reload-done', listener: (e: { replaced: number; ms: number }) => void): this;
  on(event: 'scale', listener: (e: { workers: number }) => void): this;
  on(event: 'stopping', listener: (e: { workers: number }) => void): this;
  on(event: 'stopped', listener: (e: { stopped: number; drainTimeouts: number }) => void): this;
  on(event: 'warning', listener: (err: Error) => void): this;
  /** The count of ready workers, or of those answering their pings, changed. */
  on(event: 'health', listener: (e: { ready: number; answering: number }) => void): this;
  on(event: 'recycle', listener: (e: RecycleEvent) => void): this;
  on(event: 'recycled', listener: (e: RecycleEvent & { replaced: number; replacedPid: number }) => void): this;
  on(event: 'recycle-aborted', listener: (e: { slot: number; id: number; pid: number; kind: RecycleKind; reason: string; replacing: number | null }) => void): this;
  on(event: 'worker-hung', listener: (e: WorkerHungEvent) => void): this;
  on(event: 'hang-stack', listener: (e: { id: number; pid: number; slot: number; frames: StackFrame[] | null; error?: string }) => void): this;
  on(event: string | symbol, listener: (...args: any[]) => void): this;
}

export declare function supervise(script: string, options?: SuperviseOptions): Supervisor;
