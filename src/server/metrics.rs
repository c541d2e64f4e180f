//! Prometheus metrics (`GET /metrics`, text format).

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::jules::CallObserver;

/// The `event` label of the requests refused before (or at) the signature check: their
/// `X-GitHub-Event` is anyone's text, and a label value per name would let anyone add series.
pub const UNVERIFIED: &str = "unverified";

/// The `event` label of verified deliveries of an event outside [`KNOWN_EVENTS`].
pub const OTHER_EVENT: &str = "other";

/// The GitHub events that keep their name as the `event` label: those the App subscribes to
/// (`app.yml`), those every App receives (`installation`, `installation_repositories`), and
/// the others `payload::parse_event` recognises.
pub const KNOWN_EVENTS: &[&str] = &[
    "installation",
    "installation_repositories",
    "issue_comment",
    "issues",
    "ping",
    "pull_request",
    "pull_request_review_comment",
    "pull_request_target",
    "push",
    "schedule",
    "workflow_dispatch",
    "workflow_run",
];

/// The `event` label of a verified delivery of `event`: its name if known, else
/// [`OTHER_EVENT`]. The label set stays fixed whatever a signed sender puts in the header.
pub fn event_label(event: &str) -> &'static str {
    KNOWN_EVENTS
        .iter()
        .copied()
        .find(|known| *known == event)
        .unwrap_or(OTHER_EVENT)
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DeliveryLabels {
    /// One of [`KNOWN_EVENTS`], [`OTHER_EVENT`] or [`UNVERIFIED`].
    pub event: String,
    /// accepted, duplicate, ignored, rejected, done, failed, dead
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CallLabels {
    pub method: String,
    pub status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabels {
    pub state: String,
}

/// Every metric the server exports.
pub struct Metrics {
    registry: Registry,
    pub deliveries: Family<DeliveryLabels, Counter>,
    pub queue_depth: Gauge,
    pub job_seconds: Histogram,
    pub jules_calls: Family<CallLabels, Counter>,
    pub github_calls: Family<CallLabels, Counter>,
    pub tracked_sessions: Family<StateLabels, Gauge>,
    /// Calls spent from the Jules request budget, by who spent them (`relay`, `handler`).
    pub budget_spent: Family<SpenderLabels, Counter>,
    /// Times a call found the budget spent: it waited for room (a worker) or was put off to a
    /// later tick (the relay), instead of going out and being refused.
    pub budget_waits: Family<SpenderLabels, Counter>,
    /// The budget: `activities.list` calls per rolling minute (0: none).
    pub budget_limit: Gauge,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SpenderLabels {
    pub spender: &'static str,
}

impl Metrics {
    pub fn new() -> Arc<Self> {
        let mut registry = Registry::with_prefix("jules_bridge");
        let deliveries = Family::<DeliveryLabels, Counter>::default();
        registry.register(
            "deliveries",
            "Webhook deliveries by event and outcome",
            deliveries.clone(),
        );
        let queue_depth = Gauge::default();
        registry.register(
            "queue_depth",
            "Deliveries waiting or being processed",
            queue_depth.clone(),
        );
        let job_seconds = Histogram::new(exponential_buckets(0.005, 2.0, 14));
        registry.register(
            "job_seconds",
            "Time to process one delivery",
            job_seconds.clone(),
        );
        let jules_calls = Family::<CallLabels, Counter>::default();
        registry.register(
            "jules_calls",
            "Jules API calls by method and HTTP status (0: no answer)",
            jules_calls.clone(),
        );
        let github_calls = Family::<CallLabels, Counter>::default();
        registry.register(
            "github_calls",
            "GitHub API calls by method and HTTP status (0: no answer)",
            github_calls.clone(),
        );
        let tracked_sessions = Family::<StateLabels, Gauge>::default();
        registry.register(
            "tracked_sessions",
            "Jules sessions relayed to GitHub, by state",
            tracked_sessions.clone(),
        );
        let budget_spent = Family::<SpenderLabels, Counter>::default();
        registry.register(
            "jules_budget_spent",
            "Jules activities.list calls spent from the shared per-key budget, by spender",
            budget_spent.clone(),
        );
        let budget_waits = Family::<SpenderLabels, Counter>::default();
        registry.register(
            "jules_budget_waits",
            "Jules calls that waited for room in the budget, by spender",
            budget_waits.clone(),
        );
        let budget_limit = Gauge::default();
        registry.register(
            "jules_budget_limit",
            "Jules activities.list calls allowed per rolling minute (0: no budget)",
            budget_limit.clone(),
        );
        Arc::new(Metrics {
            registry,
            budget_spent,
            budget_waits,
            budget_limit,
            deliveries,
            queue_depth,
            job_seconds,
            jules_calls,
            github_calls,
            tracked_sessions,
        })
    }

    /// Counts a verified delivery of `event` (the `X-GitHub-Event` header; labelled by
    /// [`event_label`]) with `outcome`.
    pub fn delivery(&self, event: &str, outcome: &'static str) {
        self.count_delivery(event_label(event), outcome);
    }

    /// Counts a request refused before or at the signature check, under [`UNVERIFIED`]
    /// whatever event it names.
    pub fn unverified_delivery(&self, outcome: &'static str) {
        self.count_delivery(UNVERIFIED, outcome);
    }

    fn count_delivery(&self, event: &'static str, outcome: &'static str) {
        self.deliveries
            .get_or_create(&DeliveryLabels {
                event: event.to_owned(),
                outcome: outcome.to_owned(),
            })
            .inc();
    }

    /// An observer for the Jules client that counts its calls.
    pub fn jules_observer(self: &Arc<Self>) -> CallObserver {
        let metrics = Arc::clone(self);
        CallObserver(Arc::new(move |method, status| {
            metrics
                .jules_calls
                .get_or_create(&CallLabels {
                    method: method.to_owned(),
                    status: status.to_string(),
                })
                .inc();
        }))
    }

    /// An observer for the GitHub client that counts its calls.
    pub fn github_observer(self: &Arc<Self>) -> CallObserver {
        let metrics = Arc::clone(self);
        CallObserver(Arc::new(move |method, status| {
            metrics
                .github_calls
                .get_or_create(&CallLabels {
                    method: method.to_owned(),
                    status: status.to_string(),
                })
                .inc();
        }))
    }

    pub fn encode(&self) -> String {
        let mut text = String::new();
        if prometheus_client::encoding::text::encode(&mut text, &self.registry).is_err() {
            text.clear();
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_known_event_names_become_labels() {
        for event in KNOWN_EVENTS {
            assert_eq!(event_label(event), *event);
        }
        for event in [
            "",
            "Issues",
            "issues ",
            "made-up",
            "check_run",
            "unverified",
            "other",
        ] {
            assert_eq!(event_label(event), OTHER_EVENT, "{event:?}");
        }
        // The labels a delivery can carry are these and no others.
        assert!(!KNOWN_EVENTS.contains(&UNVERIFIED) && !KNOWN_EVENTS.contains(&OTHER_EVENT));
    }

    #[test]
    fn delivery_counts_use_the_fixed_labels() {
        let metrics = Metrics::new();
        metrics.delivery("issues", "accepted");
        metrics.delivery("made-up-1", "ignored");
        metrics.delivery("made-up-2", "ignored");
        metrics.unverified_delivery("rejected");
        let text = metrics.encode();
        assert!(!text.contains("made-up"), "{text}");
        assert!(
            text.contains(r#"jules_bridge_deliveries_total{event="other",outcome="ignored"} 2"#),
            "{text}"
        );
        assert!(
            text.contains(
                r#"jules_bridge_deliveries_total{event="unverified",outcome="rejected"} 1"#
            ),
            "{text}"
        );
        assert!(
            text.contains(r#"jules_bridge_deliveries_total{event="issues",outcome="accepted"} 1"#),
            "{text}"
        );
    }
}
