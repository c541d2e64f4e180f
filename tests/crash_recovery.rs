//! Crash safety of `jules-bridge serve`, the real binary: SIGKILL it several times during a
//! load run and restart it on the same port and SQLite file. Afterwards every delivery that
//! got a 2xx has been processed exactly once: no lost work, no duplicate session, no duplicate
//! comment.
//!
//! The load sends 150 signed `issues.labeled` deliveries (the real fixture, one issue each) and
//! resends a delivery whose request failed (connection refused or cut by the kill) under the
//! same delivery id, as a GitHub redelivery would, until it gets a 2xx. A crash between
//! "Jules session created" and "delivery completed" is what the request tags guard
//! (`recheck_before_create` on a retried delivery): this test checks that guard for real.
//!
//! A claimed delivery keeps its lease for 60 s after its worker died (not configurable). To stay
//! within the CI budget the test ages the dead process's leases in the SQLite file while no
//! process runs, exactly what 60 s of waiting would do.

mod support;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use github_fake::FakeGitHub;
use jules_bridge::store::DeliveryStatus;
use sqlx::ConnectOptions;
use support::*;

const DELIVERIES: u64 = 150;
const FIRST_ISSUE: u64 = 1000;
const CONCURRENCY: usize = 6;
/// When the server is killed.
#[derive(Clone, Copy, Debug)]
enum KillWhen {
    /// Once this many deliveries have been acknowledged (the issue's scenario).
    Acknowledged([usize; 3]),
    /// Right after Jules has this many sessions: the kill lands within a millisecond or two of
    /// a create, most likely before its status comment is posted.
    SessionsCreated([usize; 3]),
}

/// One delivery of the load: issue, delivery id, body.
struct Planned {
    issue: u64,
    guid: String,
    body: Vec<u8>,
}

/// What the load saw for one delivery.
#[derive(Debug, Default, Clone)]
struct Seen {
    /// Requests that failed without an answer (connection refused or cut).
    transport_errors: usize,
    /// Non-2xx answers (503 while the store was unavailable, say).
    refusals: Vec<u16>,
    /// The 2xx that acknowledged it (202 new, 200 already received).
    acknowledged: Option<u16>,
}

