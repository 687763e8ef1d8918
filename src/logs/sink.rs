//! Where formatted lines go: an fd (the primary's stdout or stderr) or a file rotated by size.
//! Pumps on the I/O thread queue whole lines here; a thread of the sink's own writes them, so
//! a slow disk or a full pipe blocks that thread only. The queue is bounded: a pump finding it
//! full stops reading its pipe until the writer has taken the queue (the worker then blocks
//! on its full pipe), so the primary never holds more than about `HIGH_WATER` per sink.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use crate::reactor::Token;
use crate::sync::lock;

/// Bytes queued past which pumps stop reading.
pub const HIGH_WATER: usize = 1 << 20;

pub enum Target {
    Fd(OwnedFd),
    /// Rotated once writing would take it past `max_size` (0: never): `path` becomes `path.1`,
    /// `path.1` becomes `path.2`, … up to `keep` old files.
    File {
        path: PathBuf,
        max_size: u64,
        keep: u32,
    },
}

#[derive(Default)]
struct Queue {
    bytes: Vec<u8>,
    /// Pumps waiting for room, with the worker each reads.
    waiting: Vec<(Token, u32)>,
    reopen: bool,
    /// The writer holds bytes it took and has not written yet.
    writing: bool,
    /// Pumps feeding this sink that have not reached their pipe's end.
    pumps: usize,
}

/// Counters, for `logStats`.
#[derive(Default)]
pub struct SinkStats {
    pub written: AtomicU64,
    /// Bytes lost to a failed write (the sink's fd or file is gone or full).
    pub dropped: AtomicU64,
    pub rotations: AtomicU64,
    pub errors: AtomicU64,
}

type Wake = Box<dyn Fn(Token) + Send + Sync>;
/// Told of the first failure of an episode (the first since a write went well).
type OnFailure = Box<dyn Fn(&io::Error) + Send + Sync>;

pub struct Sink {
    queue: Mutex<Queue>,
    /// The writer waits on it for bytes.
    filled: Condvar,
    /// `flush` waits on it for everything to be written.
    settled: Condvar,
    /// Tells a waiting pump there is room again.
    wake: Wake,
    on_failure: OnFailure,
    pub stats: SinkStats,
}

impl Sink {
    /// Opens `target` (a file is created if need be) and starts its writer.
    pub fn open(target: Target, wake: Wake, on_failure: OnFailure) -> io::Result<Arc<Sink>> {
        let mut out = Output::open(target)?;
        let sink = Arc::new(Sink {
            queue: Mutex::new(Queue::default()),
            filled: Condvar::new(),
            settled: Condvar::new(),
            wake,
            on_failure,
            stats: SinkStats::default(),
        });
        let writer = sink.clone();
        std::thread::Builder::new().name("native-cluster-log".into()).spawn(move || writer.run(&mut out))?;
        Ok(sink)
    }

    /// Whether a pump (of worker `worker`) may read: false (and `token` is woken later) while
    /// the queue is full.
    pub fn admit(&self, token: Token, worker: u32) -> bool {
        let mut q = lock(&self.queue);
        if q.bytes.len() < HIGH_WATER {
            return true;
        }
        if !q.waiting.iter().any(|&(t, _)| t == token) {
            q.waiting.push((token, worker));
        }
        false
    }

    /// Queues whole formatted lines.
    pub fn push(&self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        let mut q = lock(&self.queue);
        let was_empty = q.bytes.is_empty();
        q.bytes.extend_from_slice(bytes);
        if was_empty {
            self.filled.notify_one();
        }
    }

    pub fn pump_started(&self) {
        lock(&self.queue).pumps += 1;
    }

    pub fn pump_ended(&self) {
        lock(&self.queue).pumps -= 1;
        self.settled.notify_all();
    }

    /// Closes and opens the file again (after logrotate moved it away); nothing for an fd.
    pub fn reopen(&self) {
        lock(&self.queue).reopen = true;
        self.filled.notify_one();
    }

