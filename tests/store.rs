//! The store contract, run against both engines: every test below runs once on SQLite (a
//! file in a temporary directory) and once on PostgreSQL (`DATABASE_URL_TEST`, default
//! `postgres://postgres@127.0.0.1:5432/test`), each PostgreSQL test in a schema of its own
//! that is dropped at the end.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{SubsecRound, TimeDelta, Utc};
use jules_bridge::store::{
    DeliveryStatus, Inserted, NewDelivery, PostgresStore, SqliteStore, Store, Timestamp,
    TrackedSession,
};
use sqlx::Connection;

// ---- harness --------------------------------------------------------------------------------

const DEFAULT_PG_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

enum Engine {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres {
        store: PostgresStore,
        url: String,
        schema: String,
    },
}

struct Db {
    store: Arc<dyn Store>,
    engine: Engine,
}

async fn sqlite() -> Db {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("store.db").display());
    let store = SqliteStore::open(&url).await.unwrap();
    store.migrate().await.unwrap();
    Db {
        store: Arc::new(store),
        engine: Engine::Sqlite(dir),
    }
}

fn pg_url() -> String {
    std::env::var("DATABASE_URL_TEST").unwrap_or_else(|_| DEFAULT_PG_URL.to_string())
}

async fn postgres() -> Db {
    let url = pg_url();
    let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
    let store = PostgresStore::connect_with_schema(&url, &schema)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL at {url}: {e}"));
    store.migrate().await.unwrap();
    Db {
        store: Arc::new(store.clone()),
        engine: Engine::Postgres { store, url, schema },
    }
}

async fn drop_schema(url: &str, schema: &str) {
    let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"
    )))
    .execute(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();
}

/// Runs `test` on `db`, then cleans up (also when the test panicked), then reports.
async fn run<F, Fut>(db: Db, test: F)
where
    F: FnOnce(Arc<dyn Store>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let result = tokio::spawn(test(db.store.clone())).await;
    drop(db.store);
    match db.engine {
        Engine::Sqlite(dir) => drop(dir),
        Engine::Postgres { store, url, schema } => {
            store.pool().close().await;
            drop_schema(&url, &schema).await;
        }
    }
    if let Err(e) = result {
        std::panic::resume_unwind(e.into_panic());
    }
}

/// Declares each test once per engine.
macro_rules! store_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    crate::run(crate::sqlite().await, crate::$name).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    crate::run(crate::postgres().await, crate::$name).await
                }
            )*
        }
    };
}

store_tests!(
    migrate_is_idempotent_and_ready,
    insert_and_duplicate,
    insert_batch_and_duplicates,
    insert_batch_is_all_or_nothing,
    replayed_body_is_a_duplicate,
    replayed_body_within_one_batch,
    concurrent_replays_store_one,
    ignored_deliveries_are_not_claimed,
    claim_oldest_first,
    future_attempts_are_not_claimable,
    expired_lease_is_claimable_again,
    issue_work_is_serialised,
    complete_and_ownership,
    a_retried_then_done_delivery_keeps_no_old_error,
    replies_are_recorded_once_per_delivery,
    fail_retry_and_dead,
    release_gives_back_the_attempt,
    renew_extends_only_a_live_lease,
    operator_retry,
    list_and_get,
    drop_installation_and_queue_depth,
    sessions,
    progress_never_reactivates,
    a_session_on_a_pull_request_is_remembered_as_such,
    session_deactivation_and_counts,
    relayed_is_recorded_once,
    queued_requests_fifo,
    named_leases,
    request_budget_is_a_rolling_window,
    request_budget_holds_under_concurrent_spenders,
    concurrent_claims_over_many_issues,
    concurrent_claims_on_one_issue,
    concurrent_claims_with_retries,
);

// ---- helpers --------------------------------------------------------------------------------

const WORKER: &str = "worker-a";
const OTHER: &str = "worker-b";
const LONG: Duration = Duration::from_secs(60);
/// A lease that runs out during a test: long enough that a loaded machine still makes the
/// "still held" checks within it, short enough to wait out (tests sleep `2 * SHORT`).
const SHORT: Duration = Duration::from_millis(300);

fn delivery(guid: &str, issue_key: Option<&str>) -> NewDelivery {
    NewDelivery {
        hook_id: "42".into(),
        delivery_id: guid.into(),
        event: "issue_comment".into(),
        action: Some("created".into()),
        installation_id: Some(7),
        repo: Some("octo/repo".into()),
        issue_key: issue_key.map(str::to_string),
        body: format!("{{\"guid\":\"{guid}\"}}").into_bytes(),
        status: DeliveryStatus::Pending,
        note: None,
    }
}

async fn insert(store: &Arc<dyn Store>, guid: &str, issue_key: Option<&str>) -> i64 {
    match store
        .insert_delivery(&delivery(guid, issue_key))
        .await
        .unwrap()
    {
        Inserted::New(id) => id,
        other => panic!("{guid}: {other:?}"),
    }
}

async fn claim_id(store: &Arc<dyn Store>, worker: &str) -> Option<i64> {
    store
        .claim_delivery(worker, LONG)
        .await
        .unwrap()
        .map(|d| d.id)
}

async fn status_of(store: &Arc<dyn Store>, id: i64) -> DeliveryStatus {
    store
        .get_delivery(&id.to_string())
        .await
        .unwrap()
        .unwrap()
        .status
}

/// A timestamp at the storage precision, `secs` from now.
fn at(secs: i64) -> Timestamp {
    (Utc::now() + TimeDelta::seconds(secs)).trunc_subsecs(6)
}

fn session(name: &str, repo: &str, issue: i64, created_at: Timestamp) -> TrackedSession {
    TrackedSession {
        name: name.into(),
        repo: repo.into(),
        issue,
        installation_id: Some(7),
        status_comment_id: Some(1001),
        requester: Some("octocat".into()),
        state: "QUEUED".into(),
        update_time: Some(created_at),
        last_activity_time: None,
        active: true,
        created_at,
        checked_at: None,
        on_pull: false,
    }
}

// ---- tests ----------------------------------------------------------------------------------

/// A session started on a pull request is remembered as such (its check run is there), and a
/// relay's progress keeps it.
async fn a_session_on_a_pull_request_is_remembered_as_such(store: Arc<dyn Store>) {
    let on_pull = TrackedSession {
        on_pull: true,
        ..session("sessions/9", "o/r", 12, at(-60))
    };
    store.upsert_session(&on_pull).await.unwrap();
    store
        .upsert_session(&session("sessions/10", "o/r", 13, at(-50)))
        .await
        .unwrap();
    let read = store.get_session("sessions/9").await.unwrap().unwrap();
    assert!(read.on_pull);
    store
        .record_progress(&TrackedSession {
            state: "IN_PROGRESS".into(),
            ..read
        })
        .await
        .unwrap();
    assert!(
        store
            .get_session("sessions/9")
            .await
            .unwrap()
            .unwrap()
            .on_pull
    );
    assert!(
        !store
            .get_session("sessions/10")
            .await
            .unwrap()
            .unwrap()
            .on_pull
    );
}

async fn progress_never_reactivates(store: Arc<dyn Store>) {
    let created = at(-60);
    store
        .upsert_session(&session("sessions/1", "o/r", 7, created))
        .await
        .unwrap();
    // The relay read the session, then the issue was closed, then the relay reports progress.
    let read = store.get_session("sessions/1").await.unwrap().unwrap();
    store.deactivate_issue("o/r", 7).await.unwrap();
    let progress = TrackedSession {
        state: "IN_PROGRESS".into(),
        last_activity_time: Some(at(-1)),
        checked_at: Some(at(0)),
        active: true,
        ..read
    };
    store.record_progress(&progress).await.unwrap();
    let stored = store.get_session("sessions/1").await.unwrap().unwrap();
    assert!(!stored.active, "a closed issue's session stays stopped");
    assert_eq!(stored.state, "IN_PROGRESS");
    assert_eq!(stored.last_activity_time, progress.last_activity_time);
    // Progress can stop relaying, and an unknown session is ignored.
    store
        .upsert_session(&session("sessions/2", "o/r", 8, created))
        .await
        .unwrap();
    let finished = TrackedSession {
        state: "COMPLETED".into(),
        active: false,
        ..session("sessions/2", "o/r", 8, created)
    };
    store.record_progress(&finished).await.unwrap();
    assert!(
        !store
            .get_session("sessions/2")
            .await
            .unwrap()
            .unwrap()
            .active
    );
    store
        .record_progress(&session("sessions/none", "o/r", 9, created))
        .await
        .unwrap();
    assert!(store.get_session("sessions/none").await.unwrap().is_none());
}

