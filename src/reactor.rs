//! The event loop, knowing nothing of what it drives (mio's `Poll`/`Registry` against its
//! `event::Source`). It owns epoll, the waker other threads post through, and one-shot
//! timers, which drive epoll's timeout. Everything else is a `Source`: a channel, a child's
//! exit watcher, a round-robin listener. A source is called when its fd is ready, when a
//! timer it set is due, and with the messages posted to it (by JS through the waker, or by
//! another source); it reaches the loop only through its `Cx`. Adding a kind of source adds a
//! `Source` impl and touches nothing here.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
use nix::sys::eventfd::{EfdFlags, EventFd};

use crate::event::Event;
use crate::sync::lock;

/// Names a source; chosen by whoever adds it. `u64::MAX` is the waker's.
pub type Token = u64;
const WAKER: Token = u64::MAX;

/// What a source is woken with when its fd is ready.
#[derive(Clone, Copy, Debug)]
pub struct Ready {
    pub writable: bool,
    /// Readable, hung up or in error: anything a read will tell apart.
    pub readable: bool,
}

/// Which readiness a source wants to hear about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interest {
    Read,
    ReadWrite,
    /// Writability only (a channel whose reading is paused while it still has output).
    Write,
    /// Registered but silent (a listener out of descriptors).
    None,
}

impl Interest {
    fn flags(self) -> EpollFlags {
        match self {
            Interest::Read => EpollFlags::EPOLLIN,
            Interest::ReadWrite => EpollFlags::EPOLLIN | EpollFlags::EPOLLOUT,
            Interest::Write => EpollFlags::EPOLLOUT,
            Interest::None => EpollFlags::empty(),
        }
    }
}

