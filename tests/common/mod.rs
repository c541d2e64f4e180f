//! Shared test helpers: a `jules-fake` on loopback and a client wired to it.
#![allow(dead_code)]

use std::time::Duration;

use jules_bridge::jules::{ClientConfig, JulesClient, RetryPolicy};
use jules_fake::{FakeConfig, FakeServer};
use serde_json::Value;

pub const KEY: &str = "test-key-7f3a9c";

/// A fake Jules that only moves when told to (`step` = 0), so tests are deterministic.
pub async fn manual_fake() -> FakeServer {
    fake_with(FakeConfig {
        api_key: Some(KEY.to_owned()),
        step: Duration::ZERO,
        sources: None,
        ..FakeConfig::default()
    })
    .await
}

/// A fake Jules whose sessions move on their own, quickly.
pub async fn live_fake() -> FakeServer {
    fake_with(FakeConfig {
        api_key: Some(KEY.to_owned()),
        step: Duration::from_millis(15),
        sources: None,
        ..FakeConfig::default()
    })
    .await
}

pub async fn fake_with(config: FakeConfig) -> FakeServer {
    FakeServer::start(config).await.expect("fake starts")
}

/// Short, bounded retries so fault tests finish quickly.
pub fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        min_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(50),
        deadline: Duration::from_secs(10),
        max_attempts: 6,
    }
}

pub fn client_for(fake: &FakeServer) -> JulesClient {
    client_with(fake, fast_retry())
}

pub fn client_with(fake: &FakeServer, retry: RetryPolicy) -> JulesClient {
    JulesClient::new(
        KEY.to_owned().into(),
        ClientConfig {
            base_url: fake.url(),
            request_timeout: Duration::from_secs(5),
            retry,
            ..ClientConfig::default()
        },
    )
    .expect("client builds")
}

/// Sets the fake's fault injection (`POST /_fake/faults`).
pub async fn inject(fake: &FakeServer, faults: Value) {
    let response = reqwest::Client::new()
        .post(format!("{}/_fake/faults", fake.url()))
        .json(&faults)
        .send()
        .await
        .expect("control API answers");
    assert!(response.status().is_success(), "faults accepted: {faults}");
}

/// Advances every unfinished session of a manual fake `n` steps.
pub async fn step(fake: &FakeServer, n: usize) {
    let http = reqwest::Client::new();
    for _ in 0..n {
        let response = http
            .post(format!("{}/_fake/step", fake.url()))
            .send()
            .await
            .expect("control API answers");
        assert!(response.status().is_success());
    }
}

/// The messages and plan approvals `session` received from anyone: what the trust-boundary
/// tests assert is empty for another repository's session.
pub async fn steering_received(client: &JulesClient, session: &str) -> Vec<String> {
    use jules_bridge::jules::ActivityKind;
    client
        .all_activities(session, None)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|activity| match activity.kind {
            ActivityKind::UserMessaged(message) => {
                Some(format!("message: {}", message.user_message))
            }
            ActivityKind::PlanApproved(_) => Some("plan approved".to_owned()),
            _ => None,
        })
        .collect()
}