async fn migrate_is_idempotent_and_ready(store: Arc<dyn Store>) {
    store.ready().await.unwrap();
    store.migrate().await.unwrap();
    store.ready().await.unwrap();
}

async fn insert_and_duplicate(store: Arc<dyn Store>) {
    let new = delivery("guid-1", Some("octo/repo#1"));
    let id = match store.insert_delivery(&new).await.unwrap() {
        Inserted::New(id) => id,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        store.insert_delivery(&new).await.unwrap(),
        Inserted::Duplicate(id)
    );
    // The same GUID from another hook is another delivery (with its own body: the same body
    // again would be a replay, see `replayed_body_is_a_duplicate`).
    let other_hook = NewDelivery {
        hook_id: "43".into(),
        body: b"{\"guid\":\"guid-1\",\"hook\":43}".to_vec(),
        ..new.clone()
    };
    let Inserted::New(id2) = store.insert_delivery(&other_hook).await.unwrap() else {
        panic!("expected a new delivery");
    };
    assert_ne!(id, id2);

    let stored = store.get_delivery(&id.to_string()).await.unwrap().unwrap();
    assert_eq!(stored.hook_id, "42");
    assert_eq!(stored.delivery_id, "guid-1");
    assert_eq!(stored.event, "issue_comment");
    assert_eq!(stored.action.as_deref(), Some("created"));
    assert_eq!(stored.installation_id, Some(7));
    assert_eq!(stored.repo.as_deref(), Some("octo/repo"));
    assert_eq!(stored.issue_key.as_deref(), Some("octo/repo#1"));
    assert_eq!(stored.body, new.body);
    assert_eq!(stored.status, DeliveryStatus::Pending);
    assert_eq!(stored.attempts, 0);
    assert_eq!(stored.last_error, None);
    assert_eq!(stored.received_at, stored.next_attempt_at);
    assert!(stored.received_at <= Utc::now());
    // Only one row for the redelivery.
    assert_eq!(store.queue_depth().await.unwrap(), 2);

    // A delivery without optional fields round-trips too.
    let bare = NewDelivery {
        hook_id: String::new(),
        delivery_id: "guid-bare".into(),
        event: "ping".into(),
        action: None,
        installation_id: None,
        repo: None,
        issue_key: None,
        body: Vec::new(),
        status: DeliveryStatus::Pending,
        note: None,
    };
    store.insert_delivery(&bare).await.unwrap();
    let got = store.get_delivery("guid-bare").await.unwrap().unwrap();
    assert_eq!(got.hook_id, "");
    assert_eq!(got.action, None);
    assert_eq!(got.installation_id, None);
    assert!(got.body.is_empty());
}

async fn insert_batch_and_duplicates(store: Arc<dyn Store>) {
    assert_eq!(store.insert_deliveries(&[]).await.unwrap(), vec![]);
    let before = insert(&store, "guid-0", None).await;
    let other_hook = NewDelivery {
        hook_id: "43".into(),
        body: b"{\"guid\":\"guid-1\",\"hook\":43}".to_vec(),
        ..delivery("guid-1", None)
    };
    let batch = vec![
        delivery("guid-1", Some("octo/repo#1")),
        delivery("guid-0", None), // stored before
        delivery("guid-2", Some("octo/repo#2")),
        delivery("guid-1", Some("octo/repo#1")), // repeated within the batch
        other_hook,                              // same GUID, another hook (another body): new
    ];
    let answers = store.insert_deliveries(&batch).await.unwrap();
    assert_eq!(answers.len(), batch.len());
    let Inserted::New(id1) = answers[0] else {
        panic!("{answers:?}")
    };
    let Inserted::New(id2) = answers[2] else {
        panic!("{answers:?}")
    };
    let Inserted::New(id3) = answers[4] else {
        panic!("{answers:?}")
    };
    assert_eq!(answers[1], Inserted::Duplicate(before));
    assert_eq!(answers[3], Inserted::Duplicate(id1));
    // Ids follow the batch order (claims go oldest first).
    assert!(before < id1 && id1 < id2 && id2 < id3, "{answers:?}");
    assert_eq!(store.queue_depth().await.unwrap(), 4);

    let stored = store.get_delivery(&id2.to_string()).await.unwrap().unwrap();
    assert_eq!(stored.delivery_id, "guid-2");
    assert_eq!(stored.issue_key.as_deref(), Some("octo/repo#2"));
    assert_eq!(stored.body, batch[2].body);
    assert_eq!(stored.action.as_deref(), Some("created"));
    assert_eq!(stored.installation_id, Some(7));
    assert_eq!(stored.status, DeliveryStatus::Pending);
    assert_eq!(stored.received_at, stored.next_attempt_at);

    // A redelivery of the whole batch stores nothing new; single inserts agree.
    let again = store.insert_deliveries(&batch).await.unwrap();
    assert_eq!(
        again,
        vec![
            Inserted::Duplicate(id1),
            Inserted::Duplicate(before),
            Inserted::Duplicate(id2),
            Inserted::Duplicate(id1),
            Inserted::Duplicate(id3),
        ]
    );
    assert_eq!(
        store.insert_delivery(&batch[2]).await.unwrap(),
        Inserted::Duplicate(id2)
    );

    // Ignored deliveries keep their status and note; a large batch goes in whole.
    let many: Vec<NewDelivery> = (0..300)
        .map(|n| NewDelivery {
            status: DeliveryStatus::Ignored,
            note: Some("not for us".into()),
            ..delivery(&format!("many-{n}"), None)
        })
        .collect();
    let answers = store.insert_deliveries(&many).await.unwrap();
    assert_eq!(answers.len(), 300);
    assert!(answers.iter().all(|a| matches!(a, Inserted::New(_))));
    let Inserted::New(last) = answers[299] else {
        unreachable!()
    };
    let stored = store
        .get_delivery(&last.to_string())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.delivery_id, "many-299");
    assert_eq!(stored.status, DeliveryStatus::Ignored);
    assert_eq!(stored.note.as_deref(), Some("not for us"));
    assert_eq!(store.queue_depth().await.unwrap(), 4);
}

async fn insert_batch_is_all_or_nothing(store: Arc<dyn Store>) {
    let bad = NewDelivery {
        status: DeliveryStatus::Processing,
        ..delivery("bad", None)
    };
    let batch = vec![delivery("good", None), bad];
    assert!(store.insert_deliveries(&batch).await.is_err());
    assert_eq!(
        store.get_delivery("good").await.unwrap().map(|d| d.id),
        None
    );
    assert_eq!(store.queue_depth().await.unwrap(), 0);
}

async fn ignored_deliveries_are_not_claimed(store: Arc<dyn Store>) {
    let ignored = NewDelivery {
        status: DeliveryStatus::Ignored,
        note: Some("unknown event".into()),
        ..delivery("guid-ignored", None)
    };
    let Inserted::New(id) = store.insert_delivery(&ignored).await.unwrap() else {
        panic!("expected a new delivery");
    };
    let got = store.get_delivery(&id.to_string()).await.unwrap().unwrap();
    assert_eq!(got.status, DeliveryStatus::Ignored);
    assert_eq!(got.note.as_deref(), Some("unknown event"));
    assert_eq!(claim_id(&store, WORKER).await, None);
    assert_eq!(store.queue_depth().await.unwrap(), 0);
}

