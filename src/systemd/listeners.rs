//! Sockets this process was handed (`LISTEN_FDS`, from systemd or from the primary it
//! upgrades): taken over close-on-exec, and described by what they are bound to, so a worker's
//! `listen()` on that address can be given one.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use nix::fcntl::{fcntl, FcntlArg, FdFlag};
use nix::sys::socket::{getsockname, getsockopt, sockopt, AddressFamily, SockType, SockaddrLike, SockaddrStorage};

/// What a handed socket is.
#[derive(Debug, PartialEq, Eq)]
pub struct Description {
    /// `tcp`, `udp` or `unix`.
    pub kind: &'static str,
    /// 4 or 6 for IP sockets, 0 for unix ones.
    pub family: u8,
    /// The IP address, or the unix path (`@name` in the abstract namespace).
    pub address: String,
    /// The port (0 for unix sockets).
    pub port: u16,
    /// A stream socket that listens (systemd's `Accept=yes` passes connected ones).
    pub listening: bool,
}

/// Takes `fd` (inherited, numbered by the `LISTEN_FDS` convention) over: it must be a socket,
/// and it becomes close-on-exec, so only a child it is deliberately handed to gets it.
pub fn adopt(fd: RawFd) -> io::Result<OwnedFd> {
    if fd < 3 {
        return Err(io::Error::from_raw_os_error(libc::EBADF));
    }
    // SAFETY: the `LISTEN_FDS` convention gives this process these descriptors, which nothing
    // else in it owns; a number that is not open fails below with EBADF before it is owned.
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    fcntl(borrowed, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC))?;
    getsockopt(&borrowed, sockopt::SockType)?;
    // SAFETY: open, a socket, and ours alone (see above).
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// What `fd` is bound to.
pub fn describe(fd: impl AsFd) -> io::Result<Description> {
    let fd = fd.as_fd();
    let ty = getsockopt(&fd, sockopt::SockType)?;
    let addr: SockaddrStorage = getsockname(fd.as_raw_fd())?;
    let listening = ty == SockType::Stream && getsockopt(&fd, sockopt::AcceptConn)?;
    let stream = ty == SockType::Stream;
    let unsupported = || io::Error::from_raw_os_error(libc::EAFNOSUPPORT);
    match addr.family() {
        Some(AddressFamily::Inet) => {
            let a = addr.as_sockaddr_in().ok_or_else(unsupported)?;
            Ok(ip(stream, 4, a.ip().to_string(), a.port(), listening))
        }
        Some(AddressFamily::Inet6) => {
            let a = addr.as_sockaddr_in6().ok_or_else(unsupported)?;
            Ok(ip(stream, 6, a.ip().to_string(), a.port(), listening))
        }
        Some(AddressFamily::Unix) if stream => {
            let a = addr.as_unix_addr().ok_or_else(unsupported)?;
            let address = match (a.path(), a.as_abstract()) {
                (Some(path), _) => path.to_string_lossy().into_owned(),
                (None, Some(name)) => format!("@{}", String::from_utf8_lossy(name)),
                (None, None) => String::new(),
            };
            Ok(Description { kind: "unix", family: 0, address, port: 0, listening })
        }
        _ => Err(unsupported()),
    }
}

fn ip(stream: bool, family: u8, address: String, port: u16, listening: bool) -> Description {
    Description { kind: if stream { "tcp" } else { "udp" }, family, address, port, listening }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{TcpListener, UdpSocket};
    use std::os::fd::IntoRawFd;
    use std::os::unix::net::UnixListener;

    #[test]
    fn describes_tcp_udp_and_unix_sockets() {
        let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = tcp.local_addr().unwrap().port();
        let d = describe(OwnedFd::from(tcp)).unwrap();
        assert_eq!(d, Description { kind: "tcp", family: 4, address: "127.0.0.1".into(), port, listening: true });

        let udp = UdpSocket::bind("[::1]:0").unwrap();
        let port = udp.local_addr().unwrap().port();
        let d = describe(OwnedFd::from(udp)).unwrap();
        assert_eq!(d, Description { kind: "udp", family: 6, address: "::1".into(), port, listening: false });

        let path = std::env::temp_dir().join(format!("nc-listeners-{}.sock", std::process::id()));
        let unix = UnixListener::bind(&path).unwrap();
        let d = describe(OwnedFd::from(unix)).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!((d.kind, d.address.as_str(), d.listening), ("unix", path.to_str().unwrap(), true));
    }

    #[test]
    fn adopts_sockets_only() {
        let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
        let fd = adopt(tcp.into_raw_fd()).unwrap();
        // SAFETY: a descriptor this test owns, read for its flags.
        let flags = fcntl(unsafe { BorrowedFd::borrow_raw(fd.as_raw_fd()) }, FcntlArg::F_GETFD).unwrap();
        assert!(FdFlag::from_bits_retain(flags).contains(FdFlag::FD_CLOEXEC));
        let file = std::fs::File::open("/dev/null").unwrap();
        let raw = file.as_raw_fd();
        assert_eq!(adopt(raw).unwrap_err().raw_os_error(), Some(libc::ENOTSOCK));
        drop(file);
        assert_eq!(adopt(2).unwrap_err().raw_os_error(), Some(libc::EBADF));
    }
}
