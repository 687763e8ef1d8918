//! When a worker counts as unresponsive or hung (pure): one ping in flight at a time; not
//! answered by the next tick, the worker is `Missed` (taken out of distribution until it
//! answers); silent for the hang timeout, it is `Hung`, once.

use std::time::{Duration, Instant};

/// What a tick asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// Nothing in flight: send a ping (and call `sent`).
    Ping,
    /// The ping in flight was not answered within a tick.
    Missed,
    /// Silent for the hang timeout: it is hung (reported once).
    Hung {
        silent: Duration,
    },
    Wait,
}

pub struct Pinger {
    timeout: Duration,
    in_flight: Option<(u64, Instant)>,
    last_answer: Instant,
    missed: bool,
    hung: bool,
}

impl Pinger {
    /// `now`: when the worker became ready (its silence counts from there).
    pub fn new(timeout: Duration, now: Instant) -> Self {
        Pinger { timeout, in_flight: None, last_answer: now, missed: false, hung: false }
    }

    pub fn tick(&mut self, now: Instant) -> Step {
        if self.hung {
            return Step::Wait;
        }
        if self.in_flight.is_none() {
            return Step::Ping;
        }
        let silent = now.saturating_duration_since(self.last_answer);
        if silent >= self.timeout {
            self.hung = true;
            Step::Hung { silent }
        } else if !self.missed {
            self.missed = true;
            Step::Missed
        } else {
            Step::Wait
        }
    }

    /// When the worker will count as hung if no answer comes (a ping is in flight).
    pub fn deadline(&self) -> Option<Instant> {
        (self.in_flight.is_some() && !self.hung).then(|| self.last_answer + self.timeout)
    }

    /// Between ticks, at the deadline: hung (reported once) if still silent.
    pub fn overdue(&mut self, now: Instant) -> Option<Duration> {
        let silent = now.saturating_duration_since(self.last_answer);
        if self.deadline().is_none() || silent < self.timeout {
            return None;
        }
        self.hung = true;
        Some(silent)
    }

    pub fn sent(&mut self, seq: u64, now: Instant) {
        self.in_flight = Some((seq, now));
    }

    /// Ping `seq` answered: its round trip, and whether the worker had missed a ping (and is
    /// to be routed to again). Nothing once it is hung: that is for good.
    pub fn answered(&mut self, seq: u64, now: Instant) -> Option<(Duration, bool)> {
        match self.in_flight {
            Some((s, at)) if s == seq && !self.hung => {
                self.in_flight = None;
                self.last_answer = now;
                Some((now.saturating_duration_since(at), std::mem::take(&mut self.missed)))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missed_then_back_then_hung_once() {
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        let mut p = Pinger::new(3 * s, t0);
        assert_eq!(p.tick(t0), Step::Ping);
        p.sent(1, t0);
        assert_eq!(p.tick(t0 + s), Step::Missed);
        // A late answer puts it back.
        assert_eq!(p.answered(1, t0 + s + s / 2), Some((s + s / 2, true)));
        assert_eq!(p.tick(t0 + 2 * s), Step::Ping);
        p.sent(2, t0 + 2 * s);
        assert_eq!(p.answered(1, t0 + 2 * s), None);
        assert_eq!(p.tick(t0 + 3 * s), Step::Missed);
        assert_eq!(p.tick(t0 + 4 * s), Step::Wait);
        assert_eq!(p.tick(t0 + 5 * s), Step::Hung { silent: 3 * s + s / 2 });
        assert_eq!(p.tick(t0 + 6 * s), Step::Wait);
        assert_eq!(p.answered(2, t0 + 6 * s), None);
    }

    #[test]
    fn hung_at_the_deadline_between_ticks() {
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        let mut p = Pinger::new(s * 5 / 2, t0);
        assert_eq!(p.deadline(), None);
        p.sent(1, t0);
        assert_eq!(p.deadline(), Some(t0 + s * 5 / 2));
        assert_eq!(p.overdue(t0 + 2 * s), None);
        assert_eq!(p.overdue(t0 + s * 5 / 2), Some(s * 5 / 2));
        assert_eq!(p.deadline(), None);
        assert_eq!(p.tick(t0 + 3 * s), Step::Wait);
    }
}
