//! The napi surface: converts JS values and delegates to the engine. No logic lives here.

use std::ffi::CString;
use std::os::fd::{AsRawFd, IntoRawFd, OwnedFd};
use std::sync::Arc;

use napi::bindgen_prelude::Buffer;
use napi::threadsafe_function::{ErrorStrategy, ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::{Either, Env, JsFunction, JsUnknown};
use napi_derive::napi;

use crate::channel::{fds, Channel, Framing, OutgoingHandle, ReadOwner};
use crate::child::Child;
use crate::cluster::round_robin::{listen, listen_unix, RoundRobin};
use crate::engine::{engine, group_token, guard_token, EnvId, Msg};
use crate::event::{Event, ExitStatus, GuardReport, HandleFrame};
use crate::js_loop::JsLoop;
use crate::protocol::handle::HandleType;
use crate::spawn::{spawn as spawn_process, SpawnSpec, Stdio};
use crate::spawn_sync::{spawn_sync as run_sync, SyncLimits};
use std::time::Duration;

/// What the addon keeps per JS environment (the main thread, each worker thread), as napi
/// instance data: the engine's name for the env and the function that wakes its JS.
struct EnvState {
    id: EnvId,
    wake: ThreadsafeFunction<(), ErrorStrategy::Fatal>,
    /// Reads channels on this env's thread (`None`: the I/O thread reads them all).
    js_loop: Option<JsLoop>,
}

fn env_state(env: &Env) -> napi::Result<&'static mut EnvState> {
    env.get_instance_data::<EnvState>()?
        .ok_or_else(|| napi::Error::from_reason("native-cluster engine: init() was not called in this environment"))
}

/// The engine's one error convention: a thrown `Error` with a `code`, and for a failed system
/// call its `errno` (negative, as Node's) and `syscall`. lib/native.js turns it into Node's
/// error shapes, in one place.
fn engine_error(env: &Env, code: &str, errno: Option<i32>, syscall: Option<&str>) -> napi::Error {
    let build = || -> napi::Result<napi::Error> {
        let message = match syscall {
            Some(syscall) => format!("{syscall} {code}"),
            None => code.to_owned(),
        };
        let mut err = env.create_error(napi::Error::from_reason(message))?;
        err.set_named_property("code", env.create_string(code)?)?;
        if let Some(errno) = errno {
            err.set_named_property("errno", env.create_int32(-errno)?)?;
        }
        if let Some(syscall) = syscall {
            err.set_named_property("syscall", env.create_string(syscall)?)?;
        }
        Ok(napi::Error::from(err.into_unknown()))
    };
    build().unwrap_or_else(|e| e)
}

/// A failed system call, in the engine's convention.
pub(crate) fn sys_error(env: &Env, err: std::io::Error, syscall: &str) -> napi::Error {
    let errno = err.raw_os_error().unwrap_or(libc::EIO);
    // nix names errnos as libc does ("EPIPE").
    let code = format!("{:?}", nix::errno::Errno::from_raw(errno));
    engine_error(env, &code, Some(errno), Some(syscall))
}

/// Starts the engine; `callback` is called (with no arguments) whenever events are waiting.
#[napi]
pub fn init(mut env: Env, callback: JsFunction) -> napi::Result<()> {
    let engine = engine().map_err(|e| sys_error(&env, e, "engine"))?;
    let mut wake: ThreadsafeFunction<(), ErrorStrategy::Fatal> =
        callback.create_threadsafe_function(0, |_| Ok(Vec::<JsUnknown>::new()))?;
    // Only what JS refs keeps the event loop alive.
    wake.unref(&env)?;
    let for_engine = wake.clone();
    let id = engine.add_env(Box::new(move || {
        // Fails only once the env is closing, when nobody is left to wake.
        let _ = for_engine.call((), ThreadsafeFunctionCallMode::NonBlocking);
    }));
    let js_loop = JsLoop::new(&env, &callback, id)?;
    env.set_instance_data(EnvState { id, wake, js_loop }, (), |_| {})?;
    // The thread is exiting: its channels close, its children keep running.
    env.add_env_cleanup_hook(id, move |id| engine.remove_env(id))?;
    Ok(())
}

/// Whether the engine keeps this env's event loop alive (JS counts its ref'd children and
/// channels).
#[napi]
pub fn set_keep_alive(env: Env, alive: bool) -> napi::Result<()> {
    let state = env_state(&env)?;
    if alive {
        state.wake.refer(&env)?;
    } else {
        state.wake.unref(&env)?;
    }
    Ok(())
}

