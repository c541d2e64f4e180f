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

/// A failure to reach the service that says something about the address itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetworkFault {
    /// The host name does not exist (DNS answered "no such name"): a typo in the URL, which
    /// no retry fixes. A DNS server that did not answer ("temporary failure") is not this.
    UnknownHost,
    /// Nothing listens at the address: a service that is down or restarting, or a wrong port.
    ConnectionRefused,
}

/// What kind of network fault ended a call, if it is one of the [`NetworkFault`]s.
pub fn network_fault(error: &JulesError) -> Option<NetworkFault> {
    match error {
        JulesError::Transport {
            detail,
            connect: true,
            ..
        } => fault_in(detail),
        _ => None,
    }
}

/// The [`NetworkFault`] a transport error's text describes.
pub(crate) fn fault_in(detail: &str) -> Option<NetworkFault> {
    let detail = detail.to_ascii_lowercase();
    if detail.contains("connection refused") {
        return Some(NetworkFault::ConnectionRefused);
    }
    let dns = detail.contains("dns error") || detail.contains("failed to lookup address");
    // getaddrinfo's EAI_NONAME / EAI_NODATA in their glibc, musl, macOS and Windows words;
    // EAI_AGAIN ("temporary failure in name resolution") may get better and stays transient.
    let no_such_name = [
        "name or service not known",
        "no address associated with hostname",
        "nodename nor servname provided",
        "no such host is known",
        "name does not resolve",
    ]
    .iter()
    .any(|words| detail.contains(words));
    (dns && no_such_name).then_some(NetworkFault::UnknownHost)
}

/// Whether this failure is worth another attempt for a call of this safety.
///
/// A host name that does not exist is never retried. A refused connection is (a service
/// restarting refuses connections for a moment), as is every other failure to connect: the
/// request surely was not processed. How long to keep trying is the caller's [`RetryPolicy`];
/// the CLI keeps refused connections to a couple of quick attempts.
pub fn is_transient(error: &JulesError, safety: Safety) -> bool {
    match (error, safety) {
        (JulesError::Api(api), _) if api.is_at_limit() => true,
        (JulesError::Api(api), Safety::Idempotent) => api.is_server_error(),
        (JulesError::Transport { .. }, _)
            if network_fault(error) == Some(NetworkFault::UnknownHost) =>
        {
            false
        }
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

    fn transport(detail: &str) -> JulesError {
        JulesError::Transport {
            method: "sessions.get",
            detail: detail.to_owned(),
            connect: true,
        }
    }

    #[test]
    fn an_unknown_host_is_not_retried_but_a_refused_connection_is() {
        let unknown = transport("error sending request: client error (Connect): dns error: failed to lookup address information: Name or service not known");
        assert_eq!(network_fault(&unknown), Some(NetworkFault::UnknownHost));
        assert!(!is_transient(&unknown, Safety::Idempotent));
        assert!(!is_transient(&unknown, Safety::NotIdempotent));

        let flaky_dns = transport("error sending request: client error (Connect): dns error: failed to lookup address information: Temporary failure in name resolution");
        assert_eq!(network_fault(&flaky_dns), None);
        assert!(is_transient(&flaky_dns, Safety::Idempotent));

        let refused = transport("error sending request: client error (Connect): tcp connect error: Connection refused (os error 111)");
        assert_eq!(
            network_fault(&refused),
            Some(NetworkFault::ConnectionRefused)
        );
        assert!(is_transient(&refused, Safety::NotIdempotent));
    }

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
