//! Durable state of the webhook server: deliveries (the work queue), tracked sessions (the
//! relay), what was relayed, and leases. One trait, two engines: SQLite (the embedded
//! default, one process) and PostgreSQL (several replicas share the work).
//!
//! Deliveries are claimed with a lease: a claimed delivery whose lease ran out (its worker
//! died) is claimable again. Work for one issue is serialised: a delivery is not claimed
//! while another delivery of the same `issue_key` holds a live lease.

mod postgres;
mod sqlite;

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

pub type Timestamp = DateTime<Utc>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("{0}")]
    Invalid(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Where a delivery is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryStatus {
    /// Waiting for a worker (new, or a retry after `next_attempt_at`).
    Pending,
    /// Claimed by a worker holding a lease.
    Processing,
    /// Handled.
    Done,
    /// Recorded but not for us (unknown event or action, a ping, ...).
    Ignored,
    /// Failed `max_attempts` times; kept with its last error for an operator.
    Dead,
    /// Dropped without processing (its installation was removed).
    Dropped,
}

impl DeliveryStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Processing => "processing",
            DeliveryStatus::Done => "done",
            DeliveryStatus::Ignored => "ignored",
            DeliveryStatus::Dead => "dead",
            DeliveryStatus::Dropped => "dropped",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "pending" => DeliveryStatus::Pending,
            "processing" => DeliveryStatus::Processing,
            "done" => DeliveryStatus::Done,
            "ignored" => DeliveryStatus::Ignored,
            "dead" => DeliveryStatus::Dead,
            "dropped" => DeliveryStatus::Dropped,
            _ => return None,
        })
    }
}

/// A verified webhook delivery, as received.
#[derive(Debug, Clone)]
pub struct NewDelivery {
    /// `X-GitHub-Hook-ID` (empty when absent).
    pub hook_id: String,
    /// `X-GitHub-Delivery`.
    pub delivery_id: String,
    /// `X-GitHub-Event`.
    pub event: String,
    pub action: Option<String>,
    pub installation_id: Option<i64>,
    /// `owner/name`.
    pub repo: Option<String>,
    /// `owner/name#number` for events about an issue or PR: such work is serialised.
    pub issue_key: Option<String>,
    /// The raw body (JSON).
    pub body: Vec<u8>,
    /// `Pending`, or `Ignored` for deliveries recorded but not processed.
    pub status: DeliveryStatus,
    /// Why it was ignored, for operators.
    pub note: Option<String>,
}

impl NewDelivery {
    /// The lowercase hex SHA-256 of the body: see [`body_sha256`].
    pub fn body_sha256(&self) -> String {
        body_sha256(&self.body)
    }
}

/// The lowercase hex SHA-256 of a delivery body, stored (unique) with every delivery.
///
/// A signed body resent under a new `X-GitHub-Delivery` is a replay, not a new event: the
/// delivery id and the hook id are not covered by the signature, so anyone holding one signed
/// body could otherwise have it processed again and again. Deliveries are therefore unique on
/// (hook id, delivery id) AND on this hash (rows stored before the hash existed have none).
pub fn body_sha256(body: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(body))
}

/// The answer to an insert: unique on (hook id, delivery id) and on the body's SHA-256.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inserted {
    New(i64),
    /// A redelivery (same hook id and delivery id) or a replay (same body under another
    /// delivery id): already stored under this id; not processed again.
    Duplicate(i64),
}

/// How a batch goes in: its first occurrences are stored, every later delivery with the key
/// (hook id, delivery id) or the body of an earlier one is answered as that one. Shared by
/// both engines so they agree on what a duplicate within a batch is.
///
/// A later occurrence is never stored and always names its first occurrence's row, even in
/// the corner case where inserting one by one would have named another row (its own key is
/// stored already) or stored it (its first occurrence is a redelivery of a row without a
/// body hash, see the 0002 migration): a batch is never less strict than single inserts.
pub(crate) struct BatchPlan<'a> {
    /// First occurrences, in batch order: the rows to insert.
    pub(crate) unique: Vec<&'a NewDelivery>,
    /// `body_sha256` of each of `unique`.
    pub(crate) hashes: Vec<String>,
    /// Per delivery of the batch: the index in `unique` answering for it, and whether the
    /// delivery is that first occurrence itself.
    answer_of: Vec<(usize, bool)>,
}

