//! Helpers shared by the crash, outage and hostile-input suites (`crash_recovery.rs`,
//! `outages.rs`, `hostile_input.rs`) and others: the fakes, the server in-process
//! (App or token credentials), the real `jules-bridge serve` binary as a child process, signed
//! deliveries and small polling helpers. Kept apart from `tests/common` on purpose.
#![allow(dead_code)]

use std::future::Future;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::TryStreamExt;
use github_fake::FakeGitHub;
use hmac::{Hmac, KeyInit, Mac};
use jules_bridge::jules::{ClientConfig, JulesClient, RetryPolicy, Session};
use jules_bridge::server::config::{GitHubCredentials, ServerConfig};
use jules_bridge::server::{build_state, serve, AppState};
use jules_bridge::store::{Delivery, DeliveryStatus};
use jules_fake::{FakeConfig, FakeServer};
use secrecy::SecretString;
use serde_json::{json, Value};
use sha2::Sha256;
use tokio::sync::oneshot;

pub const KEY: &str = "jules-key-hardening-4d9c7e21";
pub const SECRET: &str = "webhook-secret-hardening-b7e3";
pub const APP_ID: u64 = 4242;
pub const INSTALLATION: u64 = 27216354;
/// The repository of the App fixtures (`issues.labeled.3.json`).
pub const APP_REPO: &str = "codinasion/codinasion-bot-try";
/// The repository of the plain fixtures (`issues.labeled.json`, no installation).
pub const TOKEN_REPO: &str = "Codertocat/Hello-World";
/// The GitHub token of token-mode servers and the Action.
pub const GITHUB_TOKEN: &str = "ghp_hardeningtoken0123456789abcdef";
pub const APP_BOT: &str = "jules-bridge[bot]";
pub const ACTIONS_BOT: &str = "github-actions[bot]";
pub const MARKER: &str = "<!-- jules-bridge:session=";
pub const PRIVATE_KEY: &str =
    include_str!("../../crates/github-fake/fixtures/test-only-app-key.private.pem");
pub const PUBLIC_KEY: &str =
    include_str!("../../crates/github-fake/fixtures/test-only-app-key.public.pem");

// ---- the fakes ----------------------------------------------------------------------------

/// The repositories connected to the fake Jules of the hardening suites: the ones their
/// fixtures are about, and two of other people on the same Jules account (the trust-boundary
/// victim, the lookup tests' unrelated sessions). Jules answers 404 for any other source, as
/// the live service does for a repository not connected to the account.
pub const JULES_SOURCES: [&str; 4] = [
    APP_REPO,
    TOKEN_REPO,
    "octo-org/private-b",
    "other-org/other-repo",
];

/// A fake Jules that only moves when told to (step 0), seeing [`JULES_SOURCES`].
pub async fn manual_jules() -> FakeServer {
    manual_jules_seeing(&JULES_SOURCES).await
}

/// A fake Jules that only moves when told to (step 0), connected to `sources` only.
pub async fn manual_jules_seeing(sources: &[&str]) -> FakeServer {
    FakeServer::start(FakeConfig {
        api_key: Some(KEY.to_owned()),
        step: Duration::ZERO,
        sources: Some(sources.iter().map(|s| (*s).to_owned()).collect()),
        ..FakeConfig::default()
    })
    .await
    .expect("jules-fake starts")
}

/// `manual_jules` without Jules' quotas and plan limits, for load tests that create far more
/// sessions than a real account may run at once (15) or start in a day (100).
pub async fn unlimited_manual_jules() -> FakeServer {
    FakeServer::start(FakeConfig {
        api_key: Some(KEY.to_owned()),
        step: Duration::ZERO,
        limits: jules_fake::Limits::unlimited(),
        sources: Some(JULES_SOURCES.iter().map(|s| (*s).to_owned()).collect()),
        ..FakeConfig::default()
    })
    .await
    .expect("jules-fake starts")
}

/// Short, bounded retries (6 attempts at most, 5..50 ms apart, 10 s deadline).
pub fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        min_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(50),
        deadline: Duration::from_secs(10),
        max_attempts: 6,
    }
}

