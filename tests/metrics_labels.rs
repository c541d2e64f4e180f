//! `/metrics` cannot be grown from outside: the `event` label of `deliveries` takes a fixed
//! set of values, whatever the `X-GitHub-Event` header of a request says, signed or not.

mod support;

use std::collections::BTreeMap;

use jules_bridge::server::metrics::{KNOWN_EVENTS, OTHER_EVENT, UNVERIFIED};
use serde_json::json;
use support::*;

/// `outcome -> count` per `event` label of `jules_bridge_deliveries_total`.
fn delivery_series(text: &str) -> BTreeMap<String, BTreeMap<String, u64>> {
    let mut series: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("jules_bridge_deliveries_total{") else {
            continue;
        };
        let (labels, count) = rest.split_once("} ").expect("a sample line");
        let label = |name: &str| {
            labels
                .split(',')
                .find_map(|pair| pair.strip_prefix(&format!("{name}=\"")))
                .and_then(|value| value.strip_suffix('"'))
                .unwrap_or_else(|| panic!("{name} in {line}"))
                .to_owned()
        };
        series
            .entry(label("event"))
            .or_default()
            .insert(label("outcome"), count.trim().parse().expect("a count"));
    }
    series
}

async fn metrics_text(world: &World, bridge: &Bridge) -> String {
    world
        .http
        .get(format!("{}/metrics", bridge.url))
        .send()
        .await
        .expect("the server answers")
        .text()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn made_up_event_names_add_no_series() {
    let world = World::new(Mode::App).await;
    let bridge = world.start().await;
    let url = format!("{}/webhook", bridge.url);

    // 50 requests nobody signed (25 without a signature, 25 with a wrong one), each naming
    // an event of its own.
    for n in 0..50 {
        let body = serde_json::to_vec(&json!({"n": n})).unwrap();
        let mut request = world
            .http
            .post(&url)
            .header("content-type", "application/json")
            .header("x-github-event", format!("unsigned-made-up-{n}"))
            .header("x-github-delivery", format!("unsigned-{n}"));
        if n % 2 == 1 {
            request = request.header("x-hub-signature-256", signature(&body, "not-the-secret"));
        }
        let response = request.body(body).send().await.unwrap();
        assert_eq!(response.status(), 401, "request {n}");
    }
    // 10 signed deliveries of events the bridge does not know (stored and ignored).
    for n in 0..10 {
        let status = world
            .deliver(&bridge, &format!("signed-made-up-{n}"), &json!({"n": n}))
            .await;
        assert_eq!(status, 202, "delivery {n}");
    }
    // Signed, but the event header is missing: refused, counted as `other`.
    let body = br#"{"n": "no event"}"#;
    let response = world
        .http
        .post(&url)
        .header("content-type", "application/json")
        .header("x-github-delivery", "no-event")
        .header("x-hub-signature-256", signature(body, SECRET))
        .body(body.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    // Known events keep their names.
    assert_eq!(
        world.deliver(&bridge, "ping", &json!({"zen": "hi"})).await,
        200
    );
    bridge.drained().await;

    let text = metrics_text(&world, &bridge).await;
    assert!(!text.contains("made-up"), "{text}");
    let series = delivery_series(&text);
    assert_eq!(
        series.get(UNVERIFIED).cloned().unwrap_or_default(),
        BTreeMap::from([("rejected".to_owned(), 50)]),
        "{text}"
    );
    let other = series.get(OTHER_EVENT).cloned().unwrap_or_default();
    assert_eq!(other.get("ignored"), Some(&10), "{text}");
    assert_eq!(other.get("rejected"), Some(&1), "{text}");
    assert_eq!(
        series.get("ping").and_then(|outcomes| outcomes.get("ping")),
        Some(&1),
        "{text}"
    );
    for event in series.keys() {
        assert!(
            event == UNVERIFIED || event == OTHER_EVENT || KNOWN_EVENTS.contains(&event.as_str()),
            "unexpected event label {event:?}: {text}"
        );
    }
    assert_eq!(series.len(), 3, "{series:?}");

    // Another round of made-up names, signed and not: still the same labels.
    for n in 50..60 {
        let body = serde_json::to_vec(&json!({"n": n})).unwrap();
        world
            .http
            .post(&url)
            .header("x-github-event", format!("unsigned-made-up-{n}"))
            .body(body)
            .send()
            .await
            .unwrap();
        world
            .deliver(&bridge, &format!("signed-made-up-{n}"), &json!({"n": n}))
            .await;
    }
    bridge.drained().await;
    let series_after = delivery_series(&metrics_text(&world, &bridge).await);
    assert_eq!(
        series_after.keys().collect::<Vec<_>>(),
        series.keys().collect::<Vec<_>>()
    );
    assert_eq!(series_after[UNVERIFIED]["rejected"], 60);
    assert_eq!(series_after[OTHER_EVENT]["ignored"], 20);
    bridge.stop().await;
}
