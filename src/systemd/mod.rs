//! What a systemd service needs from the engine: `sd_notify` datagrams (`NOTIFY_SOCKET`) and
//! the sockets it passes (`LISTEN_FDS`), which a primary upgrade passes the same way.
pub mod address;
pub mod listeners;
pub mod notify;
