//! Watching a child's exit through a pidfd, and signalling it without a PID-reuse race.
//!
//! libuv owns `SIGCHLD` and reaps only its own pids, so the engine never installs a handler
//! or calls `waitpid(-1)`: each child is reaped by its own pidfd (`waitid(P_PIDFD)`), or, on
//! kernels without pidfds, by `waitpid(pid, WNOHANG)` polling of that pid alone.

use std::io;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::{Arc, Mutex};

use std::time::Duration;

use crate::engine::{channel_token, Msg};
use crate::event::{Event, ExitStatus};
use crate::reactor::{Cx, Interest, Ready, Source};

pub struct Child {
    pub id: u32,
    pub pid: libc::pid_t,
    state: Mutex<State>,
}

/// A child's life as the engine sees it. Its pidfd lives while it runs; once reaped its pid
/// may be reused, so signals stop.
enum State {
    /// `pidfd` is `None` on kernels without `pidfd_open`.
    Running {
        pidfd: Option<OwnedFd>,
    },
    Reaped,
}

impl Child {
    pub fn new(id: u32, pid: libc::pid_t) -> Self {
        // SAFETY: pidfd_open takes a pid and flags, no memory; nix has no wrapper for it.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        // SAFETY: a fresh fd from the kernel (pidfds are close-on-exec by default).
        let pidfd = (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd as RawFd) });
        // Ours to reap: a subreaper's orphan reaper leaves it alone.
        crate::orphans::keep(pid);
        Child { id, pid, state: Mutex::new(State::Running { pidfd }) }
    }

    /// Sends `sig` (0 probes; real-time signals too). Returns the errno on failure; `ESRCH`
    /// once the child is gone.
    pub fn kill(&self, sig: i32) -> Result<(), i32> {
        let state = crate::sync::lock(&self.state);
        let State::Running { pidfd } = &*state else { return Err(libc::ESRCH) };
        // Raw calls: nix has no pidfd_send_signal, and its `kill` takes only the signals its
        // `Signal` enum names (no real-time ones).
        let r = match pidfd {
            // SAFETY: a pidfd we own, a signal number and a null siginfo, which the call allows.
            Some(fd) => unsafe {
                libc::syscall(libc::SYS_pidfd_send_signal, fd.as_raw_fd(), sig, std::ptr::null::<libc::siginfo_t>(), 0)
            },
            // SAFETY: kill takes no memory; the pid is ours and not yet reaped (checked above
            // under the same lock that reaping takes), so it cannot have been reused.
            None => unsafe { libc::kill(self.pid, sig) as libc::c_long },
        };
        if r < 0 {
            Err(io::Error::last_os_error().raw_os_error().unwrap_or(libc::EINVAL))
        } else {
            Ok(())
        }
    }

    /// The pidfd to poll for the exit, while the child runs (and has one). The number stays
    /// valid until the child is reaped, which only the caller's own `try_reap` does when the
    /// child is not shared (spawnSync).
    pub fn pidfd(&self) -> Option<RawFd> {
        match &*crate::sync::lock(&self.state) {
            State::Running { pidfd } => pidfd.as_ref().map(AsRawFd::as_raw_fd),
            State::Reaped => None,
        }
    }

    pub fn reaped(&self) -> bool {
        matches!(*crate::sync::lock(&self.state), State::Reaped)
    }

    /// Reaps the child if it has exited: its status, and its pidfd, which has nothing more to
    /// say (the caller stops watching it and closes it). `None` while it is still running.
    pub fn try_reap(&self) -> Option<(ExitStatus, Option<OwnedFd>)> {
        let mut state = crate::sync::lock(&self.state);
        let State::Running { pidfd } = &mut *state else { return None };
        let status = match pidfd {
            Some(fd) => wait_pidfd(fd.as_raw_fd()),
            None => wait_pid(self.pid),
        }?;
        let pidfd = pidfd.take();
        *state = State::Reaped;
        crate::orphans::release(self.pid);
        Some((status, pidfd))
    }
}

/// Without a pidfd, a child is polled this often.
const POLL: Duration = Duration::from_millis(20);