    /// Waits up to `timeout` for everything queued to be written (and, with `pumps`, for
    /// every pump to reach its end first); whether that happened.
    pub fn flush(&self, timeout: Duration, pumps: bool) -> bool {
        let deadline = Instant::now() + timeout;
        let mut q = lock(&self.queue);
        loop {
            if (!pumps || q.pumps == 0) && q.bytes.is_empty() && !q.writing {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            q = self.settled.wait_timeout(q, left).map_or_else(|e| e.into_inner().0, |(q, _)| q);
        }
    }

    /// Bytes queued and not yet taken by the writer.
    pub fn queued(&self) -> usize {
        lock(&self.queue).bytes.len()
    }

    /// Pumps are waiting for room: the sink is not keeping up, and workers may be blocked on
    /// their full pipes.
    pub fn stalled(&self) -> bool {
        !lock(&self.queue).waiting.is_empty()
    }

    /// A pump of `worker` waits for room: the worker may be blocked on its full pipe.
    pub fn holds_back(&self, worker: u32) -> bool {
        lock(&self.queue).waiting.iter().any(|&(_, w)| w == worker)
    }

    /// The writer thread: takes the whole queue at a time, wakes the pumps that waited for
    /// room, writes.
    fn run(&self, out: &mut Output) -> ! {
        let mut taken = Vec::new();
        // In a failure episode: told once, until a write goes well again.
        let mut failing = false;
        loop {
            let (waiting, reopen) = {
                let mut q = lock(&self.queue);
                while q.bytes.is_empty() && !q.reopen {
                    q.writing = false;
                    self.settled.notify_all();
                    q = self.filled.wait(q).unwrap_or_else(|e| e.into_inner());
                }
                q.writing = true;
                std::mem::swap(&mut q.bytes, &mut taken);
                (std::mem::take(&mut q.waiting), std::mem::take(&mut q.reopen))
            };
            for (token, _) in waiting {
                (self.wake)(token);
            }
            if reopen {
                self.count(out.reopen(), 0, &mut failing);
            }
            if !taken.is_empty() {
                let result = out.write(&taken, &self.stats);
                self.count(result, taken.len(), &mut failing);
            }
            taken.clear();
            // A burst's buffer is not kept for ever.
            if taken.capacity() > 2 * HIGH_WATER {
                taken.shrink_to(HIGH_WATER);
            }
        }
    }

    /// Counts a failure (and tells the first of an episode); a write that went well (`lost` >
    /// 0) ends the episode.
    fn count(&self, result: io::Result<()>, lost: usize, failing: &mut bool) {
        match result {
            Ok(()) if lost > 0 => *failing = false,
            Ok(()) => {}
            Err(e) => {
                self.stats.errors.fetch_add(1, Ordering::Relaxed);
                self.stats.dropped.fetch_add(lost as u64, Ordering::Relaxed);
                if !*failing {
                    *failing = true;
                    (self.on_failure)(&e);
                }
            }
        }
    }
}

/// What the writer thread owns.
enum Output {
    Fd(OwnedFd),
    File(RotatingFile),
}

struct RotatingFile {
    path: PathBuf,
    max_size: u64,
    keep: u32,
    file: File,
    /// Its size, or `None` for what is not a regular file (`/dev/null`, a FIFO, a tty), which is
    /// never rotated: renaming `/dev/null` away would leave a regular file in its place.
    size: Option<u64>,
}

fn open_append(path: &PathBuf) -> io::Result<(File, Option<u64>)> {
    // std opens close-on-exec.
    let file = OpenOptions::new().append(true).create(true).mode(0o644).open(path)?;
    let meta = file.metadata()?;
    Ok((file, meta.is_file().then_some(meta.len())))
}

/// Writes all of `bytes` to `fd`, waiting for room when it is non-blocking and full.
fn write_fd(fd: &OwnedFd, mut bytes: &[u8]) -> io::Result<()> {
    while !bytes.is_empty() {
        match nix::unistd::write(fd, bytes) {
            Ok(n) => bytes = &bytes[n..],
            Err(nix::errno::Errno::EINTR) => {}
            Err(nix::errno::Errno::EAGAIN) => {
                let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLOUT)];
                match poll(&mut fds, PollTimeout::NONE) {
                    Ok(_) | Err(nix::errno::Errno::EINTR) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

impl Output {
    fn open(target: Target) -> io::Result<Output> {
        Ok(match target {
            Target::Fd(fd) => Output::Fd(fd),
            Target::File { path, max_size, keep } => {
                let (file, size) = open_append(&path)?;
                Output::File(RotatingFile { path, max_size, keep, file, size })
            }
        })
    }

    fn reopen(&mut self) -> io::Result<()> {
        if let Output::File(f) = self {
            (f.file, f.size) = open_append(&f.path)?;
        }
        Ok(())
    }

    fn write(&mut self, bytes: &[u8], stats: &SinkStats) -> io::Result<()> {
        match self {
            Output::Fd(fd) => write_fd(fd, bytes)?,
            Output::File(f) => f.write(bytes, stats)?,
        }
        stats.written.fetch_add(bytes.len() as u64, Ordering::Relaxed);
        Ok(())
    }
}

impl RotatingFile {
    /// Writes whole lines, rotating between two lines whenever the next would take the file
    /// past `max_size` (a single line longer than that goes alone into a fresh file).
    fn write(&mut self, mut bytes: &[u8], stats: &SinkStats) -> io::Result<()> {
        while !bytes.is_empty() {
            let Some(size) = self.size.as_mut() else { return self.file.write_all(bytes) };
            let room = if self.max_size == 0 { u64::MAX } else { self.max_size.saturating_sub(*size) };
            let fits = usize::try_from(room).map_or(bytes.len(), |room| room.min(bytes.len()));
            // Up to the last line end that fits, or, in an empty file, the first line whole.
            let take = if fits == bytes.len() {
                fits
            } else if let Some(nl) = bytes[..fits].iter().rposition(|&b| b == b'\n') {
                nl + 1
            } else if *size == 0 {
                bytes.iter().position(|&b| b == b'\n').map_or(bytes.len(), |nl| nl + 1)
            } else {
                0
            };
            if take > 0 {
                self.file.write_all(&bytes[..take])?;
                *size += take as u64;
                bytes = &bytes[take..];
            }
            if !bytes.is_empty() {
                self.rotate()?;
                stats.rotations.fetch_add(1, Ordering::Relaxed);
            }
        }
        Ok(())
    }

    fn rotate(&mut self) -> io::Result<()> {
        let old = |n: u32| {
            let mut p = self.path.clone().into_os_string();
            p.push(format!(".{n}"));
            PathBuf::from(p)
        };
        if self.keep == 0 {
            std::fs::remove_file(&self.path)?;
        } else {
            for n in (1..self.keep).rev() {
                match std::fs::rename(old(n), old(n + 1)) {
                    Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                    _ => {}
                }
            }
            std::fs::rename(&self.path, old(1))?;
        }
        (self.file, self.size) = open_append(&self.path)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("nc-sink-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn never_rotates_what_is_not_a_regular_file() {
        // `--log-file /dev/null` once renamed /dev/null away; a link to it stands in here.
        let dir = temp_dir("devnull");
        let path = dir.join("app.log");
        std::os::unix::fs::symlink("/dev/null", &path).unwrap();
        let target = Target::File { path: path.clone(), max_size: 10, keep: 2 };
        let sink = Sink::open(target, Box::new(|_| {}), Box::new(|_| {})).unwrap();
        sink.pump_started();
        sink.push(b"one line of more than ten bytes\nand another one\n");
        sink.pump_ended();
        assert!(sink.flush(Duration::from_secs(5), true));
        assert_eq!(sink.stats.rotations.load(Ordering::Relaxed), 0);
        assert_eq!(sink.stats.written.load(Ordering::Relaxed), 48);
        assert!(std::fs::symlink_metadata(&path).unwrap().file_type().is_symlink());
        assert!(!dir.join("app.log.1").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn rotates_between_lines_and_keeps_so_many_old_files() {
        let dir = temp_dir("rotate");
        let path = dir.join("app.log");
        let sink =
            Sink::open(Target::File { path: path.clone(), max_size: 100, keep: 2 }, Box::new(|_| {}), Box::new(|_| {}))
                .unwrap();
        sink.pump_started();
        let line = format!("{}\n", "x".repeat(29)); // 30 bytes: 3 to a file
        for _ in 0..20 {
            sink.push(line.as_bytes());
        }
        sink.push(format!("{}\n", "y".repeat(149)).as_bytes()); // longer than a file: alone
        sink.pump_ended();
        assert!(sink.flush(Duration::from_secs(5), true));
        let read = |p: &str| std::fs::read_to_string(dir.join(p)).unwrap();
        assert_eq!(read("app.log"), format!("{}\n", "y".repeat(149)));
        assert_eq!(read("app.log.1"), line.repeat(2));
        assert_eq!(read("app.log.2"), line.repeat(3));
        assert!(!dir.join("app.log.3").exists());
        assert_eq!(sink.stats.written.load(Ordering::Relaxed), 20 * 30 + 150);
        // Reopen: the file moved away (logrotate's create mode) is written no more.
        std::fs::rename(&path, dir.join("moved")).unwrap();
        sink.reopen();
        sink.push(b"after\n");
        assert!(sink.flush(Duration::from_secs(5), true));
        assert_eq!(read("app.log"), "after\n");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn tells_the_first_failed_write_of_each_episode() {
        let dir = temp_dir("episodes");
        let path = dir.join("app.log");
        let full = || {
            let _ = std::fs::remove_file(&path);
            std::os::unix::fs::symlink("/dev/full", &path).unwrap();
        };
        full();
        let told = Arc::new(Mutex::new(Vec::new()));
        let to = told.clone();
        let on_failure = Box::new(move |e: &io::Error| lock(&to).push(e.raw_os_error()));
        let sink = Sink::open(Target::File { path: path.clone(), max_size: 0, keep: 0 }, Box::new(|_| {}), on_failure)
            .unwrap();
        let write = |line: &[u8]| {
            sink.push(line);
            assert!(sink.flush(Duration::from_secs(5), false));
        };
        // Two failed writes: one episode, told once.
        write(b"lost 1\n");
        write(b"lost 2\n");
        assert_eq!(*lock(&told), [Some(libc::ENOSPC)]);
        // A file again: the write goes well and ends the episode.
        std::fs::remove_file(&path).unwrap();
        sink.reopen();
        write(b"kept\n");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "kept\n");
        // Full again: a new episode, told.
        full();
        sink.reopen();
        write(b"lost 3\n");
        assert_eq!(*lock(&told), [Some(libc::ENOSPC), Some(libc::ENOSPC)]);
        assert_eq!(sink.stats.errors.load(Ordering::Relaxed), 3);
        assert_eq!(sink.stats.dropped.load(Ordering::Relaxed), 21);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_full_queue_turns_pumps_away_until_the_writer_takes_it() {
        let (r, w) = nix::unistd::pipe().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let tx = Mutex::new(tx);
        let sink = Sink::open(Target::Fd(w), Box::new(move |t| lock(&tx).send(t).unwrap()), Box::new(|_| {})).unwrap();
        // The pipe takes 64 KiB; the writer blocks on it and the queue fills behind.
        sink.push(&vec![b'a'; 128 << 10]);
        let chunk = vec![b'b'; 64 << 10];
        let deadline = Instant::now() + Duration::from_secs(5);
        while sink.admit(7, 1) {
            assert!(Instant::now() < deadline);
            sink.push(&chunk);
        }
        assert!(sink.queued() >= HIGH_WATER);
        assert!(sink.stalled());
        assert!(sink.holds_back(1) && !sink.holds_back(2));
        assert!(rx.try_recv().is_err());
        // A reader empties the pipe: the writer takes the queue and wakes the pump.
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 1 << 16];
            while nix::unistd::read(&r, &mut buf).is_ok_and(|n| n > 0) {}
        });
        assert_eq!(rx.recv_timeout(Duration::from_secs(5)).unwrap(), 7);
        assert!(sink.flush(Duration::from_secs(5), true));
    }
}
