//! Start-up and configuration of the real `jules-bridge serve` binary (and the database
//! commands): what it logs by default, every configuration problem reported at once with
//! exit code 2 before the database is touched, `DATABASE_URL` mistakes, `LOG_FORMAT`, and the
//! Jules key checked at start (a refused key stops it, an outage does not).

mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::*;

// ---- helpers ------------------------------------------------------------------------------

/// A finished run of the binary.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    took: Duration,
}

/// Runs `jules-bridge ARGS` in `dir` with only `env` (and `PATH`) until it exits; panics if it
/// is still running after `limit`.
async fn run_bin(args: &[&str], env: &[(String, String)], dir: &Path, limit: Duration) -> Run {
    let out = dir.join(format!("run-{}.stdout", uuid::Uuid::new_v4().simple()));
    let err = out.with_extension("stderr");
    let mut command = Command::new(env!("CARGO_BIN_EXE_jules-bridge"));
    command
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap());
    for (name, value) in env {
        command.env(name, value);
    }
    let started = Instant::now();
    let mut child = command.spawn().expect("the binary starts");
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "`jules-bridge {}` still runs after {limit:?}: {}",
                args.join(" "),
                std::fs::read_to_string(&err).unwrap_or_default()
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    Run {
        code: status.code(),
        stdout: std::fs::read_to_string(&out).unwrap(),
        stderr: std::fs::read_to_string(&err).unwrap(),
        took: started.elapsed(),
    }
}

fn set(env: &mut Vec<(String, String)>, name: &str, value: &str) {
    env.retain(|(n, _)| n != name);
    env.push((name.to_owned(), value.to_owned()));
}

fn unset(env: &mut Vec<(String, String)>, name: &str) {
    env.retain(|(n, _)| n != name);
}

/// Waits until the log file holds `needle`; returns the whole log.
async fn log_with(log: &Path, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if text.contains(needle) {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "the log never showed {needle:?}:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// The log's JSON lines (the harness's `---- start ----` markers aside); panics on any
/// other line.
fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .filter(|line| !line.trim().is_empty() && !line.starts_with("---- "))
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|_| panic!("not a JSON line: {line}"))
        })
        .collect()
}

fn line_with<'a>(lines: &'a [Value], message: &str) -> &'a Value {
    lines
        .iter()
        .find(|line| line["message"].as_str() == Some(message))
        .unwrap_or_else(|| panic!("no {message:?} line in {lines:#?}"))
}

/// Token-mode `serve` settings wired to the world's fakes, JSON logs, RUST_LOG unset.
fn token_env(world: &World) -> Vec<(String, String)> {
    let mut env = token_server_env(
        &world.jules,
        &world.github,
        &path_in(&world.dir, "bridge.db"),
    );
    set(&mut env, "LOG_FORMAT", "json");
    env
}

/// A GitHub in front of github-fake that also answers `GET /app/installations` (github-fake
/// does not) with `installations`, remembering the `Authorization` it was sent.
async fn github_with_installations(
    world: &World,
    installations: Value,
) -> (String, Arc<Mutex<Option<String>>>) {
    use axum::body::{Body, Bytes};
    use axum::http::{HeaderMap, Method, Uri};
    let seen = Arc::new(Mutex::new(None));
    let base = world.github.url();
    let http = reqwest::Client::new();
    let app = axum::Router::new()
        .route(
            "/app/installations",
            axum::routing::get({
                let seen = Arc::clone(&seen);
                move |headers: HeaderMap| {
                    let auth = headers
                        .get("authorization")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned);
                    *seen.lock().unwrap() = auth;
                    let installations = installations.clone();
                    async move { axum::Json(installations) }
                }
            }),
        )
        .fallback(
            move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                let (http, base) = (http.clone(), base.clone());
                async move {
                    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
                    let mut request = http.request(method, format!("{base}{path}"));
                    for (name, value) in &headers {
                        if name != "host" {
                            request = request.header(name, value);
                        }
                    }
                    let answer = request
                        .body(body)
                        .send()
                        .await
                        .expect("github-fake answers");
                    let mut response = axum::response::Response::builder().status(answer.status());
                    for (name, value) in answer.headers() {
                        response = response.header(name, value);
                    }
                    response
                        .body(Body::from(answer.bytes().await.unwrap()))
                        .unwrap()
                }
            },
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, seen)
}

