//! The receive buffer both framings share (pure: no I/O, no napi): bytes are read into spare
//! room at the end and consumed from the front.

/// One unit of framed input.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    /// A complete frame: a json line without its `\n`, or an advanced frame with its length
    /// header. May be garbage: judging it is the caller's business.
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
        if self.start > 0 && (self.start == self.end || self.start >= self.buf.len() / 2) {
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

    /// Drops everything unconsumed.
    pub fn clear(&mut self) {
        self.start = self.end;
    }
}
