//! A reactor source reading one worker's stdout or stderr pipe: it frames lines, formats them
//! and queues them on its sink, and stops reading while the sink is full (the pipe fills and
//! the worker blocks; the primary does not grow).

use std::os::fd::{AsFd, OwnedFd};

use nix::errno::Errno;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::format::LineFormat;
use super::lines::LineFramer;
use super::sink::Sink;
use crate::engine::Msg;
use crate::reactor::{Cx, Interest, Ready, Source};

/// The longest line written whole; longer ones are cut into lines of this size.
pub const MAX_LINE: usize = 64 << 10;
/// Reads per wake-up, so one flooding worker cannot hold the I/O thread. With `LINGER`, a pump
/// moves at most 4 × 64 KiB per 2 ms: 128 MB/s a stream.
const READS_PER_TURN: usize = 4;

/// After a read that brought lines, the pipe is left alone this long, so a worker logging a
/// line per request is read many lines at a time: a fraction of the wake-ups of the I/O thread
/// and the sink's writer (which compete with the workers for the CPU), for this much latency.
const LINGER: Duration = Duration::from_millis(2);

pub struct Pump {
    pipe: OwnedFd,
    /// The worker whose output this is.
    worker: u32,
    framer: LineFramer,
    format: LineFormat,
    sink: Arc<Sink>,
    buf: Box<[u8]>,
    out: Vec<u8>,
    /// Reading is off until the sink has room (its writer posts `Resume`).
    paused: bool,
    /// What the pipe is registered for.
    interest: Interest,
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

impl Pump {
    /// `pipe` must be non-blocking.
    pub fn new(pipe: OwnedFd, worker: u32, format: LineFormat, sink: Arc<Sink>) -> Self {
        sink.pump_started();
        Pump {
            pipe,
            worker,
            framer: LineFramer::new(MAX_LINE),
            format,
            sink,
            buf: vec![0; MAX_LINE].into_boxed_slice(),
            out: Vec::new(),
            paused: false,
            interest: Interest::Read,
        }
    }

    fn watch(&mut self, cx: &mut Cx<'_, Msg>, interest: Interest) {
        if self.interest != interest {
            // Cannot fail for an fd this source registered.
            let _ = cx.reregister(self.pipe.as_fd(), interest);
            self.interest = interest;
        }
    }

    /// Reads what the pipe has (a few reads at most), then: waits for room in the sink, lingers
    /// after lines, or waits for the pipe.
    fn pump(&mut self, cx: &mut Cx<'_, Msg>) {
        let mut read_some = false;
        for _ in 0..READS_PER_TURN {
            if !self.sink.admit(cx.token(), self.worker) {
                self.paused = true;
                return self.watch(cx, Interest::None);
            }
            match nix::unistd::read(&self.pipe, &mut self.buf) {
                Ok(0) => return self.end(cx),
                Ok(n) => {
                    read_some = true;
                    let (format, out, now) = (&self.format, &mut self.out, now_ms());
                    self.framer.feed(&self.buf[..n], |line| format.write(out, line, now));
                    self.sink.push(&self.out);
                    self.out.clear();
                }
                Err(Errno::EAGAIN) => break,
                Err(Errno::EINTR) => {}
                // Nothing else can fail reading a pipe we own; it ends as at EOF.
                Err(_) => return self.end(cx),
            }
        }
        if read_some {
            self.watch(cx, Interest::None);
            cx.timer(LINGER);
        } else {
            self.watch(cx, Interest::Read);
        }
    }

    /// The pipe's last writer closed it: the last line without `\n` goes out, and the pump ends
    /// (the pipe closes as it is dropped).
    fn end(&mut self, cx: &mut Cx<'_, Msg>) {
        let (format, out, now) = (&self.format, &mut self.out, now_ms());
        self.framer.finish(|line| format.write(out, line, now));
        self.sink.push(&self.out);
        cx.remove_self();
    }
}

impl Drop for Pump {
    fn drop(&mut self) {
        self.sink.pump_ended();
    }
}

impl Source<Msg> for Pump {
    fn start(&mut self, cx: &mut Cx<'_, Msg>) {
        if cx.register(self.pipe.as_fd(), Interest::Read).is_err() {
            cx.remove_self();
        }
    }

    fn ready(&mut self, cx: &mut Cx<'_, Msg>, _ready: Ready) {
        self.pump(cx);
    }

    /// The linger after lines is over.
    fn timer(&mut self, cx: &mut Cx<'_, Msg>) {
        if !self.paused {
            self.pump(cx);
        }
    }

    /// `Resume`: the sink has room again.
    fn message(&mut self, cx: &mut Cx<'_, Msg>, msg: Msg) {
        if matches!(msg, Msg::Resume) && self.paused {
            self.paused = false;
            self.pump(cx);
        }
    }
}
