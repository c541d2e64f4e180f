//! Fault tolerance of `jules-bridge serve` (in-process, GitHub App mode, SQLite): jules-fake and
//! github-fake answer 429 and 5xx, add latency, drop connections and drop a create's answer;
//! every user request still completes exactly once, retries stay bounded, and the issue shows
//! when a request is waiting.
//!
//! The server runs with `max_attempts` 3, a 20 ms delivery back-off and the Jules retry policy
//! of `support::fast_retry` (6 attempts per call, 5..50 ms apart, 10 s deadline). The Jules
//! client's 30 s request timeout cannot be lowered from outside, so a Jules *timeout* is not
//! injected; latency is, and a dropped connection stands for a lost answer.

mod support;

use std::time::Duration;

use jules_bridge::jules::create::LOOKUP_LIMIT;
use jules_bridge::jules::{NewSession, Session};
use jules_bridge::store::{Delivery, DeliveryStatus};
use serde_json::json;
use support::*;

/// Waits until issue `number` has one status comment and the server is idle (every delivery
/// finished, then a full relay iteration: a late duplicate would be there by now), then checks
/// that the request completed exactly once: one session, one comment (the status comment,
/// naming that session), and every delivery done.
async fn completes_exactly_once(world: &World, bridge: &Bridge, number: u64) {
    eventually("the status comment appears", || async {
        !world.status_comments(number).is_empty()
    })
    .await;
    world.idle(bridge).await;
    inject(&world.jules, json!({})).await;
    let sessions = world.sessions_for(number).await;
    assert_eq!(
        sessions.len(),
        1,
        "one session for #{number}: {sessions:#?}"
    );
    let comments = world.bot_comments(number);
    assert_eq!(comments.len(), 1, "one comment on #{number}: {comments:#?}");
    assert_eq!(
        marker_session(&comments[0].body).as_deref(),
        Some(sessions[0].name.as_str())
    );
    let deliveries = bridge.deliveries().await;
    assert!(
        deliveries.iter().all(|d| d.status == DeliveryStatus::Done),
        "{deliveries:#?}"
    );
}

/// The create succeeds on Jules but its answer is lost (the connection drops): the client
/// finds the session by its request tag instead of creating a second one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_create_answer_makes_one_session() {
    let world = World::new(Mode::App).await;
    inject(&world.jules, json!({"dropCreateResponses": 1})).await;
    let bridge = world.start().await;
    assert_eq!(
        world.deliver(&bridge, "issues", &app_labeled(201)).await,
        202
    );
    completes_exactly_once(&world, &bridge, 201).await;
    assert_eq!(
        world.jules.request_count("sessions.create"),
        1,
        "the lost create was looked up, not repeated"
    );
    let delivery = &bridge.deliveries().await[0];
    assert_eq!(delivery.attempts, 1, "handled within the first attempt");
    bridge.stop().await;
}

/// Two 503s on sessions.create (nothing was created): looked up, then sent again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jules_503s_on_create_complete_once() {
    let world = World::new(Mode::App).await;
    inject(
        &world.jules,
        json!({"errorStatus": 503, "failNext": 2, "methods": ["sessions.create"]}),
    )
    .await;
    let bridge = world.start().await;
    assert_eq!(
        world.deliver(&bridge, "issues", &app_labeled(202)).await,
        202
    );
    completes_exactly_once(&world, &bridge, 202).await;
    assert_eq!(world.jules.request_count("sessions.create"), 3);
    bridge.stop().await;
}