/// A client of the fake for the test's own reads (no retries to hide anything).
pub fn jules_client(fake: &FakeServer) -> JulesClient {
    JulesClient::new(
        KEY.to_owned().into(),
        ClientConfig {
            base_url: fake.url(),
            request_timeout: Duration::from_secs(10),
            retry: fast_retry(),
            ..ClientConfig::default()
        },
    )
    .expect("client builds")
}

// The fake's control calls are the ones every suite uses.
#[path = "../common/mod.rs"]
mod common;
#[allow(unused_imports)] // not every suite steps the fake
pub use common::{inject, steering_received, step};

/// Every session on the fake (read without faults: call after clearing them).
pub async fn all_sessions(client: &JulesClient) -> Vec<Session> {
    client
        .sessions(false)
        .try_collect()
        .await
        .expect("sessions.list")
}

/// The issue number a bridge prompt is about (`Context: GitHub issue OWNER/REPO#N: ...`).
pub fn issue_of_prompt(prompt: &str, repo: &str) -> Option<u64> {
    let needle = format!("{repo}#");
    let start = prompt.find(&needle)? + needle.len();
    let digits: String = prompt[start..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

// ---- payloads and signatures ----------------------------------------------------------------

/// A real payload from `tests/fixtures/webhooks`, with fields replaced (JSON pointers).
pub fn fixture(name: &str, changes: &[(&str, Value)]) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/webhooks")
        .join(name);
    let mut payload: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    for (pointer, value) in changes {
        *payload
            .pointer_mut(pointer)
            .unwrap_or_else(|| panic!("{name} has {pointer}")) = value.clone();
    }
    payload
}

/// The App fixture (`codinasion-bot-try#109`, sender harshraj8843) labeled with our trigger,
/// on issue `number`.
pub fn app_labeled(number: u64) -> Value {
    fixture(
        "issues.labeled.3.json",
        &[
            ("/label/name", json!("jules-bridge")),
            ("/issue/number", json!(number)),
        ],
    )
}

/// A comment event on App issue `number`, by `sender` (a login; `is_bot` sets `type: Bot`).
pub fn app_comment(number: u64, body: &str, id: u64, sender: &str, is_bot: bool) -> Value {
    let base = app_labeled(number);
    let mut user = base["sender"].clone();
    user["login"] = json!(sender);
    user["type"] = json!(if is_bot { "Bot" } else { "User" });
    json!({
        "action": "created",
        "issue": base["issue"],
        "comment": {"id": id, "body": body, "user": user, "html_url": "https://github.com/x", "author_association": "NONE"},
        "repository": base["repository"],
        "sender": user,
        "installation": base["installation"],
    })
}

/// The plain fixture (`Codertocat/Hello-World`, sender Codertocat) labeled with our trigger.
pub fn token_labeled(number: u64) -> Value {
    fixture(
        "issues.labeled.json",
        &[
            ("/label/name", json!("jules-bridge")),
            ("/issue/number", json!(number)),
        ],
    )
}

/// `sha256=<hex>` of `body` under `secret`.
pub fn signature(body: &[u8], secret: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// A webhook POST with the headers GitHub sends (signed with SECRET); returns the response or
/// the transport error.
pub async fn post_delivery(
    http: &reqwest::Client,
    base_url: &str,
    event: &str,
    guid: &str,
    body: &[u8],
) -> reqwest::Result<reqwest::Response> {
    http.post(format!("{base_url}/webhook"))
        .header("content-type", "application/json")
        .header("x-github-event", event)
        .header("x-github-delivery", guid)
        .header("x-github-hook-id", "109948940")
        .header("x-hub-signature-256", signature(body, SECRET))
        .body(body.to_vec())
        .send()
        .await
}

// ---- waiting ------------------------------------------------------------------------------

/// Polls `check` every 20 ms for up to `limit`; panics with `what` when it never holds.
pub async fn eventually_within<F, Fut>(what: &str, limit: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    loop {
        if check().await {
            return;
        }
        if Instant::now() > deadline {
            panic!("timed out after {limit:?} waiting until {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub async fn eventually<F, Fut>(what: &str, check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    eventually_within(what, Duration::from_secs(15), check).await;
}

/// The relay's lease in the SQLite file `db`: renewed at the start of every relay iteration
/// (a tick and its queue drain), so each new expiry is one more iteration begun.
async fn relay_lease(connection: &mut sqlx::SqliteConnection) -> Option<i64> {
    sqlx::query_scalar("SELECT expires_at FROM leases WHERE key = 'relay'")
        .fetch_optional(connection)
        .await
        .ok()
        .flatten()
}

/// Counts the iterations the relay of the server on the SQLite file `db` (in-process or the
/// binary) begins from now on, by watching its lease (every 2 ms; an iteration takes at
/// least the relay's fast interval). Stops when dropped.
pub struct RelayWatch {
    begun: Arc<std::sync::atomic::AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl RelayWatch {
    pub async fn start(db: &Path) -> RelayWatch {
        use sqlx::ConnectOptions;
        let mut connection = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(db)
            .busy_timeout(Duration::from_secs(5))
            .connect()
            .await
            .expect("the SQLite file opens");
        let mut last = relay_lease(&mut connection).await;
        let begun = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = Arc::clone(&begun);
        let task = tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(2)).await;
                let now = relay_lease(&mut connection).await;
                if now.is_some() && now != last {
                    counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    last = now;
                }
            }
        });
        RelayWatch { begun, task }
    }

    /// Iterations begun since `start`.
    pub fn iterations(&self) -> usize {
        self.begun.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Waits until `n` iterations have begun since `start` (30 s at most).
    pub async fn wait_for(&self, n: usize) {
        eventually_within(
            &format!("the relay began {n} iterations"),
            Duration::from_secs(30),
            || async { self.iterations() >= n },
        )
        .await;
    }
}

impl Drop for RelayWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Waits until the relay of the server on the SQLite file `db` has begun `n` new iterations.
/// With `n` >= 2 the first of them has also ended: the relay did a full tick, and its queue
/// drain, after the call.
pub async fn relay_iterations(db: &Path, n: usize) {
    RelayWatch::start(db).await.wait_for(n).await;
}

/// Makes every pending delivery in the SQLite file `db` due now: what waiting out its retry
/// back-off would do (the worker looks again within 500 ms, or when notified).
pub async fn make_retries_due(db: &Path) {
    use sqlx::ConnectOptions;
    let mut connection = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(db)
        .busy_timeout(Duration::from_secs(5))
        .connect()
        .await
        .expect("the SQLite file opens");
    sqlx::query("UPDATE deliveries SET next_attempt_at = 0 WHERE status = 'pending'")
        .execute(&mut connection)
        .await
        .unwrap();
}

// ---- the server in-process ----------------------------------------------------------------

pub struct Bridge {
    pub state: Arc<AppState>,
    pub url: String,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Bridge {
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = tokio::time::timeout(Duration::from_secs(40), &mut self.task).await;
    }

    /// Every stored delivery (newest first).
    pub async fn deliveries(&self) -> Vec<Delivery> {
        self.state.store.list_deliveries(None, 1000).await.unwrap()
    }

    pub async fn deliveries_with(&self, status: DeliveryStatus) -> Vec<Delivery> {
        self.state
            .store
            .list_deliveries(Some(status), 1000)
            .await
            .unwrap()
    }

    /// Waits until nothing more will happen on its own: every stored delivery is done or dead,
    /// then the relay runs a full iteration (a tick and its queue drain) after that, and the
    /// deliveries are still as they were (else the relay started one again: wait for it too).
    /// What the tests check afterwards is final, with no guess of how long "later" takes.
    pub async fn idle(&self, db: &Path) {
        let snapshot = |deliveries: Vec<Delivery>| {
            deliveries
                .into_iter()
                .map(|d| (d.id, d.status, d.attempts))
                .collect::<Vec<_>>()
        };
        for _ in 0..50 {
            self.drained().await;
            let before = snapshot(self.deliveries().await);
            relay_iterations(db, 2).await;
            if snapshot(self.deliveries().await) == before {
                return;
            }
        }
        panic!("the server never became idle");
    }

    /// Waits until no stored delivery is pending or processing.
    pub async fn drained(&self) {
        eventually("every delivery is handled", || async {
            self.deliveries().await.iter().all(|d| {
                !matches!(
                    d.status,
                    DeliveryStatus::Pending | DeliveryStatus::Processing
                )
            })
        })
        .await;
    }
}

/// How the in-process server reaches GitHub.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// A GitHub App (installation tokens; posts as `jules-bridge[bot]`).
    App,
    /// One token (posts as `github-actions[bot]`).
    Token,
}

/// jules-fake + github-fake + a SQLite file, and servers started on them.
pub struct World {
    pub jules: FakeServer,
    pub github: FakeGitHub,
    pub client: JulesClient,
    pub database_url: String,
    pub http: reqwest::Client,
    pub mode: Mode,
    pub dir: tempfile::TempDir,
}

impl World {
    pub async fn new(mode: Mode) -> World {
        World::with_jules(mode, manual_jules().await).await
    }

    /// A world whose Jules is connected to `sources` only.
    pub async fn seeing(mode: Mode, sources: &[&str]) -> World {
        World::with_jules(mode, manual_jules_seeing(sources).await).await
    }

    async fn with_jules(mode: Mode, jules: FakeServer) -> World {
        let dir = tempfile::tempdir().unwrap();
        let database_url = format!("sqlite:{}", dir.path().join("bridge.db").display());
        let github = FakeGitHub::start().await;
        github.set_app(APP_ID, "jules-bridge", Some(PUBLIC_KEY));
        github.set_installation(APP_REPO, INSTALLATION);
        github.set_permission(APP_REPO, "harshraj8843", "admin");
        github.set_permission(TOKEN_REPO, "Codertocat", "write");
        // Token mode runs with an Actions `GITHUB_TOKEN`.
        github.add_actions_token(GITHUB_TOKEN);
        let client = jules_client(&jules);
        World {
            jules,
            github,
            client,
            database_url,
            http: reqwest::Client::new(),
            mode,
            dir,
        }
    }

    /// The server's SQLite file.
    pub fn db(&self) -> PathBuf {
        PathBuf::from(self.database_url.trim_start_matches("sqlite:"))
    }

    /// [`Bridge::idle`] for a server of this world.
    pub async fn idle(&self, bridge: &Bridge) {
        bridge.idle(&self.db()).await;
    }

    pub fn repo(&self) -> &'static str {
        match self.mode {
            Mode::App => APP_REPO,
            Mode::Token => TOKEN_REPO,
        }
    }

    pub fn bot(&self) -> &'static str {
        match self.mode {
            Mode::App => APP_BOT,
            Mode::Token => ACTIONS_BOT,
        }
    }

    /// The configuration `start` uses: 2 workers, 3 attempts, fast relay and retries.
    pub fn config(&self) -> ServerConfig {
        ServerConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            github: match self.mode {
                Mode::App => GitHubCredentials::App {
                    app_id: APP_ID,
                    private_key: SecretString::from(PRIVATE_KEY.to_owned()),
                },
                Mode::Token => {
                    GitHubCredentials::Token(SecretString::from(GITHUB_TOKEN.to_owned()))
                }
            },
            secrets: vec![SecretString::from(SECRET.to_owned())],
            jules_api_key: SecretString::from(KEY.to_owned()),
            database_url: self.database_url.clone(),
            github_api_url: self.github.url(),
            jules_api_url: self.jules.url(),
            workers: 2,
            max_attempts: 3,
            relay_fast: Duration::from_millis(30),
            relay_slow: Duration::from_millis(100),
            retry_base: Duration::from_millis(20),
            jules_retry: fast_retry(),
            jules_plan: None,
            jules_activities_per_minute: 100,
        }
    }

    pub async fn start(&self) -> Bridge {
        self.start_with(self.config()).await
    }

    pub async fn start_with(&self, config: ServerConfig) -> Bridge {
        let state = build_state(config).await.expect("the server starts");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve(Arc::clone(&state), listener, async {
            let _ = stopped.await;
        }));
        Bridge {
            state,
            url,
            stop: Some(stop),
            task: tokio::spawn(async move {
                let _ = task.await;
            }),
        }
    }

    /// Sends `payload` signed with SECRET under a fresh delivery id; returns the status.
    pub async fn deliver(&self, bridge: &Bridge, event: &str, payload: &Value) -> u16 {
        let guid = uuid::Uuid::new_v4().to_string();
        self.deliver_as(bridge, event, &guid, payload).await
    }

    pub async fn deliver_as(
        &self,
        bridge: &Bridge,
        event: &str,
        guid: &str,
        payload: &Value,
    ) -> u16 {
        self.github.add_event_issue(payload);
        let body = serde_json::to_vec(payload).unwrap();
        post_delivery(&self.http, &bridge.url, event, guid, &body)
            .await
            .expect("the server answers")
            .status()
            .as_u16()
    }

    /// The bridge's own comments on issue `number`.
    pub fn bot_comments(&self, number: u64) -> Vec<github_fake::Comment> {
        self.github
            .comments(self.repo(), number)
            .into_iter()
            .filter(|c| c.user == self.bot())
            .collect()
    }

    /// The bridge's status comments (with the session marker) on issue `number`.
    pub fn status_comments(&self, number: u64) -> Vec<github_fake::Comment> {
        self.bot_comments(number)
            .into_iter()
            .filter(|c| c.body.contains(MARKER))
            .collect()
    }

    /// The sessions on the fake whose prompt is about issue `number`.
    pub async fn sessions_for(&self, number: u64) -> Vec<Session> {
        let repo = self.repo();
        all_sessions(&self.client)
            .await
            .into_iter()
            .filter(|s| issue_of_prompt(&s.prompt, repo) == Some(number))
            .collect()
    }
}