// ---- 1. what `serve` logs by default ----------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_logs_its_start_at_info_when_rust_log_is_unset() {
    let world = World::new(Mode::Token).await;
    let env = token_env(&world);
    assert!(env.iter().all(|(name, _)| name != "RUST_LOG"));
    let log = path_in(&world.dir, "serve.log");
    let port = free_port();
    let server = ServerProcess::start(&env, port, &log).await;
    let text = log_with(&log, "the bridge's GitHub identity is known").await;
    server.terminate(Duration::from_secs(10)).await;

    let lines = json_lines(&text);
    let serving = line_with(&lines, "jules-bridge serving");
    assert_eq!(serving["level"], "INFO");
    assert_eq!(serving["addr"], format!("127.0.0.1:{port}"));
    let db = path_in(&world.dir, "bridge.db");
    assert_eq!(serving["store"], format!("SQLite file {}", db.display()));
    assert_eq!(serving["github"], "a token (GITHUB_TOKEN)");
    assert_eq!(serving["jules_api"], format!("{}/", world.jules.url()));
    let identity = line_with(&lines, "the bridge's GitHub identity is known");
    assert_eq!(identity["level"], "INFO");
    line_with(&lines, "Jules accepts JULES_API_KEY");
    // The key check is one `sources.list` page of one source.
    let checks: Vec<String> = world
        .jules
        .request_log()
        .into_iter()
        .filter(|record| record.method == "sources.list")
        .map(|record| record.path)
        .collect();
    assert_eq!(checks, ["/v1alpha/sources?pageSize=1"]);
    // Dependencies stay at warn.
    for line in &lines {
        if line["level"] == "INFO" || line["level"] == "DEBUG" {
            let target = line["target"].as_str().unwrap();
            assert!(target.starts_with("jules_bridge"), "{line}");
        }
    }
    // No secret of the settings.
    for secret in [KEY, SECRET, GITHUB_TOKEN] {
        assert!(!text.contains(secret), "{secret} in the log:\n{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn app_mode_logs_its_app_id_identity_and_installations() {
    let world = World::new(Mode::App).await;
    let (github_url, seen) = github_with_installations(
        &world,
        json!([
            {"id": 1, "account": {"login": "octo-org"}, "repository_selection": "all"},
            {"id": 2, "account": {"login": "octocat"}, "repository_selection": "selected"},
            {"id": 3, "account": {"login": "hubot"}, "repository_selection": "selected"},
        ]),
    )
    .await;
    let key_path = path_in(&world.dir, "app.pem");
    std::fs::write(&key_path, PRIVATE_KEY).unwrap();
    let mut env = token_env(&world);
    unset(&mut env, "GITHUB_TOKEN");
    set(&mut env, "APP_ID", &APP_ID.to_string());
    set(
        &mut env,
        "PRIVATE_KEY_PATH",
        &key_path.display().to_string(),
    );
    set(&mut env, "GITHUB_API_URL", &github_url);
    let log = path_in(&world.dir, "serve.log");
    let server = ServerProcess::start(&env, free_port(), &log).await;
    log_with(&log, "the bridge's GitHub identity is known").await;
    let text = log_with(&log, "the GitHub App's installations").await;
    server.terminate(Duration::from_secs(10)).await;

    let lines = json_lines(&text);
    let serving = line_with(&lines, "jules-bridge serving");
    assert_eq!(serving["github"], format!("GitHub App {APP_ID}"));
    let identity = line_with(&lines, "the bridge's GitHub identity is known");
    assert!(
        identity["logins"].as_str().unwrap().contains(APP_BOT),
        "{identity}"
    );
    let installations = line_with(
        &lines,
        "the GitHub App's installations (accounts; repositories are not counted)",
    );
    assert_eq!(installations["installations"], "3");
    assert_eq!(installations["all_repositories"], 1);
    assert_eq!(installations["selected_repositories"], 2);
    let auth = seen
        .lock()
        .unwrap()
        .clone()
        .expect("installations were asked");
    assert!(auth.starts_with("Bearer "), "the App's JWT: {auth}");
    assert!(!text.contains("BEGIN RSA PRIVATE KEY"));
}

// ---- 2. every configuration problem at once ---------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_configuration_problem_is_reported_at_once_before_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let pem = path_in(&dir, "app.pem");
    std::fs::write(&pem, "-----BEGIN RSA PRIVATE KEY-----\nnot a key\n").unwrap();
    let db = path_in(&dir, "bridge.db");
    let env: Vec<(String, String)> = [
        ("APP_ID", "4242".to_owned()),
        ("PRIVATE_KEY_PATH", pem.display().to_string()),
        ("JULES_API_KEY", KEY.to_owned()),
        ("JULES_API_URL", "http://jules.example.com".to_owned()),
        ("DATABASE_URL", format!("sqlite:{}", db.display())),
        ("WORKERS", "many".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let run = run_bin(&["serve"], &env, dir.path(), Duration::from_secs(20)).await;
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    let err = &run.stderr;
    assert!(err.contains("4 configuration problems"), "{err}");
    assert!(
        err.contains(&format!(
            "PRIVATE_KEY_PATH {} does not hold an RSA private key",
            pem.display()
        )),
        "{err}"
    );
    assert!(
        err.contains("JULES_API_URL \"http://jules.example.com\""),
        "{err}"
    );
    assert!(err.contains("must use https"), "{err}");
    assert!(err.contains("WEBHOOK_SECRET is required"), "{err}");
    assert!(err.contains("WORKERS must be a whole number"), "{err}");
    // Named as set, and not contradicted: the key was given, it is just not usable.
    assert!(!err.contains("PRIVATE_KEY is"), "{err}");
    assert!(!err.contains("APP_ID is set but"), "{err}");
    assert!(!db.exists(), "the database was not touched");
    assert!(run.stdout.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_problems_name_the_variable_that_was_set() {
    let dir = tempfile::tempdir().unwrap();
    let base: Vec<(String, String)> = [
        ("JULES_API_KEY", KEY),
        ("WEBHOOK_SECRET", SECRET),
        ("DATABASE_URL", "sqlite:bridge.db"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let serve = |env: Vec<(String, String)>| {
        let dir = dir.path().to_owned();
        async move {
            let run = run_bin(&["serve"], &env, &dir, Duration::from_secs(20)).await;
            assert_eq!(run.code, Some(2), "{}", run.stderr);
            run.stderr
        }
    };

    // A key file that is not there, without APP_ID.
    let mut env = base.clone();
    set(&mut env, "PRIVATE_KEY_PATH", "/nonexistent/app.pem");
    let err = serve(env).await;
    assert!(
        err.contains("PRIVATE_KEY_PATH /nonexistent/app.pem: cannot read it"),
        "{err}"
    );
    assert!(
        err.contains("PRIVATE_KEY_PATH is set but APP_ID is not"),
        "{err}"
    );
    assert!(!err.contains("PRIVATE_KEY is"), "{err}");

    // A public key pasted as PRIVATE_KEY, and an APP_ID that is not a number.
    let mut env = base.clone();
    set(&mut env, "PRIVATE_KEY", PUBLIC_KEY);
    set(&mut env, "APP_ID", "my-app");
    let err = serve(env).await;
    assert!(
        err.contains("PRIVATE_KEY is not an RSA private key"),
        "{err}"
    );
    assert!(err.contains("it is a public key"), "{err}");
    assert!(err.contains("APP_ID \"my-app\" is not a number"), "{err}");
    assert!(!err.contains("PRIVATE_KEY_PATH"), "{err}");
    assert!(!err.contains("APP_ID is set but"), "{err}");

    // APP_ID alone.
    let mut env = base.clone();
    set(&mut env, "APP_ID", "4242");
    let err = serve(env).await;
    assert!(
        err.contains("APP_ID is set but PRIVATE_KEY / PRIVATE_KEY_PATH is not"),
        "{err}"
    );
    assert!(!dir.path().join("bridge.db").exists());
}

// ---- 3. DATABASE_URL ----------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unsupported_database_scheme_names_the_supported_ones() {
    let world = World::new(Mode::Token).await;
    let mut env = token_env(&world);
    set(
        &mut env,
        "DATABASE_URL",
        "mysql://bridge:hunter2@db.internal/bridge",
    );
    for args in [&["serve"][..], &["migrate"], &["deliveries", "list"]] {
        let run = run_bin(args, &env, world.dir.path(), Duration::from_secs(20)).await;
        assert_eq!(run.code, Some(2), "{args:?}: {}", run.stderr);
        let err = &run.stderr;
        assert!(err.contains("DATABASE_URL"), "{args:?}: {err}");
        assert!(
            err.contains("unsupported database URL scheme `mysql:`"),
            "{err}"
        );
        assert!(err.contains("`sqlite:FILE`"), "{err}");
        assert!(
            err.contains("`postgres://...` or `postgresql://...`"),
            "{err}"
        );
        assert!(
            !err.contains("hunter2"),
            "the password is not repeated: {err}"
        );
    }
    assert_eq!(
        world.jules.request_count("sources.list"),
        0,
        "a configuration error stops before any call"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_postgres_names_host_and_cause_within_seconds() {
    let world = World::new(Mode::Token).await;
    let mut env = token_env(&world);
    // Port 1 on loopback: nothing listens, the connection is refused.
    set(
        &mut env,
        "DATABASE_URL",
        "postgres://bridge:hunter2@127.0.0.1:1/bridge",
    );
    for args in [&["serve"][..], &["migrate"], &["deliveries", "list"]] {
        let run = run_bin(args, &env, world.dir.path(), Duration::from_secs(20)).await;
        assert_eq!(run.code, Some(1), "{args:?}: {}", run.stderr);
        let err = &run.stderr;
        assert!(
            err.contains("cannot connect to PostgreSQL at 127.0.0.1:1"),
            "{args:?}: {err}"
        );
        assert!(err.to_lowercase().contains("refused"), "the cause: {err}");
        assert!(!err.contains("hunter2"), "{err}");
        assert!(
            run.took < Duration::from_secs(8),
            "{args:?} took {:?}",
            run.took
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_without_a_sqlite_file_says_so_and_creates_none() {
    let dir = tempfile::tempdir().unwrap();
    let db = path_in(&dir, "missing.db");
    for url in [format!("sqlite:{}", db.display()), db.display().to_string()] {
        let env = vec![("DATABASE_URL".to_owned(), url.clone())];
        let run = run_bin(
            &["deliveries", "list"],
            &env,
            dir.path(),
            Duration::from_secs(20),
        )
        .await;
        assert_eq!(run.code, Some(1), "{url}: {}", run.stderr);
        assert!(
            run.stderr
                .contains(&format!("no SQLite database at {}", db.display())),
            "{url}: {}",
            run.stderr
        );
        assert!(run.stdout.is_empty());
        assert!(!db.exists(), "{url}: no empty database was created");
    }
    // The default URL (`sqlite:jules-bridge.db` in the working directory) too.
    let run = run_bin(
        &["deliveries", "list"],
        &[],
        dir.path(),
        Duration::from_secs(20),
    )
    .await;
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(
        run.stderr.contains("no SQLite database at /") && run.stderr.contains("/jules-bridge.db:"),
        "{}",
        run.stderr
    );
    assert!(!dir.path().join("jules-bridge.db").exists());

    // Once `migrate` created it, `deliveries list` works (and lists nothing).
    let env = vec![(
        "DATABASE_URL".to_owned(),
        format!("sqlite:{}", db.display()),
    )];
    let migrated = run_bin(&["migrate"], &env, dir.path(), Duration::from_secs(20)).await;
    assert_eq!(migrated.code, Some(0), "{}", migrated.stderr);
    let listed = run_bin(
        &["deliveries", "list"],
        &env,
        dir.path(),
        Duration::from_secs(20),
    )
    .await;
    assert_eq!(listed.code, Some(0), "{}", listed.stderr);
    assert!(listed.stdout.is_empty());
}

// ---- 4. LOG_FORMAT ------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_lines_are_flat_and_carry_the_current_span_once() {
    let world = World::new(Mode::Token).await;
    let mut env = token_env(&world);
    set(&mut env, "WORKERS", "1");
    let log = path_in(&world.dir, "serve.log");
    let server = ServerProcess::start(&env, free_port(), &log).await;
    log_with(&log, "the bridge's GitHub identity is known").await;
    world.github.add_issue_at(TOKEN_REPO, 7);
    let body = serde_json::to_vec(&token_labeled(7)).unwrap();
    let status = post_delivery(&world.http, &server.url, "issues", "guid-startup-7", &body)
        .await
        .unwrap()
        .status();
    assert_eq!(status, 202);
    let text = log_with(&log, "delivery handled").await;
    server.terminate(Duration::from_secs(10)).await;

    let lines = json_lines(&text);
    for line in &lines {
        assert!(line.get("fields").is_none(), "flattened: {line}");
        assert!(line.get("spans").is_none(), "no span list: {line}");
        assert!(line["message"].is_string(), "{line}");
    }
    let handled = line_with(&lines, "delivery handled");
    assert_eq!(handled["span"]["name"], "delivery");
    assert_eq!(handled["span"]["guid"], "guid-startup-7");
    assert_eq!(
        handled.to_string().matches("guid-startup-7").count(),
        1,
        "the span's fields appear once: {handled}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_format_text_gives_plain_lines_and_a_bad_value_is_a_configuration_error() {
    let world = World::new(Mode::Token).await;
    let mut env = token_env(&world);
    set(&mut env, "LOG_FORMAT", "text");
    let log = path_in(&world.dir, "serve.log");
    let server = ServerProcess::start(&env, free_port(), &log).await;
    let text = log_with(&log, "the bridge's GitHub identity is known").await;
    server.terminate(Duration::from_secs(10)).await;
    let serving = text
        .lines()
        .find(|line| line.contains("jules-bridge serving"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(serving.contains("INFO"), "{serving}");
    assert!(serve_is_not_json(serving), "{serving}");
    assert!(
        !text.contains('\u{1b}'),
        "no colours off a terminal: {text}"
    );

    // A bad value: reported with the other problems (serve), or alone (other commands).
    set(&mut env, "LOG_FORMAT", "yaml");
    unset(&mut env, "WEBHOOK_SECRET");
    let run_serve = run_bin(&["serve"], &env, world.dir.path(), Duration::from_secs(20)).await;
    assert_eq!(run_serve.code, Some(2), "{}", run_serve.stderr);
    assert!(
        run_serve
            .stderr
            .contains("LOG_FORMAT must be json or text, not \"yaml\""),
        "{}",
        run_serve.stderr
    );
    assert!(
        run_serve.stderr.contains("WEBHOOK_SECRET is required"),
        "{}",
        run_serve.stderr
    );
    let run_list = run_bin(
        &["deliveries", "list"],
        &env,
        world.dir.path(),
        Duration::from_secs(20),
    )
    .await;
    assert_eq!(run_list.code, Some(2), "{}", run_list.stderr);
    assert!(run_list.stderr.contains("LOG_FORMAT must be json or text"));
}

fn serve_is_not_json(line: &str) -> bool {
    serde_json::from_str::<Value>(line).is_err()
}

// ---- 5. the Jules key at start -----------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jules_key_that_jules_rejects_stops_the_start_with_exit_2() {
    let world = World::new(Mode::Token).await;
    let mut env = token_env(&world);
    let wrong = "wrong-jules-key-0c4f1e";
    set(&mut env, "JULES_API_KEY", wrong);
    let run = run_bin(&["serve"], &env, world.dir.path(), Duration::from_secs(20)).await;
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert!(
        run.stderr.contains("JULES_API_KEY was rejected by Jules"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("401"), "{}", run.stderr);
    assert!(!run.stderr.contains(wrong), "{}", run.stderr);
    assert_eq!(world.jules.request_count("sources.list"), 1, "not retried");
    assert!(
        !path_in(&world.dir, "bridge.db").exists(),
        "the database was not touched"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jules_outage_at_start_only_warns() {
    let world = World::new(Mode::Token).await;
    inject(
        &world.jules,
        json!({"errorRate": 1.0, "errorStatus": 503, "methods": ["sources.list"]}),
    )
    .await;
    let env = token_env(&world);
    let log = path_in(&world.dir, "serve.log");
    let started = Instant::now();
    let server = ServerProcess::start(&env, free_port(), &log).await;
    assert!(started.elapsed() < Duration::from_secs(12));
    let text = log_with(&log, "jules-bridge serving").await;
    server.terminate(Duration::from_secs(10)).await;
    let lines = json_lines(&text);
    let warning = line_with(
        &lines,
        "cannot check JULES_API_KEY: Jules did not answer; starting anyway (Jules calls are retried)",
    );
    assert_eq!(warning["level"], "WARN");
    assert!(
        warning["error"].as_str().unwrap().contains("503"),
        "{warning}"
    );
    assert!(world.jules.request_count("sources.list") >= 1);

    // A Jules that never answers holds the start for the check's deadline (5 s), no more.
    inject(&world.jules, json!({"latencyMs": 60_000})).await;
    let log = path_in(&world.dir, "serve-slow.log");
    let started = Instant::now();
    let server = ServerProcess::start(&env, free_port(), &log).await;
    let took = started.elapsed();
    assert!(took < Duration::from_secs(9), "took {took:?}");
    let text = log_with(&log, "jules-bridge serving").await;
    server.terminate(Duration::from_secs(10)).await;
    assert!(
        text.contains("did not answer sources.list in time"),
        "{text}"
    );

    // Nothing listening at JULES_API_URL at all: the same.
    let mut env = token_env(&world);
    set(
        &mut env,
        "JULES_API_URL",
        &format!("http://127.0.0.1:{}", free_port()),
    );
    let log = path_in(&world.dir, "serve-unreachable.log");
    let server = ServerProcess::start(&env, free_port(), &log).await;
    let text = log_with(&log, "cannot check JULES_API_KEY").await;
    server.terminate(Duration::from_secs(10)).await;
    assert!(text.contains("jules-bridge serving"), "{text}");
}

#[test]
fn database_urls_are_described_without_their_password() {
    use jules_bridge::store::DatabaseLocation;
    let pg = DatabaseLocation::parse("postgresql://bridge:hunter2@db.internal:6543/jb").unwrap();
    assert_eq!(
        pg.to_string(),
        "PostgreSQL on db.internal:6543, database jb, user bridge"
    );
    let file = DatabaseLocation::parse("sqlite:/var/lib/jb/bridge.db?mode=rwc").unwrap();
    assert_eq!(file.to_string(), "SQLite file /var/lib/jb/bridge.db");
    assert_eq!(
        DatabaseLocation::parse("sqlite::memory:").unwrap(),
        DatabaseLocation::Sqlite(None)
    );
    assert_eq!(
        DatabaseLocation::parse("/srv/bridge.db").unwrap(),
        DatabaseLocation::Sqlite(Some("/srv/bridge.db".into()))
    );
    for bad in ["mysql://u:hunter2@h/db", "redis://h", "file:bridge.db", ""] {
        let error = DatabaseLocation::parse(bad).unwrap_err().to_string();
        assert!(error.contains("`sqlite:FILE`"), "{bad}: {error}");
        assert!(!error.contains("hunter2"), "{error}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_health_command_answers_for_the_container_health_check() {
    // The image has no shell or curl: `jules-bridge health` is its health check.
    let world = World::new(Mode::Token).await;
    let env = token_env(&world);
    let log = path_in(&world.dir, "serve.log");
    let port = free_port();
    let server = ServerProcess::start(&env, port, &log).await;
    log_with(&log, "the bridge's GitHub identity is known").await;
    let url = format!("http://127.0.0.1:{port}/readyz");
    let ready = run_bin(
        &["health", "--url", &url],
        &[],
        world.dir.path(),
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(ready.code, Some(0), "{}", ready.stderr);
    assert_eq!(ready.stdout.trim(), "ready");
    server.terminate(Duration::from_secs(10)).await;

    let gone = run_bin(
        &["health", "--url", &url],
        &[],
        world.dir.path(),
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(gone.code, Some(1));
    assert!(
        gone.stderr.contains("not ready: cannot reach"),
        "{}",
        gone.stderr
    );
}
