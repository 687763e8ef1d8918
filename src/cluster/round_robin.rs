//! SCHED_RR on the I/O thread: the primary's listening socket, and every connection it
//! accepts, from `accept()` to the worker that keeps it. This group owns each connection until
//! a worker has accepted it, and its whole path reads top to bottom here:
//!
//! 1. accepted: queued in `pending`;
//! 2. handed out to the next free worker (one whose channel has no handle awaiting its ACK):
//!    the descriptor moves to that worker's channel with a `newconn` frame (`SendHandle`),
//!    and the hand-off is `Sent`;
//! 3. the channel gives it back when the worker answered the handle frame (`HandleReturned`):
//!    NACKed, it goes to the front of `pending` for the next worker; ACKed, the hand-off is
//!    `Received` and the descriptor waits here for the worker's `newconn` reply;
//! 4. the worker's reply (`Reply`): accepted, the connection is the worker's and this copy is
//!    closed; refused, it goes to the front of `pending`;
//! 5. a worker whose channel closes leaves the group: a connection whose handle frame it never
//!    answered comes back first as refused (`HandleReturned`; it never took it) and goes to
//!    another worker; the ones it ACKed and did not answer for are closed (`ChannelClosed`; it
//!    may have started on them);
//! 6. the group stops (`Stop`): the listener and every connection still here are closed.
//!    A primary handing its socket to the one it upgrades to first quiesces the group
//!    (`Quiesce`): it accepts no more, and hands out what it has before it stops.
//!
//! Out of descriptors, a connection cannot even be accepted, and clients would wait in the
//! backlog without bound. The group keeps one reserve descriptor: when `accept` fails with
//! EMFILE or ENFILE it lets the reserve go, accepts, closes the connection at once (the client
//! sees it closed, as libuv does for Node), and takes the reserve again. Shed connections are
//! counted, and the first is reported.

use std::collections::{HashMap, VecDeque};
use std::ffi::CString;
use std::io;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;

