//! One Jules request budget per API key, kept in the store so that every replica sharing the
//! database spends from the same one. Jules' `activities.list` quota (observed: 120 requests
//! per minute per project) is not announced in headers; spending from a budget below it
//! (default 100 a minute) makes the bridge wait instead of collecting 429s.
//!
//! The relay polls for everyone and could spend it all, so it spends from a smaller share
//! (four fifths) and never waits: a session it cannot afford this tick is relayed on a later
//! one, the sessions where a person waits first. A person's command, handled by a worker,
//! may use the whole budget and waits for room (at most a minute) instead of failing.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use super::metrics::{Metrics, SpenderLabels};
use crate::jules::budget::{RequestBudget, QUOTA_LIMITED};
use crate::store::Store;

/// The quota's window.
const WINDOW: Duration = Duration::from_secs(60);

/// Who spends: the share of the budget each may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spender {
    /// Workers acting on a person's command: the whole budget.
    Handler,
    /// The relay's polling: four fifths, so commands always find room; never waits.
    Relay,
}

impl Spender {
    fn name(self) -> &'static str {
        match self {
            Spender::Handler => "handler",
            Spender::Relay => "relay",
        }
    }

    fn share(self, per_minute: u32) -> u32 {
        match self {
            Spender::Handler => per_minute,
            Spender::Relay => (per_minute * 4 / 5).max(1),
        }
    }
}

/// A budget shared through the store.
pub struct StoreBudget {
    store: Arc<dyn Store>,
    /// `key:` and a hash of the API key: one budget per key, and never the key itself.
    name: String,
    limit: u32,
    spender: Spender,
    metrics: Arc<Metrics>,
}

impl StoreBudget {
    pub fn new(
        store: Arc<dyn Store>,
        api_key: &SecretString,
        per_minute: u32,
        spender: Spender,
        metrics: Arc<Metrics>,
    ) -> StoreBudget {
        let digest = Sha256::digest(api_key.expose_secret().as_bytes());
        StoreBudget {
            store,
            name: format!("key:{}", hex::encode(&digest[..8])),
            limit: spender.share(per_minute),
            spender,
            metrics,
        }
    }
}

#[async_trait::async_trait]
impl RequestBudget for StoreBudget {
    async fn spend(&self, method: &'static str) -> bool {
        if !QUOTA_LIMITED.contains(&method) {
            return true;
        }
        let labels = SpenderLabels {
            spender: self.spender.name(),
        };
        loop {
            match self.store.spend_call(&self.name, self.limit, WINDOW).await {
                Ok(None) => {
                    self.metrics.budget_spent.get_or_create(&labels).inc();
                    return true;
                }
                Ok(Some(_)) if self.spender == Spender::Relay => {
                    self.metrics.budget_waits.get_or_create(&labels).inc();
                    return false;
                }
                Ok(Some(free_at)) => {
                    self.metrics.budget_waits.get_or_create(&labels).inc();
                    let wait = (free_at - Utc::now())
                        .to_std()
                        .unwrap_or_default()
                        .clamp(Duration::from_millis(20), WINDOW);
                    tracing::debug!(
                        spender = labels.spender,
                        wait_ms = wait.as_millis() as u64,
                        "Jules request budget spent; waiting for room"
                    );
                    tokio::time::sleep(wait).await;
                }
                Err(error) => {
                    // Better one call that Jules may refuse than a bridge that stops.
                    tracing::warn!(%error, "cannot read the Jules request budget; calling anyway");
                    return true;
                }
            }
        }
    }
}
