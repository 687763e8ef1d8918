//! A channel as the reactor drives it: reading (and the handle protocol it runs), flushing
//! what the socket refused, and the flush-then-close policy. Other sources reach it through
//! generic hooks: a handle sent with a hook comes back to its sender once answered, an
//! internal reply expected by key goes to whoever expects it, and watchers hear when the
//! channel closes.

use std::os::fd::BorrowedFd;
use std::sync::Arc;
use std::time::Duration;

use super::{Channel, HandleHook, OutgoingHandle, Pace, ReadEffects, ReadOutcome, ReadOwner, Returned, WriteResult};
use crate::engine::{engine, Msg};
use crate::event::Event;
use crate::reactor::{Cx, Interest, Ready, Source, Token};

/// While a peer floods a channel, the thread pauses this long between reads so each read
/// takes many frames: a fraction of the syscalls and JS wake-ups, for this much latency on a
/// one-way stream (never on a round trip).
const COALESCE: Duration = Duration::from_micros(100);

pub struct ChannelSource {
    chan: Arc<Channel>,
    /// This thread reads the channel (`ReadOwner::Io`, as far as this thread has been told).
    reading: bool,
    /// The child exited: this thread reads what is left, to the end.
    exited: bool,
    /// EPOLLOUT is wanted: output is waiting for the socket.
    watching_out: bool,
    /// Reading is paused until JS takes what was read (read backpressure).
    read_paused: bool,
    /// What the fd is registered for (`None`: not registered).
    registered: Option<Interest>,
    /// Sources to tell when the channel closes or a JS handle settles.
    watchers: Vec<Token>,
}

impl ChannelSource {
    pub fn new(chan: Arc<Channel>) -> Self {
        let reading = chan.read_side().owner == ReadOwner::Io;
        ChannelSource {
            chan,
            reading,
            exited: false,
            watching_out: false,
            read_paused: false,
            registered: None,
            watchers: Vec::new(),
        }
    }

