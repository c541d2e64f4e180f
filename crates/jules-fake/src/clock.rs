//! Timestamps as the real API writes them: RFC 3339, UTC, exactly 6 fractional digits.

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
}

impl MonotonicClock {
    pub fn now(&mut self) -> Timestamp {
        let wall = Utc::now().trunc_subsecs(6);
        let next = match self.last {
            Some(last) if wall < last + TimeDelta::milliseconds(1) => {
                last + TimeDelta::milliseconds(1)
            }
            _ => wall,
        };
        self.last = Some(next);
        next
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
}