/// The session name in a status comment's hidden marker.
pub fn marker_session(body: &str) -> Option<String> {
    let start = body.find("session=")? + "session=".len();
    body[start..]
        .split(|c: char| c.is_whitespace() || c == ';' || c == '>')
        .next()
        .map(str::to_owned)
}

// ---- the real binary ----------------------------------------------------------------------

/// A free loopback port (bound, read, released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `jules-bridge serve` as a child process; killed (SIGKILL) when dropped.
pub struct ServerProcess {
    child: Child,
    pub url: String,
}

impl ServerProcess {
    /// Starts the binary with `env` (and only `PATH` besides), appending its stderr (the logs)
    /// to `log`, and waits until `/healthz` answers.
    pub async fn start(env: &[(String, String)], port: u16, log: &Path) -> ServerProcess {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap();
        writeln!(file, "---- start ----").unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_jules-bridge"));
        command
            .arg("serve")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("LISTEN", format!("127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(file));
        for (name, value) in env {
            command.env(name, value);
        }
        let child = command.spawn().expect("the binary starts");
        let mut server = ServerProcess {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(response) = http
                .get(format!("{}/healthz", server.url))
                .timeout(Duration::from_secs(2))
                .send()
                .await
            {
                if response.status().is_success() {
                    return server;
                }
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!(
                    "the server exited ({status}): {}",
                    std::fs::read_to_string(log).unwrap_or_default()
                );
            }
            assert!(Instant::now() < deadline, "the server never became healthy");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// SIGKILL: no shutdown code runs, in-flight work is cut wherever it is.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then waits for a graceful exit (SIGKILL after `limit`).
    pub async fn terminate(mut self, limit: Duration) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The environment of a token-mode `serve` wired to the fakes (GITHUB_TOKEN registered on
/// `github` as an Actions token).
pub fn token_server_env(
    jules: &FakeServer,
    github: &FakeGitHub,
    db: &Path,
) -> Vec<(String, String)> {
    github.add_actions_token(GITHUB_TOKEN);
    [
        ("GITHUB_TOKEN", GITHUB_TOKEN.to_owned()),
        ("GITHUB_API_URL", github.url()),
        ("JULES_API_URL", jules.url()),
        ("JULES_API_KEY", KEY.to_owned()),
        ("WEBHOOK_SECRET", SECRET.to_owned()),
        ("DATABASE_URL", format!("sqlite:{}", db.display())),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// A file path in `dir`.
pub fn path_in(dir: &tempfile::TempDir, name: &str) -> PathBuf {
    dir.path().join(name)
}
