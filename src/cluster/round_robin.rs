//! SCHED_RR on the I/O thread: the primary's listening socket, the connections accepted and
//! not yet handed out, and the workers taking part, served in turn.

use std::collections::VecDeque;
use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::Arc;

pub struct RoundRobin {
    pub listener: OwnedFd,
    pub key: String,
    /// Worker channel ids, in the order they joined.
    members: Vec<u32>,
    /// Where the next search for a free worker starts.
    next: usize,
    /// Accepted connections waiting for a free worker, oldest first.
    pending: VecDeque<Arc<OwnedFd>>,
    /// Accepting failed (out of descriptors): the listener is not watched until one is freed.
    pub paused: bool,
    /// A unix socket path this group bound, removed when it closes (as libuv does).
    path: Option<CString>,
}

impl Drop for RoundRobin {
    fn drop(&mut self) {
        if let Some(path) = &self.path {
            unsafe { libc::unlink(path.as_ptr()) };
        }
    }
}

/// `listen(2)` with Node's default backlog for 0.
pub fn listen(sock: &OwnedFd, backlog: i32) -> io::Result<()> {
    if unsafe { libc::listen(sock.as_raw_fd(), if backlog > 0 { backlog } else { 511 }) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Binds and listens on a unix socket path as Node's pipe server does, with `readableAll`/
/// `writableAll` as libuv's `uv_pipe_chmod`.
pub fn listen_unix(path: &str, backlog: i32, readable_all: bool, writable_all: bool) -> io::Result<(OwnedFd, CString)> {
    let cpath = CString::new(path).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
    let bytes = cpath.as_bytes();
    if bytes.len() >= addr.sun_path.len() {
        return Err(io::Error::from_raw_os_error(libc::ENAMETOOLONG));
    }
    for (d, &b) in addr.sun_path.iter_mut().zip(bytes) {
        *d = b as libc::c_char;
    }
    let fd = unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_STREAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a fresh descriptor.
    let sock = unsafe { OwnedFd::from_raw_fd(fd) };
    let len = std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t;
    if unsafe { libc::bind(fd, (&addr as *const libc::sockaddr_un).cast(), len) } < 0 {
        return Err(io::Error::last_os_error());
    }
    let result = (|| {
        listen(&sock, backlog)?;
        let mut want = 0;
        if readable_all {
            want |= libc::S_IRUSR | libc::S_IRGRP | libc::S_IROTH;
        }
        if writable_all {
            want |= libc::S_IWUSR | libc::S_IWGRP | libc::S_IWOTH;
        }
        if want != 0 {
            let mut st: libc::stat = unsafe { std::mem::zeroed() };
            if unsafe { libc::stat(cpath.as_ptr(), &mut st) } < 0
                || unsafe { libc::chmod(cpath.as_ptr(), st.st_mode | want) } < 0
            {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(())
    })();
    if let Err(e) = result {
        unsafe { libc::unlink(cpath.as_ptr()) };
        return Err(e);
    }
    Ok((sock, cpath))
}

/// Connections accepted per readiness event at most, so one busy listener cannot starve the
/// channels (level-triggered epoll brings the thread back).
const ACCEPTS_PER_TURN: usize = 256;

impl RoundRobin {
    /// `path`: the unix socket path `listener` is bound to, if the group bound it.
    pub fn new(listener: OwnedFd, key: String, path: Option<CString>) -> Self {
        RoundRobin { listener, key, members: Vec::new(), next: 0, pending: VecDeque::new(), paused: false, path }
    }

    pub fn add(&mut self, chan: u32) {
        if !self.members.contains(&chan) {
            self.members.push(chan);
        }
    }

    pub fn remove(&mut self, chan: u32) {
        self.members.retain(|&m| m != chan);
    }

    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// A connection a worker refused (`accepted: false`) goes to the front, to the next worker.
    pub fn requeue(&mut self, conn: Arc<OwnedFd>) {
        self.pending.push_front(conn);
    }

    /// Accepts what is waiting on the listener.
    pub fn accept(&mut self) -> io::Result<()> {
        for _ in 0..ACCEPTS_PER_TURN {
            let flags = libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK;
            let fd =
                unsafe { libc::accept4(self.listener.as_raw_fd(), std::ptr::null_mut(), std::ptr::null_mut(), flags) };
            if fd < 0 {
                let err = io::Error::last_os_error();
                return match err.raw_os_error() {
                    Some(libc::EAGAIN) => Ok(()),
                    // The client gave up before we took it; take the next.
                    Some(libc::ECONNABORTED | libc::EINTR) => continue,
                    _ => Err(err),
                };
            }
            // SAFETY: a fresh descriptor.
            self.pending.push_back(Arc::new(unsafe { OwnedFd::from_raw_fd(fd) }));
        }
        Ok(())
    }

    /// Hands pending connections to workers in turn. `try_send(worker, key, conn)` sends one
    /// if that worker is free (no handle awaiting its ACK) and says whether it did.
    pub fn dispatch(&mut self, mut try_send: impl FnMut(u32, &str, &Arc<OwnedFd>) -> bool) {
        let n = self.members.len();
        while let Some(conn) = self.pending.front() {
            let free = (0..n).map(|i| (self.next + i) % n).find(|&i| try_send(self.members[i], &self.key, conn));
            let Some(i) = free else { return };
            self.pending.pop_front();
            self.next = (i + 1) % n;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn() -> Arc<OwnedFd> {
        Arc::new(std::fs::File::open("/dev/null").unwrap().into())
    }

    #[test]
    fn serves_free_workers_in_turn() {
        let mut rr = RoundRobin::new(std::fs::File::open("/dev/null").unwrap().into(), "k".into(), None);
        for w in [1, 2, 3] {
            rr.add(w);
        }
        for _ in 0..5 {
            rr.requeue(conn());
        }
        let mut got = Vec::new();
        // Worker 2 is busy throughout.
        rr.dispatch(|w, _, _| {
            w != 2 && {
                got.push(w);
                true
            }
        });
        assert_eq!(got, [1, 3, 1, 3, 1]);
        assert!(!rr.has_pending());
        rr.requeue(conn());
        rr.dispatch(|_, _, _| false);
        assert!(rr.has_pending());
        rr.remove(1);
        rr.remove(3);
        rr.dispatch(|w, _, _| {
            got.push(w);
            true
        });
        assert_eq!(got.last(), Some(&2));
    }
}
