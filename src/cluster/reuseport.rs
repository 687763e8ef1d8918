//! SCHED_REUSEPORT (ours, Linux): one `SO_REUSEPORT` socket per worker on the same address, so
//! the kernel spreads connections and the primary is out of the data path.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

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
    let domain = if addr.is_ipv4() { libc::AF_INET } else { libc::AF_INET6 };
    let fd = unsafe { libc::socket(domain, libc::SOCK_STREAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a fresh descriptor.
    let sock = unsafe { OwnedFd::from_raw_fd(fd) };
    // SO_REUSEADDR as libuv sets it on every TCP bind.
    set(&sock, libc::SOL_SOCKET, libc::SO_REUSEADDR, 1)?;
    set(&sock, libc::SOL_SOCKET, libc::SO_REUSEPORT, 1)?;
    if !addr.is_ipv4() {
        set(&sock, libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, i32::from(ipv6_only))?;
    }
    let (storage, len) = sockaddr(addr);
    if unsafe { libc::bind(fd, (&storage as *const libc::sockaddr_storage).cast(), len) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(sock)
}

fn set(sock: &OwnedFd, level: i32, opt: i32, value: i32) -> io::Result<()> {
    let r = unsafe {
        libc::setsockopt(sock.as_raw_fd(), level, opt, (&value as *const i32).cast(), std::mem::size_of::<i32>() as u32)
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

fn sockaddr(addr: SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = match addr {
        SocketAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr { s_addr: u32::from_ne_bytes(a.ip().octets()) },
                sin_zero: [0; 8],
            };
            unsafe { std::ptr::write((&mut storage as *mut libc::sockaddr_storage).cast(), sin) };
            std::mem::size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(a) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: a.flowinfo(),
                sin6_addr: libc::in6_addr { s6_addr: a.ip().octets() },
                sin6_scope_id: a.scope_id(),
            };
            unsafe { std::ptr::write((&mut storage as *mut libc::sockaddr_storage).cast(), sin6) };
            std::mem::size_of::<libc::sockaddr_in6>()
        }
    };
    (storage, len as libc::socklen_t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn port_of(sock: &OwnedFd) -> u16 {
        let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
        let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        unsafe { libc::getsockname(sock.as_raw_fd(), (&mut storage as *mut libc::sockaddr_storage).cast(), &mut len) };
        let sin = unsafe { *(&storage as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
        u16::from_be(sin.sin_port)
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