use nix::errno::Errno;
use nix::sys::socket::{accept4, bind, socket, AddressFamily, Backlog, SockFlag, SockType, UnixAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::channel::{Channel, HandleHook};
use crate::engine::{channel_token, engine, token_id, tracing, Msg};
use crate::event::Event;
use crate::protocol::cluster::newconn;
use crate::reactor::{Cx, Interest, Ready, Source};

pub struct RoundRobin {
    listener: OwnedFd,
    key: String,
    members: Members,
    /// Accepted connections waiting for a free worker, oldest first.
    pending: VecDeque<OwnedFd>,
    /// Connections handed out and not yet answered for, by `newconn` seq.
    handed: HashMap<u64, HandOff>,
    /// Accepting failed (out of descriptors): the listener is silent until a timer.
    paused: bool,
    /// Accepting is over for good (`Quiesce`): the listener is silent; the rest goes on.
    quiesced: bool,
    /// A unix socket path this group bound, removed when it closes (as libuv does).
    path: Option<CString>,
    /// Held so that one connection can still be accepted (and shed) with no descriptor left.
    reserve: Option<OwnedFd>,
    counters: Arc<GroupCounters>,
}

/// A group's counters, for `engineStats()`: read by JS, written by the I/O thread only.
#[derive(Default)]
pub struct GroupCounters {
    pub workers: AtomicU64,
    /// Accepted, waiting for a free worker.
    pub pending: AtomicU64,
    /// Handed out, the worker's ACK not yet in (the descriptor is in its channel).
    pub awaiting_ack: AtomicU64,
    /// ACKed, the worker's `newconn` reply not yet in (the descriptor is held here).
    pub awaiting_reply: AtomicU64,
    /// Connections handed to a worker (a redistributed one counts again).
    pub dispatched: AtomicU64,
    /// Connections closed at once for want of descriptors.
    pub shed: AtomicU64,
    /// Descriptors the group holds: its listener, its reserve, the connections here.
    pub fds_held: AtomicU64,
}

/// Where a handed-out connection is.
enum HandOff {
    /// On its way: the worker's channel holds the descriptor until the worker answers the
    /// handle frame. A `newconn` reply that overtook the ACK is kept.
    Sent { worker: u32, reply: Option<bool> },
    /// The worker has its own copy; this one waits for its `newconn` reply.
    Received { worker: u32, fd: OwnedFd },
}

impl HandOff {
    fn worker(&self) -> u32 {
        match self {
            HandOff::Sent { worker, .. } | HandOff::Received { worker, .. } => *worker,
        }
    }
}

/// A worker taking part.
struct Member {
    chan: Arc<Channel>,
    /// A connection was handed to it and its handle frame is not answered yet.
    busy: bool,
}

impl Member {
    fn free(&self) -> bool {
        !self.busy && self.chan.can_take_handle() && self.chan.routable()
    }
}

/// The workers in the order they joined, served in turn (pure).
struct Members {
    list: Vec<Member>,
    /// Where the next search for a free worker starts.
    next: usize,
}

impl Members {
    fn get(&mut self, chan: u32) -> Option<&mut Member> {
        self.list.iter_mut().find(|m| m.chan.id == chan)
    }

    fn remove(&mut self, chan: u32) {
        self.list.retain(|m| m.chan.id != chan);
    }

    /// The next member `free` accepts, in turn.
    fn next_free(&mut self, free: impl Fn(&Member) -> bool) -> Option<&mut Member> {
        let n = self.list.len();
        let i = (0..n).map(|i| (self.next + i) % n).find(|&i| free(&self.list[i]))?;
        self.next = (i + 1) % n;
        Some(&mut self.list[i])
    }
}

/// While out of descriptors, the listener is tried again this often.
const RETRY_ACCEPT: Duration = Duration::from_millis(20);

impl Drop for RoundRobin {
    fn drop(&mut self) {
        if let Some(path) = &self.path {
            // A path someone already removed is fine.
            let _ = nix::unistd::unlink(path.as_c_str());
        }
    }
}

/// `listen(2)` with Node's default backlog for 0 (the kernel caps it at `somaxconn`).
pub fn listen(sock: &OwnedFd, backlog: i32) -> io::Result<()> {
    let backlog = if backlog > 0 { backlog.min(libc::SOMAXCONN) } else { 511 };
    Ok(nix::sys::socket::listen(sock, Backlog::new(backlog)?)?)
}

/// Binds and listens on a unix socket path as Node's pipe server does, with `readableAll`/
/// `writableAll` as libuv's `uv_pipe_chmod`.
pub fn listen_unix(path: &str, backlog: i32, readable_all: bool, writable_all: bool) -> io::Result<(OwnedFd, CString)> {
    let cpath = CString::new(path).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    let addr = UnixAddr::new(path).map_err(|_| io::Error::from_raw_os_error(libc::ENAMETOOLONG))?;
    let flags = SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK;
    let sock = socket(AddressFamily::Unix, SockType::Stream, flags, None)?;
    bind(sock.as_raw_fd(), &addr)?;
    let result = (|| {
        listen(&sock, backlog)?;
        let mut want = 0;
        if readable_all {
            want |= 0o444;
        }
        if writable_all {
            want |= 0o222;
        }
        if want != 0 {
            let mode = std::fs::metadata(path)?.permissions().mode();
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode | want))?;
        }
        Ok(())
    })();
    if let Err(e) = result {
        // The path this call bound; nothing else to do if it is already gone.
        let _ = std::fs::remove_file(path);
        return Err(e);
    }
    Ok((sock, cpath))
}

/// Connections accepted per readiness event at most, so one busy listener cannot starve the
/// channels (level-triggered epoll brings the thread back).
const ACCEPTS_PER_TURN: usize = 256;

impl RoundRobin {
    /// `path`: the unix socket path `listener` is bound to, if the group bound it.
    pub fn new(listener: OwnedFd, key: String, path: Option<CString>) -> Self {
        RoundRobin {
            listener,
            key,
            members: Members { list: Vec::new(), next: 0 },
            pending: VecDeque::new(),
            handed: HashMap::new(),
            paused: false,
            quiesced: false,
            path,
            reserve: reserve_fd(),
            counters: Arc::default(),
        }
    }

    pub fn counters(&self) -> Arc<GroupCounters> {
        self.counters.clone()
    }

    /// Stores what the counters show of the current state.
    fn publish(&self) {
        let c = &self.counters;
        let (mut sent, mut received) = (0, 0);
        for h in self.handed.values() {
            match h {
                HandOff::Sent { .. } => sent += 1,
                HandOff::Received { .. } => received += 1,
            }
        }
        c.workers.store(self.members.list.len() as u64, Ordering::Relaxed);
        c.pending.store(self.pending.len() as u64, Ordering::Relaxed);
        c.awaiting_ack.store(sent, Ordering::Relaxed);
        c.awaiting_reply.store(received, Ordering::Relaxed);
        let held = 1 + u64::from(self.reserve.is_some()) + self.pending.len() as u64 + received;
        c.fds_held.store(held, Ordering::Relaxed);
    }

