//! The cluster primary's part in the engine: round-robin distribution of connections and
//! `SO_REUSEPORT` listeners.
pub mod reuseport;
pub mod round_robin;

use std::sync::atomic::{AtomicU64, Ordering};

/// The primary's `NODE_CLUSTER` sequence counter, shared by JS and the engine as Node shares
/// one for all workers, so a worker's `ack` names exactly one request.
/// 64-bit, as Node's (a JS number) never wraps; exact in JS up to 2^53.
static SEQ: AtomicU64 = AtomicU64::new(0);

pub fn next_seq() -> u64 {
    SEQ.fetch_add(1, Ordering::Relaxed)
}
