//! native-cluster: Node's child_process and cluster machinery on a native engine.
#![deny(clippy::undocumented_unsafe_blocks)]

#[cfg(not(target_os = "linux"))]
compile_error!("native-cluster's engine uses epoll, pidfds and SCM_RIGHTS: it supports Linux only");

pub mod binding;
pub mod channel;
pub mod child;
pub mod cluster;
pub mod engine;
pub mod errors;
pub mod event;
pub mod guard;
pub mod js_loop;
pub mod logs;
pub mod orphans;
pub mod protocol;
pub mod reactor;
pub mod spawn;
pub mod spawn_sync;
pub mod sync;
pub mod systemd;
pub mod systemd_binding;
pub mod uv;