/// Sends one delivery until it is acknowledged, resending it under the same delivery id.
async fn send_until_acknowledged(
    http: reqwest::Client,
    url: String,
    planned: Arc<Planned>,
    seen: Arc<Mutex<BTreeMap<u64, Seen>>>,
    acked: Arc<AtomicUsize>,
) {
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        assert!(
            Instant::now() < deadline,
            "delivery for #{} was never acknowledged",
            planned.issue
        );
        let answer = http
            .post(format!("{url}/webhook"))
            .header("content-type", "application/json")
            .header("x-github-event", "issues")
            .header("x-github-delivery", &planned.guid)
            .header("x-github-hook-id", "109948940")
            .header("x-hub-signature-256", signature(&planned.body, SECRET))
            .timeout(Duration::from_secs(5))
            .body(planned.body.clone())
            .send()
            .await;
        match answer {
            Ok(response) if response.status().is_success() => {
                let code = response.status().as_u16();
                assert!(code == 200 || code == 202, "unexpected {code}");
                seen.lock()
                    .unwrap()
                    .entry(planned.issue)
                    .or_default()
                    .acknowledged = Some(code);
                acked.fetch_add(1, Ordering::SeqCst);
                return;
            }
            Ok(response) => {
                let code = response.status().as_u16();
                assert_eq!(
                    code, 503,
                    "only 'store unavailable' may refuse a valid delivery"
                );
                seen.lock()
                    .unwrap()
                    .entry(planned.issue)
                    .or_default()
                    .refusals
                    .push(code);
            }
            Err(_) => {
                seen.lock()
                    .unwrap()
                    .entry(planned.issue)
                    .or_default()
                    .transport_errors += 1;
            }
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// What 60 s of waiting does to the leases of a dead process: they run out.
async fn age_leases(db: &std::path::Path) {
    let mut connection = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(db)
        .busy_timeout(Duration::from_secs(5))
        .connect()
        .await
        .expect("the SQLite file opens");
    sqlx::query("UPDATE deliveries SET lease_until = 0 WHERE status = 'processing'")
        .execute(&mut connection)
        .await
        .unwrap();
    sqlx::query("UPDATE leases SET expires_at = 0")
        .execute(&mut connection)
        .await
        .unwrap();
}

fn env_for(
    jules: &jules_fake::FakeServer,
    github: &FakeGitHub,
    db: &std::path::Path,
) -> Vec<(String, String)> {
    let mut env = token_server_env(jules, github, db);
    for (name, value) in [
        ("WORKERS", "4"),
        ("MAX_ATTEMPTS", "8"),
        ("RETRY_BASE_MS", "50"),
        ("RELAY_FAST_MS", "200"),
        ("RELAY_SLOW_MS", "400"),
        ("JULES_RETRY_DEADLINE_SECS", "10"),
        ("RUST_LOG", "info"),
    ] {
        env.push((name.to_owned(), value.to_owned()));
    }
    env
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_a_load_run_loses_nothing_and_duplicates_nothing() {
    crash_run(KillWhen::Acknowledged([30, 70, 110])).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_right_after_session_creates_makes_no_duplicate() {
    crash_run(KillWhen::SessionsCreated([20, 60, 100])).await;
}

async fn crash_run(when: KillWhen) {
    let started = Instant::now();
    // Hundreds of sessions that never finish: far beyond the live plan limits.
    let jules = unlimited_manual_jules().await;
    // A little Jules latency widens the windows a kill can land in (between the create and
    // the status comment, say).
    inject(&jules, serde_json::json!({"latencyMs": 15})).await;
    let github = FakeGitHub::start().await;
    github.set_permission(TOKEN_REPO, "Codertocat", "write");
    let dir = tempfile::tempdir().unwrap();
    let db = path_in(&dir, "bridge.db");
    let log = path_in(&dir, "serve.log");
    let port = free_port();
    let env = env_for(&jules, &github, &db);

    let mut server = ServerProcess::start(&env, port, &log).await;
    let url = server.url.clone();

    let plan: Vec<Arc<Planned>> = (0..DELIVERIES)
        .map(|n| {
            let issue = FIRST_ISSUE + n;
            github.add_issue_at(TOKEN_REPO, issue);
            Arc::new(Planned {
                issue,
                guid: uuid::Uuid::new_v4().to_string(),
                body: serde_json::to_vec(&token_labeled(issue)).unwrap(),
            })
        })
        .collect();
    let seen: Arc<Mutex<BTreeMap<u64, Seen>>> = Arc::default();
    let acked = Arc::new(AtomicUsize::new(0));

    // The load: CONCURRENCY senders taking deliveries in order.
    let next = Arc::new(AtomicUsize::new(0));
    let http = reqwest::Client::new();
    let mut senders = tokio::task::JoinSet::new();
    for _ in 0..CONCURRENCY {
        let (plan, seen, acked, next, http, url) = (
            plan.clone(),
            Arc::clone(&seen),
            Arc::clone(&acked),
            Arc::clone(&next),
            http.clone(),
            url.clone(),
        );
        senders.spawn(async move {
            loop {
                let index = next.fetch_add(1, Ordering::SeqCst);
                let Some(planned) = plan.get(index) else {
                    return;
                };
                send_until_acknowledged(
                    http.clone(),
                    url.clone(),
                    Arc::clone(planned),
                    Arc::clone(&seen),
                    Arc::clone(&acked),
                )
                .await;
                // Modest pace, so the kills land while deliveries are being processed.
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        });
    }

    // The kills: SIGKILL after some acknowledgements, restart on the same port and file.
    let mut kills = Vec::new();
    let mut kill_times = Vec::new();
    let thresholds = match when {
        KillWhen::Acknowledged(t) | KillWhen::SessionsCreated(t) => t,
    };
    for (round, threshold) in thresholds.into_iter().enumerate() {
        let deadline = Instant::now() + Duration::from_secs(30);
        match when {
            KillWhen::Acknowledged(_) => {
                while acked.load(Ordering::SeqCst) < threshold {
                    assert!(
                        Instant::now() < deadline,
                        "{threshold} acknowledged in time"
                    );
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                // A little jitter, so the moment differs from run to run.
                let jitter = uuid::Uuid::new_v4().as_bytes()[0] as u64 % 20;
                tokio::time::sleep(Duration::from_millis(jitter)).await;
            }
            KillWhen::SessionsCreated(_) => {
                while jules.session_count() < threshold {
                    assert!(Instant::now() < deadline, "{threshold} sessions in time");
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }
        }
        let sessions_before = jules.session_count();
        server.kill();
        kills.push((acked.load(Ordering::SeqCst), sessions_before));
        kill_times.push(chrono::Utc::now());
        // Down for a moment: senders see refused connections and retry.
        tokio::time::sleep(Duration::from_millis(100 + 50 * round as u64)).await;
        age_leases(&db).await;
        server = ServerProcess::start(&env, port, &log).await;
    }

    while let Some(result) = senders.join_next().await {
        result.expect("a sender panicked");
    }
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen.values().filter(|s| s.acknowledged.is_some()).count(),
        DELIVERIES as usize,
        "every delivery was acknowledged in the end"
    );

    // Drain: every stored delivery done, every session and status comment there.
    let store = jules_bridge::store::open(&format!("sqlite:{}", db.display()))
        .await
        .expect("the store opens");
    eventually_within(
        "every acknowledged delivery is processed",
        Duration::from_secs(30),
        || async {
            store
                .list_deliveries(None, 1000)
                .await
                .map(|all| {
                    all.len() == DELIVERIES as usize
                        && all.iter().all(|d| d.status == DeliveryStatus::Done)
                })
                .unwrap_or(false)
        },
    )
    .await;
    eventually_within(
        "every issue has its status comment",
        Duration::from_secs(15),
        || async {
            (0..DELIVERIES).all(|n| {
                github
                    .comments(TOKEN_REPO, FIRST_ISSUE + n)
                    .iter()
                    .any(|c| c.body.contains(MARKER))
            })
        },
    )
    .await;
    // A late duplicate (if any) would come from the relay: let it run a full iteration after
    // everything was processed, then check what is there.
    relay_iterations(&db, 2).await;

    let deliveries = store.list_deliveries(None, 1000).await.unwrap();
    let guids: HashSet<&str> = deliveries.iter().map(|d| d.delivery_id.as_str()).collect();
    assert_eq!(
        guids.len(),
        DELIVERIES as usize,
        "each delivery stored once"
    );
    let retried = deliveries.iter().filter(|d| d.attempts > 1).count();

    // Exactly one Jules session per acknowledged delivery's issue.
    let client = jules_client(&jules);
    let sessions = all_sessions(&client).await;
    let mut per_issue: HashMap<u64, Vec<String>> = HashMap::new();
    for session in &sessions {
        let issue = issue_of_prompt(&session.prompt, TOKEN_REPO)
            .unwrap_or_else(|| panic!("a bridge prompt: {}", session.prompt));
        per_issue
            .entry(issue)
            .or_default()
            .push(session.name.clone());
    }
    let duplicates: Vec<_> = per_issue.iter().filter(|(_, s)| s.len() > 1).collect();
    assert!(duplicates.is_empty(), "duplicate sessions: {duplicates:?}");
    for (issue, what) in &seen {
        assert!(what.acknowledged.is_some());
        assert_eq!(
            per_issue.get(issue).map(Vec::len),
            Some(1),
            "issue #{issue} ({what:?}) has exactly one session"
        );
    }
    // No session for an issue that was never acknowledged (there is none: all were).
    assert!(
        per_issue.keys().all(|issue| seen.contains_key(issue)),
        "no session for an unknown issue"
    );
    assert_eq!(sessions.len(), DELIVERIES as usize);

    // Exactly one comment per issue: the status comment, naming that one session.
    for n in 0..DELIVERIES {
        let issue = FIRST_ISSUE + n;
        let comments = github.comments(TOKEN_REPO, issue);
        assert_eq!(
            comments.len(),
            1,
            "issue #{issue}: one comment, got {:#?}",
            comments
        );
        assert_eq!(comments[0].user, ACTIONS_BOT);
        assert_eq!(
            marker_session(&comments[0].body).as_deref(),
            Some(per_issue[&issue][0].as_str()),
            "issue #{issue}: the status comment names its session"
        );
    }

    // How often a kill landed after the session was created (or the status comment posted)
    // and before its delivery completed: the cases the request tag and the marker guard.
    let cut_after = |done: chrono::DateTime<chrono::Utc>, made: chrono::DateTime<chrono::Utc>| {
        kill_times.iter().any(|&kill| made < kill && kill < done)
    };
    let mut guarded_sessions = 0;
    let mut guarded_comments = 0;
    for delivery in deliveries.iter().filter(|d| d.attempts > 1) {
        let issue: u64 = delivery
            .issue_key
            .as_deref()
            .and_then(|key| key.rsplit('#').next())
            .and_then(|n| n.parse().ok())
            .expect("an issue key");
        let session = sessions
            .iter()
            .find(|s| s.name == per_issue[&issue][0])
            .unwrap();
        if session
            .create_time
            .is_some_and(|made| cut_after(delivery.updated_at, made))
        {
            guarded_sessions += 1;
        }
        if cut_after(
            delivery.updated_at,
            github.comments(TOKEN_REPO, issue)[0].created_at,
        ) {
            guarded_comments += 1;
        }
    }

    server.kill();
    // The window this test exists for: a kill after a delivery's session was created and
    // before the delivery completed, so that its retry had to find the session instead of
    // creating one. A run whose kills all missed it proves nothing about that guard.
    assert!(
        guarded_sessions >= 1,
        "no kill fell between a session's create and its delivery's completion \
         (kills at (acked, sessions) {kills:?}, {retried} deliveries processed more than once)"
    );
    let resent = seen.values().filter(|s| s.transport_errors > 0).count();
    let duplicates_acked = seen
        .values()
        .filter(|s| s.acknowledged == Some(200))
        .count();
    eprintln!(
        "crash run ({when:?}): kills at (acked, sessions) {kills:?}; {resent} deliveries resent, \
         {duplicates_acked} answered 'already received', {retried} processed more than once; a kill fell after the session was created \
         for {guarded_sessions} of them, after the status comment for {guarded_comments}; \
         {:.1?}",
        started.elapsed()
    );
}
