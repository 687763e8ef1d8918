//! Locks that do not cascade a panic: a panic on one thread (caught and reported as an engine
//! failure) must not make every later lock of the same data panic too. The data behind these
//! locks is kept consistent at every await-free step, so the state a panicking holder left is
//! still usable.

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Locks `m`, taking over the guard of a poisoned lock.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