pub const EV_MESSAGES: u32 = 1;
pub const EV_INTERNAL: u32 = 2;
pub const EV_BAD_FRAME: u32 = 3;
pub const EV_WRITTEN: u32 = 4;
pub const EV_WRITE_FAILED: u32 = 5;
pub const EV_CLOSED: u32 = 6;
pub const EV_EXIT: u32 = 7;
pub const EV_FRAMES: u32 = 8;
pub const EV_HANDLE: u32 = 9;
pub const EV_HANDLE_LOST: u32 = 10;
pub const EV_FAILED: u32 = 11;
pub const EV_TRACE: u32 = 12;
pub const EV_SHED: u32 = 13;
pub const EV_GUARD: u32 = 14;
pub const EV_LOG_FAILED: u32 = 15;

/// A descriptor the engine hands to JS. It is closed when JS closes it or lets it be
/// collected, unless JS has given it to a Node object (`release`): the one place a received
/// descriptor is closed.
#[napi]
pub struct ReceivedFd {
    fd: Option<OwnedFd>,
}

#[napi]
impl ReceivedFd {
    /// The descriptor's number (-1 once released or closed).
    #[napi(getter)]
    pub fn raw(&self) -> i32 {
        self.fd.as_ref().map_or(-1, |fd| fd.as_raw_fd())
    }

    /// JS's object owns the descriptor from here on.
    #[napi]
    pub fn release(&mut self) -> i32 {
        self.fd.take().map_or(-1, IntoRawFd::into_raw_fd)
    }

    #[napi]
    pub fn close(&mut self) {
        self.fd = None;
    }
}

impl From<OwnedFd> for ReceivedFd {
    fn from(fd: OwnedFd) -> Self {
        ReceivedFd { fd: Some(fd) }
    }
}

/// One engine event. `kind` says which fields are set; each field has one meaning.
#[napi(object, object_from_js = false)]
pub struct EngineEvent {
    pub kind: u32,
    pub id: u32,
    /// Messages: a JSON array text; internal and JSON handle frames: one JSON message;
    /// failed: what failed.
    pub text: Option<String>,
    /// Frames: advanced-mode frames back to back, each with its length header; advanced
    /// handle frames: that frame.
    pub data: Option<Buffer>,
    /// Bad frame: the error code and what was wrong.
    pub code: Option<String>,
    pub reason: Option<String>,
    /// Written: every frame up to this ack id has left.
    pub ack: Option<i64>,
    /// Write failed: Node's (negative) errno.
    pub errno: Option<i32>,
    /// Exit: the exit code or the signal number (neither when the status was lost).
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    /// Handle: the received descriptor and what kind of socket it is.
    pub fd: Option<ReceivedFd>,
    pub fd_kind: Option<String>,
    /// Failed: which of the id's engine objects (`channel`, `child`, `group`, `log`, `guard`,
    /// `reaper`).
    pub source: Option<String>,
    /// Guard: `missed`, `answered`, `hung` or `rss`.
    pub report: Option<String>,
    /// Guard: hung, ms without an answer; answered, the round trip in ms; rss, the bytes.
    pub value: Option<f64>,
    /// Guard: hung, descriptors sent to the worker since it first missed a ping.
    pub handed: Option<f64>,
}

