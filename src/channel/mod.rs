//! A channel to one child: the socketpair end, its write queue, and the read side's framing.
pub mod json_frame;
pub mod length_frame;
pub mod outbox;
pub mod read_buffer;

use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::errors;
use crate::event::{push_frame, push_message, Event};
use crate::protocol::internal::{classify_json, Kind, NACK_LINE};
use json_frame::LineSplitter;
use length_frame::Frame as LengthFrame;
use length_frame::LengthSplitter;
use outbox::Outbox;
use read_buffer::Frame;

/// The part of a channel both threads touch. JS writes through it; the I/O thread reads,
/// flushes what the socket refused, and is the only one that closes the fd.
pub struct Channel {
    pub id: u32,
    state: Mutex<State>,
    /// Set by every write; lets the reader tell a one-way flood from a conversation.
    wrote: AtomicBool,
}

struct State {
    /// `None` once closed.
    fd: Option<OwnedFd>,
    outbox: Outbox,
    /// EPOLLOUT is armed (the I/O thread owns flushing until the queue drains).
    flushing: bool,
    /// JS disconnected: close as soon as the queue has drained.
    closing: bool,
}

/// What JS learns from a write.
pub enum WriteResult {
    /// Bytes still queued (0: the frame left synchronously).
    Queued(usize),
    /// The queue was empty and is not any more: the I/O thread must watch for writability.
    NeedsFlush(usize),
}

impl Channel {
    pub fn new(id: u32, fd: OwnedFd) -> Self {
        Channel {
            id,
            state: Mutex::new(State { fd: Some(fd), outbox: Outbox::default(), flushing: false, closing: false }),
            wrote: AtomicBool::new(false),
        }
    }

    pub fn raw_fd(&self) -> Option<RawFd> {
        self.state.lock().unwrap().fd.as_ref().map(|f| f.as_raw_fd())
    }

    /// Called on the JS thread. Fails with `EPIPE` once the channel is closed or closing.
    pub fn write(&self, data: &[u8], ack: u32) -> io::Result<WriteResult> {
        self.wrote.store(true, Ordering::Relaxed);
        let mut st = self.state.lock().unwrap();
        let st = &mut *st;
        let fd = match (&st.fd, st.closing) {
            (Some(fd), false) => fd.as_raw_fd(),
            _ => return Err(io::Error::from_raw_os_error(libc::EPIPE)),
        };
        let queued = st.outbox.write(data, ack, |d| send(fd, d))?;
        if queued > 0 && !st.flushing {
            st.flushing = true;
            return Ok(WriteResult::NeedsFlush(queued));
        }
        Ok(WriteResult::Queued(queued))
    }

    /// Asks for a close once everything queued is written. Returns true if it can close now.
    pub fn request_close(&self) -> bool {
        let mut st = self.state.lock().unwrap();
        st.closing = true;
        st.outbox.pending() == 0
    }

    /// I/O thread: writes what it can. `Ok(true)` when the queue has drained.
    pub fn flush(&self, events: &mut Vec<Event>) -> io::Result<bool> {
        let mut st = self.state.lock().unwrap();
        let st = &mut *st;
        let Some(fd) = st.fd.as_ref().map(|f| f.as_raw_fd()) else { return Ok(true) };
        if let Some(ack) = st.outbox.flush(|d| send(fd, d))? {
            events.push(Event::Written { id: self.id, ack });
        }
        let drained = st.outbox.pending() == 0;
        if drained {
            st.flushing = false;
        }
        Ok(drained)
    }

    pub fn closing(&self) -> bool {
        self.state.lock().unwrap().closing
    }

    /// I/O thread: closes the fd (after the caller removed it from epoll); later writes fail.
    /// Returns whether unsent frames were lost with it.
    pub fn close(&self) -> bool {
        let mut st = self.state.lock().unwrap();
        st.fd = None;
        st.closing = true;
        std::mem::take(&mut st.outbox).pending() > 0
    }

    /// I/O thread: drops what can no longer be written after a write error.
    pub fn discard_queue(&self) {
        let mut st = self.state.lock().unwrap();
        st.outbox = Outbox::default();
        st.flushing = false;
    }
}

