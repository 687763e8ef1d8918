//! A channel to one child: the socketpair end, its write queue, the handle protocol's send
//! side, and the read side's framing.
pub mod fds;
pub mod json_frame;
pub mod length_frame;
pub mod outbox;
pub mod read_buffer;
pub mod source;

use std::collections::{HashMap, VecDeque};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use crate::reactor::Token;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::engine::Msg;
use crate::errors;
use crate::event::{push_frame, push_message, Event, HandleFrame};
use crate::protocol::cluster;
use crate::protocol::guard;
use crate::protocol::handle::{classify_v8, json_handle_type, HandleType, V8Kind, ACK_V8, NACK_V8};
use crate::protocol::internal::{classify_json, Kind, ACK_LINE, NACK_LINE};
use json_frame::LineSplitter;
use length_frame::Frame as LengthFrame;
use length_frame::LengthSplitter;
use outbox::{AckId, Outbox};
use read_buffer::Frame;

/// The part of a channel both threads touch. JS writes through it; whichever thread owns
/// reading reads it (see `ReadSide`); the I/O thread flushes what the socket refused and is
/// the only one that closes the fd.
pub struct Channel {
    pub id: u32,
    /// Node's `advanced` serialization (length-prefixed V8 frames) rather than JSON lines.
    pub advanced: bool,
    state: Mutex<State>,
    read: Mutex<ReadSide>,
    /// Set by every write; lets the reader tell a one-way flood from a conversation.
    wrote: AtomicBool,
    /// Round-robin may hand it connections: cleared while its peer does not answer pings.
    routable: AtomicBool,
    pub counters: Counters,
}

/// What went through a channel, for `engineStats()`. Written by one thread each (out: the
/// writer, in: the I/O thread), once per batch, never per message.
#[derive(Default)]
pub struct Counters {
    pub bytes_in: AtomicU64,
    pub frames_in: AtomicU64,
    pub bytes_out: AtomicU64,
    pub frames_out: AtomicU64,
    /// Descriptors received with handle frames / sent with them.
    pub fds_in: AtomicU64,
    pub fds_out: AtomicU64,
    /// Received descriptors waiting for their handle frame.
    pub fds_waiting: AtomicU64,
}

/// A channel's state as `engineStats()` shows it.
pub struct Snapshot {
    /// Bytes written and not yet taken by the socket.
    pub queued: usize,
    /// A handle awaits the peer's ACK (its descriptor is held until then).
    pub handle_in_flight: bool,
    /// Sends held behind it.
    pub held: usize,
    pub open: bool,
    /// Bytes read for JS and not yet taken by it.
    pub unread: usize,
    /// Reading stopped until JS takes more of them.
    pub read_paused: bool,
    /// Which thread reads it now.
    pub reader: ReadOwner,
}

struct State {
    lifecycle: Lifecycle,
    outbox: Outbox,
    /// EPOLLOUT is armed (the I/O thread owns flushing until the queue drains).
    flushing: bool,
    /// Node's rule: one handle in flight, every later send held until its ACK or NACK.
    handle: HandleState,
    held: VecDeque<Held>,
    /// Read backpressure: bytes of frames read for JS and not yet taken by it.
    undelivered: usize,
    /// The I/O thread stopped reading for want of JS taking what it read.
    read_paused: bool,
}

/// The read side: the parser and the handle protocol's receiving state, behind a lock the
/// reading thread holds while it reads and hands on what it read, so frames reach JS in order
/// whichever thread read them.
pub struct ReadSide {
    pub reader: Reader,
    pub owner: ReadOwner,
    /// The I/O thread reads it for good: a cluster worker's channel (round-robin's replies
    /// must be read while JS is blocked), or one no JS thread watches.
    pinned: bool,
}

/// Which thread reads a channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadOwner {
    /// The JS thread, from its own loop while it is idle: a reply costs no thread hand-off,
    /// and a JS thread that is behind leaves the bytes in the socket, as Node does.
    Js,
    /// The I/O thread: what must go on while JS is blocked (a handle or internal reply awaited,
    /// a cluster worker's channel, a closing one), backpressure, and floods (read in larger
    /// pieces beside JS).
    Io,
    /// The I/O thread has stopped; JS starts once it has taken what the I/O thread read
    /// before (which keeps the order).
    ToJs,
}

/// Above this many bytes read and not yet taken by JS, the I/O thread stops reading a
/// channel, so a fast child backs up (its `send()` returns false) instead of growing us.
pub const READ_HIGH_WATER: usize = 1 << 20;
/// Reading resumes once JS has taken enough that less than this is left.
pub const READ_LOW_WATER: usize = 256 << 10;
/// While the engine awaits the peer's reply on a channel (a handle's ACK, a round-robin
/// `accepted`), reading goes on past the high-water mark up to this, so the reply is not stuck
/// behind user messages JS has not taken; memory stays bounded all the same.
pub const READ_HARD_CAP: usize = 16 << 20;

