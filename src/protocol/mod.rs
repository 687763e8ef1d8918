//! Node's internal message protocol, as far as the engine needs to understand it.
pub mod cluster;
pub mod guard;
pub mod handle;
pub mod internal;
pub mod v8;
