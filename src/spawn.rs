//! Process creation with posix_spawn (glibc's is `CLONE_VFORK`-based, so its cost does not
//! grow with the parent's heap as Node's `fork()`-based spawn does).
//!
//! The child gets exactly the requested stdio at fds `0..n`, every signal disposition reset
//! to default, real-time and glibc-internal ones included, and an empty signal mask (Node
//! ignores SIGPIPE and SIGXFSZ; its children must not inherit that). uid/gid and a parent-death
//! signal need steps posix_spawn cannot do (the child must call setuid/prctl itself), so only
//! those requests take a fork path.

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::sys::socket::{setsockopt, sockopt, AddressFamily, SockFlag, SockType};
use nix::unistd::AccessFlags;

/// What the child gets at one fd index.
pub enum Stdio {
    /// `/dev/null` at 0–2, closed above.
    Ignore,
    /// A parent fd (not owned; the engine duplicates it before use).
    Inherit(RawFd),
    /// A new socketpair; the parent keeps the other end (libuv uses socketpairs for pipes).
    Pipe,
    /// The IPC channel: a socketpair whose parent end the engine keeps.
    Ipc,
}

pub struct SpawnSpec {
    pub file: CString,
    pub argv: Vec<CString>,
    pub envp: Vec<CString>,
    pub cwd: Option<CString>,
    pub stdio: Vec<Stdio>,
    pub detached: bool,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    /// Signal the child gets when the thread that spawned it exits (`PR_SET_PDEATHSIG`). The
    /// kernel ties it to the spawning *thread*: a spawn from a worker thread would signal the
    /// child when that thread ends, so only the main thread should ask for it.
    pub death_signal: Option<i32>,
}

pub struct Spawned {
    pub pid: libc::pid_t,
    /// The parent's end for each `Pipe`/`Ipc` index.
    pub ends: Vec<Option<OwnedFd>>,
}

/// Socket buffer size for pipes and the IPC channel: larger than the default so bursts of
/// small frames, big frames and bulk output need fewer wake-ups (unprivileged maximum here
/// is 4 MiB).
const SOCKET_BUFFER: usize = 1 << 20;

fn socketpair() -> io::Result<(OwnedFd, OwnedFd)> {
    Ok(nix::sys::socket::socketpair(AddressFamily::Unix, SockType::Stream, None, SockFlag::SOCK_CLOEXEC)?)
}

/// A descriptor number the caller holds open for the duration of the spawn.
fn borrow(fd: RawFd) -> io::Result<BorrowedFd<'static>> {
    if fd < 0 {
        return Err(io::Error::from_raw_os_error(libc::EBADF));
    }
    // SAFETY: JS's stdio object (or the engine's own end) keeps it open during this call; a
    // number that is not open makes the syscall fail with EBADF.
    Ok(unsafe { BorrowedFd::borrow_raw(fd) })
}

/// A close-on-exec duplicate numbered at least `min`, so no dup2 onto `0..min` can clobber it.
fn dup_above(fd: RawFd, min: RawFd) -> io::Result<OwnedFd> {
    let d = fcntl(borrow(fd)?, FcntlArg::F_DUPFD_CLOEXEC(min))?;
    // SAFETY: a fresh descriptor, owned from here on.
    Ok(unsafe { OwnedFd::from_raw_fd(d) })
}

fn set_blocking(fd: RawFd) -> io::Result<()> {
    let fd = borrow(fd)?;
    let flags = OFlag::from_bits_retain(fcntl(fd, FcntlArg::F_GETFL)?);
    if flags.contains(OFlag::O_NONBLOCK) {
        fcntl(fd, FcntlArg::F_SETFL(flags - OFlag::O_NONBLOCK))?;
    }
    Ok(())
}

fn set_buffers(fd: &OwnedFd) {
    // Best effort: a smaller buffer costs wake-ups, not correctness.
    let _ = setsockopt(fd, sockopt::SndBuf, &SOCKET_BUFFER);
    let _ = setsockopt(fd, sockopt::RcvBuf, &SOCKET_BUFFER);
}

/// Finds `file` on the child's `PATH` (as libuv's execvp does with the child's environment).
fn resolve(file: &CStr, envp: &[CString]) -> io::Result<CString> {
    let bytes = file.to_bytes();
    if bytes.is_empty() {
        return Err(io::Error::from_raw_os_error(libc::ENOENT));
    }
    if bytes.contains(&b'/') {
        return Ok(file.to_owned());
    }
    let path = envp.iter().find_map(|e| e.to_bytes().strip_prefix(b"PATH=")).unwrap_or(b"/usr/local/bin:/usr/bin:/bin");
    let mut denied = false;
    for dir in path.split(|&b| b == b':') {
        let dir = if dir.is_empty() { &b"."[..] } else { dir };
        let mut cand = dir.to_vec();
        cand.push(b'/');
        cand.extend_from_slice(bytes);
        let cand = CString::new(cand).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
        match nix::unistd::access(cand.as_c_str(), AccessFlags::X_OK) {
            Ok(()) => return Ok(cand),
            Err(e) => denied |= e == Errno::EACCES,
        }
    }
    Err(io::Error::from_raw_os_error(if denied { libc::EACCES } else { libc::ENOENT }))
}