    fn fd(&self) -> Option<BorrowedFd<'_>> {
        // SAFETY: the channel's fd stays open until `Channel::close`, which only `close` below
        // calls, after the last use of this borrow.
        self.chan.raw_fd().map(|fd| unsafe { BorrowedFd::borrow_raw(fd) })
    }

    /// Writes what the socket takes; arms EPOLLOUT while anything is left, closes the channel
    /// if JS asked for that and the queue has drained.
    fn flush(&mut self, cx: &mut Cx<'_, Msg>) {
        if self.chan.raw_fd().is_none() {
            return;
        }
        let id = self.chan.id;
        let drained = match self.chan.flush(cx.events()) {
            Ok(true) if self.chan.ready_to_close() => return self.close(cx),
            Ok(drained) => drained,
            Err(err) => {
                // The peer is gone for writing; keep reading what it sent before that.
                cx.events().push(Event::WriteFailed { id, errno: err.raw_os_error().unwrap_or(libc::EPIPE) });
                self.chan.discard_queue();
                if self.chan.ready_to_close() {
                    return self.close(cx);
                }
                true
            }
        };
        self.watching_out = !drained;
        self.watch(cx);
    }

    /// Registers the fd for what is wanted now: reading while this thread reads and is not
    /// paused, writing while output waits; neither, and the fd leaves epoll (a hung-up peer
    /// would otherwise keep waking us). Only a change costs a syscall (a handle exchange
    /// flushes a lot).
    fn watch(&mut self, cx: &mut Cx<'_, Msg>) {
        let want = match (self.reading && !self.read_paused, self.watching_out) {
            (true, false) => Some(Interest::Read),
            (true, true) => Some(Interest::ReadWrite),
            (false, true) => Some(Interest::Write),
            (false, false) => None,
        };
        if want == self.registered {
            return;
        }
        let Some(fd) = self.fd() else { return };
        let done = match (self.registered, want) {
            (None, Some(interest)) => cx.register(fd, interest),
            (Some(_), Some(interest)) => cx.reregister(fd, interest),
            (Some(_), None) => cx.deregister(fd),
            (None, None) => Ok(()),
        };
        match done {
            Ok(()) => self.registered = want,
            Err(e) => {
                let id = self.chan.id;
                cx.events().push(Event::WriteFailed { id, errno: e.raw_os_error().unwrap_or(libc::EIO) });
            }
        }
    }

    /// The JS thread stopped reading (JS is to send a handle, to close, joined a cluster
    /// group, fell behind, or a flood or the end came): this thread reads from here on.
    /// `force`: the child exited, and this thread takes reading whoever had it.
    fn take_over(&mut self, cx: &mut Cx<'_, Msg>, force: bool) {
        {
            let mut side = self.chan.read_side();
            if force {
                side.owner = ReadOwner::Io;
            }
            self.reading = side.owner == ReadOwner::Io;
        }
        self.watch(cx);
        if self.reading && self.chan.raw_fd().is_some() {
            self.read(cx, force);
        }
    }

    /// JS took enough of what was read, or a reply is awaited: reading goes on.
    fn resume(&mut self, cx: &mut Cx<'_, Msg>) {
        if std::mem::take(&mut self.read_paused) {
            self.watch(cx);
            if self.chan.raw_fd().is_some() {
                self.read(cx, false);
            }
        }
    }

    /// Reads the channel, up to the backpressure bound unless `all` (the child exited: what is
    /// left is what its socket buffer holds); returns false once it has ended (and been
    /// closed).
    fn read(&mut self, cx: &mut Cx<'_, Msg>, all: bool) -> bool {
        let (Some(fd), true) = (self.chan.raw_fd(), self.reading) else { return true };
        let mut side = self.chan.read_side();
        let pace = side.reader.pace(&self.chan);
        if pace == Pace::Flood {
            cx.coalesce(COALESCE);
        }
        let mut effects = ReadEffects::default();
        let room = if all { usize::MAX } else { self.chan.read_room(side.reader.awaiting_reply()) };
        let outcome = side.reader.read(&self.chan, fd, room, cx.events(), &mut effects);
        let paused = self.chan.read_for_js(effects.for_js, side.reader.awaiting_reply());
        // A conversation again (JS wrote since the last read), with nothing left that needs
        // this thread: JS reads it, once it has taken what was read here (the marker follows).
        let to_js = pace == Pace::Conversation
            && !self.exited
            && matches!(outcome, ReadOutcome::Drained)
            && self.chan.may_read_on_js(&side);
        if to_js {
            side.owner = ReadOwner::ToJs;
        }
        drop(side);
        if paused && !self.read_paused {
            self.read_paused = true;
            self.watch(cx);
        }
        if to_js {
            self.reading = false;
            self.watch(cx);
            cx.events().push(Event::ReadByJs { id: self.chan.id });
        }
        for (to, msg) in effects.posts {
            cx.post(to, msg);
        }
        if effects.settled {
            for &w in &self.watchers {
                cx.post(w, Msg::HandleSettled { chan: self.chan.id });
            }
        }
        if effects.needs_flush {
            self.flush(cx);
        }
        match outcome {
            ReadOutcome::Ended => {
                self.close(cx);
                false
            }
            ReadOutcome::Drained | ReadOutcome::Yielded => true,
        }
    }

    /// Reads until nothing more arrives.
    fn drain(&mut self, cx: &mut Cx<'_, Msg>) {
        self.exited = true;
        self.take_over(cx, true);
        loop {
            let before = cx.events().len();
            if !self.read(cx, true) || cx.events().len() == before {
                return;
            }
        }
    }

    /// Sends a handle another source owns; it comes back through the hook.
    fn send_handle(&mut self, cx: &mut Cx<'_, Msg>, frame: Vec<u8>, fd: std::os::fd::OwnedFd, hook: HandleHook) {
        if !self.watchers.contains(&hook.token) {
            self.watchers.push(hook.token);
        }
        if !self.chan.can_take_handle() {
            let chan = self.chan.id;
            cx.post(hook.token, Msg::HandleReturned { chan, key: hook.key, fd, acked: false });
            return;
        }
        self.chan.read_side().reader.expect_reply(hook.key, hook.token);
        let handle = OutgoingHandle { fd: Arc::new(fd), retransmit: false, hook: Some(hook) };
        match self.chan.write(&frame, 1, Some(handle), 0) {
            Ok(WriteResult::NeedsFlush(_)) => self.flush(cx),
            Ok(_) => {}
            // The channel is closing: the descriptor closed with the failed write, and the
            // sender hears of the channel's close.
            Err(_) => {}
        }
        // The reply must be read even while JS is behind.
        if self.chan.resume_for_reply() {
            self.resume(cx);
        }
    }

    /// Sends the supervisor's ping; the pong goes to `token`. The pong is read even while JS
    /// is behind (a blocked primary must not make a worker look hung).
    fn ping(&mut self, cx: &mut Cx<'_, Msg>, seq: u64, token: Token) {
        let frame = crate::protocol::guard::ping(seq, self.chan.advanced);
        self.chan.read_side().reader.expect_reply(seq, token);
        match self.chan.write(&frame, 1, None, 0) {
            Ok(WriteResult::NeedsFlush(_)) => self.flush(cx),
            Ok(_) => {}
            // Closing: the pinger hears of the close.
            Err(_) => {}
        }
        if self.chan.resume_for_reply() {
            self.resume(cx);
        }
    }

    /// Closes the channel: later writes fail, watchers are told.
    fn close(&mut self, cx: &mut Cx<'_, Msg>) {
        let id = self.chan.id;
        if let Some(fd) = self.fd() {
            // Closing the fd below removes it from epoll as well; this only makes it explicit.
            let _ = cx.deregister(fd);
        }
        let (lost, returned) = self.chan.close();
        if lost {
            cx.events().push(Event::WriteFailed { id, errno: libc::EPIPE });
        }
        // Before ChannelClosed, so the hook's owner sees the hand-off refused, not lost.
        if let Some(returned) = returned {
            give_back(cx, id, returned);
        }
        if let Ok(e) = engine() {
            e.forget_channel(id);
        }
        cx.events().push(Event::Closed { id });
        for w in std::mem::take(&mut self.watchers) {
            cx.post(w, Msg::ChannelClosed { chan: id });
        }
        cx.remove_self();
    }
}

