//! Reading channels on the JS thread. Each JS environment watches the channels its JS reads
//! (`ReadOwner::Js`) on its own libuv loop, through a duplicate of each channel's socket; a
//! readable channel is read right in libuv's callback (the engine's parser splits and batches
//! there) and JS is called once the loop's I/O callbacks are done (one call for every channel
//! that was readable on that turn): a reply to an idle JS thread crosses no thread. The I/O
//! thread reads whatever must go on while JS is blocked, and hands reading back through the
//! env's queue (`Event::ReadByJs`), so frames keep their order whichever thread read them.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::ffi::{c_int, c_void};
use std::os::fd::{AsRawFd, OwnedFd};
use std::ptr;
use std::rc::Rc;
use std::sync::Arc;

use napi::sys;
use napi::{Env, JsFunction, NapiRaw};

use crate::channel::{fds, Channel};
use crate::engine::{channel_token, engine, EnvId, Msg};
use crate::event::Event;
use crate::uv::{self, CheckHandle, PollHandle};

/// How a libuv callback calls JS: the env's wake-up function, as Node calls its own handles'
/// callbacks (microtasks and `nextTick`s run after it).
#[derive(Clone, Copy)]
struct Wake {
    env: sys::napi_env,
    callback: sys::napi_ref,
    context: sys::napi_async_context,
}

impl Wake {
    /// Calls JS; an exception it throws becomes an uncaught exception, as from Node's own.
    ///
    /// # Safety
    /// On the env's thread, from a libuv callback (no JS on the stack), while the env lives.
    unsafe fn call(self) {
        let mut scope = ptr::null_mut();
        let (mut func, mut recv, mut result) = (ptr::null_mut(), ptr::null_mut(), ptr::null_mut());
        // SAFETY: the caller's contract; every out-parameter is ours.
        unsafe {
            if sys::napi_open_handle_scope(self.env, &mut scope) != sys::Status::napi_ok {
                return;
            }
            if sys::napi_get_reference_value(self.env, self.callback, &mut func) == sys::Status::napi_ok
                && sys::napi_get_global(self.env, &mut recv) == sys::Status::napi_ok
            {
                let status = sys::napi_make_callback(self.env, self.context, recv, func, 0, ptr::null(), &mut result);
                if status == sys::Status::napi_pending_exception {
                    let mut err = ptr::null_mut();
                    sys::napi_get_and_clear_last_exception(self.env, &mut err);
                    sys::napi_fatal_exception(self.env, err);
                }
            }
            sys::napi_close_handle_scope(self.env, scope);
        }
    }
}

/// One watched channel. `handle` comes first, so libuv's handle pointer is the `Poll`'s.
#[repr(C)]
struct Poll {
    handle: PollHandle,
    chan: Arc<Channel>,
    /// The JS thread's duplicate of the channel's socket: the I/O thread may close its own
    /// while this is still watched; this one closes as soon as the handle is closing.
    fd: Option<OwnedFd>,
    env: EnvId,
    wake: Wake,
    active: bool,
    polls: Rc<Polls>,
}

/// The env's one call into JS per turn of its loop: channels read by the I/O callbacks queue
/// their events, and JS runs once after all of them (libuv's check phase, before Node's own
/// `setImmediate` callbacks) rather than once per readable channel. `handle` comes first.
#[repr(C)]
struct Deferred {
    handle: CheckHandle,
    wake: Wake,
    armed: bool,
    polls: Rc<Polls>,
}

/// The env's watched channels, shared with their handles' callbacks (which may run after
/// the env's instance data is gone, while the env is torn down).
#[derive(Default)]
struct Polls {
    by_id: RefCell<HashMap<u32, *mut Poll>>,
    /// Null where the loop cannot take a check handle: JS is then called from each read.
    deferred: Cell<*mut Deferred>,
    /// Handles whose close has not completed.
    closing: Cell<usize>,
    /// The env is being torn down; it waits for `closing` to reach 0, then this hook goes.
    teardown: Cell<Option<sys::napi_async_cleanup_hook_handle>>,
    tearing_down: Cell<bool>,
}

/// What an env keeps for reading on its thread.
pub struct JsLoop {
    lp: *mut uv::Loop,
    wake: Wake,
    env: EnvId,
    polls: Rc<Polls>,
}

