//! Prometheus metrics (`GET /metrics`, text format).

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::jules::CallObserver;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DeliveryLabels {
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
        Arc::new(Metrics {
            registry,
            deliveries,
            queue_depth,
            job_seconds,
            jules_calls,
            github_calls,
            tracked_sessions,
        })
    }

    pub fn delivery(&self, event: &str, outcome: &str) {
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
