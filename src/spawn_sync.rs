//! `spawnSync`: runs a child to completion on the calling thread, blocking in `poll`, not in
//! a JS busy-wait. Input is written to fd 0, every other pipe is collected, and the child is
//! reaped through its pidfd, so neither libuv nor the engine's thread ever sees it.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

use crate::channel::fds;
use crate::child::Child;
use crate::event::ExitStatus;
use crate::spawn::{spawn, SpawnSpec};

pub struct SyncLimits {
    /// What the child reads on fd 0 (when that is a pipe) before EOF.
    pub input: Vec<u8>,
    pub timeout: Option<Duration>,
    pub kill_signal: i32,
    /// Largest output accepted per pipe; more kills the child (`ENOBUFS`).
    pub max_buffer: Option<usize>,
}

pub struct SyncOutcome {
    pub pid: libc::pid_t,
    pub status: Option<ExitStatus>,
    /// Collected bytes per stdio index (`None` where there was no output pipe).
    pub output: Vec<Option<Vec<u8>>>,
    /// Why the run failed: a spawn errno, `ETIMEDOUT` or `ENOBUFS`.
    pub errno: Option<i32>,
}

struct Pipe {
    index: usize,
    fd: OwnedFd,
}

struct InputPipe<'a> {
    fd: OwnedFd,
    rest: &'a [u8],
}

/// Poll interval when the kernel has no pidfds.
const NO_PIDFD_POLL: Duration = Duration::from_millis(10);
const READ_CHUNK: usize = 64 * 1024;

pub fn spawn_sync(spec: &SpawnSpec, limits: &SyncLimits) -> SyncOutcome {
    let spawned = match spawn(spec) {
        Ok(s) => s,
        Err(e) => return SyncOutcome { pid: 0, status: None, output: Vec::new(), errno: e.raw_os_error() },
    };
    let child = Child::new(0, spawned.pid);
    let mut output: Vec<Option<Vec<u8>>> = spawned.ends.iter().map(|e| e.as_ref().map(|_| Vec::new())).collect();
    let mut stdin = None;
    let mut readers = Vec::new();
    for (index, end) in spawned.ends.into_iter().enumerate() {
        let Some(fd) = end else { continue };
        if let Err(e) = fds::set_nonblocking(fd.as_raw_fd()) {
            // Reading would block the poll loop; give up on the run (the child is reaped).
            let _ = child.kill(libc::SIGKILL);
            return SyncOutcome {
                pid: spawned.pid,
                status: Some(wait_blocking(&child)),
                output,
                errno: e.raw_os_error(),
            };
        }
        if index == 0 {
            output[index] = None;
            // Without input the child reads EOF at once: the fd is dropped here.
            if !limits.input.is_empty() {
                stdin = Some(InputPipe { fd, rest: &limits.input });
            }
        } else {
            readers.push(Pipe { index, fd });
        }
    }
    let deadline = limits.timeout.map(|t| Instant::now() + t);
    let mut errno = None;
    let mut status = None;
    let mut buf = vec![0u8; READ_CHUNK];
    while status.is_none() || !readers.is_empty() {
        let mut fds: Vec<libc::pollfd> = Vec::with_capacity(readers.len() + 2);
        if let Some(w) = &stdin {
            fds.push(libc::pollfd { fd: w.fd.as_raw_fd(), events: libc::POLLOUT, revents: 0 });
        }
        for r in &readers {
            fds.push(libc::pollfd { fd: r.fd.as_raw_fd(), events: libc::POLLIN, revents: 0 });
        }
        let exit_fd = if status.is_none() { child.pidfd() } else { None };
        if let Some(fd) = exit_fd {
            fds.push(libc::pollfd { fd, events: libc::POLLIN, revents: 0 });
        }
        let mut wait = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        if status.is_none() && exit_fd.is_none() {
            wait = Some(wait.map_or(NO_PIDFD_POLL, |w| w.min(NO_PIDFD_POLL)));
        }
        // Rounded up, so a deadline is never polled for early over and over.
        let ms = wait.map_or(-1, |w| w.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32);
        // Raw poll: the set is rebuilt each turn from descriptors this function owns, which
        // nix's borrowing PollFd would make no simpler.
        // SAFETY: `fds` is a live array of `fds.len()` pollfds.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
        if n < 0 && io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            break;
        }
        if let Some(w) = &mut stdin {
            if fds.iter().any(|p| p.fd == w.fd.as_raw_fd() && p.revents != 0) {
                match fds::send(w.fd.as_raw_fd(), w.rest, None) {
                    Ok(k) => w.rest = &w.rest[k..],
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    // The child closed its stdin early: the rest of the input is unwanted.
                    Err(_) => w.rest = &[],
                }
                if w.rest.is_empty() {
                    stdin = None;
                }
            }
        }
        readers.retain_mut(|r| {
            let Some(ready) = fds.iter().find(|p| p.fd == r.fd.as_raw_fd()) else { return true };
            if ready.revents == 0 {
                return true;
            }
            let out = output[r.index].as_mut().expect("an output pipe has a buffer");
            loop {
                // SAFETY: reads into `buf`, of `buf.len()` bytes, from a descriptor we own.
                let k = unsafe { libc::read(r.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
                if k > 0 {
                    out.extend_from_slice(&buf[..k as usize]);
                    if limits.max_buffer.is_some_and(|m| out.len() > m) {
                        if errno.is_none() {
                            errno = Some(libc::ENOBUFS);
                            // ESRCH: it has exited already, which is what was wanted.
                            let _ = child.kill(limits.kill_signal);
                        }
                        return false;
                    }
                    continue;
                }
                if k < 0 && io::Error::last_os_error().kind() == io::ErrorKind::WouldBlock {
                    return true;
                }
                if k < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                    continue;
                }
                return false; // EOF or error: this pipe is done
            }
        });
        if status.is_none() {
            status = child.try_reap().map(|(status, _pidfd)| status);
        }
        if let Some(d) = deadline {
            if Instant::now() >= d && errno.is_none() {
                errno = Some(libc::ETIMEDOUT);
                // ESRCH: it has exited already, which is what was wanted.
                let _ = child.kill(limits.kill_signal);
                // Node stops waiting for output once the time is up; the pipes close below.
                readers.clear();
                stdin = None;
            }
        }
        if errno.is_some() && status.is_none() && readers.is_empty() {
            // Killed: nothing left to collect, wait for the exit itself.
            status = Some(wait_blocking(&child));
        }
    }
    SyncOutcome { pid: spawned.pid, status, output, errno }
}

fn wait_blocking(child: &Child) -> ExitStatus {
    loop {
        if let Some((status, _pidfd)) = child.try_reap() {
            return status;
        }
        match child.pidfd() {
            Some(fd) => {
                let mut p = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
                // SAFETY: one live pollfd. EINTR only means another turn of this loop.
                unsafe { libc::poll(&mut p, 1, -1) };
            }
            None => std::thread::sleep(NO_PIDFD_POLL),
        }
    }
}