/// Jules answers 429 (at its limit) to every create for a while: the request is queued, the
/// issue says so once (one "Queued" comment, updated in place), the create attempts stay
/// bounded, and the request starts by itself when Jules has room again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jules_at_its_limit_queues_then_starts_once() {
    let world = World::new(Mode::App).await;
    inject(
        &world.jules,
        json!({"errorStatus": 429, "errorRate": 1.0, "methods": ["sessions.create"]}),
    )
    .await;
    let bridge = world.start().await;
    assert_eq!(
        world.deliver(&bridge, "issues", &app_labeled(203)).await,
        202
    );
    eventually("the request shows as queued", || async {
        world.bot_comments(203).iter().any(|c| {
            c.body.starts_with("⏳ **Queued**") && c.body.contains("Jules is at its plan limit")
        })
    })
    .await;
    // Let the relay replay the queued request three times while Jules is still full, counting
    // the relay's iterations meanwhile (no guess of how many fit in some time). A replay
    // starts the delivery over (attempts back to 0); each attempt ends `done` again (the
    // request stays queued), at a new `updated_at`.
    let creates_when_queued = world.jules.request_count("sessions.create");
    let relay = RelayWatch::start(&world.db()).await;
    let mut finished = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let creates_at_end = loop {
        assert!(
            std::time::Instant::now() < deadline,
            "the relay replays the queued request three times: {} attempts finished",
            finished.len()
        );
        let delivery = bridge.deliveries().await.remove(0);
        if delivery.status == DeliveryStatus::Done {
            if finished.last() != Some(&delivery.updated_at) {
                finished.push(delivery.updated_at);
            }
            if finished.len() > 3 {
                // Read while no attempt runs: every create so far belongs to a finished one.
                let creates = world.jules.request_count("sessions.create");
                let again = bridge.deliveries().await.remove(0);
                if again.status == DeliveryStatus::Done && again.updated_at == delivery.updated_at {
                    break creates;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let replays = finished.len() as u64 - 1;
    let iterations = relay.iterations();
    let creates_while_full = creates_at_end - creates_when_queued;
    eprintln!("queued: {creates_when_queued} creates, then {creates_while_full} in {replays} replays over {iterations} relay iterations");
    assert_eq!(world.jules.session_count(), 0);
    let waiting = world.bot_comments(203);
    assert_eq!(waiting.len(), 1, "one queued comment: {waiting:#?}");
    assert!(waiting[0].body.contains("<!-- jules-bridge:queued -->"));
    // Bounded: the first attempt made at most 6 creates (the retry policy), so does each
    // replay; and the relay replays at most every 10th iteration, so the k-th replay comes
    // 10(k-1)+1 iterations after counting began at the earliest (+4 for iterations the 2 ms
    // watch may have missed).
    let per_call = fast_retry().max_attempts as u64;
    assert!(
        creates_when_queued <= per_call,
        "{creates_when_queued} creates before queueing"
    );
    assert!(
        (replays..=per_call * replays).contains(&creates_while_full),
        "{creates_while_full} creates in {replays} replays"
    );
    assert!(
        replays <= (iterations as u64 + 4) / 10 + 1,
        "{replays} replays in {iterations} relay iterations"
    );

    inject(&world.jules, json!({})).await;
    eventually("the request starts", || async {
        world.jules.session_count() == 1
    })
    .await;
    eventually("the queued comment became the status comment", || async {
        let comments = world.bot_comments(203);
        comments.len() == 1 && comments[0].body.contains(MARKER)
    })
    .await;
    completes_exactly_once(&world, &bridge, 203).await;
    bridge.stop().await;
}

/// GitHub answers 502 to the status comment's creation twice. Comment creation is never
/// retried by the client (a retry after a lost answer would post twice), so the worker retries
/// the delivery; the retried attempts find the session by its tag and post the comment once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn github_502_on_the_status_comment_posts_it_once() {
    let world = World::new(Mode::App).await;
    world.github.fail_next(
        &format!("POST /repos/{APP_REPO}/issues/204/comments"),
        502,
        2,
    );
    let bridge = world.start().await;
    assert_eq!(
        world.deliver(&bridge, "issues", &app_labeled(204)).await,
        202
    );
    completes_exactly_once(&world, &bridge, 204).await;
    let delivery = &bridge.deliveries().await[0];
    assert_eq!(delivery.attempts, 3, "two failed attempts, then done");
    assert_eq!(
        world.jules.request_count("sessions.create"),
        1,
        "the retries found the session made by the first attempt"
    );
    assert_eq!(
        world
            .github
            .count("POST", &format!("/repos/{APP_REPO}/issues/204/comments")),
        3
    );
    bridge.stop().await;
}

/// A permanent answer from GitHub is not retried: a 403 (the installation may not write
/// issues), a 404 (the issue is gone) or a 422 on the status comment dead-letters the delivery
/// at its first attempt, with the error kept for the operator. Each fault fires once, so a
/// retry would have succeeded: `done` after 2 attempts. (A 401 is below.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permanent_github_answers_are_dead_lettered_at_once() {
    let world = World::new(Mode::App).await;
    let faults = [(206, 422), (207, 403), (209, 404)];
    for (number, status) in faults {
        world.github.fail_next(
            &format!("POST /repos/{APP_REPO}/issues/{number}/comments"),
            status,
            1,
        );
    }
    let bridge = world.start().await;
    for (number, _) in faults {
        assert_eq!(
            world.deliver(&bridge, "issues", &app_labeled(number)).await,
            202
        );
    }
    eventually("every delivery is finished", || async {
        let deliveries = bridge.deliveries().await;
        deliveries.len() == faults.len()
            && deliveries.iter().all(|d| {
                !matches!(
                    d.status,
                    DeliveryStatus::Pending | DeliveryStatus::Processing
                )
            })
    })
    .await;
    world.idle(&bridge).await;
    let deliveries = bridge.deliveries().await;
    for (number, status) in faults {
        let delivery = deliveries
            .iter()
            .find(|d| {
                d.issue_key
                    .as_deref()
                    .is_some_and(|key| key.ends_with(&format!("#{number}")))
            })
            .unwrap_or_else(|| panic!("a delivery for #{number}: {deliveries:#?}"));
        let summary = (
            number,
            delivery.status,
            delivery.attempts,
            delivery.last_error.clone().unwrap_or_default(),
        );
        assert_eq!(summary.1, DeliveryStatus::Dead, "{summary:?}");
        assert_eq!(summary.2, 1, "not retried: {summary:?}");
        assert!(summary.3.contains(&status.to_string()), "{summary:?}");
        assert_eq!(
            world.github.count(
                "POST",
                &format!("/repos/{APP_REPO}/issues/{number}/comments")
            ),
            1,
            "one try at the status comment: {summary:?}"
        );
    }
    bridge.stop().await;
}

/// A 401 from GitHub: with one token (server token mode) it is permanent, so the delivery is
/// dead-lettered at its first attempt, after one try at the comment. A GitHub App's
/// installation token may merely have expired: a new one is minted and the comment posted in
/// the same attempt, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_github_401_is_dead_lettered_at_once_unless_a_new_installation_token_helps() {
    let world = World::new(Mode::Token).await;
    let comments = format!("POST /repos/{TOKEN_REPO}/issues/218/comments");
    world.github.fail_next(&comments, 401, 1);
    let bridge = world.start().await;
    assert_eq!(
        world.deliver(&bridge, "issues", &token_labeled(218)).await,
        202
    );
    bridge.drained().await;
    world.idle(&bridge).await;
    let deliveries = bridge.deliveries().await;
    assert_eq!(deliveries.len(), 1);
    let summary = (
        deliveries[0].status,
        deliveries[0].attempts,
        deliveries[0].last_error.clone().unwrap_or_default(),
    );
    assert_eq!(summary.0, DeliveryStatus::Dead, "{summary:?}");
    assert_eq!(summary.1, 1, "not retried: {summary:?}");
    assert!(summary.2.contains("401"), "{summary:?}");
    assert_eq!(
        world
            .github
            .count("POST", &format!("/repos/{TOKEN_REPO}/issues/218/comments")),
        1
    );
    bridge.stop().await;

    let world = World::new(Mode::App).await;
    world.github.fail_next(
        &format!("POST /repos/{APP_REPO}/issues/219/comments"),
        401,
        1,
    );
    let bridge = world.start().await;
    assert_eq!(
        world.deliver(&bridge, "issues", &app_labeled(219)).await,
        202
    );
    completes_exactly_once(&world, &bridge, 219).await;
    assert_eq!(bridge.deliveries().await[0].attempts, 1);
    bridge.stop().await;
}

