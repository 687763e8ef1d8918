//! The write side of a channel (pure: the caller supplies the `send`).
//!
//! Frames are written straight from the caller's buffer while the socket takes them; only what
//! the socket refuses is copied into the queue, and everything queued later goes out behind it
//! in large writes. Completion is tracked by byte offset, so a `send()` callback fires once the
//! last byte of its frame has left, with no per-frame bookkeeping for frames without one.

use std::collections::VecDeque;
use std::io;

#[derive(Default)]
pub struct Outbox {
    queue: Vec<u8>,
    head: usize,
    /// Total bytes handed to `send` successfully since the channel opened.
    written: u64,
    /// (stream offset just past the frame, ack id), in stream order.
    acks: VecDeque<(u64, u32)>,
}

/// Above this much idle capacity the queue's buffer is released after it drains.
const KEEP_CAPACITY: usize = 1 << 20;

impl Outbox {
    /// Bytes waiting for the socket.
    pub fn pending(&self) -> usize {
        self.queue.len() - self.head
    }

    /// Writes `data` behind anything queued. Returns the bytes left queued; when that is zero
    /// the frame went out now and its ack (if any) is complete, so it is not recorded.
    pub fn write(
        &mut self,
        data: &[u8],
        ack: u32,
        mut send: impl FnMut(&[u8]) -> io::Result<usize>,
    ) -> io::Result<usize> {
        let mut rest = data;
        if self.pending() == 0 {
            rest = &data[send_all(data, &mut send, &mut self.written)?..];
            if rest.is_empty() {
                return Ok(0);
            }
        }
        self.queue.extend_from_slice(rest);
        if ack != 0 {
            self.acks.push_back((self.written + self.pending() as u64, ack));
        }
        Ok(self.pending())
    }

    /// Sends what the socket takes. Returns the newest ack id completed by this call.
    pub fn flush(&mut self, mut send: impl FnMut(&[u8]) -> io::Result<usize>) -> io::Result<Option<u32>> {
        let n = send_all(&self.queue[self.head..], &mut send, &mut self.written)?;
        self.head += n;
        if self.head == self.queue.len() {
            self.head = 0;
            self.queue.clear();
            if self.queue.capacity() > KEEP_CAPACITY {
                self.queue = Vec::new();
            }
        }
        let mut done = None;
        while let Some(&(end, id)) = self.acks.front() {
            if end > self.written {
                break;
            }
            done = Some(id);
            self.acks.pop_front();
        }
        Ok(done)
    }
}

/// Sends until the socket would block; returns how much went out.
fn send_all(
    mut data: &[u8],
    send: &mut impl FnMut(&[u8]) -> io::Result<usize>,
    written: &mut u64,
) -> io::Result<usize> {
    let total = data.len();
    while !data.is_empty() {
        match send(data) {
            Ok(0) => break,
            Ok(n) => {
                *written += n as u64;
                data = &data[n..];
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(total - data.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A socket that takes at most `room` bytes until drained.
    struct FakeSocket {
        room: usize,
        got: Vec<u8>,
    }
    impl FakeSocket {
        fn send(&mut self, d: &[u8]) -> io::Result<usize> {
            if self.room == 0 {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let n = d.len().min(self.room).min(7);
            self.room -= n;
            self.got.extend_from_slice(&d[..n]);
            Ok(n)
        }
    }

    #[test]
    fn writes_through_when_the_socket_takes_everything() {
        let mut s = FakeSocket { room: 1000, got: vec![] };
        let mut o = Outbox::default();
        assert_eq!(o.write(b"hello\n", 1, |d| s.send(d)).unwrap(), 0);
        assert_eq!(s.got, b"hello\n");
        assert_eq!(o.acks.len(), 0);
    }

    #[test]
    fn queues_in_order_and_completes_acks_by_offset() {
        let mut s = FakeSocket { room: 10, got: vec![] };
        let mut o = Outbox::default();
        assert_eq!(o.write(b"aaaaaaaa\n", 1, |d| s.send(d)).unwrap(), 0);
        assert_eq!(o.write(b"bbbbbbbb\n", 2, |d| s.send(d)).unwrap(), 8);
        assert_eq!(o.write(b"cc\n", 0, |d| s.send(d)).unwrap(), 11);
        assert_eq!(o.write(b"dd\n", 3, |d| s.send(d)).unwrap(), 14);
        s.room = 12;
        assert_eq!(o.flush(|d| s.send(d)).unwrap(), Some(2));
        s.room = 100;
        assert_eq!(o.flush(|d| s.send(d)).unwrap(), Some(3));
        assert_eq!(o.pending(), 0);
        assert_eq!(s.got, b"aaaaaaaa\nbbbbbbbb\ncc\ndd\n");
    }

    #[test]
    fn errors_surface() {
        let mut o = Outbox::default();
        let e = o.write(b"x\n", 0, |_| Err(io::Error::from_raw_os_error(libc::EPIPE)));
        assert_eq!(e.unwrap_err().raw_os_error(), Some(libc::EPIPE));
    }
}