async fn claim_oldest_first(store: Arc<dyn Store>) {
    let a = insert(&store, "a", None).await;
    let b = insert(&store, "b", Some("octo/repo#1")).await;
    let c = insert(&store, "c", Some("octo/repo#2")).await;
    let first = store.claim_delivery(WORKER, LONG).await.unwrap().unwrap();
    assert_eq!(first.id, a);
    assert_eq!(first.status, DeliveryStatus::Processing);
    assert_eq!(first.attempts, 1);
    assert_eq!(claim_id(&store, WORKER).await, Some(b));
    assert_eq!(claim_id(&store, OTHER).await, Some(c));
    assert_eq!(claim_id(&store, OTHER).await, None);
    assert_eq!(status_of(&store, b).await, DeliveryStatus::Processing);
}

async fn future_attempts_are_not_claimable(store: Arc<dyn Store>) {
    let a = insert(&store, "a", None).await;
    let b = insert(&store, "b", None).await;
    assert_eq!(claim_id(&store, WORKER).await, Some(a));
    assert!(store
        .fail_delivery(a, WORKER, "boom", Some(at(3600)))
        .await
        .unwrap());
    // `a` waits for its retry time; `b` goes ahead.
    assert_eq!(claim_id(&store, WORKER).await, Some(b));
    assert_eq!(claim_id(&store, WORKER).await, None);

    // A retry time in the past is claimable.
    assert!(store.complete_delivery(b, WORKER, "ok").await.unwrap());
    let c = insert(&store, "c", None).await;
    assert_eq!(claim_id(&store, WORKER).await, Some(c));
    assert!(store
        .fail_delivery(c, WORKER, "boom", Some(at(-1)))
        .await
        .unwrap());
    assert_eq!(claim_id(&store, WORKER).await, Some(c));
}

async fn expired_lease_is_claimable_again(store: Arc<dyn Store>) {
    let a = insert(&store, "a", Some("octo/repo#1")).await;
    let first = store.claim_delivery(WORKER, SHORT).await.unwrap().unwrap();
    assert_eq!(first.id, a);
    assert_eq!(claim_id(&store, OTHER).await, None);
    tokio::time::sleep(SHORT * 2).await;
    let again = store.claim_delivery(OTHER, LONG).await.unwrap().unwrap();
    assert_eq!(again.id, a);
    assert_eq!(again.attempts, 2);
    // The first worker lost it.
    assert!(!store.complete_delivery(a, WORKER, "late").await.unwrap());
    assert!(!store.renew_delivery(a, WORKER, LONG).await.unwrap());
    assert!(store.complete_delivery(a, OTHER, "done").await.unwrap());
}

async fn issue_work_is_serialised(store: Arc<dyn Store>) {
    let x1 = insert(&store, "x1", Some("octo/repo#1")).await;
    let x2 = insert(&store, "x2", Some("octo/repo#1")).await;
    let y1 = insert(&store, "y1", Some("octo/repo#2")).await;
    let n = insert(&store, "n", None).await;
    assert_eq!(claim_id(&store, WORKER).await, Some(x1));
    // x2 waits for x1; other issues and issue-less work go ahead.
    assert_eq!(claim_id(&store, OTHER).await, Some(y1));
    assert_eq!(claim_id(&store, OTHER).await, Some(n));
    assert_eq!(claim_id(&store, OTHER).await, None);
    assert_eq!(status_of(&store, x2).await, DeliveryStatus::Pending);
    assert!(store.complete_delivery(x1, WORKER, "ok").await.unwrap());
    assert_eq!(claim_id(&store, OTHER).await, Some(x2));

    // A short lease on the issue blocks only while it lives.
    let x3 = insert(&store, "x3", Some("octo/repo#3")).await;
    let x4 = insert(&store, "x4", Some("octo/repo#3")).await;
    let held = store.claim_delivery(WORKER, SHORT).await.unwrap().unwrap();
    assert_eq!(held.id, x3);
    assert_eq!(claim_id(&store, OTHER).await, None);
    tokio::time::sleep(SHORT * 2).await;
    // The expired x3 is older than x4, so it goes first.
    assert_eq!(claim_id(&store, OTHER).await, Some(x3));
    assert_eq!(claim_id(&store, OTHER).await, None);
    assert!(store.complete_delivery(x3, OTHER, "ok").await.unwrap());
    assert_eq!(claim_id(&store, OTHER).await, Some(x4));
}

async fn complete_and_ownership(store: Arc<dyn Store>) {
    let a = insert(&store, "a", None).await;
    // Nothing to complete before a claim.
    assert!(!store.complete_delivery(a, WORKER, "no").await.unwrap());
    assert_eq!(claim_id(&store, WORKER).await, Some(a));
    assert!(!store.complete_delivery(a, OTHER, "no").await.unwrap());
    assert!(!store.fail_delivery(a, OTHER, "no", None).await.unwrap());
    assert!(!store.release_delivery(a, OTHER).await.unwrap());
    assert!(!store.renew_delivery(a, OTHER, LONG).await.unwrap());
    assert!(store
        .complete_delivery(a, WORKER, "commented")
        .await
        .unwrap());
    let done = store.get_delivery(&a.to_string()).await.unwrap().unwrap();
    assert_eq!(done.status, DeliveryStatus::Done);
    assert_eq!(done.note.as_deref(), Some("commented"));
    assert_eq!(done.attempts, 1);
    assert!(done.updated_at >= done.received_at);
    // Done is final.
    assert!(!store.complete_delivery(a, WORKER, "again").await.unwrap());
    assert_eq!(claim_id(&store, WORKER).await, None);
    assert_eq!(store.queue_depth().await.unwrap(), 0);
}

async fn fail_retry_and_dead(store: Arc<dyn Store>) {
    let a = insert(&store, "a", None).await;
    assert_eq!(claim_id(&store, WORKER).await, Some(a));
    assert!(store
        .fail_delivery(a, WORKER, "first", Some(at(-1)))
        .await
        .unwrap());
    let failed = store.get_delivery(&a.to_string()).await.unwrap().unwrap();
    assert_eq!(failed.status, DeliveryStatus::Pending);
    assert_eq!(failed.last_error.as_deref(), Some("first"));
    assert_eq!(failed.attempts, 1);

    let again = store.claim_delivery(WORKER, LONG).await.unwrap().unwrap();
    assert_eq!(again.id, a);
    assert_eq!(again.attempts, 2);
    assert_eq!(again.last_error.as_deref(), Some("first"));
    assert!(store
        .fail_delivery(a, WORKER, "second", None)
        .await
        .unwrap());
    let dead = store.get_delivery(&a.to_string()).await.unwrap().unwrap();
    assert_eq!(dead.status, DeliveryStatus::Dead);
    assert_eq!(dead.last_error.as_deref(), Some("second"));
    assert_eq!(dead.attempts, 2);
    assert_eq!(claim_id(&store, WORKER).await, None);
    // Only a processing delivery fails.
    assert!(!store.fail_delivery(a, WORKER, "third", None).await.unwrap());
}

async fn a_retried_then_done_delivery_keeps_no_old_error(store: Arc<dyn Store>) {
    let a = insert(&store, "a", None).await;
    assert_eq!(claim_id(&store, WORKER).await, Some(a));
    assert!(store
        .fail_delivery(a, WORKER, "GitHub answered 502", Some(at(-1)))
        .await
        .unwrap());
    assert_eq!(claim_id(&store, WORKER).await, Some(a));
    assert!(store.complete_delivery(a, WORKER, "created").await.unwrap());
    let done = store.get_delivery(&a.to_string()).await.unwrap().unwrap();
    assert_eq!(done.status, DeliveryStatus::Done);
    assert_eq!(
        done.last_error, None,
        "an operator must not read a cured error"
    );
    assert_eq!(done.note.as_deref(), Some("created"));
}

async fn replies_are_recorded_once_per_delivery(store: Arc<dyn Store>) {
    assert!(store.record_reply(1, "refused#1").await.unwrap());
    assert!(
        !store.record_reply(1, "refused#1").await.unwrap(),
        "a retry skips it"
    );
    assert!(store.record_reply(1, "help#1").await.unwrap());
    assert!(
        store.record_reply(2, "refused#1").await.unwrap(),
        "per delivery"
    );
    // A post that failed is forgotten, so the retry may post it.
    store.forget_reply(1, "help#1").await.unwrap();
    assert!(store.record_reply(1, "help#1").await.unwrap());
}