impl<'a> BatchPlan<'a> {
    pub(crate) fn new(batch: &'a [NewDelivery]) -> Self {
        use std::collections::HashMap;
        let mut unique = Vec::with_capacity(batch.len());
        let mut hashes = Vec::with_capacity(batch.len());
        let mut answer_of = Vec::with_capacity(batch.len());
        let mut keys: HashMap<(&str, &str), usize> = HashMap::with_capacity(batch.len());
        let mut bodies: HashMap<String, usize> = HashMap::with_capacity(batch.len());
        for delivery in batch {
            let key = (delivery.hook_id.as_str(), delivery.delivery_id.as_str());
            let hash = delivery.body_sha256();
            // Only first occurrences are remembered: a delivery left out stores nothing, so
            // its key is no reason to leave out a later one (as if inserted one by one).
            if let Some(&first) = keys.get(&key).or_else(|| bodies.get(&hash)) {
                answer_of.push((first, false));
                continue;
            }
            let index = unique.len();
            keys.insert(key, index);
            bodies.insert(hash.clone(), index);
            unique.push(delivery);
            hashes.push(hash);
            answer_of.push((index, true));
        }
        BatchPlan {
            unique,
            hashes,
            answer_of,
        }
    }

    /// The answers of the whole batch, in order, from those of `unique` (`stored[n]` answers
    /// for `unique[n]`): a later occurrence is a `Duplicate` of whatever its first one is.
    pub(crate) fn answers(&self, stored: &[Inserted]) -> Vec<Inserted> {
        self.answer_of
            .iter()
            .map(|&(index, first)| match stored[index] {
                answer if first => answer,
                Inserted::New(id) | Inserted::Duplicate(id) => Inserted::Duplicate(id),
            })
            .collect()
    }
}

/// A stored delivery.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub id: i64,
    pub hook_id: String,
    pub delivery_id: String,
    pub event: String,
    pub action: Option<String>,
    pub installation_id: Option<i64>,
    pub repo: Option<String>,
    pub issue_key: Option<String>,
    pub body: Vec<u8>,
    pub status: DeliveryStatus,
    /// Attempts started so far (a claim counts one).
    pub attempts: i32,
    pub last_error: Option<String>,
    pub note: Option<String>,
    pub received_at: Timestamp,
    pub updated_at: Timestamp,
    pub next_attempt_at: Timestamp,
}

/// A Jules session the relay keeps GitHub up to date about.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackedSession {
    /// `sessions/ID`.
    pub name: String,
    pub repo: String,
    pub issue: i64,
    pub installation_id: Option<i64>,
    pub status_comment_id: Option<i64>,
    pub requester: Option<String>,
    /// The last state seen (`QUEUED`, ...).
    pub state: String,
    /// The session's `updateTime` when last relayed.
    pub update_time: Option<Timestamp>,
    /// The `createTime` of the newest activity relayed (the `create_time>` filter).
    pub last_activity_time: Option<Timestamp>,
    /// False once relaying stopped (issue closed, installation removed).
    pub active: bool,
    pub created_at: Timestamp,
    /// When the relay last looked at this session on its own (not through the list page).
    pub checked_at: Option<Timestamp>,
    /// The session reports on a pull request (it was started there): the relay keeps its
    /// `Jules` check run on it current.
    pub on_pull: bool,
}

/// One queued session request (over a repository's limits).
#[derive(Debug, Clone, PartialEq)]
pub struct QueuedRequest {
    pub id: i64,
    pub repo: String,
    pub issue: i64,
    /// The delivery to replay when a slot frees.
    pub delivery_id: i64,
    pub created_at: Timestamp,
}