impl JsLoop {
    /// `callback` is the env's wake-up function (it drains the env's queue).
    pub fn new(env: &Env, callback: &JsFunction, id: EnvId) -> napi::Result<Option<JsLoop>> {
        if !PollHandle::fits() {
            return Ok(None);
        }
        let raw = env.raw();
        let check = |status| {
            if status == sys::Status::napi_ok {
                Ok(())
            } else {
                Err(napi::Error::from_reason("native-cluster engine: cannot watch channels on the JS loop"))
            }
        };
        let mut lp = ptr::null_mut();
        let mut callback_ref = ptr::null_mut();
        let mut context = ptr::null_mut();
        let resource = env.create_object()?;
        let name = env.create_string("NativeClusterChannel")?;
        let polls = Rc::new(Polls::default());
        // SAFETY: a live env on its own thread, values of it, and out-parameters of ours.
        unsafe {
            check(sys::napi_get_uv_event_loop(raw, &mut lp))?;
            check(sys::napi_create_reference(raw, callback.raw(), 1, &mut callback_ref))?;
            check(sys::napi_async_init(raw, resource.raw(), name.raw(), &mut context))?;
            let arg = Rc::into_raw(polls.clone()) as *mut c_void;
            check(sys::napi_add_async_cleanup_hook(raw, Some(teardown), arg, ptr::null_mut()))?;
        }
        let wake = Wake { env: raw, callback: callback_ref, context };
        let lp: *mut uv::Loop = lp.cast();
        if CheckHandle::fits() {
            let deferred = Box::into_raw(Box::new(Deferred {
                handle: CheckHandle::default(),
                wake,
                armed: false,
                polls: polls.clone(),
            }));
            // SAFETY: this env's loop on its thread; the handle lives in the leaked `Deferred`
            // until its close callback frees it (at the env's teardown).
            if unsafe { CheckHandle::init(deferred.cast(), lp) }.is_ok() {
                polls.deferred.set(deferred);
            } else {
                // SAFETY: leaked just above, never seen by libuv.
                drop(unsafe { Box::from_raw(deferred) });
            }
        }
        Ok(Some(JsLoop { lp, wake, env: id, polls }))
    }

    /// Before the engine has `chan`: this thread reads it while idle (if it cannot watch it,
    /// the I/O thread reads it).
    pub fn watch(&self, chan: &Arc<Channel>) {
        let Some(raw) = chan.raw_fd() else { return };
        let Ok(fd) = fds::dup(raw) else { return };
        let dup = fd.as_raw_fd();
        chan.read_on_js_thread();
        let poll = Box::into_raw(Box::new(Poll {
            handle: PollHandle::default(),
            chan: chan.clone(),
            fd: Some(fd),
            env: self.env,
            wake: self.wake,
            active: true,
            polls: self.polls.clone(),
        }));
        // SAFETY: this env's loop on its thread; the handle lives in the leaked `Poll` until
        // its close callback frees it, and `dup` until it is closed.
        if unsafe { PollHandle::init(poll.cast(), self.lp, dup) }.is_err() {
            // SAFETY: leaked just above, never seen by libuv.
            drop(unsafe { Box::from_raw(poll) });
            // The engine does not have the channel yet: its source starts reading it.
            chan.reading_to_io(true);
            return;
        }
        // SAFETY: initialised just above.
        if unsafe { PollHandle::start(poll.cast(), on_readable) }.is_err() {
            close(&self.polls, poll);
            chan.reading_to_io(true);
            return;
        }
        self.polls.by_id.borrow_mut().insert(chan.id, poll);
    }

    /// JS took a batch of events: channels the I/O thread handed back are read here again,
    /// closed ones are no longer watched. The addon's own events are left out.
    pub fn took(&self, events: &mut Vec<Event>) {
        events.retain(|e| match *e {
            Event::ReadByJs { id } => {
                self.read_again(id);
                false
            }
            Event::Closed { id } => {
                self.forget(id);
                true
            }
            _ => true,
        });
    }

    fn read_again(&self, id: u32) {
        let Some(&poll) = self.polls.by_id.borrow().get(&id) else { return };
        // SAFETY: a poll in the table is live (removed before it is closed); on its thread.
        let p = unsafe { &mut *poll };
        if !p.chan.reading_to_js() {
            return;
        }
        // SAFETY: as above.
        if p.active || unsafe { PollHandle::start(poll.cast(), on_readable) }.is_ok() {
            p.active = true;
        } else if p.chan.reading_to_io(false) {
            if let Ok(e) = engine() {
                e.post(channel_token(id), Msg::TakeOver);
            }
        }
    }

    fn forget(&self, id: u32) {
        let Some(poll) = self.polls.by_id.borrow_mut().remove(&id) else { return };
        close(&self.polls, poll);
    }
}

fn close(polls: &Polls, poll: *mut Poll) {
    polls.closing.set(polls.closing.get() + 1);
    // SAFETY: a live poll just taken out of the table, on its loop's thread. libuv is done
    // with the descriptor once uv_close returns (it removes it from epoll there), so it closes
    // now rather than on a later turn: nobody sees it open after the channel closed.
    unsafe {
        uv::close(poll, on_closed);
        (*poll).fd = None;
    }
}

