//! The napi glue of `src/systemd/`: notifications, handed sockets, and the descriptor copies a
//! primary upgrade passes on. Converts and delegates; errors in the engine's convention.

use std::os::fd::{BorrowedFd, RawFd};

use napi::Env;
use napi_derive::napi;

use crate::binding::{sys_error, ReceivedFd};
use crate::channel::fds;
use crate::engine::{engine, group_token, Msg};
use crate::systemd::address::NotifyAddress;
use crate::systemd::{listeners, notify};

fn notify_address(env: &Env, address: &str) -> napi::Result<NotifyAddress> {
    NotifyAddress::parse(address)
        .ok_or_else(|| sys_error(env, std::io::Error::from_raw_os_error(libc::EINVAL), "sd_notify"))
}

/// A descriptor JS holds open (in a `ReceivedFd`) for the duration of one call.
fn borrowed(env: &Env, fd: RawFd, syscall: &str) -> napi::Result<BorrowedFd<'static>> {
    if fd < 0 {
        return Err(sys_error(env, std::io::Error::from_raw_os_error(libc::EBADF), syscall));
    }
    // SAFETY: JS's object keeps it open while this call runs; a number that is not open makes
    // the syscall fail with EBADF.
    Ok(unsafe { BorrowedFd::borrow_raw(fd) })
}

/// Sends one notification (`KEY=VALUE` lines) to `NOTIFY_SOCKET`'s `address`.
#[napi]
pub fn notify_send(env: Env, address: String, message: String) -> napi::Result<()> {
    let address = notify_address(&env, &address)?;
    notify::send(&address, message.as_bytes()).map_err(|e| sys_error(&env, e, "sd_notify"))
}

/// Test support (no systemd in CI): binds the receiving end of `address`, as systemd would.
#[napi]
pub fn notify_receiver(env: Env, address: String) -> napi::Result<ReceivedFd> {
    let address = notify_address(&env, &address)?;
    notify::bind_receiver(&address).map(ReceivedFd::from).map_err(|e| sys_error(&env, e, "bind"))
}

/// Test support: the next notification waiting on a receiver, or null.
#[napi]
pub fn notify_receive(env: Env, fd: i32) -> napi::Result<Option<String>> {
    let sock = borrowed(&env, fd, "recv")?;
    let got = notify::receive(sock).map_err(|e| sys_error(&env, e, "recv"))?;
    Ok(got.map(|bytes| String::from_utf8_lossy(&bytes).into_owned()))
}

/// What a handed socket is bound to.
#[napi(object, object_from_js = false)]
pub struct SocketDescription {
    pub kind: String,
    pub family: u32,
    pub address: String,
    pub port: u32,
    pub listening: bool,
}

/// Takes over descriptor `fd` of the `LISTEN_FDS` range: a socket, made close-on-exec.
#[napi]
pub fn listener_adopt(env: Env, fd: i32) -> napi::Result<ReceivedFd> {
    listeners::adopt(fd).map(ReceivedFd::from).map_err(|e| sys_error(&env, e, "adopt"))
}

#[napi]
pub fn socket_describe(env: Env, fd: i32) -> napi::Result<SocketDescription> {
    let d = listeners::describe(borrowed(&env, fd, "getsockname")?).map_err(|e| sys_error(&env, e, "getsockname"))?;
    Ok(SocketDescription {
        kind: d.kind.to_owned(),
        family: u32::from(d.family),
        address: d.address,
        port: u32::from(d.port),
        listening: d.listening,
    })
}

/// A close-on-exec copy of a descriptor of this process, for JS to own.
#[napi]
pub fn dup_fd(env: Env, fd: i32) -> napi::Result<ReceivedFd> {
    fds::dup(fd).map(ReceivedFd::from).map_err(|e| sys_error(&env, e, "dup"))
}

/// A round-robin group accepts no more; it still hands out what it accepted.
#[napi]
pub fn round_robin_quiesce(id: u32) {
    if let Ok(e) = engine() {
        e.post(group_token(id), Msg::Quiesce);
    }
}
