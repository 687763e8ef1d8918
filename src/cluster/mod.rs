//! The cluster primary's part in the engine: round-robin distribution of connections and
//! `SO_REUSEPORT` listeners.
pub mod reuseport;
pub mod round_robin;

use std::sync::atomic::{AtomicU32, Ordering};

/// The primary's `NODE_CLUSTER` sequence counter, shared by JS and the engine as Node shares
/// one for all workers, so a worker's `ack` names exactly one request.
static SEQ: AtomicU32 = AtomicU32::new(0);

pub fn next_seq() -> u32 {
    SEQ.fetch_add(1, Ordering::Relaxed)
}