/// Calls JS once the loop's I/O callbacks of this turn are done (at once if it cannot).
fn call_soon(polls: &Polls, wake: Wake) {
    let deferred = polls.deferred.get();
    if !deferred.is_null() {
        // SAFETY: a non-null `deferred` is live (nulled before it is closed); on its thread.
        let d = unsafe { &mut *deferred };
        // SAFETY: as above.
        if d.armed || unsafe { CheckHandle::start(deferred.cast(), on_check) }.is_ok() {
            d.armed = true;
            return;
        }
    }
    // SAFETY: called from a libuv callback on the env's thread while the env lives.
    unsafe { wake.call() };
}

/// libuv: the I/O callbacks of this turn are done: JS takes what they read, once.
unsafe extern "C" fn on_check(handle: *mut CheckHandle) {
    // SAFETY: our check handle is the first field of the live `Deferred` (freed only by
    // `on_deferred_closed`); on its loop's thread.
    let d = unsafe { &mut *handle.cast::<Deferred>() };
    d.armed = false;
    // SAFETY: a live handle on its loop's thread.
    unsafe { CheckHandle::stop(handle) };
    let wake = d.wake;
    // SAFETY: a libuv callback on the env's thread; the env lives while the handle does (its
    // teardown closes it first). `d` is not used after this call.
    unsafe { wake.call() };
}

/// libuv: a watched channel is readable (or hung up, or in error: the read tells).
unsafe extern "C" fn on_readable(handle: *mut PollHandle, _status: c_int, _events: c_int) {
    // SAFETY: our handles are the first field of a live `Poll` (freed only by `on_closed`).
    let poll = unsafe { &mut *handle.cast::<Poll>() };
    let Ok(engine) = engine() else { return };
    let Some(fd) = poll.fd.as_ref().map(AsRawFd::as_raw_fd) else { return };
    let read = engine.read_on_js(poll.env, &poll.chan, fd);
    if !read.keep && poll.active {
        poll.active = false;
        // SAFETY: a live handle on its loop's thread.
        unsafe { PollHandle::stop(handle) };
    }
    if read.delivered {
        // `poll` is not used after this call, which may close it.
        let (polls, wake) = (poll.polls.clone(), poll.wake);
        call_soon(&polls, wake);
    }
}

/// libuv: a handle's close completed: its memory and descriptor go.
unsafe extern "C" fn on_closed(handle: *mut c_void) {
    // SAFETY: the `Poll` leaked in `watch`, closed once.
    let poll = unsafe { Box::from_raw(handle.cast::<Poll>()) };
    let polls = poll.polls.clone();
    drop(poll);
    closed_one(&polls);
}

/// libuv: the check handle's close completed (the env is being torn down).
unsafe extern "C" fn on_deferred_closed(handle: *mut c_void) {
    // SAFETY: the `Deferred` leaked in `JsLoop::new`, closed once.
    let deferred = unsafe { Box::from_raw(handle.cast::<Deferred>()) };
    let polls = deferred.polls.clone();
    drop(deferred);
    closed_one(&polls);
}

fn closed_one(polls: &Polls) {
    polls.closing.set(polls.closing.get() - 1);
    if polls.closing.get() == 0 && polls.tearing_down.get() {
        finish_teardown(polls);
    }
}

/// Node-API: the env is going away: every handle closes before it does.
unsafe extern "C" fn teardown(hook: sys::napi_async_cleanup_hook_handle, arg: *mut c_void) {
    // SAFETY: the `Rc` leaked for this hook in `JsLoop::new`, taken back once.
    let polls = unsafe { Rc::from_raw(arg as *const Polls) };
    polls.teardown.set(Some(hook));
    polls.tearing_down.set(true);
    let all: Vec<*mut Poll> = polls.by_id.borrow_mut().drain().map(|(_, p)| p).collect();
    for poll in all {
        close(&polls, poll);
    }
    let deferred = polls.deferred.replace(ptr::null_mut());
    if !deferred.is_null() {
        polls.closing.set(polls.closing.get() + 1);
        // SAFETY: the live `Deferred`, taken out of `polls` so nothing uses it again; on its
        // loop's thread.
        unsafe { uv::close(deferred, on_deferred_closed) };
    }
    if polls.closing.get() == 0 {
        finish_teardown(&polls);
    }
}

/// Every handle has closed during the env's teardown: it may go on.
fn finish_teardown(polls: &Polls) {
    if let Some(hook) = polls.teardown.take() {
        // SAFETY: the hook's handle, removed once (taken out above).
        unsafe { sys::napi_remove_async_cleanup_hook(hook) };
    }
}