/// A permanent answer from Jules to the create is not retried: a 400 (the request is invalid)
/// or a 401 (the key is rejected) dead-letters the delivery at its first attempt, and the
/// issue hears once what went wrong. Each fault fires once, so a retry would have started a
/// session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permanent_jules_answers_are_dead_lettered_at_once() {
    let world = World::new(Mode::App).await;
    let bridge = world.start().await;
    for (number, status, said) in [
        (215, 400, "Jules could not start a session"),
        (216, 401, "Jules rejected the API key"),
    ] {
        inject(
            &world.jules,
            json!({"errorStatus": status, "failNext": 1, "methods": ["sessions.create"]}),
        )
        .await;
        let creates_before = world.jules.request_count("sessions.create");
        assert_eq!(
            world.deliver(&bridge, "issues", &app_labeled(number)).await,
            202
        );
        bridge.drained().await;
        world.idle(&bridge).await;
        let delivery = bridge
            .deliveries()
            .await
            .into_iter()
            .find(|d| {
                d.issue_key
                    .as_deref()
                    .is_some_and(|key| key.ends_with(&format!("#{number}")))
            })
            .expect("the delivery");
        let summary = (
            number,
            delivery.status,
            delivery.attempts,
            delivery.last_error.clone().unwrap_or_default(),
        );
        assert_eq!(summary.1, DeliveryStatus::Dead, "{summary:?}");
        assert_eq!(summary.2, 1, "not retried: {summary:?}");
        assert!(summary.3.contains(&status.to_string()), "{summary:?}");
        assert_eq!(
            world.jules.request_count("sessions.create") - creates_before,
            1,
            "one create: {summary:?}"
        );
        assert!(world.sessions_for(number).await.is_empty(), "{summary:?}");
        let comments = world.bot_comments(number);
        assert_eq!(comments.len(), 1, "told once: {comments:#?}");
        assert!(
            comments[0].body.starts_with(&format!("⚠️ **{said}**")),
            "{}",
            comments[0].body
        );
    }
    bridge.stop().await;
}

