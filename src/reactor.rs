//! The engine's one I/O thread: an epoll loop over every channel and child of the process.
//!
//! JS hands work over as commands (waking the thread through an eventfd) and receives events
//! through one queue. The thread wakes JS only when that queue goes from empty to non-empty,
//! and JS drains it in one call, so a burst of messages costs one crossing, not one each.

use std::collections::HashMap;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use crate::channel::{Channel, Framing, OutgoingHandle, ReadEffects, ReadOutcome, Reader, WriteResult};
use crate::child::Child;
use crate::cluster::newconn;
use crate::cluster::round_robin::RoundRobin;
use crate::event::{append, Event};

pub enum Command {
    AddChannel {
        chan: Arc<Channel>,
        framing: Framing,
    },
    AddChild(Arc<Child>),
    /// A channel's queue became non-empty: watch it for writability.
    Flush(u32),
    /// JS disconnected: close once flushed.
    Close(u32),
    /// A cluster round-robin group starts serving its listener.
    RoundRobinStart {
        id: u32,
        group: RoundRobin,
    },
    /// A worker's channel joins or leaves a group.
    RoundRobinAdd {
        id: u32,
        chan: u32,
    },
    RoundRobinRemove {
        id: u32,
        chan: u32,
    },
    /// The last worker left: close the listener and every connection not handed out.
    RoundRobinClose(u32),
}

type Notify = Box<dyn Fn() + Send + Sync>;

pub struct Engine {
    epoll: OwnedFd,
    waker: OwnedFd,
    commands: Mutex<Vec<Command>>,
    events: Mutex<Vec<Event>>,
    notify: OnceLock<Notify>,
    next_id: AtomicU32,
    channels: Mutex<HashMap<u32, Arc<Channel>>>,
    children: Mutex<HashMap<u32, Arc<Child>>>,
}

const WAKER: u64 = u64::MAX;
const KIND_CHANNEL: u64 = 0;
const KIND_CHILD: u64 = 1;
const KIND_LISTENER: u64 = 2;
/// Poll interval for children on kernels without pidfds.
const POLL_MS: i32 = 20;
/// While a peer floods a channel, the thread pauses this long between reads so each read
/// takes many frames: a fraction of the syscalls and JS wake-ups, for this much latency on a
/// one-way stream (never on a round trip).
const COALESCE: std::time::Duration = std::time::Duration::from_micros(100);

fn token(id: u32, kind: u64) -> u64 {
    ((id as u64) << 2) | kind
}

static ENGINE: OnceLock<&'static Engine> = OnceLock::new();

/// The process's engine, started on first use.
pub fn engine() -> io::Result<&'static Engine> {
    if let Some(e) = ENGINE.get() {
        return Ok(e);
    }
    let epoll = cvt(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
    let waker = cvt(unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) })?;
    // SAFETY: fresh fds owned from here on.
    let (epoll, waker) = unsafe { (OwnedFd::from_raw_fd(epoll), OwnedFd::from_raw_fd(waker)) };
    let engine = Engine {
        epoll,
        waker,
        commands: Mutex::new(Vec::new()),
        events: Mutex::new(Vec::new()),
        notify: OnceLock::new(),
        next_id: AtomicU32::new(1),
        channels: Mutex::new(HashMap::new()),
        children: Mutex::new(HashMap::new()),
    };
    let mut ev = libc::epoll_event { events: libc::EPOLLIN as u32, u64: WAKER };
    cvt(unsafe { libc::epoll_ctl(engine.epoll.as_raw_fd(), libc::EPOLL_CTL_ADD, engine.waker.as_raw_fd(), &mut ev) })?;
    let mut started = false;
    let e = *ENGINE.get_or_init(|| {
        started = true;
        Box::leak(Box::new(engine))
    });
    if started {
        std::thread::Builder::new().name("native-cluster-io".into()).spawn(move || Io::default().run(e))?;
    }
    Ok(e)
}

fn cvt(r: libc::c_int) -> io::Result<RawFd> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

impl Engine {
    /// Sets how JS is woken; the first caller wins.
    pub fn set_notify(&self, f: Notify) -> bool {
        self.notify.set(f).is_ok()
    }

    pub fn next_id(&self) -> u32 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    pub fn submit(&self, cmd: Command) {
        self.submit_all([cmd]);
    }

