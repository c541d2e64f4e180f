//! The shared engine: PostgreSQL, for several replicas sharing the work.
//!
//! Timestamps are TIMESTAMPTZ written from the application clock (bound as parameters, at
//! microsecond precision), the same clock the SQLite engine uses, so both behave alike.
//!
//! Claiming is the delicate part: see `claim_delivery` below for why it takes an advisory
//! lock on the issue on top of `FOR UPDATE SKIP LOCKED`.

use std::borrow::Cow;
use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{SubsecRound, TimeDelta, Utc};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::{Row, SqlSafeStr};

use super::{
    BatchPlan, Delivery, DeliveryStatus, Inserted, NewDelivery, QueuedRequest, Store, StoreError,
    StoreResult, Timestamp, TrackedSession,
};

/// The embedded migrations: `migrations/postgres/<version>_<description>.sql`, compiled into
/// the binary. A new file must be listed here too (a unit test checks the directory).
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "init",
        include_str!("../../migrations/postgres/0001_init.sql"),
    ),
    (
        2,
        "body sha256",
        include_str!("../../migrations/postgres/0002_body_sha256.sql"),
    ),
    (
        3,
        "replies",
        include_str!("../../migrations/postgres/0003_replies.sql"),
    ),
    (
        4,
        "jules calls",
        include_str!("../../migrations/postgres/0004_jules_calls.sql"),
    ),
    (
        5,
        "session on a pull request",
        include_str!("../../migrations/postgres/0005_on_pull.sql"),
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

/// Connections per process.
const MAX_CONNECTIONS: u32 = 10;

/// The first key of the two-key advisory locks taken on issue keys (`hashtext` of the schema
/// and the issue key is the second): keeps them apart from other users of advisory locks in
/// the database (sqlx's migration lock uses the single-bigint form, a separate key space
/// anyway). Advisory locks are database-wide, so the schema is part of the key: bridges (or
/// test runs) in other schemas of one database never hold each other's issues.
const ISSUE_LOCK_SPACE: i32 = 0x4a42_0001;

/// The first key of the advisory locks that serialise spending from one request budget.
const BUDGET_LOCK_SPACE: i32 = 0x4a42_0002;

/// How many candidates one `claim_delivery` call tries before reporting nothing claimable
/// (each miss excludes an issue that another claimer is working on right now).
const CLAIM_ROUNDS: usize = 32;

/// The PostgreSQL store.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    /// Connects to `url` (`postgres://...`). Does not migrate.
    pub async fn connect(url: &str) -> StoreResult<Self> {
        let options = PgConnectOptions::from_str(url)?;
        Self::connect_with(options).await
    }

    /// Connects to `url` with `search_path` set to `schema` on every connection, creating the
    /// schema if it does not exist; the tables (and the migrations table) then live in it.
    ///
    /// A test and operations helper: tests give each run its own schema so they can run in
    /// parallel against one database and never see each other's (or an old run's) rows.
    /// `schema` must be a plain identifier (ASCII letters, digits, `_`).
    pub async fn connect_with_schema(url: &str, schema: &str) -> StoreResult<Self> {
        let valid = schema
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && schema.len() <= 63
            && schema
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(StoreError::Invalid(format!(
                "not a plain schema name: {schema:?}"
            )));
        }
        let options = PgConnectOptions::from_str(url)?;
        let store = Self::connect_with(options.options([("search_path", schema)])).await?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "CREATE SCHEMA IF NOT EXISTS \"{schema}\""
        )))
        .execute(&store.pool)
        .await?;
        Ok(store)
    }

    async fn connect_with(options: PgConnectOptions) -> StoreResult<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .connect_with(options)
            .await?;
        Ok(PostgresStore { pool })
    }

    /// The underlying pool (for tests and operator tooling).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

// ---- conversions ----------------------------------------------------------------------------

