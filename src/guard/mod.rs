//! The supervisor's guard over one worker, on the engine's thread so it goes on while the
//! primary's JS is busy: every tick it pings the worker over its channel (the worker's preload
//! answers from its event loop) and samples the RSS of the worker and its descendants.
//! A ping missed takes the worker out of round-robin at once (back when it answers); silent
//! for the hang timeout, JS is told it is hung and replaces it.
pub mod ping;
pub mod sampler;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::channel::Channel;
use crate::engine::{channel_token, Msg};
use crate::event::{Event, GuardReport};
use crate::reactor::{Cx, Source};
use ping::{Pinger, Step};

pub struct Guard {
    /// Its own id: JS's owner of its events.
    id: u32,
    chan: Arc<Channel>,
    pid: i32,
    tick: Duration,
    /// When the next tick's work is due (the timer also wakes at a hang deadline between).
    next_tick: Instant,
    /// `None`: no hang detection.
    pinger: Option<Pinger>,
    /// `None`: no memory sampling.
    sampler: Option<sampler::TreeSampler>,
    /// Descriptors sent on the channel when the worker first missed a ping.
    fds_at_miss: u64,
}

impl Guard {
    pub fn new(
        id: u32,
        chan: Arc<Channel>,
        pid: i32,
        tick: Duration,
        hang_timeout: Option<Duration>,
        sample_memory: bool,
    ) -> Self {
        let pinger = hang_timeout.map(|t| Pinger::new(t, Instant::now()));
        let sampler = sample_memory.then(sampler::TreeSampler::default);
        Guard { id, chan, pid, tick, next_tick: Instant::now() + tick, pinger, sampler, fds_at_miss: 0 }
    }

    fn fds_out(&self) -> u64 {
        self.chan.counters.fds_out.load(Ordering::Relaxed)
    }

    fn hung(&mut self, cx: &mut Cx<'_, Msg>, silent: Duration) {
        let handed_after_miss = self.fds_out() - self.fds_at_miss;
        let report = GuardReport::Hung { silent_ms: silent.as_millis() as u64, handed_after_miss };
        cx.events().push(Event::Guard { id: self.id, report });
    }

    /// One tick: a ping or what its silence means, and a memory sample.
    fn tick(&mut self, cx: &mut Cx<'_, Msg>, now: Instant) {
        let chan = channel_token(self.chan.id);
        let step = self.pinger.as_mut().map_or(Step::Wait, |p| p.tick(now));
        match step {
            Step::Ping => {
                let seq = crate::cluster::next_seq();
                if let Some(p) = &mut self.pinger {
                    p.sent(seq, now);
                }
                cx.post(chan, Msg::Ping { seq, token: cx.token() });
            }
            Step::Missed => {
                self.fds_at_miss = self.fds_out();
                cx.post(chan, Msg::Routable(false));
                cx.events().push(Event::Guard { id: self.id, report: GuardReport::Missed });
            }
            Step::Hung { silent } => self.hung(cx, silent),
            Step::Wait => {}
        }
        if let Some(sampler) = &mut self.sampler {
            if let Some(bytes) = sampler.tree_rss(self.pid) {
                cx.events().push(Event::Guard { id: self.id, report: GuardReport::Rss(bytes) });
            }
        }
    }

    fn done(&mut self, cx: &mut Cx<'_, Msg>) {
        cx.events().push(Event::Closed { id: self.id });
        cx.remove_self();
    }
}

impl Source<Msg> for Guard {
    fn start(&mut self, cx: &mut Cx<'_, Msg>) {
        let chan = channel_token(self.chan.id);
        cx.post(chan, Msg::Watch(cx.token()));
        // A worker starts routable: a guard started afresh forgets what an earlier one missed.
        cx.post(chan, Msg::Routable(true));
        cx.timer(self.tick);
    }

    fn timer(&mut self, cx: &mut Cx<'_, Msg>) {
        let now = Instant::now();
        if now >= self.next_tick {
            self.next_tick = now + self.tick;
            self.tick(cx, now);
        } else if let Some(silent) = self.pinger.as_mut().and_then(|p| p.overdue(now)) {
            self.hung(cx, silent);
        }
        // The next tick, or the hang deadline if that comes first (so a hang is reported at its
        // deadline, not up to a tick later).
        let deadline = self.pinger.as_ref().and_then(Pinger::deadline);
        let at = deadline.map_or(self.next_tick, |d| d.min(self.next_tick));
        cx.timer(at.saturating_duration_since(now));
    }

    fn message(&mut self, cx: &mut Cx<'_, Msg>, msg: Msg) {
        match msg {
            Msg::Pong { seq } => {
                let answered = self.pinger.as_mut().and_then(|p| p.answered(seq, Instant::now()));
                let Some((rtt, missed)) = answered else { return };
                if missed {
                    cx.post(channel_token(self.chan.id), Msg::Routable(true));
                }
                let report = GuardReport::Answered { rtt_us: rtt.as_micros() as u64 };
                cx.events().push(Event::Guard { id: self.id, report });
            }
            Msg::ChannelClosed { .. } => self.done(cx),
            // A ping still unanswered must not keep the channel awaiting a reply.
            Msg::StopGuard => {
                cx.post(channel_token(self.chan.id), Msg::Unwatch(cx.token()));
                self.done(cx);
            }
            _ => {}
        }
    }
}