/// One `send` on a socket; shared with spawnSync's stdin.
pub(crate) fn send(fd: RawFd, data: &[u8]) -> io::Result<usize> {
    // MSG_NOSIGNAL: a dead peer is an EPIPE error, never a signal.
    let n = unsafe { libc::send(fd, data.as_ptr().cast(), data.len(), libc::MSG_NOSIGNAL) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// The read side, owned by the I/O thread.
pub struct Reader {
    /// The channel's fd. Only the I/O thread closes it, and it drops this reader first, so
    /// reading needs no lock.
    fd: RawFd,
    framing: Framing,
    /// When the last read returned data.
    last_data: Instant,
}

/// Reads this close together, with nothing written in between, make a one-way flood.
const FLOOD_GAP: Duration = Duration::from_micros(500);

/// How a channel's byte stream divides into frames: Node's `serialization` option.
pub enum Framing {
    Json(LineSplitter),
    Advanced(LengthSplitter),
}

impl Framing {
    pub fn new(advanced: bool, max_frame: usize) -> Self {
        if advanced {
            Framing::Advanced(LengthSplitter::new(max_frame))
        } else {
            Framing::Json(LineSplitter::new(max_frame))
        }
    }

    fn fill<E>(&mut self, read: impl FnOnce(&mut [u8]) -> Result<usize, E>) -> Result<usize, E> {
        match self {
            Framing::Json(s) => s.fill(read),
            Framing::Advanced(s) => s.fill(read),
        }
    }
}

/// How a read pass ended.
pub enum ReadOutcome {
    /// The socket has no more data for now.
    Drained,
    /// Stopped early for fairness; more data may be waiting.
    Yielded,
    /// EOF or a read error: the channel is finished.
    Ended,
}

/// Reads per readiness event before yielding to other channels (level-triggered epoll
/// brings us back).
const READS_PER_TURN: usize = 16;

impl Reader {
    pub fn new(fd: RawFd, framing: Framing) -> Self {
        Reader { fd, framing, last_data: Instant::now() - FLOOD_GAP }
    }

    /// Whether the peer is streaming at us: data keeps arriving and we are not answering. A
    /// conversation (a write since the last read) never counts, so round trips are not delayed.
    pub fn flooding(&self, chan: &Channel) -> bool {
        !chan.wrote.swap(false, Ordering::Relaxed) && self.last_data.elapsed() < FLOOD_GAP
    }

    /// Reads what is available and turns complete frames into events. Sets `needs_flush`
    /// when a protocol reply was queued behind other output.
    pub fn read(&mut self, chan: &Channel, events: &mut Vec<Event>, needs_flush: &mut bool) -> ReadOutcome {
        let fd = self.fd;
        self.last_data = Instant::now();
        for _ in 0..READS_PER_TURN {
            let mut room = 0;
            let r = self.framing.fill(|buf| {
                room = buf.len();
                recv(fd, buf)
            });
            let got = match r {
                Ok(0) => return ReadOutcome::Ended,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return ReadOutcome::Drained,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return ReadOutcome::Ended,
            };
            let id = chan.id;
            let mut replies: Vec<&'static [u8]> = Vec::new();
            let too_large = || Event::BadFrame { id, code: errors::FRAME_TOO_LARGE, reason: "size" };
            match &mut self.framing {
                Framing::Json(s) => s.frames(|frame| match frame {
                    Frame::TooLarge => events.push(too_large()),
                    Frame::Data(line) => route(id, line, events, &mut replies),
                }),
                Framing::Advanced(s) => s.frames(|frame| match frame {
                    LengthFrame::TooLarge => events.push(too_large()),
                    LengthFrame::Data(frame) => push_frame(events, id, frame),
                    LengthFrame::Owned(frame) => events.push(Event::Frames { id, batch: frame }),
                }),
            }
            for line in replies {
                // A closed or closing channel owes no replies.
                if let Ok(WriteResult::NeedsFlush(_)) = chan.write(line, 0) {
                    *needs_flush = true;
                }
            }
            // A short read emptied the socket: skip the recv that would only say EAGAIN (it
            // sits on every message's latency path).
            if got < room {
                return ReadOutcome::Drained;
            }
        }
        ReadOutcome::Yielded
    }
}

fn route(id: u32, line: &[u8], events: &mut Vec<Event>, replies: &mut Vec<&'static [u8]>) {
    if line.is_empty() {
        events.push(Event::BadFrame { id, code: errors::INVALID_MESSAGE, reason: "empty" });
        return;
    }
    let Ok(text) = std::str::from_utf8(line) else {
        events.push(Event::BadFrame { id, code: errors::INVALID_MESSAGE, reason: "utf8" });
        return;
    };
    match classify_json(line) {
        Kind::User => push_message(events, id, line),
        Kind::Internal => events.push(Event::Internal { id, json: text.to_owned() }),
        Kind::HandleAck { .. } => events.push(Event::BadFrame { id, code: errors::UNEXPECTED_ACK, reason: "ack" }),
        Kind::Handle => {
            // Every NODE_HANDLE gets exactly one reply; until handles are supported it is a NACK.
            replies.push(NACK_LINE);
            events.push(Event::BadFrame { id, code: errors::HANDLE_REFUSED, reason: "handle" });
        }
    }
}

/// Receives bytes; any file descriptors that ride along are closed, since none is expected.
fn recv(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    let mut iov = libc::iovec { iov_base: buf.as_mut_ptr().cast(), iov_len: buf.len() };
    // Room for many fds so none is truncated (the kernel would close them, but we want to see
    // and close them ourselves); 256 bytes as libuv uses.
    let mut cmsg = [0u64; 32];
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cmsg.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&cmsg);
    let n = unsafe { libc::recvmsg(fd, &mut msg, libc::MSG_CMSG_CLOEXEC | libc::MSG_DONTWAIT) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    close_received_fds(&msg);
    Ok(n as usize)
}

fn close_received_fds(msg: &libc::msghdr) {
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_RIGHTS {
                let data = libc::CMSG_DATA(c) as *const RawFd;
                let n = ((*c).cmsg_len as usize - libc::CMSG_LEN(0) as usize) / std::mem::size_of::<RawFd>();
                for i in 0..n {
                    libc::close(std::ptr::read_unaligned(data.add(i)));
                }
            }
            c = libc::CMSG_NXTHDR(msg, c);
        }
    }
}
