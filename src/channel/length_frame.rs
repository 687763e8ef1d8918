//! Length-prefixed framing of Node's `advanced` serialization mode (pure: no I/O, no napi).
//!
//! A frame is a big-endian `u32` length and that many payload bytes. The length is unsigned:
//! Node 20 reads it as a signed 32-bit number and fails on frames of 2 GiB and more; here
//! they are whole frames like any other. A frame longer than `max_frame` is reported once and
//! skipped by its length, so the stream stays in sync and memory bounded.

use super::read_buffer::{ReadBuffer, MIN_READ};

/// One unit of advanced-mode input.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    /// A complete frame, its length header included.
    Data(&'a [u8]),
    /// A large complete frame, handed over with the buffer it was read into (no copy).
    Owned(Vec<u8>),
    /// A frame over the size limit; its bytes are skipped.
    TooLarge,
}

pub const HEADER: usize = 4;

/// Frames at least this large are handed over with their buffer rather than copied.
const OWNED_FRAME: usize = 1 << 20;

pub struct LengthSplitter {
    input: ReadBuffer,
    max_frame: usize,
    /// Payload bytes of a skipped frame still to discard.
    skipping: u64,
}

/// The payload length a frame header announces.
pub fn payload_len(header: [u8; HEADER]) -> u64 {
    u64::from(u32::from_be_bytes(header))
}

impl LengthSplitter {
    pub fn new(max_frame: usize) -> Self {
        LengthSplitter { input: ReadBuffer::default(), max_frame, skipping: 0 }
    }

    /// Lets `read` fill spare room at the end of the buffer and keeps what it reports filled.
    pub fn fill<E>(&mut self, read: impl FnOnce(&mut [u8]) -> Result<usize, E>) -> Result<usize, E> {
        // Room for the rest of the pending frame, but at most as much again as has arrived:
        // O(n) copies in total, and a header alone never commits memory for its whole length.
        let pending = self.input.pending();
        let missing = match self.skipping {
            0 if pending.len() >= HEADER => {
                let len = payload_len(pending[..HEADER].try_into().unwrap());
                // An oversized frame is skipped, never buffered: no room is made for it.
                if len > self.max_frame as u64 {
                    0
                } else {
                    (HEADER + len as usize).saturating_sub(pending.len()).min(pending.len().max(MIN_READ))
                }
            }
            _ => 0,
        };
        self.input.fill(MIN_READ.max(missing), read)
    }

    /// Appends bytes (for callers that already hold the data, and for tests).
    pub fn push(&mut self, data: &[u8]) {
        self.input.push(data);
    }