    /// Out of descriptors: the reserve makes room for one accept, whose connection is closed.
    /// Returns false if there was no connection to shed or no reserve to use.
    fn shed(&mut self, cx: &mut Cx<'_, Msg>) -> bool {
        if self.reserve.take().is_none() {
            return false;
        }
        let shed = accept4(self.listener.as_raw_fd(), SockFlag::SOCK_CLOEXEC);
        if let Ok(fd) = shed {
            // SAFETY: a fresh descriptor; closed at once.
            drop(unsafe { OwnedFd::from_raw_fd(fd) });
            if self.counters.shed.fetch_add(1, Ordering::Relaxed) == 0 {
                let id = token_id(cx.token());
                cx.events().push(Event::Shed { id });
            }
            trace(cx, || "out of descriptors: a connection was closed at once".into());
        }
        self.reserve = reserve_fd();
        shed.is_ok() && self.reserve.is_some()
    }

    /// 1. Accepts what is waiting on the listener. Out of descriptors, the listener goes
    ///    silent and is tried again on a timer rather than spun on.
    fn accept(&mut self, cx: &mut Cx<'_, Msg>) {
        for _ in 0..ACCEPTS_PER_TURN {
            let flags = SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK;
            match accept4(self.listener.as_raw_fd(), flags) {
                Ok(fd) => {
                    // SAFETY: a fresh descriptor, owned from here on.
                    self.pending.push_back(unsafe { OwnedFd::from_raw_fd(fd) });
                }
                Err(Errno::EAGAIN) => break,
                // The client gave up before we took it; take the next.
                Err(Errno::ECONNABORTED | Errno::EINTR) => {}
                Err(Errno::EMFILE | Errno::ENFILE) if self.shed(cx) => {}
                Err(e) => {
                    trace(cx, || format!("accept failed ({e}): listener paused"));
                    self.paused = true;
                    if cx.reregister(self.listener.as_fd(), Interest::None).is_ok() {
                        cx.timer(RETRY_ACCEPT);
                    }
                    break;
                }
            }
        }
        self.dispatch(cx);
    }

    /// 2. Hands pending connections to free workers in turn.
    fn dispatch(&mut self, cx: &mut Cx<'_, Msg>) {
        while !self.pending.is_empty() {
            let Some(member) = self.members.next_free(Member::free) else { return };
            let Some(fd) = self.pending.pop_front() else { return };
            member.busy = true;
            let worker = member.chan.id;
            let seq = crate::cluster::next_seq();
            let frame = newconn(&self.key, seq, member.chan.advanced);
            self.handed.insert(seq, HandOff::Sent { worker, reply: None });
            let hook = HandleHook { token: cx.token(), key: seq };
            cx.post(channel_token(worker), Msg::SendHandle { frame, fd, hook });
            self.counters.dispatched.fetch_add(1, Ordering::Relaxed);
            trace(cx, || format!("newconn {seq} to channel {worker}"));
        }
    }

    /// 3. The worker's channel gives a connection back once the worker answered its frame.
    fn returned(&mut self, cx: &mut Cx<'_, Msg>, chan: u32, seq: u64, fd: OwnedFd, acked: bool) {
        trace(cx, || format!("newconn {seq} {} by channel {chan}", if acked { "ACKed" } else { "NACKed" }));
        if let Some(member) = self.members.get(chan) {
            member.busy = false;
            if !acked && !member.chan.is_open() {
                // It could not even be sent: the worker is leaving.
                self.members.remove(chan);
            }
        }
        match self.handed.remove(&seq) {
            Some(HandOff::Sent { worker, reply: None }) if acked => {
                self.handed.insert(seq, HandOff::Received { worker, fd });
            }
            Some(HandOff::Sent { reply: Some(accepted), .. }) if acked => self.replied(fd, accepted),
            // NACKed: the worker never got it, another one should.
            Some(_) => self.pending.push_front(fd),
            // The hand-off was forgotten (its worker left): the connection closes here.
            None => drop(fd),
        }
    }

    /// 4. The worker's `newconn` reply.
    fn reply(&mut self, cx: &mut Cx<'_, Msg>, seq: u64, accepted: bool) {
        trace(cx, || format!("newconn {seq} {}", if accepted { "accepted" } else { "refused" }));
        match self.handed.remove(&seq) {
            Some(HandOff::Received { fd, .. }) => self.replied(fd, accepted),
            Some(HandOff::Sent { worker, .. }) => {
                self.handed.insert(seq, HandOff::Sent { worker, reply: Some(accepted) });
            }
            None => {}
        }
    }