impl From<Event> for EngineEvent {
    fn from(e: Event) -> Self {
        let base = |kind, id| EngineEvent {
            kind,
            id,
            text: None,
            data: None,
            code: None,
            reason: None,
            ack: None,
            errno: None,
            exit_code: None,
            signal: None,
            fd: None,
            fd_kind: None,
            source: None,
            report: None,
            value: None,
            handed: None,
        };
        match e {
            Event::Messages { id, mut batch, .. } => {
                batch.push(b']');
                // SAFETY: every frame was checked to be UTF-8 and the separators are ASCII.
                EngineEvent { text: Some(unsafe { String::from_utf8_unchecked(batch) }), ..base(EV_MESSAGES, id) }
            }
            Event::Frames { id, batch } => EngineEvent { data: Some(batch.into()), ..base(EV_FRAMES, id) },
            Event::Internal { id, json } => EngineEvent { text: Some(json), ..base(EV_INTERNAL, id) },
            Event::Handle { id, frame, fd, kind } => {
                let (text, data) = match frame {
                    HandleFrame::Json(text) => (Some(text), None),
                    HandleFrame::V8(frame) => (None, Some(frame.into())),
                };
                let (fd, fd_kind) = (Some(fd.into()), Some(kind.name().into()));
                EngineEvent { text, data, fd, fd_kind, ..base(EV_HANDLE, id) }
            }
            Event::HandleLost { id } => base(EV_HANDLE_LOST, id),
            Event::BadFrame { id, code, reason } => {
                EngineEvent { code: Some(code.into()), reason: Some(reason.into()), ..base(EV_BAD_FRAME, id) }
            }
            // JS numbers are exact to 2^53: ack ids, counted from 1, never get there.
            Event::Written { id, ack } => EngineEvent { ack: Some(ack as i64), ..base(EV_WRITTEN, id) },
            Event::WriteFailed { id, errno } => EngineEvent { errno: Some(-errno), ..base(EV_WRITE_FAILED, id) },
            Event::Closed { id } => base(EV_CLOSED, id),
            Event::Exit { id, status } => {
                let (exit_code, signal) = match status {
                    ExitStatus::Code(c) => (Some(c), None),
                    ExitStatus::Signal(s) => (None, Some(s)),
                    ExitStatus::Unknown => (None, None),
                };
                EngineEvent { exit_code, signal, ..base(EV_EXIT, id) }
            }
            Event::Trace { id, text } => EngineEvent { text: Some(text), ..base(EV_TRACE, id) },
            Event::Shed { id } => base(EV_SHED, id),
            Event::Guard { id, report } => match report {
                GuardReport::Missed => EngineEvent { report: Some("missed".into()), ..base(EV_GUARD, id) },
                GuardReport::Hung { silent_ms, handed_after_miss } => EngineEvent {
                    report: Some("hung".into()),
                    value: Some(silent_ms as f64),
                    handed: Some(handed_after_miss as f64),
                    ..base(EV_GUARD, id)
                },
                GuardReport::Answered { rtt_us } => EngineEvent {
                    report: Some("answered".into()),
                    value: Some(rtt_us as f64 / 1000.0),
                    ..base(EV_GUARD, id)
                },
                GuardReport::Rss(bytes) => {
                    EngineEvent { report: Some("rss".into()), value: Some(bytes as f64), ..base(EV_GUARD, id) }
                }
            },
            Event::LogFailed { id, errno } => EngineEvent { errno: Some(-errno), ..base(EV_LOG_FAILED, id) },
            Event::Failed { id, source, what } => {
                EngineEvent { text: Some(what), source: Some(source.into()), ..base(EV_FAILED, id) }
            }
            // The addon takes these (`JsLoop::took`); one that got here is only worth a trace.
            Event::ReadByJs { id } => {
                EngineEvent { text: Some("reading moves to the JS thread".into()), ..base(EV_TRACE, id) }
            }
        }
    }
}

/// Every event queued for this env since the last call, in order.
#[napi]
pub fn drain(env: Env) -> napi::Result<Vec<EngineEvent>> {
    let state = env_state(&env)?;
    let mut events = engine().map_or_else(|_| Vec::new(), |e| e.drain(state.id));
    if let Some(js_loop) = &state.js_loop {
        js_loop.took(&mut events);
    }
    Ok(events.into_iter().map(EngineEvent::from).collect())
}

#[napi(object)]
pub struct SpawnOptions {
    pub file: String,
    /// argv, including argv[0].
    pub args: Vec<String>,
    /// `KEY=value` entries.
    pub env: Vec<String>,
    pub cwd: Option<String>,
    /// Per fd index: "ignore", "pipe", "ipc" or "fd" (then `stdio_fds[i]` is the parent fd).
    pub stdio: Vec<String>,
    pub stdio_fds: Vec<i32>,
    pub detached: bool,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    /// Signal number the child gets when the spawning thread exits (the supervisor's workers).
    pub death_signal: Option<i32>,
    /// Largest accepted incoming frame, bytes.
    pub max_frame_size: f64,
    /// The channel uses Node's `advanced` serialization (length-prefixed frames).
    pub advanced: Option<bool>,
}

#[napi(object, object_from_js = false)]
pub struct SpawnResult {
    pub child: NativeChild,
    /// The parent's end of each "pipe" index, for the JS streams that wrap them.
    pub fds: Vec<Option<ReceivedFd>>,
}

/// A spawned child as JS holds it: the engine's entry for it, released when JS lets this go.
/// The process is not: its exit watcher holds the child on its own, so it is reaped and its
/// exit reported whether or not JS still holds this (to nobody once its env is gone).
#[napi]
pub struct NativeChild {
    child: Arc<Child>,
}

