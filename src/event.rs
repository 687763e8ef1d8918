//! What the engine reports to JS. Events are queued in order and drained by JS in one call.

use std::os::fd::OwnedFd;

use crate::channel::outbox::AckId;
use crate::protocol::handle::FdKind;

/// How a child ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    Code(i32),
    Signal(i32),
    /// The status was reaped by someone else (e.g. the user set `SIGCHLD` to `SIG_IGN`).
    Unknown,
}

#[derive(Debug)]
pub enum Event {
    /// User frames of one channel, in order, as the text of a JSON array missing its closing
    /// `]` (frames separated by `,\n`, which no frame contains), so JS parses them in one call.
    Messages {
        id: u32,
        batch: Vec<u8>,
        count: u32,
    },
    /// Frames of one `advanced`-mode channel, in order, back to back with their length
    /// headers; JS deserialises them (and tells internal messages from user ones).
    Frames {
        id: u32,
        batch: Vec<u8>,
    },
    /// One internal (`NODE_*`) message, as JSON text.
    Internal {
        id: u32,
        json: String,
    },
    /// A `NODE_HANDLE` frame whose descriptor the engine accepted (and ACKed). JS owns `fd`
    /// from here on.
    Handle {
        id: u32,
        frame: HandleFrame,
        fd: OwnedFd,
        kind: FdKind,
    },
    /// A handle NACKed after Node's number of retransmissions was given up.
    HandleLost {
        id: u32,
    },
    /// A frame the peer should not have sent; the channel carries on.
    BadFrame {
        id: u32,
        code: &'static str,
        reason: &'static str,
    },
    /// Every frame up to the one with this ack id has left the process.
    Written {
        id: u32,
        ack: AckId,
    },
    /// Writing failed; queued frames are lost and the channel is closing.
    WriteFailed {
        id: u32,
        errno: i32,
    },
    /// The channel is closed (peer EOF, error, or a local close once flushed).
    Closed {
        id: u32,
    },
    Exit {
        id: u32,
        status: ExitStatus,
    },
    /// The engine's work for this id failed (a panic on the I/O thread): the channel is
    /// closed, or the child is no longer watched.
    /// A round-robin group closed its first connection for want of descriptors.
    Shed {
        id: u32,
    },
    /// A trace record for `NODE_DEBUG=native-cluster` (only while JS asked for them).
    Trace {
        id: u32,
        text: String,
    },
    /// What a supervisor's guard saw of its worker.
    Guard {
        id: u32,
        report: GuardReport,
    },
    /// A log sink failed to write (or to reopen its file) after it last wrote well, or for the
    /// first time: one event per such episode, however many writes fail in it.
    LogFailed {
        id: u32,
        errno: i32,
    },
    Failed {
        id: u32,
        /// `channel`, `child`, `group`, `log`, `guard` or `reaper`.
        source: &'static str,
        what: String,
    },
    /// For the addon, not JS: the JS thread reads this channel again from here on.
    ReadByJs {
        id: u32,
    },
}

impl Event {
    /// The id of the child, channel or group it is about.
    pub fn id(&self) -> u32 {
        match self {
            Event::Messages { id, .. }
            | Event::Frames { id, .. }
            | Event::Internal { id, .. }
            | Event::Handle { id, .. }
            | Event::HandleLost { id }
            | Event::BadFrame { id, .. }
            | Event::Written { id, .. }
            | Event::WriteFailed { id, .. }
            | Event::Closed { id }
            | Event::Exit { id, .. }
            | Event::Shed { id }
            | Event::Trace { id, .. }
            | Event::Guard { id, .. }
            | Event::LogFailed { id, .. }
            | Event::Failed { id, .. }
            | Event::ReadByJs { id } => *id,
        }
    }

    /// Bytes of frames read for JS it carries, as the channel counted them when reading
    /// (each user frame with the 2 bytes that join it to the next).
    pub fn bytes_for_js(&self) -> usize {
        match self {
            Event::Messages { batch, .. } => batch.len() + 1,
            Event::Frames { batch, .. } => batch.len(),
            Event::Internal { json, .. } => json.len(),
            _ => 0,
        }
    }

    /// The last event of a channel, child or group (after which its id may be forgotten).
    pub fn is_last(&self) -> bool {
        matches!(self, Event::Closed { .. } | Event::Exit { .. } | Event::Failed { .. })
    }
}

/// A guard's finding about its worker.
#[derive(Debug)]
pub enum GuardReport {
    /// A ping went unanswered for a tick: no more connections are routed to it (until it
    /// answers).
    Missed,
    /// Silent for the hang timeout; `handed_after_miss`: descriptors sent to it since it first
    /// missed a ping.
    Hung { silent_ms: u64, handed_after_miss: u64 },
    /// A ping answered, after this many microseconds.
    Answered { rtt_us: u64 },
    /// Resident bytes of the worker and its descendants.
    Rss(u64),
}

