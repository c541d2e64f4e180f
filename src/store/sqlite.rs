//! The embedded engine: one SQLite file, one process.
//!
//! Timestamps are stored as INTEGER microseconds since the Unix epoch (UTC), taken from the
//! application clock and bound as parameters, so they compare numerically and both engines
//! agree on what "now" is. Writers are serialised by SQLite; operations that read then write
//! run in `BEGIN IMMEDIATE` transactions (the write lock is taken up front, so a concurrent
//! writer waits on `busy_timeout` instead of failing to upgrade a read lock).

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, SubsecRound, TimeDelta, Utc};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{Row, SqlSafeStr};

use super::{
    BatchPlan, Delivery, DeliveryStatus, Inserted, NewDelivery, QueuedRequest, Store, StoreError,
    StoreResult, Timestamp, TrackedSession,
};

/// The embedded migrations: `migrations/sqlite/<version>_<description>.sql`, compiled into
/// the binary. A new file must be listed here too (a unit test checks the directory).
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "init",
        include_str!("../../migrations/sqlite/0001_init.sql"),
    ),
    (
        2,
        "body sha256",
        include_str!("../../migrations/sqlite/0002_body_sha256.sql"),
    ),
    (
        3,
        "replies",
        include_str!("../../migrations/sqlite/0003_replies.sql"),
    ),
    (
        4,
        "jules calls",
        include_str!("../../migrations/sqlite/0004_jules_calls.sql"),
    ),
    (
        5,
        "session on a pull request",
        include_str!("../../migrations/sqlite/0005_on_pull.sql"),
    ),
];

fn migrator() -> Migrator {
    Migrator::with_migrations(
        MIGRATIONS
            .iter()
            .map(|&(version, description, sql)| {
                Migration::new(
                    version,
                    Cow::Borrowed(description),
                    MigrationType::Simple,
                    sql.into_sql_str(),
                    false,
                )
            })
            .collect(),
    )
}

/// Connections for reads. SQLite runs one writer at a time; in WAL mode reads proceed
/// alongside it.
const MAX_READERS: u32 = 4;

/// Rows per multi-row INSERT of `insert_deliveries` (11 parameters a row, under SQLite's
/// 32766-parameter limit).
const MAX_ROWS: usize = 256;

/// The SQLite store.
///
/// Every write of the process goes through ONE connection (`writer`), so writers queue in
/// order on the pool instead of racing for SQLite's lock: a write that finds the database
/// locked sleeps in SQLite's busy handler (1, 2, 5, 10, ... 100 ms steps), which is how the
/// workers' claims and completions used to push the ingest writer's p99 to most of a second.
/// Reads use their own small pool and never wait for a writer (WAL).
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    writer: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `url`: `sqlite:path`, `sqlite://path`
    /// (both accept SQLite URI parameters after `?`) or a bare file path. Does not migrate.
    pub async fn open(url: &str) -> StoreResult<Self> {
        let options = if url.starts_with("sqlite:") {
            SqliteConnectOptions::from_str(url)?
        } else {
            // A bare path is taken literally (no `?` parameters, no percent-decoding).
            SqliteConnectOptions::new().filename(Path::new(url))
        };
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL, not NORMAL: in WAL mode NORMAL may lose the last transactions on power
            // loss, and an acknowledged delivery (GitHub got its 2xx) must survive a crash.
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true);
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await?;
        // An in-memory database exists once per connection: there, the writer reads too.
        let in_memory = options.get_filename() == Path::new(":memory:")
            || url
                .split_once('?')
                .is_some_and(|(_, query)| query.split('&').any(|pair| pair == "mode=memory"));
        let pool = if in_memory {
            writer.clone()
        } else {
            SqlitePoolOptions::new()
                .max_connections(MAX_READERS)
                .connect_with(options)
                .await?
        };
        Ok(SqliteStore { pool, writer })
    }

    /// The readers' pool (for tests and operator tooling).
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// The one connection every write goes through.
    pub fn writer(&self) -> &SqlitePool {
        &self.writer
    }
}

// ---- conversions ----------------------------------------------------------------------------

/// The application clock, at the storage precision (microseconds).
fn now() -> Timestamp {
    Utc::now().trunc_subsecs(6)
}

fn micros(t: Timestamp) -> i64 {
    t.timestamp_micros()
}

