//! Replay attacks on `POST /webhook`, as a transcript against the real server in-process: a
//! captured signed body resent under fresh delivery ids (neither `X-GitHub-Delivery` nor
//! `X-GitHub-Hook-ID` is covered by the signature) is acknowledged as a duplicate and never
//! processed again, whether it arrives after the original or in the same group commit.

mod support;

use std::time::Duration;

use jules_bridge::store::DeliveryStatus;
use serde_json::Value;
use support::*;

/// The replayed bytes exactly as captured, under `guid`, with the captured signature and the
/// given hook id header (None: not sent); returns the status and the JSON answer.
async fn replay(
    world: &World,
    bridge: &Bridge,
    body: &[u8],
    captured_signature: &str,
    guid: &str,
    hook_id: Option<&str>,
) -> (u16, Value) {
    let mut request = world
        .http
        .post(format!("{}/webhook", bridge.url))
        .header("content-type", "application/json")
        .header("x-github-event", "issues")
        .header("x-github-delivery", guid)
        .header("x-hub-signature-256", captured_signature);
    if let Some(hook_id) = hook_id {
        request = request.header("x-github-hook-id", hook_id);
    }
    let response = request
        .body(body.to_vec())
        .send()
        .await
        .expect("the server answers");
    let status = response.status().as_u16();
    (status, response.json().await.expect("a JSON answer"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_captured_body_under_fresh_delivery_ids_is_processed_once() {
    let world = World::new(Mode::App).await;
    let bridge = world.start().await;
    let issue = 401;

    // GitHub delivers `issues.labeled`; an attacker captures the body and its signature.
    let payload = app_labeled(issue);
    world.github.add_event_issue(&payload);
    let body = serde_json::to_vec(&payload).unwrap();
    let captured_signature = signature(&body, SECRET);
    let original = post_delivery(&world.http, &bridge.url, "issues", "github-1", &body)
        .await
        .expect("the server answers");
    assert_eq!(original.status(), 202);
    let original: Value = original.json().await.unwrap();
    assert_eq!(original["message"], "accepted");
    let original_id = original["id"].as_i64().expect("the stored id");
    eventually("the status comment appears", || async {
        !world.status_comments(issue).is_empty()
    })
    .await;

    // The attacker replays the captured bytes three times under fresh delivery ids (once as
    // if from another hook, once without a hook id): each is acknowledged as a duplicate of
    // the original delivery.
    for (n, hook_id) in [Some("109948940"), Some("1"), None].into_iter().enumerate() {
        let guid = uuid::Uuid::new_v4().to_string();
        let (status, answer) =
            replay(&world, &bridge, &body, &captured_signature, &guid, hook_id).await;
        assert_eq!(status, 200, "replay {n}: {answer}");
        assert_eq!(answer["message"], "already received", "replay {n}");
        assert_eq!(answer["id"].as_i64(), Some(original_id), "replay {n}");
    }
    bridge.drained().await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    // One session, one status comment; the replays were never stored, let alone processed.
    assert_eq!(world.jules.request_count("sessions.create"), 1);
    assert_eq!(world.sessions_for(issue).await.len(), 1, "one session");
    assert_eq!(world.status_comments(issue).len(), 1, "one status comment");
    assert_eq!(world.bot_comments(issue).len(), 1, "nothing else posted");
    let deliveries = bridge.deliveries().await;
    assert_eq!(deliveries.len(), 1, "only the original is stored");
    assert_eq!(deliveries[0].id, original_id);
    assert_eq!(deliveries[0].delivery_id, "github-1");
    assert_eq!(deliveries[0].status, DeliveryStatus::Done);

    // GitHub's own redelivery (same id) is still a duplicate, and a genuinely new event (its
    // own body) is still processed.
    assert_eq!(
        world
            .deliver_as(&bridge, "issues", "github-1", &payload)
            .await,
        200
    );
    assert_eq!(
        world
            .deliver_as(&bridge, "issues", "github-2", &app_labeled(issue + 1))
            .await,
        202
    );
    eventually("the new issue's status comment appears", || async {
        !world.status_comments(issue + 1).is_empty()
    })
    .await;
    bridge.drained().await;
    assert_eq!(world.jules.request_count("sessions.create"), 2);
    assert_eq!(world.status_comments(issue).len(), 1);
    assert_eq!(world.status_comments(issue + 1).len(), 1);
    bridge.stop().await;
}

/// The same signed body under many fresh delivery ids at once, before any of it was stored:
/// they reach the group-commit writer together, one is accepted and the others are its
/// duplicates, whichever batches they land in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_one_body_under_fresh_delivery_ids_is_processed_once() {
    let world = World::new(Mode::App).await;
    let bridge = world.start().await;
    let issue = 402;
    let payload = app_labeled(issue);

    let statuses = futures::future::join_all((0..12).map(|n| {
        let (world, bridge, payload) = (&world, &bridge, &payload);
        async move {
            world
                .deliver_as(bridge, "issues", &format!("burst-{n}"), payload)
                .await
        }
    }))
    .await;
    let accepted = statuses.iter().filter(|&&s| s == 202).count();
    let duplicates = statuses.iter().filter(|&&s| s == 200).count();
    assert_eq!((accepted, duplicates), (1, 11), "{statuses:?}");

    eventually("the status comment appears", || async {
        !world.status_comments(issue).is_empty()
    })
    .await;
    bridge.drained().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(world.jules.request_count("sessions.create"), 1);
    assert_eq!(world.status_comments(issue).len(), 1);
    assert_eq!(bridge.deliveries().await.len(), 1);
    bridge.stop().await;
}
