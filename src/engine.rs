//! The process's engine: one I/O thread running a `Reactor` over the engine's sources, the
//! tables of the channels, children and groups JS holds, and the queues of events for JS.
//!
//! Every JS environment (the main thread, each worker thread) that loads the addon is an
//! `Env` with its own queue and wake-up; each child, channel and group belongs to the env that
//! made it, and its events go there. JS hands work over as commands (waking the thread through
//! the reactor's waker) and receives events through its queue. The thread wakes an env only
//! when its queue goes from empty to non-empty, and JS drains it in one call, so a burst of
//! messages costs one crossing, not one each.

use std::collections::HashMap;
use std::io;
use std::os::fd::{OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use crate::channel::outbox::AckId;
use crate::channel::source::ChannelSource;
use crate::channel::{Channel, HandleHook, OutgoingHandle, Pace, ReadEffects, ReadOutcome, ReadOwner, WriteResult};
use crate::child::{Child, ExitWatcher};
use crate::cluster::round_robin::{GroupCounters, RoundRobin};
use crate::event::{append, Event, ExitStatus};
use crate::guard::Guard;
use crate::orphans::OrphanReaper;
use crate::protocol::cluster::Reply;
use crate::reactor::{Command, Handle, Reactor, Report, Source, Token};
use crate::sync::lock;

/// What the engine's sources are told, by JS or by each other.
pub enum Msg {
    /// A channel's queue became non-empty: write what the socket takes, watch for the rest.
    Flush,
    /// JS disconnected a channel: close it once flushed.
    Close,
    /// Read all a channel has now (its child exited: its last messages come before 'exit').
    Drain,
    /// The child exited; reported once its channel has drained.
    Exited(ExitStatus),
    /// Tell this token when the channel closes or a handle it sent is settled.
    Watch(Token),
    /// Send a frame carrying `fd` on a channel; the fd comes back to `hook.token` as
    /// `HandleReturned` once the peer has answered, and the peer's internal reply naming
    /// `hook.key` comes as `Reply`.
    SendHandle { frame: Vec<u8>, fd: OwnedFd, hook: HandleHook },
    /// A handle sent with a hook, back with its sender: `acked` when the peer took it.
    HandleReturned { chan: u32, key: u64, fd: OwnedFd, acked: bool },
    /// The peer's internal reply to the message sent with `key`.
    Reply { chan: u32, reply: Reply },
    /// A handle sent without a hook (JS's) was answered: the channel may take another.
    HandleSettled { chan: u32 },
    /// The channel closed; what was sent on it and not answered for will never be.
    ChannelClosed { chan: u32 },
    /// A worker's channel joins a round-robin group.
    Join(Arc<Channel>),
    /// A worker leaves a group.
    Leave { chan: u32 },
    /// The last worker left: close the listener and every connection not handed out.
    Stop,
    /// Accept no more (another process, the primary upgraded to, accepts on the same socket):
    /// what was accepted is still handed out.
    Quiesce,
    /// The env that owns a channel is gone: close it now, dropping what is queued.
    CloseNow,
    /// JS took what was read from a channel, or a reply is awaited on it: read again.
    Resume,
    /// Send the supervisor's ping `seq` on a channel; its pong goes to `token` as `Pong`.
    Ping { seq: u64, token: Token },
    /// The peer answered ping `seq`.
    Pong { seq: u64 },
    /// Round-robin may (or may not) hand the channel's peer connections.
    Routable(bool),
    /// JS no longer needs a guard.
    StopGuard,
    /// The JS thread stopped reading a channel: the I/O thread reads it from here on.
    TakeOver,
    /// A source no longer watches a channel, nor expects the replies it asked for on it.
    Unwatch(Token),
}

/// The engine's tokens: an object's id and its kind in the low `KIND_BITS` bits (a child and
/// its channel share an id).
const KIND_BITS: u32 = 3;
const fn token(id: u32, kind: u64) -> Token {
    ((id as u64) << KIND_BITS) | kind
}
pub fn channel_token(id: u32) -> Token {
    token(id, 0)
}
pub fn child_token(id: u32) -> Token {
    token(id, 1)
}
pub fn group_token(id: u32) -> Token {
    token(id, 2)
}
/// A worker's stdout or stderr pump (src/logs).
pub fn log_token(id: u32) -> Token {
    token(id, 3)
}
/// A supervisor's guard of one worker (src/guard).
pub fn guard_token(id: u32) -> Token {
    token(id, 4)
}
/// The subreaper's orphan reaper (src/orphans).
pub fn reaper_token(id: u32) -> Token {
    token(id, 5)
}
pub fn token_id(token: Token) -> u32 {
    (token >> KIND_BITS) as u32
}

type Notify = Box<dyn Fn() + Send + Sync>;

/// What a read on the JS thread did.
pub struct JsRead {
    /// Events were queued for JS.
    pub delivered: bool,
    /// The JS thread still reads the channel.
    pub keep: bool,
}

/// A JS environment: the main thread or a worker thread.
pub type EnvId = u32;

/// An env's queue of events and how it is woken.
struct Env {
    events: Mutex<Vec<Event>>,
    notify: Notify,
}

pub struct Engine {
    reactor: Arc<Handle<Msg>>,
    envs: Mutex<HashMap<EnvId, Arc<Env>>>,
    /// The env each child, channel and group id belongs to.
    owners: Mutex<HashMap<u32, EnvId>>,
    next_id: AtomicU32,
    channels: Mutex<HashMap<u32, Arc<Channel>>>,
    /// Children JS holds (`NativeChild`), from their spawn until JS lets them go.
    children: Mutex<HashMap<u32, Arc<Child>>>,
    /// Round-robin groups' counters, by group id.
    groups: Mutex<HashMap<u32, Arc<GroupCounters>>>,
    /// The orphan reaper runs (this process is a child subreaper).
    reaping: AtomicBool,
}

static TRACE: AtomicBool = AtomicBool::new(false);

/// Whether JS asked for trace records (`NODE_DEBUG=native-cluster`).
pub fn tracing() -> bool {
    TRACE.load(Ordering::Relaxed)
}

pub fn set_tracing(on: bool) {
    TRACE.store(on, Ordering::Relaxed);
}

static ENGINE: OnceLock<&'static Engine> = OnceLock::new();
static START: Mutex<()> = Mutex::new(());

/// The process's engine, started on first use.
pub fn engine() -> io::Result<&'static Engine> {
    if let Some(e) = ENGINE.get() {
        return Ok(e);
    }
    let _starting = lock(&START);
    if let Some(e) = ENGINE.get() {
        return Ok(e);
    }
    let reactor = Reactor::new()?;
    let engine: &'static Engine = Box::leak(Box::new(Engine {
        reactor: reactor.handle(),
        envs: Mutex::new(HashMap::new()),
        owners: Mutex::new(HashMap::new()),
        next_id: AtomicU32::new(1),
        channels: Mutex::new(HashMap::new()),
        children: Mutex::new(HashMap::new()),
        groups: Mutex::new(HashMap::new()),
        reaping: AtomicBool::new(false),
    }));
    std::thread::Builder::new().name("native-cluster-io".into()).spawn(move || reactor.run(engine))?;
    // Cannot be set already: setting happens only here, under START.
    let _ = ENGINE.set(engine);
    Ok(engine)
}