async fn release_gives_back_the_attempt(store: Arc<dyn Store>) {
    let a = insert(&store, "a", Some("octo/repo#1")).await;
    assert_eq!(claim_id(&store, WORKER).await, Some(a));
    assert!(store.release_delivery(a, WORKER).await.unwrap());
    let released = store.get_delivery(&a.to_string()).await.unwrap().unwrap();
    assert_eq!(released.status, DeliveryStatus::Pending);
    assert_eq!(released.attempts, 0);
    // Released work (and its issue) is free at once.
    let again = store.claim_delivery(OTHER, LONG).await.unwrap().unwrap();
    assert_eq!(again.id, a);
    assert_eq!(again.attempts, 1);
    assert!(!store.release_delivery(a, WORKER).await.unwrap());
}

async fn renew_extends_only_a_live_lease(store: Arc<dyn Store>) {
    let a = insert(&store, "a", Some("octo/repo#1")).await;
    let claimed = store.claim_delivery(WORKER, SHORT).await.unwrap().unwrap();
    assert_eq!(claimed.id, a);
    assert!(store.renew_delivery(a, WORKER, LONG).await.unwrap());
    tokio::time::sleep(SHORT * 2).await;
    // Renewed to a long lease: still held.
    assert_eq!(claim_id(&store, OTHER).await, None);
    assert!(store.renew_delivery(a, WORKER, SHORT).await.unwrap());
    tokio::time::sleep(SHORT * 2).await;
    // Expired: lost, even if nobody claimed it yet.
    assert!(!store.renew_delivery(a, WORKER, LONG).await.unwrap());
    assert_eq!(claim_id(&store, OTHER).await, Some(a));
}

async fn operator_retry(store: Arc<dyn Store>) {
    assert!(!store.retry_delivery(999_999).await.unwrap());
    let a = insert(&store, "a", None).await;
    assert_eq!(claim_id(&store, WORKER).await, Some(a));
    // Not while it is being processed.
    assert!(!store.retry_delivery(a).await.unwrap());
    assert!(store
        .fail_delivery(a, WORKER, "gave up", None)
        .await
        .unwrap());
    assert!(store.retry_delivery(a).await.unwrap());
    let retried = store.get_delivery(&a.to_string()).await.unwrap().unwrap();
    assert_eq!(retried.status, DeliveryStatus::Pending);
    assert_eq!(retried.attempts, 0);
    assert!(retried.next_attempt_at <= Utc::now());
    let claimed = store.claim_delivery(WORKER, LONG).await.unwrap().unwrap();
    assert_eq!((claimed.id, claimed.attempts), (a, 1));
    assert!(store.complete_delivery(a, WORKER, "ok").await.unwrap());
    // A done delivery can be replayed too.
    assert!(store.retry_delivery(a).await.unwrap());
    assert_eq!(claim_id(&store, WORKER).await, Some(a));

    // A retry time in the future is brought forward.
    let b = insert(&store, "b", None).await;
    assert_eq!(claim_id(&store, WORKER).await, Some(b));
    assert!(store
        .fail_delivery(b, WORKER, "later", Some(at(3600)))
        .await
        .unwrap());
    assert_eq!(claim_id(&store, WORKER).await, None);
    assert!(store.retry_delivery(b).await.unwrap());
    assert_eq!(claim_id(&store, WORKER).await, Some(b));
}

async fn list_and_get(store: Arc<dyn Store>) {
    let a = insert(&store, "guid-a", None).await;
    let b = insert(&store, "guid-b", None).await;
    let c = insert(&store, "guid-c", None).await;
    assert_eq!(claim_id(&store, WORKER).await, Some(a));
    assert!(store.complete_delivery(a, WORKER, "ok").await.unwrap());

    let all: Vec<i64> = store
        .list_deliveries(None, 10)
        .await
        .unwrap()
        .iter()
        .map(|d| d.id)
        .collect();
    assert_eq!(all, vec![c, b, a]);
    let two: Vec<i64> = store
        .list_deliveries(None, 2)
        .await
        .unwrap()
        .iter()
        .map(|d| d.id)
        .collect();
    assert_eq!(two, vec![c, b]);
    let pending: Vec<i64> = store
        .list_deliveries(Some(DeliveryStatus::Pending), 10)
        .await
        .unwrap()
        .iter()
        .map(|d| d.id)
        .collect();
    assert_eq!(pending, vec![c, b]);
    let done = store
        .list_deliveries(Some(DeliveryStatus::Done), 10)
        .await
        .unwrap();
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].id, a);
    assert!(store
        .list_deliveries(Some(DeliveryStatus::Dead), 10)
        .await
        .unwrap()
        .is_empty());

    let by_id = store.get_delivery(&b.to_string()).await.unwrap().unwrap();
    assert_eq!(by_id.delivery_id, "guid-b");
    let by_guid = store.get_delivery("guid-b").await.unwrap().unwrap();
    assert_eq!(by_guid.id, b);
    assert!(store.get_delivery("no-such-guid").await.unwrap().is_none());
    assert!(store.get_delivery("123456789").await.unwrap().is_none());
}

async fn drop_installation_and_queue_depth(store: Arc<dyn Store>) {
    assert_eq!(store.queue_depth().await.unwrap(), 0);
    let a = insert(&store, "a", None).await;
    let b = insert(&store, "b", None).await;
    let c = insert(&store, "c", None).await;
    let other = NewDelivery {
        installation_id: Some(8),
        ..delivery("d", None)
    };
    store.insert_delivery(&other).await.unwrap();
    assert_eq!(store.queue_depth().await.unwrap(), 4);
    assert_eq!(claim_id(&store, WORKER).await, Some(a));
    assert_eq!(store.queue_depth().await.unwrap(), 4);

    // Pending deliveries of installation 7 (b, c) are dropped; the claimed one is not.
    assert_eq!(store.drop_installation(7).await.unwrap(), 2);
    assert_eq!(status_of(&store, b).await, DeliveryStatus::Dropped);
    assert_eq!(status_of(&store, c).await, DeliveryStatus::Dropped);
    assert_eq!(status_of(&store, a).await, DeliveryStatus::Processing);
    assert_eq!(store.queue_depth().await.unwrap(), 2);
    assert_eq!(store.drop_installation(7).await.unwrap(), 0);
    assert!(store.complete_delivery(a, WORKER, "ok").await.unwrap());
    assert_eq!(store.queue_depth().await.unwrap(), 1);
    let next = store.claim_delivery(WORKER, LONG).await.unwrap().unwrap();
    assert_eq!(next.installation_id, Some(8));
}

async fn sessions(store: Arc<dyn Store>) {
    assert!(store.get_session("sessions/1").await.unwrap().is_none());
    let first = session("sessions/1", "octo/repo", 5, at(-30));
    store.upsert_session(&first).await.unwrap();
    assert_eq!(
        store.get_session("sessions/1").await.unwrap().as_ref(),
        Some(&first)
    );

    // Replaced by name, every field.
    let updated = TrackedSession {
        state: "IN_PROGRESS".into(),
        update_time: Some(at(-5)),
        last_activity_time: Some(at(-6)),
        checked_at: Some(at(-1)),
        status_comment_id: Some(2002),
        requester: None,
        installation_id: None,
        ..first.clone()
    };
    store.upsert_session(&updated).await.unwrap();
    assert_eq!(
        store.get_session("sessions/1").await.unwrap().as_ref(),
        Some(&updated)
    );

    let second = session("sessions/2", "octo/repo", 5, at(-10));
    let older = session("sessions/0", "octo/other", 1, at(-60));
    store.upsert_session(&second).await.unwrap();
    store.upsert_session(&older).await.unwrap();

    let active: Vec<String> = store
        .active_sessions()
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert_eq!(active, vec!["sessions/0", "sessions/1", "sessions/2"]);

    // The newest session of the issue, in any state.
    let newest = store
        .session_for_issue("octo/repo", 5)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(newest, second);
    let inactive = TrackedSession {
        active: false,
        state: "COMPLETED".into(),
        ..second.clone()
    };
    store.upsert_session(&inactive).await.unwrap();
    assert_eq!(
        store.session_for_issue("octo/repo", 5).await.unwrap(),
        Some(inactive)
    );
    assert!(store
        .session_for_issue("octo/repo", 6)
        .await
        .unwrap()
        .is_none());
    let active: Vec<String> = store
        .active_sessions()
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert_eq!(active, vec!["sessions/0", "sessions/1"]);
}

