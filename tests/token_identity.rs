//! Who the GitHub token is and what it may do, end to end against a github-fake as strict as
//! GitHub. Token mode with a personal access token: GitHub posts the bridge's comments as the
//! token's user, not as `github-actions[bot]`. The bridge learns that login (`GET /user`) and
//! so recognises its own comments: a second label and the delivery of its own status comment
//! start nothing, a command in its user's comment is not obeyed, and the person's
//! `/jules approve` reaches the one session. Server (in-process) and Action (the binary). And a
//! token without `issues: write` starts no Jules session it could not report.

mod support;

use std::process::Command;

use jules_bridge::jules::State;
use serde_json::{json, Value};
use support::*;

/// The PAT's user: a maintainer of the repository, so a comment of theirs that the bridge took
/// for a person's would be obeyed.
const PAT_USER: &str = "octo-maintainer";
const ISSUE: u64 = 41;

/// `issue_comment.created` on `Codertocat/Hello-World#number` by `sender` (a User).
fn token_comment(number: u64, body: &str, id: u64, sender: &str) -> Value {
    fixture(
        "issue_comment.created.json",
        &[
            ("/issue/number", json!(number)),
            ("/comment/id", json!(id)),
            ("/comment/body", json!(body)),
            ("/comment/user/login", json!(sender)),
            ("/sender/login", json!(sender)),
        ],
    )
}