impl Engine {
    /// A JS environment loaded the addon: `notify` wakes it when events are waiting.
    pub fn add_env(&self, notify: Notify) -> EnvId {
        let id = self.next_id();
        lock(&self.envs).insert(id, Arc::new(Env { events: Mutex::new(Vec::new()), notify }));
        id
    }

    /// A JS environment is going away (its thread exits): its channels close now and its
    /// groups stop; its children keep running, as Node's do, and their exits are reaped and
    /// told to nobody.
    pub fn remove_env(&self, env: EnvId) {
        lock(&self.envs).remove(&env);
        let ids: Vec<u32> = lock(&self.owners).iter().filter(|(_, &e)| e == env).map(|(&id, _)| id).collect();
        for id in ids {
            if let Some(chan) = self.channel(id) {
                chan.request_close();
                self.post(channel_token(id), Msg::CloseNow);
            }
            if lock(&self.groups).contains_key(&id) {
                self.post(group_token(id), Msg::Stop);
            }
        }
    }

    pub fn next_id(&self) -> u32 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    pub fn post(&self, to: Token, msg: Msg) {
        self.reactor.submit(Command::Post(to, msg));
    }

    pub fn add_child(&self, env: EnvId, child: Arc<Child>, chan: Option<Arc<Channel>>) {
        let id = child.id;
        lock(&self.owners).insert(id, env);
        lock(&self.children).insert(id, child.clone());
        let add_channel = chan.map(|chan| {
            lock(&self.channels).insert(id, chan.clone());
            Command::Add(channel_token(id), Box::new(ChannelSource::new(chan)))
        });
        let has_channel = add_channel.is_some();
        let watcher = Command::Add(child_token(id), Box::new(ExitWatcher::new(child, has_channel)));
        self.reactor.submit_all(add_channel.into_iter().chain([watcher]));
    }