async fn session_deactivation_and_counts(store: Arc<dyn Store>) {
    let s1 = session("sessions/1", "octo/repo", 1, at(-300));
    let s2 = TrackedSession {
        state: "IN_PROGRESS".into(),
        ..session("sessions/2", "octo/repo", 1, at(-200))
    };
    let s3 = TrackedSession {
        state: "COMPLETED".into(),
        ..session("sessions/3", "octo/repo", 2, at(-100))
    };
    let s4 = TrackedSession {
        installation_id: Some(8),
        ..session("sessions/4", "octo/repo", 3, at(-50))
    };
    let s5 = session("sessions/5", "octo/other", 1, at(-10));
    for s in [&s1, &s2, &s3, &s4, &s5] {
        store.upsert_session(s).await.unwrap();
    }

    // Active and not COMPLETED / FAILED: s1, s2, s4.
    assert_eq!(store.count_running(Some("octo/repo")).await.unwrap(), 3);
    assert_eq!(store.count_running(Some("octo/other")).await.unwrap(), 1);
    assert_eq!(store.count_running(Some("octo/none")).await.unwrap(), 0);
    // The whole Jules account: every repository.
    assert_eq!(store.count_running(None).await.unwrap(), 4);
    assert_eq!(store.count_created_since(None, at(-1000)).await.unwrap(), 5);
    assert_eq!(
        store
            .count_created_since(Some("octo/repo"), at(-1000))
            .await
            .unwrap(),
        4
    );
    assert_eq!(
        store
            .count_created_since(Some("octo/repo"), s3.created_at)
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        store
            .count_created_since(Some("octo/repo"), at(0))
            .await
            .unwrap(),
        0
    );

    // Issue 1 of octo/repo: both sessions stop, returned oldest first.
    let stopped = store.deactivate_issue("octo/repo", 1).await.unwrap();
    let names: Vec<&str> = stopped.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, vec!["sessions/1", "sessions/2"]);
    assert!(stopped.iter().all(|s| !s.active));
    assert_eq!(stopped[1].state, "IN_PROGRESS");
    assert!(
        !store
            .get_session("sessions/1")
            .await
            .unwrap()
            .unwrap()
            .active
    );
    assert!(
        store
            .get_session("sessions/5")
            .await
            .unwrap()
            .unwrap()
            .active
    );
    assert!(store
        .deactivate_issue("octo/repo", 1)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(store.count_running(Some("octo/repo")).await.unwrap(), 1);
    // Deactivation does not change creation counts.
    assert_eq!(
        store
            .count_created_since(Some("octo/repo"), at(-1000))
            .await
            .unwrap(),
        4
    );

    // Installation 7: s3 and s5 are still active (s1, s2 already stopped).
    assert_eq!(store.deactivate_installation(7).await.unwrap(), 2);
    assert_eq!(store.deactivate_installation(7).await.unwrap(), 0);
    let active: Vec<String> = store
        .active_sessions()
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert_eq!(active, vec!["sessions/4"]);
    assert_eq!(store.deactivate_installation(8).await.unwrap(), 1);
    assert!(store.active_sessions().await.unwrap().is_empty());
    assert_eq!(store.count_running(Some("octo/repo")).await.unwrap(), 0);
}

async fn relayed_is_recorded_once(store: Arc<dyn Store>) {
    assert!(store
        .record_relayed("sessions/1", "act-1", "message")
        .await
        .unwrap());
    assert!(!store
        .record_relayed("sessions/1", "act-1", "message")
        .await
        .unwrap());
    assert!(!store
        .record_relayed("sessions/1", "act-1", "plan")
        .await
        .unwrap());
    assert!(store
        .record_relayed("sessions/1", "act-2", "message")
        .await
        .unwrap());
    assert!(store
        .record_relayed("sessions/2", "act-1", "message")
        .await
        .unwrap());

    // Concurrent recorders: exactly one wins.
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .record_relayed("sessions/3", "act-x", "message")
                .await
                .unwrap()
        }));
    }
    let mut wins = 0;
    for task in tasks {
        wins += task.await.unwrap() as usize;
    }
    assert_eq!(wins, 1);
}

async fn queued_requests_fifo(store: Arc<dyn Store>) {
    assert!(store.queued_repos().await.unwrap().is_empty());
    assert!(store.pop_queued("octo/repo").await.unwrap().is_none());
    let d = insert(&store, "d", None).await;
    let q1 = store.enqueue_request("octo/repo", 1, d).await.unwrap();
    let o1 = store.enqueue_request("octo/other", 9, d).await.unwrap();
    let q2 = store.enqueue_request("octo/repo", 2, d).await.unwrap();
    let q3 = store.enqueue_request("octo/repo", 3, d).await.unwrap();
    assert_eq!(
        (q1.repo.as_str(), q1.issue, q1.delivery_id),
        ("octo/repo", 1, d)
    );
    assert!(q1.created_at <= Utc::now());

    assert_eq!(store.queue_position(q1.id).await.unwrap(), Some(1));
    assert_eq!(store.queue_position(q2.id).await.unwrap(), Some(2));
    assert_eq!(store.queue_position(q3.id).await.unwrap(), Some(3));
    assert_eq!(store.queue_position(o1.id).await.unwrap(), Some(1));
    assert_eq!(store.queue_position(999_999).await.unwrap(), None);
    assert_eq!(
        store.queued_repos().await.unwrap(),
        vec!["octo/other".to_string(), "octo/repo".to_string()]
    );

    assert_eq!(
        store.pop_queued("octo/repo").await.unwrap(),
        Some(q1.clone())
    );
    assert_eq!(store.queue_position(q1.id).await.unwrap(), None);
    assert_eq!(store.queue_position(q2.id).await.unwrap(), Some(1));
    assert_eq!(store.queue_position(q3.id).await.unwrap(), Some(2));
    assert_eq!(store.pop_queued("octo/repo").await.unwrap(), Some(q2));
    assert_eq!(store.pop_queued("octo/repo").await.unwrap(), Some(q3));
    assert_eq!(store.pop_queued("octo/repo").await.unwrap(), None);
    assert_eq!(
        store.queued_repos().await.unwrap(),
        vec!["octo/other".to_string()]
    );
    assert_eq!(store.pop_queued("octo/other").await.unwrap(), Some(o1));
    assert!(store.queued_repos().await.unwrap().is_empty());
}

/// Jules' `activities.list` quota, kept through the store: at most `limit` calls in any
/// window, and the answer says when the next one fits.
async fn request_budget_is_a_rolling_window(store: Arc<dyn Store>) {
    let window = Duration::from_millis(600);
    let before = chrono::Utc::now();
    for _ in 0..3 {
        assert_eq!(store.spend_call("key:a", 3, window).await.unwrap(), None);
    }
    let free_at = store
        .spend_call("key:a", 3, window)
        .await
        .unwrap()
        .expect("the fourth call does not fit");
    assert!(
        free_at > before && free_at <= chrono::Utc::now() + chrono::Duration::milliseconds(600)
    );
    // Another key has its own budget.
    assert_eq!(store.spend_call("key:b", 3, window).await.unwrap(), None);
    // Once the first calls leave the window, there is room again.
    let wait = (free_at - chrono::Utc::now()).to_std().unwrap_or_default();
    tokio::time::sleep(wait + Duration::from_millis(20)).await;
    assert_eq!(store.spend_call("key:a", 3, window).await.unwrap(), None);
}