/// The handle protocol's side of sending: idle, or one handle awaiting the peer's ACK or NACK
/// (with how often it has been retransmitted).
enum HandleState {
    Idle,
    InFlight(InFlight),
}

impl HandleState {
    fn is_idle(&self) -> bool {
        matches!(self, HandleState::Idle)
    }

    /// The handle in flight, leaving the state idle.
    fn take(&mut self) -> Option<InFlight> {
        match std::mem::replace(self, HandleState::Idle) {
            HandleState::InFlight(f) => Some(f),
            HandleState::Idle => None,
        }
    }
}

/// A channel's life: open; closing once JS disconnected (what is queued is still written,
/// replies still go out, nothing new is taken); closed once flushed, or at the peer's EOF or
/// an error (the socket is gone and every write fails with EPIPE).
enum Lifecycle {
    Open(OwnedFd),
    Closing(OwnedFd),
    Closed,
}

impl Lifecycle {
    /// The socket, while there is one.
    fn fd(&self) -> Option<RawFd> {
        match self {
            Lifecycle::Open(fd) | Lifecycle::Closing(fd) => Some(fd.as_raw_fd()),
            Lifecycle::Closed => None,
        }
    }

    fn is_open(&self) -> bool {
        matches!(self, Lifecycle::Open(_))
    }

    /// Open → closing; a closing or closed channel stays as it is.
    fn close_when_flushed(&mut self) {
        *self = match std::mem::replace(self, Lifecycle::Closed) {
            Lifecycle::Open(fd) | Lifecycle::Closing(fd) => Lifecycle::Closing(fd),
            Lifecycle::Closed => Lifecycle::Closed,
        };
    }
}

/// A handle JS sends: a duplicate of its descriptor the channel owns, and whether Node would
/// retransmit it after a NACK (a `net.Socket` the sender let go of).
pub struct OutgoingHandle {
    /// Shared by the write queue and the handle in flight, both the channel's.
    pub fd: Arc<OwnedFd>,
    pub retransmit: bool,
    /// Who gets the descriptor back once the peer has answered (JS's handles: nobody, the
    /// channel closes its copy).
    pub hook: Option<HandleHook>,
}

/// The source a sent handle goes back to, and the key it knows the hand-off by.
#[derive(Clone, Copy, Debug)]
pub struct HandleHook {
    pub token: Token,
    pub key: u64,
}

struct InFlight {
    /// The descriptor sent (shared with the outbox until it has left).
    fd: Arc<OwnedFd>,
    /// The frame, for a handle Node would retransmit after a NACK.
    resend: Option<Vec<u8>>,
    retransmissions: u32,
    hook: Option<HandleHook>,
}

/// A handle sent with a hook, answered by the peer: its descriptor goes back to its sender.
pub struct Returned {
    pub hook: HandleHook,
    pub fd: OwnedFd,
    pub acked: bool,
}

impl InFlight {
    /// Gives the descriptor back to its hook, if it has one. The write queue has let go of
    /// its share once the frame left; a peer that answered before that gets a duplicate.
    fn returned(self, acked: bool) -> Option<Returned> {
        let hook = self.hook?;
        let fd = Arc::try_unwrap(self.fd).or_else(|shared| fds::dup(shared.as_raw_fd())).ok()?;
        Some(Returned { hook, fd, acked })
    }
}

/// A send made while a handle was in flight.
struct Held {
    data: Vec<u8>,
    handle: Option<OutgoingHandle>,
    ack: AckId,
}

/// Node retransmits a NACKed socket this many times, then gives up with a warning.
const MAX_RETRANSMISSIONS: u32 = 3;

/// What JS learns from a write.
pub enum WriteResult {
    /// Bytes still queued (0: the frame left synchronously).
    Queued(usize),
    /// The queue was empty and is not any more: the I/O thread must watch for writability.
    NeedsFlush(usize),
    /// Held behind the handle in flight.
    Held,
}

impl Channel {
    /// A channel the I/O thread reads (see `read_on_js_thread`).
    pub fn new(id: u32, fd: OwnedFd, framing: Framing) -> Self {
        let advanced = matches!(framing, Framing::Advanced(_));
        let read = ReadSide { reader: Reader::new(framing), owner: ReadOwner::Io, pinned: true };
        let state = State {
            lifecycle: Lifecycle::Open(fd),
            outbox: Outbox::default(),
            flushing: false,
            handle: HandleState::Idle,
            held: VecDeque::new(),
            undelivered: 0,
            read_paused: false,
        };
        Channel {
            id,
            advanced,
            state: Mutex::new(state),
            read: Mutex::new(read),
            wrote: AtomicBool::new(false),
            routable: AtomicBool::new(true),
            counters: Counters::default(),
        }
    }