/// The comments on the issue by the PAT's user.
fn pat_comments(world: &World, number: u64) -> Vec<github_fake::Comment> {
    world
        .github
        .comments(TOKEN_REPO, number)
        .into_iter()
        .filter(|c| c.user == PAT_USER)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_with_a_personal_access_token_knows_its_own_comments() {
    let world = World::new(Mode::Token).await;
    world.github.set_token_login(GITHUB_TOKEN, PAT_USER);
    world.github.set_permission(TOKEN_REPO, PAT_USER, "admin");
    let bridge = world.start().await;

    assert_eq!(
        world
            .deliver(&bridge, "issues", &token_labeled(ISSUE))
            .await,
        202
    );
    eventually("the status comment appears", || async {
        pat_comments(&world, ISSUE)
            .iter()
            .any(|c| c.body.contains(MARKER))
    })
    .await;
    assert_eq!(
        world.github.count("GET", "/user"),
        1,
        "asked GitHub who it is, once"
    );
    assert!(
        world
            .github
            .comments(TOKEN_REPO, ISSUE)
            .iter()
            .all(|c| c.user == PAT_USER),
        "GitHub shows the bridge's comments as the PAT's user"
    );

    // Jules plans; the status comment (by the PAT's user) now holds `/jules approve <id>`.
    step(&world.jules, 2).await;
    eventually("the plan is shown", || async {
        pat_comments(&world, ISSUE)
            .iter()
            .any(|c| c.body.starts_with("📝 **Plan ready for review**"))
    })
    .await;
    let status = pat_comments(&world, ISSUE)
        .into_iter()
        .find(|c| c.body.contains(MARKER))
        .unwrap();
    let session = marker_session(&status.body).unwrap();
    let short = status.body.split("/jules approve ").nth(1).unwrap()[..6].to_owned();

    // GitHub delivers the bridge's own comment back, and someone labels the issue again.
    assert_eq!(
        world
            .deliver(
                &bridge,
                "issue_comment",
                &token_comment(ISSUE, &status.body, status.id, PAT_USER)
            )
            .await,
        202
    );
    // (A later label event: not the same body, which the server takes for a redelivery.)
    let mut again = token_labeled(ISSUE);
    again["issue"]["updated_at"] = json!("2026-12-08T10:00:00Z");
    assert_eq!(world.deliver(&bridge, "issues", &again).await, 202);
    world.idle(&bridge).await;
    assert_eq!(
        world.sessions_for(ISSUE).await.len(),
        1,
        "no second session"
    );
    assert_eq!(
        world.client.get_session(&session).await.unwrap().state,
        State::AwaitingPlanApproval,
        "its own comment approved nothing"
    );
    // A command in a comment of the token's user is the bridge's own too: not obeyed.
    let before = world.github.comments(TOKEN_REPO, ISSUE).len();
    let own_command = token_comment(ISSUE, "/jules status", 777_002, PAT_USER);
    world
        .github
        .add_comment_with_id(TOKEN_REPO, ISSUE, 777_002, PAT_USER, "/jules status");
    assert_eq!(
        world.deliver(&bridge, "issue_comment", &own_command).await,
        202
    );
    world.idle(&bridge).await;
    assert_eq!(
        world.github.comments(TOKEN_REPO, ISSUE).len(),
        before + 1,
        "no answer"
    );
    let permission = format!("/repos/{TOKEN_REPO}/collaborators/{PAT_USER}/permission");
    assert_eq!(
        world.github.count("GET", &permission),
        0,
        "not weighed as a person's"
    );

    // The person approves: it reaches the one session.
    let approve = token_comment(
        ISSUE,
        &format!("/jules approve {short}"),
        777_001,
        "Codertocat",
    );
    let text = format!("/jules approve {short}");
    world
        .github
        .add_comment_with_id(TOKEN_REPO, ISSUE, 777_001, "Codertocat", &text);
    assert_eq!(world.deliver(&bridge, "issue_comment", &approve).await, 202);
    eventually("the plan is approved", || async {
        world.client.get_session(&session).await.unwrap().state == State::InProgress
    })
    .await;
    world.idle(&bridge).await;
    let sessions = world.sessions_for(ISSUE).await;
    assert_eq!(sessions.len(), 1, "{sessions:?}");
    assert_eq!(sessions[0].name, session);
    let status_comments: Vec<_> = pat_comments(&world, ISSUE)
        .into_iter()
        .filter(|c| c.body.contains(MARKER))
        .collect();
    assert_eq!(
        status_comments.len(),
        1,
        "one status comment, updated in place"
    );
    bridge.stop().await;
}

/// Runs `jules-bridge action` for one event with `INPUT_GITHUB-TOKEN` = GITHUB_TOKEN; returns
/// the exit code and the `action-taken` output.
fn run_action(world: &World, event_name: &str, payload: &Value) -> (Option<i32>, String) {
    let (code, taken, _) = run_action_out(world, event_name, payload);
    (code, taken)
}

/// [`run_action_out`] with GITHUB_TOKEN.
fn run_action_out(
    world: &World,
    event_name: &str,
    payload: &Value,
) -> (Option<i32>, String, String) {
    run_action_with(world, GITHUB_TOKEN, event_name, payload)
}

/// [`run_action`] with `token` as `github-token`, with the run's stdout (the workflow commands)
/// too.
fn run_action_with(
    world: &World,
    token: &str,
    event_name: &str,
    payload: &Value,
) -> (Option<i32>, String, String) {
    world.github.add_event_issue(payload);
    if let Some(comment) = payload.get("comment") {
        world.github.add_comment_with_id(
            TOKEN_REPO,
            payload["issue"]["number"].as_u64().unwrap(),
            comment["id"].as_u64().unwrap(),
            comment["user"]["login"].as_str().unwrap(),
            comment["body"].as_str().unwrap(),
        );
    }
    let id = uuid::Uuid::new_v4().simple().to_string();
    let dir = world.dir.path();
    let event_path = dir.join(format!("event-{id}.json"));
    let output_path = dir.join(format!("output-{id}"));
    std::fs::write(&event_path, serde_json::to_vec(payload).unwrap()).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_jules-bridge"))
        .arg("action")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RUST_LOG", "warn")
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_EVENT_NAME", event_name)
        .env("GITHUB_EVENT_PATH", &event_path)
        .env("GITHUB_OUTPUT", &output_path)
        .env("GITHUB_API_URL", world.github.url())
        .env("GITHUB_SERVER_URL", "https://github.com")
        .env("GITHUB_REPOSITORY", TOKEN_REPO)
        .env("GITHUB_RUN_ID", "4242")
        .env("JULES_BRIDGE_RETRY_MIN_MS", "5")
        .env("JULES_BRIDGE_RETRY_DEADLINE_SECS", "3")
        .env("INPUT_JULES-API-KEY", KEY)
        .env("INPUT_GITHUB-TOKEN", token)
        .env("INPUT_JULES-API-URL", world.jules.url())
        .output()
        .expect("the binary runs");
    let outputs = std::fs::read_to_string(&output_path).unwrap_or_default();
    let taken = outputs
        .lines()
        .find_map(|line| line.strip_prefix("action-taken="))
        .unwrap_or("")
        .to_owned();
    (
        output.status.code(),
        taken,
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_action_with_a_personal_access_token_knows_its_own_comments() {
    let world = World::new(Mode::Token).await;
    world.github.set_token_login(GITHUB_TOKEN, PAT_USER);
    world.github.set_permission(TOKEN_REPO, PAT_USER, "admin");

    assert_eq!(
        run_action(&world, "issues", &token_labeled(ISSUE)),
        (Some(0), "created".to_owned())
    );
    let status = pat_comments(&world, ISSUE)
        .into_iter()
        .find(|c| c.body.contains(MARKER))
        .expect("the status comment, by the PAT's user");
    let session = marker_session(&status.body).unwrap();
    step(&world.jules, 2).await;
    // The bridge's next run shows the plan in its status comment (a `/jules status`).
    let (code, _) = run_action(
        &world,
        "issue_comment",
        &token_comment(ISSUE, "/jules status", 777_010, "Codertocat"),
    );
    assert_eq!(code, Some(0));
    let status = world.github.comment(status.id).unwrap();
    assert!(status.body.contains("/jules approve "), "{}", status.body);

    // GitHub runs the workflow for the bridge's own comment (a PAT's comments do trigger
    // workflows): nothing happens.
    let (code, taken) = run_action(
        &world,
        "issue_comment",
        &token_comment(ISSUE, &status.body, status.id, PAT_USER),
    );
    assert_eq!((code, taken.as_str()), (Some(0), "ignored"));
    // The loop guard: whatever the token's user writes is the bridge's own, even a command
    // (a maintainer's, were it a person's), so the bridge never answers itself.
    let posted = world.github.comments(TOKEN_REPO, ISSUE).len();
    let permission = format!("/repos/{TOKEN_REPO}/collaborators/{PAT_USER}/permission");
    let (code, taken, stdout) = run_action_out(
        &world,
        "issue_comment",
        &token_comment(ISSUE, "/jules status", 777_012, PAT_USER),
    );
    assert_eq!((code, taken.as_str()), (Some(0), "ignored"));
    assert!(
        stdout.contains("nothing to do (the bridge's own activity)"),
        "{stdout}"
    );
    assert_eq!(
        world.github.count("GET", &permission),
        0,
        "not weighed as a person's"
    );
    assert_eq!(
        world.github.comments(TOKEN_REPO, ISSUE).len(),
        posted + 1,
        "only that comment"
    );
    assert_eq!(
        world.client.get_session(&session).await.unwrap().state,
        State::AwaitingPlanApproval,
        "its own comment approved nothing"
    );
    // Labelled again: still the one session.
    run_action(&world, "issues", &token_labeled(ISSUE));
    assert_eq!(
        world.sessions_for(ISSUE).await.len(),
        1,
        "no second session"
    );

    let short = status.body.split("/jules approve ").nth(1).unwrap()[..6].to_owned();
    let (code, _) = run_action(
        &world,
        "issue_comment",
        &token_comment(
            ISSUE,
            &format!("/jules approve {short}"),
            777_011,
            "Codertocat",
        ),
    );
    assert_eq!(code, Some(0));
    assert_eq!(
        world.client.get_session(&session).await.unwrap().state,
        State::InProgress
    );
    assert_eq!(world.sessions_for(ISSUE).await.len(), 1);
}

/// The Actions token: `github-actions[bot]`. A `ghs_` token (the Actions token's prefix, shared
/// only with App installation tokens, both 403 on `GET /user`) is not even asked; a token
/// without that prefix is, and GitHub's 403 means the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_action_with_the_actions_token_is_github_actions_bot() {
    for (token, asked) in [
        ("ghs_actionsrunnertoken0123456789", vec![]),
        ("v1.0123456789abcdef", vec![403]),
    ] {
        let world = World::new(Mode::Token).await;
        world.github.add_actions_token(token);
        let (code, taken, _) = run_action_with(&world, token, "issues", &token_labeled(ISSUE));
        assert_eq!((code, taken.as_str()), (Some(0), "created"), "{token}");
        let comments = world.github.comments(TOKEN_REPO, ISSUE);
        assert_eq!(comments.len(), 1);
        assert_eq!(comments[0].user, ACTIONS_BOT);
        let answers: Vec<u16> = world
            .github
            .requests()
            .iter()
            .filter(|r| r.path == "/user")
            .map(|r| r.status)
            .collect();
        assert_eq!(answers, asked, "{token}");
        // Its own comment, with a command in it: the loop guard knows it.
        world
            .github
            .add_comment_with_id(TOKEN_REPO, ISSUE, 777_020, ACTIONS_BOT, "/jules status");
        let (code, taken, stdout) = run_action_with(
            &world,
            token,
            "issue_comment",
            &token_comment(ISSUE, "/jules status", 777_020, ACTIONS_BOT),
        );
        assert_eq!((code, taken.as_str()), (Some(0), "ignored"), "{token}");
        assert!(stdout.contains("the bridge's own activity"), "{stdout}");
    }
}

/// A workflow whose `permissions:` leave out `issues: write`: GitHub answers 403 to the bridge's
/// first write. The run fails, saying so, and starts no Jules session it could not report.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_action_without_issues_write_fails_and_starts_nothing() {
    let world = World::new(Mode::Token).await;
    let token = "ghs_readonlyworkflowtoken0123";
    world
        .github
        .add_actions_token_with_permissions(token, &[("issues", "read"), ("contents", "read")]);
    let (code, taken, stdout) = run_action_with(&world, token, "issues", &token_labeled(ISSUE));
    assert_eq!((code, taken.as_str()), (Some(1), "failed"), "{stdout}");
    assert!(
        stdout.contains("Resource not accessible by integration"),
        "{stdout}"
    );
    assert!(world.github.comments(TOKEN_REPO, ISSUE).is_empty());
    assert_eq!(world.jules.session_count(), 0, "no session nobody hears of");
}

/// The same in server mode: an App installation without `issues: write`. The delivery is
/// dead-lettered at its first attempt with GitHub's 403, and Jules never hears of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_installation_without_issues_write_starts_nothing() {
    use jules_bridge::store::DeliveryStatus;
    let world = World::new(Mode::App).await;
    world.github.set_installation_permissions(
        INSTALLATION,
        &[
            ("issues", "read"),
            ("contents", "read"),
            ("metadata", "read"),
        ],
    );
    let bridge = world.start().await;
    assert_eq!(
        world.deliver(&bridge, "issues", &app_labeled(ISSUE)).await,
        202
    );
    eventually("the delivery is finished", || async {
        bridge.deliveries().await.iter().all(|d| {
            !matches!(
                d.status,
                DeliveryStatus::Pending | DeliveryStatus::Processing
            )
        })
    })
    .await;
    world.idle(&bridge).await;
    let deliveries = bridge.deliveries().await;
    assert_eq!(deliveries.len(), 1);
    let delivery = &deliveries[0];
    assert_eq!(
        (delivery.status, delivery.attempts),
        (DeliveryStatus::Dead, 1),
        "{delivery:?}"
    );
    assert!(
        delivery.last_error.as_deref().unwrap_or("").contains("403"),
        "{delivery:?}"
    );
    assert!(world.github.comments(APP_REPO, ISSUE).is_empty());
    assert_eq!(world.jules.session_count(), 0, "no session nobody hears of");
    bridge.stop().await;
}
