//! The resident memory of a worker and all its descendants, from /proc (Linux): each
//! process's `statm`, and its children through `/proc/<pid>/task/<tid>/children`. Read on the
//! engine's thread once a tick, so it goes on while the primary's JS is busy.
//!
//! Children hang off the thread that forked them, and a Node process has a dozen threads of
//! which only event-loop threads (the main one, worker threads) ever spawn. So every tick reads
//! the children of each process's main thread and of the threads seen with children before;
//! every `FULL_SCAN_EVERY` ticks it reads every thread's, which finds a new spawning thread
//! within that many ticks at a fraction of the reads.

use std::collections::HashMap;
use std::fs;

/// Descendants counted at most (a fork bomb is not walked whole every tick).
const MAX_PROCESSES: usize = 256;
/// Every this many ticks, every thread's children are read.
const FULL_SCAN_EVERY: u32 = 5;

fn page_size() -> u64 {
    // SAFETY: sysconf takes a constant and touches no memory.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    u64::try_from(n).unwrap_or(4096)
}

/// Resident bytes of `pid` (`statm`'s second field), or `None` once it is gone.
fn rss(pid: i32, page: u64) -> Option<u64> {
    let text = fs::read_to_string(format!("/proc/{pid}/statm")).ok()?;
    text.split(' ').nth(1)?.parse::<u64>().ok().map(|pages| pages * page)
}

/// Appends the children of thread `tid` of `pid` to `out`; whether it had any.
fn thread_children(pid: i32, tid: i32, out: &mut Vec<i32>) -> bool {
    let Ok(text) = fs::read_to_string(format!("/proc/{pid}/task/{tid}/children")) else { return false };
    let before = out.len();
    out.extend(text.split_ascii_whitespace().filter_map(|p| p.parse::<i32>().ok()));
    out.len() > before
}

/// Samples one worker's tree, tick after tick.
pub struct TreeSampler {
    page: u64,
    /// Ticks until the next full scan (0: this one).
    until_full: u32,
    /// Per process, its threads other than the main one that had children at the last full
    /// scan.
    spawning: HashMap<i32, Vec<i32>>,
}

impl Default for TreeSampler {
    fn default() -> Self {
        TreeSampler { page: page_size(), until_full: 0, spawning: HashMap::new() }
    }
}

impl TreeSampler {
    /// Appends the children of `pid` to `out`: of every thread on a full scan (noting which
    /// had any), else of the main thread and those noted.
    fn children(&mut self, pid: i32, full: bool, out: &mut Vec<i32>) {
        if !full {
            thread_children(pid, pid, out);
            for &tid in self.spawning.get(&pid).into_iter().flatten() {
                thread_children(pid, tid, out);
            }
            return;
        }
        let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else { return };
        let mut spawning = Vec::new();
        for tid in tasks.flatten().filter_map(|t| t.file_name().to_str().and_then(|s| s.parse::<i32>().ok())) {
            if thread_children(pid, tid, out) && tid != pid {
                spawning.push(tid);
            }
        }
        if !spawning.is_empty() {
            self.spawning.insert(pid, spawning);
        }
    }

    /// Bytes resident in `pid` and its descendants, or `None` once `pid` is gone.
    pub fn tree_rss(&mut self, pid: i32) -> Option<u64> {
        let full = self.until_full == 0;
        self.until_full = if full { FULL_SCAN_EVERY - 1 } else { self.until_full - 1 };
        if full {
            self.spawning.clear();
        }
        let mut total = rss(pid, self.page)?;
        let mut queue = Vec::new();
        self.children(pid, full, &mut queue);
        let mut counted = 0;
        while let Some(p) = queue.pop() {
            if counted == MAX_PROCESSES {
                break;
            }
            counted += 1;
            if let Some(bytes) = rss(p, self.page) {
                total += bytes;
                self.children(p, full, &mut queue);
            }
        }
        Some(total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn counts_descendants() {
        let mut sh = std::process::Command::new("sh").args(["-c", "sleep 5 & wait"]).spawn().unwrap();
        let pid = sh.id() as i32;
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut kids = Vec::new();
        while kids.is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
            thread_children(pid, pid, &mut kids);
        }
        let page = page_size();
        let (own, child) = (rss(pid, page).unwrap(), rss(kids[0], page).unwrap());
        let mut sampler = TreeSampler::default();
        // A full scan, then one of the main threads only: both see the child.
        let trees = [sampler.tree_rss(pid).unwrap(), sampler.tree_rss(pid).unwrap()];
        sh.kill().unwrap();
        sh.wait().unwrap();
        assert!(trees.iter().all(|&tree| tree > own) && child > 0, "{trees:?} > {own}");
        assert_eq!(sampler.tree_rss(-1), None);
    }

    #[test]
    fn finds_a_child_of_another_thread() {
        // This test's own thread spawns: a thread other than the process's main one.
        let me = std::process::id() as i32;
        // SAFETY: gettid takes nothing.
        let tid = unsafe { libc::gettid() };
        let mut child = std::process::Command::new("sleep").arg("5").spawn().unwrap();
        let mut full = Vec::new();
        let mut sampler = TreeSampler::default();
        sampler.children(me, true, &mut full);
        let mut partial = Vec::new();
        sampler.children(me, false, &mut partial);
        child.kill().unwrap();
        child.wait().unwrap();
        let pid = child.id() as i32;
        assert!(full.contains(&pid));
        // Noted at the full scan, so read on the next ticks too (if the test thread is not the
        // main one, which it is not under the test harness).
        if tid != me {
            assert!(partial.contains(&pid));
        }
    }
}