fn ptrs(v: &[CString]) -> Vec<*mut libc::c_char> {
    v.iter().map(|s| s.as_ptr() as *mut libc::c_char).chain(std::iter::once(std::ptr::null_mut())).collect()
}

/// Child-side sources per index, and the parent's ends.
struct Plan {
    sources: Vec<Option<OwnedFd>>,
    ends: Vec<Option<OwnedFd>>,
}

fn plan(stdio: &[Stdio]) -> io::Result<Plan> {
    let n = stdio.len() as RawFd;
    let mut sources = Vec::with_capacity(stdio.len());
    let mut ends = Vec::with_capacity(stdio.len());
    for (index, s) in stdio.iter().enumerate() {
        let (src, end) = match s {
            Stdio::Ignore => (None, None),
            Stdio::Inherit(fd) => {
                let src = dup_above(*fd, n)?;
                if index <= 2 {
                    // A child's stdio must block, as libuv makes it: most programs treat EAGAIN
                    // as an error. The flag lives in the shared file description, so the
                    // parent's copy changes too, as under Node.
                    set_blocking(src.as_raw_fd())?;
                }
                (Some(src), None)
            }
            Stdio::Pipe | Stdio::Ipc => {
                let (parent, child) = socketpair()?;
                set_buffers(&parent);
                set_buffers(&child);
                if matches!(s, Stdio::Ipc) {
                    fcntl(&parent, FcntlArg::F_SETFL(OFlag::O_NONBLOCK))?;
                }
                let child = if child.as_raw_fd() < n { dup_above(child.as_raw_fd(), n)? } else { child };
                (Some(child), Some(parent))
            }
        };
        sources.push(src);
        ends.push(end);
    }
    Ok(Plan { sources, ends })
}

const DEV_NULL: &CStr = c"/dev/null";

pub fn spawn(spec: &SpawnSpec) -> io::Result<Spawned> {
    let file = resolve(&spec.file, &spec.envp)?;
    let plan = plan(&spec.stdio)?;
    let pid = if spec.uid.is_some() || spec.gid.is_some() || spec.death_signal.is_some() {
        fork_exec(spec, &file, &plan)?
    } else {
        posix_spawn(spec, &file, &plan)?
    };
    // The child-side fds close here, as `plan.sources` drops.
    Ok(Spawned { pid, ends: plan.ends })
}

type AddChdir = unsafe extern "C" fn(*mut libc::posix_spawn_file_actions_t, *const libc::c_char) -> libc::c_int;
type AddClosefrom = unsafe extern "C" fn(*mut libc::posix_spawn_file_actions_t, libc::c_int) -> libc::c_int;

/// Looks up a glibc extension at run time, so the addon loads on a glibc without it.
fn glibc_fn(name: &CStr) -> *mut libc::c_void {
    // SAFETY: dlsym reads a NUL-terminated name; a missing symbol is null.
    unsafe { libc::dlsym(libc::RTLD_DEFAULT, name.as_ptr()) }
}

struct FileActions(libc::posix_spawn_file_actions_t);
impl Drop for FileActions {
    fn drop(&mut self) {
        // SAFETY: made only from an initialised object (see `posix_spawn`); destroyed once.
        unsafe { libc::posix_spawn_file_actions_destroy(&mut self.0) };
    }
}
struct Attr(libc::posix_spawnattr_t);
impl Drop for Attr {
    fn drop(&mut self) {
        // SAFETY: made only from an initialised object (see `posix_spawn`); destroyed once.
        unsafe { libc::posix_spawnattr_destroy(&mut self.0) };
    }
}

fn check(r: libc::c_int) -> io::Result<()> {
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::from_raw_os_error(r))
    }
}

