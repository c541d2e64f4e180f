//! `jules-bridge serve` end to end: the real server on loopback as a GitHub App, fed signed
//! real payloads, wired to `jules-fake` and a fake GitHub that serves the App endpoints
//! (JWT -> installation token). Each scenario runs on SQLite and on PostgreSQL.

mod common;

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use common::{client_for, manual_fake, steering_received, step, KEY};
use github_fake::FakeGitHub;
use hmac::{Hmac, KeyInit, Mac};
use jules_bridge::jules::{JulesClient, State};
use jules_bridge::server::config::{GitHubCredentials, ServerConfig};
use jules_bridge::server::limits::AccountLimits;
use jules_bridge::server::{build_state, serve, AppState};
use jules_bridge::store::DeliveryStatus;
use jules_fake::FakeServer;
use secrecy::SecretString;
use serde_json::{json, Value};
use sha2::Sha256;
use tokio::sync::oneshot;

const SECRET: &str = "webhook-secret-9f1e";
const APP_ID: u64 = 4242;
const INSTALLATION: u64 = 27216354;
const REPO: &str = "codinasion/codinasion-bot-try";
const PRIVATE_KEY: &str =
    include_str!("../crates/github-fake/fixtures/test-only-app-key.private.pem");
const PUBLIC_KEY: &str =
    include_str!("../crates/github-fake/fixtures/test-only-app-key.public.pem");

/// Which database a scenario runs on.
#[derive(Clone, Copy, Debug)]
enum Db {
    Sqlite,
    Postgres,
}

struct Bridge {
    state: Arc<AppState>,
    url: String,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Bridge {
    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = tokio::time::timeout(Duration::from_secs(40), &mut self.task).await;
    }
}

struct World {
    jules: FakeServer,
    github: FakeGitHub,
    client: JulesClient,
    database_url: String,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl World {
    async fn new(db: Db) -> World {
        let dir = tempfile::tempdir().unwrap();
        let database_url = match db {
            Db::Sqlite => format!("sqlite:{}", dir.path().join("bridge.db").display()),
            Db::Postgres => postgres_schema().await,
        };
        let jules = manual_fake().await;
        let github = FakeGitHub::start().await;
        github.set_app(APP_ID, "jules-bridge", Some(PUBLIC_KEY));
        github.set_installation(REPO, INSTALLATION);
        github.set_permission(REPO, "harshraj8843", "admin");
        let client = client_for(&jules);
        World {
            jules,
            github,
            client,
            database_url,
            http: reqwest::Client::new(),
            _dir: dir,
        }
    }

    fn config(&self, workers: usize) -> ServerConfig {
        ServerConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            github: GitHubCredentials::App {
                app_id: APP_ID,
                private_key: SecretString::from(PRIVATE_KEY.to_owned()),
            },
            secrets: vec![SecretString::from(SECRET.to_owned())],
            jules_api_key: SecretString::from(KEY.to_owned()),
            database_url: self.database_url.clone(),
            github_api_url: self.github.url(),
            jules_api_url: self.jules.url(),
            workers,
            max_attempts: 3,
            relay_fast: Duration::from_millis(30),
            relay_slow: Duration::from_millis(100),
            retry_base: Duration::from_millis(20),
            jules_retry: common::fast_retry(),
            jules_plan: None,
            jules_activities_per_minute: 100,
        }
    }

    async fn start(&self, workers: usize) -> Bridge {
        self.start_with(self.config(workers)).await
    }

    async fn start_with(&self, config: ServerConfig) -> Bridge {
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

    /// Sends a delivery signed with `secret`; returns the status code.
    async fn deliver_signed(
        &self,
        bridge: &Bridge,
        event: &str,
        guid: &str,
        body: &[u8],
        secret: &str,
    ) -> u16 {
        if let Ok(payload) = serde_json::from_slice::<Value>(body) {
            self.github.add_event_issue(&payload);
        }
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(body);
        let signature = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        self.http
            .post(format!("{}/webhook", bridge.url))
            .header("content-type", "application/json")
            .header("x-github-event", event)
            .header("x-github-delivery", guid)
            .header("x-github-hook-id", "109948940")
            .header("x-hub-signature-256", signature)
            .body(body.to_vec())
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    async fn deliver(&self, bridge: &Bridge, event: &str, payload: &Value) -> u16 {
        let guid = uuid::Uuid::new_v4().to_string();
        self.deliver_signed(
            bridge,
            event,
            &guid,
            &serde_json::to_vec(payload).unwrap(),
            SECRET,
        )
        .await
    }

    fn bot_comments(&self, issue: u64) -> Vec<github_fake::Comment> {
        self.github
            .comments(REPO, issue)
            .into_iter()
            .filter(|c| c.user == "jules-bridge[bot]")
            .collect()
    }

    fn status_body(&self, issue: u64) -> String {
        self.bot_comments(issue)
            .into_iter()
            .find(|c| c.body.contains("<!-- jules-bridge:session="))
            .map(|c| c.body)
            .unwrap_or_default()
    }
}

/// A fresh schema in the test database, so runs never see each other's rows.
async fn postgres_schema() -> String {
    let base = std::env::var("DATABASE_URL_TEST")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let schema = format!("srv_{}", uuid::Uuid::new_v4().simple());
    let pool = sqlx::PgPool::connect(&base)
        .await
        .expect("PostgreSQL is running (DATABASE_URL_TEST)");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&pool)
        .await
        .unwrap();
    let separator = if base.contains('?') { '&' } else { '?' };
    format!("{base}{separator}options=-c%20search_path%3D{schema}")
}

async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    for _ in 0..500 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out waiting until {what}");
}

/// The relay's lease expiry as text, read from the server's own database (SQLite or
/// PostgreSQL): renewed at the start of every relay iteration (a tick and its queue drain).
enum LeaseReader {
    Sqlite(sqlx::SqliteConnection),
    Postgres(sqlx::PgConnection),
}

impl LeaseReader {
    async fn open(database_url: &str) -> LeaseReader {
        use sqlx::Connection;
        if database_url.starts_with("sqlite:") {
            LeaseReader::Sqlite(sqlx::SqliteConnection::connect(database_url).await.unwrap())
        } else {
            LeaseReader::Postgres(sqlx::PgConnection::connect(database_url).await.unwrap())
        }
    }

    async fn expiry(&mut self) -> Option<String> {
        const QUERY: &str = "SELECT CAST(expires_at AS TEXT) FROM leases WHERE key = 'relay'";
        let read = match self {
            LeaseReader::Sqlite(connection) => {
                sqlx::query_scalar(QUERY).fetch_optional(connection).await
            }
            LeaseReader::Postgres(connection) => {
                sqlx::query_scalar(QUERY).fetch_optional(connection).await
            }
        };
        read.ok().flatten()
    }
}