/// The durable state. Every method is safe to call from several tasks and, on PostgreSQL,
/// from several processes.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Applies pending migrations.
    async fn migrate(&self) -> StoreResult<()>;
    /// The database answers and every migration is applied (for `/readyz`).
    async fn ready(&self) -> StoreResult<()>;

    // ---- deliveries ---------------------------------------------------------------------
    /// Stores a new delivery, or answers `Duplicate` with the id of the stored delivery that
    /// has its (hook id, delivery id) or, failing that, its body (see [`body_sha256`]).
    async fn insert_delivery(&self, delivery: &NewDelivery) -> StoreResult<Inserted>;
    /// Inserts a batch in ONE transaction (one commit, so one fsync, for the whole batch):
    /// the group commit of the webhook receiver. Answers per delivery, in order, with the
    /// same duplicate semantics as [`Store::insert_delivery`]; a delivery repeated within the
    /// batch (same key, or same body under another key) is a `Duplicate` of its first
    /// occurrence. All or nothing: on `Err` none of the batch is stored (the caller can retry
    /// the deliveries one by one).
    ///
    /// The default inserts one by one (not atomic); both engines override it.
    async fn insert_deliveries(&self, batch: &[NewDelivery]) -> StoreResult<Vec<Inserted>> {
        let mut answers = Vec::with_capacity(batch.len());
        for delivery in batch {
            answers.push(self.insert_delivery(delivery).await?);
        }
        Ok(answers)
    }
    /// Claims the oldest claimable delivery: `Pending` with `next_attempt_at <= now`, or
    /// `Processing` with an expired lease; never one whose `issue_key` has another delivery
    /// with a live lease. Sets `Processing`, the lease and `attempts + 1`.
    async fn claim_delivery(&self, worker: &str, lease: Duration) -> StoreResult<Option<Delivery>>;
    /// Extends a lease the worker still holds; false if it lost it.
    async fn renew_delivery(&self, id: i64, worker: &str, lease: Duration) -> StoreResult<bool>;
    /// `Done` with a note (what was done). Only by the lease holder; false otherwise.
    async fn complete_delivery(&self, id: i64, worker: &str, note: &str) -> StoreResult<bool>;
    /// A failed attempt: back to `Pending` at `retry_at`, or `Dead` when `retry_at` is None.
    /// Keeps the error. Only by the lease holder.
    async fn fail_delivery(
        &self,
        id: i64,
        worker: &str,
        error: &str,
        retry_at: Option<Timestamp>,
    ) -> StoreResult<bool>;
    /// Gives a claimed delivery back untouched (graceful shutdown): `Pending`, attempts - 1.
    async fn release_delivery(&self, id: i64, worker: &str) -> StoreResult<bool>;
    /// Newest first, optionally of one status.
    async fn list_deliveries(
        &self,
        status: Option<DeliveryStatus>,
        limit: i64,
    ) -> StoreResult<Vec<Delivery>>;
    /// By numeric id or by `X-GitHub-Delivery` GUID.
    async fn get_delivery(&self, id_or_guid: &str) -> StoreResult<Option<Delivery>>;
    /// An operator's replay: back to `Pending` now with attempts reset; false if unknown or
    /// being processed.
    async fn retry_delivery(&self, id: i64) -> StoreResult<bool>;
    /// Pending deliveries of a removed installation become `Dropped`; returns how many.
    async fn drop_installation(&self, installation_id: i64) -> StoreResult<u64>;
    /// Pending plus processing deliveries.
    async fn queue_depth(&self) -> StoreResult<i64>;

    // ---- tracked sessions -------------------------------------------------------------------
    /// Inserts or replaces by name.
    async fn upsert_session(&self, session: &TrackedSession) -> StoreResult<()>;
    /// The relay's update after relaying: state, times, status comment and `checked_at`.
    /// It can stop relaying (`active` false) but never restarts it, so a deactivation made
    /// meanwhile (issue closed) is never undone. Unknown names are ignored.
    async fn record_progress(&self, session: &TrackedSession) -> StoreResult<()>;
    async fn get_session(&self, name: &str) -> StoreResult<Option<TrackedSession>>;
    /// Active sessions, oldest first.
    async fn active_sessions(&self) -> StoreResult<Vec<TrackedSession>>;
    /// The newest tracked session of an issue (any state).
    async fn session_for_issue(
        &self,
        repo: &str,
        issue: i64,
    ) -> StoreResult<Option<TrackedSession>>;
    /// Stops relaying every session of an issue; returns them.
    async fn deactivate_issue(&self, repo: &str, issue: i64) -> StoreResult<Vec<TrackedSession>>;
    /// Stops relaying every session of an installation; returns how many.
    async fn deactivate_installation(&self, installation_id: i64) -> StoreResult<u64>;
    /// Active sessions whose state is not COMPLETED or FAILED, of one repository or (`None`)
    /// of every repository: the whole Jules account.
    async fn count_running(&self, repo: Option<&str>) -> StoreResult<i64>;
    /// Sessions created since `since`, of one repository or (`None`) of every repository.
    async fn count_created_since(&self, repo: Option<&str>, since: Timestamp) -> StoreResult<i64>;

    /// Records that `activity_id` of `session` was relayed as `kind`; false if it already
    /// was (so nothing is posted twice, across restarts and replicas).
    async fn record_relayed(
        &self,
        session: &str,
        activity_id: &str,
        kind: &str,
    ) -> StoreResult<bool>;

    /// Records that reply `key` (`kind#n`) of delivery `delivery_id` is being posted; false
    /// if it already was, so a retried delivery never posts it again.
    async fn record_reply(&self, delivery_id: i64, key: &str) -> StoreResult<bool>;
    /// Undoes [`Store::record_reply`] after the post failed, so the retry can post it.
    async fn forget_reply(&self, delivery_id: i64, key: &str) -> StoreResult<()>;

    // ---- queued requests (repository limits) ------------------------------------------------
    async fn enqueue_request(
        &self,
        repo: &str,
        issue: i64,
        delivery_id: i64,
    ) -> StoreResult<QueuedRequest>;
    /// 1-based position among the repository's queued requests.
    async fn queue_position(&self, id: i64) -> StoreResult<Option<i64>>;
    /// Removes and returns the repository's oldest queued request.
    async fn pop_queued(&self, repo: &str) -> StoreResult<Option<QueuedRequest>>;
    /// Repositories with queued requests.
    async fn queued_repos(&self) -> StoreResult<Vec<String>>;

    // ---- request budgets ----------------------------------------------------------------------
    /// Spends one call from `budget` when fewer than `limit` were spent in the last `window`
    /// (rolling), and returns `None`; otherwise spends nothing and returns when the oldest
    /// call in the window leaves it (the earliest moment another call fits). Atomic across
    /// processes sharing the database.
    async fn spend_call(
        &self,
        budget: &str,
        limit: u32,
        window: Duration,
    ) -> StoreResult<Option<Timestamp>>;

    // ---- leases -----------------------------------------------------------------------------
    /// Takes or renews the named lease (for example the relay's) for `owner`; false when
    /// someone else holds it unexpired.
    async fn try_lease(&self, key: &str, owner: &str, ttl: Duration) -> StoreResult<bool>;
    async fn release_lease(&self, key: &str, owner: &str) -> StoreResult<()>;
}