    /// Whether round-robin may hand this channel's peer connections.
    pub fn routable(&self) -> bool {
        self.routable.load(Ordering::Relaxed)
    }

    /// I/O thread: the peer stopped (or started again) answering pings.
    pub fn set_routable(&self, routable: bool) {
        self.routable.store(routable, Ordering::Relaxed);
    }

    /// Before the engine has it: the JS thread watches it and reads it while it can.
    pub fn read_on_js_thread(&self) {
        let mut side = self.read_side();
        side.owner = ReadOwner::Js;
        side.pinned = false;
    }

    /// The read side, locked for reading or for a change of owner.
    pub fn read_side(&self) -> MutexGuard<'_, ReadSide> {
        crate::sync::lock(&self.read)
    }

    /// JS thread: the I/O thread reads from here on (for good if `pin`). Returns whether it
    /// did not already, and must be told.
    pub fn reading_to_io(&self, pin: bool) -> bool {
        let mut side = self.read_side();
        side.pinned |= pin;
        std::mem::replace(&mut side.owner, ReadOwner::Io) != ReadOwner::Io
    }

    /// JS thread: JS took what the I/O thread read before handing reading over; returns
    /// whether JS reads now (the I/O thread may have taken it back meanwhile).
    pub fn reading_to_js(&self) -> bool {
        let mut side = self.read_side();
        if side.owner == ReadOwner::ToJs {
            side.owner = ReadOwner::Js;
        }
        side.owner == ReadOwner::Js
    }

    /// I/O thread, reading: whether nothing needs the I/O thread to read on (see `ReadOwner`).
    pub fn may_read_on_js(&self, side: &ReadSide) -> bool {
        if side.pinned || side.reader.awaiting_reply() {
            return false;
        }
        let st = crate::sync::lock(&self.state);
        st.lifecycle.is_open() && st.handle.is_idle() && !st.read_paused
    }

    pub fn raw_fd(&self) -> Option<RawFd> {
        crate::sync::lock(&self.state).lifecycle.fd()
    }

    /// Called on the JS thread: `frames` whole frames, `handle` going with the first. Fails
    /// with `EPIPE` once the channel is closed or closing.
    pub fn write(
        &self,
        data: &[u8],
        frames: u32,
        handle: Option<OutgoingHandle>,
        ack: AckId,
    ) -> io::Result<WriteResult> {
        self.wrote.store(true, Ordering::Relaxed);
        self.count_out(data.len(), frames, handle.is_some());
        let mut st = crate::sync::lock(&self.state);
        let st = &mut *st;
        if !st.lifecycle.is_open() {
            return Err(io::Error::from_raw_os_error(libc::EPIPE));
        }
        if !st.handle.is_idle() {
            st.held.push_back(Held { data: data.to_vec(), handle, ack });
            return Ok(WriteResult::Held);
        }
        let queued = st.send(data, handle, ack)?;
        Ok(st.needs_flush(queued))
    }

    /// I/O thread: an ACK or NACK for the peer's handle. Replies bypass the held sends (a side
    /// with its own handle in flight still answers the peer's). Returns whether the I/O
    /// thread must flush.
    fn reply(&self, frame: &[u8]) -> bool {
        let mut st = crate::sync::lock(&self.state);
        let st = &mut *st;
        // A closed channel owes no replies.
        let Some(fd) = st.lifecycle.fd() else { return false };
        self.count_out(frame.len(), 1, false);
        match st.outbox.write(frame, None, 0, |d, f| fds::send(fd, d, f)) {
            Ok(queued) => matches!(st.needs_flush(queued), WriteResult::NeedsFlush(_)),
            Err(_) => false,
        }
    }

    /// I/O thread: the peer ACKed or NACKed. Retransmits or releases the handle in flight and
    /// sends what was held behind it, up to the next handle. Returns the handle answered for
    /// good, if it goes back to a hook.
    fn settle(&self, ack: bool, events: &mut Vec<Event>) -> Option<Returned> {
        // Handles are a conversation (each waits for its reply), never a flood to coalesce.
        self.wrote.store(true, Ordering::Relaxed);
        let mut st = crate::sync::lock(&self.state);
        let st = &mut *st;
        let Some(in_flight) = st.handle.take() else {
            events.push(Event::BadFrame { id: self.id, code: errors::UNEXPECTED_ACK, reason: "ack" });
            return None;
        };
        st.settle(self.id, ack, in_flight, events).unwrap_or_else(|e| {
            events.push(Event::WriteFailed { id: self.id, errno: e.raw_os_error().unwrap_or(libc::EPIPE) });
            st.discard_queue();
            None
        })
    }

    /// I/O thread: how many more bytes of frames for JS may be read now; `awaiting_reply`
    /// when another source expects the peer's reply (a handle in flight counts as well).
    pub fn read_room(&self, awaiting_reply: bool) -> usize {
        let st = crate::sync::lock(&self.state);
        st.read_limit(awaiting_reply).saturating_sub(st.undelivered)
    }

    /// I/O thread: `bytes` of frames for JS were read. Returns whether reading must pause
    /// (until `delivered` or `resume_for_reply` says otherwise).
    pub fn read_for_js(&self, bytes: usize, awaiting_reply: bool) -> bool {
        let mut st = crate::sync::lock(&self.state);
        st.undelivered += bytes;
        st.read_paused = st.undelivered >= st.read_limit(awaiting_reply);
        st.read_paused
    }

    /// JS thread: JS took `bytes` of what was read. Returns whether the I/O thread must be
    /// told to resume reading.
    pub fn delivered(&self, bytes: usize) -> bool {
        let mut st = crate::sync::lock(&self.state);
        st.undelivered = st.undelivered.saturating_sub(bytes);
        let resume = st.read_paused && st.undelivered < READ_LOW_WATER;
        if resume {
            st.read_paused = false;
        }
        resume
    }

    /// A handle went out whose ACK must be read: returns whether reading was paused (and is
    /// now to resume, up to the hard cap).
    pub fn resume_for_reply(&self) -> bool {
        std::mem::take(&mut crate::sync::lock(&self.state).read_paused)
    }

    /// JS thread: bytes written to the channel and not yet taken by the socket.
    pub fn pending(&self) -> usize {
        crate::sync::lock(&self.state).outbox.pending()
    }

    fn count_out(&self, bytes: usize, frames: u32, fd: bool) {
        self.counters.bytes_out.fetch_add(bytes as u64, Ordering::Relaxed);
        self.counters.frames_out.fetch_add(u64::from(frames), Ordering::Relaxed);
        if fd {
            self.counters.fds_out.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The channel's state for `engineStats()`.
    pub fn snapshot(&self) -> Snapshot {
        let reader = self.read_side().owner;
        let st = crate::sync::lock(&self.state);
        Snapshot {
            queued: st.outbox.pending(),
            handle_in_flight: !st.handle.is_idle(),
            held: st.held.len(),
            open: st.lifecycle.is_open(),
            unread: st.undelivered,
            read_paused: st.read_paused,
            reader,
        }
    }

    /// Open and not closing: writes are taken.
    pub fn is_open(&self) -> bool {
        let st = crate::sync::lock(&self.state);
        st.lifecycle.is_open()
    }

    /// Whether a handle sent now would go out at once: open, not closing, none in flight.
    pub fn can_take_handle(&self) -> bool {
        let st = crate::sync::lock(&self.state);
        st.lifecycle.is_open() && st.handle.is_idle()
    }

    /// JS thread: how many sends are held behind a handle in flight (`None`: no handle is).
    pub fn held(&self) -> Option<usize> {
        let st = crate::sync::lock(&self.state);
        (!st.handle.is_idle()).then(|| st.held.len())
    }

    /// Asks for a close once everything queued is written (and no handle awaits its reply).
    pub fn request_close(&self) {
        crate::sync::lock(&self.state).lifecycle.close_when_flushed();
    }

    /// I/O thread: writes what it can. `Ok(true)` when the queue has drained.
    pub fn flush(&self, events: &mut Vec<Event>) -> io::Result<bool> {
        let mut st = crate::sync::lock(&self.state);
        let st = &mut *st;
        let Some(fd) = st.lifecycle.fd() else { return Ok(true) };
        if let Some(ack) = st.outbox.flush(|d, f| fds::send(fd, d, f))? {
            events.push(Event::Written { id: self.id, ack });
        }
        let drained = st.outbox.pending() == 0;
        if drained {
            st.flushing = false;
        }
        Ok(drained)
    }

    /// JS asked to close and nothing is left to send or to wait for.
    pub fn ready_to_close(&self) -> bool {
        let st = crate::sync::lock(&self.state);
        matches!(st.lifecycle, Lifecycle::Closing(_)) && st.idle()
    }

    /// I/O thread: closes the fd (after the caller removed it from epoll, and read to EOF or
    /// an error); later writes fail. Returns whether unsent frames were lost with it (their
    /// descriptors are closed), and the handle in flight if it goes back to a hook: the peer
    /// never answered it, so it never took it (a Node peer ACKs a handle as it reads it), and a
    /// connection the cluster primary handed to a worker that left goes to another worker.
    pub fn close(&self) -> (bool, Option<Returned>) {
        let mut st = crate::sync::lock(&self.state);
        st.lifecycle = Lifecycle::Closed;
        let lost = st.outbox.pending() > 0 || !st.held.is_empty();
        (lost, st.discard_queue().and_then(|in_flight| in_flight.returned(false)))
    }

    /// I/O thread: drops what can no longer be written after a write error. A handle in
    /// flight closes: its answer may still be on the way (the peer may have taken it).
    pub fn discard_queue(&self) {
        crate::sync::lock(&self.state).discard_queue();
    }
}

impl State {
    /// Sends (or queues) now; a handle goes in flight.
    fn send(&mut self, data: &[u8], handle: Option<OutgoingHandle>, ack: AckId) -> io::Result<usize> {
        let handle_fd = handle.map(|h| {
            let fd = h.fd;
            let resend = h.retransmit.then(|| data.to_vec());
            self.handle = HandleState::InFlight(InFlight { fd: fd.clone(), resend, retransmissions: 0, hook: h.hook });
            fd
        });
        let is_handle = handle_fd.is_some();
        let sent = self.send_frame(data, handle_fd, ack);
        if sent.is_err() && is_handle {
            // The frame never left: nothing is awaiting a reply.
            self.handle = HandleState::Idle;
        }
        sent
    }

    fn send_frame(&mut self, data: &[u8], fd: Option<Arc<OwnedFd>>, ack: AckId) -> io::Result<usize> {
        let Some(sock) = self.lifecycle.fd() else {
            return Err(io::Error::from_raw_os_error(libc::EPIPE));
        };
        self.outbox.write(data, fd, ack, |d, f| fds::send(sock, d, f))
    }

    fn needs_flush(&mut self, queued: usize) -> WriteResult {
        if queued > 0 && !self.flushing {
            self.flushing = true;
            return WriteResult::NeedsFlush(queued);
        }
        WriteResult::Queued(queued)
    }

    fn settle(
        &mut self,
        id: u32,
        ack: bool,
        mut in_flight: InFlight,
        events: &mut Vec<Event>,
    ) -> io::Result<Option<Returned>> {
        if crate::engine::tracing() {
            let text = format!(
                "handle {} (retransmissions: {}, {} send(s) held behind it)",
                if ack { "ACKed" } else { "NACKed" },
                in_flight.retransmissions,
                self.held.len()
            );
            events.push(Event::Trace { id, text });
        }
        let returned = if ack {
            in_flight.returned(true)
        } else {
            match &in_flight.resend {
                Some(_) if in_flight.retransmissions == MAX_RETRANSMISSIONS => {
                    events.push(Event::HandleLost { id });
                    in_flight.returned(false)
                }
                Some(frame) => {
                    // Sent again as it was (Node wraps it in a second envelope, which a Node
                    // receiver answers twice; the plain frame gets one answer).
                    in_flight.retransmissions += 1;
                    let (frame, fd) = (frame.clone(), in_flight.fd.clone());
                    self.handle = HandleState::InFlight(in_flight);
                    let queued = self.send_frame(&frame, Some(fd), 0)?;
                    self.needs_flush(queued);
                    return Ok(None);
                }
                None => in_flight.returned(false),
            }
        };
        while self.handle.is_idle() {
            let Some(held) = self.held.pop_front() else { break };
            let queued = self.send(&held.data, held.handle, held.ack)?;
            if queued == 0 && held.ack != 0 {
                events.push(Event::Written { id, ack: held.ack });
            }
            self.needs_flush(queued);
        }
        Ok(returned)
    }

    fn read_limit(&self, awaiting_reply: bool) -> usize {
        if awaiting_reply || !self.handle.is_idle() {
            READ_HARD_CAP
        } else {
            READ_HIGH_WATER
        }
    }

    fn idle(&self) -> bool {
        self.outbox.pending() == 0 && self.handle.is_idle() && self.held.is_empty()
    }

    /// Drops the write queue and what is held; returns the handle that was in flight.
    fn discard_queue(&mut self) -> Option<InFlight> {
        self.outbox = Outbox::default();
        self.flushing = false;
        self.held.clear();
        self.handle.take()
    }
}

/// The read side's parser and receiving state (in `ReadSide`).
pub struct Reader {
    framing: Framing,
    /// Descriptors received and not yet matched to a handle frame, oldest first.
    fds: VecDeque<OwnedFd>,
    /// Internal replies other sources expect from the peer: the key the reply names (its
    /// `ack`) → who expects it.
    replies: HashMap<u64, Token>,
    /// When the last read returned data.
    last_data: Instant,
}

/// How the peer is talking, from what happened since the last read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pace {
    /// We wrote since, or await the peer's reply: a round trip, never delayed, read by JS
    /// where it can be.
    Conversation,
    /// Data keeps arriving and we are not answering: a one-way stream, read by the I/O thread
    /// in larger pieces.
    Flood,
    /// Neither: the first read after a pause.
    Quiet,
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

    /// Part of a frame has arrived and the rest has not.
    fn buffering(&self) -> bool {
        match self {
            Framing::Json(s) => s.buffering(),
            Framing::Advanced(s) => s.buffering(),
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
    pub fn new(framing: Framing) -> Self {
        Reader { framing, fds: VecDeque::new(), replies: HashMap::new(), last_data: Instant::now() - FLOOD_GAP }
    }

    /// The peer's internal reply naming `key` goes to `token`.
    pub fn expect_reply(&mut self, key: u64, token: Token) {
        self.replies.insert(key, token);
    }

    /// How the peer is talking, as of this read (it resets what it looks at). A reply the
    /// engine awaits makes it a conversation: a cluster worker's ACK and `accepted` reply come
    /// close together with nothing written between them, and the second must not wait out a
    /// flood's pause.
    pub fn pace(&self, chan: &Channel) -> Pace {
        if chan.wrote.swap(false, Ordering::Relaxed) || self.awaiting_reply() {
            Pace::Conversation
        } else if self.last_data.elapsed() < FLOOD_GAP {
            Pace::Flood
        } else {
            Pace::Quiet
        }
    }

    /// Whether another source awaits the peer's reply on this channel.
    /// `token` expects no more replies (its source stopped before they came).
    pub fn forget_replies_to(&mut self, token: Token) {
        self.replies.retain(|_, t| *t != token);
    }

    pub fn awaiting_reply(&self) -> bool {
        !self.replies.is_empty()
    }

    /// Reads what is available from `fd` (the channel's socket, or the JS thread's duplicate
    /// of it) and turns complete frames into events; what else the frames asked of the I/O
    /// thread goes into `effects`. Stops once frames for JS of `room` bytes have been read
    /// (one read may take a frame more).
    pub fn read(
        &mut self,
        chan: &Channel,
        fd: RawFd,
        room: usize,
        events: &mut Vec<Event>,
        effects: &mut ReadEffects,
    ) -> ReadOutcome {
        self.last_data = Instant::now();
        for _ in 0..READS_PER_TURN {
            if effects.for_js >= room {
                return ReadOutcome::Yielded;
            }
            let mut room = 0;
            let mut truncated = false;
            let fds_before = self.fds.len();
            let received = &mut self.fds;
            let r = self.framing.fill(|buf| {
                room = buf.len();
                let r = fds::recv(fd, buf, received)?;
                truncated = r.truncated;
                Ok::<_, io::Error>(r.len)
            });
            let got = match r {
                Ok(0) => return ReadOutcome::Ended,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return ReadOutcome::Drained,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return ReadOutcome::Ended,
            };
            let id = chan.id;
            if truncated {
                events.push(Event::BadFrame { id, code: errors::UNEXPECTED_HANDLE, reason: "truncated" });
            }
            let fds_received = self.fds.len() - fds_before;
            let mut incoming = Incoming {
                chan,
                events: &mut *events,
                fds: &mut self.fds,
                replies: &mut self.replies,
                effects: &mut *effects,
            };
            let mut frames = 0u64;
            match &mut self.framing {
                Framing::Json(s) => s.frames(|frame| {
                    frames += 1;
                    match frame {
                        Frame::TooLarge => incoming.too_large(),
                        Frame::Data(line) => incoming.json(line),
                    }
                }),
                Framing::Advanced(s) => s.frames(|frame| {
                    frames += 1;
                    match frame {
                        LengthFrame::TooLarge => incoming.too_large(),
                        LengthFrame::Data(frame) => incoming.v8(frame, |f| f.to_vec()),
                        LengthFrame::Owned(frame) => incoming.v8_owned(frame),
                    }
                }),
            }
            let counters = &chan.counters;
            counters.bytes_in.fetch_add(got as u64, Ordering::Relaxed);
            counters.frames_in.fetch_add(frames, Ordering::Relaxed);
            if fds_received > 0 {
                counters.fds_in.fetch_add(fds_received as u64, Ordering::Relaxed);
            }
            // Node's sender attaches a handle's descriptor to the first byte of its frame, so
            // once no frame is partly read, every descriptor received has had its frame.
            if !self.fds.is_empty() && !self.framing.buffering() {
                self.fds.clear();
                events.push(Event::BadFrame { id, code: errors::UNEXPECTED_HANDLE, reason: "fd" });
            }
            counters.fds_waiting.store(self.fds.len() as u64, Ordering::Relaxed);
            // A short read emptied the socket: skip the recv that would only say EAGAIN (it
            // sits on every message's latency path).
            if got < room {
                return ReadOutcome::Drained;
            }
        }
        ReadOutcome::Yielded
    }
}

/// What a read asks of the I/O thread besides delivering events.
#[derive(Default)]
pub struct ReadEffects {
    /// The handle protocol queued output that must be flushed.
    pub needs_flush: bool,
    /// A handle without a hook was answered: the channel may take another.
    pub settled: bool,
    /// For other sources: handles going back to their hooks, replies they expected.
    pub posts: Vec<(Token, Msg)>,
    /// Bytes of the events for JS, as `Channel::delivered` counts them back.
    pub for_js: usize,
}

/// Routes the frames of one read.
struct Incoming<'a> {
    chan: &'a Channel,
    events: &'a mut Vec<Event>,
    fds: &'a mut VecDeque<OwnedFd>,
    replies: &'a mut HashMap<u64, Token>,
    effects: &'a mut ReadEffects,
}

impl Incoming<'_> {
    /// A frame over `maxFrameSize`, skipped. A Node sender attaches a descriptor only to a
    /// handle frame's first byte, so one waiting now came with this frame: it is closed and
    /// NACKed, or the sender would wait for a reply forever.
    fn too_large(&mut self) {
        self.events.push(Event::BadFrame { id: self.chan.id, code: errors::FRAME_TOO_LARGE, reason: "size" });
        if self.fds.pop_front().is_some() {
            let nack = if self.chan.advanced { NACK_V8 } else { NACK_LINE };
            self.effects.needs_flush |= self.chan.reply(nack);
        }
    }

    fn json(&mut self, line: &[u8]) {
        let id = self.chan.id;
        if line.is_empty() {
            self.events.push(Event::BadFrame { id, code: errors::INVALID_MESSAGE, reason: "empty" });
            return;
        }
        let Ok(text) = std::str::from_utf8(line) else {
            self.events.push(Event::BadFrame { id, code: errors::INVALID_MESSAGE, reason: "utf8" });
            return;
        };
        match classify_json(line) {
            Kind::User => {
                self.effects.for_js += line.len() + 2;
                push_message(self.events, id, line);
            }
            Kind::Internal => {
                if self.replies.is_empty() || !self.expected_reply(cluster::reply_json(line)) {
                    self.expected_pong(|| guard::pong_json(line));
                    self.effects.for_js += text.len();
                    self.events.push(Event::Internal { id, json: text.to_owned() });
                }
            }
            Kind::HandleAck { ack } => self.settle(ack),
            Kind::Handle => {
                let ty = json_handle_type(line);
                self.handle(ty.as_deref(), || HandleFrame::Json(text.to_owned()), (ACK_LINE, NACK_LINE));
            }
        }
    }

    fn v8(&mut self, frame: &[u8], owned: impl FnOnce(&[u8]) -> Vec<u8>) {
        match classify_v8(&frame[length_frame::HEADER..]) {
            V8Kind::Other => {
                if self.replies.is_empty() || !self.expected_reply(cluster::reply_v8(&frame[length_frame::HEADER..])) {
                    self.expected_pong(|| guard::pong_v8(&frame[length_frame::HEADER..]));
                    self.effects.for_js += frame.len();
                    push_frame(self.events, self.chan.id, frame);
                }
            }
            V8Kind::HandleAck { ack } => self.settle(ack),
            V8Kind::Handle(ty) => self.handle(ty, || HandleFrame::V8(owned(frame)), (ACK_V8, NACK_V8)),
        }
    }

    fn v8_owned(&mut self, frame: Vec<u8>) {
        match classify_v8(&frame[length_frame::HEADER..]) {
            V8Kind::Other => {
                self.effects.for_js += frame.len();
                self.events.push(Event::Frames { id: self.chan.id, batch: frame });
            }
            V8Kind::HandleAck { ack } => self.settle(ack),
            V8Kind::Handle(ty) => {
                let ty = ty.map(str::to_owned);
                self.handle(ty.as_deref(), || HandleFrame::V8(frame), (ACK_V8, NACK_V8));
            }
        }
    }

    fn settle(&mut self, ack: bool) {
        let returned = self.chan.settle(ack, self.events);
        self.effects.needs_flush = true;
        match returned {
            Some(Returned { hook, fd, acked }) => {
                if !acked {
                    // Refused: no reply to it will come.
                    self.replies.remove(&hook.key);
                }
                let msg = Msg::HandleReturned { chan: self.chan.id, key: hook.key, fd, acked };
                self.effects.posts.push((hook.token, msg));
            }
            None => self.effects.settled = true,
        }
    }

    /// An internal reply another source expects, if `reply` is one: it goes there, not to JS.
    fn expected_reply(&mut self, reply: Option<cluster::Reply>) -> bool {
        let Some(reply) = reply else { return false };
        let Some(token) = self.replies.remove(&reply.ack) else { return false };
        self.effects.posts.push((token, Msg::Reply { chan: self.chan.id, reply }));
        true
    }

    /// A pong to a ping another source sent: it is told, and JS still gets the message (the
    /// preload's counters travel with it).
    fn expected_pong(&mut self, seq: impl FnOnce() -> Option<u64>) {
        if self.replies.is_empty() {
            return;
        }
        let Some(seq) = seq() else { return };
        if let Some(token) = self.replies.remove(&seq) {
            self.effects.posts.push((token, Msg::Pong { seq }));
        }
    }

    /// A `NODE_HANDLE` frame: exactly one ACK or NACK, and the descriptor goes to JS or is
    /// closed.
    fn handle(&mut self, ty: Option<&str>, frame: impl FnOnce() -> HandleFrame, (ack, nack): (&[u8], &[u8])) {
        let id = self.chan.id;
        let problem = match self.fds.pop_front() {
            None => Some((errors::MISSING_HANDLE, "fd")),
            Some(fd) => match ty.and_then(HandleType::parse) {
                None => Some((errors::INVALID_HANDLE_TYPE, "type")),
                Some(ty) => match fds::kind(fd.as_raw_fd()) {
                    // libuv expects received descriptors non-blocking.
                    Some(kind) if ty.accepts(kind) && fds::set_nonblocking(fd.as_raw_fd()).is_ok() => {
                        self.effects.needs_flush |= self.chan.reply(ack);
                        self.events.push(Event::Handle { id, frame: frame(), fd, kind });
                        None
                    }
                    _ => Some((errors::INVALID_HANDLE_TYPE, "fd")),
                },
            },
        };
        if let Some((code, reason)) = problem {
            self.effects.needs_flush |= self.chan.reply(nack);
            self.events.push(Event::BadFrame { id, code, reason });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn channel() -> Channel {
        let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
        Channel::new(1, a.into(), Framing::new(false, 1 << 20))
    }

    #[test]
    fn reading_pauses_at_the_high_water_mark_and_resumes_below_the_low() {
        let chan = channel();
        assert_eq!(chan.read_room(false), READ_HIGH_WATER);
        assert!(!chan.read_for_js(READ_HIGH_WATER - 1, false));
        assert!(chan.read_for_js(1, false));
        assert_eq!(chan.read_room(false), 0);
        // Taking some, but not down to the low-water mark, does not resume.
        assert!(!chan.delivered(READ_HIGH_WATER - READ_LOW_WATER));
        assert!(chan.snapshot().read_paused);
        assert!(chan.delivered(1));
        assert!(!chan.snapshot().read_paused);
        // Resumed once only.
        assert!(!chan.delivered(READ_LOW_WATER));
        assert_eq!(chan.snapshot().unread, 0);
    }

    #[test]
    fn data_close_together_is_a_flood_unless_we_wrote_or_await_a_reply() {
        let chan = channel();
        let mut reader = Reader::new(Framing::new(false, 1 << 20));
        assert_eq!(reader.pace(&chan), Pace::Quiet);
        reader.last_data = Instant::now();
        assert_eq!(reader.pace(&chan), Pace::Flood);
        chan.wrote.store(true, Ordering::Relaxed);
        assert_eq!(reader.pace(&chan), Pace::Conversation);
        assert_eq!(reader.pace(&chan), Pace::Flood);
        reader.expect_reply(7, 1);
        assert_eq!(reader.pace(&chan), Pace::Conversation);
    }

    #[test]
    fn an_awaited_reply_is_read_past_the_high_water_mark_up_to_the_hard_cap() {
        let chan = channel();
        assert!(chan.read_for_js(READ_HIGH_WATER, false));
        // A handle goes out: reading resumes, once, and may go on to the hard cap.
        assert!(chan.resume_for_reply());
        assert!(!chan.resume_for_reply());
        assert_eq!(chan.read_room(true), READ_HARD_CAP - READ_HIGH_WATER);
        assert!(!chan.read_for_js(READ_HARD_CAP - READ_HIGH_WATER - 1, true));
        assert!(chan.read_for_js(1, true));
        // The reply came: the high-water mark applies again.
        assert_eq!(chan.read_room(false), 0);
    }
}