/// Replicas spending at once never overspend: exactly `limit` of many concurrent calls fit.
async fn request_budget_holds_under_concurrent_spenders(store: Arc<dyn Store>) {
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .spend_call("key:shared", 7, LONG)
                .await
                .unwrap()
                .is_none()
        }));
    }
    let mut spent = 0;
    for task in tasks {
        spent += usize::from(task.await.unwrap());
    }
    assert_eq!(spent, 7);
}

async fn named_leases(store: Arc<dyn Store>) {
    let key = "relay";
    assert!(store.try_lease(key, "a", SHORT).await.unwrap());
    assert!(!store.try_lease(key, "b", SHORT).await.unwrap());
    // Renewal by the holder.
    assert!(store.try_lease(key, "a", SHORT).await.unwrap());
    // Other keys are independent.
    assert!(store.try_lease("other", "b", LONG).await.unwrap());
    tokio::time::sleep(SHORT * 2).await;
    // Expired: anyone takes it.
    assert!(store.try_lease(key, "b", LONG).await.unwrap());
    assert!(!store.try_lease(key, "a", LONG).await.unwrap());
    // Only the holder releases.
    store.release_lease(key, "a").await.unwrap();
    assert!(!store.try_lease(key, "a", LONG).await.unwrap());
    store.release_lease(key, "b").await.unwrap();
    assert!(store.try_lease(key, "a", LONG).await.unwrap());
    assert!(!store.try_lease("other", "a", LONG).await.unwrap());

    // Concurrent takers of a free key: exactly one wins.
    let mut tasks = Vec::new();
    for i in 0..8 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .try_lease("contended", &format!("owner-{i}"), LONG)
                .await
                .unwrap()
        }));
    }
    let mut wins = 0;
    for task in tasks {
        wins += task.await.unwrap() as usize;
    }
    assert_eq!(wins, 1);
}