/// Something the loop drives. `M` is what can be posted to it.
pub trait Source<M>: Send {
    /// Just added: register fds, set timers.
    fn start(&mut self, _cx: &mut Cx<'_, M>) {}
    /// Its registered fd is ready.
    fn ready(&mut self, _cx: &mut Cx<'_, M>, _ready: Ready) {}
    /// A timer it set is due.
    fn timer(&mut self, _cx: &mut Cx<'_, M>) {}
    /// A message posted to it.
    fn message(&mut self, cx: &mut Cx<'_, M>, msg: M);
}

/// A source's view of the loop during one call.
pub struct Cx<'a, M> {
    token: Token,
    epoll: &'a Epoll,
    turn: &'a mut Turn<M>,
    remove: bool,
}

/// What the calls of one turn accumulate.
struct Turn<M> {
    /// Events for JS, published once per turn.
    events: Vec<Event>,
    posted: VecDeque<(Token, M)>,
    added: VecDeque<(Token, Box<dyn Source<M>>)>,
    timers: BinaryHeap<Reverse<(Instant, Token)>>,
    /// Pause before the next wait so the next reads take more at once.
    coalesce: Option<Duration>,
}

impl<M> Cx<'_, M> {
    pub fn token(&self) -> Token {
        self.token
    }

    /// Where events for JS go (in order; published at the end of the turn).
    pub fn events(&mut self) -> &mut Vec<Event> {
        &mut self.turn.events
    }

    /// Watches `fd` for this source.
    pub fn register(&self, fd: BorrowedFd<'_>, interest: Interest) -> io::Result<()> {
        Ok(self.epoll.add(fd, EpollEvent::new(interest.flags(), self.token))?)
    }

    pub fn reregister(&self, fd: BorrowedFd<'_>, interest: Interest) -> io::Result<()> {
        Ok(self.epoll.modify(fd, &mut EpollEvent::new(interest.flags(), self.token))?)
    }

    /// Stops watching `fd` (closing it does as much).
    pub fn deregister(&self, fd: BorrowedFd<'_>) -> io::Result<()> {
        Ok(self.epoll.delete(fd)?)
    }

    /// Calls this source's `timer` once, `after` from now.
    pub fn timer(&mut self, after: Duration) {
        self.turn.timers.push(Reverse((Instant::now() + after, self.token)));
    }

    /// Queues `msg` for `to`, delivered in this turn after the current call returns, in the
    /// order posted. A message to a source that is gone is dropped (what it owns is closed).
    pub fn post(&mut self, to: Token, msg: M) {
        self.turn.posted.push_back((to, msg));
    }

    /// Adds a source, started after the current call returns.
    pub fn add(&mut self, token: Token, source: Box<dyn Source<M>>) {
        self.turn.added.push_back((token, source));
    }

    /// This source is finished: it is dropped after the current call returns.
    pub fn remove_self(&mut self) {
        self.remove = true;
    }

    /// Asks for a pause of `d` before the next wait (a flood being read in larger pieces).
    pub fn coalesce(&mut self, d: Duration) {
        self.turn.coalesce = Some(d);
    }
}

/// What another thread hands the loop.
pub enum Command<M> {
    Add(Token, Box<dyn Source<M>>),
    Post(Token, M),
}

/// The thread-safe end of a reactor: queues commands and wakes the loop.
pub struct Handle<M> {
    commands: Mutex<Vec<Command<M>>>,
    waker: EventFd,
}

impl<M> Handle<M> {
    /// Queues commands with one wake-up at most: each wake-up can cost the calling (JS) thread
    /// its CPU to the I/O thread.
    pub fn submit_all(&self, cmds: impl IntoIterator<Item = Command<M>>) {
        let was_empty = {
            let mut q = lock(&self.commands);
            let before = q.len();
            q.extend(cmds);
            before == 0 && !q.is_empty()
        };
        // EAGAIN means the counter is already non-zero: the loop is awake anyway.
        if was_empty {
            let _ = self.waker.write(1);
        }
    }

    pub fn submit(&self, cmd: Command<M>) {
        self.submit_all([cmd]);
    }
}

/// How the loop reports outside itself.
pub trait Report {
    /// The events of one turn, in order (never empty).
    fn publish(&self, events: Vec<Event>);
    /// A source panicked and was dropped; what JS must learn about it goes into `events`.
    fn failed(&self, token: Token, what: &str, events: &mut Vec<Event>);
    /// The loop itself panicked (and carries on).
    fn fatal(&self, what: &str);
}

fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic".into())
}

pub struct Reactor<M> {
    epoll: Epoll,
    handle: Arc<Handle<M>>,
    sources: HashMap<Token, Box<dyn Source<M>>>,
    turn: Turn<M>,
}

impl<M: Send + 'static> Reactor<M> {
    pub fn new() -> io::Result<Self> {
        let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)?;
        let waker = EventFd::from_flags(EfdFlags::EFD_CLOEXEC | EfdFlags::EFD_NONBLOCK)?;
        epoll.add(waker.as_fd(), EpollEvent::new(EpollFlags::EPOLLIN, WAKER))?;
        let handle = Arc::new(Handle { commands: Mutex::new(Vec::new()), waker });
        let turn = Turn {
            events: Vec::new(),
            posted: VecDeque::new(),
            added: VecDeque::new(),
            timers: BinaryHeap::new(),
            coalesce: None,
        };
        Ok(Reactor { epoll, handle, sources: HashMap::new(), turn })
    }

    pub fn handle(&self) -> Arc<Handle<M>> {
        self.handle.clone()
    }

    /// Runs the loop on this thread, forever.
    pub fn run(mut self, report: &dyn Report) -> ! {
        let mut ready = vec![EpollEvent::empty(); 256];
        loop {
            // A panic outside any source's call (the loop's own bookkeeping, publishing) is
            // reported and the loop goes on: the thread never dies with JS waiting on it.
            if let Err(panic) = catch_unwind(AssertUnwindSafe(|| self.turn(report, &mut ready))) {
                report.fatal(&panic_text(panic.as_ref()));
            }
        }
    }

    /// One wait and everything it brings.
    fn turn(&mut self, report: &dyn Report, ready: &mut [EpollEvent]) {
        let timeout = self.turn.timers.peek().map_or(EpollTimeout::NONE, |Reverse((at, _))| {
            let ms = at.saturating_duration_since(Instant::now()).as_micros().div_ceil(1000);
            EpollTimeout::try_from(ms).unwrap_or(EpollTimeout::MAX)
        });
        // EINTR (a signal to this thread) is an empty wake-up; nothing else can fail on an
        // epoll this loop owns, with a buffer it owns.
        let n = self.epoll.wait(ready, timeout).unwrap_or(0);
        for ev in &ready[..n] {
            if ev.data() == WAKER {
                // Resets the counter; EAGAIN means another wake-up already did.
                let _ = self.handle.waker.read();
                let cmds = std::mem::take(&mut *lock(&self.handle.commands));
                for cmd in cmds {
                    match cmd {
                        Command::Add(token, source) => self.turn.added.push_back((token, source)),
                        Command::Post(token, msg) => self.turn.posted.push_back((token, msg)),
                    }
                }
            } else {
                let flags = ev.events();
                let ready = Ready {
                    writable: flags.contains(EpollFlags::EPOLLOUT),
                    readable: flags.intersects(!EpollFlags::EPOLLOUT),
                };
                self.call(ev.data(), report, |s, cx| s.ready(cx, ready));
            }
            self.settle(report);
        }
        let now = Instant::now();
        while let Some(&Reverse((at, token))) = self.turn.timers.peek() {
            if at > now {
                break;
            }
            self.turn.timers.pop();
            self.call(token, report, |s, cx| s.timer(cx));
            self.settle(report);
        }
        let events = std::mem::take(&mut self.turn.events);
        if !events.is_empty() {
            report.publish(events);
        }
        if let Some(d) = self.turn.coalesce.take() {
            std::thread::sleep(d);
        }
    }

    /// Starts added sources and delivers posted messages until none are left.
    fn settle(&mut self, report: &dyn Report) {
        loop {
            if let Some((token, source)) = self.turn.added.pop_front() {
                self.sources.insert(token, source);
                self.call(token, report, |s, cx| s.start(cx));
            } else if let Some((token, msg)) = self.turn.posted.pop_front() {
                self.call(token, report, |s, cx| s.message(cx, msg));
            } else {
                return;
            }
        }
    }

    /// Calls one source, taken out of the table meanwhile so it can post to the others. A
    /// panic drops the source (closing what it owns) and is reported; the loop carries on.
    fn call(&mut self, token: Token, report: &dyn Report, f: impl FnOnce(&mut dyn Source<M>, &mut Cx<'_, M>)) {
        let Some(mut source) = self.sources.remove(&token) else { return };
        let mut cx = Cx { token, epoll: &self.epoll, turn: &mut self.turn, remove: false };
        let outcome = catch_unwind(AssertUnwindSafe(|| f(source.as_mut(), &mut cx)));
        let remove = cx.remove;
        match outcome {
            Ok(()) if !remove => {
                self.sources.insert(token, source);
            }
            Ok(()) => {}
            Err(panic) => {
                drop(source);
                report.failed(token, &panic_text(panic.as_ref()), &mut self.turn.events);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    /// Records what the loop reports.
    struct Sink(Mutex<mpsc::Sender<String>>);

    impl Report for Sink {
        fn publish(&self, events: Vec<Event>) {
            for e in events {
                let _ = lock(&self.0).send(format!("event {}", e.id()));
            }
        }
        fn failed(&self, token: Token, what: &str, _events: &mut Vec<Event>) {
            let _ = lock(&self.0).send(format!("failed {token}: {what}"));
        }
        fn fatal(&self, what: &str) {
            let _ = lock(&self.0).send(format!("fatal {what}"));
        }
    }

    /// On start sets a timer; when it fires, posts its number to the next source, which
    /// reports it as an event and removes itself. Panics when told to.
    struct Relay {
        next: Token,
    }

    impl Source<u32> for Relay {
        fn start(&mut self, cx: &mut Cx<'_, u32>) {
            cx.timer(Duration::from_millis(1));
        }
        fn timer(&mut self, cx: &mut Cx<'_, u32>) {
            cx.post(self.next, 7);
        }
        fn message(&mut self, cx: &mut Cx<'_, u32>, msg: u32) {
            assert!(msg != 0, "told to panic");
            cx.events().push(Event::Closed { id: msg });
            cx.remove_self();
        }
    }

    #[test]
    fn timers_posts_removal_and_a_panicking_source() {
        let (tx, rx) = mpsc::channel();
        let reactor = Reactor::<u32>::new().unwrap();
        let handle = reactor.handle();
        std::thread::spawn(move || {
            let sink: &'static Sink = Box::leak(Box::new(Sink(Mutex::new(tx))));
            reactor.run(sink)
        });
        let wait = || rx.recv_timeout(Duration::from_secs(5)).unwrap();
        // 1 → (timer) posts 7 to 2, which reports it and is gone; 1 stays.
        handle.submit_all([Command::Add(2, Box::new(Relay { next: 0 })), Command::Add(1, Box::new(Relay { next: 2 }))]);
        assert_eq!(wait(), "event 7");
        // A message to a source that is gone is dropped; one that panics is reported and the
        // loop carries on.
        handle.submit_all([Command::Post(2, 7), Command::Post(1, 0)]);
        assert_eq!(wait(), "failed 1: told to panic");
        handle.submit(Command::Add(3, Box::new(Relay { next: 4 })));
        handle.submit(Command::Add(4, Box::new(Relay { next: 0 })));
        assert_eq!(wait(), "event 7");
    }
}
