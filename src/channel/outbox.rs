//! The write side of a channel (pure: the caller supplies the `send`).
//!
//! Frames are written straight from the caller's buffer while the socket takes them; only what
//! the socket refuses is copied into the queue, and everything queued later goes out behind it
//! in large writes. Completion is tracked by byte offset, so a `send()` callback fires once the
//! last byte of its frame has left, with no per-frame bookkeeping for frames without one.
//!
//! A frame may carry a descriptor: it rides on the `send` that carries the frame's first byte
//! (where a Node receiver looks for it), is sent once even if that `send` is partial, and no
//! earlier `send` reaches into the frame.

use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::Arc;

/// Names the `send()` callbacks of a batch of frames; 64-bit, so it never wraps.
pub type AckId = u64;

#[derive(Default)]
pub struct Outbox {
    queue: Vec<u8>,
    head: usize,
    /// Total bytes handed to `send` successfully since the channel opened.
    written: u64,
    /// (stream offset just past the frame, ack id), in stream order.
    acks: VecDeque<(u64, AckId)>,
    /// (stream offset of a frame's first byte, the descriptor it carries), in stream order.
    /// Shared with the handle protocol, which may send it again.
    fds: VecDeque<(u64, Arc<OwnedFd>)>,
}

/// Above this much idle capacity the queue's buffer is released after it drains.
const KEEP_CAPACITY: usize = 1 << 20;

impl Outbox {
    /// Bytes waiting for the socket.
    pub fn pending(&self) -> usize {
        self.queue.len() - self.head
    }

