//! Timestamps as the real API writes them: RFC 3339, UTC, exactly 6 fractional digits,
//! and the fake's one clock, which tests can move forward (`POST /_fake/clock`) so that
//! time-based behaviour (quotas, the auto-approve timer) is testable without waiting.

use chrono::{DateTime, SubsecRound, TimeDelta, Utc};

pub type Timestamp = DateTime<Utc>;

/// `2025-10-03T05:43:42.801654Z`
pub fn format_timestamp(time: &Timestamp) -> String {
    time.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// Hands out microsecond timestamps that strictly increase across the whole fake, at least
/// a millisecond apart: clients that compare times at millisecond resolution (the official
/// TypeScript SDK keeps a millisecond high-water mark) then never see two activities as one.
///
/// One clock for everything means no two activities (and no two sessions) ever share a
/// createTime, so "strictly greater than" filters and createTime-ordered lists are total.
#[derive(Debug, Default)]
pub struct MonotonicClock {
    last: Option<Timestamp>,
    /// How far the fake's time runs ahead of the wall clock (moved by tests).
    offset: TimeDelta,
}

impl MonotonicClock {
    /// A fresh timestamp for something the fake writes (an activity, a session).
    pub fn now(&mut self) -> Timestamp {
        let wall = self.current();
        let next = match self.last {
            Some(last) if wall < last + TimeDelta::milliseconds(1) => {
                last + TimeDelta::milliseconds(1)
            }
            _ => wall,
        };
        self.last = Some(next);
        next
    }

    /// The fake's time without handing out a timestamp: for windows and timers, which must
    /// not push the activity timestamps ahead. Never earlier than a timestamp already handed
    /// out (those can run a little ahead of the wall clock), so "T + 1 s has passed" holds
    /// once the clock was moved by a second after T was written.
    pub fn current(&self) -> Timestamp {
        let wall = (Utc::now() + self.offset).trunc_subsecs(6);
        self.last.map_or(wall, |last| wall.max(last))
    }

    /// Moves the fake's time forward; it never goes back, so timestamps stay increasing.
    /// Moves from `current()`, which may be ahead of the wall clock, so that every
    /// timestamp handed out so far is at least `by` in the past afterwards. Capped at a
    /// century ahead, far beyond any window, so the sum cannot overflow.
    pub fn advance(&mut self, by: TimeDelta) {
        let cap = TimeDelta::days(36_500);
        if by > TimeDelta::zero() {
            let wall = (Utc::now() + self.offset).trunc_subsecs(6);
            let lead = (self.current() - wall).max(TimeDelta::zero());
            self.offset = (self.offset + lead.min(cap) + by.min(cap)).min(cap);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_six_fraction_digits() {
        let time = DateTime::parse_from_rfc3339("2025-10-03T05:43:42.8Z")
            .map(|t| t.with_timezone(&Utc))
            .expect("valid literal");
        assert_eq!(format_timestamp(&time), "2025-10-03T05:43:42.800000Z");
    }

    #[test]
    fn never_repeats_a_timestamp() {
        let mut clock = MonotonicClock::default();
        let mut previous = clock.now();
        for _ in 0..1000 {
            let next = clock.now();
            assert!(next > previous);
            previous = next;
        }
    }

    #[test]
    fn advancing_moves_both_readings_forward() {
        let mut clock = MonotonicClock::default();
        let before = clock.now();
        clock.advance(TimeDelta::hours(1));
        assert!(clock.current() >= before + TimeDelta::hours(1));
        assert!(clock.now() >= before + TimeDelta::hours(1));
        let issued = (0..50).map(|_| clock.now()).last().expect("fifty");
        assert!(clock.current() >= issued, "not behind an issued timestamp");
        clock.advance(TimeDelta::seconds(1));
        assert!(
            clock.current() >= issued + TimeDelta::seconds(1),
            "ahead of the lead"
        );
        clock.advance(TimeDelta::hours(-5));
        assert!(
            clock.current() >= before + TimeDelta::hours(1),
            "never back"
        );
    }
}
