//! When and how long to wait before trying a Jules call again.
//!
//! Retries are explicit and bounded: exponential back-off with jitter (1 s doubling to a 30 s
//! cap, like the official clients), a total deadline per call, and a `Retry-After` from the
//! server wins over our own delay. Which failures are retried depends on what the call does
//! to the server, see [`Safety`].

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use tokio::time::Instant;

use super::error::JulesError;

/// How a call may be repeated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Safety {
    /// Reads, deletes, archive/unarchive: repeating changes nothing, so every transient
    /// failure (429, 500/502/503/504, timeouts, dropped connections) is retried.
    Idempotent,
    /// A call that changes state each time (sendMessage): retried only when the server surely
    /// did not process it (429 "at limit", or no connection was ever made).
    NotIdempotent,
}

/// Back-off settings; the defaults follow the official Jules clients.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// The first delay.
    pub min_delay: Duration,
    /// The longest single delay.
    pub max_delay: Duration,
    /// No new attempt starts after this much time since the first one.
    pub deadline: Duration,
    /// At most this many attempts in all.
    pub max_attempts: usize,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            min_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(30),
            deadline: Duration::from_secs(120),
            max_attempts: 8,
        }
    }
}

impl RetryPolicy {
    /// No retries at all.
    pub fn none() -> Self {
        RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::default()
        }
    }

    /// Starts the schedule for one call.
    pub fn start(&self) -> Schedule {
        Schedule {
            delays: ExponentialBuilder::default()
                .with_min_delay(self.min_delay)
                .with_max_delay(self.max_delay)
                .with_jitter()
                .with_max_times(self.max_attempts.saturating_sub(1))
                .build(),
            deadline: Instant::now() + self.deadline,
        }
    }
}

/// The remaining retries of one call.
pub struct Schedule {
    delays: backon::ExponentialBackoff,
    deadline: Instant,
}

impl Schedule {
    /// The delay before the next attempt, or `None` when the attempts or the deadline are
    /// used up. A server's `Retry-After` is honoured, but never past the deadline.
    pub fn next_delay(&mut self, retry_after: Option<Duration>) -> Option<Duration> {
        let backoff = self.delays.next()?;
        let delay = retry_after.map_or(backoff, |asked| asked.max(backoff));
        let remaining = self.deadline.saturating_duration_since(Instant::now());
        (delay < remaining).then_some(delay)
    }
}

/// Whether this failure is worth another attempt for a call of this safety.
pub fn is_transient(error: &JulesError, safety: Safety) -> bool {
    match (error, safety) {
        (JulesError::Api(api), _) if api.is_at_limit() => true,
        (JulesError::Api(api), Safety::Idempotent) => api.is_server_error(),
        (JulesError::Transport { connect: true, .. }, _) => true,
        (JulesError::Transport { .. } | JulesError::Timeout { .. }, Safety::Idempotent) => true,
        _ => false,
    }
}

/// A failure after which the server may or may not have done the work: the request was sent
/// and no clear answer came back.
pub fn outcome_unknown(error: &JulesError) -> bool {
    match error {
        JulesError::Api(api) => api.is_server_error(),
        JulesError::Transport { connect, .. } => !connect,
        JulesError::Timeout { .. } | JulesError::Decode { .. } => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_schedule_stops_at_max_attempts() {
        let policy = RetryPolicy {
            min_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(4),
            deadline: Duration::from_secs(60),
            max_attempts: 4,
        };
        let mut schedule = policy.start();
        let delays: Vec<_> = std::iter::from_fn(|| schedule.next_delay(None)).collect();
        assert_eq!(delays.len(), 3);
        assert!(delays.iter().all(|d| *d <= Duration::from_millis(8)));
    }

    #[tokio::test]
    async fn retry_after_past_the_deadline_gives_up() {
        let policy = RetryPolicy {
            deadline: Duration::from_secs(5),
            ..RetryPolicy::default()
        };
        let mut schedule = policy.start();
        assert_eq!(schedule.next_delay(Some(Duration::from_secs(60))), None);
    }

    #[tokio::test]
    async fn retry_after_is_honoured() {
        let policy = RetryPolicy {
            min_delay: Duration::from_millis(1),
            ..RetryPolicy::default()
        };
        let mut schedule = policy.start();
        assert_eq!(
            schedule.next_delay(Some(Duration::from_secs(3))),
            Some(Duration::from_secs(3))
        );
    }
}
