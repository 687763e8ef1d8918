//! SCHED_REUSEPORT (ours, Linux): one `SO_REUSEPORT` socket per worker on the same address, so
//! the kernel spreads connections and the primary is out of the data path.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsRawFd, OwnedFd};

use nix::sys::socket::{
    bind as bind_fd, setsockopt, socket, sockopt, AddressFamily, SockFlag, SockType, SockaddrStorage,
};

/// A bound (not listening) TCP socket with `SO_REUSEPORT`, as Node's primary binds a shared
/// handle: no address means `::` (dual stack) with a fallback to `0.0.0.0`.
pub fn bind(address: Option<&str>, port: u16, ipv6_only: bool) -> io::Result<OwnedFd> {
    let ip = match address {
        Some(a) => a.parse::<IpAddr>().map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?,
        None => match bind_to(SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port), ipv6_only) {
            Ok(fd) => return Ok(fd),
            Err(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        },
    };
    bind_to(SocketAddr::new(ip, port), ipv6_only)
}

fn bind_to(addr: SocketAddr, ipv6_only: bool) -> io::Result<OwnedFd> {
    let family = if addr.is_ipv4() { AddressFamily::Inet } else { AddressFamily::Inet6 };
    let sock = socket(family, SockType::Stream, SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK, None)?;
    // SO_REUSEADDR as libuv sets it on every TCP bind.
    setsockopt(&sock, sockopt::ReuseAddr, &true)?;
    setsockopt(&sock, sockopt::ReusePort, &true)?;
    if !addr.is_ipv4() {
        setsockopt(&sock, sockopt::Ipv6V6Only, &ipv6_only)?;
    }
    bind_fd(sock.as_raw_fd(), &SockaddrStorage::from(addr))?;
    Ok(sock)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn port_of(sock: &OwnedFd) -> u16 {
        let addr: SockaddrStorage = nix::sys::socket::getsockname(sock.as_raw_fd()).unwrap();
        addr.as_sockaddr_in().unwrap().port()
    }

    #[test]
    fn sockets_share_a_port() {
        let a = bind(Some("127.0.0.1"), 0, false).unwrap();
        let port = port_of(&a);
        let b = bind(Some("127.0.0.1"), port, false).unwrap();
        assert_eq!(port_of(&b), port);
        assert!(bind(Some("not an address"), port, false).is_err());
    }
}