    /// Queues commands with one wake-up at most: each wake-up can cost the calling (JS) thread
    /// its CPU to the I/O thread.
    fn submit_all(&self, cmds: impl IntoIterator<Item = Command>) {
        let was_empty = {
            let mut q = crate::sync::lock(&self.commands);
            let before = q.len();
            q.extend(cmds);
            before == 0 && !q.is_empty()
        };
        if was_empty {
            let one: u64 = 1;
            unsafe { libc::write(self.waker.as_raw_fd(), (&one as *const u64).cast(), 8) };
        }
    }

    pub fn add_child(&self, child: Arc<Child>, chan: Option<(Arc<Channel>, Framing)>) {
        crate::sync::lock(&self.children).insert(child.id, child.clone());
        let add_channel = chan.map(|(chan, framing)| {
            crate::sync::lock(&self.channels).insert(chan.id, chan.clone());
            Command::AddChannel { chan, framing }
        });
        self.submit_all(add_channel.into_iter().chain([Command::AddChild(child)]));
    }

    pub fn channel(&self, id: u32) -> Option<Arc<Channel>> {
        crate::sync::lock(&self.channels).get(&id).cloned()
    }

    pub fn child(&self, id: u32) -> Option<Arc<Child>> {
        crate::sync::lock(&self.children).get(&id).cloned()
    }

    /// JS thread: write a frame. Errors carry the errno.
    pub fn write(&self, id: u32, data: &[u8], handle: Option<OutgoingHandle>, ack: u32) -> io::Result<usize> {
        let chan = self.channel(id).ok_or_else(|| io::Error::from_raw_os_error(libc::EPIPE))?;
        match chan.write(data, handle, ack)? {
            WriteResult::Queued(n) => Ok(n),
            // Not written yet; JS learns when from the ack.
            WriteResult::Held => Ok(data.len().max(1)),
            WriteResult::NeedsFlush(n) => {
                self.submit(Command::Flush(id));
                Ok(n)
            }
        }
    }

    /// JS thread: a cluster round-robin group serving `listener`; returns its id.
    pub fn round_robin_start(&self, group: RoundRobin) -> u32 {
        let id = self.next_id();
        self.submit(Command::RoundRobinStart { id, group });
        id
    }

    pub fn close(&self, id: u32) {
        if let Some(chan) = self.channel(id) {
            chan.request_close();
            self.submit(Command::Close(id));
        }
    }

    /// JS thread: take every queued event.
    pub fn drain(&self) -> Vec<Event> {
        std::mem::take(&mut *crate::sync::lock(&self.events))
    }