fn from_micros(us: i64) -> StoreResult<Timestamp> {
    DateTime::from_timestamp_micros(us)
        .ok_or_else(|| StoreError::Invalid(format!("timestamp out of range: {us}")))
}

fn opt_from_micros(us: Option<i64>) -> StoreResult<Option<Timestamp>> {
    us.map(from_micros).transpose()
}

fn delta(d: Duration) -> StoreResult<TimeDelta> {
    TimeDelta::from_std(d).map_err(|_| StoreError::Invalid(format!("duration too long: {d:?}")))
}

fn after(t: Timestamp, d: Duration) -> StoreResult<Timestamp> {
    t.checked_add_signed(delta(d)?)
        .ok_or_else(|| StoreError::Invalid(format!("duration too long: {d:?}")))
}

macro_rules! delivery_columns {
    () => {
        "id, hook_id, delivery_id, event, action, installation_id, repo, issue_key, body, \
         status, attempts, last_error, note, received_at, updated_at, next_attempt_at"
    };
}

macro_rules! session_columns {
    () => {
        "name, repo, issue, installation_id, status_comment_id, requester, state, update_time, \
         last_activity_time, active, created_at, checked_at, on_pull"
    };
}

fn delivery_from_row(row: &SqliteRow) -> StoreResult<Delivery> {
    let status: String = row.try_get("status")?;
    Ok(Delivery {
        id: row.try_get("id")?,
        hook_id: row.try_get("hook_id")?,
        delivery_id: row.try_get("delivery_id")?,
        event: row.try_get("event")?,
        action: row.try_get("action")?,
        installation_id: row.try_get("installation_id")?,
        repo: row.try_get("repo")?,
        issue_key: row.try_get("issue_key")?,
        body: row.try_get("body")?,
        status: DeliveryStatus::parse(&status)
            .ok_or_else(|| StoreError::Invalid(format!("unknown delivery status {status:?}")))?,
        attempts: row.try_get("attempts")?,
        last_error: row.try_get("last_error")?,
        note: row.try_get("note")?,
        received_at: from_micros(row.try_get("received_at")?)?,
        updated_at: from_micros(row.try_get("updated_at")?)?,
        next_attempt_at: from_micros(row.try_get("next_attempt_at")?)?,
    })
}

fn session_from_row(row: &SqliteRow) -> StoreResult<TrackedSession> {
    Ok(TrackedSession {
        name: row.try_get("name")?,
        repo: row.try_get("repo")?,
        issue: row.try_get("issue")?,
        installation_id: row.try_get("installation_id")?,
        status_comment_id: row.try_get("status_comment_id")?,
        requester: row.try_get("requester")?,
        state: row.try_get("state")?,
        update_time: opt_from_micros(row.try_get("update_time")?)?,
        last_activity_time: opt_from_micros(row.try_get("last_activity_time")?)?,
        active: row.try_get("active")?,
        created_at: from_micros(row.try_get("created_at")?)?,
        checked_at: opt_from_micros(row.try_get("checked_at")?)?,
        on_pull: row.try_get("on_pull")?,
    })
}

fn queued_from_row(row: &SqliteRow) -> StoreResult<QueuedRequest> {
    Ok(QueuedRequest {
        id: row.try_get("id")?,
        repo: row.try_get("repo")?,
        issue: row.try_get("issue")?,
        delivery_id: row.try_get("delivery_id")?,
        created_at: from_micros(row.try_get("created_at")?)?,
    })
}

/// The id of the stored delivery a `delivery` that was not inserted clashed with: the one
/// with its key (a redelivery) or else the one with its body (a replay under another key).
async fn stored_id(
    conn: &mut sqlx::SqliteConnection,
    delivery: &NewDelivery,
    hash: &str,
) -> StoreResult<i64> {
    let id: Option<i64> = sqlx::query_scalar(
        "SELECT COALESCE(\
           (SELECT id FROM deliveries WHERE hook_id = ?1 AND delivery_id = ?2), \
           (SELECT id FROM deliveries WHERE body_sha256 = ?3))",
    )
    .bind(&delivery.hook_id)
    .bind(&delivery.delivery_id)
    .bind(hash)
    .fetch_one(conn)
    .await?;
    id.ok_or_else(|| {
        StoreError::Invalid(format!(
            "delivery {} was neither inserted nor found",
            delivery.delivery_id
        ))
    })
}