/// Adds `sig` to `set` by its bit. glibc's `sigaddset` refuses its internal signals (32 and
/// 33), and its posix_spawn leaves those ignored in the child unless they are in the set of
/// defaults; an ignored signal survives exec, and Node's children have none ignored.
fn add_signal(set: &mut libc::sigset_t, sig: libc::c_int) {
    let bits = libc::c_ulong::BITS as usize;
    let bit = (sig - 1) as usize;
    let words = std::mem::size_of::<libc::sigset_t>() / std::mem::size_of::<libc::c_ulong>();
    assert!(sig >= 1 && bit / bits < words, "signal {sig} outside sigset_t");
    // SAFETY: glibc's sigset_t is an array of `words` unsigned longs with bit `sig - 1` for
    // signal `sig` (checked in range above).
    unsafe { *(set as *mut libc::sigset_t).cast::<libc::c_ulong>().add(bit / bits) |= 1 << (bit % bits) };
}

/// Every signal a child can inherit a disposition for: standard and real-time, internal ones
/// included (SIGKILL and SIGSTOP cannot be changed).
fn all_resettable_signals() -> impl Iterator<Item = libc::c_int> {
    (1..=libc::SIGRTMAX()).filter(|&s| s != libc::SIGKILL && s != libc::SIGSTOP)
}

fn posix_spawn(spec: &SpawnSpec, file: &CStr, plan: &Plan) -> io::Result<libc::pid_t> {
    // SAFETY: the posix_spawn objects are zeroed then initialised before any other use, and
    // destroyed by their Drop; every pointer passed (paths, argv, envp, the sigsets) outlives
    // the calls, argv/envp are NULL-terminated arrays of C strings (`ptrs`), and the dlsym'd
    // functions are transmuted to their documented glibc signatures.
    unsafe {
        let mut fa = FileActions(std::mem::zeroed());
        check(libc::posix_spawn_file_actions_init(&mut fa.0))?;
        for (i, src) in plan.sources.iter().enumerate() {
            let i = i as RawFd;
            match src {
                Some(fd) => check(libc::posix_spawn_file_actions_adddup2(&mut fa.0, fd.as_raw_fd(), i))?,
                None if i < 3 => {
                    check(libc::posix_spawn_file_actions_addopen(&mut fa.0, i, DEV_NULL.as_ptr(), libc::O_RDWR, 0))?
                }
                None => check(libc::posix_spawn_file_actions_addclose(&mut fa.0, i))?,
            }
        }
        // Belt and braces: fds some other code opened without CLOEXEC do not leak either.
        let closefrom = glibc_fn(c"posix_spawn_file_actions_addclosefrom_np");
        if !closefrom.is_null() {
            let f: AddClosefrom = std::mem::transmute(closefrom);
            check(f(&mut fa.0, plan.sources.len() as libc::c_int))?;
        }
        if let Some(cwd) = &spec.cwd {
            let chdir = glibc_fn(c"posix_spawn_file_actions_addchdir_np");
            if chdir.is_null() {
                return Err(io::Error::from_raw_os_error(libc::ENOSYS));
            }
            let f: AddChdir = std::mem::transmute(chdir);
            check(f(&mut fa.0, cwd.as_ptr()))?;
        }
        let mut attr = Attr(std::mem::zeroed());
        check(libc::posix_spawnattr_init(&mut attr.0))?;
        let mut flags = libc::POSIX_SPAWN_SETSIGDEF | libc::POSIX_SPAWN_SETSIGMASK;
        if spec.detached {
            flags |= libc::POSIX_SPAWN_SETSID as libc::c_int;
        }
        check(libc::posix_spawnattr_setflags(&mut attr.0, flags as libc::c_short))?;
        let mut defaults: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut defaults);
        for sig in all_resettable_signals() {
            add_signal(&mut defaults, sig);
        }
        check(libc::posix_spawnattr_setsigdefault(&mut attr.0, &defaults))?;
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        check(libc::posix_spawnattr_setsigmask(&mut attr.0, &empty))?;
        let argv = ptrs(&spec.argv);
        let envp = ptrs(&spec.envp);
        let mut pid = 0;
        check(libc::posix_spawn(&mut pid, file.as_ptr(), &fa.0, &attr.0, argv.as_ptr(), envp.as_ptr()))?;
        Ok(pid)
    }
}