#[napi]
impl NativeChild {
    /// The engine's id of the child and of its channel, which their events carry.
    #[napi(getter)]
    pub fn id(&self) -> u32 {
        self.child.id
    }

    #[napi(getter)]
    pub fn pid(&self) -> i32 {
        self.child.pid
    }

    /// Signals the child (any signal number, real-time ones too); throws `ESRCH` once it has
    /// been reaped.
    #[napi]
    pub fn kill(&self, env: Env, signal: i32) -> napi::Result<()> {
        self.child.kill(signal).map_err(|errno| sys_error(&env, std::io::Error::from_raw_os_error(errno), "kill"))
    }
}

impl Drop for NativeChild {
    fn drop(&mut self) {
        if let Ok(e) = engine() {
            e.release_child(self.child.id);
        }
    }
}

fn cstring(s: String) -> napi::Result<CString> {
    CString::new(s).map_err(|_| napi::Error::from_reason("native-cluster engine: string contains a NUL byte"))
}

fn spec_from(opts: SpawnOptions) -> napi::Result<SpawnSpec> {
    let stdio = opts
        .stdio
        .iter()
        .zip(opts.stdio_fds.iter().chain(std::iter::repeat(&-1)))
        .map(|(kind, &fd)| match kind.as_str() {
            "pipe" => Ok(Stdio::Pipe),
            "ipc" => Ok(Stdio::Ipc),
            "fd" => Ok(Stdio::Inherit(fd)),
            "ignore" => Ok(Stdio::Ignore),
            other => Err(napi::Error::from_reason(format!("native-cluster engine: unknown stdio kind {other}"))),
        })
        .collect::<napi::Result<Vec<_>>>()?;
    Ok(SpawnSpec {
        file: cstring(opts.file)?,
        argv: opts.args.into_iter().map(cstring).collect::<napi::Result<_>>()?,
        envp: opts.env.into_iter().map(cstring).collect::<napi::Result<_>>()?,
        cwd: opts.cwd.map(cstring).transpose()?,
        stdio,
        detached: opts.detached,
        uid: opts.uid,
        gid: opts.gid,
        death_signal: opts.death_signal,
    })
}

#[napi]
pub fn spawn(env: Env, opts: SpawnOptions) -> napi::Result<SpawnResult> {
    let engine = engine().map_err(|e| sys_error(&env, e, "spawn"))?;
    let framing = Framing::new(opts.advanced.unwrap_or(false), opts.max_frame_size as usize);
    let spec = spec_from(opts)?;
    let ipc_index = spec.stdio.iter().position(|s| matches!(s, Stdio::Ipc));
    let spawned = spawn_process(&spec).map_err(|e| sys_error(&env, e, "spawn"))?;
    let id = engine.next_id();
    let mut fds = Vec::with_capacity(spawned.ends.len());
    let mut channel_fd = None;
    for (i, end) in spawned.ends.into_iter().enumerate() {
        match end {
            Some(fd) if Some(i) == ipc_index => {
                channel_fd = Some(fd);
                fds.push(None);
            }
            Some(fd) => fds.push(Some(fd.into())),
            None => fds.push(None),
        }
    }
    let state = env_state(&env)?;
    let channel = channel_fd.map(|fd| Arc::new(Channel::new(id, fd, framing)));
    if let (Some(chan), Some(js_loop)) = (&channel, &state.js_loop) {
        js_loop.watch(chan);
    }
    let child = Arc::new(Child::new(id, spawned.pid));
    engine.add_child(state.id, child.clone(), channel);
    Ok(SpawnResult { child: NativeChild { child }, fds })
}

/// Queues one or more whole frames. Returns the bytes still queued (0: written now); throws
/// the engine's error for a closed channel.
#[napi]
pub fn channel_write(env: Env, id: u32, data: String, frames: u32, ack: i64) -> napi::Result<f64> {
    write_frames(&env, id, data.as_bytes(), frames, None, ack)
}

/// `channelWrite` for frames already in bytes (advanced mode).
#[napi]
pub fn channel_write_bytes(env: Env, id: u32, data: Buffer, frames: u32, ack: i64) -> napi::Result<f64> {
    write_frames(&env, id, &data, frames, None, ack)
}