    fn publish(&self, batch: Vec<Event>) {
        if batch.is_empty() {
            return;
        }
        let was_empty = {
            let mut q = crate::sync::lock(&self.events);
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

    fn ctl(&self, op: libc::c_int, fd: RawFd, events: u32, data: u64) {
        let mut ev = libc::epoll_event { events, u64: data };
        unsafe { libc::epoll_ctl(self.epoll.as_raw_fd(), op, fd, &mut ev) };
    }
}

/// State only the I/O thread touches.
#[derive(Default)]
struct Io {
    readers: HashMap<u32, (Arc<Channel>, Reader)>,
    watched: HashMap<u32, Arc<Child>>,
    /// Children without a pidfd, polled by pid.
    polled: Vec<Arc<Child>>,
    events: Vec<Event>,
    /// A channel was read mid-flood this turn: pause before the next.
    coalesce: bool,
    /// Cluster round-robin groups by id.
    groups: HashMap<u32, RoundRobin>,
}

const IN: u32 = libc::EPOLLIN as u32;
const OUT: u32 = libc::EPOLLOUT as u32;

impl Io {
    fn run(mut self, e: &'static Engine) {
        let mut ready = vec![libc::epoll_event { events: 0, u64: 0 }; 256];
        loop {
            let paused = self.groups.values().any(|g| g.paused);
            let timeout = if self.polled.is_empty() && !paused { -1 } else { POLL_MS };
            let n = unsafe { libc::epoll_wait(e.epoll.as_raw_fd(), ready.as_mut_ptr(), ready.len() as i32, timeout) };
            let n = if n < 0 { 0 } else { n as usize };
            // Exits are handled after every channel of this turn, so a child's last messages
            // are always delivered before its 'exit'.
            let mut exited = Vec::new();
            for ev in &ready[..n] {
                let (flags, data) = (ev.events, ev.u64);
                if data == WAKER {
                    let mut buf = 0u64;
                    unsafe { libc::read(e.waker.as_raw_fd(), (&mut buf as *mut u64).cast(), 8) };
                    let cmds = std::mem::take(&mut *crate::sync::lock(&e.commands));
                    for cmd in cmds {
                        self.command(e, cmd);
                    }
                    continue;
                }
                let id = (data >> 2) as u32;
                match data & 3 {
                    KIND_CHANNEL => {
                        if flags & OUT != 0 {
                            self.flush(e, id);
                        }
                        if flags & !OUT != 0 {
                            self.read(e, id);
                        }
                    }
                    KIND_CHILD => exited.push(id),
                    KIND_LISTENER => self.accept(e, id),
                    _ => {}
                }
            }
            for id in exited {
                if let Some(child) = self.watched.get(&id).cloned() {
                    self.reap(e, &child);
                }
            }
            for child in std::mem::take(&mut self.polled) {
                if !self.reap(e, &child) {
                    self.polled.push(child);
                }
            }
            // Listeners paused for want of descriptors are tried again every POLL_MS.
            for (&gid, group) in self.groups.iter_mut().filter(|(_, g)| g.paused) {
                group.paused = false;
                e.ctl(libc::EPOLL_CTL_MOD, group.listener.as_raw_fd(), IN, token(gid, KIND_LISTENER));
            }
            e.publish(std::mem::take(&mut self.events));
            if std::mem::take(&mut self.coalesce) {
                std::thread::sleep(COALESCE);
            }
        }
    }

    fn command(&mut self, e: &Engine, cmd: Command) {
        match cmd {
            Command::AddChannel { chan, framing } => {
                if let Some(fd) = chan.raw_fd() {
                    e.ctl(libc::EPOLL_CTL_ADD, fd, IN, token(chan.id, KIND_CHANNEL));
                    self.readers.insert(chan.id, (chan, Reader::new(fd, framing)));
                }
            }
            Command::AddChild(child) => match &child.pidfd {
                Some(fd) => {
                    e.ctl(libc::EPOLL_CTL_ADD, fd.as_raw_fd(), IN, token(child.id, KIND_CHILD));
                    self.watched.insert(child.id, child);
                }
                None => self.polled.push(child),
            },
            Command::Flush(id) => self.flush(e, id),
            Command::Close(id) => self.flush(e, id),
            Command::RoundRobinStart { id, group } => {
                e.ctl(libc::EPOLL_CTL_ADD, group.listener.as_raw_fd(), IN, token(id, KIND_LISTENER));
                self.groups.insert(id, group);
            }
            Command::RoundRobinAdd { id, chan } => {
                if let Some(group) = self.groups.get_mut(&id) {
                    group.add(chan);
                }
                self.dispatch(e);
            }
            Command::RoundRobinRemove { id, chan } => {
                if let Some(group) = self.groups.get_mut(&id) {
                    group.remove(chan);
                }
            }
            Command::RoundRobinClose(id) => {
                if let Some(group) = self.groups.remove(&id) {
                    e.ctl(libc::EPOLL_CTL_DEL, group.listener.as_raw_fd(), 0, 0);
                }
            }
        }
    }

    fn accept(&mut self, e: &Engine, id: u32) {
        let Some(group) = self.groups.get_mut(&id) else { return };
        if group.accept().is_err() {
            // Out of descriptors (or worse): stop watching until a connection is let go, rather
            // than spin on a listener we cannot take from.
            e.ctl(libc::EPOLL_CTL_MOD, group.listener.as_raw_fd(), 0, token(id, KIND_LISTENER));
            group.paused = true;
        }
        self.dispatch(e);
    }

    /// Hands pending connections to free workers, in every group.
    fn dispatch(&mut self, e: &Engine) {
        let Io { groups, readers, .. } = self;
        let mut to_flush = Vec::new();
        for (&gid, group) in groups.iter_mut().filter(|(_, g)| g.has_pending()) {
            group.dispatch(|chan_id, key, conn| {
                let Some((chan, reader)) = readers.get_mut(&chan_id) else { return false };
                // Free: no handle awaiting its ACK. The next goes out as soon as it arrives.
                if chan.held().is_some() {
                    return false;
                }
                let seq = crate::cluster::next_seq();
                let frame = newconn::frame(key, seq, chan.advanced);
                match chan.write(&frame, Some(OutgoingHandle { fd: conn.clone(), retransmit: false }), 0) {
                    Ok(written) => {
                        reader.newconns.insert(seq, (gid, conn.clone()));
                        if matches!(written, WriteResult::NeedsFlush(_)) {
                            to_flush.push(chan_id);
                        }
                        true
                    }
                    Err(_) => false,
                }
            });
        }
        for id in to_flush {
            self.flush(e, id);
        }
    }

    /// Workers answered `newconn`s: an accepted connection's copy here is closed (dropped),
    /// a refused one goes to the next worker.
    fn newconn_replies(&mut self, e: &Engine, replies: Vec<(u32, Arc<OwnedFd>, bool)>) {
        for (gid, conn, accepted) in replies {
            if let Some(group) = self.groups.get_mut(&gid).filter(|_| !accepted) {
                group.requeue(conn);
            }
        }
        self.dispatch(e);
    }

    /// Writes what the socket takes; arms EPOLLOUT while anything is left, closes the channel
    /// if JS asked for that and the queue has drained.
    fn flush(&mut self, e: &Engine, id: u32) {
        let Some((chan, _)) = self.readers.get(&id) else { return };
        let chan = chan.clone();
        let Some(fd) = chan.raw_fd() else { return };
        let watch = match chan.flush(&mut self.events) {
            Ok(true) if chan.ready_to_close() => return self.close(e, id),
            Ok(drained) => drained,
            Err(err) => {
                // The peer is gone for writing; keep reading what it sent before that.
                self.events.push(Event::WriteFailed { id, errno: err.raw_os_error().unwrap_or(libc::EPIPE) });
                chan.discard_queue();
                if chan.ready_to_close() {
                    return self.close(e, id);
                }
                true
            }
        };
        // Only a change of what is watched costs a syscall (a handle exchange flushes a lot).
        let want_out = !watch;
        if let Some((_, reader)) = self.readers.get_mut(&id) {
            if reader.watching_out != want_out {
                reader.watching_out = want_out;
                e.ctl(libc::EPOLL_CTL_MOD, fd, if want_out { IN | OUT } else { IN }, token(id, KIND_CHANNEL));
            }
        }
    }

    /// Reads a channel. Returns false once it has ended (and been closed).
    fn read(&mut self, e: &Engine, id: u32) -> bool {
        let Some((chan, reader)) = self.readers.get_mut(&id) else { return false };
        self.coalesce |= reader.flooding(chan);
        let mut effects = ReadEffects::default();
        let outcome = reader.read(chan, &mut self.events, &mut effects);
        if effects.needs_flush {
            self.flush(e, id);
        }
        if effects.settled || !effects.replies.is_empty() {
            self.newconn_replies(e, effects.replies);
        }
        match outcome {
            ReadOutcome::Ended => {
                self.close(e, id);
                false
            }
            ReadOutcome::Drained | ReadOutcome::Yielded => true,
        }
    }

    /// Closes a channel. Connections it was handed and had not answered for are closed with
    /// it (the worker may have started on them); its groups carry on without it.
    fn close(&mut self, e: &Engine, id: u32) {
        for group in self.groups.values_mut() {
            group.remove(id);
        }
        if let Some((chan, _)) = self.readers.remove(&id) {
            if let Some(fd) = chan.raw_fd() {
                e.ctl(libc::EPOLL_CTL_DEL, fd, 0, 0);
            }
            if chan.close() {
                self.events.push(Event::WriteFailed { id, errno: libc::EPIPE });
            }
            crate::sync::lock(&e.channels).remove(&id);
            self.events.push(Event::Closed { id });
        }
        self.dispatch(e);
    }

    /// Reaps `child` if it has exited; returns whether it did.
    fn reap(&mut self, e: &Engine, child: &Arc<Child>) -> bool {
        let Some(status) = child.try_reap() else { return false };
        // Deliver everything the child wrote before its exit is reported.
        while self.readers.contains_key(&child.id) {
            let before = self.events.len();
            if !self.read(e, child.id) || self.events.len() == before {
                break;
            }
        }
        if let Some(fd) = &child.pidfd {
            e.ctl(libc::EPOLL_CTL_DEL, fd.as_raw_fd(), 0, 0);
        }
        self.watched.remove(&child.id);
        crate::sync::lock(&e.children).remove(&child.id);
        self.events.push(Event::Exit { id: child.id, status });
        true
    }
}