/// The `DATABASE_URL` forms `open` accepts, for messages.
pub const SUPPORTED_DATABASE_URLS: &str =
    "`sqlite:FILE` (or a plain file path) and `postgres://...` or `postgresql://...`";

/// How long `open` waits for PostgreSQL to accept a connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// What a `DATABASE_URL` names. Its `Display` is for logs and messages: the kind and the file,
/// or the host, port, database and user; never the password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseLocation {
    /// A SQLite file; `None` for an in-memory database.
    Sqlite(Option<std::path::PathBuf>),
    Postgres {
        /// Host name, or the directory of a Unix socket.
        host: String,
        port: u16,
        database: Option<String>,
        user: String,
    },
}

impl DatabaseLocation {
    /// Reads a `DATABASE_URL` without connecting: `postgres://` or `postgresql://`,
    /// `sqlite:` (SQLite URI parameters after `?` included), or a bare file path. Any other
    /// scheme is refused with the supported ones; messages never repeat the URL (it may hold
    /// a password).
    pub fn parse(url: &str) -> StoreResult<Self> {
        use std::str::FromStr;
        if url.trim().is_empty() {
            return Err(StoreError::Invalid(format!(
                "no database URL given; supported: {SUPPORTED_DATABASE_URLS}"
            )));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let options = sqlx::postgres::PgConnectOptions::from_str(url).map_err(|error| {
                StoreError::Invalid(format!("not a valid PostgreSQL URL: {error}"))
            })?;
            return Ok(DatabaseLocation::Postgres {
                host: match options.get_socket() {
                    Some(socket) => socket.display().to_string(),
                    None => options.get_host().to_owned(),
                },
                port: options.get_port(),
                database: options.get_database().map(str::to_owned),
                user: options.get_username().to_owned(),
            });
        }
        if url.starts_with("sqlite:") {
            let options = sqlx::sqlite::SqliteConnectOptions::from_str(url)
                .map_err(|error| StoreError::Invalid(format!("not a valid SQLite URL: {error}")))?;
            let query = url.split_once('?').map(|(_, query)| query).unwrap_or("");
            let in_memory = url.starts_with("sqlite::memory:")
                || url.starts_with("sqlite://:memory:")
                || query.split('&').any(|pair| pair == "mode=memory");
            return Ok(DatabaseLocation::Sqlite(
                (!in_memory).then(|| options.get_filename().to_path_buf()),
            ));
        }
        // A scheme is letters, digits, `+`, `-` or `.` before a `:`, starting with a letter;
        // one letter is a Windows drive (`C:\...`), a path.
        if let Some((scheme, _)) = url.split_once(':') {
            let is_scheme = scheme.len() > 1
                && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
            if is_scheme {
                return Err(StoreError::Invalid(format!(
                    "unsupported database URL scheme `{scheme}:`; supported: \
                     {SUPPORTED_DATABASE_URLS}"
                )));
            }
        }
        Ok(DatabaseLocation::Sqlite(Some(std::path::PathBuf::from(
            url,
        ))))
    }
}

