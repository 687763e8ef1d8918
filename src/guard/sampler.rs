//! The resident memory of a worker and all its descendants, from /proc (Linux): the worker's
//! `statm`, and its children through `/proc/<pid>/task/*/children`, level by level. Read on
//! the engine's thread once a tick, so it goes on while the primary's JS is busy.

use std::fs;

/// Descendants counted at most (a fork bomb is not walked whole every tick).
const MAX_PROCESSES: usize = 256;

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

/// Appends the children of `pid` (of every thread of it) to `out`.
fn children(pid: i32, out: &mut Vec<i32>) {
    let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else { return };
    for task in tasks.flatten() {
        let mut path = task.path();
        path.push("children");
        if let Ok(text) = fs::read_to_string(path) {
            out.extend(text.split_ascii_whitespace().filter_map(|p| p.parse::<i32>().ok()));
        }
    }
}

/// Bytes resident in `pid` and its descendants, or `None` once `pid` is gone.
pub fn tree_rss(pid: i32) -> Option<u64> {
    let page = page_size();
    let mut total = rss(pid, page)?;
    let mut queue = Vec::new();
    children(pid, &mut queue);
    let mut counted = 0;
    while let Some(p) = queue.pop() {
        if counted == MAX_PROCESSES {
            break;
        }
        counted += 1;
        if let Some(bytes) = rss(p, page) {
            total += bytes;
            children(p, &mut queue);
        }
    }
    Some(total)
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
            children(pid, &mut kids);
        }
        let page = page_size();
        let (own, child) = (rss(pid, page).unwrap(), rss(kids[0], page).unwrap());
        let tree = tree_rss(pid).unwrap();
        sh.kill().unwrap();
        sh.wait().unwrap();
        // `sleep` exec'd or not yet, the tree holds both processes' pages.
        assert!(tree > own && child > 0, "{tree} > {own}");
        assert_eq!(tree_rss(-1), None);
    }
}