/// A handle frame as it arrived: JSON text, or an advanced-mode frame with its header.
#[derive(Debug)]
pub enum HandleFrame {
    Json(String),
    V8(Vec<u8>),
}

/// Above this size a batch is cut, so no JS string approaches V8's limit.
const MAX_BATCH: usize = 64 << 20;

/// Appends a user frame, extending the previous batch of the same channel when possible.
pub fn push_message(events: &mut Vec<Event>, id: u32, frame: &[u8]) {
    if let Some(Event::Messages { id: last, batch, count }) = events.last_mut() {
        if *last == id && batch.len() + frame.len() < MAX_BATCH {
            batch.extend_from_slice(b",\n");
            batch.extend_from_slice(frame);
            *count += 1;
            return;
        }
    }
    let mut batch = Vec::with_capacity(frame.len() + 64);
    batch.push(b'[');
    batch.extend_from_slice(frame);
    events.push(Event::Messages { id, batch, count: 1 });
}

/// Advanced-mode batches stop growing at this size; a frame this large arrives in a buffer
/// of its own, which is never copied into another.
const MAX_FRAMES_BATCH: usize = 1 << 20;

/// Appends an advanced-mode frame, extending the previous batch of the same channel when
/// possible.
pub fn push_frame(events: &mut Vec<Event>, id: u32, frame: &[u8]) {
    if let Some(Event::Frames { id: last, batch }) = events.last_mut() {
        if *last == id && batch.len() + frame.len() < MAX_FRAMES_BATCH {
            batch.extend_from_slice(frame);
            return;
        }
    }
    events.push(Event::Frames { id, batch: frame.to_vec() });
}

/// Moves `more` behind `events`, joining a batch split across the boundary.
pub fn append(events: &mut Vec<Event>, more: Vec<Event>) {
    let mut it = more.into_iter();
    if let Some(first) = it.next() {
        match (events.last_mut(), first) {
            (Some(Event::Messages { id, batch, count }), Event::Messages { id: id2, batch: b2, count: c2 })
                if *id == id2 && batch.len() + b2.len() < MAX_BATCH =>
            {
                batch.extend_from_slice(b",\n");
                batch.extend_from_slice(&b2[1..]);
                *count += c2;
            }
            (Some(Event::Frames { id, batch }), Event::Frames { id: id2, batch: b2 })
                if *id == id2 && batch.len() + b2.len() < MAX_FRAMES_BATCH =>
            {
                batch.extend_from_slice(&b2);
            }
            (_, first) => events.push(first),
        }
    }
    events.extend(it);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(e: &Event) -> String {
        match e {
            Event::Messages { batch, .. } => String::from_utf8(batch.clone()).unwrap() + "]",
            _ => panic!(),
        }
    }

    #[test]
    fn batches_join_into_one_json_array() {
        let mut a = Vec::new();
        push_message(&mut a, 1, b"1");
        push_message(&mut a, 1, b"{\"a\":2}");
        push_message(&mut a, 2, b"3");
        let mut b = Vec::new();
        push_message(&mut b, 2, b"4");
        push_message(&mut b, 1, b"5");
        append(&mut a, b);
        assert_eq!(a.len(), 3);
        assert_eq!(text(&a[0]), "[1,\n{\"a\":2}]");
        assert_eq!(text(&a[1]), "[3,\n4]");
        assert_eq!(text(&a[2]), "[5]");
    }

    #[test]
    fn batches_count_back_what_the_reader_counted() {
        // The reader counts each user frame with 2 bytes; a channel's count must return to
        // zero once JS has taken every batch, however they were joined.
        let frames: [&[u8]; 4] = [b"1", b"{\"a\":2}", b"333", b"\"x\""];
        let counted: usize = frames.iter().map(|f| f.len() + 2).sum();
        let mut a = Vec::new();
        push_message(&mut a, 1, frames[0]);
        push_message(&mut a, 1, frames[1]);
        let mut b = Vec::new();
        push_message(&mut b, 1, frames[2]);
        push_message(&mut b, 1, frames[3]);
        append(&mut a, b);
        assert_eq!(a.len(), 1);
        assert_eq!(a.iter().map(Event::bytes_for_js).sum::<usize>(), counted);
        let mut f = Vec::new();
        push_frame(&mut f, 1, b"abcd");
        append(&mut f, vec![Event::Frames { id: 1, batch: b"ef".to_vec() }]);
        assert_eq!(f.iter().map(Event::bytes_for_js).sum::<usize>(), 6);
    }
}
