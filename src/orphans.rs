//! Reaping orphans for a child subreaper (`PR_SET_CHILD_SUBREAPER`), or PID 1 in a container:
//! processes a worker left behind are re-parented to the primary, and once they exit they
//! would stay zombies, since nobody waits for them.
//!
//! libuv reaps its children by pid, and the engine its own by pidfd: a `waitpid(-1)` here
//! would steal their statuses (and libuv aborts on the ECHILD that follows for a child it
//! knows). So this never waits for "any" child: once a tick it lists the children of this
//! process's main thread, and reaps by pid only a zombie that is none of ours: not
//! the engine's (each declared at spawn, released when reaped), not one JS declared (`keep`:
//! Node's own children), and a zombie already at the previous tick, so a child spawned a
//! moment ago and not yet declared is never taken.
//!
//! Only the main thread's: the kernel hands orphans to a subreaper's main thread, while a
//! child belongs to the thread that forked it, so children that Node's worker threads spawn
//! (which nobody here declares) are never listed, however long their thread is blocked. Those
//! left by a worker thread that ended pass to the main thread, and are reaped as orphans. Not
//! seen: a `CLONE_PARENT` sibling of a worker thread's child (its parent is that thread too).
//! The pids are read from `/proc`, which JS checks is this pid namespace's before starting.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use crate::engine::Msg;
use crate::reactor::{Cx, Source};
use crate::sync::lock;

/// Pids that are someone else's to reap: the engine's children (until reaped) and libuv's,
/// declared by JS.
static KEPT: Mutex<Option<HashSet<i32>>> = Mutex::new(None);
/// Orphans reaped so far.
pub static REAPED: AtomicU64 = AtomicU64::new(0);

const TICK: Duration = Duration::from_secs(1);

pub fn keep(pid: i32) {
    lock(&KEPT).get_or_insert_with(HashSet::new).insert(pid);
}

pub fn release(pid: i32) {
    if let Some(kept) = lock(&KEPT).as_mut() {
        kept.remove(&pid);
    }
}

/// The children of thread `task` of this process that are zombies now.
fn zombie_children(task: i32) -> Vec<i32> {
    let Ok(text) = std::fs::read_to_string(format!("/proc/self/task/{task}/children")) else { return Vec::new() };
    text.split_ascii_whitespace().filter_map(|p| p.parse::<i32>().ok()).filter(|&pid| is_zombie(pid)).collect()
}

/// State `Z` in `/proc/<pid>/stat` (the field after the command's closing parenthesis).
fn is_zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| stat.rfind(')').map(|i| stat[i + 1..].trim_start().starts_with('Z')))
        .unwrap_or(false)
}

#[derive(Default)]
pub struct OrphanReaper {
    /// Zombies of the last tick that were none of ours.
    seen: HashSet<i32>,
}

impl Source<Msg> for OrphanReaper {
    fn start(&mut self, cx: &mut Cx<'_, Msg>) {
        cx.timer(TICK);
    }

    fn timer(&mut self, cx: &mut Cx<'_, Msg>) {
        let kept = lock(&KEPT).clone().unwrap_or_default();
        let mut now = HashSet::new();
        for pid in zombie_children(std::process::id() as i32) {
            if kept.contains(&pid) {
                continue;
            }
            if !self.seen.contains(&pid) {
                now.insert(pid);
                continue;
            }
            let reaped =
                nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), Some(nix::sys::wait::WaitPidFlag::WNOHANG));
            if reaped.is_ok_and(|s| s.pid().is_some()) {
                REAPED.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.seen = now;
        cx.timer(TICK);
    }

    fn message(&mut self, _cx: &mut Cx<'_, Msg>, _msg: Msg) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tells_a_zombie_of_its_thread_only() {
        // Forked by a thread other than the main one (as a Node worker thread's children are):
        // listed as that thread's child, never as the main thread's.
        let spawner = std::thread::spawn(|| {
            let tid = nix::unistd::gettid().as_raw();
            let mut child = std::process::Command::new("true").spawn().unwrap();
            let pid = child.id() as i32;
            let deadline = std::time::Instant::now() + Duration::from_secs(5);
            while !is_zombie(pid) && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            assert!(is_zombie(pid));
            assert!(zombie_children(tid).contains(&pid));
            assert!(!zombie_children(std::process::id() as i32).contains(&pid));
            child.wait().unwrap();
            assert!(!is_zombie(pid));
        });
        spawner.join().unwrap();
        assert!(!is_zombie(std::process::id() as i32));
    }
}