/// Queues frames whose first is a `NODE_HANDLE` envelope of `handle_type` carrying `fd`.
/// The fd is duplicated here, on the calling thread, so JS may close its own at once; it is
/// refused (`ERR_INVALID_HANDLE_TYPE`) unless a Node peer can use it as that type.
#[napi]
pub fn channel_write_handle(
    env: Env,
    id: u32,
    data: Either<String, Buffer>,
    fd: i32,
    handle_type: String,
    retransmit: bool,
    ack: i64,
) -> napi::Result<f64> {
    let fd = fds::dup(fd).map_err(|e| sys_error(&env, e, "write"))?;
    let usable =
        HandleType::parse(&handle_type).is_some_and(|ty| fds::kind(fd.as_raw_fd()).is_some_and(|k| ty.accepts(k)));
    if !usable {
        return Err(engine_error(&env, "ERR_INVALID_HANDLE_TYPE", None, None));
    }
    let bytes: &[u8] = match &data {
        Either::A(s) => s.as_bytes(),
        Either::B(b) => b,
    };
    write_frames(&env, id, bytes, 1, Some(OutgoingHandle { fd: Arc::new(fd), retransmit, hook: None }), ack)
}

fn write_frames(
    env: &Env,
    id: u32,
    data: &[u8],
    frames: u32,
    handle: Option<OutgoingHandle>,
    ack: i64,
) -> napi::Result<f64> {
    let ack = u64::try_from(ack).unwrap_or(0);
    match engine().and_then(|e| e.write(id, data, frames, handle, ack)) {
        Ok(n) => Ok(n as f64),
        Err(e) => Err(sys_error(env, e, "write")),
    }
}

/// Bytes written to the channel and not yet taken by the socket (0 for a closed channel).
#[napi]
pub fn channel_pending(id: u32) -> f64 {
    engine().ok().and_then(|e| e.channel(id)).map_or(0.0, |c| c.pending() as f64)
}

/// Sends held behind a handle awaiting its ACK, or -1 when no handle is in flight (Node's
/// `send()` return value depends on it).
#[napi]
pub fn channel_held(id: u32) -> i32 {
    engine().ok().and_then(|e| e.channel(id)).and_then(|c| c.held()).map_or(-1, |n| n as i32)
}

/// Closes the channel once everything queued is written.
#[napi]
pub fn channel_close(id: u32) {
    if let Ok(e) = engine() {
        e.close(id);
    }
}

/// The next `NODE_CLUSTER` sequence number of this primary (shared with the engine's own
/// `newconn`s).
#[napi]
pub fn cluster_seq() -> f64 {
    // Exact: 2^53 connections are never reached.
    crate::cluster::next_seq() as f64
}

/// Starts round-robin distribution of the connections of a socket of this process (duplicated
/// here, and made to listen with `backlog`). Returns the group's id.
#[napi]
pub fn round_robin_start(env: Env, fd: i32, backlog: i32, key: String) -> napi::Result<u32> {
    let env_id = env_state(&env)?.id;
    let started = fds::dup(fd).and_then(|fd| {
        fds::set_nonblocking(fd.as_raw_fd())?;
        listen(&fd, backlog)?;
        Ok(engine()?.round_robin_start(env_id, RoundRobin::new(fd, key, None)))
    });
    started.map_err(|e| sys_error(&env, e, "listen"))
}

/// Round-robin on a unix socket path the engine binds and listens on itself (closing a JS
/// pipe server would remove the path). Returns the group's id.
#[napi]
pub fn round_robin_listen_unix(
    env: Env,
    path: String,
    backlog: i32,
    readable_all: bool,
    writable_all: bool,
    key: String,
) -> napi::Result<u32> {
    let env_id = env_state(&env)?.id;
    let started = listen_unix(&path, backlog, readable_all, writable_all)
        .and_then(|(fd, path)| Ok(engine()?.round_robin_start(env_id, RoundRobin::new(fd, key, Some(path)))));
    started.map_err(|e| sys_error(&env, e, "listen"))
}

/// A bound `SO_REUSEPORT` TCP socket for one worker (SCHED_REUSEPORT), for JS to own.
#[napi]
pub fn reuse_port_socket(env: Env, address: Option<String>, port: u32, ipv6_only: bool) -> napi::Result<ReceivedFd> {
    let port = u16::try_from(port).map_err(|_| std::io::Error::from_raw_os_error(libc::EINVAL));
    match port.and_then(|port| crate::cluster::reuseport::bind(address.as_deref(), port, ipv6_only)) {
        Ok(fd) => Ok(fd.into()),
        Err(e) => Err(sys_error(&env, e, "bind")),
    }
}

/// A worker (by its channel id) joins, or leaves, a round-robin group.
#[napi]
pub fn round_robin_add(id: u32, chan: u32) {
    if let Ok(e) = engine() {
        e.round_robin_add(id, chan);
    }
}

