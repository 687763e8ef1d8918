//! The syscalls of passing descriptors over a channel: `sendmsg`/`recvmsg` with `SCM_RIGHTS`,
//! and telling what kind of socket a descriptor is.

use std::collections::VecDeque;
use std::io::{self, IoSlice, IoSliceMut};
use std::os::fd::{BorrowedFd, FromRawFd, OwnedFd, RawFd};

use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::sys::socket::{recvmsg, sendmsg, ControlMessage, ControlMessageOwned, MsgFlags, UnixAddr};

use crate::protocol::handle::FdKind;

/// One `send` on a socket, carrying `fd` (one `SCM_RIGHTS` descriptor) when given.
pub fn send(sock: RawFd, data: &[u8], fd: Option<RawFd>) -> io::Result<usize> {
    // MSG_NOSIGNAL: a dead peer is an EPIPE error, never a signal.
    let flags = MsgFlags::MSG_NOSIGNAL;
    let sent = match fd {
        None => nix::sys::socket::send(sock, data, flags),
        Some(fd) => sendmsg::<UnixAddr>(sock, &[IoSlice::new(data)], &[ControlMessage::ScmRights(&[fd])], flags, None),
    };
    Ok(sent?)
}

/// What one `recvmsg` brought besides bytes.
pub struct Received {
    pub len: usize,
    /// The kernel dropped descriptors for lack of control-buffer room (`MSG_CTRUNC`).
    pub truncated: bool,
}

/// Receives bytes; descriptors that ride along are appended to `fds`, close-on-exec.
pub fn recv(sock: RawFd, buf: &mut [u8], fds: &mut VecDeque<OwnedFd>) -> io::Result<Received> {
    // 256 bytes, as libuv: room for 60 descriptors in one message.
    let mut cmsg = [0u8; 256];
    let mut iov = [IoSliceMut::new(buf)];
    let flags = MsgFlags::MSG_CMSG_CLOEXEC | MsgFlags::MSG_DONTWAIT;
    let msg = recvmsg::<UnixAddr>(sock, &mut iov, Some(&mut cmsg), flags)?;
    for c in msg.cmsgs()? {
        if let ControlMessageOwned::ScmRights(received) = c {
            // SAFETY: the kernel just installed these descriptors in this process for us.
            fds.extend(received.into_iter().map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }));
        }
    }
    Ok(Received { len: msg.bytes, truncated: msg.flags.contains(MsgFlags::MSG_CTRUNC) })
}

/// A descriptor number JS passed in, for the duration of one call.
fn borrow(fd: RawFd) -> io::Result<BorrowedFd<'static>> {
    if fd < 0 {
        return Err(io::Error::from_raw_os_error(libc::EBADF));
    }
    // SAFETY: used only within the engine call JS made with it, while JS's object holds it
    // open; a number that is not open makes the syscall fail with EBADF.
    Ok(unsafe { BorrowedFd::borrow_raw(fd) })
}

/// A close-on-exec duplicate of a descriptor someone else owns.
pub fn dup(fd: RawFd) -> io::Result<OwnedFd> {
    let r = fcntl(borrow(fd)?, FcntlArg::F_DUPFD_CLOEXEC(0))?;
    // SAFETY: a fresh descriptor, owned from here on.
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
    // SAFETY: an int-sized out buffer with its length (nix has no SO_DOMAIN option); a bad fd
    // or non-socket is an error.
    let r = unsafe { libc::getsockopt(fd, libc::SOL_SOCKET, opt, (&mut v as *mut libc::c_int).cast(), &mut len) };
    (r == 0).then_some(v)
}

/// Received descriptors go to libuv, which expects non-blocking ones.
pub fn set_nonblocking(fd: RawFd) -> io::Result<()> {
    let fd = borrow(fd)?;
    let flags = OFlag::from_bits_retain(fcntl(fd, FcntlArg::F_GETFL)?);
    fcntl(fd, FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK))?;
    Ok(())
}