    /// Calls `f` for every complete frame (header included) now available, in order.
    pub fn frames(&mut self, mut f: impl FnMut(Frame<'_>)) {
        loop {
            if self.skipping > 0 {
                let n = (self.input.pending().len() as u64).min(self.skipping);
                self.input.consume(n as usize);
                self.skipping -= n;
                if self.skipping > 0 {
                    return;
                }
            }
            let pending = self.input.pending();
            if pending.len() < HEADER {
                return;
            }
            let len = payload_len(pending[..HEADER].try_into().unwrap());
            if len > self.max_frame as u64 {
                f(Frame::TooLarge);
                self.input.consume(HEADER);
                self.skipping = len;
                continue;
            }
            let total = HEADER + len as usize;
            if pending.len() < total {
                return;
            }
            if total >= OWNED_FRAME {
                f(Frame::Owned(self.input.take_front(total)));
            } else {
                f(Frame::Data(&pending[..total]));
                self.input.consume(total);
            }
        }
    }

    /// Bytes of an incomplete frame held back (Node calls this state `buffering`).
    pub fn buffering(&self) -> bool {
        !self.input.pending().is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(payload: &[u8]) -> Vec<u8> {
        let mut f = (payload.len() as u32).to_be_bytes().to_vec();
        f.extend_from_slice(payload);
        f
    }

    fn collect(s: &mut LengthSplitter) -> Vec<Option<Vec<u8>>> {
        let mut out = Vec::new();
        s.frames(|f| {
            out.push(match f {
                Frame::Data(d) => Some(d[HEADER..].to_vec()),
                Frame::Owned(d) => Some(d[HEADER..].to_vec()),
                Frame::TooLarge => None,
            })
        });
        out
    }

    #[test]
    fn no_room_is_made_for_an_oversized_frame() {
        let mut s = LengthSplitter::new(1 << 20);
        s.push(&[0xff, 0xff, 0xff, 0xff]);
        let mut room = 0;
        let _ = s.fill(|buf| -> Result<usize, ()> {
            room = buf.len();
            Ok(0)
        });
        assert!(room <= 4 * MIN_READ, "room {room}");
    }

    #[test]
    fn lengths_are_unsigned() {
        assert_eq!(payload_len([0x80, 0, 0, 0]), 1 << 31);
        assert_eq!(payload_len([0xff, 0xff, 0xff, 0xff]), u64::from(u32::MAX));
    }

    #[test]
    fn frames_come_out_whole_whatever_the_chunking() {
        let payloads: Vec<Vec<u8>> = (0..300).map(|i| vec![(i % 251) as u8; (i * 7) % 1000]).collect();
        let stream: Vec<u8> = payloads.iter().flat_map(|p| frame(p)).collect();
        for step in [1, 2, 3, 5, 64, 999, 4096, stream.len()] {
            let mut s = LengthSplitter::new(1 << 20);
            let mut got = Vec::new();
            for chunk in stream.chunks(step) {
                s.push(chunk);
                got.extend(collect(&mut s));
            }
            assert_eq!(got, payloads.iter().map(|p| Some(p.clone())).collect::<Vec<_>>(), "step {step}");
            assert!(!s.buffering());
        }
    }

    #[test]
    fn an_oversized_frame_is_skipped_by_its_length() {
        let mut s = LengthSplitter::new(10);
        s.push(&frame(b"ok"));
        s.push(&frame(&[7; 100])[..50]);
        assert_eq!(collect(&mut s), vec![Some(b"ok".to_vec()), None]);
        s.push(&frame(&[7; 100])[50..]);
        s.push(&frame(b"next"));
        assert_eq!(collect(&mut s), vec![Some(b"next".to_vec())]);
        assert!(!s.buffering());
    }

    #[test]
    fn a_frame_of_2_gib_or_more_is_skipped_in_sync_without_buffering_it() {
        let mut s = LengthSplitter::new(1 << 20);
        s.push(&[0x80, 0, 0, 0]);
        assert_eq!(collect(&mut s), vec![None]);
        let chunk = vec![0u8; MIN_READ];
        for _ in 0..(1 << 31) / MIN_READ {
            s.push(&chunk);
            assert_eq!(collect(&mut s), vec![]);
        }
        assert!(s.input.buf.len() <= 4 * MIN_READ, "buffer {}", s.input.buf.len());
        s.push(&frame(b"after"));
        assert_eq!(collect(&mut s), vec![Some(b"after".to_vec())]);
    }

    #[test]
    fn a_big_frame_is_handed_over_whole() {
        let mut s = LengthSplitter::new(usize::MAX);
        let big = frame(&vec![1u8; 3 << 20]);
        s.push(&big[..HEADER]);
        let mut room = 0;
        let _ = s.fill(|buf| -> Result<usize, ()> {
            room = buf.len();
            Ok(0)
        });
        // The header alone does not reserve the frame's length.
        assert!(room <= 2 * MIN_READ, "room {room}");
        s.push(&big[HEADER..]);
        s.push(&frame(b"next"));
        let mut got = Vec::new();
        s.frames(|f| {
            got.push(match f {
                Frame::Owned(d) => ("owned", d.len()),
                Frame::Data(d) => ("copied", d.len()),
                Frame::TooLarge => ("too large", 0),
            })
        });
        assert_eq!(got, vec![("owned", big.len()), ("copied", HEADER + 4)]);
    }

    #[test]
    fn a_big_frame_after_small_ones_is_handed_over_too() {
        let mut s = LengthSplitter::new(usize::MAX);
        let big = frame(&vec![2u8; 2 << 20]);
        let mut stream = frame(b"small");
        stream.extend_from_slice(&big);
        let mut kinds = Vec::new();
        let mut pos = 0;
        while pos < stream.len() {
            let n = s
                .fill(|room| -> Result<usize, ()> {
                    let n = room.len().min(stream.len() - pos).min(100_000);
                    room[..n].copy_from_slice(&stream[pos..pos + n]);
                    Ok(n)
                })
                .unwrap();
            pos += n;
            s.frames(|f| kinds.push(matches!(f, Frame::Owned(_))));
        }
        assert_eq!(kinds, vec![false, true]);
    }
}
