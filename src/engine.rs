//! The process's engine: one I/O thread running a `Reactor` over the engine's sources, the
//! tables through which JS reaches channels and children, and the queue of events for JS.
//!
//! JS hands work over as commands (waking the thread through the reactor's waker) and receives
//! events through one queue. The thread wakes JS only when that queue goes from empty to
//! non-empty, and JS drains it in one call, so a burst of messages costs one crossing, not one
//! each.

use std::collections::HashMap;
use std::io;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use crate::channel::outbox::AckId;
use crate::channel::source::ChannelSource;
use crate::channel::{Channel, Framing, HandleHook, OutgoingHandle, WriteResult};
use crate::child::{Child, ExitWatcher};
use crate::cluster::round_robin::{GroupCounters, RoundRobin};
use crate::event::{append, Event, ExitStatus};
use crate::protocol::cluster::Reply;
use crate::reactor::{Command, Handle, Reactor, Report, Token};
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
    HandleReturned { chan: u32, key: u32, fd: OwnedFd, acked: bool },
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
}

/// The engine's tokens: an object's id and its kind (a child and its channel share an id).
pub fn channel_token(id: u32) -> Token {
    u64::from(id) << 2
}
pub fn child_token(id: u32) -> Token {
    (u64::from(id) << 2) | 1
}
pub fn group_token(id: u32) -> Token {
    (u64::from(id) << 2) | 2
}
pub fn token_id(token: Token) -> u32 {
    (token >> 2) as u32
}

type Notify = Box<dyn Fn() + Send + Sync>;

pub struct Engine {
    reactor: Arc<Handle<Msg>>,
    events: Mutex<Vec<Event>>,
    notify: OnceLock<Notify>,
    next_id: AtomicU32,
    channels: Mutex<HashMap<u32, Arc<Channel>>>,
    children: Mutex<HashMap<u32, Arc<Child>>>,
    /// Round-robin groups' counters, by group id.
    groups: Mutex<HashMap<u32, Arc<GroupCounters>>>,
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
        events: Mutex::new(Vec::new()),
        notify: OnceLock::new(),
        next_id: AtomicU32::new(1),
        channels: Mutex::new(HashMap::new()),
        children: Mutex::new(HashMap::new()),
        groups: Mutex::new(HashMap::new()),
    }));
    std::thread::Builder::new().name("native-cluster-io".into()).spawn(move || reactor.run(engine))?;
    let _ = ENGINE.set(engine);
    Ok(engine)
}

impl Engine {
    /// Sets how JS is woken; the first caller wins.
    pub fn set_notify(&self, f: Notify) -> bool {
        self.notify.set(f).is_ok()
    }

    pub fn next_id(&self) -> u32 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    pub fn post(&self, to: Token, msg: Msg) {
        self.reactor.submit(Command::Post(to, msg));
    }

    pub fn add_child(&self, child: Arc<Child>, chan: Option<(Arc<Channel>, Framing)>) {
        let id = child.id;
        lock(&self.children).insert(id, child.clone());
        let add_channel = chan.map(|(chan, framing)| {
            lock(&self.channels).insert(id, chan.clone());
            Command::Add(channel_token(id), Box::new(ChannelSource::new(chan, framing)))
        });
        let has_channel = add_channel.is_some();
        let watcher = Command::Add(child_token(id), Box::new(ExitWatcher::new(child, has_channel)));
        self.reactor.submit_all(add_channel.into_iter().chain([watcher]));
    }

    pub fn channel(&self, id: u32) -> Option<Arc<Channel>> {
        lock(&self.channels).get(&id).cloned()
    }

    pub fn child(&self, id: u32) -> Option<Arc<Child>> {
        lock(&self.children).get(&id).cloned()
    }

    /// I/O thread: a channel closed, a child was reaped; JS can no longer reach them.
    pub(crate) fn forget_channel(&self, id: u32) {
        lock(&self.channels).remove(&id);
    }
    pub(crate) fn forget_child(&self, id: u32) {
        lock(&self.children).remove(&id);
    }
    pub(crate) fn forget_group(&self, id: u32) {
        lock(&self.groups).remove(&id);
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
        match chan.write(data, frames, handle, ack)? {
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
    pub fn round_robin_start(&self, group: RoundRobin) -> u32 {
        let id = self.next_id();
        lock(&self.groups).insert(id, group.counters());
        self.reactor.submit(Command::Add(group_token(id), Box::new(group)));
        id
    }

    /// JS thread: a worker (by its channel id) joins a group.
    pub fn round_robin_add(&self, id: u32, chan: u32) {
        if let Some(chan) = self.channel(chan) {
            self.post(group_token(id), Msg::Join(chan));
        }
    }

    pub fn close(&self, id: u32) {
        if let Some(chan) = self.channel(id) {
            chan.request_close();
            self.post(channel_token(id), Msg::Close);
        }
    }

    /// JS thread: take every queued event.
    pub fn drain(&self) -> Vec<Event> {
        std::mem::take(&mut *lock(&self.events))
    }
}

impl Report for Engine {
    fn publish(&self, batch: Vec<Event>) {
        let was_empty = {
            let mut q = lock(&self.events);
            let was_empty = q.is_empty();
            append(&mut q, batch);
            was_empty
        };
        if was_empty {
            if let Some(notify) = self.notify.get() {
                notify();
            }
        }
    }

    fn failed(&self, token: Token, what: &str, events: &mut Vec<Event>) {
        let id = token_id(token);
        let source = if token == channel_token(id) {
            self.forget_channel(id);
            "channel"
        } else if token == child_token(id) {
            self.forget_child(id);
            "child"
        } else {
            self.forget_group(id);
            "group"
        };
        events.push(Event::Failed { id, source, what: what.to_owned() });
    }
}
