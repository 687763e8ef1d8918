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
        Guard { id, chan, pid, tick, pinger, sampler, fds_at_miss: 0 }
    }

    fn fds_out(&self) -> u64 {
        self.chan.counters.fds_out.load(Ordering::Relaxed)
    }

    fn done(&mut self, cx: &mut Cx<'_, Msg>) {
        cx.events().push(Event::Closed { id: self.id });
        cx.remove_self();
    }
}

impl Source<Msg> for Guard {
    fn start(&mut self, cx: &mut Cx<'_, Msg>) {
        cx.post(channel_token(self.chan.id), Msg::Watch(cx.token()));
        cx.timer(self.tick);
    }

    fn timer(&mut self, cx: &mut Cx<'_, Msg>) {
        let now = Instant::now();
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
            Step::Hung { silent } => {
                let handed_after_miss = self.fds_out() - self.fds_at_miss;
                let report = GuardReport::Hung { silent_ms: silent.as_millis() as u64, handed_after_miss };
                cx.events().push(Event::Guard { id: self.id, report });
            }
            Step::Wait => {}
        }
        if let Some(sampler) = &mut self.sampler {
            if let Some(bytes) = sampler.tree_rss(self.pid) {
                cx.events().push(Event::Guard { id: self.id, report: GuardReport::Rss(bytes) });
            }
        }
        cx.timer(self.tick);
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
            Msg::ChannelClosed { .. } | Msg::StopGuard => self.done(cx),
            _ => {}
        }
    }
}