/// The fork path, for requests posix_spawn cannot express (uid/gid, a parent-death signal).
/// Everything the child
/// needs is prepared first; between fork and exec it only makes async-signal-safe calls and
/// reports a failure's errno through a close-on-exec pipe.
fn fork_exec(spec: &SpawnSpec, file: &CStr, plan: &Plan) -> io::Result<libc::pid_t> {
    let argv = ptrs(&spec.argv);
    let envp = ptrs(&spec.envp);
    let sources: Vec<RawFd> = plan.sources.iter().map(|s| s.as_ref().map_or(-1, |f| f.as_raw_fd())).collect();
    let n = sources.len() as RawFd;
    let (rd, wr) = nix::unistd::pipe2(OFlag::O_CLOEXEC)?;
    let parent = nix::unistd::getpid().as_raw();
    // Above the stdio range, so the child's dup2s and close_range leave it alone.
    let wr = if wr.as_raw_fd() < n { dup_above(wr.as_raw_fd(), n)? } else { wr };
    // Block signals so the child cannot run a parent handler before it resets dispositions.
    // SAFETY: sigset_t is plain data; all zeroes is a valid (empty) value.
    let mut all: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    let mut old: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: valid sigsets owned by this frame; pthread_sigmask cannot fail with these args.
    unsafe {
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
    }
    // SAFETY: the child only runs `child_after_fork`, which makes async-signal-safe calls on
    // data prepared before the fork, and ends in exec or _exit.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        // SAFETY: see above; this is the child.
        unsafe { child_after_fork(spec, file, &sources, wr.as_raw_fd(), &argv, &envp, parent) }
    }
    let fork_err = io::Error::last_os_error();
    // SAFETY: restores the mask saved above.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut()) };
    drop(wr);
    if pid < 0 {
        return Err(fork_err);
    }
    let mut report = [0u8; 4];
    let got = loop {
        match nix::unistd::read(&rd, &mut report) {
            Err(Errno::EINTR) => {}
            r => break r.unwrap_or(0),
        }
    };
    if got == 4 {
        // The child exec'd nothing and exited at once: reap it so no zombie is left. Its
        // status says nothing the reported errno does not.
        let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
        return Err(io::Error::from_raw_os_error(libc::c_int::from_ne_bytes(report)));
    }
    Ok(pid)
}

unsafe fn child_after_fork(
    spec: &SpawnSpec,
    file: &CStr,
    sources: &[RawFd],
    report: RawFd,
    argv: &[*mut libc::c_char],
    envp: &[*mut libc::c_char],
    parent: libc::pid_t,
) -> ! {
    let n = sources.len() as RawFd;
    let fail = |report: RawFd| -> ! {
        let e = *libc::__errno_location();
        libc::write(report, (&e as *const libc::c_int).cast(), 4);
        libc::_exit(127)
    };
    // glibc refuses its internal signals here (EINVAL), which is harmless: they are not
    // ignored in this process, and exec resets handled signals to their defaults.
    for sig in all_resettable_signals() {
        libc::signal(sig, libc::SIG_DFL);
    }
    if spec.detached && libc::setsid() < 0 {
        fail(report);
    }
    for (i, &src) in sources.iter().enumerate() {
        let i = i as RawFd;
        if src >= 0 {
            if libc::dup2(src, i) < 0 {
                fail(report);
            }
        } else if i < 3 {
            let fd = libc::open(DEV_NULL.as_ptr(), libc::O_RDWR);
            if fd < 0 || libc::dup2(fd, i) < 0 {
                fail(report);
            }
            libc::close(fd);
        } else {
            libc::close(i);
        }
    }
    // Everything above the stdio except the report pipe (close-on-exec itself).
    libc::syscall(libc::SYS_close_range, n as libc::c_uint, (report - 1) as libc::c_uint, 0);
    libc::syscall(libc::SYS_close_range, (report + 1) as libc::c_uint, libc::c_uint::MAX, 0);
    if let Some(cwd) = &spec.cwd {
        if libc::chdir(cwd.as_ptr()) < 0 {
            fail(report);
        }
    }
    if spec.uid.is_some() || spec.gid.is_some() {
        // Dropping supplementary groups needs privilege; like libuv, a failure is not fatal.
        libc::setgroups(0, std::ptr::null());
    }
    if let Some(gid) = spec.gid {
        if libc::setgid(gid) < 0 {
            fail(report);
        }
    }
    if let Some(uid) = spec.uid {
        if libc::setuid(uid) < 0 {
            fail(report);
        }
    }
    let mut empty: libc::sigset_t = std::mem::zeroed();
    libc::sigemptyset(&mut empty);
    libc::pthread_sigmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
    // Last before exec: the kernel clears the parent-death signal when the credentials change
    // (setuid/setgid above), and `raise` needs the signal unblocked.
    if let Some(sig) = spec.death_signal {
        if libc::prctl(libc::PR_SET_PDEATHSIG, sig as libc::c_ulong) < 0 {
            fail(report);
        }
        // The parent died before the prctl: the signal will never come, so act on it now.
        if libc::getppid() != parent {
            libc::raise(sig);
            libc::_exit(128 + sig);
        }
    }
    libc::execve(
        file.as_ptr(),
        argv.as_ptr() as *const *const libc::c_char,
        envp.as_ptr() as *const *const libc::c_char,
    );
    fail(report)
}
