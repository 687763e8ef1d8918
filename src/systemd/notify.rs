//! `sd_notify`: one datagram a notification, from a close-on-exec socket that lives for that
//! one send (as libsystemd does), so no descriptor outlives the call.

use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

use nix::sys::socket::{bind, recv, sendto, socket, AddressFamily, MsgFlags, SockFlag, SockType, UnixAddr};

use super::address::NotifyAddress;

fn unix_addr(address: &NotifyAddress) -> io::Result<UnixAddr> {
    let addr = match address {
        NotifyAddress::Path(path) => UnixAddr::new(std::ffi::OsStr::from_bytes(path)),
        NotifyAddress::Abstract(name) => UnixAddr::new_abstract(name),
    };
    Ok(addr?)
}

fn datagram_socket() -> io::Result<OwnedFd> {
    Ok(socket(AddressFamily::Unix, SockType::Datagram, SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK, None)?)
}

/// Sends `message` (`KEY=VALUE` lines) to `address` in one datagram. A full receive queue is
/// `EAGAIN`, not a wait: a notification must never hold the primary up.
pub fn send(address: &NotifyAddress, message: &[u8]) -> io::Result<()> {
    let sock = datagram_socket()?;
    sendto(sock.as_raw_fd(), message, &unix_addr(address)?, MsgFlags::MSG_NOSIGNAL)?;
    Ok(())
}

/// The receiving end (what systemd has), for tests without systemd: a bound, non-blocking,
/// close-on-exec datagram socket.
pub fn bind_receiver(address: &NotifyAddress) -> io::Result<OwnedFd> {
    let sock = datagram_socket()?;
    bind(sock.as_raw_fd(), &unix_addr(address)?)?;
    Ok(sock)
}

/// The next datagram waiting on a receiver, if any.
pub fn receive(sock: impl AsFd) -> io::Result<Option<Vec<u8>>> {
    // systemd's own limit for a notification is far below this.
    let mut buf = vec![0u8; 64 * 1024];
    match recv(sock.as_fd().as_raw_fd(), &mut buf, MsgFlags::MSG_DONTWAIT) {
        Ok(n) => {
            buf.truncate(n);
            Ok(Some(buf))
        }
        Err(nix::errno::Errno::EAGAIN) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn abstract_datagrams_arrive_in_order() {
        let name = format!("native-cluster-notify-test-{}", std::process::id());
        let address = NotifyAddress::Abstract(name.into_bytes());
        let receiver = bind_receiver(&address).unwrap();
        assert_eq!(receive(&receiver).unwrap(), None);
        send(&address, b"READY=1\nSTATUS=up").unwrap();
        send(&address, b"STOPPING=1").unwrap();
        assert_eq!(receive(&receiver).unwrap().unwrap(), b"READY=1\nSTATUS=up");
        assert_eq!(receive(&receiver).unwrap().unwrap(), b"STOPPING=1");
    }

    #[test]
    fn nobody_listening_is_an_error() {
        let address = NotifyAddress::Path(b"/nonexistent-native-cluster/notify".to_vec());
        assert_eq!(send(&address, b"READY=1").unwrap_err().raw_os_error(), Some(libc::ENOENT));
    }
}