/// Jules answers 404 for a repository that is not connected to it: permanent, so the
/// delivery is dead-lettered at its first attempt, and the issue is told once, in words a
/// maintainer can act on, not once per retry. The fake Jules is connected to another
/// repository only (a restricted source list, as the live account has).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repository_jules_cannot_see_is_answered_once() {
    let world = World::seeing(Mode::App, &[TOKEN_REPO]).await;
    let bridge = world.start().await;
    assert_eq!(
        world.deliver(&bridge, "issues", &app_labeled(217)).await,
        202
    );
    bridge.drained().await;
    world.idle(&bridge).await;
    let deliveries = bridge.deliveries().await;
    assert_eq!(deliveries.len(), 1, "{deliveries:#?}");
    assert_eq!(
        deliveries[0].status,
        DeliveryStatus::Dead,
        "{deliveries:#?}"
    );
    assert_eq!(deliveries[0].attempts, 1, "not retried: {deliveries:#?}");
    assert_eq!(
        world.jules.request_count("sessions.create"),
        1,
        "asked Jules once"
    );
    assert_eq!(world.jules.session_count(), 0);
    let comments = world.bot_comments(217);
    assert_eq!(comments.len(), 1, "answered once: {comments:#?}");
    assert!(
        comments[0]
            .body
            .starts_with("⚠️ **Jules cannot see this repository**"),
        "{}",
        comments[0].body
    );
    assert!(
        comments[0]
            .body
            .contains("Connect the repository to Jules at jules.google.com"),
        "{}",
        comments[0].body
    );
    bridge.stop().await;
}

/// GitHub's secondary rate limit (403 + retry-after) on reading the issue's comments, and a
/// 500 on the permission check: reads are retried, the request completes once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn github_rate_limits_and_5xx_on_reads_still_complete() {
    let world = World::new(Mode::App).await;
    world
        .github
        .fail_next_secondary_rate_limit(&format!("GET /repos/{APP_REPO}/issues/205/comments"), 2);
    world
        .github
        .fail_next(&format!("GET /repos/{APP_REPO}/collaborators/"), 500, 1);
    let bridge = world.start().await;
    assert_eq!(
        world.deliver(&bridge, "issues", &app_labeled(205)).await,
        202
    );
    completes_exactly_once(&world, &bridge, 205).await;
    assert_eq!(world.jules.request_count("sessions.create"), 1);
    let reads = world
        .github
        .count("GET", &format!("/repos/{APP_REPO}/issues/205/comments"));
    assert!(
        (3..=12).contains(&reads),
        "the comment reads were retried, boundedly: {reads}"
    );
    bridge.stop().await;
}