/// Waits until the relay has begun `n` new iterations (each renews its lease; an iteration
/// takes at least the relay's fast interval, and the lease is read every 2 ms). With `n` >= 2
/// the first has also ended: a full tick and queue drain ran after the call.
async fn relay_iterations(world: &World, n: usize) {
    let mut reader = LeaseReader::open(&world.database_url).await;
    let mut last = reader.expiry().await;
    let mut begun = 0;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while begun < n {
        assert!(
            std::time::Instant::now() < deadline,
            "the relay began {begun} of {n} iterations"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
        let now = reader.expiry().await;
        if now.is_some() && now != last {
            begun += 1;
            last = now;
        }
    }
}

/// Waits until nothing more happens on its own: every delivery is done or dead, then the
/// relay runs a full iteration and the deliveries are as they were (else the relay started
/// one again: wait for it too). What a test checks afterwards is final.
async fn idle(world: &World, bridge: &Bridge) {
    let snapshot = || async {
        bridge
            .state
            .store
            .list_deliveries(None, 1000)
            .await
            .unwrap()
            .into_iter()
            .map(|d| (d.id, d.status, d.attempts))
            .collect::<Vec<_>>()
    };
    for _ in 0..50 {
        eventually("every delivery is handled", || async {
            snapshot().await.iter().all(|(_, status, _)| {
                !matches!(status, DeliveryStatus::Pending | DeliveryStatus::Processing)
            })
        })
        .await;
        let before = snapshot().await;
        relay_iterations(world, 2).await;
        if snapshot().await == before {
            return;
        }
    }
    panic!("the server never became idle");
}

fn fixture(name: &str, changes: &[(&str, Value)]) -> Value {
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

/// A real App delivery (`issues.labeled` on codinasion-bot-try#109) with our trigger label.
fn labeled() -> Value {
    fixture(
        "issues.labeled.3.json",
        &[("/label/name", json!("jules-bridge"))],
    )
}

/// The same delivery for issue `number` of the repository.
fn labeled_issue(number: u64) -> Value {
    fixture(
        "issues.labeled.3.json",
        &[
            ("/label/name", json!("jules-bridge")),
            ("/issue/number", json!(number)),
        ],
    )
}

/// A real App delivery turned into a comment event on the same issue.
fn comment(body: &str, id: u64) -> Value {
    let base = labeled();
    json!({
        "action": "created",
        "issue": base["issue"],
        "comment": {"id": id, "body": body, "user": base["sender"], "html_url": "https://github.com/x", "author_association": "OWNER"},
        "repository": base["repository"],
        "sender": base["sender"],
        "installation": base["installation"],
    })
}

async fn session_of(world: &World, issue: u64) -> String {
    let body = world.status_body(issue);
    let start = body.find("session=").expect("a marker") + "session=".len();
    body[start..].split_whitespace().next().unwrap().to_owned()
}

async fn conversation(db: Db) {
    let world = World::new(db).await;
    let bridge = world.start(2).await;

    // A bad signature: 401 and nothing stored.
    let body = serde_json::to_vec(&labeled()).unwrap();
    assert_eq!(
        world
            .deliver_signed(&bridge, "issues", "bad-1", &body, "wrong-secret")
            .await,
        401
    );
    assert!(bridge
        .state
        .store
        .list_deliveries(None, 10)
        .await
        .unwrap()
        .is_empty());

    // The label: 202 at once, then a session and a status comment as the App's bot.
    assert_eq!(
        world
            .deliver_signed(&bridge, "issues", "guid-label", &body, SECRET)
            .await,
        202
    );
    eventually("the status comment appears", || async {
        !world.status_body(109).is_empty()
    })
    .await;
    assert!(
        world.github.tokens_issued() >= 1,
        "an installation token was minted"
    );
    let session = session_of(&world, 109).await;

    // A redelivery of the same delivery is acknowledged and has no second effect.
    assert_eq!(
        world
            .deliver_signed(&bridge, "issues", "guid-label", &body, SECRET)
            .await,
        200
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(world.jules.session_count(), 1);

    // Jules plans: the relay shows the plan and the approve command.
    step(&world.jules, 2).await;
    eventually("the plan is shown", || async {
        world
            .status_body(109)
            .starts_with("📝 **Plan ready for review**")
    })
    .await;
    let body = world.status_body(109);
    let short = body.split("/jules approve ").nth(1).unwrap()[..6].to_owned();

    // /jules approve <id> from the person who asked.
    assert_eq!(
        world
            .deliver(
                &bridge,
                "issue_comment",
                &comment(&format!("/jules approve {short}"), 9001)
            )
            .await,
        202
    );
    eventually("the plan is approved", || async {
        world.client.get_session(&session).await.unwrap().state == State::InProgress
    })
    .await;

    // Jules works and finishes: progress, then the PR link, relayed without any event.
    for _ in 0..6 {
        step(&world.jules, 1).await;
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    eventually("the PR link is shown", || async {
        world.status_body(109).starts_with(
            "✅ **Done** · [pull request](https://github.com/codinasion/codinasion-bot-try/pull/",
        )
    })
    .await;
    assert_eq!(world.jules.session_count(), 1);

    let deliveries = bridge.state.store.list_deliveries(None, 10).await.unwrap();
    assert_eq!(
        deliveries.len(),
        2,
        "the label and the approve comment; the redelivery was not stored twice"
    );
    assert!(
        deliveries.iter().all(|d| d.status == DeliveryStatus::Done),
        "{deliveries:?}"
    );

    // Health and metrics.
    let health = world
        .http
        .get(format!("{}/healthz", bridge.url))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let ready = world
        .http
        .get(format!("{}/readyz", bridge.url))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    let metrics = world
        .http
        .get(format!("{}/metrics", bridge.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("jules_bridge_deliveries_total{event=\"issues\",outcome=\"accepted\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("jules_bridge_deliveries_total{event=\"issues\",outcome=\"duplicate\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            "jules_bridge_jules_calls_total{method=\"sessions.create\",status=\"200\"} 1"
        ),
        "{metrics}"
    );
    bridge.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conversation_on_sqlite() {
    conversation(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conversation_on_postgres() {
    conversation(Db::Postgres).await;
}

async fn question_is_relayed_and_answered(db: Db) {
    let world = World::new(db).await;
    let bridge = world.start(2).await;
    assert_eq!(
        world
            .deliver(
                &bridge,
                "issue_comment",
                &comment("/jules fix the tracker [fake:ask]", 9100)
            )
            .await,
        202
    );
    eventually("a session starts", || async {
        world.jules.session_count() == 1
    })
    .await;
    eventually("the status comment appears", || async {
        !world.status_body(109).is_empty()
    })
    .await;
    let session = session_of(&world, 109).await;
    // Plan (needs approval), approve, then the agent asks.
    step(&world.jules, 2).await;
    eventually("plan shown", || async {
        world.status_body(109).contains("Plan ready")
    })
    .await;
    assert_eq!(
        world
            .deliver(&bridge, "issue_comment", &comment("/jules approve", 9101))
            .await,
        202
    );
    eventually("approved", || async {
        world.client.get_session(&session).await.unwrap().state == State::InProgress
    })
    .await;
    for _ in 0..4 {
        step(&world.jules, 1).await;
        if world.client.get_session(&session).await.unwrap().state == State::AwaitingUserFeedback {
            break;
        }
    }
    eventually(
        "the question is posted, mentioning the requester",
        || async {
            world
                .bot_comments(109)
                .iter()
                .any(|c| c.body.starts_with("@harshraj8843 Jules has a question"))
        },
    )
    .await;
    // The relay keeps polling: the question is never posted twice.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let questions = world
        .bot_comments(109)
        .iter()
        .filter(|c| c.body.contains("Jules has a question in"))
        .count();
    assert_eq!(questions, 1);

    // The answer goes back to the same session.
    assert_eq!(
        world
            .deliver(
                &bridge,
                "issue_comment",
                &comment("/jules yes, keep the old format", 9102)
            )
            .await,
        202
    );
    eventually("the answer reached Jules", || async {
        world.client.all_activities(&session, None).await.unwrap().iter().any(|a| {
            matches!(&a.kind, jules_bridge::jules::ActivityKind::UserMessaged(m) if m.user_message == "yes, keep the old format")
        })
    })
    .await;
    assert_eq!(world.jules.session_count(), 1);
    bridge.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_question_is_relayed_once_on_sqlite() {
    question_is_relayed_and_answered(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_question_is_relayed_once_on_postgres() {
    question_is_relayed_and_answered(Db::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_ignored_and_malformed_deliveries() {
    let world = World::new(Db::Sqlite).await;
    let bridge = world.start(1).await;
    world.github.set_permission(REPO, "harshraj8843", "read");
    assert_eq!(
        world
            .deliver(
                &bridge,
                "issue_comment",
                &comment("/jules rewrite it all", 9200)
            )
            .await,
        202
    );
    eventually("one polite reply", || async {
        world
            .bot_comments(109)
            .iter()
            .any(|c| c.body.starts_with("Sorry @harshraj8843"))
    })
    .await;
    assert_eq!(world.jules.request_count("sessions.create"), 0);

    // An unknown event is acknowledged and recorded as ignored.
    assert_eq!(
        world
            .deliver(
                &bridge,
                "star",
                &json!({"action": "created", "repository": labeled()["repository"]})
            )
            .await,
        202
    );
    // Malformed JSON: kept for the operator, answered 400.
    let status = world
        .deliver_signed(
            &bridge,
            "issues",
            "malformed-1",
            b"{\"action\": \"labeled\", \"issue\": 7}",
            SECRET,
        )
        .await;
    assert_eq!(status, 400);
    let stored = bridge
        .state
        .store
        .list_deliveries(Some(DeliveryStatus::Ignored), 10)
        .await
        .unwrap();
    assert_eq!(stored.len(), 2);
    // ping
    assert_eq!(
        world
            .deliver(&bridge, "ping", &fixture("ping.json", &[]))
            .await,
        200
    );

    // A form-encoded delivery is accepted like JSON.
    let payload = serde_json::to_string(&comment("/jules status", 9201)).unwrap();
    let form = format!(
        "payload={}",
        url::form_urlencoded::byte_serialize(payload.as_bytes()).collect::<String>()
    );
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(form.as_bytes());
    let response = world
        .http
        .post(format!("{}/webhook", bridge.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-github-event", "issue_comment")
        .header("x-github-delivery", "form-1")
        .header(
            "x-hub-signature-256",
            format!("sha256={}", hex::encode(mac.finalize().into_bytes())),
        )
        .body(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    // ...and acted on like JSON: the command was read, and (the sender still has read
    // access) answered with the second polite reply.
    eventually("the form-encoded command is answered", || async {
        world
            .bot_comments(109)
            .iter()
            .filter(|c| c.body.starts_with("Sorry @harshraj8843"))
            .count()
            == 2
    })
    .await;

    // Over 25 MiB: 413.
    let big = vec![b' '; 25 * 1024 * 1024 + 1];
    assert_eq!(
        world
            .deliver_signed(&bridge, "issues", "big-1", &big, SECRET)
            .await,
        413
    );
    bridge.stop().await;
}

/// Most comments are conversation: the bridge finishes them when they arrive, in the commit
/// that stores them, so no worker spends two transactions on them. A comment that may hold a
/// command still waits for a worker and is answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conversation_is_finished_at_ingest_and_commands_wait_for_a_worker() {
    let world = World::new(Db::Sqlite).await;
    // No workers: whatever is finished, was finished at ingest.
    let ingest_only = world.start(0).await;
    let chat = comment("Thanks, that matches what I see on main.", 9300);
    assert_eq!(
        world.deliver(&ingest_only, "issue_comment", &chat).await,
        202
    );
    let help = comment("Thanks!\n/jules help", 9301);
    assert_eq!(
        world.deliver(&ingest_only, "issue_comment", &help).await,
        202
    );

    let done = ingest_only
        .state
        .store
        .list_deliveries(Some(DeliveryStatus::Done), 10)
        .await
        .unwrap();
    assert_eq!(done.len(), 1, "{done:?}");
    assert_eq!(
        done[0].note.as_deref(),
        Some("ignored: the comment has no command")
    );
    let waiting = ingest_only
        .state
        .store
        .list_deliveries(Some(DeliveryStatus::Pending), 10)
        .await
        .unwrap();
    assert_eq!(waiting.len(), 1, "the command waits for a worker");
    ingest_only.stop().await;
    let about_the_repo: Vec<String> = world
        .github
        .requests()
        .into_iter()
        .map(|request| request.path)
        .filter(|path| path.starts_with("/repos/"))
        .collect();
    assert!(about_the_repo.is_empty(), "{about_the_repo:?}");

    // A worker answers the command, and only the command.
    let bridge = world.start(1).await;
    eventually("the help reply", || async {
        world
            .bot_comments(109)
            .iter()
            .any(|c| c.body.contains("/jules approve"))
    })
    .await;
    bridge.stop().await;
    assert_eq!(world.bot_comments(109).len(), 1);
}

/// A repository that chose its own label and prefix is spoken to in them, by the workers and
/// by the relay alike: the default ones do nothing there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repositorys_own_label_and_prefix_hold_end_to_end() {
    let world = World::new(Db::Sqlite).await;
    world.github.set_file(
        REPO,
        ".github/jules-bridge.yml",
        "trigger_label: agent-go\ncommand_prefix: /agent\n",
    );
    let bridge = world.start(2).await;
    // The default label and prefix are someone else's words here.
    assert_eq!(world.deliver(&bridge, "issues", &labeled()).await, 202);
    assert_eq!(
        world
            .deliver(&bridge, "issue_comment", &comment("/jules help", 9500))
            .await,
        202
    );
    let own = fixture(
        "issues.labeled.3.json",
        &[("/label/name", json!("agent-go"))],
    );
    assert_eq!(world.deliver(&bridge, "issues", &own).await, 202);
    eventually("the session starts on the repository's label", || async {
        world.jules.session_count() == 1 && !world.status_body(109).is_empty()
    })
    .await;
    let session = session_of(&world, 109).await;
    // The relay shows the plan with the repository's prefix.
    step(&world.jules, 2).await;
    eventually("the relay shows the plan", || async {
        world.status_body(109).contains("Plan ready")
    })
    .await;
    let body = world.status_body(109);
    assert!(body.contains("Reply `/agent approve "), "{body}");
    assert!(!body.contains("`/jules "), "{body}");
    assert_eq!(
        world
            .deliver(&bridge, "issue_comment", &comment("/agent approve", 9501))
            .await,
        202
    );
    eventually("approved with the repository's prefix", || async {
        world.client.get_session(&session).await.unwrap().state == State::InProgress
    })
    .await;
    bridge.stop().await;
    assert_eq!(world.jules.session_count(), 1);
    // `/jules help` was nobody's command: the only bot comment is the status comment.
    assert_eq!(
        world.bot_comments(109).len(),
        1,
        "{:#?}",
        world.bot_comments(109)
    );
}

/// Whether Jules moves a session's `updateTime` with every activity is not documented. When
/// it does not, the relay still shows a working session's progress: it reads working
/// sessions now and then whatever their `updateTime`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_is_relayed_even_when_update_time_does_not_move() {
    let world = World::new(Db::Sqlite).await;
    world.github.set_file(
        REPO,
        ".github/jules-bridge.yml",
        "require_plan_approval: false\n",
    );
    let quirk = reqwest::Client::new()
        .post(format!("{}/_fake/quirks", world.jules.url()))
        .json(&json!({"activitiesKeepUpdateTime": true}))
        .send()
        .await
        .unwrap();
    assert!(quirk.status().is_success());
    let bridge = world.start(1).await;
    assert_eq!(world.deliver(&bridge, "issues", &labeled()).await, 202);
    eventually("the status comment appears", || async {
        !world.status_body(109).is_empty()
    })
    .await;
    let session = session_of(&world, 109).await;
    // Into IN_PROGRESS (a state change moves updateTime), then a step of work that does not.
    for _ in 0..6 {
        step(&world.jules, 1).await;
        if world.client.get_session(&session).await.unwrap().state == State::InProgress {
            break;
        }
    }
    // The relay has shown the working state (and read every activity so far) ...
    eventually("the relay shows the session working", || async {
        world.status_body(109).contains("Jules is working")
    })
    .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    // ... before the step whose progress does not move updateTime.
    let before = world
        .client
        .get_session(&session)
        .await
        .unwrap()
        .update_time;
    step(&world.jules, 1).await;
    let after = world.client.get_session(&session).await.unwrap();
    assert_eq!(
        after.update_time, before,
        "the quirk holds: updateTime did not move"
    );
    let progress = world
        .client
        .all_activities(&session, None)
        .await
        .unwrap()
        .into_iter()
        .rev()
        .find_map(|a| match a.kind {
            jules_bridge::jules::ActivityKind::ProgressUpdated(p) => Some(p.title),
            _ => None,
        })
        .expect("a progress activity");
    eventually("the relay shows the latest progress", || async {
        world
            .status_body(109)
            .contains(&format!("Latest: *{progress}*"))
    })
    .await;
    bridge.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn work_acknowledged_before_a_restart_completes_exactly_once() {
    let world = World::new(Db::Sqlite).await;
    // A server that only acknowledges (no workers): the delivery is stored, not processed.
    let first = world.start(0).await;
    assert_eq!(world.deliver(&first, "issues", &labeled()).await, 202);
    first.stop().await;
    assert_eq!(world.jules.session_count(), 0);

    // After the restart the stored delivery is processed, once.
    let second = world.start(2).await;
    eventually("the session starts after the restart", || async {
        world.jules.session_count() == 1
    })
    .await;
    eventually("the status comment appears", || async {
        !world.status_body(109).is_empty()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(world.jules.session_count(), 1);
    assert_eq!(world.bot_comments(109).len(), 1);
    second.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_on_one_postgres_handle_each_delivery_once() {
    let world = World::new(Db::Postgres).await;
    let a = world.start(2).await;
    let b = world.start(2).await;
    // Ten issues, each labeled once, delivered alternately to the two replicas.
    for n in 0..10u64 {
        let payload = labeled_issue(500 + n);
        let bridge = if n % 2 == 0 { &a } else { &b };
        assert_eq!(world.deliver(bridge, "issues", &payload).await, 202);
    }
    eventually("ten sessions", || async {
        world.jules.session_count() == 10
    })
    .await;
    eventually("ten status comments", || async {
        (0..10).all(|n| world.bot_comments(500 + n).len() == 1)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(world.jules.session_count(), 10);
    for n in 0..10 {
        assert_eq!(world.bot_comments(500 + n).len(), 1, "issue {}", 500 + n);
    }
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_the_repository_limit_a_request_waits_in_the_queue() {
    let world = World::new(Db::Sqlite).await;
    world.github.set_file(
        REPO,
        ".github/jules-bridge.yml",
        "require_plan_approval: false\nprompt_template: |\n  Follow CONTRIBUTING.md.\n  {instruction}\n  {context}\nlimits:\n  max_concurrent_sessions: 1\n",
    );
    let bridge = world.start(2).await;
    assert_eq!(
        world.deliver(&bridge, "issues", &labeled_issue(700)).await,
        202
    );
    eventually("the first session starts", || async {
        world.jules.session_count() == 1
    })
    .await;
    eventually("the first status comment", || async {
        !world.status_body(700).is_empty()
    })
    .await;
    // The repository's prompt template shaped what Jules got.
    let first = session_of(&world, 700).await;
    let prompt = world.client.get_session(&first).await.unwrap().prompt;
    assert!(
        prompt.starts_with(
            "Follow CONTRIBUTING.md.\nResolve this GitHub issue.\nContext: GitHub issue"
        ),
        "{prompt}"
    );

    assert_eq!(
        world.deliver(&bridge, "issues", &labeled_issue(701)).await,
        202
    );
    eventually("the second request is queued", || async {
        world
            .bot_comments(701)
            .iter()
            .any(|c| c.body.starts_with("⏳ **Queued** (position 1)"))
    })
    .await;
    assert_eq!(world.jules.session_count(), 1);

    // The first session finishes; the queued request starts, in its queued comment.
    for _ in 0..12 {
        step(&world.jules, 1).await;
        if world.client.get_session(&first).await.unwrap().state == State::Completed {
            break;
        }
    }
    eventually("the queued request starts", || async {
        world.jules.session_count() == 2
    })
    .await;
    eventually("its queued comment became the status comment", || async {
        let comments = world.bot_comments(701);
        comments.len() == 1 && comments[0].body.contains("<!-- jules-bridge:session=")
    })
    .await;
    bridge.stop().await;
}

/// Two workers starting sessions for one repository at once take turns at its limits: one
/// session starts, the other request waits, never both (the count is of tracked sessions,
/// which a session becomes only once its status comment is posted).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_admitting_at_once_never_exceed_the_limit() {
    let world = World::new(Db::Sqlite).await;
    world.github.set_file(
        REPO,
        ".github/jules-bridge.yml",
        "limits:\n  max_concurrent_sessions: 1\n",
    );
    // No workers while both requests arrive, so both are waiting when the workers start.
    let ingest_only = world.start(0).await;
    for n in [740, 741] {
        assert_eq!(
            world
                .deliver(&ingest_only, "issues", &labeled_issue(n))
                .await,
            202
        );
    }
    ingest_only.stop().await;
    // Jules answers slowly: the first session is far from tracked when the second is admitted.
    common::inject(&world.jules, json!({"latencyMs": 150})).await;
    let bridge = world.start(2).await;
    eventually("one starts and one waits", || async {
        let started = [740, 741]
            .iter()
            .filter(|&&n| !world.status_body(n).is_empty())
            .count();
        let queued = [740, 741]
            .iter()
            .filter(|&&n| {
                world
                    .bot_comments(n)
                    .iter()
                    .any(|c| c.body.starts_with("⏳ **Queued** (position 1)"))
            })
            .count();
        started == 1 && queued == 1
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(world.jules.session_count(), 1);
    bridge.stop().await;
}

/// The operator said which Jules plan the key belongs to: a request beyond its concurrent
/// sessions waits in the queue, with its position, instead of failing at Jules.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beyond_the_jules_plan_a_request_waits_in_the_queue() {
    let world = World::new(Db::Sqlite).await;
    world.github.set_file(
        REPO,
        ".github/jules-bridge.yml",
        "require_plan_approval: false\n",
    );
    let bridge = world
        .start_with(ServerConfig {
            jules_plan: AccountLimits::parse("1/100").unwrap(),
            ..world.config(2)
        })
        .await;
    assert_eq!(
        world.deliver(&bridge, "issues", &labeled_issue(720)).await,
        202
    );
    eventually("the first status comment", || async {
        !world.status_body(720).is_empty()
    })
    .await;
    assert_eq!(
        world.deliver(&bridge, "issues", &labeled_issue(721)).await,
        202
    );
    eventually("the second request is queued", || async {
        world.bot_comments(721).iter().any(|c| {
            c.body.starts_with("⏳ **Queued** (position 1)")
                && c.body.contains(
                    "This Jules account runs at most 1 Jules sessions at once, and 1 are running",
                )
        })
    })
    .await;
    assert_eq!(world.jules.session_count(), 1, "Jules was never asked");

    // The first session finishes; the queued request starts.
    let first = session_of(&world, 720).await;
    for _ in 0..12 {
        step(&world.jules, 1).await;
        if world.client.get_session(&first).await.unwrap().state == State::Completed {
            break;
        }
    }
    eventually("the queued request starts", || async {
        world.jules.session_count() == 2
    })
    .await;
    bridge.stop().await;
}

/// Jules' `activities.list` quota is not announced; the bridge keeps one budget per key in its
/// store. The relay may spend four fifths of it and puts the rest off to later ticks; a
/// person's command may spend it all, so it is answered even while the relay waits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relay_keeps_within_the_request_budget_and_leaves_room_for_commands() {
    let world = World::new(Db::Sqlite).await;
    let bridge = world
        .start_with(ServerConfig {
            jules_activities_per_minute: 3,
            ..world.config(2)
        })
        .await;
    // Three labelled issues: three new sessions for the relay to read, and room for two (its
    // four fifths of 3); the third waits.
    for n in [109, 731, 732] {
        assert_eq!(
            world.deliver(&bridge, "issues", &labeled_issue(n)).await,
            202
        );
    }
    eventually("three status comments", || async {
        [109, 731, 732]
            .iter()
            .all(|&n| !world.status_body(n).is_empty())
    })
    .await;
    eventually("the relay found the budget spent", || async {
        metrics(&world, &bridge)
            .await
            .contains(r#"jules_bridge_jules_budget_waits_total{spender="relay"}"#)
    })
    .await;
    assert_eq!(world.jules.request_count("activities.list"), 2);

    // A person asks for the status: the third call of the minute is theirs.
    assert_eq!(
        world
            .deliver(&bridge, "issue_comment", &comment("/jules status", 9400))
            .await,
        202
    );
    eventually("the status command is done", || async {
        bridge
            .state
            .store
            .list_deliveries(Some(DeliveryStatus::Done), 10)
            .await
            .unwrap()
            .iter()
            .any(|d| d.note.as_deref() == Some("status: refreshed the status comment"))
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        world.jules.request_count("activities.list"),
        3,
        "never more than the budget in a minute"
    );
    let text = metrics(&world, &bridge).await;
    assert!(text.contains("jules_bridge_jules_budget_limit 3"), "{text}");
    assert!(
        text.contains(r#"jules_bridge_jules_budget_spent_total{spender="handler"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"jules_bridge_jules_budget_spent_total{spender="relay"} 2"#),
        "{text}"
    );
    bridge.stop().await;
}

async fn metrics(world: &World, bridge: &Bridge) -> String {
    world
        .http
        .get(format!("{}/metrics", bridge.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_jules_is_at_its_limit_the_request_is_requeued_not_dropped() {
    let world = World::new(Db::Sqlite).await;
    common::inject(
        &world.jules,
        json!({"errorStatus": 429, "errorRate": 1.0, "methods": ["sessions.create"]}),
    )
    .await;
    let bridge = world.start(1).await;
    assert_eq!(world.deliver(&bridge, "issues", &labeled()).await, 202);
    eventually("the request is queued", || async {
        world.bot_comments(109).iter().any(|c| {
            c.body.starts_with("⏳ **Queued**") && c.body.contains("Jules is at its plan limit")
        })
    })
    .await;
    assert_eq!(world.jules.session_count(), 0);
    // Jules has room again: the request starts by itself.
    common::inject(&world.jules, json!({})).await;
    eventually("the request starts", || async {
        world.jules.session_count() == 1
    })
    .await;
    eventually("the status comment replaces the queued one", || async {
        let comments = world.bot_comments(109);
        comments.len() == 1 && comments[0].body.contains("<!-- jules-bridge:session=")
    })
    .await;
    bridge.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_the_issue_stops_the_relay_and_says_so() {
    let world = World::new(Db::Sqlite).await;
    let bridge = world.start(1).await;
    assert_eq!(world.deliver(&bridge, "issues", &labeled()).await, 202);
    eventually("the status comment appears", || async {
        !world.status_body(109).is_empty()
    })
    .await;
    let closed = fixture(
        "issues.labeled.3.json",
        &[
            ("/action", json!("closed")),
            ("/issue/state", json!("closed")),
        ],
    );
    assert_eq!(world.deliver(&bridge, "issues", &closed).await, 202);
    eventually("the status comment says updates stopped", || async {
        world
            .status_body(109)
            .contains("Updates stopped: the issue was closed.")
    })
    .await;
    let session = session_of(&world, 109).await;
    let tracked = bridge
        .state
        .store
        .get_session(&session)
        .await
        .unwrap()
        .unwrap();
    assert!(!tracked.active);

    // Someone still talks to the session on the closed issue: it is relayed again, and the
    // relay shows its plan when Jules has one.
    assert_eq!(
        world
            .deliver(&bridge, "issue_comment", &comment("/jules status", 9700))
            .await,
        202
    );
    eventually("the session is relayed again", || async {
        bridge
            .state
            .store
            .get_session(&session)
            .await
            .unwrap()
            .is_some_and(|s| s.active)
    })
    .await;
    step(&world.jules, 2).await;
    eventually("the relay shows the plan", || async {
        world.status_body(109).contains("Plan ready")
    })
    .await;
    bridge.stop().await;
}

/// A session waiting for a person when its issue is closed would wait forever: it is
/// archived, and the status comment says so. (A working one is left to finish: above.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_the_issue_archives_a_session_that_waits_for_a_person() {
    let world = World::new(Db::Sqlite).await;
    let bridge = world.start(1).await;
    assert_eq!(world.deliver(&bridge, "issues", &labeled()).await, 202);
    eventually("the status comment appears", || async {
        !world.status_body(109).is_empty()
    })
    .await;
    step(&world.jules, 2).await;
    eventually("the relay shows the plan waiting for approval", || async {
        world.status_body(109).contains("Plan ready")
    })
    .await;
    let session = session_of(&world, 109).await;
    let closed = fixture(
        "issues.labeled.3.json",
        &[
            ("/action", json!("closed")),
            ("/issue/state", json!("closed")),
        ],
    );
    assert_eq!(world.deliver(&bridge, "issues", &closed).await, 202);
    eventually(
        "the status comment says the session was archived",
        || async {
            world
                .status_body(109)
                .contains("the session archived: the issue was closed while Jules waited")
        },
    )
    .await;
    let jules = client_for(&world.jules);
    assert!(jules.get_session(&session).await.unwrap().archived);
    bridge.stop().await;
}

/// When Jules opens a pull request for an issue's session, the pull request gets the
/// session's status comment (its signed marker is the link), and merging the pull request
/// archives the session and says so there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pull_request_jules_opened_is_linked_and_merging_it_archives_the_session() {
    let world = World::new(Db::Sqlite).await;
    let bridge = world.start(1).await;
    assert_eq!(world.deliver(&bridge, "issues", &labeled()).await, 202);
    eventually("the status comment appears", || async {
        !world.status_body(109).is_empty()
    })
    .await;
    step(&world.jules, 2).await;
    eventually("the plan is shown", || async {
        world.status_body(109).contains("Plan ready")
    })
    .await;
    let body = world.status_body(109);
    let short = body.split("/jules approve ").nth(1).unwrap()[..6].to_owned();
    let approve = comment(&format!("/jules approve {short}"), 9101);
    assert_eq!(world.deliver(&bridge, "issue_comment", &approve).await, 202);
    let session = session_of(&world, 109).await;
    eventually("the plan is approved", || async {
        world.client.get_session(&session).await.unwrap().state == State::InProgress
    })
    .await;
    // Jules opens its first pull request of this repository: it exists on GitHub.
    world.github.add_pull(REPO, 1, "fix-109", REPO, "main");
    for _ in 0..6 {
        step(&world.jules, 1).await;
    }
    let pr_url = || async {
        world
            .client
            .get_session(&session)
            .await
            .unwrap()
            .pull_request()
            .map(|pr| pr.url.clone())
    };
    eventually("Jules opened a pull request", || async {
        pr_url().await.is_some()
    })
    .await;
    let url = pr_url().await.unwrap();
    let pull: u64 = url.rsplit('/').next().unwrap().parse().unwrap();
    eventually(
        "the pull request has the session's status comment",
        || async {
            world
                .status_body(pull)
                .contains(&format!("session={session} "))
        },
    )
    .await;
    assert!(world
        .status_body(pull)
        .contains("Jules opened this pull request for #109"));

    // The pull request is merged: the session is archived, and the pull request says so.
    let merged = fixture(
        "pull_request.closed.json",
        &[
            ("/pull_request/merged", json!(true)),
            ("/pull_request/number", json!(pull)),
            ("/number", json!(pull)),
            ("/repository", labeled()["repository"].clone()),
            ("/installation", labeled()["installation"].clone()),
            ("/sender", labeled()["sender"].clone()),
        ],
    );
    assert_eq!(world.deliver(&bridge, "pull_request", &merged).await, 202);
    eventually("the session is archived", || async {
        world.client.get_session(&session).await.unwrap().archived
    })
    .await;
    eventually("the pull request says why", || async {
        world
            .status_body(pull)
            .contains("Stopped because the pull request was merged")
    })
    .await;
    eventually("the issue hears it too", || async {
        world
            .status_body(109)
            .contains(&format!("Stopped from #{pull}"))
    })
    .await;
    assert_eq!(
        world.bot_comments(pull).len(),
        1,
        "one status comment on the pull request, edited in place"
    );
    bridge.stop().await;
}

/// The same pull-request loop in server mode (a GitHub App): a labeled pull request's session
/// is its check run, and a submitted review reaches it as one message answered in the thread.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_review_reaches_the_pull_requests_session_in_server_mode() {
    let world = World::new(Db::Sqlite).await;
    let bridge = world.start(1).await;
    let pull = 7;
    world.github.add_pull(REPO, pull, "feature", REPO, "main");
    let here = |name: &str, changes: &[(&str, Value)]| {
        let mut payload = fixture(name, changes);
        payload["repository"] = labeled()["repository"].clone();
        payload["installation"] = labeled()["installation"].clone();
        payload["sender"] = labeled()["sender"].clone();
        payload["pull_request"]["number"] = json!(pull);
        payload["pull_request"]["head"]["repo"]["full_name"] = json!(REPO);
        payload
    };
    let label = here(
        "pull_request.labeled.json",
        &[("/label/name", json!("jules-bridge"))],
    );
    assert_eq!(world.deliver(&bridge, "pull_request", &label).await, 202);
    eventually("the pull request's status comment appears", || async {
        !world.status_body(pull).is_empty()
    })
    .await;
    let session = session_of(&world, pull).await;
    eventually("its check run exists", || async {
        world
            .github
            .check_runs(REPO)
            .iter()
            .any(|run| run.external_id.as_deref() == Some(session.as_str()))
    })
    .await;

    // Jules writes its plan: the relay turns the check run into "action required".
    step(&world.jules, 2).await;
    eventually("the check run asks for the approval", || async {
        world.github.check_runs(REPO).iter().any(|run| {
            run.external_id.as_deref() == Some(session.as_str())
                && run.conclusion.as_deref() == Some("action_required")
        })
    })
    .await;

    let reviewer = labeled()["sender"]["login"].as_str().unwrap().to_owned();
    let asked = world.github.add_review_comment(
        REPO,
        pull,
        237895671,
        &reviewer,
        "/jules handle the empty input here",
        "src/main.rs",
        Some(12),
        None,
        "@@ -10,3 +10,4 @@\n+    let input = read();",
    );
    let mut review = here("pull_request_review.submitted.json", &[]);
    review["review"]["user"] = labeled()["sender"].clone();
    assert_eq!(
        world.deliver(&bridge, "pull_request_review", &review).await,
        202
    );
    eventually("Jules received the review as a message", || async {
        steering_received(&world.client, &session)
            .await
            .iter()
            .any(|m| m.starts_with("message: handle the empty input here\n\n(Review comment on src/main.rs, line 12:)"))
    })
    .await;
    eventually("the thread has the answer", || async {
        world
            .github
            .review_comments(REPO, pull)
            .iter()
            .any(|c| c.in_reply_to_id == Some(asked) && c.body.starts_with("Sent to Jules"))
    })
    .await;
    bridge.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_the_installation_stops_its_sessions() {
    let world = World::new(Db::Sqlite).await;
    let bridge = world.start(1).await;
    assert_eq!(world.deliver(&bridge, "issues", &labeled()).await, 202);
    eventually("the status comment appears", || async {
        !world.status_body(109).is_empty()
    })
    .await;
    let session = session_of(&world, 109).await;
    // The worker records the session right after posting its status comment.
    let tracked = |active: bool| {
        let store = &bridge.state.store;
        let session = &session;
        async move {
            store
                .get_session(session)
                .await
                .unwrap()
                .is_some_and(|s| s.active == active)
        }
    };
    eventually("the session is relayed", || tracked(true)).await;
    let removed = fixture(
        "installation.deleted.json",
        &[("/installation/id", json!(INSTALLATION))],
    );
    assert_eq!(world.deliver(&bridge, "installation", &removed).await, 202);
    eventually("the session is no longer relayed", || tracked(false)).await;
    // The delivery is recorded done just after the sessions are stopped.
    eventually("the installation delivery is done", || async {
        bridge
            .state
            .store
            .list_deliveries(Some(DeliveryStatus::Done), 10)
            .await
            .unwrap()
            .iter()
            .any(|d| d.event == "installation")
    })
    .await;
    bridge.stop().await;
}

/// A suspended installation is treated like a removed one: its sessions are no longer relayed
/// (GitHub refuses its tokens until it is unsuspended).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suspending_the_installation_stops_its_sessions() {
    let world = World::new(Db::Sqlite).await;
    let bridge = world.start(1).await;
    assert_eq!(world.deliver(&bridge, "issues", &labeled()).await, 202);
    eventually("the status comment appears", || async {
        !world.status_body(109).is_empty()
    })
    .await;
    let session = session_of(&world, 109).await;
    let active = || async {
        bridge
            .state
            .store
            .get_session(&session)
            .await
            .unwrap()
            .map(|s| s.active)
    };
    eventually("the session is relayed", || async {
        active().await == Some(true)
    })
    .await;
    let suspended = fixture(
        "installation.suspend.json",
        &[("/installation/id", json!(INSTALLATION))],
    );
    assert_eq!(
        world.deliver(&bridge, "installation", &suspended).await,
        202
    );
    eventually("the session is no longer relayed", || async {
        active().await == Some(false)
    })
    .await;
    bridge.stop().await;
}

/// Waits until the relay has read `session` once (it records when).
async fn relayed_once(bridge: &Bridge, session: &str) {
    eventually("the relay has read the session", || async {
        bridge
            .state
            .store
            .get_session(session)
            .await
            .unwrap()
            .is_some_and(|s| s.checked_at.is_some())
    })
    .await;
}

/// The requests Jules received about `session` itself (`sessions.get`, its activities).
fn requests_about(world: &World, session: &str) -> Vec<String> {
    let path = format!("/v1alpha/{session}");
    world
        .jules
        .request_log()
        .into_iter()
        .map(|record| record.path)
        .filter(|p| {
            let bare = p.split('?').next().unwrap_or_default();
            bare == path
                || bare.starts_with(&format!("{path}/"))
                || bare.starts_with(&format!("{path}:"))
        })
        .collect()
}

/// Other people and tools start sessions on the same Jules account: a hundred newer
/// sessions push the issue's session off the first `sessions.list` page. The relay still
/// shows its plan, found by its sweep over the older pages, not by reading each missing
/// session on its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_beyond_the_first_page_is_still_relayed() {
    let world = World::new(Db::Sqlite).await;
    world.jules.set_limits(jules_fake::Limits::unlimited());
    let bridge = world.start(1).await;
    assert_eq!(world.deliver(&bridge, "issues", &labeled()).await, 202);
    eventually("the status comment appears", || async {
        !world.status_body(109).is_empty()
    })
    .await;
    let session = session_of(&world, 109).await;
    relayed_once(&bridge, &session).await;
    for n in 0..100 {
        world
            .client
            .create_session(&jules_bridge::jules::NewSession::new(format!(
                "Another task {n}"
            )))
            .await
            .unwrap();
    }
    let first_page = world
        .client
        .list_sessions_page(false, Some(100), None)
        .await
        .unwrap();
    assert!(
        !first_page.sessions.iter().any(|s| s.name == session),
        "the issue's session is on an older page"
    );
    world.jules.clear_request_log();
    step(&world.jules, 2).await;
    eventually("the plan is shown", || async {
        world
            .status_body(109)
            .starts_with("📝 **Plan ready for review**")
    })
    .await;
    let alone: Vec<String> = requests_about(&world, &session)
        .into_iter()
        .filter(|path| !path.contains("/activities"))
        .collect();
    assert!(
        alone.is_empty(),
        "found on an older page, not read on its own: {alone:?}"
    );
    assert!(
        world
            .jules
            .request_log()
            .iter()
            .any(|r| r.method == "sessions.list" && r.path.contains("pageToken")),
        "an older page was read"
    );
    bridge.stop().await;
}

/// Someone deletes the session in Jules: the relay stops relaying it, once, and its status
/// comment says so (and how to start another), instead of showing a session that silently
/// never moves again; Jules is not asked about it any more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_deleted_in_jules_is_no_longer_relayed_and_the_issue_says_so() {
    let world = World::new(Db::Sqlite).await;
    let bridge = world.start(1).await;
    assert_eq!(world.deliver(&bridge, "issues", &labeled()).await, 202);
    eventually("the status comment appears", || async {
        !world.status_body(109).is_empty()
    })
    .await;
    let session = session_of(&world, 109).await;
    relayed_once(&bridge, &session).await;
    world.client.delete_session(&session).await.unwrap();
    eventually("the status comment says the session is gone", || async {
        world
            .status_body(109)
            .contains("Updates stopped: this session no longer exists in Jules")
    })
    .await;
    let body = world.status_body(109);
    assert!(
        body.contains("Start another with `/jules <task>`"),
        "{body}"
    );
    assert!(
        body.contains(&format!("session={session}")),
        "still the session's status comment: {body}"
    );
    let tracked = bridge
        .state
        .store
        .get_session(&session)
        .await
        .unwrap()
        .unwrap();
    assert!(!tracked.active);
    idle(&world, &bridge).await;
    world.jules.clear_request_log();
    relay_iterations(&world, 3).await;
    assert_eq!(requests_about(&world, &session), Vec::<String>::new());
    assert_eq!(world.bot_comments(109).len(), 1, "no other comment");
    bridge.stop().await;
}

/// `daily_session_budget: 1`: the first request of the UTC day starts a session; the next
/// ones wait in the queue, told why and where they stand, and still wait once the first
/// session has finished (the budget is per day, not per running session).
async fn the_daily_budget_queues_the_next_requests(db: Db) {
    let world = World::new(db).await;
    world.github.set_file(
        REPO,
        ".github/jules-bridge.yml",
        "require_plan_approval: false\nlimits:\n  daily_session_budget: 1\n",
    );
    let bridge = world.start(2).await;
    assert_eq!(
        world.deliver(&bridge, "issues", &labeled_issue(760)).await,
        202
    );
    eventually("the first status comment", || async {
        !world.status_body(760).is_empty()
    })
    .await;
    for (number, position) in [(761, 1), (762, 2)] {
        assert_eq!(
            world
                .deliver(&bridge, "issues", &labeled_issue(number))
                .await,
            202
        );
        eventually("the request is queued with its position", || async {
            world.bot_comments(number).iter().any(|c| {
                c.body
                    .starts_with(&format!("⏳ **Queued** (position {position})"))
                    && c.body.contains(
                        "This repository's budget of 1 Jules sessions per day is used up (it resets at 00:00 UTC)",
                    )
            })
        })
        .await;
    }
    // The first session finishes: a slot is free, the day's budget is not.
    let first = session_of(&world, 760).await;
    for _ in 0..12 {
        step(&world.jules, 1).await;
        if world.client.get_session(&first).await.unwrap().state == State::Completed {
            break;
        }
    }
    eventually("the relay shows the first session done", || async {
        world.status_body(760).starts_with("✅ **Done**")
    })
    .await;
    idle(&world, &bridge).await;
    assert_eq!(world.jules.session_count(), 1, "Jules was asked once");
    for number in [761, 762] {
        let comments = world.bot_comments(number);
        assert_eq!(comments.len(), 1, "{comments:#?}");
        assert!(
            comments[0].body.starts_with("⏳ **Queued**"),
            "{}",
            comments[0].body
        );
    }
    bridge.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daily_budget_queues_the_next_requests_on_sqlite() {
    the_daily_budget_queues_the_next_requests(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daily_budget_queues_the_next_requests_on_postgres() {
    the_daily_budget_queues_the_next_requests(Db::Postgres).await;
}

/// Time passes for everyone: Jules (the fake's clock: what it writes from now on is later)
/// and the bridge (the stall watchdog's "now").
fn time_passes(world: &World, bridge: &Bridge, by: Duration) {
    world.jules.advance_clock(by);
    bridge.state.clock.advance(by);
}

const STALL_NOTICE: &str = "No new activity from Jules for 30 minutes or more";
const STALL_MENTION: &str = "@harshraj8843 Jules has shown no new activity in [session";
const PLAN_REMINDER: &str = "@harshraj8843 Reminder: the plan of [session";

fn bot_comments_with(world: &World, issue: u64, start: &str) -> usize {
    world
        .bot_comments(issue)
        .iter()
        .filter(|c| c.body.starts_with(start))
        .count()
}

/// When the relay last read `session` on its own.
async fn checked_at(bridge: &Bridge, session: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    bridge
        .state
        .store
        .get_session(session)
        .await
        .unwrap()
        .and_then(|s| s.checked_at)
}

/// The stall watchdog: a working session with no new activity for `stall_minutes` (default
/// 30) gets one line on its status comment and one comment that mentions the requester; no
/// second mention on later ticks, nor when it stays quiet for another hour.
async fn a_stalled_session_is_nudged_once(db: Db) {
    let world = World::new(db).await;
    world.github.set_file(
        REPO,
        ".github/jules-bridge.yml",
        "require_plan_approval: false\n",
    );
    let bridge = world.start(1).await;
    assert_eq!(world.deliver(&bridge, "issues", &labeled()).await, 202);
    eventually("the status comment appears", || async {
        !world.status_body(109).is_empty()
    })
    .await;
    let session = session_of(&world, 109).await;
    for _ in 0..6 {
        step(&world.jules, 1).await;
        if world.client.get_session(&session).await.unwrap().state == State::InProgress {
            break;
        }
    }
    eventually("the relay shows the session working", || async {
        world.status_body(109).contains("Jules is working")
    })
    .await;
    idle(&world, &bridge).await;
    assert!(!world.status_body(109).contains(STALL_NOTICE));
    assert_eq!(bot_comments_with(&world, 109, STALL_MENTION), 0, "not yet");

    time_passes(&world, &bridge, Duration::from_secs(31 * 60));
    eventually("the requester is told the session looks stuck", || async {
        bot_comments_with(&world, 109, STALL_MENTION) == 1
    })
    .await;
    eventually("the status comment says so", || async {
        world.status_body(109).contains(STALL_NOTICE)
    })
    .await;
    idle(&world, &bridge).await;
    // Quiet for another hour, and read again by the relay's working sweep since.
    time_passes(&world, &bridge, Duration::from_secs(60 * 60));
    let read = checked_at(&bridge, &session).await;
    eventually("the relay reads the session again", || async {
        checked_at(&bridge, &session).await > read
    })
    .await;
    relay_iterations(&world, 2).await;
    assert_eq!(
        bot_comments_with(&world, 109, STALL_MENTION),
        1,
        "one mention per session: {:#?}",
        world.bot_comments(109)
    );
    assert!(world.status_body(109).contains(STALL_NOTICE));
    bridge.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_session_is_nudged_once_on_sqlite() {
    a_stalled_session_is_nudged_once(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_session_is_nudged_once_on_postgres() {
    a_stalled_session_is_nudged_once(Db::Postgres).await;
}

/// A plan waiting for approval for `remind_hours` (default 24) gets one reminder that
/// mentions the requester; never a second, however long it keeps waiting, and a waiting
/// session is never called stalled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_waiting_for_approval_gets_one_reminder() {
    let world = World::new(Db::Sqlite).await;
    let bridge = world.start(1).await;
    assert_eq!(world.deliver(&bridge, "issues", &labeled()).await, 202);
    eventually("the status comment appears", || async {
        !world.status_body(109).is_empty()
    })
    .await;
    step(&world.jules, 2).await;
    eventually("plan shown", || async {
        world.status_body(109).contains("Plan ready")
    })
    .await;
    idle(&world, &bridge).await;
    time_passes(&world, &bridge, Duration::from_secs(23 * 3600));
    relay_iterations(&world, 3).await;
    assert_eq!(bot_comments_with(&world, 109, PLAN_REMINDER), 0, "not yet");

    time_passes(&world, &bridge, Duration::from_secs(3600));
    eventually("the requester is reminded of the plan", || async {
        bot_comments_with(&world, 109, PLAN_REMINDER) == 1
    })
    .await;
    idle(&world, &bridge).await;
    let session = session_of(&world, 109).await;
    let calls = requests_about(&world, &session).len();
    time_passes(&world, &bridge, Duration::from_secs(48 * 3600));
    relay_iterations(&world, 3).await;
    assert_eq!(
        bot_comments_with(&world, 109, PLAN_REMINDER),
        1,
        "one reminder per session: {:#?}",
        world.bot_comments(109)
    );
    assert_eq!(
        requests_about(&world, &session).len(),
        calls,
        "a reminded session that does not change costs no call per tick"
    );
    // A restart forgets what the process knew; the store remembers the reminder.
    bridge.stop().await;
    let bridge = world.start(1).await;
    bridge
        .state
        .clock
        .advance(Duration::from_secs((24 + 48) * 3600));
    let before = requests_about(&world, &session).len();
    eventually(
        "the restarted relay looks at the waiting session",
        || async { requests_about(&world, &session).len() > before },
    )
    .await;
    idle(&world, &bridge).await;
    assert_eq!(
        bot_comments_with(&world, 109, PLAN_REMINDER),
        1,
        "not again after a restart: {:#?}",
        world.bot_comments(109)
    );
    assert_eq!(bot_comments_with(&world, 109, STALL_MENTION), 0);
    assert!(world.status_body(109).contains("Plan ready"));
    bridge.stop().await;
}

/// A repository's own `stall_minutes: 0` turns the watchdog's stall check off.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repository_can_turn_the_stall_check_off() {
    let world = World::new(Db::Sqlite).await;
    world.github.set_file(
        REPO,
        ".github/jules-bridge.yml",
        "require_plan_approval: false\nstall_minutes: 0\n",
    );
    let bridge = world.start(1).await;
    assert_eq!(world.deliver(&bridge, "issues", &labeled()).await, 202);
    eventually("the status comment appears", || async {
        !world.status_body(109).is_empty()
    })
    .await;
    let session = session_of(&world, 109).await;
    for _ in 0..6 {
        step(&world.jules, 1).await;
        if world.client.get_session(&session).await.unwrap().state == State::InProgress {
            break;
        }
    }
    eventually("the relay shows the session working", || async {
        world.status_body(109).contains("Jules is working")
    })
    .await;
    idle(&world, &bridge).await;
    time_passes(&world, &bridge, Duration::from_secs(3 * 3600));
    let read = checked_at(&bridge, &session).await;
    eventually("the relay reads the session again", || async {
        checked_at(&bridge, &session).await > read
    })
    .await;
    relay_iterations(&world, 2).await;
    assert_eq!(bot_comments_with(&world, 109, STALL_MENTION), 0);
    assert!(!world.status_body(109).contains(STALL_NOTICE));
    bridge.stop().await;
}