/// The application clock, at the storage precision (microseconds).
fn now() -> Timestamp {
    Utc::now().trunc_subsecs(6)
}

fn after(t: Timestamp, d: Duration) -> StoreResult<Timestamp> {
    TimeDelta::from_std(d)
        .ok()
        .and_then(|d| t.checked_add_signed(d))
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

/// The candidate `d` must wait for its issue: another delivery of the issue holds a live
/// lease at `$now`, or an older one is claimable too (it goes first, so one issue's events
/// are handled in the order received, as on SQLite where claims are fully serialised).
macro_rules! issue_blocked {
    ($now:literal) => {
        concat!(
            "EXISTS (SELECT 1 FROM deliveries o WHERE o.issue_key = d.issue_key AND o.id <> d.id \
             AND ((o.status = 'processing' AND o.lease_until > ",
            $now,
            ") OR (o.id < d.id AND ((o.status = 'pending' AND o.next_attempt_at <= ",
            $now,
            ") OR (o.status = 'processing' AND o.lease_until <= ",
            $now,
            ")))))"
        )
    };
}

fn delivery_from_row(row: &PgRow) -> StoreResult<Delivery> {
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
        received_at: row.try_get("received_at")?,
        updated_at: row.try_get("updated_at")?,
        next_attempt_at: row.try_get("next_attempt_at")?,
    })
}

fn session_from_row(row: &PgRow) -> StoreResult<TrackedSession> {
    Ok(TrackedSession {
        name: row.try_get("name")?,
        repo: row.try_get("repo")?,
        issue: row.try_get("issue")?,
        installation_id: row.try_get("installation_id")?,
        status_comment_id: row.try_get("status_comment_id")?,
        requester: row.try_get("requester")?,
        state: row.try_get("state")?,
        update_time: row.try_get("update_time")?,
        last_activity_time: row.try_get("last_activity_time")?,
        active: row.try_get("active")?,
        created_at: row.try_get("created_at")?,
        checked_at: row.try_get("checked_at")?,
        on_pull: row.try_get("on_pull")?,
    })
}

fn queued_from_row(row: &PgRow) -> StoreResult<QueuedRequest> {
    Ok(QueuedRequest {
        id: row.try_get("id")?,
        repo: row.try_get("repo")?,
        issue: row.try_get("issue")?,
        delivery_id: row.try_get("delivery_id")?,
        created_at: row.try_get("created_at")?,
    })
}