    fn replied(&mut self, fd: OwnedFd, accepted: bool) {
        if accepted {
            // The worker has it: this copy closes.
            drop(fd);
        } else {
            self.pending.push_front(fd);
        }
    }

    /// 5. A worker's channel closed (or the worker left): what it ACKed and had not answered
    ///    for closes with it (what it never took came back before this, as refused).
    fn leave(&mut self, cx: &mut Cx<'_, Msg>, chan: u32) {
        self.members.remove(chan);
        let before = self.handed.len();
        self.handed.retain(|_, h| h.worker() != chan);
        let closed = before - self.handed.len();
        trace(cx, || format!("channel {chan} closed; {closed} connection(s) handed to it closed"));
    }
}

impl RoundRobin {
    /// 6. The listener and what is still here close as the group is dropped.
    fn stop(&mut self, cx: &mut Cx<'_, Msg>) {
        if let Ok(e) = engine() {
            e.forget_group(token_id(cx.token()));
        }
        cx.remove_self();
    }
}

/// The reserve: any descriptor will do.
fn reserve_fd() -> Option<OwnedFd> {
    std::fs::File::open("/dev/null").ok().map(OwnedFd::from)
}

fn trace(cx: &mut Cx<'_, Msg>, text: impl FnOnce() -> String) {
    if tracing() {
        let id = token_id(cx.token());
        cx.events().push(Event::Trace { id, text: text() });
    }
}

impl Source<Msg> for RoundRobin {
    fn start(&mut self, cx: &mut Cx<'_, Msg>) {
        if cx.register(self.listener.as_fd(), Interest::Read).is_err() {
            self.stop(cx);
        }
    }

    fn ready(&mut self, cx: &mut Cx<'_, Msg>, _ready: Ready) {
        self.accept(cx);
        self.publish();
    }

    fn timer(&mut self, cx: &mut Cx<'_, Msg>) {
        if std::mem::take(&mut self.paused)
            && !self.quiesced
            && cx.reregister(self.listener.as_fd(), Interest::Read).is_err()
        {
            self.paused = true;
            cx.timer(RETRY_ACCEPT);
        }
    }

    fn message(&mut self, cx: &mut Cx<'_, Msg>, msg: Msg) {
        match msg {
            Msg::Join(chan) => {
                let id = chan.id;
                if self.members.get(id).is_none() {
                    self.members.list.push(Member { chan, busy: false });
                    cx.post(channel_token(id), Msg::Watch(cx.token()));
                }
            }
            Msg::Leave { chan } => self.members.remove(chan),
            Msg::HandleReturned { chan, key, fd, acked } => self.returned(cx, chan, key, fd, acked),
            Msg::Reply { reply, .. } => self.reply(cx, reply.ack, reply.accepted),
            Msg::ChannelClosed { chan } => self.leave(cx, chan),
            Msg::Stop => return self.stop(cx),
            Msg::Quiesce => {
                self.quiesced = true;
                // Already silent if paused; either way nothing re-arms it.
                let _ = cx.reregister(self.listener.as_fd(), Interest::None);
                trace(cx, || "quiesced: no more accepts".into());
            }
            _ => {}
        }
        self.dispatch(cx);
        self.publish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(id: u32) -> Member {
        let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
        Member { chan: Arc::new(Channel::new(id, a.into(), crate::channel::Framing::new(false, 1 << 20))), busy: false }
    }

    #[test]
    fn serves_free_workers_in_turn() {
        let mut members = Members { list: [1, 2, 3].map(member).into(), next: 0 };
        // Worker 2 is busy throughout.
        let mut got = Vec::new();
        for _ in 0..5 {
            got.push(members.next_free(|m| m.chan.id != 2).unwrap().chan.id);
        }
        assert_eq!(got, [1, 3, 1, 3, 1]);
        assert!(members.next_free(|_| false).is_none());
        members.remove(1);
        members.remove(3);
        assert_eq!(members.next_free(Member::free).unwrap().chan.id, 2);
    }

    #[test]
    fn skips_a_worker_that_missed_a_ping_until_it_answers() {
        let mut members = Members { list: [1, 2].map(member).into(), next: 0 };
        members.list[0].chan.set_routable(false);
        let got: Vec<u32> = (0..3).map(|_| members.next_free(Member::free).unwrap().chan.id).collect();
        assert_eq!(got, [2, 2, 2]);
        members.list[0].chan.set_routable(true);
        assert_eq!(members.next_free(Member::free).unwrap().chan.id, 1);
    }
}
