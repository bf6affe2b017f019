//! A token bucket for outgoing notices: `rate_per_minute` mails a minute on average, with a
//! burst of at most one minute's worth, so a planner run after downtime does not make the
//! desk look like a spam source to its own relay.

use std::time::{Duration, Instant};

/// A token bucket of `per_minute` tokens refilled at `per_minute` a minute, kept as the
/// generic cell rate algorithm (the time the bucket would be empty), so it is exact in
/// integer time and needs no refill arithmetic.
#[derive(Debug, Clone)]
pub struct RateLimit {
    /// Time one token takes to come back.
    interval: Duration,
    /// How far ahead of now the empty-bucket time may run: a full bucket's burst.
    burst: Duration,
    /// When the bucket would be empty, `None` while it is full.
    empty_at: Option<Instant>,
}

impl RateLimit {
    /// A full bucket of `per_minute` tokens (at least 1).
    pub fn new(per_minute: u32) -> Self {
        let per_minute = per_minute.max(1);
        let interval = Duration::from_secs(60) / per_minute;
        Self {
            interval,
            burst: interval * (per_minute - 1),
            empty_at: None,
        }
    }

    /// Takes a token if one is there at `now`.
    pub fn try_take(&mut self, now: Instant) -> bool {
        let empty_at = self.empty_at.map_or(now, |t| t.max(now));
        if empty_at.saturating_duration_since(now) <= self.burst {
            self.empty_at = Some(empty_at + self.interval);
            true
        } else {
            false
        }
    }

    /// How long from `now` until a token is there (zero when one is).
    pub fn wait_time(&self, now: Instant) -> Duration {
        self.empty_at.map_or(Duration::ZERO, |t| {
            t.saturating_duration_since(now).saturating_sub(self.burst)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_the_rate() {
        let start = Instant::now();
        let mut limit = RateLimit::new(30);
        for _ in 0..30 {
            assert!(limit.try_take(start));
        }
        assert!(!limit.try_take(start));
        assert_eq!(limit.wait_time(start), Duration::from_secs(2));
        // 30 a minute: one token every two seconds.
        assert!(!limit.try_take(start + Duration::from_millis(1900)));
        assert!(limit.try_take(start + Duration::from_secs(2)));
        assert!(!limit.try_take(start + Duration::from_secs(2)));
        // A long pause refills to one minute's worth, not more.
        let later = start + Duration::from_secs(3600);
        let taken = (0..100).filter(|_| limit.try_take(later)).count();
        assert_eq!(taken, 30);
    }

    #[test]
    fn zero_means_one_and_time_going_back_is_harmless() {
        let start = Instant::now() + Duration::from_secs(10);
        let mut limit = RateLimit::new(0);
        assert!(limit.try_take(start));
        assert!(!limit.try_take(start - Duration::from_secs(5)));
        assert!(!limit.try_take(start + Duration::from_secs(59)));
        assert!(limit.try_take(start + Duration::from_secs(60)));
        assert!(!limit.try_take(start + Duration::from_secs(61)));
    }
}