#[napi]
pub fn round_robin_remove(id: u32, chan: u32) {
    if let Ok(e) = engine() {
        e.post(group_token(id), Msg::Leave { chan });
    }
}

/// Closes the group's listener and the connections not handed out.
#[napi]
pub fn round_robin_close(id: u32) {
    if let Ok(e) = engine() {
        e.post(group_token(id), Msg::Stop);
    }
}

/// Guards a supervisor's worker from the engine's thread: a ping every `tick_ms` over its
/// channel (0 `hang_timeout_ms`: none) and, with `sample_memory`, the RSS of its process tree.
/// Returns the guard's id (its events carry it), or null if the channel is closed.
#[napi]
pub fn guard_start(
    env: Env,
    chan: u32,
    pid: i32,
    tick_ms: u32,
    hang_timeout_ms: u32,
    sample_memory: bool,
) -> napi::Result<Option<u32>> {
    let engine = engine().map_err(|e| sys_error(&env, e, "guard"))?;
    let tick = Duration::from_millis(u64::from(tick_ms.max(1)));
    let hang_timeout = (hang_timeout_ms > 0).then(|| Duration::from_millis(u64::from(hang_timeout_ms)));
    Ok(engine.guard_start(env_state(&env)?.id, chan, pid, tick, hang_timeout, sample_memory))
}

/// Stops a guard; its last event (closed) follows.
#[napi]
pub fn guard_stop(id: u32) {
    if let Ok(e) = engine() {
        e.post(guard_token(id), Msg::StopGuard);
    }
}

/// Makes this process a child subreaper (`PR_SET_CHILD_SUBREAPER`) whose orphans the engine
/// reaps, never taking the status of a child of its own or of one declared with `keepChild`.
#[napi]
pub fn reap_orphans(env: Env) -> napi::Result<()> {
    let engine = engine().map_err(|e| sys_error(&env, e, "prctl"))?;
    engine.reap_orphans().map_err(|e| sys_error(&env, e, "prctl"))
}

/// A child someone else reaps (libuv's): the orphan reaper leaves it alone until released.
#[napi]
pub fn keep_child(pid: i32, kept: bool) {
    if kept {
        crate::orphans::keep(pid);
    } else {
        crate::orphans::release(pid);
    }
}

/// Orphans reaped so far.
#[napi]
pub fn orphans_reaped() -> f64 {
    crate::orphans::REAPED.load(std::sync::atomic::Ordering::Relaxed) as f64
}

/// One channel's counters and state.
#[napi(object, object_from_js = false)]
pub struct ChannelStats {
    pub id: u32,
    pub bytes_in: f64,
    pub frames_in: f64,
    pub bytes_out: f64,
    pub frames_out: f64,
    /// Bytes written and not yet taken by the socket.
    pub queued_bytes: f64,
    pub handle_in_flight: bool,
    /// Sends held behind the handle in flight.
    pub held_sends: u32,
    pub fds_in: f64,
    pub fds_out: f64,
    /// Descriptors the channel holds: a handle in flight, received ones awaiting their frame.
    pub fds_held: f64,
    /// Not disconnected.
    pub open: bool,
    /// Bytes read from the child and not yet taken by JS.
    pub unread_bytes: f64,
    /// Reading is paused until JS takes more of them (read backpressure).
    pub read_paused: bool,
    /// Which thread reads the channel: `js` (its JS thread, while idle) or `io` (the engine's
    /// I/O thread, also while reading is handed back to JS).
    pub reader: String,
}

/// One round-robin group's counters.
#[napi(object, object_from_js = false)]
pub struct GroupStats {
    pub id: u32,
    pub workers: f64,
    pub pending: f64,
    pub awaiting_ack: f64,
    pub awaiting_reply: f64,
    pub dispatched: f64,
    pub shed: f64,
    /// Descriptors the group holds: its listener, its reserve and the connections here.
    pub fds_held: f64,
}

/// A child JS holds.
#[napi(object, object_from_js = false)]
pub struct ChildStats {
    pub id: u32,
    pub pid: i32,
    /// Reaped (its exit is reported, or on its way).
    pub exited: bool,
}

#[napi(object, object_from_js = false)]
pub struct EngineStats {
    pub channels: Vec<ChannelStats>,
    pub groups: Vec<GroupStats>,
    pub children: Vec<ChildStats>,
}