/// `workers` tasks claim `total` deliveries spread over `issues` issue keys (every fifth
/// without one). Each is processed exactly once, one issue is never held twice at a time,
/// and an issue's deliveries are handled in the order they were received.
async fn concurrent_claims(store: Arc<dyn Store>, workers: usize, total: usize, issues: usize) {
    let mut issue_of = HashMap::new();
    for i in 0..total {
        let key = (i % 5 != 4).then(|| format!("octo/repo#{}", i % issues));
        let id = insert(&store, &format!("guid-{i}"), key.as_deref()).await;
        issue_of.insert(id, key);
    }

    #[derive(Default)]
    struct Shared {
        held: HashSet<String>,
        processed: HashSet<i64>,
        last_of_issue: HashMap<String, i64>,
    }
    let shared = Arc::new(Mutex::new(Shared::default()));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);

    let mut tasks = Vec::new();
    for w in 0..workers {
        let store = store.clone();
        let shared = shared.clone();
        tasks.push(tokio::spawn(async move {
            let worker = format!("worker-{w}");
            loop {
                if shared.lock().unwrap().processed.len() == total {
                    return;
                }
                assert!(tokio::time::Instant::now() < deadline, "took too long");
                let Some(d) = store.claim_delivery(&worker, LONG).await.unwrap() else {
                    tokio::time::sleep(Duration::from_millis(2)).await;
                    continue;
                };
                assert_eq!(d.attempts, 1, "delivery {} claimed twice", d.id);
                {
                    let mut s = shared.lock().unwrap();
                    assert!(s.processed.insert(d.id), "delivery {} twice", d.id);
                    if let Some(key) = &d.issue_key {
                        assert!(s.held.insert(key.clone()), "{key} held twice at once");
                        if let Some(last) = s.last_of_issue.insert(key.clone(), d.id) {
                            assert!(last < d.id, "{key}: {} after {last}", d.id);
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
                // Let go of the issue while the lease is still live, then complete.
                if let Some(key) = &d.issue_key {
                    shared.lock().unwrap().held.remove(key);
                }
                assert!(store.complete_delivery(d.id, &worker, "ok").await.unwrap());
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }

    let s = std::mem::take(&mut *shared.lock().unwrap());
    assert_eq!(s.processed.len(), total);
    assert_eq!(s.processed, issue_of.keys().copied().collect());
    let done = store
        .list_deliveries(Some(DeliveryStatus::Done), total as i64 + 1)
        .await
        .unwrap();
    assert_eq!(done.len(), total);
    assert!(done.iter().all(|d| d.attempts == 1));
    assert_eq!(store.queue_depth().await.unwrap(), 0);
}

async fn concurrent_claims_over_many_issues(store: Arc<dyn Store>) {
    concurrent_claims(store, 8, 200, 20).await;
}

async fn concurrent_claims_on_one_issue(store: Arc<dyn Store>) {
    concurrent_claims(store, 8, 50, 1).await;
}

/// Every delivery fails its first attempt and is retried a few milliseconds later, so retry
/// times keep falling due while others claim: the claimers' "now" differ, and an older
/// delivery of an issue becomes claimable while a newer one is being claimed. Still never
/// two live leases on one issue, and every delivery is handled exactly twice.
async fn concurrent_claims_with_retries(store: Arc<dyn Store>) {
    let (workers, total, issues) = (8, 120, 4);
    for i in 0..total {
        insert(
            &store,
            &format!("guid-{i}"),
            Some(&format!("octo/repo#{}", i % issues)),
        )
        .await;
    }

    #[derive(Default)]
    struct Shared {
        held: HashSet<String>,
        attempts: HashMap<i64, i32>,
        done: usize,
    }
    let shared = Arc::new(Mutex::new(Shared::default()));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);

    let mut tasks = Vec::new();
    for w in 0..workers {
        let store = store.clone();
        let shared = shared.clone();
        tasks.push(tokio::spawn(async move {
            let worker = format!("worker-{w}");
            loop {
                if shared.lock().unwrap().done == total {
                    return;
                }
                assert!(tokio::time::Instant::now() < deadline, "took too long");
                let Some(d) = store.claim_delivery(&worker, LONG).await.unwrap() else {
                    tokio::task::yield_now().await;
                    continue;
                };
                let key = d.issue_key.clone().unwrap();
                {
                    let mut s = shared.lock().unwrap();
                    assert!(s.held.insert(key.clone()), "{key} held twice at once");
                    let n = s.attempts.entry(d.id).or_default();
                    *n += 1;
                    assert_eq!(*n, d.attempts, "delivery {}", d.id);
                }
                tokio::task::yield_now().await;
                shared.lock().unwrap().held.remove(&key);
                if d.attempts == 1 {
                    let retry_at = Utc::now() + TimeDelta::milliseconds(3);
                    assert!(store
                        .fail_delivery(d.id, &worker, "once", Some(retry_at))
                        .await
                        .unwrap());
                } else {
                    assert_eq!(d.attempts, 2);
                    assert!(store.complete_delivery(d.id, &worker, "ok").await.unwrap());
                    shared.lock().unwrap().done += 1;
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let s = std::mem::take(&mut *shared.lock().unwrap());
    assert_eq!(s.attempts.len(), total);
    assert!(s.attempts.values().all(|&n| n == 2));
    let done = store
        .list_deliveries(Some(DeliveryStatus::Done), total as i64 + 1)
        .await
        .unwrap();
    assert_eq!(done.len(), total);
}

// ---- engine-specific --------------------------------------------------------------------------

#[tokio::test]
async fn sqlite_ready_needs_migrations() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fresh.db");
    // A bare path is accepted, and the file is created.
    let store = SqliteStore::open(path.to_str().unwrap()).await.unwrap();
    assert!(path.exists());
    assert!(store.ready().await.is_err());
    store.migrate().await.unwrap();
    store.ready().await.unwrap();
    // `sqlite://` URLs open the same file, already migrated.
    let again = SqliteStore::open(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    again.ready().await.unwrap();
    let journal: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(again.pool())
        .await
        .unwrap();
    assert_eq!(journal, "wal");
    let synchronous: i64 = sqlx::query_scalar("PRAGMA synchronous")
        .fetch_one(again.pool())
        .await
        .unwrap();
    assert_eq!(synchronous, 2, "synchronous=FULL");
    let foreign_keys: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
        .fetch_one(again.pool())
        .await
        .unwrap();
    assert_eq!(foreign_keys, 1);
}

#[tokio::test]
async fn postgres_ready_needs_migrations() {
    let url = pg_url();
    let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
    let store = PostgresStore::connect_with_schema(&url, &schema)
        .await
        .unwrap();
    let (store2, schema2) = (store.clone(), schema.clone());
    let result = async move {
        let (store, schema) = (store2, schema2);
        assert!(store.ready().await.is_err());
        store.migrate().await.unwrap();
        store.ready().await.unwrap();
        // The tables live in the test's schema.
        let schemas: Vec<String> = sqlx::query_scalar(
            "SELECT table_schema::text FROM information_schema.tables WHERE table_name = 'deliveries'",
        )
        .fetch_all(store.pool())
        .await
        .unwrap();
        assert!(schemas.contains(&schema));
    };
    let result = tokio::spawn(result).await;
    store.pool().close().await;
    drop_schema(&url, &schema).await;
    if let Err(e) = result {
        std::panic::resume_unwind(e.into_panic());
    }
}

#[tokio::test]
async fn postgres_rejects_odd_schema_names() {
    for bad in ["", "1abc", "a-b", "a\"b", "a;drop"] {
        assert!(
            PostgresStore::connect_with_schema(&pg_url(), bad)
                .await
                .is_err(),
            "{bad:?}"
        );
    }
}

// ---- replays: the same body under another delivery id ---------------------------------------

/// A captured signed body resent under a fresh delivery id is a duplicate of the delivery
/// that first carried it, whatever the unsigned headers say (delivery id, hook id, event).
async fn replayed_body_is_a_duplicate(store: Arc<dyn Store>) {
    // An issue key no other test claims: PostgreSQL's issue locks are database-wide, shared
    // by the parallel tests' schemas.
    let original = delivery("guid-1", Some("octo/replay#1"));
    let Inserted::New(id) = store.insert_delivery(&original).await.unwrap() else {
        panic!("expected a new delivery");
    };
    let replays = [
        NewDelivery {
            delivery_id: "replay-1".into(),
            ..original.clone()
        },
        NewDelivery {
            hook_id: "43".into(),
            delivery_id: "replay-2".into(),
            ..original.clone()
        },
        NewDelivery {
            hook_id: String::new(),
            delivery_id: "replay-3".into(),
            event: "issues".into(),
            action: Some("labeled".into()),
            status: DeliveryStatus::Ignored,
            note: Some("not for us".into()),
            ..original.clone()
        },
    ];
    for replay in &replays {
        assert_eq!(
            store.insert_delivery(replay).await.unwrap(),
            Inserted::Duplicate(id),
            "{}",
            replay.delivery_id
        );
        assert!(
            store
                .get_delivery(&replay.delivery_id)
                .await
                .unwrap()
                .is_none(),
            "{} is not stored",
            replay.delivery_id
        );
    }
    // A redelivery of the original still answers by its key.
    assert_eq!(
        store.insert_delivery(&original).await.unwrap(),
        Inserted::Duplicate(id)
    );
    // One byte more is another body.
    let mut body = original.body.clone();
    body.push(b' ');
    let Inserted::New(other) = store
        .insert_delivery(&NewDelivery {
            delivery_id: "guid-2".into(),
            issue_key: None,
            body,
            ..original.clone()
        })
        .await
        .unwrap()
    else {
        panic!("another body is another delivery");
    };
    assert_ne!(other, id);
    // An empty body is a body like any other.
    let empty = NewDelivery {
        body: Vec::new(),
        ..delivery("empty-1", None)
    };
    let Inserted::New(empty_id) = store.insert_delivery(&empty).await.unwrap() else {
        panic!("expected a new delivery");
    };
    assert_eq!(
        store
            .insert_delivery(&NewDelivery {
                delivery_id: "empty-2".into(),
                ..empty
            })
            .await
            .unwrap(),
        Inserted::Duplicate(empty_id)
    );

    // The original is stored as it came, and is the only work for its body.
    let stored = store.get_delivery(&id.to_string()).await.unwrap().unwrap();
    assert_eq!(
        (stored.hook_id.as_str(), stored.delivery_id.as_str()),
        ("42", "guid-1")
    );
    assert_eq!(stored.body, original.body);
    assert_eq!(store.queue_depth().await.unwrap(), 3);
    assert_eq!(claim_id(&store, WORKER).await, Some(id));
    assert_eq!(claim_id(&store, WORKER).await, Some(other));
    assert_eq!(claim_id(&store, WORKER).await, Some(empty_id));
    assert_eq!(claim_id(&store, WORKER).await, None);
}

/// Two identical bodies in one group commit: one stored, the other its duplicate; and a body
/// stored before the batch is a duplicate too.
async fn replayed_body_within_one_batch(store: Arc<dyn Store>) {
    let before = insert(&store, "guid-0", None).await;
    let first = delivery("guid-1", Some("octo/repo#1"));
    let batch = vec![
        first.clone(), // 0: new
        NewDelivery {
            delivery_id: "replay-1".into(),
            ..first.clone()
        }, // 1: the body of 0 in the same commit
        NewDelivery {
            delivery_id: "replay-0".into(),
            ..delivery("guid-0", None)
        }, // 2: the body of a delivery stored before
        delivery("guid-2", None), // 3: new
        NewDelivery {
            hook_id: "43".into(),
            delivery_id: "replay-2".into(),
            ..delivery("guid-2", None)
        }, // 4: the body of 3, from "another hook"
        NewDelivery {
            delivery_id: "replay-1".into(),
            ..delivery("guid-3", None)
        }, // 5: the key of 1 (not stored) with a body of its own: new, as one by one
        first.clone(), // 6: 0 again, key and body
    ];
    let answers = store.insert_deliveries(&batch).await.unwrap();
    assert_eq!(answers.len(), batch.len());
    let (Inserted::New(id1), Inserted::New(id3), Inserted::New(id5)) =
        (answers[0], answers[3], answers[5])
    else {
        panic!("{answers:?}")
    };
    assert_eq!(
        answers,
        vec![
            Inserted::New(id1),
            Inserted::Duplicate(id1),
            Inserted::Duplicate(before),
            Inserted::New(id3),
            Inserted::Duplicate(id3),
            Inserted::New(id5),
            Inserted::Duplicate(id1),
        ]
    );
    assert!(before < id1 && id1 < id3 && id3 < id5, "{answers:?}");
    assert_eq!(store.queue_depth().await.unwrap(), 4);
    assert!(store.get_delivery("replay-0").await.unwrap().is_none());
    assert!(store.get_delivery("replay-2").await.unwrap().is_none());
    let five = store.get_delivery("replay-1").await.unwrap().unwrap();
    assert_eq!((five.id, &five.body), (id5, &batch[5].body));

    // The batch again stores nothing; one by one, every delivery is a duplicate too.
    let again = store.insert_deliveries(&batch).await.unwrap();
    assert_eq!(
        again,
        vec![
            Inserted::Duplicate(id1),
            Inserted::Duplicate(id1),
            Inserted::Duplicate(before),
            Inserted::Duplicate(id3),
            Inserted::Duplicate(id3),
            Inserted::Duplicate(id5),
            Inserted::Duplicate(id1),
        ]
    );
    for delivery in &batch {
        let answer = store.insert_delivery(delivery).await.unwrap();
        assert!(matches!(answer, Inserted::Duplicate(_)), "{answer:?}");
    }
    assert_eq!(store.queue_depth().await.unwrap(), 4);

    // A batch of one body under many delivery ids stores it once.
    let flood: Vec<NewDelivery> = (0..50)
        .map(|n| NewDelivery {
            delivery_id: format!("flood-{n}"),
            ..delivery("flood", None)
        })
        .collect();
    let answers = store.insert_deliveries(&flood).await.unwrap();
    let Inserted::New(flood_id) = answers[0] else {
        panic!("{answers:?}")
    };
    assert!(answers[1..]
        .iter()
        .all(|a| *a == Inserted::Duplicate(flood_id)));
    assert_eq!(store.queue_depth().await.unwrap(), 5);
}

/// Replays racing each other (single inserts and batches, on several connections): the body
/// is stored once, and every other answer names that row.
async fn concurrent_replays_store_one(store: Arc<dyn Store>) {
    let original = delivery("race", Some("octo/repo#9"));
    let mut tasks = Vec::new();
    for n in 0..16 {
        let store = Arc::clone(&store);
        let replay = NewDelivery {
            delivery_id: format!("race-{n}"),
            ..original.clone()
        };
        tasks.push(tokio::spawn(async move {
            if n % 2 == 0 {
                vec![store.insert_delivery(&replay).await.unwrap()]
            } else {
                let batch: Vec<NewDelivery> = (0..4)
                    .map(|m| NewDelivery {
                        delivery_id: format!("race-{n}-{m}"),
                        ..replay.clone()
                    })
                    .collect();
                store.insert_deliveries(&batch).await.unwrap()
            }
        }));
    }
    let mut answers = Vec::new();
    for task in tasks {
        answers.extend(task.await.unwrap());
    }
    assert_eq!(answers.len(), 8 + 8 * 4);
    let new: Vec<i64> = answers
        .iter()
        .filter_map(|a| match a {
            Inserted::New(id) => Some(*id),
            Inserted::Duplicate(_) => None,
        })
        .collect();
    assert_eq!(new.len(), 1, "{answers:?}");
    assert!(
        answers
            .iter()
            .all(|a| matches!(a, Inserted::New(id) | Inserted::Duplicate(id) if *id == new[0])),
        "{answers:?}"
    );
    assert_eq!(store.queue_depth().await.unwrap(), 1);
}

/// Through the webhook receiver's group-commit writer. On a current-thread runtime the writer
/// only runs once every handler below has queued its delivery, so they all go in ONE batch:
/// each body is stored once, every replay of it in the same commit is its duplicate.
async fn replays_in_one_group_commit(store: Arc<dyn Store>) {
    let stored_before = insert(&store, "before", None).await;
    let ingest = jules_bridge::server::ingest::Ingest::start(Arc::clone(&store));
    let mut jobs = Vec::new();
    for n in 0..60 {
        // Bodies a, b, c and the one stored before, each under 15 fresh delivery ids.
        let body = ["a", "b", "c", "before"][n % 4];
        jobs.push(NewDelivery {
            delivery_id: format!("ingest-{n}"),
            ..delivery(body, None)
        });
    }
    let answers = futures::future::join_all(jobs.iter().cloned().map(|job| {
        let ingest = ingest.clone();
        async move { ingest.insert(job).await.unwrap() }
    }))
    .await;
    let mut by_body: HashMap<&str, Vec<Inserted>> = HashMap::new();
    for (job, answer) in jobs.iter().zip(&answers) {
        by_body
            .entry(std::str::from_utf8(&job.body).unwrap())
            .or_default()
            .push(*answer);
    }
    assert_eq!(by_body.len(), 4);
    for (body, answers) in &by_body {
        let first = match answers[0] {
            Inserted::New(id) => id,
            Inserted::Duplicate(id) => {
                assert_eq!(id, stored_before, "{body}: {answers:?}");
                id
            }
        };
        assert!(
            answers[1..]
                .iter()
                .all(|a| *a == Inserted::Duplicate(first)),
            "{body}: {answers:?}"
        );
    }
    // `before` + a, b, c.
    assert_eq!(store.queue_depth().await.unwrap(), 4);
    let new: HashSet<i64> = answers
        .iter()
        .filter_map(|a| match a {
            Inserted::New(id) => Some(*id),
            Inserted::Duplicate(_) => None,
        })
        .collect();
    assert_eq!(new.len(), 3, "{answers:?}");
}

mod group_commit {
    #[tokio::test(flavor = "current_thread")]
    async fn sqlite() {
        crate::run(crate::sqlite().await, crate::replays_in_one_group_commit).await
    }

    #[tokio::test(flavor = "current_thread")]
    async fn postgres() {
        crate::run(crate::postgres().await, crate::replays_in_one_group_commit).await
    }
}

// ---- the body-hash migration on a database that already has rows ------------------------------

/// After `0002_body_sha256` ran over rows stored without a hash (two of them with the same
/// body, which the old schema allowed): they keep NULL and do not collide; a redelivery of one
/// is still a duplicate by its key; the first delivery of their body since the upgrade is new
/// (old rows carry no hash), and every replay of it after that is a duplicate.
async fn after_the_body_hash_upgrade(store: Arc<dyn Store>) {
    let old = store.get_delivery("old-1").await.unwrap().unwrap();
    assert_eq!(old.body, b"{}");
    let body = |guid: &str| NewDelivery {
        body: b"{}".to_vec(),
        ..delivery(guid, None)
    };
    assert_eq!(
        store.insert_delivery(&body("old-1")).await.unwrap(),
        Inserted::Duplicate(old.id)
    );
    let Inserted::New(id) = store.insert_delivery(&body("new-1")).await.unwrap() else {
        panic!("old rows have no hash")
    };
    assert_eq!(
        store.insert_delivery(&body("new-2")).await.unwrap(),
        Inserted::Duplicate(id)
    );
    assert_eq!(
        store
            .insert_deliveries(&[body("new-3"), body("new-4")])
            .await
            .unwrap(),
        vec![Inserted::Duplicate(id), Inserted::Duplicate(id)]
    );
    assert_eq!(
        store.insert_delivery(&body("old-2")).await.unwrap(),
        Inserted::Duplicate(old.id + 1)
    );
}

const LEGACY_ROWS: &str = "INSERT INTO deliveries (hook_id, delivery_id, event, body, status, \
     received_at, updated_at, next_attempt_at) VALUES \
     ('42', 'old-1', 'issue_comment', $1, 'done', $2, $2, $2), \
     ('42', 'old-2', 'issue_comment', $1, 'done', $2, $2, $2)";

#[tokio::test]
async fn sqlite_body_hash_migration_keeps_old_rows() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("store.db").display());
    let store = SqliteStore::open(&url).await.unwrap();
    sqlx::raw_sql(include_str!("../migrations/sqlite/0001_init.sql"))
        .execute(store.pool())
        .await
        .unwrap();
    sqlx::query(LEGACY_ROWS)
        .bind(b"{}".as_slice())
        .bind(Utc::now().timestamp_micros())
        .execute(store.pool())
        .await
        .unwrap();
    sqlx::raw_sql(include_str!("../migrations/sqlite/0002_body_sha256.sql"))
        .execute(store.pool())
        .await
        .unwrap();
    let unhashed: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM deliveries WHERE body_sha256 IS NULL")
            .fetch_one(store.pool())
            .await
            .unwrap();
    assert_eq!(unhashed, 2);
    let db = Db {
        store: Arc::new(store),
        engine: Engine::Sqlite(dir),
    };
    run(db, after_the_body_hash_upgrade).await;
}

#[tokio::test]
async fn postgres_body_hash_migration_keeps_old_rows() {
    let url = pg_url();
    let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
    let store = PostgresStore::connect_with_schema(&url, &schema)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL at {url}: {e}"));
    let db = Db {
        store: Arc::new(store.clone()),
        engine: Engine::Postgres {
            store: store.clone(),
            url,
            schema,
        },
    };
    run(db, move |handle| async move {
        sqlx::raw_sql(include_str!("../migrations/postgres/0001_init.sql"))
            .execute(store.pool())
            .await
            .unwrap();
        sqlx::query(LEGACY_ROWS)
            .bind(b"{}".as_slice())
            .bind(Utc::now())
            .execute(store.pool())
            .await
            .unwrap();
        sqlx::raw_sql(include_str!("../migrations/postgres/0002_body_sha256.sql"))
            .execute(store.pool())
            .await
            .unwrap();
        let unhashed: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM deliveries WHERE body_sha256 IS NULL")
                .fetch_one(store.pool())
                .await
                .unwrap();
        assert_eq!(unhashed, 2);
        after_the_body_hash_upgrade(handle).await;
    })
    .await;
}
