//! The few libuv calls the addon makes, to watch a descriptor on Node's own loop (the loop
//! of the JS environment that calls them). The node binary exports libuv's symbols; they
//! resolve when the addon loads. Everything here runs on that loop's thread.

use std::ffi::{c_int, c_void};

/// libuv's `uv_loop_t`, opaque.
#[repr(C)]
pub struct Loop {
    _opaque: [u8; 0],
}

/// Room for a `uv_poll_t`, whose size libuv does not promise; `PollHandle::fits` checks it.
#[repr(C, align(16))]
pub struct PollHandle([u8; 256]);

/// Room for a `uv_check_t`; `CheckHandle::fits` checks it.
#[repr(C, align(16))]
pub struct CheckHandle([u8; 256]);

/// `UV_CHECK` and `UV_POLL` in libuv's `uv_handle_type`.
const UV_CHECK: c_int = 2;
const UV_POLL: c_int = 8;
/// `UV_READABLE` in libuv's `uv_poll_event`.
pub const READABLE: c_int = 1;

pub type PollCb = unsafe extern "C" fn(handle: *mut PollHandle, status: c_int, events: c_int);
pub type CheckCb = unsafe extern "C" fn(handle: *mut CheckHandle);
/// Called with the handle that closed (any kind).
pub type CloseCb = unsafe extern "C" fn(handle: *mut c_void);

extern "C" {
    fn uv_handle_size(kind: c_int) -> usize;
    fn uv_poll_init(lp: *mut Loop, handle: *mut PollHandle, fd: c_int) -> c_int;
    fn uv_poll_start(handle: *mut PollHandle, events: c_int, cb: PollCb) -> c_int;
    fn uv_poll_stop(handle: *mut PollHandle) -> c_int;
    fn uv_check_init(lp: *mut Loop, handle: *mut CheckHandle) -> c_int;
    fn uv_check_start(handle: *mut CheckHandle, cb: CheckCb) -> c_int;
    fn uv_check_stop(handle: *mut CheckHandle) -> c_int;
    fn uv_unref(handle: *mut c_void);
    fn uv_close(handle: *mut c_void, cb: CloseCb);
}

impl Default for PollHandle {
    fn default() -> Self {
        PollHandle([0; 256])
    }
}

impl Default for CheckHandle {
    fn default() -> Self {
        CheckHandle([0; 256])
    }
}

/// libuv's status (0 or a negative errno) as a result.
fn status(r: c_int) -> Result<(), c_int> {
    if r < 0 {
        Err(r)
    } else {
        Ok(())
    }
}

/// The end of an `init`: a handle that initialised (`r`) is unref'd, so it never keeps the
/// loop alive; one that failed needs no close.
///
/// # Safety
/// `handle` is a libuv handle (it starts with `uv_handle_t`) whose init returned `r`.
unsafe fn unref_initialised(handle: *mut c_void, r: c_int) -> Result<(), c_int> {
    status(r)?;
    // SAFETY: the caller's contract: an initialised handle.
    unsafe { uv_unref(handle) };
    Ok(())
}

/// Stops and closes a handle of any kind; `cb` runs on a later turn of the loop, after which
/// the handle's memory (and a poll handle's descriptor) may go.
///
/// # Safety
/// `handle` is a libuv handle, initialised and not closed; on its loop's thread.
pub unsafe fn close<H>(handle: *mut H, cb: CloseCb) {
    // SAFETY: the caller's contract; uv_close stops the handle first.
    unsafe { uv_close(handle.cast(), cb) };
}

impl PollHandle {
    /// Whether this libuv's `uv_poll_t` fits in a `PollHandle`.
    pub fn fits() -> bool {
        // SAFETY: a pure function of its argument.
        unsafe { uv_handle_size(UV_POLL) <= std::mem::size_of::<PollHandle>() }
    }

    /// Initialises a handle for `fd` on `lp` that does not keep the loop alive. Returns
    /// libuv's error (negative errno).
    ///
    /// # Safety
    /// `lp` is the calling thread's live loop; `handle` stays at this address until the close
    /// callback of `close` has run; `fd` stays open until then; `fits()` holds.
    pub unsafe fn init(handle: *mut PollHandle, lp: *mut Loop, fd: c_int) -> Result<(), c_int> {
        // SAFETY: the caller's contract; the handle is ours to initialise.
        unsafe { unref_initialised(handle.cast(), uv_poll_init(lp, handle, fd)) }
    }

    /// Watches for readability, calling `cb`.
    ///
    /// # Safety
    /// `handle` was initialised and not closed; on its loop's thread.
    pub unsafe fn start(handle: *mut PollHandle, cb: PollCb) -> Result<(), c_int> {
        // SAFETY: the caller's contract.
        status(unsafe { uv_poll_start(handle, READABLE, cb) })
    }

    /// # Safety
    /// `handle` was started and not closed; on its loop's thread.
    pub unsafe fn stop(handle: *mut PollHandle) {
        // SAFETY: the caller's contract; stopping a stopped handle is a no-op.
        unsafe { uv_poll_stop(handle) };
    }
}

/// A check handle runs its callback once per loop iteration right after the I/O callbacks
/// (before Node's own `setImmediate` callbacks, which run from a check handle started
/// earlier: libuv runs the newest first).
impl CheckHandle {
    /// Whether this libuv's `uv_check_t` fits in a `CheckHandle`.
    pub fn fits() -> bool {
        // SAFETY: a pure function of its argument.
        unsafe { uv_handle_size(UV_CHECK) <= std::mem::size_of::<CheckHandle>() }
    }

    /// Initialises a handle on `lp` that does not keep the loop alive.
    ///
    /// # Safety
    /// `lp` is the calling thread's live loop; `handle` stays at this address until the close
    /// callback of `close` has run; `fits()` holds.
    pub unsafe fn init(handle: *mut CheckHandle, lp: *mut Loop) -> Result<(), c_int> {
        // SAFETY: the caller's contract; the handle is ours to initialise.
        unsafe { unref_initialised(handle.cast(), uv_check_init(lp, handle)) }
    }

    /// # Safety
    /// `handle` was initialised and not closed; on its loop's thread.
    pub unsafe fn start(handle: *mut CheckHandle, cb: CheckCb) -> Result<(), c_int> {
        // SAFETY: the caller's contract; starting a started handle is a no-op.
        status(unsafe { uv_check_start(handle, cb) })
    }

    /// # Safety
    /// `handle` was initialised and not closed; on its loop's thread.
    pub unsafe fn stop(handle: *mut CheckHandle) {
        // SAFETY: the caller's contract; stopping a stopped handle is a no-op.
        unsafe { uv_check_stop(handle) };
    }
}
