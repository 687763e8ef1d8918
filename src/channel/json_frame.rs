//! Newline framing of Node's `json` serialization mode (pure: no I/O, no napi).
//!
//! Bytes are appended as they arrive; complete lines come out in order. A line that grows past
//! `max_frame` is reported once and its bytes are discarded up to the next newline, so memory
//! stays bounded whatever the peer writes and the stream resynchronises on the next frame.

use super::read_buffer::{Frame, ReadBuffer, MIN_READ};

pub struct LineSplitter {
    input: ReadBuffer,
    /// Bytes of the pending input already known to hold no newline (avoids rescanning a
    /// long line).
    scanned: usize,
    max_frame: usize,
    discarding: bool,
}

impl LineSplitter {
    pub fn new(max_frame: usize) -> Self {
        LineSplitter { input: ReadBuffer::default(), scanned: 0, max_frame, discarding: false }
    }

    /// Lets `read` fill spare room at the end of the buffer and keeps what it reports filled.
    pub fn fill<E>(&mut self, read: impl FnOnce(&mut [u8]) -> Result<usize, E>) -> Result<usize, E> {
        // Grow with the pending line so a huge frame costs O(n) copies in total.
        let want = MIN_READ.max(self.input.pending().len().min(8 << 20));
        self.input.fill(want, read)
    }

    /// Appends bytes (for callers that already hold the data, and for tests).
    pub fn push(&mut self, data: &[u8]) {
        self.input.push(data);
    }

    /// Calls `f` for every complete frame now available, in order.
    pub fn frames(&mut self, mut f: impl FnMut(Frame<'_>)) {
        loop {
            let pending = self.input.pending();
            match find_newline(&pending[self.scanned..]) {
                Some(i) => {
                    let end = self.scanned + i;
                    if self.discarding {
                        self.discarding = false;
                    } else if end > self.max_frame {
                        f(Frame::TooLarge);
                    } else {
                        f(Frame::Data(&pending[..end]));
                    }
                    self.input.consume(end + 1);
                    self.scanned = 0;
                }
                None => {
                    let len = pending.len();
                    if self.discarding || len > self.max_frame {
                        if !self.discarding {
                            self.discarding = true;
                            f(Frame::TooLarge);
                        }
                        self.input.clear();
                        self.scanned = 0;
                    } else {
                        self.scanned = len;
                    }
                    return;
                }
            }
        }
    }

    /// Bytes of an incomplete frame held back (Node calls this state `buffering`).
    pub fn buffering(&self) -> bool {
        !self.input.pending().is_empty() && !self.discarding
    }
}

fn find_newline(hay: &[u8]) -> Option<usize> {
    if hay.is_empty() {
        return None;
    }
    // glibc's memchr is vectorised; frames of hundreds of MiB are scanned once each.
    // SAFETY: memchr reads at most `hay.len()` bytes of `hay`.
    let p = unsafe { libc::memchr(hay.as_ptr().cast(), b'\n' as i32, hay.len()) };
    if p.is_null() {
        None
    } else {
        Some(p as usize - hay.as_ptr() as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(s: &mut LineSplitter) -> Vec<Option<Vec<u8>>> {
        let mut out = Vec::new();
        s.frames(|f| {
            out.push(match f {
                Frame::Data(l) => Some(l.to_vec()),
                Frame::TooLarge => None,
            })
        });
        out
    }

    /// A tiny deterministic PRNG, so chunk boundaries vary without a dependency.
    struct XorShift(u64);
    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    #[test]
    fn splits_lines_and_keeps_partial() {
        let mut s = LineSplitter::new(1 << 20);
        s.push(b"{\"a\":1}\n\"x\"\n4");
        assert_eq!(collect(&mut s), vec![Some(b"{\"a\":1}".to_vec()), Some(b"\"x\"".to_vec())]);
        assert!(s.buffering());
        s.push(b"2\n");
        assert_eq!(collect(&mut s), vec![Some(b"42".to_vec())]);
        assert!(!s.buffering());
    }

    #[test]
    fn empty_lines_are_frames() {
        let mut s = LineSplitter::new(100);
        s.push(b"\n\n1\n");
        assert_eq!(collect(&mut s), vec![Some(vec![]), Some(vec![]), Some(b"1".to_vec())]);
    }

    #[test]
    fn random_chunk_boundaries_preserve_frames() {
        // Multibyte characters and newlines land on every kind of boundary.
        let lines: Vec<String> =
            (0..500).map(|i| format!("{{\"i\":{i},\"s\":\"é😀\u{2028}{}\"}}", "x".repeat(i % 37))).collect();
        let stream: Vec<u8> = lines.iter().flat_map(|l| format!("{l}\n").into_bytes()).collect();
        for seed in 1..40u64 {
            let mut rng = XorShift(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
            let mut s = LineSplitter::new(1 << 20);
            let mut got = Vec::new();
            let mut pos = 0;
            while pos < stream.len() {
                let n = 1 + (rng.next() % 97) as usize;
                let end = (pos + n).min(stream.len());
                s.push(&stream[pos..end]);
                pos = end;
                got.extend(collect(&mut s));
            }
            let want: Vec<Option<Vec<u8>>> = lines.iter().map(|l| Some(l.clone().into_bytes())).collect();
            assert_eq!(got, want, "seed {seed}");
        }
    }

    #[test]
    fn oversized_line_is_reported_once_and_skipped() {
        let mut s = LineSplitter::new(10);
        s.push(b"ok\n");
        s.push(&[b'x'; 8]);
        assert_eq!(collect(&mut s), vec![Some(b"ok".to_vec())]);
        s.push(&[b'x'; 8]);
        assert_eq!(collect(&mut s), vec![None]);
        s.push(&[b'y'; 1000]);
        assert_eq!(collect(&mut s), vec![]);
        assert!(!s.buffering());
        s.push(b"yy\n\"next\"\n");
        assert_eq!(collect(&mut s), vec![Some(b"\"next\"".to_vec())]);
    }

    #[test]
    fn an_oversized_line_in_one_read_is_skipped_too() {
        let mut s = LineSplitter::new(4);
        s.push(b"1234\n12345\n\"ok\"\n");
        assert_eq!(collect(&mut s), vec![Some(b"1234".to_vec()), None, Some(b"\"ok\"".to_vec())]);
    }

    #[test]
    fn memory_stays_bounded_for_an_endless_line() {
        let mut s = LineSplitter::new(1 << 16);
        for _ in 0..1000 {
            s.push(&[b'z'; 4096]);
            collect(&mut s);
        }
        assert!(s.input.buf.len() < 4 << 20, "buffer {}", s.input.buf.len());
    }

    #[test]
    fn large_line_in_many_reads() {
        let mut s = LineSplitter::new(usize::MAX);
        let big = vec![b'a'; 5 << 20];
        for c in big.chunks(65536) {
            s.push(c);
            assert_eq!(collect(&mut s), vec![]);
        }
        s.push(b"\n");
        let got = collect(&mut s);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].as_ref().unwrap().len(), 5 << 20);
    }
}
