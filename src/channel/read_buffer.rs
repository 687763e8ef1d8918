//! The receive buffer both framings share (pure: no I/O, no napi): bytes are read into spare
//! room at the end and consumed from the front.

/// One unit of json-mode input.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    /// A complete line, without its `\n`. May be garbage: judging it is the caller's business.
    Data(&'a [u8]),
    /// A frame exceeded the size limit; its bytes are dropped.
    TooLarge,
}

/// Reads at least this much per `recv`, so small messages arrive in few syscalls.
pub const MIN_READ: usize = 64 * 1024;

#[derive(Default)]
pub struct ReadBuffer {
    /// Always initialised; bytes `start..end` are unconsumed input.
    pub(super) buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl ReadBuffer {
    /// Lets `read` fill at least `want` bytes of spare room at the end and keeps what it
    /// reports filled.
    pub fn fill<E>(&mut self, want: usize, read: impl FnOnce(&mut [u8]) -> Result<usize, E>) -> Result<usize, E> {
        if self.start == self.end && self.buf.len() > 4 * MIN_READ {
            // Do not keep a huge buffer alive after a huge frame has gone through.
            *self = ReadBuffer::default();
        }
        let grows = self.buf.len() - self.end < want;
        // Compacting before growing puts a large frame at the front, where take_front can
        // hand it over without a copy.
        if self.start > 0 && (grows || self.start == self.end || self.start >= self.buf.len() / 2) {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.buf.len() - self.end < want {
            self.buf.resize(self.end + want, 0);
        }
        let n = read(&mut self.buf[self.end..])?;
        self.end += n;
        Ok(n)
    }

    /// Appends bytes (for callers that already hold the data, and for tests).
    pub fn push(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            let _ = self.fill(data.len().min(MIN_READ), |room| -> Result<usize, ()> {
                let n = data.len().min(room.len());
                room[..n].copy_from_slice(&data[..n]);
                data = &data[n..];
                Ok(n)
            });
        }
    }

    /// The unconsumed bytes.
    pub fn pending(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    pub fn consume(&mut self, n: usize) {
        debug_assert!(n <= self.end - self.start);
        self.start += n;
    }

    /// Consumes the first `n` pending bytes and returns them, taking over the buffer itself
    /// when they start at its front (whatever follows is copied to a new buffer).
    pub fn take_front(&mut self, n: usize) -> Vec<u8> {
        debug_assert!(n <= self.end - self.start);
        if self.start > 0 {
            let front = self.buf[self.start..self.start + n].to_vec();
            self.start += n;
            return front;
        }
        let rest = self.buf[n..self.end].to_vec();
        let mut front = std::mem::replace(&mut self.buf, rest);
        front.truncate(n);
        self.end = self.buf.len();
        front
    }

    /// Drops everything unconsumed.
    pub fn clear(&mut self) {
        self.start = self.end;
    }
}