/// Every Jules call is slow (300 ms) and a third of them fail with 503 or 429, on several issues
/// at once: each request still ends with exactly one session and one status comment.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_flaky_jules_still_gives_one_session_per_request() {
    let world = World::new(Mode::App).await;
    inject(&world.jules, json!({"latencyMs": 300})).await;
    let bridge = world.start().await;
    for number in 210..214 {
        assert_eq!(
            world.deliver(&bridge, "issues", &app_labeled(number)).await,
            202
        );
    }
    // Two of them go through random 503s on every method (creates included).
    inject(
        &world.jules,
        json!({"latencyMs": 50, "errorStatus": 503, "errorRate": 0.3}),
    )
    .await;
    eventually_within(
        "every issue has its status comment",
        Duration::from_secs(30),
        || async { (210..214).all(|n| !world.status_comments(n).is_empty()) },
    )
    .await;
    for number in 210..214 {
        completes_exactly_once(&world, &bridge, number).await;
    }
    assert_eq!(world.jules.session_count(), 4);
    bridge.stop().await;
}

/// Jules answers 503 to every create, forever: each delivery attempt makes at most 6 creates
/// (the retry policy's max_attempts), the delivery is tried `max_attempts` = 3 times and then
/// dead-lettered with its error kept; no session, no status comment.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_that_always_fails_is_dead_lettered_after_bounded_retries() {
    let world = World::new(Mode::App).await;
    inject(
        &world.jules,
        json!({"errorStatus": 503, "errorRate": 1.0, "methods": ["sessions.create"]}),
    )
    .await;
    let bridge = world.start().await;
    assert_eq!(
        world.deliver(&bridge, "issues", &app_labeled(206)).await,
        202
    );
    eventually("the delivery is dead-lettered", || async {
        !bridge
            .deliveries_with(DeliveryStatus::Dead)
            .await
            .is_empty()
    })
    .await;
    let dead = bridge.deliveries_with(DeliveryStatus::Dead).await;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].attempts, 3);
    let error = dead[0].last_error.clone().unwrap_or_default();
    assert!(
        error.contains("503") || error.to_lowercase().contains("unavailable"),
        "the error is kept: {error:?}"
    );
    // Nothing more happens once it is dead: what is seen after the relay's next full
    // iteration is final.
    world.idle(&bridge).await;
    let creates = world.jules.request_count("sessions.create");
    let bound = 3 * fast_retry().max_attempts as u64;
    assert!(
        (3..=bound).contains(&creates),
        "{creates} creates; the bound is {bound}"
    );
    assert_eq!(world.jules.session_count(), 0);
    assert!(world.status_comments(206).is_empty());
    // The person is told once that the session could not start: by the final attempt, not
    // by each of the three.
    let comments = world.bot_comments(206);
    assert_eq!(comments.len(), 1, "one failure comment: {comments:#?}");
    assert!(
        comments[0].body.contains("Jules could not start a session"),
        "{}",
        comments[0].body
    );
    bridge.stop().await;
}

/// One delivery attempt exhausts its create retries (6 x 503), the next attempt succeeds. The
/// request completed once, so the issue should show one comment: the status comment. Instead
/// the failed attempt left "Jules could not start a session ... Nothing was started. Try again"
/// next to the running session's status comment (and a dead-lettered request gets one such
/// comment per attempt, see above), inviting the person to start it a second time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_that_fails_one_attempt_then_succeeds_leaves_only_the_status_comment() {
    let world = World::new(Mode::App).await;
    let attempts_per_call = fast_retry().max_attempts;
    inject(
        &world.jules,
        json!({"errorStatus": 503, "failNext": attempts_per_call, "methods": ["sessions.create"]}),
    )
    .await;
    let bridge = world.start().await;
    assert_eq!(
        world.deliver(&bridge, "issues", &app_labeled(207)).await,
        202
    );
    completes_exactly_once(&world, &bridge, 207).await;
    bridge.stop().await;
}