impl std::fmt::Display for DatabaseLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DatabaseLocation::Sqlite(Some(path)) => {
                // Relative to the working directory: shown resolved, so one knows where it is.
                let path = std::path::absolute(path).unwrap_or_else(|_| path.clone());
                write!(f, "SQLite file {}", path.display())
            }
            DatabaseLocation::Sqlite(None) => f.write_str("SQLite in memory"),
            DatabaseLocation::Postgres {
                host,
                port,
                database,
                user,
            } => {
                write!(f, "PostgreSQL on {host}:{port}")?;
                if let Some(database) = database {
                    write!(f, ", database {database}")?;
                }
                write!(f, ", user {user}")
            }
        }
    }
}

/// Opens the store a `DATABASE_URL` names: `postgres://...` or `sqlite:...` (a file path
/// is accepted too; a missing SQLite file is created). Does not migrate.
///
/// PostgreSQL gets [`CONNECT_TIMEOUT`] to accept a first connection, and a failure names the
/// host and the cause (the pool alone would retry a refused connection for 30 s and then
/// only say it timed out).
pub async fn open(url: &str) -> StoreResult<std::sync::Arc<dyn Store>> {
    match DatabaseLocation::parse(url)? {
        DatabaseLocation::Postgres { host, port, .. } => {
            use sqlx::Connection;
            use std::str::FromStr;
            let options = sqlx::postgres::PgConnectOptions::from_str(url)?;
            let unreachable = |cause: String| {
                StoreError::Invalid(format!(
                    "cannot connect to PostgreSQL at {host}:{port}: {cause}"
                ))
            };
            let timeout =
                || unreachable(format!("no answer within {} s", CONNECT_TIMEOUT.as_secs()));
            match tokio::time::timeout(
                CONNECT_TIMEOUT,
                sqlx::postgres::PgConnection::connect_with(&options),
            )
            .await
            {
                Err(_) => return Err(timeout()),
                Ok(Err(error)) => return Err(unreachable(error.to_string())),
                Ok(Ok(probe)) => {
                    let _ = probe.close().await;
                }
            }
            match tokio::time::timeout(CONNECT_TIMEOUT * 2, PostgresStore::connect(url)).await {
                Err(_) => Err(timeout()),
                Ok(Err(error)) => Err(unreachable(error.to_string())),
                Ok(Ok(store)) => Ok(std::sync::Arc::new(store)),
            }
        }
        DatabaseLocation::Sqlite(_) => Ok(std::sync::Arc::new(SqliteStore::open(url).await?)),
    }
}

/// Like [`open`], for commands that only read or change what is stored (`deliveries`): a
/// SQLite file that does not exist is an error (it would only be created empty).
pub async fn open_existing(url: &str) -> StoreResult<std::sync::Arc<dyn Store>> {
    if let DatabaseLocation::Sqlite(Some(path)) = DatabaseLocation::parse(url)? {
        if !path.exists() {
            let path = std::path::absolute(&path).unwrap_or(path);
            return Err(StoreError::Invalid(format!(
                "no SQLite database at {}: nothing has been stored there yet (check \
                 DATABASE_URL and the working directory; `jules-bridge serve` or \
                 `jules-bridge migrate` creates it)",
                path.display()
            )));
        }
    }
    open(url).await
}
