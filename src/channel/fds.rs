//! The syscalls of passing descriptors over a channel: `sendmsg`/`recvmsg` with `SCM_RIGHTS`,
//! and telling what kind of socket a descriptor is.

use std::collections::VecDeque;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

use crate::protocol::handle::FdKind;

/// One `send` on a socket, carrying `fd` (one `SCM_RIGHTS` descriptor) when given.
pub fn send(sock: RawFd, data: &[u8], fd: Option<RawFd>) -> io::Result<usize> {
    // MSG_NOSIGNAL: a dead peer is an EPIPE error, never a signal.
    let n = match fd {
        None => unsafe { libc::send(sock, data.as_ptr().cast(), data.len(), libc::MSG_NOSIGNAL) },
        Some(fd) => unsafe {
            let mut iov = libc::iovec { iov_base: data.as_ptr() as *mut _, iov_len: data.len() };
            let mut cmsg = [0u64; 4];
            let mut msg: libc::msghdr = std::mem::zeroed();
            msg.msg_iov = &mut iov;
            msg.msg_iovlen = 1;
            msg.msg_control = cmsg.as_mut_ptr().cast();
            msg.msg_controllen = libc::CMSG_SPACE(std::mem::size_of::<RawFd>() as u32) as usize;
            let c = libc::CMSG_FIRSTHDR(&msg);
            (*c).cmsg_level = libc::SOL_SOCKET;
            (*c).cmsg_type = libc::SCM_RIGHTS;
            (*c).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<RawFd>() as u32) as usize;
            std::ptr::write_unaligned(libc::CMSG_DATA(c).cast::<RawFd>(), fd);
            libc::sendmsg(sock, &msg, libc::MSG_NOSIGNAL)
        },
    };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// What one `recvmsg` brought besides bytes.
pub struct Received {
    pub len: usize,
    /// The kernel dropped descriptors for lack of control-buffer room (`MSG_CTRUNC`).
    pub truncated: bool,
}

/// Receives bytes; descriptors that ride along are appended to `fds`, close-on-exec.
pub fn recv(sock: RawFd, buf: &mut [u8], fds: &mut VecDeque<OwnedFd>) -> io::Result<Received> {
    let mut iov = libc::iovec { iov_base: buf.as_mut_ptr().cast(), iov_len: buf.len() };
    // 256 bytes, as libuv: room for 60 descriptors in one message.
    let mut cmsg = [0u64; 32];
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cmsg.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&cmsg);
    let n = unsafe { libc::recvmsg(sock, &mut msg, libc::MSG_CMSG_CLOEXEC | libc::MSG_DONTWAIT) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    if msg.msg_controllen > 0 {
        take_fds(&msg, fds);
    }
    Ok(Received { len: n as usize, truncated: msg.msg_flags & libc::MSG_CTRUNC != 0 })
}

fn take_fds(msg: &libc::msghdr, fds: &mut VecDeque<OwnedFd>) {
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_RIGHTS {
                let data = libc::CMSG_DATA(c) as *const RawFd;
                let n = ((*c).cmsg_len as usize - libc::CMSG_LEN(0) as usize) / std::mem::size_of::<RawFd>();
                for i in 0..n {
                    // SAFETY: the kernel just installed these descriptors for us.
                    fds.push_back(OwnedFd::from_raw_fd(std::ptr::read_unaligned(data.add(i))));
                }
            }
            c = libc::CMSG_NXTHDR(msg, c);
        }
    }
}

/// A close-on-exec duplicate of a descriptor someone else owns.
pub fn dup(fd: RawFd) -> io::Result<OwnedFd> {
    let r = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a fresh descriptor.
    Ok(unsafe { OwnedFd::from_raw_fd(r) })
}

/// Which handle a descriptor can become in Node, as libuv would guess it; `None` for
/// anything Node cannot use as a handle (files, ttys, pipes, other sockets).
pub fn kind(fd: RawFd) -> Option<FdKind> {
    // Anything but a socket fails with ENOTSOCK.
    let ty = sockopt(fd, libc::SO_TYPE)?;
    let domain = sockopt(fd, libc::SO_DOMAIN)?;
    match (ty, domain) {
        (libc::SOCK_STREAM, libc::AF_INET | libc::AF_INET6) => Some(FdKind::Tcp),
        (libc::SOCK_STREAM, libc::AF_UNIX) => Some(FdKind::Pipe),
        (libc::SOCK_DGRAM, libc::AF_INET | libc::AF_INET6) => Some(FdKind::Udp),
        _ => None,
    }
}

fn sockopt(fd: RawFd, opt: libc::c_int) -> Option<libc::c_int> {
    let mut v: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    let r = unsafe { libc::getsockopt(fd, libc::SOL_SOCKET, opt, (&mut v as *mut libc::c_int).cast(), &mut len) };
    (r == 0).then_some(v)
}

/// Received descriptors go to libuv, which expects non-blocking ones.
pub fn set_nonblocking(fd: RawFd) {
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags >= 0 {
            libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK);
        }
    }
}