    /// JS thread: the events of `id` (an object of the engine's that is none of its tables',
    /// such as a log sink) go to `env`.
    pub fn own(&self, id: u32, env: EnvId) {
        lock(&self.owners).insert(id, env);
    }

    /// Adds a source of its own kind (one that needs none of the engine's tables).
    pub fn add_source(&self, token: Token, source: Box<dyn Source<Msg>>) {
        self.reactor.submit(Command::Add(token, source));
    }

    /// JS thread: makes this process a child subreaper whose orphans the engine reaps (once).
    pub fn reap_orphans(&self) -> io::Result<()> {
        // SAFETY: prctl with an integer argument; no memory is passed.
        if unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1 as libc::c_ulong) } < 0 {
            return Err(io::Error::last_os_error());
        }
        if !self.reaping.swap(true, Ordering::Relaxed) {
            let id = self.next_id();
            self.reactor.submit(Command::Add(reaper_token(id), Box::new(OrphanReaper::default())));
        }
        Ok(())
    }

    pub fn channel(&self, id: u32) -> Option<Arc<Channel>> {
        lock(&self.channels).get(&id).cloned()
    }

    /// I/O thread: a channel closed; JS can no longer reach it.
    pub(crate) fn forget_channel(&self, id: u32) {
        lock(&self.channels).remove(&id);
    }
    pub(crate) fn forget_group(&self, id: u32) {
        lock(&self.groups).remove(&id);
    }

    /// JS thread: JS let a child's object go (it was collected, or its env is gone). The
    /// process is untouched: its exit watcher holds the child on its own, reaps it and reports
    /// its exit (to nobody, if the env is gone).
    pub fn release_child(&self, id: u32) {
        lock(&self.children).remove(&id);
        self.forget_owners(vec![id]);
    }

    /// Every child JS holds, for `engineStats()`.
    pub fn children(&self) -> Vec<Arc<Child>> {
        let mut children: Vec<_> = lock(&self.children).values().cloned().collect();
        children.sort_by_key(|c| c.id);
        children
    }

    /// Every open channel, for `engineStats()`.
    pub fn channels(&self) -> Vec<Arc<Channel>> {
        let mut channels: Vec<_> = lock(&self.channels).values().cloned().collect();
        channels.sort_by_key(|c| c.id);
        channels
    }

    /// Every round-robin group's counters by id, for `engineStats()`.
    pub fn groups(&self) -> Vec<(u32, Arc<GroupCounters>)> {
        let mut groups: Vec<_> = lock(&self.groups).iter().map(|(&id, g)| (id, g.clone())).collect();
        groups.sort_by_key(|(id, _)| *id);
        groups
    }

    /// JS thread: write `frames` frames. Errors carry the errno.
    pub fn write(
        &self,
        id: u32,
        data: &[u8],
        frames: u32,
        handle: Option<OutgoingHandle>,
        ack: AckId,
    ) -> io::Result<usize> {
        let chan = self.channel(id).ok_or_else(|| io::Error::from_raw_os_error(libc::EPIPE))?;
        let has_handle = handle.is_some();
        // The handle's ACK must be read even while JS is blocked: the I/O thread reads. Taken
        // once the handle is in flight: taken before, the I/O thread (reading with no handle
        // in flight yet) could hand reading back to JS in between, and nothing would take it
        // again.
        let written = chan.write(data, frames, handle, ack);
        let take_over = has_handle && chan.reading_to_io(false);
        if take_over {
            self.post(channel_token(id), Msg::TakeOver);
        }
        let written = written?;
        // The handle's ACK must be read even while JS is behind.
        if has_handle && chan.resume_for_reply() {
            self.post(channel_token(id), Msg::Resume);
        }
        match written {
            WriteResult::Queued(n) => Ok(n),
            // Not written yet; JS learns when from the ack.
            WriteResult::Held => Ok(data.len().max(1)),
            WriteResult::NeedsFlush(n) => {
                self.post(channel_token(id), Msg::Flush);
                Ok(n)
            }
        }
    }

    /// JS thread: a cluster round-robin group serving its listener; returns its id.
    pub fn round_robin_start(&self, env: EnvId, group: RoundRobin) -> u32 {
        let id = self.next_id();
        lock(&self.owners).insert(id, env);
        lock(&self.groups).insert(id, group.counters());
        self.reactor.submit(Command::Add(group_token(id), Box::new(group)));
        id
    }

    /// JS thread: guards the worker on channel `chan` (pid `pid`); returns the guard's id, whose
    /// events go to `env`. `None` if the channel is closed.
    pub fn guard_start(
        &self,
        env: EnvId,
        chan: u32,
        pid: i32,
        tick: Duration,
        hang_timeout: Option<Duration>,
        sample_memory: bool,
    ) -> Option<u32> {
        let chan = self.channel(chan)?;
        // Its pongs must be read while JS is blocked (a busy primary makes no worker hung).
        if chan.reading_to_io(true) {
            self.post(channel_token(chan.id), Msg::TakeOver);
        }
        let id = self.next_id();
        lock(&self.owners).insert(id, env);
        let guard = Guard::new(id, chan, pid, tick, hang_timeout, sample_memory);
        self.reactor.submit(Command::Add(guard_token(id), Box::new(guard)));
        Some(id)
    }

    /// JS thread: a worker (by its channel id) joins a group.
    pub fn round_robin_add(&self, id: u32, chan: u32) {
        if let Some(chan) = self.channel(chan) {
            // Its replies must be read while JS is blocked.
            if chan.reading_to_io(true) {
                self.post(channel_token(chan.id), Msg::TakeOver);
            }
            self.post(group_token(id), Msg::Join(chan));
        }
    }

    pub fn close(&self, id: u32) {
        if let Some(chan) = self.channel(id) {
            chan.request_close();
            // What the peer sends until the close goes on being read (its ACKs among it).
            if chan.reading_to_io(false) {
                self.post(channel_token(id), Msg::TakeOver);
            }
            self.post(channel_token(id), Msg::Close);
        }
    }

    /// JS thread, its loop found `chan` readable while the JS thread reads it: reads it there
    /// from `fd` (its duplicate of the socket) and queues what it read for `env`, in order
    /// with everything read before. A flood, JS falling behind, or the end hands reading to
    /// the I/O thread.
    pub fn read_on_js(&self, env: EnvId, chan: &Channel, fd: RawFd) -> JsRead {
        let mut side = chan.read_side();
        if side.owner != ReadOwner::Js {
            return JsRead { delivered: false, keep: false };
        }
        let room = chan.read_room(false);
        let mut events = Vec::new();
        let mut effects = ReadEffects::default();
        let to_io = room == 0
            || side.reader.pace(chan) == Pace::Flood
            || !matches!(side.reader.read(chan, fd, room, &mut events, &mut effects), ReadOutcome::Drained)
            || chan.read_for_js(effects.for_js, false);
        if to_io {
            side.owner = ReadOwner::Io;
        }
        let delivered = !events.is_empty();
        if delivered {
            match lock(&self.envs).get(&env).cloned() {
                Some(env) => append(&mut lock(&env.events), events),
                None => self.delivered(&events),
            }
        }
        drop(side);
        // No handle of ours is in flight while JS reads (sending one hands reading over), so
        // a settle here is a stray ACK, already reported as a bad frame.
        for (to, msg) in effects.posts {
            self.post(to, msg);
        }
        if effects.needs_flush {
            self.post(channel_token(chan.id), Msg::Flush);
        }
        if to_io {
            self.post(channel_token(chan.id), Msg::TakeOver);
        }
        JsRead { delivered, keep: !to_io }
    }

    /// JS thread: take every event queued for its env.
    pub fn drain(&self, env: EnvId) -> Vec<Event> {
        let Some(env) = lock(&self.envs).get(&env).cloned() else { return Vec::new() };
        let events = std::mem::take(&mut *lock(&env.events));
        self.delivered(&events);
        events
    }

    /// What was read for JS left the engine (taken by JS, or dropped with its env): channels
    /// paused for want of that read again.
    fn delivered(&self, events: &[Event]) {
        let mut counted: Option<(u32, usize)> = None;
        let settle = |counted: Option<(u32, usize)>| {
            let Some((id, bytes)) = counted else { return };
            if self.channel(id).is_some_and(|chan| chan.delivered(bytes)) {
                self.post(channel_token(id), Msg::Resume);
            }
        };
        for e in events {
            let bytes = e.bytes_for_js();
            if bytes == 0 {
                continue;
            }
            match &mut counted {
                Some((id, sum)) if *id == e.id() => *sum += bytes,
                _ => settle(counted.replace((e.id(), bytes))),
            }
        }
        settle(counted);
    }

    /// Queues `batch` for `env`, waking it if its queue was empty.
    fn deliver(env: &Env, batch: Vec<Event>) {
        let was_empty = {
            let mut q = lock(&env.events);
            let was_empty = q.is_empty();
            append(&mut q, batch);
            was_empty
        };
        if was_empty {
            (env.notify)();
        }
    }

    /// Forgets the owner of ids that are gone from every table, once their last event is out.
    fn forget_owners(&self, ids: Vec<u32>) {
        let (channels, children, groups) = (lock(&self.channels), lock(&self.children), lock(&self.groups));
        let gone: Vec<u32> = ids
            .into_iter()
            .filter(|id| !channels.contains_key(id) && !children.contains_key(id) && !groups.contains_key(id))
            .collect();
        drop((channels, children, groups));
        let mut owners = lock(&self.owners);
        for id in gone {
            owners.remove(&id);
        }
    }
}

