//! The built `jules-bridge` binary against `jules-fake`: output, JSON mode and exit codes.

mod common;

use std::process::{Command, Output};

use common::{live_fake, manual_fake, KEY};
use jules_fake::FakeServer;
use serde_json::Value;

/// Runs `jules-bridge jules ARGS` against the fake. Blocking is fine: the tests run on a
/// multi-threaded runtime, so the fake keeps serving on the worker threads.
fn jules(fake: &FakeServer, key: Option<&str>, args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_jules-bridge"));
    command
        .arg("jules")
        .args(args)
        .env("JULES_API_URL", fake.url())
        .env_remove("JULES_API_KEY")
        .env("RUST_LOG", "debug");
    if let Some(key) = key {
        command.env("JULES_API_KEY", key);
    }
    command.output().expect("the binary runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drives_a_session_end_to_end() {
    let fake = live_fake().await;
    let created = jules(
        &fake,
        Some(KEY),
        &[
            "--json",
            "sessions",
            "create",
            "--prompt",
            "Fix the flaky parser test",
            "--source",
            "octo-org/octo-repo",
            "--branch",
            "main",
            "--title",
            "Fix flaky test",
            "--require-plan-approval",
            "--auto-pr",
        ],
    );
    assert!(created.status.success(), "{}", stderr(&created));
    let session: Value = serde_json::from_str(&stdout(&created)).expect("one JSON document");
    let id = session["id"].as_str().unwrap().to_owned();
    assert_eq!(session["title"], "Fix flaky test");

    let plan = jules(
        &fake,
        Some(KEY),
        &[
            "activities",
            "watch",
            &id,
            "--until",
            "waiting",
            "--poll-ms",
            "10",
        ],
    );
    assert_eq!(plan.status.code(), Some(0), "{}", stderr(&plan));
    let text = stdout(&plan);
    assert!(
        text.contains("plan ") && text.contains("generated"),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "AWAITING_PLAN_APPROVAL (approve: jules-bridge jules sessions approve {id})"
        )),
        "{text}"
    );

    let approve = jules(
        &fake,
        Some(KEY),
        &["sessions", "approve", &format!("sessions/{id}")],
    );
    assert!(approve.status.success(), "{}", stderr(&approve));
    assert_eq!(
        stdout(&approve).trim(),
        format!("plan approved for sessions/{id}")
    );

    let done = jules(
        &fake,
        Some(KEY),
        &["activities", "watch", &id, "--poll-ms", "10"],
    );
    assert_eq!(done.status.code(), Some(0), "{}", stderr(&done));
    let text = stdout(&done);
    assert!(
        text.contains("plan ") && text.contains("approved"),
        "{text}"
    );
    assert!(text.contains("session completed"), "{text}");
    assert!(
        text.contains("COMPLETED (pull request https://github.com/octo-org/octo-repo/pull/"),
        "{text}"
    );

    let get = jules(&fake, Some(KEY), &["sessions", "get", &id]);
    assert!(stdout(&get).contains("pull request  https://github.com/octo-org/octo-repo/pull/"));
    // Debug logs were on for every run: the key never appears in them.
    for output in [&created, &plan, &approve, &done, &get] {
        assert!(!stderr(output).contains(KEY));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_session_exits_with_3() {
    let fake = live_fake().await;
    let created = jules(
        &fake,
        Some(KEY),
        &[
            "--json",
            "sessions",
            "create",
            "--prompt",
            "break it [fake:fail]",
        ],
    );
    let id = serde_json::from_str::<Value>(&stdout(&created)).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let watch = jules(
        &fake,
        Some(KEY),
        &["activities", "watch", &id, "--poll-ms", "10"],
    );
    assert_eq!(watch.status.code(), Some(3), "{}", stdout(&watch));
    assert!(stdout(&watch).contains("session failed: "));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_key_fails_before_any_request() {
    let fake = manual_fake().await;
    let output = jules(&fake, None, &["sessions", "list"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("no Jules API key: set JULES_API_KEY or pass --api-key"));
    assert_eq!(fake.request_count("sessions.list"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_session_prints_the_api_error() {
    let fake = manual_fake().await;
    let output = jules(&fake, Some(KEY), &["sessions", "get", "12345"]);
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(
        err.contains("404 NOT_FOUND: Requested entity was not found."),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_key_prints_status_and_reason_but_not_the_key() {
    let fake = manual_fake().await;
    let output = jules(&fake, Some("not-the-right-key-55"), &["sessions", "list"]);
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(err.contains("401 UNAUTHENTICATED"), "{err}");
    assert!(err.contains("check JULES_API_KEY"), "{err}");
    assert!(!err.contains("not-the-right-key-55"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_print_one_json_object_per_line() {
    let fake = manual_fake().await;
    for n in 0..3 {
        let output = jules(
            &fake,
            Some(KEY),
            &["sessions", "create", "--prompt", &format!("task {n}")],
        );
        assert!(output.status.success());
    }
    let output = jules(
        &fake,
        Some(KEY),
        &["--json", "sessions", "list", "--limit", "2"],
    );
    let lines: Vec<Value> = stdout(&output)
        .lines()
        .map(|line| serde_json::from_str(line).expect("each line is a JSON object"))
        .collect();
    assert_eq!(lines.len(), 2);
    assert!(lines[0]["prompt"].as_str().unwrap().starts_with("task 2"));

    let readable = jules(&fake, Some(KEY), &["sessions", "list"]);
    assert_eq!(stdout(&readable).lines().count(), 3);
    assert!(stdout(&readable).contains("QUEUED"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_session_verb_works_from_the_shell() {
    let fake = manual_fake().await;
    let created = jules(
        &fake,
        Some(KEY),
        &["--json", "sessions", "create", "--prompt", "x"],
    );
    let id = serde_json::from_str::<Value>(&stdout(&created)).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let message = jules(&fake, Some(KEY), &["sessions", "message", &id, "use tabs"]);
    assert_eq!(
        stdout(&message).trim(),
        format!("message sent to sessions/{id}")
    );
    let listed = jules(&fake, Some(KEY), &["activities", "list", &id]);
    assert!(
        stdout(&listed).contains("user: use tabs"),
        "{}",
        stdout(&listed)
    );
    let activity_id = serde_json::from_str::<Value>(
        stdout(&jules(
            &fake,
            Some(KEY),
            &["--json", "activities", "list", &id],
        ))
        .lines()
        .next()
        .unwrap(),
    )
    .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let shown = jules(&fake, Some(KEY), &["activities", "get", &id, &activity_id]);
    assert!(
        stdout(&shown).contains("kind          userMessaged"),
        "{}",
        stdout(&shown)
    );

    assert!(jules(&fake, Some(KEY), &["sessions", "archive", &id])
        .status
        .success());
    let archived = jules(&fake, Some(KEY), &["sessions", "list", "--archived"]);
    assert!(stdout(&archived).contains(&id));
    assert!(jules(&fake, Some(KEY), &["sessions", "unarchive", &id])
        .status
        .success());
    assert!(!stdout(&jules(
        &fake,
        Some(KEY),
        &["sessions", "list", "--archived"]
    ))
    .contains(&id));
    assert!(jules(&fake, Some(KEY), &["sessions", "delete", &id])
        .status
        .success());
    assert_eq!(
        jules(&fake, Some(KEY), &["sessions", "get", &id])
            .status
            .code(),
        Some(1)
    );

    let sources = jules(&fake, Some(KEY), &["sources", "get", "octo-org/octo-repo"]);
    assert!(
        stdout(&sources).starts_with("sources/github/octo-org/octo-repo"),
        "{}",
        stdout(&sources)
    );
    let listed = jules(&fake, Some(KEY), &["sources", "list"]);
    assert!(stdout(&listed).contains("sources/github/octo-org/octo-repo"));
}

#[test]
fn simulate_explains_a_decision_without_credentials() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/webhooks");
    let mut payload: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("issue_comment.created.json")).unwrap(),
    )
    .unwrap();
    payload["comment"]["body"] = Value::from("Thanks!\n\n/jules fix the typo in README.md");
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), serde_json::to_vec(&payload).unwrap()).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_jules-bridge"))
        .args(["simulate", "--event-name", "issue_comment", "--event"])
        .arg(file.path())
        .env_remove("GITHUB_TOKEN")
        .output()
        .unwrap();
    assert!(output.status.success());
    let text = stdout(&output);
    assert!(text.contains("sender      @Codertocat"), "{text}");
    assert!(
        text.contains("command     run: fix the typo in README.md"),
        "{text}"
    );
    assert!(
        text.contains("permission  not looked up (no GitHub token); assumed write"),
        "{text}"
    );
    assert!(text.contains("  | fix the typo in README.md"), "{text}");
    assert!(
        text.contains("Context: GitHub issue Codertocat/Hello-World#1"),
        "{text}"
    );
    assert!(
        text.contains("would       react 👀 to the comment"),
        "{text}"
    );
    assert!(text.contains("action-taken created"), "{text}");

    let labeled = dir.join("issues.labeled.json");
    let output = Command::new(env!("CARGO_BIN_EXE_jules-bridge"))
        .args(["simulate", "--event-name", "issues", "--event"])
        .arg(&labeled)
        .output()
        .unwrap();
    let text = stdout(&output);
    assert!(
        text.contains("decision    ignored: label `bug` is not the trigger label `jules-bridge`"),
        "{text}"
    );
    assert!(text.contains("action-taken ignored"), "{text}");
}

#[test]
fn serve_refuses_to_start_without_a_webhook_secret_and_says_everything_missing() {
    let output = Command::new(env!("CARGO_BIN_EXE_jules-bridge"))
        .arg("serve")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    assert!(err.contains("WEBHOOK_SECRET is required"), "{err}");
    assert!(err.contains("JULES_API_KEY is required"), "{err}");
    assert!(err.contains("GitHub credentials are required"), "{err}");

    let output = Command::new(env!("CARGO_BIN_EXE_jules-bridge"))
        .arg("serve")
        .env_clear()
        .env("WEBHOOK_SECRET", "s")
        .env("JULES_API_KEY", "k")
        .env("APP_ID", "12")
        .output()
        .unwrap();
    assert!(stderr(&output).contains("APP_ID is set but PRIVATE_KEY / PRIVATE_KEY_PATH is not"));
}

#[test]
fn migrate_and_deliveries_work_on_a_fresh_database() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("ops.db").display());
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_jules-bridge"))
            .args(args)
            .env("DATABASE_URL", &url)
            .output()
            .unwrap()
    };
    let migrated = run(&["migrate"]);
    assert!(migrated.status.success(), "{}", stderr(&migrated));
    assert_eq!(stdout(&migrated).trim(), "migrations applied");
    let listed = run(&["deliveries", "list"]);
    assert!(listed.status.success());
    assert_eq!(stdout(&listed), "");
    let missing = run(&["deliveries", "show", "12345"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(stderr(&missing).contains("no delivery 12345"));
    let bad = run(&["deliveries", "list", "--status", "weird"]);
    assert_eq!(bad.status.code(), Some(2));
}

// ---- the first hour of a user and an operator --------------------------------------------------

/// Runs `jules-bridge jules ARGS` against `url` (no fake behind it, or a fake's URL).
fn jules_at(url: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_jules-bridge"))
        .arg("jules")
        .args(args)
        .env("JULES_API_URL", url)
        .env("JULES_API_KEY", KEY)
        .env_remove("JULES_TIMEOUT")
        .env("RUST_LOG", "off")
        .output()
        .expect("the binary runs")
}

#[test]
fn a_closed_port_fails_fast_naming_the_host_and_the_refusal() {
    let started = std::time::Instant::now();
    let output = jules_at("http://127.0.0.1:1", &["sessions", "list"]);
    let took = started.elapsed();
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(took < std::time::Duration::from_secs(8), "took {took:?}");
    let err = stderr(&output);
    assert!(err.contains("127.0.0.1:1"), "{err}");
    assert!(err.contains("connection refused"), "{err}");
    // What was tried, and that it is on purpose.
    assert!(err.contains("tried 3 times in"), "{err}");
    assert!(err.contains("2 quick retries"), "{err}");
    assert_eq!(stdout(&output), "");
}

#[test]
fn an_unknown_host_is_not_retried() {
    let started = std::time::Instant::now();
    let output = jules_at("https://no-such-host.invalid", &["sessions", "list"]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(started.elapsed() < std::time::Duration::from_secs(8));
    let err = stderr(&output);
    assert!(err.contains("no-such-host.invalid"), "{err}");
    // Without a DNS server at all, the lookup fails as "temporary" and gets the quick retries.
    if err.contains("unknown host") {
        assert!(err.contains("not retried"), "{err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeout_bounds_a_call_and_the_error_names_the_limit() {
    let fake = manual_fake().await;
    common::inject(&fake, serde_json::json!({"latencyMs": 4000})).await;
    let started = std::time::Instant::now();
    let output = jules(&fake, Some(KEY), &["--timeout", "1", "sessions", "list"]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(started.elapsed() < std::time::Duration::from_secs(4));
    let err = stderr(&output);
    assert!(
        err.contains("did not answer sessions.list in time"),
        "{err}"
    );
    assert!(
        err.contains("limit 1 s per call: --timeout or JULES_TIMEOUT"),
        "{err}"
    );

    // JULES_TIMEOUT does the same; answers that mean "later" are retried until then.
    common::inject(
        &fake,
        serde_json::json!({"latencyMs": 0, "failNext": 1000, "errorStatus": 503, "methods": ["sessions.list"]}),
    )
    .await;
    let output = Command::new(env!("CARGO_BIN_EXE_jules-bridge"))
        .args(["jules", "sessions", "list"])
        .env("JULES_API_URL", fake.url())
        .env("JULES_API_KEY", KEY)
        .env("JULES_TIMEOUT", "3")
        .env("RUST_LOG", "off")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(err.contains("503 UNAVAILABLE"), "{err}");
    assert!(err.contains("limit 3 s per call"), "{err}");
    assert!(fake.request_count("sessions.list") > 3, "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_few_503s_are_ridden_out() {
    let fake = manual_fake().await;
    common::inject(
        &fake,
        serde_json::json!({"failNext": 4, "errorStatus": 503, "methods": ["sessions.list"]}),
    )
    .await;
    let output = jules(&fake, Some(KEY), &["sessions", "list"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(fake.request_count("sessions.list"), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_shows_the_whole_plan_and_the_whole_question() {
    let fake = live_fake().await;
    let created = jules(
        &fake,
        Some(KEY),
        &[
            "--json",
            "sessions",
            "create",
            "--prompt",
            "Fix it [fake:ask]",
        ],
    );
    let id = serde_json::from_str::<Value>(&stdout(&created)).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let watch = jules(
        &fake,
        Some(KEY),
        &[
            "activities",
            "watch",
            &id,
            "--until",
            "waiting",
            "--poll-ms",
            "10",
        ],
    );
    assert_eq!(watch.status.code(), Some(0), "{}", stderr(&watch));
    let text = stdout(&watch);
    assert!(text.contains("generated (3 steps):"), "{text}");
    for step in [
        "    1. Explore the codebase.",
        "    2. Implement the change.",
        "    3. Run the tests and submit.",
    ] {
        assert!(text.contains(step), "{step}: {text}");
    }
    assert!(
        text.contains("    Make the code changes for \"Fix it\"."),
        "{text}"
    );
    // The question, to its last word.
    assert!(
        text.contains(
            "should I also update the documentation for this change? Please reply to let me know."
        ),
        "{text}"
    );
    assert!(text.contains("AWAITING_USER_FEEDBACK (answer: "), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jules_errors_are_said_in_the_words_of_the_command() {
    let fake = common::fake_with(jules_fake::FakeConfig {
        api_key: Some(KEY.to_owned()),
        step: std::time::Duration::ZERO,
        sources: Some(vec!["octo-org/octo-repo".to_owned()]),
        ..jules_fake::FakeConfig::default()
    })
    .await;
    let missing = jules(&fake, Some(KEY), &["sessions", "get", "sessions/123"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        stderr(&missing).contains("\nerror: session 123 not found (404 NOT_FOUND"),
        "{}",
        stderr(&missing)
    );

    let unconnected = jules(
        &fake,
        Some(KEY),
        &["sessions", "create", "--prompt", "x", "--source", "octo/x"],
    );
    assert_eq!(unconnected.status.code(), Some(1));
    assert!(
        stderr(&unconnected).contains(
            "source octo/x is not connected to Jules (see `jules-bridge jules sources list`)"
        ),
        "{}",
        stderr(&unconnected)
    );
    assert_eq!(fake.session_count(), 0);

    let created = jules(
        &fake,
        Some(KEY),
        &[
            "--json",
            "sessions",
            "create",
            "--prompt",
            "x",
            "--source",
            "octo-org/octo-repo",
            "--require-plan-approval",
        ],
    );
    let id = serde_json::from_str::<Value>(&stdout(&created)).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    common::step(&fake, 2).await;
    let first = jules(&fake, Some(KEY), &["sessions", "approve", &id]);
    assert!(first.status.success(), "{}", stderr(&first));
    // Jules answers FAILED_PRECONDITION when no plan is pending.
    let second = jules(&fake, Some(KEY), &["sessions", "approve", &id]);
    assert_eq!(second.status.code(), Some(1));
    let err = stderr(&second);
    assert!(
        err.contains(&format!(
            "\nerror: nothing to approve: session {id} is IN_PROGRESS, not waiting for plan approval"
        )),
        "{err}"
    );
    assert!(err.contains("FAILED_PRECONDITION"), "{err}");

    let activity = jules(&fake, Some(KEY), &["activities", "get", &id, "0123abcd"]);
    assert_eq!(activity.status.code(), Some(1));
    assert!(
        stderr(&activity).contains(&format!("activity 0123abcd not found in session {id}")),
        "{}",
        stderr(&activity)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_prints_the_state_and_the_url_but_not_the_request_tag() {
    let fake = manual_fake().await;
    let created = jules(
        &fake,
        Some(KEY),
        &[
            "sessions",
            "create",
            "--prompt",
            "Fix the parser\nand its test",
        ],
    );
    assert!(created.status.success(), "{}", stderr(&created));
    let text = stdout(&created);
    assert!(text.contains("\nstate         QUEUED\n"), "{text}");
    // A short title of its own, not Jules' default (the whole prompt).
    assert!(text.contains("\ntitle         Fix the parser\n"), "{text}");
    assert!(
        text.contains("\nurl           https://jules.google.com/session/"),
        "{text}"
    );
    assert!(
        text.contains("prompt        Fix the parser\n              and its test"),
        "{text}"
    );
    assert!(
        text.contains("follow        jules-bridge jules activities watch "),
        "{text}"
    );
    assert!(!text.contains("jules-bridge-request"), "{text}");

    let json = jules(
        &fake,
        Some(KEY),
        &["--json", "sessions", "create", "--prompt", "y"],
    );
    let session: Value = serde_json::from_str(&stdout(&json)).unwrap();
    assert_eq!(session["state"], "QUEUED");
    assert!(session["prompt"]
        .as_str()
        .unwrap()
        .contains("<!-- jules-bridge-request: "));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_take_flags_anywhere_and_tell_the_whole_story() {
    use jules_bridge::store::{self, DeliveryStatus, Inserted, NewDelivery};

    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("ops.db").display());
    let db = store::open(&url).await.unwrap();
    db.migrate().await.unwrap();
    let body = br#"{"action":"labeled","issue":{"number":7}}"#.to_vec();
    let Inserted::New(id) = db
        .insert_delivery(&NewDelivery {
            hook_id: "42".into(),
            delivery_id: "4f1a0c2e-0000-4000-8000-000000000001".into(),
            event: "issues".into(),
            action: Some("labeled".into()),
            installation_id: Some(1),
            repo: Some("octo/app".into()),
            issue_key: Some("octo/app#7".into()),
            body,
            status: DeliveryStatus::Pending,
            note: None,
        })
        .await
        .unwrap()
    else {
        panic!("a new delivery")
    };
    let claimed = db
        .claim_delivery("w1", std::time::Duration::from_secs(60))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(claimed.id, id);
    assert!(db
        .fail_delivery(id, "w1", "Jules API error 403 PERMISSION_DENIED: no", None)
        .await
        .unwrap());

    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_jules-bridge"))
            .args(args)
            .env_remove("DATABASE_URL")
            .output()
            .unwrap()
    };
    let after = run(&[
        "deliveries",
        "list",
        "--status",
        "dead",
        "--database-url",
        &url,
    ]);
    let before = run(&[
        "deliveries",
        "--database-url",
        &url,
        "list",
        "--status",
        "dead",
    ]);
    assert!(after.status.success(), "{}", stderr(&after));
    assert_eq!(stdout(&after), stdout(&before));
    let table = stdout(&after);
    let mut lines = table.lines();
    let header = lines.next().unwrap();
    assert!(header.starts_with("ID  STATUS  TRIES  RECEIVED"), "{table}");
    assert!(header.ends_with("WHY"), "{table}");
    let row = lines.next().unwrap();
    assert!(row.contains("dead"), "{table}");
    assert!(row.contains("issues.labeled"), "{table}");
    assert!(row.contains("403 PERMISSION_DENIED"), "{table}");

    let shown = run(&[
        "deliveries",
        "show",
        &id.to_string(),
        "--database-url",
        &url,
    ]);
    assert!(shown.status.success(), "{}", stderr(&shown));
    let text = stdout(&shown);
    assert!(
        text.contains("\nerror         Jules API error 403 PERMISSION_DENIED: no\n"),
        "{text}"
    );
    assert!(text.contains("body          "), "{text}");
    assert!(text.contains("\"number\": 7"), "the body, pretty: {text}");

    let retried = run(&[
        "deliveries",
        "retry",
        &id.to_string(),
        "--database-url",
        &url,
    ]);
    assert!(retried.status.success(), "{}", stderr(&retried));
    db.claim_delivery("w2", std::time::Duration::from_secs(60))
        .await
        .unwrap()
        .unwrap();
    assert!(db
        .complete_delivery(id, "w2", "session created")
        .await
        .unwrap());
    let listed = stdout(&run(&["deliveries", "list", "--database-url", &url]));
    assert!(listed.contains("session created"), "{listed}");
    assert!(!listed.contains("PERMISSION_DENIED"), "{listed}");
    let done = stdout(&run(&[
        "deliveries",
        "show",
        &id.to_string(),
        "--database-url",
        &url,
    ]));
    // The delivery is done: its cured error is gone, not shown as if it still mattered.
    assert!(!done.contains("\nerror "), "{done}");
    assert!(!done.contains("PERMISSION_DENIED"), "{done}");
    assert!(done.contains("session created"), "{done}");
}

#[test]
fn simulate_suggests_the_event_name_meant() {
    let labeled = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/webhooks/issues.labeled.json");
    let output = Command::new(env!("CARGO_BIN_EXE_jules-bridge"))
        .args(["simulate", "--event-name", "issue", "--event"])
        .arg(&labeled)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("unknown event name `issue`; did you mean `issues`?"),
        "{}",
        stderr(&output)
    );
    assert_eq!(stdout(&output), "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn github_fake_starts_on_a_listener_it_is_given() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let github = github_fake::FakeGitHub::start_on(listener);
    github.add_actions_token("t");
    assert_eq!(github.url(), format!("http://{addr}"));
    github.set_file(
        "octo/app",
        ".github/jules-bridge.yml",
        "trigger_label: go\n",
    );
    let answer = reqwest::Client::new()
        .get(format!(
            "{}/repos/octo/app/contents/.github/jules-bridge.yml",
            github.url()
        ))
        .bearer_auth("t")
        .send()
        .await
        .unwrap();
    assert!(answer.status().is_success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_action_waiting_for_done_says_how_it_goes() {
    let fake = live_fake().await;
    let github = github_fake::FakeGitHub::start().await;
    github.add_actions_token("ghs_token");
    let dir = tempfile::tempdir().unwrap();
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/webhooks");
    let base: Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures.join("issues.labeled.json")).unwrap(),
    )
    .unwrap();
    let payload = serde_json::json!({"inputs": {}, "ref": "refs/heads/master", "repository": base["repository"], "sender": base["sender"]});
    let event = dir.path().join("event.json");
    std::fs::write(&event, serde_json::to_vec(&payload).unwrap()).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_jules-bridge"))
        .arg("action")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RUST_LOG", "off")
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_EVENT_NAME", "workflow_dispatch")
        .env("GITHUB_EVENT_PATH", &event)
        .env("GITHUB_OUTPUT", dir.path().join("output"))
        .env("GITHUB_STEP_SUMMARY", dir.path().join("summary"))
        .env("GITHUB_API_URL", github.url())
        .env("GITHUB_REPOSITORY", "Codertocat/Hello-World")
        .env("GITHUB_RUN_ID", "4242")
        .env("JULES_BRIDGE_RETRY_MIN_MS", "5")
        .env("JULES_BRIDGE_RETRY_DEADLINE_SECS", "3")
        .env("JULES_BRIDGE_POLL_MS", "20")
        .env("INPUT_JULES-API-KEY", KEY)
        .env("INPUT_GITHUB-TOKEN", "ghs_token")
        .env("INPUT_JULES-API-URL", fake.url())
        .env("INPUT_PROMPT", "Update the copyright year")
        .env("INPUT_WAIT", "done")
        .env("INPUT_REQUIRE-PLAN-APPROVAL", "false")
        .output()
        .unwrap();
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{text}\n{}", stderr(&output));
    assert!(text.contains("jules-bridge: following sessions/"), "{text}");
    // At least one state change on the way, then the end: state, pull request, page.
    assert!(text.contains("jules-bridge: session "), "{text}");
    let last = text
        .lines()
        .rev()
        .find(|line| line.contains("done waiting"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(last.contains(" is COMPLETED"), "{last}");
    assert!(
        last.contains(", pull request https://github.com/Codertocat/Hello-World/pull/"),
        "{last}"
    );
    assert!(
        last.contains("(https://jules.google.com/session/"),
        "{last}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_sessions_missing_activities_are_waited_for() {
    let fake = live_fake().await;
    // Jules answers 404 for a new session's activities for a few seconds.
    common::inject(&fake, serde_json::json!({"activitiesNotFoundMs": 2500})).await;
    let created = jules(
        &fake,
        Some(KEY),
        &["--json", "sessions", "create", "--prompt", "Fix it"],
    );
    let id = serde_json::from_str::<Value>(&stdout(&created)).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let listed = jules(&fake, Some(KEY), &["activities", "list", &id]);
    assert!(listed.status.success(), "{}", stderr(&listed));
    assert!(!stdout(&listed).is_empty());
}
