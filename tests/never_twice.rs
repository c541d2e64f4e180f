//! Never the same comment twice: a permanent answer from Jules is told once and the delivery
//! is dead-lettered at once; a reply posted by an attempt that later failed is not posted
//! again by the retry; a mistyped command is answered, not sent to Jules.

mod support;

use std::time::Duration;

use jules_bridge::store::DeliveryStatus;
use jules_fake::{FakeConfig, FakeServer};
use serde_json::json;
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repository_jules_cannot_see_is_answered_once_and_dead_lettered_at_once() {
    let mut world = World::new(Mode::App).await;
    // Jules knows other repositories, not this one.
    world.jules = FakeServer::start(FakeConfig {
        api_key: Some(KEY.to_owned()),
        step: Duration::ZERO,
        sources: Some(vec!["someone/else".to_owned()]),
        ..FakeConfig::default()
    })
    .await
    .unwrap();
    world.client = jules_client(&world.jules);
    let bridge = world.start().await;

    // A maintainer labels an issue.
    assert_eq!(
        world.deliver(&bridge, "issues", &app_labeled(801)).await,
        202
    );
    bridge.drained().await;

    // The bridge answers once, in plain words, and does not try again.
    let replies = world.bot_comments(801);
    assert_eq!(replies.len(), 1, "{replies:#?}");
    assert!(
        replies[0]
            .body
            .starts_with("⚠️ **Jules cannot see this repository**"),
        "{}",
        replies[0].body
    );
    let dead = bridge.deliveries_with(DeliveryStatus::Dead).await;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].attempts, 1, "a permanent answer is not retried");
    assert_eq!(world.jules.request_count("sessions.create"), 1);
    bridge.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_delivery_does_not_repeat_the_replies_its_first_attempt_posted() {
    let world = World::new(Mode::App).await;
    let bridge = world.start().await;
    // Jules is down for the first attempt's creates (every retry of the client included).
    inject(
        &world.jules,
        json!({"failNext": 6, "errorStatus": 503, "methods": ["sessions.create"]}),
    )
    .await;

    // One comment: a typo'd approve (answered with a suggestion) and a task.
    let body = "/jules aprove\n\n/jules add a CONTRIBUTING.md";
    world
        .github
        .add_comment_with_id(APP_REPO, 802, 80_200, "harshraj8843", body);
    let comment = app_comment(802, body, 80_200, "harshraj8843", false);
    assert_eq!(world.deliver(&bridge, "issue_comment", &comment).await, 202);
    bridge.drained().await;

    // The delivery needed a second attempt, which started the session...
    let done = bridge.deliveries_with(DeliveryStatus::Done).await;
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].attempts, 2, "{:?}", done[0].note);
    assert_eq!(world.sessions_for(802).await.len(), 1);
    // ...and the suggestion was posted once, not once per attempt; the typo reached nobody.
    let suggestions: Vec<_> = world
        .bot_comments(802)
        .into_iter()
        .filter(|c| c.body.contains("Did you mean `/jules approve`?"))
        .collect();
    assert_eq!(suggestions.len(), 1);
    assert_eq!(world.jules.request_count("sessions.sendMessage"), 0);
    assert_eq!(world.jules.request_count("sessions.approvePlan"), 0);
    bridge.stop().await;
}