/// The source that reports a child's exit: woken by its pidfd, or by a timer without one.
pub struct ExitWatcher {
    child: Arc<Child>,
    /// The child has a channel, whose last messages are delivered before the exit.
    has_channel: bool,
}

impl ExitWatcher {
    pub fn new(child: Arc<Child>, has_channel: bool) -> Self {
        ExitWatcher { child, has_channel }
    }

    fn check(&mut self, cx: &mut Cx<'_, Msg>) {
        let Some((status, pidfd)) = self.child.try_reap() else { return };
        if let Some(fd) = pidfd {
            // Deregistered before it closes: a child being spawned right now may hold a copy
            // until its exec, which would keep the registration alive. A failure leaves only
            // that (harmless) case.
            let _ = cx.deregister(fd.as_fd());
        }
        if self.has_channel {
            // Messages are delivered in the order posted: the channel reads everything the
            // child wrote before this exit is reported.
            cx.post(channel_token(self.child.id), Msg::Drain);
        }
        cx.post(cx.token(), Msg::Exited(status));
    }
}

impl Source<Msg> for ExitWatcher {
    fn start(&mut self, cx: &mut Cx<'_, Msg>) {
        let registered = match &*crate::sync::lock(&self.child.state) {
            State::Running { pidfd: Some(fd) } => cx.register(fd.as_fd(), Interest::Read).is_ok(),
            _ => false,
        };
        if !registered {
            cx.timer(POLL);
        }
        // It may have exited before it was watched; a pidfd reports that too.
    }

    fn ready(&mut self, cx: &mut Cx<'_, Msg>, _ready: Ready) {
        self.check(cx);
    }

    fn timer(&mut self, cx: &mut Cx<'_, Msg>) {
        self.check(cx);
        if !self.child.reaped() {
            cx.timer(POLL);
        }
    }

    fn message(&mut self, cx: &mut Cx<'_, Msg>, msg: Msg) {
        if let Msg::Exited(status) = msg {
            // The child's entry stays with JS's object (NativeChild) until JS lets it go.
            cx.events().push(Event::Exit { id: self.child.id, status });
            cx.remove_self();
        }
    }
}

// Raw waitid/waitpid: nix's `WaitStatus` reports a signal death through its `Signal` enum,
// which cannot name real-time signals.
fn wait_pidfd(fd: RawFd) -> Option<ExitStatus> {
    // SAFETY: siginfo_t is plain data; all zeroes is a valid value.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: a pidfd we own and an out-parameter of the right type.
        let r = unsafe { libc::waitid(libc::P_PIDFD, fd as libc::id_t, &mut info, libc::WEXITED | libc::WNOHANG) };
        if r == 0 {
            break;
        }
        match io::Error::last_os_error().raw_os_error() {
            Some(libc::EINTR) => continue,
            // Reaped by the kernel (SIGCHLD ignored) or by someone else: the status is gone.
            Some(libc::ECHILD) => return Some(ExitStatus::Unknown),
            _ => return None,
        }
    }
    // SAFETY: waitid filled `info` for a child event (si_pid is 0 when WNOHANG found none).
    if unsafe { info.si_pid() } == 0 {
        return None;
    }
    // SAFETY: as above; si_status is set for CLD_* codes.
    let status = unsafe { info.si_status() };
    Some(match info.si_code {
        libc::CLD_EXITED => ExitStatus::Code(status),
        libc::CLD_KILLED | libc::CLD_DUMPED => ExitStatus::Signal(status),
        _ => return None,
    })
}

fn wait_pid(pid: libc::pid_t) -> Option<ExitStatus> {
    let mut status = 0;
    // SAFETY: our own child's pid and an int out-parameter.
    let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
    if r == 0 {
        return None;
    }
    if r < 0 {
        return (io::Error::last_os_error().raw_os_error() == Some(libc::ECHILD)).then_some(ExitStatus::Unknown);
    }
    if libc::WIFEXITED(status) {
        Some(ExitStatus::Code(libc::WEXITSTATUS(status)))
    } else if libc::WIFSIGNALED(status) {
        Some(ExitStatus::Signal(libc::WTERMSIG(status)))
    } else {
        None
    }
}
