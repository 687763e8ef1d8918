'use strict';
// What the supervisor reads from /proc and the cgroup filesystem (Linux), synchronously: a
// worker's memory and CPU for `status` and the memory limit, the holder of a port a worker could
// not bind, the cgroup's OOM-kill count when a worker dies of a SIGKILL we did not send, and
// the ports a process listens on (to find a hung worker's inspector).
const fs = require('node:fs');

const PAGE_SIZE = 4096;
// USER_HZ: the unit of utime/stime in /proc/<pid>/stat; 100 on every Linux ABI Node runs on.
const CLOCK_TICKS = 100;

function readOr(file, fallback) {
  try {
    return fs.readFileSync(file, 'latin1');
  } catch {
    return fallback;
  }
}

// Resident set size in bytes (/proc/<pid>/statm, second field), or null once it is gone.
function rss(pid) {
  const statm = readOr(`/proc/${pid}/statm`, null);
  return statm === null ? null : Number(statm.split(' ')[1]) * PAGE_SIZE;
}

// The children of `pid`, from /proc/<pid>/task/*/children (no `ps`).
function children(pid) {
  let tasks;
  try {
    tasks = fs.readdirSync(`/proc/${pid}/task`);
  } catch {
    return [];
  }
  const kids = [];
  for (const tid of tasks) {
    for (const k of readOr(`/proc/${pid}/task/${tid}/children`, '').split(' ')) if (k) kids.push(Number(k));
  }
  return kids;
}

// When `pid` started (clock ticks after boot; field 22 of /proc/<pid>/stat), or null once it
// is gone: with the pid, it names one process even if the pid is reused later.
function startTime(pid) {
  const stat = readOr(`/proc/${pid}/stat`, null);
  if (stat === null) return null;
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
}

// The descendants of `pid` now, as [{ pid, start }] (at most `max`). `known` (pid → start) saves
// reading the start time of those seen before.
function descendants(pid, known = new Map(), max = 256) {
  const found = [];
  const queue = children(pid);
  while (queue.length > 0 && found.length < max) {
    const p = queue.shift();
    const start = known.get(p) ?? startTime(p);
    if (start === null) continue;
    found.push({ pid: p, start });
    queue.push(...children(p));
  }
  return found;
}

// CPU seconds used so far (user + system), or null once it is gone.
function cpuSeconds(pid) {
  const stat = readOr(`/proc/${pid}/stat`, null);
  if (stat === null) return null;
  // The command name may hold spaces and parentheses: fields count from the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

function commandLine(pid) {
  const cmdline = readOr(`/proc/${pid}/cmdline`, '');
  return cmdline.split('\0').filter(Boolean).join(' ') || readOr(`/proc/${pid}/comm`, '?').trim();
}

// Inodes of TCP sockets listening on `port` (/proc/net/tcp and tcp6; state 0A is LISTEN).
function listeningInodes(port) {
  const inodes = new Set();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    const lines = readOr(table, '').split('\n').slice(1);
    for (const line of lines) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10 || f[3] !== '0A') continue;
      if (parseInt(f[1].slice(f[1].lastIndexOf(':') + 1), 16) === port) inodes.add(f[9]);
    }
  }
  return inodes;
}

// Socket inodes among `pid`'s descriptors.
function socketInodes(pid) {
  const inodes = new Set();
  let fds;
  try {
    fds = fs.readdirSync(`/proc/${pid}/fd`);
  } catch {
    return inodes;
  }
  for (const fd of fds) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1]);
    } catch {
      // Closed meanwhile.
    }
  }
  return inodes;
}

// The TCP ports `pid` listens on (its own descriptors: not what the engine listens on for it).
function listeningPorts(pid) {
  const mine = socketInodes(pid);
  const ports = new Set();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of readOr(table, '').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length >= 10 && f[3] === '0A' && mine.has(f[9])) ports.add(parseInt(f[1].slice(f[1].lastIndexOf(':') + 1), 16));
    }
  }
  return ports;
}

// The inodes of the unix stream sockets listening on `file` (/proc/net/unix: the flags have
// __SO_ACCEPTCON, the path is the last field).
function unixListeningInodes(file) {
  const inodes = new Set();
  for (const line of readOr('/proc/net/unix', '').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length >= 8 && (parseInt(f[3], 16) & 0x10000) !== 0 && f.slice(7).join(' ') === file) inodes.add(f[6]);
  }
  return inodes;
}

// The processes holding one of the socket `inodes`: [{ pid, command }], found through the
// /proc/<pid>/fd links naming `socket:[inode]`. Processes we may not look into are skipped.
function holdersOf(inodes) {
  if (inodes.size === 0) return [];
  const holders = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let fds;
    try {
      fds = fs.readdirSync(`/proc/${entry}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      let link;
      try {
        link = fs.readlinkSync(`/proc/${entry}/fd/${fd}`);
      } catch {
        continue;
      }
      const m = /^socket:\[(\d+)\]$/.exec(link);
      if (m && inodes.has(m[1])) {
        holders.push({ pid: Number(entry), command: commandLine(entry) });
        break;
      }
    }
  }
  return holders;
}

// The processes holding a listening TCP socket on `port` (its inode in /proc/net/tcp{,6}).
const portHolders = (port) => holdersOf(listeningInodes(port));

// The processes holding a unix stream socket listening on the path `file`.
const unixPathHolders = (file) => holdersOf(unixListeningInodes(file));

// Where this process's memory cgroup counts OOM kills: `memory.events` (cgroup v2, counting the
// whole subtree) or `memory.oom_control` (v1, this cgroup's own, which workers share unless
// moved). null where there is neither.
const oomCounterFile = (() => {
  const lines = readOr('/proc/self/cgroup', '').split('\n');
  const v1 = lines.find((l) => /^\d+:(?:[^:]*,)?memory(?:,[^:]*)?:/.test(l));
  const candidates = [];
  if (v1) candidates.push(`/sys/fs/cgroup/memory${v1.slice(v1.indexOf(':/') + 1).replace(/\/$/, '')}/memory.oom_control`);
  const v2 = lines.find((l) => l.startsWith('0::'));
  if (v2) {
    const rel = v2.slice(3).replace(/\/$/, '');
    candidates.push(`/sys/fs/cgroup${rel}/memory.events`, `/sys/fs/cgroup/unified${rel}/memory.events`);
  }
  return candidates.find((f) => fs.existsSync(f)) || null;
})();

// How many processes the kernel has OOM-killed in our cgroup so far (0 where unknown).
function oomKills() {
  if (oomCounterFile === null) return 0;
  const m = /^oom_kill (\d+)$/m.exec(readOr(oomCounterFile, ''));
  return m ? Number(m[1]) : 0;
}

module.exports = { rss, children, descendants, startTime, cpuSeconds, portHolders, unixPathHolders, listeningPorts, oomKills };