/// A handle the peer never answered goes back to the source that sent it, as refused.
fn give_back(cx: &mut Cx<'_, Msg>, chan: u32, Returned { hook, fd, acked }: Returned) {
    cx.post(hook.token, Msg::HandleReturned { chan, key: hook.key, fd, acked });
}

impl Source<Msg> for ChannelSource {
    fn start(&mut self, cx: &mut Cx<'_, Msg>) {
        let Some(fd) = self.fd() else { return cx.remove_self() };
        if !self.reading {
            return;
        }
        if let Err(e) = cx.register(fd, Interest::Read) {
            let id = self.chan.id;
            cx.events().push(Event::WriteFailed { id, errno: e.raw_os_error().unwrap_or(libc::EIO) });
            return self.close(cx);
        }
        self.registered = Some(Interest::Read);
    }

    fn ready(&mut self, cx: &mut Cx<'_, Msg>, ready: Ready) {
        // Not reading, a hang-up is heard only while writing: the flush tells it.
        if ready.writable || (ready.readable && (self.read_paused || !self.reading)) {
            self.flush(cx);
        }
        if ready.readable && !self.read_paused {
            self.read(cx, false);
        }
    }

    fn message(&mut self, cx: &mut Cx<'_, Msg>, msg: Msg) {
        match msg {
            Msg::Flush | Msg::Close => self.flush(cx),
            Msg::Drain => self.drain(cx),
            Msg::TakeOver => self.take_over(cx, false),
            Msg::Resume => self.resume(cx),
            Msg::CloseNow => self.close(cx),
            Msg::Watch(token) if !self.watchers.contains(&token) => self.watchers.push(token),
            Msg::Unwatch(token) => {
                self.watchers.retain(|&w| w != token);
                self.chan.read_side().reader.forget_replies_to(token);
            }
            Msg::SendHandle { frame, fd, hook } => self.send_handle(cx, frame, fd, hook),
            Msg::Ping { seq, token } => self.ping(cx, seq, token),
            Msg::Routable(routable) => {
                self.chan.set_routable(routable);
                // Round-robin groups dispatch again on any message: one waiting for a free
                // worker may now have one.
                for &w in &self.watchers {
                    cx.post(w, Msg::HandleSettled { chan: self.chan.id });
                }
            }
            _ => {}
        }
    }
}