    /// Writes `data` (whole frames; `fd` goes with the first) behind anything queued. Returns
    /// the bytes left queued; when that is zero the frames went out now and their ack (if any)
    /// is complete, so it is not recorded.
    pub fn write(
        &mut self,
        data: &[u8],
        fd: Option<Arc<OwnedFd>>,
        ack: AckId,
        mut send: impl FnMut(&[u8], Option<RawFd>) -> io::Result<usize>,
    ) -> io::Result<usize> {
        let start = self.written + self.pending() as u64;
        if let Some(fd) = fd {
            self.fds.push_back((start, fd));
        }
        let mut rest = data;
        if self.pending() == 0 {
            match self.send_all(data, &mut send) {
                Ok(n) => rest = &data[n..],
                Err(e) => {
                    // These frames are not queued: their descriptor must not ride on later ones.
                    self.fds.retain(|(at, _)| *at < start);
                    return Err(e);
                }
            }
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
    pub fn flush(
        &mut self,
        mut send: impl FnMut(&[u8], Option<RawFd>) -> io::Result<usize>,
    ) -> io::Result<Option<AckId>> {
        let queue = std::mem::take(&mut self.queue);
        let n = self.send_all(&queue[self.head..], &mut send);
        self.queue = queue;
        let n = n?;
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

impl Outbox {
    /// Sends until the socket would block; returns how much went out.
    fn send_all(
        &mut self,
        mut data: &[u8],
        send: &mut impl FnMut(&[u8], Option<RawFd>) -> io::Result<usize>,
    ) -> io::Result<usize> {
        let total = data.len();
        while !data.is_empty() {
            // A descriptor frame starts a send of its own and no send runs into the next one.
            let (fd, until) = match (self.fds.front(), self.fds.get(1)) {
                (Some((at, fd)), next) if *at == self.written => (Some(fd.as_raw_fd()), next.map(|(n, _)| *n)),
                (Some((at, _)), _) => (None, Some(*at)),
                (None, _) => (None, None),
            };
            let len = until.map_or(data.len(), |u| data.len().min((u - self.written) as usize));
            match send(&data[..len], fd) {
                Ok(0) => break,
                Ok(n) => {
                    if fd.is_some() {
                        // Sent (the kernel holds its own reference): never attach it again.
                        self.fds.pop_front();
                    }
                    self.written += n as u64;
                    data = &data[n..];
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(total - data.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A socket that takes at most `room` bytes until drained.
    struct FakeSocket {
        room: usize,
        got: Vec<u8>,
        /// (offset of the send's first byte, descriptor)
        fds: Vec<(usize, RawFd)>,
    }
    impl FakeSocket {
        fn send(&mut self, d: &[u8], fd: Option<RawFd>) -> io::Result<usize> {
            if self.room == 0 {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let n = d.len().min(self.room).min(7);
            self.room -= n;
            if let Some(fd) = fd {
                self.fds.push((self.got.len(), fd));
            }
            self.got.extend_from_slice(&d[..n]);
            Ok(n)
        }
    }

    #[test]
    fn writes_through_when_the_socket_takes_everything() {
        let mut s = FakeSocket { room: 1000, got: vec![], fds: vec![] };
        let mut o = Outbox::default();
        assert_eq!(o.write(b"hello\n", None, 1, |d, f| s.send(d, f)).unwrap(), 0);
        assert_eq!(s.got, b"hello\n");
        assert_eq!(o.acks.len(), 0);
    }

    #[test]
    fn queues_in_order_and_completes_acks_by_offset() {
        let mut s = FakeSocket { room: 10, got: vec![], fds: vec![] };
        let mut o = Outbox::default();
        assert_eq!(o.write(b"aaaaaaaa\n", None, 1, |d, f| s.send(d, f)).unwrap(), 0);
        assert_eq!(o.write(b"bbbbbbbb\n", None, 2, |d, f| s.send(d, f)).unwrap(), 8);
        assert_eq!(o.write(b"cc\n", None, 0, |d, f| s.send(d, f)).unwrap(), 11);
        assert_eq!(o.write(b"dd\n", None, 3, |d, f| s.send(d, f)).unwrap(), 14);
        s.room = 12;
        assert_eq!(o.flush(|d, f| s.send(d, f)).unwrap(), Some(2));
        s.room = 100;
        assert_eq!(o.flush(|d, f| s.send(d, f)).unwrap(), Some(3));
        assert_eq!(o.pending(), 0);
        assert_eq!(s.got, b"aaaaaaaa\nbbbbbbbb\ncc\ndd\n");
    }

    #[test]
    fn errors_surface() {
        let mut o = Outbox::default();
        let e = o.write(b"x\n", None, 0, |_, _| Err(io::Error::from_raw_os_error(libc::EPIPE)));
        assert_eq!(e.unwrap_err().raw_os_error(), Some(libc::EPIPE));
    }

    fn devnull() -> Arc<OwnedFd> {
        Arc::new(std::fs::File::open("/dev/null").unwrap().into())
    }

    #[test]
    fn a_descriptor_rides_once_on_its_frames_first_byte() {
        let mut s = FakeSocket { room: 5, got: vec![], fds: vec![] };
        let mut o = Outbox::default();
        o.write(b"aaaa\n", None, 0, |d, f| s.send(d, f)).unwrap();
        let (a, b) = (devnull(), devnull());
        let (ra, rb) = (a.as_raw_fd(), b.as_raw_fd());
        // Queued behind the first frame; the second handle frame right behind the first.
        o.write(b"handle-one\n", Some(a), 0, |d, f| s.send(d, f)).unwrap();
        o.write(b"handle-two\n", Some(b), 0, |d, f| s.send(d, f)).unwrap();
        o.write(b"tail\n", None, 0, |d, f| s.send(d, f)).unwrap();
        while o.pending() > 0 {
            s.room = 3;
            o.flush(|d, f| s.send(d, f)).unwrap();
        }
        assert_eq!(s.got, b"aaaa\nhandle-one\nhandle-two\ntail\n");
        assert_eq!(s.fds, vec![(5, ra), (16, rb)]);
        assert!(o.fds.is_empty());
    }

    #[test]
    fn a_failed_write_leaves_no_descriptor_behind() {
        let mut o = Outbox::default();
        let e = o.write(b"h\n", Some(devnull()), 0, |_, _| Err(io::Error::from_raw_os_error(libc::ETOOMANYREFS)));
        assert!(e.is_err());
        assert!(o.fds.is_empty());
        let mut s = FakeSocket { room: 100, got: vec![], fds: vec![] };
        o.write(b"ack\n", None, 0, |d, f| s.send(d, f)).unwrap();
        assert!(s.fds.is_empty());
    }

    #[test]
    fn a_descriptor_goes_out_with_an_immediate_write() {
        let mut s = FakeSocket { room: 100, got: vec![], fds: vec![] };
        let mut o = Outbox::default();
        let a = devnull();
        let ra = a.as_raw_fd();
        assert_eq!(o.write(b"h\n", Some(a), 0, |d, f| s.send(d, f)).unwrap(), 0);
        assert_eq!(s.fds, vec![(0, ra)]);
    }
}