/// Every channel's and round-robin group's counters, and the children JS holds, in one call.
#[napi]
pub fn stats() -> EngineStats {
    let Ok(e) = engine() else {
        return EngineStats { channels: Vec::new(), groups: Vec::new(), children: Vec::new() };
    };
    let (channels, groups) = (e.channels(), e.groups());
    let n = |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed) as f64;
    let channels = channels
        .iter()
        .map(|c| {
            let s = c.snapshot();
            let k = &c.counters;
            ChannelStats {
                id: c.id,
                bytes_in: n(&k.bytes_in),
                frames_in: n(&k.frames_in),
                bytes_out: n(&k.bytes_out),
                frames_out: n(&k.frames_out),
                queued_bytes: s.queued as f64,
                handle_in_flight: s.handle_in_flight,
                held_sends: s.held as u32,
                fds_in: n(&k.fds_in),
                fds_out: n(&k.fds_out),
                fds_held: n(&k.fds_waiting) + f64::from(u8::from(s.handle_in_flight)),
                open: s.open,
                unread_bytes: s.unread as f64,
                read_paused: s.read_paused,
                reader: if s.reader == ReadOwner::Js { "js" } else { "io" }.into(),
            }
        })
        .collect();
    let groups = groups
        .iter()
        .map(|(id, g)| GroupStats {
            id: *id,
            workers: n(&g.workers),
            pending: n(&g.pending),
            awaiting_ack: n(&g.awaiting_ack),
            awaiting_reply: n(&g.awaiting_reply),
            dispatched: n(&g.dispatched),
            shed: n(&g.shed),
            fds_held: n(&g.fds_held),
        })
        .collect();
    let children = e.children().iter().map(|c| ChildStats { id: c.id, pid: c.pid, exited: c.reaped() }).collect();
    EngineStats { channels, groups, children }
}

/// Trace records for `NODE_DEBUG=native-cluster` on or off.
#[napi]
pub fn set_trace(on: bool) {
    crate::engine::set_tracing(on);
}

#[napi(object)]
pub struct SyncOptions {
    /// What the child reads on fd 0, if that is a pipe.
    pub input: Option<Buffer>,
    /// Milliseconds; 0 or absent: none.
    pub timeout: Option<f64>,
    pub kill_signal: i32,
    /// Bytes per output pipe; absent: unlimited.
    pub max_buffer: Option<f64>,
}

#[napi(object)]
pub struct SyncResult {
    pub pid: i32,
    /// 0, or a spawn errno, `ETIMEDOUT` or `ENOBUFS`.
    pub errno: i32,
    pub status: Option<i32>,
    pub signal: Option<i32>,
    /// Per stdio index: the collected bytes, or null.
    pub output: Vec<Option<Buffer>>,
}

/// Runs a child to completion, blocking this thread (spawnSync and friends).
#[napi]
pub fn spawn_sync(opts: SpawnOptions, sync: SyncOptions) -> napi::Result<SyncResult> {
    let spec = spec_from(opts)?;
    let limits = SyncLimits {
        input: sync.input.map(|b| b.to_vec()).unwrap_or_default(),
        timeout: sync.timeout.filter(|&t| t > 0.0).map(|t| Duration::from_secs_f64(t / 1000.0)),
        kill_signal: sync.kill_signal,
        max_buffer: sync.max_buffer.filter(|m| m.is_finite()).map(|m| m as usize),
    };
    let out = run_sync(&spec, &limits);
    let (status, signal) = match out.status {
        Some(ExitStatus::Code(c)) => (Some(c), None),
        Some(ExitStatus::Signal(s)) => (None, Some(s)),
        _ => (None, None),
    };
    Ok(SyncResult {
        pid: out.pid,
        errno: out.errno.unwrap_or(0),
        status,
        signal,
        output: out.output.into_iter().map(|o| o.map(Buffer::from)).collect(),
    })
}

#[napi(object)]
pub struct LogSinkOptions {
    /// Write to a duplicate of this descriptor (the primary's 1 or 2)…
    pub fd: Option<i32>,
    /// …or to this file, appended to, rotated past `max_size` bytes (0: never) keeping `keep`
    /// old files.
    pub path: Option<String>,
    pub max_size: Option<f64>,
    pub keep: Option<u32>,
    /// "text" or "json".
    pub format: String,
    /// For JSON lines.
    pub hostname: Option<String>,
}