#[async_trait]
impl Store for PostgresStore {
    async fn migrate(&self) -> StoreResult<()> {
        migrator().run(&self.pool).await?;
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
        let hash = delivery.body_sha256();
        // No conflict target: a clash on either unique key, (hook id, delivery id) or the
        // body hash, stores nothing.
        let id: Option<i64> = sqlx::query_scalar(
            "INSERT INTO deliveries (hook_id, delivery_id, event, action, installation_id, repo, \
             issue_key, body, body_sha256, status, note, received_at, updated_at, \
             next_attempt_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12, $12) \
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
        .bind(now())
        .fetch_optional(&self.pool)
        .await?;
        match id {
            Some(id) => Ok(Inserted::New(id)),
            // ON CONFLICT waited for a concurrent insert of the same key or body to commit;
            // this statement's snapshot is newer, so it sees that row. The key wins (a
            // redelivery), else the body (a replay under another key).
            None => {
                let id: Option<i64> = sqlx::query_scalar(
                    "SELECT COALESCE(\
                       (SELECT id FROM deliveries WHERE hook_id = $1 AND delivery_id = $2), \
                       (SELECT id FROM deliveries WHERE body_sha256 = $3))",
                )
                .bind(&delivery.hook_id)
                .bind(&delivery.delivery_id)
                .bind(&hash)
                .fetch_one(&self.pool)
                .await?;
                id.map(Inserted::Duplicate).ok_or_else(|| {
                    StoreError::Invalid(format!(
                        "delivery {} was neither inserted nor found",
                        delivery.delivery_id
                    ))
                })
            }
        }
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
        // only first occurrences are sent (one INSERT must not meet the same key twice).
        let plan = BatchPlan::new(batch);
        let unique = &plan.unique;
        if unique.is_empty() {
            return Ok(Vec::new());
        }
        let hook_ids: Vec<&str> = unique.iter().map(|d| d.hook_id.as_str()).collect();
        let guids: Vec<&str> = unique.iter().map(|d| d.delivery_id.as_str()).collect();
        let events: Vec<&str> = unique.iter().map(|d| d.event.as_str()).collect();
        let actions: Vec<Option<&str>> = unique.iter().map(|d| d.action.as_deref()).collect();
        let installations: Vec<Option<i64>> = unique.iter().map(|d| d.installation_id).collect();
        let repos: Vec<Option<&str>> = unique.iter().map(|d| d.repo.as_deref()).collect();
        let issue_keys: Vec<Option<&str>> = unique.iter().map(|d| d.issue_key.as_deref()).collect();
        let bodies: Vec<&[u8]> = unique.iter().map(|d| d.body.as_slice()).collect();
        let hashes: Vec<&str> = plan.hashes.iter().map(String::as_str).collect();
        let statuses: Vec<&str> = unique.iter().map(|d| d.status.as_str()).collect();
        let notes: Vec<Option<&str>> = unique.iter().map(|d| d.note.as_deref()).collect();

        // One multi-row INSERT (one round trip) in one transaction (one WAL flush at commit).
        // No conflict target: a clash on either unique key stores nothing.
        let mut tx = self.pool.begin().await?;
        let inserted: Vec<(i64, String, String)> = sqlx::query_as(
            "INSERT INTO deliveries (hook_id, delivery_id, event, action, installation_id, repo, \
             issue_key, body, body_sha256, status, note, received_at, updated_at, \
             next_attempt_at) \
             SELECT hook_id, delivery_id, event, action, installation_id, repo, issue_key, body, \
                    body_sha256, status, note, $12, $12, $12 \
             FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], \
                         $6::text[], $7::text[], $8::bytea[], $9::text[], $10::text[], \
                         $11::text[]) \
                  WITH ORDINALITY AS t(hook_id, delivery_id, event, action, installation_id, \
                                       repo, issue_key, body, body_sha256, status, note, ord) \
             ORDER BY ord \
             ON CONFLICT DO NOTHING RETURNING id, hook_id, delivery_id",
        )
        .bind(&hook_ids)
        .bind(&guids)
        .bind(&events)
        .bind(&actions)
        .bind(&installations)
        .bind(&repos)
        .bind(&issue_keys)
        .bind(&bodies)
        .bind(&hashes)
        .bind(&statuses)
        .bind(&notes)
        .bind(now())
        .fetch_all(&mut *tx)
        .await?;
        let position: HashMap<(&str, &str), usize> = hook_ids
            .iter()
            .zip(&guids)
            .enumerate()
            .map(|(n, (&hook, &guid))| ((hook, guid), n))
            .collect();
        let mut stored: Vec<Option<Inserted>> = vec![None; unique.len()];
        for (id, hook, guid) in inserted {
            if let Some(&n) = position.get(&(hook.as_str(), guid.as_str())) {
                stored[n] = Some(Inserted::New(id));
            }
        }
        let missing: Vec<usize> = (0..unique.len()).filter(|&n| stored[n].is_none()).collect();
        if !missing.is_empty() {
            // Stored before (or by a concurrent insert that ON CONFLICT waited for; this
            // statement's snapshot is newer, so it sees that row): the one with the key (a
            // redelivery), else the one with the body (a replay under another key).
            let (hooks, guids): (Vec<&str>, Vec<&str>) =
                missing.iter().map(|&n| (hook_ids[n], guids[n])).unzip();
            let missing_hashes: Vec<&str> = missing.iter().map(|&n| hashes[n]).collect();
            let existing: Vec<(i64, Option<i64>)> = sqlx::query_as(
                "SELECT k.ord, COALESCE(\
                   (SELECT d.id FROM deliveries d \
                    WHERE d.hook_id = k.hook_id AND d.delivery_id = k.delivery_id), \
                   (SELECT d.id FROM deliveries d WHERE d.body_sha256 = k.body_sha256)) \
                 FROM UNNEST($1::text[], $2::text[], $3::text[]) \
                      WITH ORDINALITY AS k(hook_id, delivery_id, body_sha256, ord)",
            )
            .bind(&hooks)
            .bind(&guids)
            .bind(&missing_hashes)
            .fetch_all(&mut *tx)
            .await?;
            for (ord, id) in existing {
                let n = usize::try_from(ord - 1)
                    .ok()
                    .and_then(|m| missing.get(m).copied());
                if let (Some(n), Some(id)) = (n, id) {
                    stored[n] = Some(Inserted::Duplicate(id));
                }
            }
        }
        tx.commit().await?;

        let answers = stored
            .into_iter()
            .enumerate()
            .map(|(n, answer)| {
                answer.ok_or_else(|| {
                    StoreError::Invalid(format!(
                        "delivery {} was neither inserted nor found",
                        unique[n].delivery_id
                    ))
                })
            })
            .collect::<StoreResult<Vec<Inserted>>>()?;
        Ok(plan.answers(&answers))
    }

    /// Each round is one short transaction:
    ///
    /// 1. pick the oldest claimable row with `FOR UPDATE SKIP LOCKED` (replicas racing for
    ///    the same row skip to the next one instead of waiting);
    /// 2. for a row with an issue key, `pg_try_advisory_xact_lock` on the issue;
    /// 3. update it, re-checking in the UPDATE that no other delivery of the issue holds a
    ///    live lease (nor is older and claimable: an issue's deliveries go in order).
    ///
    /// Why the advisory lock: SKIP LOCKED only keeps two claimers off the *same row*. Two
    /// claimers can pick two different deliveries of one issue at once, and in READ COMMITTED
    /// the "no live sibling" check of step 1 reads a snapshot taken before the other claim
    /// committed, so both would pass it. The advisory lock serialises claims per issue, and
    /// the step-3 statement starts after the lock is held, so its snapshot includes any claim
    /// of that issue that committed before (locks are released only after the commit is
    /// visible). `try` never waits, so there is no deadlock; if the issue is busy, the round
    /// gives up the row and the next round excludes that issue. The lock is transaction
    /// scoped, so nothing leaks if a connection dies.
    async fn claim_delivery(&self, worker: &str, lease: Duration) -> StoreResult<Option<Delivery>> {
        let mut busy_issues: Vec<String> = Vec::new();
        for _ in 0..CLAIM_ROUNDS {
            let now = now();
            let until = after(now, lease)?;
            let mut tx = self.pool.begin().await?;
            let candidate: Option<(i64, Option<String>)> = sqlx::query_as(concat!(
                "SELECT d.id, d.issue_key FROM deliveries d \
                 WHERE ((d.status = 'pending' AND d.next_attempt_at <= $1) \
                        OR (d.status = 'processing' AND d.lease_until <= $1)) \
                   AND (d.issue_key IS NULL OR (d.issue_key <> ALL($2) AND NOT ",
                issue_blocked!("$1"),
                ")) ORDER BY d.id LIMIT 1 FOR UPDATE OF d SKIP LOCKED"
            ))
            .bind(now)
            .bind(&busy_issues)
            .fetch_optional(&mut *tx)
            .await?;
            let Some((id, issue_key)) = candidate else {
                tx.rollback().await?;
                return Ok(None);
            };
            if let Some(key) = &issue_key {
                let locked: bool = sqlx::query_scalar(
                    "SELECT pg_try_advisory_xact_lock($1, hashtext(current_schema() || ':' || $2))",
                )
                .bind(ISSUE_LOCK_SPACE)
                .bind(key)
                .fetch_one(&mut *tx)
                .await?;
                if !locked {
                    tx.rollback().await?;
                    busy_issues.push(key.clone());
                    continue;
                }
            }
            let row = sqlx::query(concat!(
                "UPDATE deliveries d SET status = 'processing', lease_owner = $2, \
                 lease_until = $3, attempts = d.attempts + 1, updated_at = $4 \
                 WHERE d.id = $1 AND (d.issue_key IS NULL OR NOT ",
                issue_blocked!("$4"),
                ") RETURNING ",
                delivery_columns!()
            ))
            .bind(id)
            .bind(worker)
            .bind(until)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?;
            match row {
                Some(row) => {
                    let delivery = delivery_from_row(&row)?;
                    tx.commit().await?;
                    return Ok(Some(delivery));
                }
                None => {
                    // Another delivery of the issue was claimed (or became claimable) after step 1's
                    // snapshot.
                    tx.rollback().await?;
                    busy_issues.extend(issue_key);
                }
            }
        }
        Ok(None)
    }

    /// Takes the issue's advisory lock (waiting: claims hold it only briefly) before reading
    /// the clock, so a renewal cannot revive a lease that a concurrent claim of another
    /// delivery of the issue already saw as expired.
    async fn renew_delivery(&self, id: i64, worker: &str, lease: Duration) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await?;
        let issue_key: Option<Option<String>> = sqlx::query_scalar(
            "SELECT issue_key FROM deliveries \
             WHERE id = $1 AND lease_owner = $2 AND status = 'processing'",
        )
        .bind(id)
        .bind(worker)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(issue_key) = issue_key else {
            tx.rollback().await?;
            return Ok(false);
        };
        if let Some(key) = &issue_key {
            sqlx::query(
                "SELECT pg_advisory_xact_lock($1, hashtext(current_schema() || ':' || $2))",
            )
            .bind(ISSUE_LOCK_SPACE)
            .bind(key)
            .execute(&mut *tx)
            .await?;
        }
        let now = now();
        let until = after(now, lease)?;
        // Only a live lease is renewed: once it ran out, another delivery of the issue may
        // have been claimed, and renewing would make two live leases.
        let done = sqlx::query(
            "UPDATE deliveries SET lease_until = $3, updated_at = $4 \
             WHERE id = $1 AND lease_owner = $2 AND status = 'processing' AND lease_until > $4",
        )
        .bind(id)
        .bind(worker)
        .bind(until)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    async fn complete_delivery(&self, id: i64, worker: &str, note: &str) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE deliveries SET status = 'done', note = $3, last_error = NULL, lease_owner = NULL, \
             lease_until = NULL, updated_at = $4 \
             WHERE id = $1 AND lease_owner = $2 AND status = 'processing'",
        )
        .bind(id)
        .bind(worker)
        .bind(note)
        .bind(now())
        .execute(&self.pool)
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
            Some(at) => (DeliveryStatus::Pending, at),
            None => (DeliveryStatus::Dead, now),
        };
        let done = sqlx::query(
            "UPDATE deliveries SET status = $3, last_error = $4, next_attempt_at = $5, \
             lease_owner = NULL, lease_until = NULL, updated_at = $6 \
             WHERE id = $1 AND lease_owner = $2 AND status = 'processing'",
        )
        .bind(id)
        .bind(worker)
        .bind(status.as_str())
        .bind(error)
        .bind(next)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn release_delivery(&self, id: i64, worker: &str) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE deliveries SET status = 'pending', attempts = GREATEST(attempts - 1, 0), \
             lease_owner = NULL, lease_until = NULL, updated_at = $3 \
             WHERE id = $1 AND lease_owner = $2 AND status = 'processing'",
        )
        .bind(id)
        .bind(worker)
        .bind(now())
        .execute(&self.pool)
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
            " FROM deliveries WHERE ($1::text IS NULL OR status = $1) ORDER BY id DESC LIMIT $2"
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
                    " FROM deliveries WHERE id = $1"
                ))
                .bind(id)
                .fetch_optional(&self.pool)
                .await?
            }
            Err(_) => {
                sqlx::query(concat!(
                    "SELECT ",
                    delivery_columns!(),
                    " FROM deliveries WHERE delivery_id = $1 ORDER BY id DESC LIMIT 1"
                ))
                .bind(id_or_guid)
                .fetch_optional(&self.pool)
                .await?
            }
        };
        row.as_ref().map(delivery_from_row).transpose()
    }

    async fn retry_delivery(&self, id: i64) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE deliveries SET status = 'pending', attempts = 0, next_attempt_at = $2, \
             lease_owner = NULL, lease_until = NULL, updated_at = $2 \
             WHERE id = $1 AND NOT (status = 'processing' AND lease_until > $2)",
        )
        .bind(id)
        .bind(now())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn drop_installation(&self, installation_id: i64) -> StoreResult<u64> {
        let done = sqlx::query(
            "UPDATE deliveries SET status = 'dropped', updated_at = $2 \
             WHERE installation_id = $1 AND status = 'pending'",
        )
        .bind(installation_id)
        .bind(now())
        .execute(&self.pool)
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
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
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
        .bind(s.update_time)
        .bind(s.last_activity_time)
        .bind(s.active)
        .bind(s.created_at)
        .bind(s.checked_at)
        .bind(s.on_pull)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn record_progress(&self, s: &TrackedSession) -> StoreResult<()> {
        sqlx::query(
            "UPDATE sessions SET state = $2, update_time = $3, last_activity_time = $4, \
             status_comment_id = COALESCE($5, status_comment_id), active = active AND $6, \
             checked_at = $7 WHERE name = $1",
        )
        .bind(&s.name)
        .bind(&s.state)
        .bind(s.update_time)
        .bind(s.last_activity_time)
        .bind(s.status_comment_id)
        .bind(s.active)
        .bind(s.checked_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn get_session(&self, name: &str) -> StoreResult<Option<TrackedSession>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            session_columns!(),
            " FROM sessions WHERE name = $1"
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
            " FROM sessions WHERE repo = $1 AND issue = $2 \
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
            "UPDATE sessions SET active = FALSE WHERE repo = $1 AND issue = $2 AND active \
             RETURNING seq, ",
            session_columns!()
        ))
        .bind(repo)
        .bind(issue)
        .fetch_all(&self.pool)
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
            sqlx::query("UPDATE sessions SET active = FALSE WHERE installation_id = $1 AND active")
                .bind(installation_id)
                .execute(&self.pool)
                .await?;
        Ok(done.rows_affected())
    }

    async fn count_running(&self, repo: Option<&str>) -> StoreResult<i64> {
        Ok(sqlx::query_scalar(
            "SELECT COUNT(*) FROM sessions \
             WHERE ($1::text IS NULL OR repo = $1) AND active AND state NOT IN ('COMPLETED', 'FAILED')",
        )
        .bind(repo)
        .fetch_one(&self.pool)
        .await?)
    }

    async fn count_created_since(&self, repo: Option<&str>, since: Timestamp) -> StoreResult<i64> {
        Ok(
            sqlx::query_scalar(
                "SELECT COUNT(*) FROM sessions WHERE ($1::text IS NULL OR repo = $1) AND created_at >= $2",
            )
            .bind(repo)
            .bind(since)
            .fetch_one(&self.pool)
            .await?,
        )
    }

    async fn record_relayed(
        &self,
        session: &str,
        activity_id: &str,
        kind: &str,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "INSERT INTO relayed (session, activity_id, kind, relayed_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (session, activity_id) DO NOTHING",
        )
        .bind(session)
        .bind(activity_id)
        .bind(kind)
        .bind(now())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn record_reply(&self, delivery_id: i64, key: &str) -> StoreResult<bool> {
        let done = sqlx::query(
            "INSERT INTO replies (delivery_id, reply_key, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (delivery_id, reply_key) DO NOTHING",
        )
        .bind(delivery_id)
        .bind(key)
        .bind(now())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn forget_reply(&self, delivery_id: i64, key: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM replies WHERE delivery_id = $1 AND reply_key = $2")
            .bind(delivery_id)
            .bind(key)
            .execute(&self.pool)
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
             VALUES ($1, $2, $3, $4) RETURNING id, repo, issue, delivery_id, created_at",
        )
        .bind(repo)
        .bind(issue)
        .bind(delivery_id)
        .bind(now())
        .fetch_one(&self.pool)
        .await?;
        queued_from_row(&row)
    }

    async fn queue_position(&self, id: i64) -> StoreResult<Option<i64>> {
        Ok(sqlx::query_scalar(
            "SELECT (SELECT COUNT(*) FROM queued_requests o WHERE o.repo = q.repo AND o.id <= q.id) \
             FROM queued_requests q WHERE q.id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn pop_queued(&self, repo: &str) -> StoreResult<Option<QueuedRequest>> {
        // SKIP LOCKED: two replicas popping at once get two different requests.
        let row = sqlx::query(
            "DELETE FROM queued_requests WHERE id = \
             (SELECT id FROM queued_requests WHERE repo = $1 ORDER BY id LIMIT 1 \
              FOR UPDATE SKIP LOCKED) \
             RETURNING id, repo, issue, delivery_id, created_at",
        )
        .bind(repo)
        .fetch_optional(&self.pool)
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
        let window = chrono::Duration::from_std(window)
            .map_err(|_| StoreError::Invalid("budget window out of range".into()))?;
        let mut tx = self.pool.begin().await?;
        // Replicas spending from one budget take turns: the count and the insert must not
        // interleave (READ COMMITTED would let two see room for one).
        sqlx::query("SELECT pg_advisory_xact_lock($1, hashtext(current_schema() || ':' || $2))")
            .bind(BUDGET_LOCK_SPACE)
            .bind(budget)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM jules_calls WHERE budget = $1 AND at <= $2")
            .bind(budget)
            .bind(now - window)
            .execute(&mut *tx)
            .await?;
        let (spent, oldest): (i64, Option<Timestamp>) =
            sqlx::query_as("SELECT COUNT(*), MIN(at) FROM jules_calls WHERE budget = $1")
                .bind(budget)
                .fetch_one(&mut *tx)
                .await?;
        if spent >= i64::from(limit) {
            tx.rollback().await?;
            return Ok(Some(oldest.unwrap_or(now) + window));
        }
        sqlx::query("INSERT INTO jules_calls (budget, at) VALUES ($1, $2)")
            .bind(budget)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(None)
    }

    async fn try_lease(&self, key: &str, owner: &str, ttl: Duration) -> StoreResult<bool> {
        let now = now();
        let until = after(now, ttl)?;
        let done = sqlx::query(
            "INSERT INTO leases (key, owner, expires_at) VALUES ($1, $2, $3) \
             ON CONFLICT (key) DO UPDATE SET owner = excluded.owner, \
             expires_at = excluded.expires_at \
             WHERE leases.owner = excluded.owner OR leases.expires_at <= $4",
        )
        .bind(key)
        .bind(owner)
        .bind(until)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn release_lease(&self, key: &str, owner: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM leases WHERE key = $1 AND owner = $2")
            .bind(key)
            .bind(owner)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::MIGRATIONS;

    /// Every file under `migrations/postgres` is embedded, under its version.
    #[test]
    fn every_migration_file_is_embedded() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/postgres");
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