#[async_trait]
impl Store for SqliteStore {
    async fn migrate(&self) -> StoreResult<()> {
        migrator().run(&self.writer).await?;
        Ok(())
    }

    async fn ready(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        let applied: Vec<i64> =
            sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
                .fetch_all(&self.pool)
                .await
                .map_err(|e| StoreError::Invalid(format!("migrations not applied: {e}")))?;
        let missing: Vec<i64> = MIGRATIONS
            .iter()
            .map(|m| m.0)
            .filter(|v| !applied.contains(v))
            .collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(StoreError::Invalid(format!(
                "migrations not applied: {missing:?}"
            )))
        }
    }

    // ---- deliveries ---------------------------------------------------------------------

    async fn insert_delivery(&self, delivery: &NewDelivery) -> StoreResult<Inserted> {
        if delivery.status == DeliveryStatus::Processing {
            return Err(StoreError::Invalid(
                "a delivery cannot be inserted as processing".into(),
            ));
        }
        let now = micros(now());
        let hash = delivery.body_sha256();
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        // No conflict target: a clash on either unique key, (hook id, delivery id) or the
        // body hash, stores nothing.
        let id: Option<i64> = sqlx::query_scalar(
            "INSERT INTO deliveries (hook_id, delivery_id, event, action, installation_id, repo, \
             issue_key, body, body_sha256, status, note, received_at, updated_at, \
             next_attempt_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?12, ?12) \
             ON CONFLICT DO NOTHING RETURNING id",
        )
        .bind(&delivery.hook_id)
        .bind(&delivery.delivery_id)
        .bind(&delivery.event)
        .bind(&delivery.action)
        .bind(delivery.installation_id)
        .bind(&delivery.repo)
        .bind(&delivery.issue_key)
        .bind(&delivery.body)
        .bind(&hash)
        .bind(delivery.status.as_str())
        .bind(&delivery.note)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        let inserted = match id {
            Some(id) => Inserted::New(id),
            None => Inserted::Duplicate(stored_id(&mut tx, delivery, &hash).await?),
        };
        tx.commit().await?;
        Ok(inserted)
    }

    async fn insert_deliveries(&self, batch: &[NewDelivery]) -> StoreResult<Vec<Inserted>> {
        if batch
            .iter()
            .any(|delivery| delivery.status == DeliveryStatus::Processing)
        {
            return Err(StoreError::Invalid(
                "a delivery cannot be inserted as processing".into(),
            ));
        }
        // A key or a body repeated within the batch is a duplicate of its first occurrence:
        // only first occurrences are sent.
        let plan = BatchPlan::new(batch);
        if plan.unique.is_empty() {
            return Ok(Vec::new());
        }
        let position: HashMap<(&str, &str), usize> = plan
            .unique
            .iter()
            .enumerate()
            .map(|(n, d)| ((d.hook_id.as_str(), d.delivery_id.as_str()), n))
            .collect();
        let mut stored: Vec<Option<Inserted>> = vec![None; plan.unique.len()];
        let now = micros(now());
        // One write transaction, one commit: with `synchronous = FULL` that is one fsync of
        // the WAL for the whole batch. Rows go in multi-row INSERTs of power-of-two sizes
        // (few statements per batch, each prepared once per connection and cached): every
        // statement is a round trip to the connection's thread, which is what a per-row
        // INSERT loop spends its time on.
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        let mut start = 0;
        while start < plan.unique.len() {
            let left = plan.unique.len() - start;
            let size = 1usize << (usize::BITS - 1 - left.min(MAX_ROWS).leading_zeros());
            let chunk = start..start + size;
            start += size;
            let mut sql = String::from(
                "INSERT INTO deliveries (hook_id, delivery_id, event, action, installation_id, \
                 repo, issue_key, body, body_sha256, status, note, received_at, updated_at, \
                 next_attempt_at) VALUES ",
            );
            for n in 0..size {
                let p = n * 11;
                if n > 0 {
                    sql.push_str(", ");
                }
                sql.push_str(&format!(
                    "(?{}, ?{}, ?{}, ?{}, ?{}, ?{}, ?{}, ?{}, ?{}, ?{}, ?{}, ?1, ?1, ?1)",
                    p + 2,
                    p + 3,
                    p + 4,
                    p + 5,
                    p + 6,
                    p + 7,
                    p + 8,
                    p + 9,
                    p + 10,
                    p + 11,
                    p + 12
                ));
            }
            // No conflict target: a clash on either unique key stores nothing.
            sql.push_str(" ON CONFLICT DO NOTHING RETURNING id, hook_id, delivery_id");
            let mut query =
                sqlx::query_as::<_, (i64, String, String)>(sqlx::AssertSqlSafe(sql)).bind(now);
            for n in chunk {
                let delivery = plan.unique[n];
                query = query
                    .bind(&delivery.hook_id)
                    .bind(&delivery.delivery_id)
                    .bind(&delivery.event)
                    .bind(&delivery.action)
                    .bind(delivery.installation_id)
                    .bind(&delivery.repo)
                    .bind(&delivery.issue_key)
                    .bind(&delivery.body)
                    .bind(&plan.hashes[n])
                    .bind(delivery.status.as_str())
                    .bind(&delivery.note);
            }
            for (id, hook, guid) in query.fetch_all(&mut *tx).await? {
                if let Some(&n) = position.get(&(hook.as_str(), guid.as_str())) {
                    stored[n] = Some(Inserted::New(id));
                }
            }
        }
        // Stored before this batch (same key or same body): duplicates (one lookup each).
        let mut answers = Vec::with_capacity(stored.len());
        for (n, answer) in stored.into_iter().enumerate() {
            answers.push(match answer {
                Some(answer) => answer,
                None => {
                    Inserted::Duplicate(stored_id(&mut tx, plan.unique[n], &plan.hashes[n]).await?)
                }
            });
        }
        tx.commit().await?;
        Ok(plan.answers(&answers))
    }

    async fn claim_delivery(&self, worker: &str, lease: Duration) -> StoreResult<Option<Delivery>> {
        let now = now();
        let until = after(now, lease)?;
        // One statement under the write lock: no other claim runs between the choice and the
        // update, so the issue check cannot race.
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        let row = sqlx::query(concat!(
            "UPDATE deliveries SET status = 'processing', lease_owner = ?1, lease_until = ?2, \
             attempts = attempts + 1, updated_at = ?3 \
             WHERE id = (\
               SELECT d.id FROM deliveries d \
               WHERE ((d.status = 'pending' AND d.next_attempt_at <= ?3) \
                      OR (d.status = 'processing' AND d.lease_until <= ?3)) \
                 AND (d.issue_key IS NULL OR NOT EXISTS (\
                   SELECT 1 FROM deliveries o \
                   WHERE o.issue_key = d.issue_key AND o.id <> d.id \
                     AND o.status = 'processing' AND o.lease_until > ?3)) \
               ORDER BY d.id LIMIT 1) \
             RETURNING ",
            delivery_columns!()
        ))
        .bind(worker)
        .bind(micros(until))
        .bind(micros(now))
        .fetch_optional(&mut *tx)
        .await?;
        let delivery = row.as_ref().map(delivery_from_row).transpose()?;
        tx.commit().await?;
        Ok(delivery)
    }

    async fn renew_delivery(&self, id: i64, worker: &str, lease: Duration) -> StoreResult<bool> {
        let now = now();
        let until = after(now, lease)?;
        // Only a live lease is renewed: once it ran out, another delivery of the issue may
        // have been claimed, and renewing would make two live leases.
        let done = sqlx::query(
            "UPDATE deliveries SET lease_until = ?3, updated_at = ?4 \
             WHERE id = ?1 AND lease_owner = ?2 AND status = 'processing' AND lease_until > ?4",
        )
        .bind(id)
        .bind(worker)
        .bind(micros(until))
        .bind(micros(now))
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn complete_delivery(&self, id: i64, worker: &str, note: &str) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE deliveries SET status = 'done', note = ?3, last_error = NULL, lease_owner = NULL, \
             lease_until = NULL, updated_at = ?4 \
             WHERE id = ?1 AND lease_owner = ?2 AND status = 'processing'",
        )
        .bind(id)
        .bind(worker)
        .bind(note)
        .bind(micros(now()))
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn fail_delivery(
        &self,
        id: i64,
        worker: &str,
        error: &str,
        retry_at: Option<Timestamp>,
    ) -> StoreResult<bool> {
        let now = now();
        let (status, next) = match retry_at {
            Some(at) => (DeliveryStatus::Pending, micros(at)),
            None => (DeliveryStatus::Dead, micros(now)),
        };
        let done = sqlx::query(
            "UPDATE deliveries SET status = ?3, last_error = ?4, next_attempt_at = ?5, \
             lease_owner = NULL, lease_until = NULL, updated_at = ?6 \
             WHERE id = ?1 AND lease_owner = ?2 AND status = 'processing'",
        )
        .bind(id)
        .bind(worker)
        .bind(status.as_str())
        .bind(error)
        .bind(next)
        .bind(micros(now))
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn release_delivery(&self, id: i64, worker: &str) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE deliveries SET status = 'pending', attempts = MAX(attempts - 1, 0), \
             lease_owner = NULL, lease_until = NULL, updated_at = ?3 \
             WHERE id = ?1 AND lease_owner = ?2 AND status = 'processing'",
        )
        .bind(id)
        .bind(worker)
        .bind(micros(now()))
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn list_deliveries(
        &self,
        status: Option<DeliveryStatus>,
        limit: i64,
    ) -> StoreResult<Vec<Delivery>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            delivery_columns!(),
            " FROM deliveries WHERE (?1 IS NULL OR status = ?1) ORDER BY id DESC LIMIT ?2"
        ))
        .bind(status.map(|s| s.as_str()))
        .bind(limit.max(0))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(delivery_from_row).collect()
    }

    async fn get_delivery(&self, id_or_guid: &str) -> StoreResult<Option<Delivery>> {
        let row = match id_or_guid.parse::<i64>() {
            Ok(id) => {
                sqlx::query(concat!(
                    "SELECT ",
                    delivery_columns!(),
                    " FROM deliveries WHERE id = ?1"
                ))
                .bind(id)
                .fetch_optional(&self.pool)
                .await?
            }
            Err(_) => {
                sqlx::query(concat!(
                    "SELECT ",
                    delivery_columns!(),
                    " FROM deliveries WHERE delivery_id = ?1 ORDER BY id DESC LIMIT 1"
                ))
                .bind(id_or_guid)
                .fetch_optional(&self.pool)
                .await?
            }
        };
        row.as_ref().map(delivery_from_row).transpose()
    }

    async fn retry_delivery(&self, id: i64) -> StoreResult<bool> {
        let now = micros(now());
        let done = sqlx::query(
            "UPDATE deliveries SET status = 'pending', attempts = 0, next_attempt_at = ?2, \
             lease_owner = NULL, lease_until = NULL, updated_at = ?2 \
             WHERE id = ?1 AND NOT (status = 'processing' AND lease_until > ?2)",
        )
        .bind(id)
        .bind(now)
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn drop_installation(&self, installation_id: i64) -> StoreResult<u64> {
        let done = sqlx::query(
            "UPDATE deliveries SET status = 'dropped', updated_at = ?2 \
             WHERE installation_id = ?1 AND status = 'pending'",
        )
        .bind(installation_id)
        .bind(micros(now()))
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected())
    }

    async fn queue_depth(&self) -> StoreResult<i64> {
        Ok(sqlx::query_scalar(
            "SELECT COUNT(*) FROM deliveries WHERE status IN ('pending', 'processing')",
        )
        .fetch_one(&self.pool)
        .await?)
    }

    // ---- tracked sessions ---------------------------------------------------------------

    async fn upsert_session(&self, s: &TrackedSession) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO sessions (name, repo, issue, installation_id, status_comment_id, \
             requester, state, update_time, last_activity_time, active, created_at, checked_at, \
             on_pull) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13) \
             ON CONFLICT (name) DO UPDATE SET repo = excluded.repo, issue = excluded.issue, \
             installation_id = excluded.installation_id, \
             status_comment_id = excluded.status_comment_id, requester = excluded.requester, \
             state = excluded.state, update_time = excluded.update_time, \
             last_activity_time = excluded.last_activity_time, active = excluded.active, \
             created_at = excluded.created_at, checked_at = excluded.checked_at, \
             on_pull = excluded.on_pull",
        )
        .bind(&s.name)
        .bind(&s.repo)
        .bind(s.issue)
        .bind(s.installation_id)
        .bind(s.status_comment_id)
        .bind(&s.requester)
        .bind(&s.state)
        .bind(s.update_time.map(micros))
        .bind(s.last_activity_time.map(micros))
        .bind(s.active)
        .bind(micros(s.created_at))
        .bind(s.checked_at.map(micros))
        .bind(s.on_pull)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn record_progress(&self, s: &TrackedSession) -> StoreResult<()> {
        sqlx::query(
            "UPDATE sessions SET state = ?2, update_time = ?3, last_activity_time = ?4, \
             status_comment_id = COALESCE(?5, status_comment_id), active = active AND ?6, \
             checked_at = ?7 WHERE name = ?1",
        )
        .bind(&s.name)
        .bind(&s.state)
        .bind(s.update_time.map(micros))
        .bind(s.last_activity_time.map(micros))
        .bind(s.status_comment_id)
        .bind(s.active)
        .bind(s.checked_at.map(micros))
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn get_session(&self, name: &str) -> StoreResult<Option<TrackedSession>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            session_columns!(),
            " FROM sessions WHERE name = ?1"
        ))
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(session_from_row).transpose()
    }

    async fn active_sessions(&self) -> StoreResult<Vec<TrackedSession>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            session_columns!(),
            " FROM sessions WHERE active ORDER BY created_at, seq"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(session_from_row).collect()
    }

    async fn session_for_issue(
        &self,
        repo: &str,
        issue: i64,
    ) -> StoreResult<Option<TrackedSession>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            session_columns!(),
            " FROM sessions WHERE repo = ?1 AND issue = ?2 \
             ORDER BY created_at DESC, seq DESC LIMIT 1"
        ))
        .bind(repo)
        .bind(issue)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(session_from_row).transpose()
    }

    async fn deactivate_issue(&self, repo: &str, issue: i64) -> StoreResult<Vec<TrackedSession>> {
        let rows = sqlx::query(concat!(
            "UPDATE sessions SET active = 0 WHERE repo = ?1 AND issue = ?2 AND active \
             RETURNING seq, ",
            session_columns!()
        ))
        .bind(repo)
        .bind(issue)
        .fetch_all(&self.writer)
        .await?;
        let mut sessions = rows
            .iter()
            .map(|row| Ok((row.try_get::<i64, _>("seq")?, session_from_row(row)?)))
            .collect::<StoreResult<Vec<_>>>()?;
        sessions.sort_by_key(|(seq, s)| (s.created_at, *seq));
        Ok(sessions.into_iter().map(|(_, s)| s).collect())
    }

    async fn deactivate_installation(&self, installation_id: i64) -> StoreResult<u64> {
        let done =
            sqlx::query("UPDATE sessions SET active = 0 WHERE installation_id = ?1 AND active")
                .bind(installation_id)
                .execute(&self.writer)
                .await?;
        Ok(done.rows_affected())
    }

    async fn count_running(&self, repo: Option<&str>) -> StoreResult<i64> {
        Ok(sqlx::query_scalar(
            "SELECT COUNT(*) FROM sessions \
             WHERE (?1 IS NULL OR repo = ?1) AND active AND state NOT IN ('COMPLETED', 'FAILED')",
        )
        .bind(repo)
        .fetch_one(&self.pool)
        .await?)
    }

    async fn count_created_since(&self, repo: Option<&str>, since: Timestamp) -> StoreResult<i64> {
        Ok(sqlx::query_scalar(
            "SELECT COUNT(*) FROM sessions WHERE (?1 IS NULL OR repo = ?1) AND created_at >= ?2",
        )
        .bind(repo)
        .bind(micros(since))
        .fetch_one(&self.pool)
        .await?)
    }

    async fn record_relayed(
        &self,
        session: &str,
        activity_id: &str,
        kind: &str,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "INSERT INTO relayed (session, activity_id, kind, relayed_at) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (session, activity_id) DO NOTHING",
        )
        .bind(session)
        .bind(activity_id)
        .bind(kind)
        .bind(micros(now()))
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn record_reply(&self, delivery_id: i64, key: &str) -> StoreResult<bool> {
        let done = sqlx::query(
            "INSERT INTO replies (delivery_id, reply_key, created_at) VALUES (?1, ?2, ?3) \
             ON CONFLICT (delivery_id, reply_key) DO NOTHING",
        )
        .bind(delivery_id)
        .bind(key)
        .bind(micros(now()))
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn forget_reply(&self, delivery_id: i64, key: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM replies WHERE delivery_id = ?1 AND reply_key = ?2")
            .bind(delivery_id)
            .bind(key)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    // ---- queued requests ----------------------------------------------------------------

    async fn enqueue_request(
        &self,
        repo: &str,
        issue: i64,
        delivery_id: i64,
    ) -> StoreResult<QueuedRequest> {
        let row = sqlx::query(
            "INSERT INTO queued_requests (repo, issue, delivery_id, created_at) \
             VALUES (?1, ?2, ?3, ?4) RETURNING id, repo, issue, delivery_id, created_at",
        )
        .bind(repo)
        .bind(issue)
        .bind(delivery_id)
        .bind(micros(now()))
        .fetch_one(&self.writer)
        .await?;
        queued_from_row(&row)
    }

    async fn queue_position(&self, id: i64) -> StoreResult<Option<i64>> {
        Ok(sqlx::query_scalar(
            "SELECT (SELECT COUNT(*) FROM queued_requests o WHERE o.repo = q.repo AND o.id <= q.id) \
             FROM queued_requests q WHERE q.id = ?1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn pop_queued(&self, repo: &str) -> StoreResult<Option<QueuedRequest>> {
        let row = sqlx::query(
            "DELETE FROM queued_requests WHERE id = \
             (SELECT id FROM queued_requests WHERE repo = ?1 ORDER BY id LIMIT 1) \
             RETURNING id, repo, issue, delivery_id, created_at",
        )
        .bind(repo)
        .fetch_optional(&self.writer)
        .await?;
        row.as_ref().map(queued_from_row).transpose()
    }

    async fn queued_repos(&self) -> StoreResult<Vec<String>> {
        Ok(
            sqlx::query_scalar("SELECT DISTINCT repo FROM queued_requests ORDER BY repo")
                .fetch_all(&self.pool)
                .await?,
        )
    }

    // ---- leases -------------------------------------------------------------------------

    async fn spend_call(
        &self,
        budget: &str,
        limit: u32,
        window: Duration,
    ) -> StoreResult<Option<Timestamp>> {
        let now = now();
        let since = micros(now) - i64::try_from(window.as_micros()).unwrap_or(i64::MAX);
        // One writer connection: the count and the insert cannot interleave with another's.
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        sqlx::query("DELETE FROM jules_calls WHERE budget = ?1 AND at <= ?2")
            .bind(budget)
            .bind(since)
            .execute(&mut *tx)
            .await?;
        let (spent, oldest): (i64, Option<i64>) =
            sqlx::query_as("SELECT COUNT(*), MIN(at) FROM jules_calls WHERE budget = ?1")
                .bind(budget)
                .fetch_one(&mut *tx)
                .await?;
        if spent >= i64::from(limit) {
            tx.rollback().await?;
            let oldest = oldest.unwrap_or_else(|| micros(now));
            let free_at = oldest.saturating_add(i64::try_from(window.as_micros()).unwrap_or(0));
            return Ok(Some(from_micros(free_at)?));
        }
        sqlx::query("INSERT INTO jules_calls (budget, at) VALUES (?1, ?2)")
            .bind(budget)
            .bind(micros(now))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(None)
    }

    async fn try_lease(&self, key: &str, owner: &str, ttl: Duration) -> StoreResult<bool> {
        let now = now();
        let until = after(now, ttl)?;
        let done = sqlx::query(
            "INSERT INTO leases (key, owner, expires_at) VALUES (?1, ?2, ?3) \
             ON CONFLICT (key) DO UPDATE SET owner = excluded.owner, \
             expires_at = excluded.expires_at \
             WHERE leases.owner = excluded.owner OR leases.expires_at <= ?4",
        )
        .bind(key)
        .bind(owner)
        .bind(micros(until))
        .bind(micros(now))
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn release_lease(&self, key: &str, owner: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM leases WHERE key = ?1 AND owner = ?2")
            .bind(key)
            .bind(owner)
            .execute(&self.writer)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::MIGRATIONS;

    /// Every file under `migrations/sqlite` is embedded, under its version.
    #[test]
    fn every_migration_file_is_embedded() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/sqlite");
        let mut files: Vec<(i64, String)> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|name| name.ends_with(".sql"))
            .map(|name| {
                let (version, _) = name.split_once('_').unwrap();
                (version.parse().unwrap(), name)
            })
            .collect();
        files.sort();
        let embedded: Vec<i64> = MIGRATIONS.iter().map(|m| m.0).collect();
        let on_disk: Vec<i64> = files.iter().map(|f| f.0).collect();
        assert_eq!(embedded, on_disk, "files: {files:?}");
    }
}