/// Opens where workers' lines go; returns the sink's id, which its failures carry as events
/// (one per episode: the first failed write since one went well).
#[napi]
pub fn log_sink(env: Env, opts: LogSinkOptions) -> napi::Result<u32> {
    use crate::logs::{format::Format, sink::Target};
    let format = match opts.format.as_str() {
        "text" => Format::Text,
        "json" => Format::Json { hostname: opts.hostname.unwrap_or_default() },
        other => return Err(napi::Error::from_reason(format!("native-cluster engine: unknown log format {other}"))),
    };
    let (target, syscall) = match (opts.fd, opts.path) {
        (Some(fd), None) => (fds::dup(fd).map(Target::Fd), "dup"),
        (None, Some(path)) => {
            let (max_size, keep) = (opts.max_size.unwrap_or(0.0).max(0.0) as u64, opts.keep.unwrap_or(0));
            (Ok(Target::File { path: path.into(), max_size, keep }), "open")
        }
        _ => return Err(napi::Error::from_reason("native-cluster engine: a log sink wants one of fd and path")),
    };
    let env_id = env_state(&env)?.id;
    target.and_then(|t| crate::logs::open_sink(env_id, t, format)).map_err(|e| sys_error(&env, e, syscall))
}

/// A pipe for a worker's stdout or stderr: `[read end, write end]`, both close-on-exec (the
/// write end is given to the child as its fd 1 or 2).
#[napi]
pub fn log_pipe(env: Env) -> napi::Result<Vec<ReceivedFd>> {
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| sys_error(&env, e.into(), "pipe"))?;
    Ok(vec![r.into(), w.into()])
}

/// Pumps the read end `fd` (duplicated here) of worker `worker`'s (pid `pid`) `stream`
/// ("stdout" or "stderr") into sink `sink`, on the engine's thread, until the pipe's end.
#[napi]
pub fn log_pump(env: Env, sink: u32, fd: i32, worker: u32, pid: i32, stream: String) -> napi::Result<()> {
    use crate::logs::format::Stream;
    let stream = match stream.as_str() {
        "stdout" => Stream::Stdout,
        "stderr" => Stream::Stderr,
        other => return Err(napi::Error::from_reason(format!("native-cluster engine: unknown stream {other}"))),
    };
    fds::dup(fd)
        .and_then(|pipe| crate::logs::pump(sink, pipe, worker, pid, stream))
        .map_err(|e| sys_error(&env, e, "read"))
}

/// Reopens a file sink (logrotate moved the file away).
#[napi]
pub fn log_reopen(env: Env, sink: u32) -> napi::Result<()> {
    crate::logs::reopen(sink).map_err(|e| sys_error(&env, e, "open"))
}

/// Queues the primary's own lines on a sink, in order with the workers' (one writer: no line
/// torn by another).
#[napi]
pub fn log_write(env: Env, sink: u32, text: String) -> napi::Result<()> {
    crate::logs::write(sink, text.as_bytes()).map_err(|e| sys_error(&env, e, "write"))
}

/// Waits (blocking, at most `timeout_ms`) for everything queued on the sink to be written,
/// with `pumps` after its pumps have reached their pipes' end; whether that happened. For a
/// primary about to exit.
#[napi]
pub fn log_flush(env: Env, sink: u32, timeout_ms: u32, pumps: bool) -> napi::Result<bool> {
    crate::logs::flush(sink, Duration::from_millis(timeout_ms.into()), pumps).map_err(|e| sys_error(&env, e, "write"))
}

#[napi(object, object_from_js = false)]
pub struct LogStats {
    /// Bytes written out.
    pub written: f64,
    /// Bytes lost to failed writes (the sink's fd closed, the disk full), and how many writes.
    pub dropped: f64,
    pub errors: f64,
    pub rotations: f64,
    /// Bytes queued, not yet taken by the sink's writer.
    pub queued: f64,
    /// Pumps wait for room: workers may be blocked on their full pipes.
    pub stalled: bool,
}

/// Whether sink `sink` holds worker `worker` back: its pump waits for room, so the worker may
/// be blocked writing to its full pipe (and answering no ping).
#[napi]
pub fn log_holds_back(env: Env, sink: u32, worker: u32) -> napi::Result<bool> {
    crate::logs::holds_back(sink, worker).map_err(|e| sys_error(&env, e, "write"))
}

#[napi]
pub fn log_stats(env: Env, sink: u32) -> napi::Result<LogStats> {
    let s = crate::logs::stats(sink).map_err(|e| sys_error(&env, e, "write"))?;
    Ok(LogStats {
        written: s.written as f64,
        dropped: s.dropped as f64,
        errors: s.errors as f64,
        rotations: s.rotations as f64,
        queued: s.queued as f64,
        stalled: s.stalled,
    })
}
