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

    let labeled = dir.join("issues.labeled.json");
    let output = Command::new(env!("CARGO_BIN_EXE_jules-bridge"))
        .args(["simulate", "--event-name", "issues", "--event"])
        .arg(&labeled)
        .output()
        .unwrap();
    assert!(stdout(&output)
        .contains("decision    ignore: label `bug` is not the trigger label `jules-bridge`"));
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
