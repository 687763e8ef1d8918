//! Workers' stdout and stderr, off the IPC channel: each is a pipe a `Pump` on the engine's
//! I/O thread reads, frames into lines and formats, into a `Sink` (the primary's stdout or
//! stderr, or a file rotated by size) written by a thread of its own. Sinks live as long as
//! the process.

pub mod format;
pub mod lines;
pub mod pump;
pub mod sink;

use std::io;
use std::os::fd::OwnedFd;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::engine::{engine, log_token, EnvId, Msg};
use crate::event::Event;
use crate::reactor::Report;
use crate::sync::lock;
use format::{Format, LineFormat, Stream};
use pump::Pump;
use sink::{Sink, Target};

struct OpenSink {
    sink: Arc<Sink>,
    format: Format,
}

/// By id (an engine id: the sink's events carry it). A process opens a few.
static SINKS: Mutex<Vec<(u32, OpenSink)>> = Mutex::new(Vec::new());

fn sink(id: u32) -> io::Result<(Arc<Sink>, Format)> {
    let sinks = lock(&SINKS);
    let (_, found) = sinks.iter().find(|(i, _)| *i == id).ok_or_else(|| io::Error::from_raw_os_error(libc::EBADF))?;
    Ok((found.sink.clone(), found.format.clone()))
}

/// Opens a sink whose failures (one per episode) are told to `env`; returns its id.
pub fn open_sink(env: EnvId, target: Target, format: Format) -> io::Result<u32> {
    let engine = engine()?;
    let id = engine.next_id();
    engine.own(id, env);
    let sink = Sink::open(
        target,
        Box::new(move |token| engine.post(token, Msg::Resume)),
        // From the sink's writer thread, straight to the env's queue.
        Box::new(move |err| {
            let errno = err.raw_os_error().unwrap_or(libc::EIO);
            engine.publish(vec![Event::LogFailed { id, errno }]);
        }),
    )?;
    lock(&SINKS).push((id, OpenSink { sink, format }));
    Ok(id)
}

/// Starts pumping `pipe` (a worker's stdout or stderr; made non-blocking here) into sink `id`.
pub fn pump(id: u32, pipe: OwnedFd, worker: u32, pid: i32, stream: Stream) -> io::Result<()> {
    let (sink, format) = sink(id)?;
    crate::channel::fds::set_nonblocking(std::os::fd::AsRawFd::as_raw_fd(&pipe))?;
    let engine = engine()?;
    let token = log_token(engine.next_id());
    engine.add_source(token, Box::new(Pump::new(pipe, worker, LineFormat::new(&format, worker, pid, stream), sink)));
    Ok(())
}

pub fn reopen(id: u32) -> io::Result<()> {
    sink(id)?.0.reopen();
    Ok(())
}

/// Queues `bytes` (whole lines of the primary's own) on sink `id`, in order with the workers'.
pub fn write(id: u32, bytes: &[u8]) -> io::Result<()> {
    sink(id)?.0.push(bytes);
    Ok(())
}

/// Waits up to `timeout` for sink `id`'s lines to be written (with `pumps`, for its pumps to
/// end first).
pub fn flush(id: u32, timeout: Duration, pumps: bool) -> io::Result<bool> {
    Ok(sink(id)?.0.flush(timeout, pumps))
}

/// Whether a pump of `worker` waits for room in sink `id` (the worker may be blocked writing).
pub fn holds_back(id: u32, worker: u32) -> io::Result<bool> {
    Ok(sink(id)?.0.holds_back(worker))
}

pub struct Stats {
    pub written: u64,
    pub dropped: u64,
    pub rotations: u64,
    pub errors: u64,
    pub queued: usize,
    pub stalled: bool,
}

pub fn stats(id: u32) -> io::Result<Stats> {
    use std::sync::atomic::Ordering::Relaxed;
    let (sink, _) = sink(id)?;
    let s = &sink.stats;
    Ok(Stats {
        written: s.written.load(Relaxed),
        dropped: s.dropped.load(Relaxed),
        rotations: s.rotations.load(Relaxed),
        errors: s.errors.load(Relaxed),
        queued: sink.queued(),
        stalled: sink.stalled(),
    })
}
