//! A channel as the reactor drives it: reading (and the handle protocol it runs), flushing
//! what the socket refused, and the flush-then-close policy. Other sources reach it through
//! generic hooks: a handle sent with a hook comes back to its sender once answered, an
//! internal reply expected by key goes to whoever expects it, and watchers hear when the
//! channel closes.

use std::os::fd::BorrowedFd;
use std::sync::Arc;
use std::time::Duration;

use super::{Channel, Framing, HandleHook, OutgoingHandle, ReadEffects, ReadOutcome, Reader, Returned, WriteResult};
use crate::engine::{engine, Msg};
use crate::event::Event;
use crate::reactor::{Cx, Interest, Ready, Source, Token};

/// While a peer floods a channel, the thread pauses this long between reads so each read
/// takes many frames: a fraction of the syscalls and JS wake-ups, for this much latency on a
/// one-way stream (never on a round trip).
const COALESCE: Duration = Duration::from_micros(100);

pub struct ChannelSource {
    chan: Arc<Channel>,
    reader: Reader,
    /// EPOLLOUT is armed.
    watching_out: bool,
    /// Sources to tell when the channel closes or a JS handle settles.
    watchers: Vec<Token>,
}

impl ChannelSource {
    pub fn new(chan: Arc<Channel>, framing: Framing) -> Self {
        let fd = chan.raw_fd().unwrap_or(-1);
        ChannelSource { reader: Reader::new(fd, framing), chan, watching_out: false, watchers: Vec::new() }
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
        // Only a change of what is watched costs a syscall (a handle exchange flushes a lot).
        let want_out = !drained;
        if self.watching_out != want_out {
            self.watching_out = want_out;
            let interest = if want_out { Interest::ReadWrite } else { Interest::Read };
            if let Some(fd) = self.fd() {
                if let Err(e) = cx.reregister(fd, interest) {
                    cx.events().push(Event::WriteFailed { id, errno: e.raw_os_error().unwrap_or(libc::EIO) });
                }
            }
        }
    }

    /// Reads the channel; returns false once it has ended (and been closed).
    fn read(&mut self, cx: &mut Cx<'_, Msg>) -> bool {
        if self.reader.flooding(&self.chan) {
            cx.coalesce(COALESCE);
        }
        let mut effects = ReadEffects::default();
        let outcome = self.reader.read(&self.chan, cx.events(), &mut effects);
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
        loop {
            let before = cx.events().len();
            if !self.read(cx) || cx.events().len() == before {
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
        self.reader.expect_reply(hook.key, hook.token);
        let handle = OutgoingHandle { fd: Arc::new(fd), retransmit: false, hook: Some(hook) };
        match self.chan.write(&frame, 1, Some(handle), 0) {
            Ok(WriteResult::NeedsFlush(_)) => self.flush(cx),
            Ok(_) => {}
            // The channel is closing: the descriptor closed with the failed write, and the
            // sender hears of the channel's close.
            Err(_) => {}
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
        if let Err(e) = cx.register(fd, Interest::Read) {
            let id = self.chan.id;
            cx.events().push(Event::WriteFailed { id, errno: e.raw_os_error().unwrap_or(libc::EIO) });
            self.close(cx);
        }
    }

    fn ready(&mut self, cx: &mut Cx<'_, Msg>, ready: Ready) {
        if ready.writable {
            self.flush(cx);
        }
        if ready.readable && self.chan.raw_fd().is_some() {
            self.read(cx);
        }
    }

    fn message(&mut self, cx: &mut Cx<'_, Msg>, msg: Msg) {
        match msg {
            Msg::Flush | Msg::Close => self.flush(cx),
            Msg::Drain => self.drain(cx),
            Msg::CloseNow => self.close(cx),
            Msg::Watch(token) if !self.watchers.contains(&token) => self.watchers.push(token),
            Msg::SendHandle { frame, fd, hook } => self.send_handle(cx, frame, fd, hook),
            _ => {}
        }
    }
}