impl Report for Engine {
    fn publish(&self, batch: Vec<Event>) {
        let last: Vec<u32> = batch.iter().filter(|e| e.is_last()).map(Event::id).collect();
        let routed = {
            let owners = lock(&self.owners);
            let envs = lock(&self.envs);
            let env_of = |e: &Event| owners.get(&e.id()).and_then(|env| envs.get(env)).cloned();
            let first = env_of(&batch[0]);
            // The usual case: everything goes to one env (a single-threaded program).
            if batch.iter().all(|e| env_of(e).map(|x| Arc::as_ptr(&x)) == first.as_ref().map(Arc::as_ptr)) {
                vec![(first, batch)]
            } else {
                let mut routed: Vec<(Option<Arc<Env>>, Vec<Event>)> = Vec::new();
                for e in batch {
                    let env = env_of(&e);
                    let key = env.as_ref().map(Arc::as_ptr);
                    match routed.iter_mut().find(|(x, _)| x.as_ref().map(Arc::as_ptr) == key) {
                        Some((_, events)) => events.push(e),
                        None => routed.push((env, vec![e])),
                    }
                }
                routed
            }
        };
        // Events of an env that is gone are dropped here (descriptors they carry close).
        for (env, events) in routed {
            match env {
                Some(env) => Engine::deliver(&env, events),
                None => self.delivered(&events),
            }
        }
        if !last.is_empty() {
            self.forget_owners(last);
        }
    }

    fn fatal(&self, what: &str) {
        let envs: Vec<Arc<Env>> = lock(&self.envs).values().cloned().collect();
        for env in envs {
            Engine::deliver(&env, vec![Event::Failed { id: 0, source: "engine", what: what.to_owned() }]);
        }
    }

    fn failed(&self, token: Token, what: &str, events: &mut Vec<Event>) {
        let id = token_id(token);
        let source = if token == channel_token(id) {
            self.forget_channel(id);
            "channel"
        } else if token == child_token(id) {
            // The child is no longer watched; its entry stays with JS's object.
            "child"
        } else if token == group_token(id) {
            self.forget_group(id);
            "group"
        } else if token == log_token(id) {
            "log"
        } else if token == reaper_token(id) {
            "reaper"
        } else {
            "guard"
        };
        events.push(Event::Failed { id, source, what: what.to_owned() });
    }
}