/// The status comment's creation fails (502) once, so the delivery is retried (on its second
/// attempt, `recheck_before_create`) and looks for the session its first attempt created by
/// request tag, while `others` sessions are created on the same Jules account (other
/// repositories, other people). The retry is made due only once they all exist (what waiting
/// out its back-off would do), so the first attempt's session is exactly the `others + 1`-th
/// newest when it is looked for. Returns the sessions of #208, its bridge comments and the
/// delivery after its second attempt.
async fn retried_delivery_with_newer_sessions(
    others: usize,
) -> (Vec<Session>, Vec<github_fake::Comment>, Delivery) {
    let mut world = World::new(Mode::App).await;
    // Up to 2,001 sessions on one key: far beyond the live plan limits.
    world.jules = unlimited_manual_jules().await;
    world.client = jules_client(&world.jules);
    let mut config = world.config();
    config.retry_base = Duration::from_secs(3600);
    world.github.fail_next(
        &format!("POST /repos/{APP_REPO}/issues/208/comments"),
        502,
        1,
    );
    let bridge = world.start_with(config).await;
    assert_eq!(
        world.deliver(&bridge, "issues", &app_labeled(208)).await,
        202
    );
    eventually(
        "the first attempt failed after creating the session",
        || async {
            bridge
                .deliveries()
                .await
                .iter()
                .any(|d| d.status == DeliveryStatus::Pending && d.attempts == 1)
        },
    )
    .await;
    assert_eq!(world.jules.session_count(), 1);
    let first = world.sessions_for(208).await.remove(0);
    let started = std::time::Instant::now();
    for n in 0..others {
        let other = NewSession::new(format!("Unrelated task {n}"))
            .with_source("sources/github/other-org/other-repo", Some("main"));
        world.client.create_session(&other).await.unwrap();
    }
    eprintln!("{others} sessions created in {:.1?}", started.elapsed());
    assert_eq!(world.jules.session_count(), 1 + others);

    make_retries_due(&world.db()).await;
    bridge.state.work.notify_one();
    eventually("the retry ran", || async {
        bridge.deliveries().await.iter().all(|d| {
            matches!(d.status, DeliveryStatus::Done | DeliveryStatus::Dead) && d.attempts == 2
        })
    })
    .await;
    world.idle(&bridge).await;
    let delivery = bridge.deliveries().await.remove(0);
    bridge.stop().await;

    // Newest first: the sessions of #208 (the retry's own, if it made one) and the others.
    let all = all_sessions(&world.client).await;
    let sessions: Vec<Session> = all
        .iter()
        .filter(|s| issue_of_prompt(&s.prompt, APP_REPO) == Some(208))
        .cloned()
        .collect();
    let position = all.iter().position(|s| s.name == first.name).unwrap();
    let newer_others = all[..position]
        .iter()
        .filter(|s| issue_of_prompt(&s.prompt, APP_REPO) != Some(208))
        .count();
    assert_eq!(
        newer_others,
        others,
        "when it was looked for, the first attempt's session was the {}-th newest",
        others + 1
    );
    assert_eq!(
        all.len(),
        sessions.len() + others,
        "no session for anything else"
    );
    (sessions, world.bot_comments(208), delivery)
}

/// At the limit: the first attempt's session is the `LOOKUP_LIMIT`-th newest (2,000, see
/// src/jules/create.rs), the lookup still finds it, and the retry posts its status comment.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_delivery_finds_its_session_at_the_lookup_limit() {
    // 20 pages of 100: the limit a lookup is documented to read (lowering it again, to the
    // 200 it once was, is a decision, not a refactoring).
    assert_eq!(LOOKUP_LIMIT, 2_000);
    let (sessions, comments, delivery) =
        retried_delivery_with_newer_sessions(LOOKUP_LIMIT - 1).await;
    assert_eq!(delivery.status, DeliveryStatus::Done);
    assert_eq!(sessions.len(), 1, "one session for #208: {sessions:#?}");
    assert_eq!(comments.len(), 1, "one comment: {comments:#?}");
    assert_eq!(
        marker_session(&comments[0].body).as_deref(),
        Some(sessions[0].name.as_str())
    );
}

/// Beyond the limit: the lookup reads `LOOKUP_LIMIT` sessions without reaching the first
/// attempt's time, so it cannot say "not created". The retry then creates nothing: one
/// session, never a duplicate, and the delivery is dead-lettered with the reason for an
/// operator.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_delivery_beyond_the_lookup_limit_never_starts_a_second_session() {
    let (sessions, _comments, delivery) = retried_delivery_with_newer_sessions(LOOKUP_LIMIT).await;
    assert_eq!(
        sessions.len(),
        1,
        "only the lost one for #208: {sessions:#?}"
    );
    assert_eq!(delivery.status, DeliveryStatus::Dead);
    assert!(
        delivery
            .last_error
            .as_deref()
            .is_some_and(|error| error
                .contains("cannot tell whether an earlier attempt created this session")),
        "{:?}",
        delivery.last_error
    );
}
