//! The bridge's GitHub adapter (`src/github`) for check runs and review comments, against the
//! github-fake over real HTTP on loopback.

use github_fake::{FakeGitHub, ReactionTarget};
use jules_bridge::engine::event::RepoName;
use jules_bridge::github::{CheckRunState, GitHubClient, GitHubError};
use secrecy::SecretString;

const REPO: &str = "acme/widgets";

fn repo() -> RepoName {
    RepoName {
        owner: "acme".into(),
        name: "widgets".into(),
    }
}

fn client(fake: &FakeGitHub, token: &str) -> GitHubClient {
    GitHubClient::with_token(&fake.url(), SecretString::from(token.to_string())).unwrap()
}

fn state(status: &'static str, conclusion: Option<&'static str>, summary: &str) -> CheckRunState {
    CheckRunState {
        status,
        conclusion,
        title: format!("Jules: {status}"),
        summary: summary.to_string(),
        details_url: Some("https://jules.google.com/session/s1".into()),
    }
}

/// A fake with an Actions token and pull request 5; returns its head sha (read through the
/// adapter).
async fn world() -> (FakeGitHub, GitHubClient, String) {
    let fake = FakeGitHub::start().await;
    fake.add_actions_token("ghs_actions");
    fake.add_pull(REPO, 5, "jules/fix-it", REPO, "main");
    let gh = client(&fake, "ghs_actions");
    let sha = gh.pull_head_sha(&repo(), 5).await.unwrap();
    (fake, gh, sha)
}

#[tokio::test]
async fn pull_head_sha_is_the_pull_requests_head_commit() {
    let (fake, gh, sha) = world().await;
    assert_eq!(Some(sha), fake.pull_head_sha(REPO, 5));
    let missing = gh.pull_head_sha(&repo(), 6).await.unwrap_err();
    assert_eq!(missing.status(), Some(404));
}

#[tokio::test]
async fn upsert_creates_once_then_updates_the_same_run() {
    let (fake, gh, sha) = world().await;
    let first = gh
        .upsert_check_run(
            &repo(),
            &sha,
            "Jules",
            "s1",
            &state("queued", None, "Starting"),
        )
        .await
        .unwrap();
    let runs = fake.check_runs(REPO);
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].status, "queued");
    assert_eq!(runs[0].completed_at, None);

    let second = gh
        .upsert_check_run(
            &repo(),
            &sha,
            "Jules",
            "s1",
            &state("in_progress", None, "Plan: 3 steps"),
        )
        .await
        .unwrap();
    let third = gh
        .upsert_check_run(
            &repo(),
            &sha,
            "Jules",
            "s1",
            &state("completed", Some("success"), "Pull request #5"),
        )
        .await
        .unwrap();
    assert_eq!((first, second, third), (first, first, first));
    let runs = fake.check_runs(REPO);
    assert_eq!(runs.len(), 1, "{runs:?}");
    let run = &runs[0];
    assert_eq!(run.id, first);
    assert_eq!(run.name, "Jules");
    assert_eq!(run.head_sha, sha);
    assert_eq!(run.external_id.as_deref(), Some("s1"));
    assert_eq!(run.status, "completed");
    assert_eq!(run.conclusion.as_deref(), Some("success"));
    assert_eq!(run.title.as_deref(), Some("Jules: completed"));
    assert_eq!(run.summary.as_deref(), Some("Pull request #5"));
    assert_eq!(
        run.details_url.as_deref(),
        Some("https://jules.google.com/session/s1")
    );
    assert!(run.completed_at.is_some() && run.started_at.is_some());
    assert_eq!(run.updates, 2);
    assert_eq!(run.app, "github-actions");
    assert_eq!(fake.count("POST", "/repos/acme/widgets/check-runs"), 1);
    assert_eq!(fake.count("PATCH", "/repos/acme/widgets/check-runs/"), 2);
}

#[tokio::test]
async fn two_sessions_on_one_commit_keep_one_run_each() {
    let (fake, gh, sha) = world().await;
    let a = gh
        .upsert_check_run(
            &repo(),
            &sha,
            "Jules",
            "s1",
            &state("in_progress", None, "a"),
        )
        .await
        .unwrap();
    let b = gh
        .upsert_check_run(
            &repo(),
            &sha,
            "Jules",
            "s2",
            &state("in_progress", None, "b"),
        )
        .await
        .unwrap();
    assert_ne!(a, b);
    // `s1`'s run is no longer the latest of its name: still found (filter=all).
    let again = gh
        .upsert_check_run(
            &repo(),
            &sha,
            "Jules",
            "s1",
            &state("completed", Some("failure"), "Jules failed"),
        )
        .await
        .unwrap();
    assert_eq!(again, a);
    let runs = fake.check_runs(REPO);
    assert_eq!(runs.len(), 2, "{runs:?}");
    assert_eq!(runs[0].conclusion.as_deref(), Some("failure"));
    assert_eq!(runs[1].status, "in_progress");
}

#[tokio::test]
async fn conclusions_as_github_shows_them() {
    let (fake, gh, sha) = world().await;
    gh.upsert_check_run(
        &repo(),
        &sha,
        "Jules",
        "s1",
        &state("completed", Some("action_required"), "Approve the plan"),
    )
    .await
    .unwrap();
    let run = &fake.check_runs(REPO)[0];
    assert_eq!(
        (run.status.as_str(), run.conclusion.as_deref()),
        ("completed", Some("action_required"))
    );
    // Answered: back in progress, no conclusion.
    gh.upsert_check_run(
        &repo(),
        &sha,
        "Jules",
        "s1",
        &state("in_progress", None, "Working"),
    )
    .await
    .unwrap();
    let run = &fake.check_runs(REPO)[0];
    assert_eq!(
        (run.status.as_str(), run.conclusion.as_deref()),
        ("in_progress", None)
    );
    assert_eq!(run.completed_at, None);
    // A conclusion completes the run whatever the status says.
    for conclusion in ["neutral", "cancelled", "failure"] {
        gh.upsert_check_run(
            &repo(),
            &sha,
            "Jules",
            "s1",
            &state("in_progress", Some(conclusion), "Done"),
        )
        .await
        .unwrap();
        let run = &fake.check_runs(REPO)[0];
        assert_eq!(
            (run.status.as_str(), run.conclusion.as_deref()),
            ("completed", Some(conclusion))
        );
    }
    assert_eq!(fake.check_runs(REPO).len(), 1);
    // `completed` without a conclusion is GitHub's 422, surfaced as such.
    let err = gh
        .upsert_check_run(&repo(), &sha, "Jules", "s9", &state("completed", None, "?"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, GitHubError::Api { status: 422, .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn without_checks_write_the_403_surfaces() {
    let fake = FakeGitHub::start().await;
    fake.add_pull(REPO, 5, "jules/fix-it", REPO, "main");
    let sha = fake.pull_head_sha(REPO, 5).unwrap();
    fake.add_actions_token_with_permissions(
        "ghs_no_checks",
        &[
            ("checks", "read"),
            ("issues", "write"),
            ("pull_requests", "write"),
        ],
    );
    let gh = client(&fake, "ghs_no_checks");
    let err = gh
        .upsert_check_run(&repo(), &sha, "Jules", "s1", &state("queued", None, "x"))
        .await
        .unwrap_err();
    match &err {
        GitHubError::Api {
            status: 403,
            message,
        } => {
            assert_eq!(message, "Resource not accessible by integration")
        }
        other => panic!("expected a 403, got {other:?}"),
    }
    assert!(!err.is_transient());
    // A personal access token cannot write check runs at all.
    fake.set_token_login("ghp_person", "octo-dev");
    let err = client(&fake, "ghp_person")
        .upsert_check_run(&repo(), &sha, "Jules", "s1", &state("queued", None, "x"))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(403));
    assert!(fake.check_runs(REPO).is_empty());
}

#[tokio::test]
async fn the_create_is_not_retried_the_update_is() {
    let (fake, gh, sha) = world().await;
    fake.fail_next("POST /repos/acme/widgets/check-runs", 502, 1);
    let err = gh
        .upsert_check_run(&repo(), &sha, "Jules", "s1", &state("queued", None, "x"))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(502));
    assert_eq!(fake.count("POST", "/repos/acme/widgets/check-runs"), 1);
    let id = gh
        .upsert_check_run(&repo(), &sha, "Jules", "s1", &state("queued", None, "x"))
        .await
        .unwrap();
    fake.fail_next("PATCH /repos/acme/widgets/check-runs", 502, 1);
    fake.fail_next("GET /repos/acme/widgets/commits/", 503, 1);
    let again = gh
        .upsert_check_run(
            &repo(),
            &sha,
            "Jules",
            "s1",
            &state("in_progress", None, "y"),
        )
        .await
        .unwrap();
    assert_eq!(again, id);
    assert_eq!(fake.count("PATCH", "/repos/acme/widgets/check-runs/"), 2);
    assert_eq!(fake.check_runs(REPO).len(), 1);
    assert_eq!(fake.check_runs(REPO)[0].status, "in_progress");
}

#[tokio::test]
async fn review_comments_of_one_review_across_pages() {
    let (fake, gh, _) = world().await;
    // 130 comments of another review first, so review 77's are on the second page.
    for i in 0..130 {
        fake.add_review_comment(
            REPO,
            5,
            76,
            "bob",
            &format!("nit {i}"),
            "a.rs",
            Some(1),
            None,
            "@@",
        );
    }
    let one = fake.add_review_comment(
        REPO,
        5,
        77,
        "alice",
        "/jules rename this",
        "src/lib.rs",
        Some(12),
        Some(10),
        "@@ -1,3 +1,4 @@\n+fn x() {}",
    );
    let outdated = fake.add_review_comment(
        REPO,
        5,
        77,
        "alice",
        "/jules and this",
        "old.rs",
        None,
        None,
        "@@ -9 +9 @@",
    );
    let found = gh.review_comments(&repo(), 5, 77).await.unwrap();
    assert_eq!(found.len(), 2, "{found:?}");
    assert_eq!(found[0].id, one);
    assert_eq!(found[0].review_id, Some(77));
    assert_eq!(found[0].body, "/jules rename this");
    assert_eq!(found[0].author.login, "alice");
    assert!(!found[0].author.is_bot);
    assert_eq!(found[0].path, "src/lib.rs");
    assert_eq!((found[0].start_line, found[0].line), (Some(10), Some(12)));
    assert_eq!(found[0].diff_hunk, "@@ -1,3 +1,4 @@\n+fn x() {}");
    assert_eq!(found[1].id, outdated);
    assert_eq!((found[1].start_line, found[1].line), (None, None));
    assert_eq!(fake.count("GET", "/repos/acme/widgets/pulls/5/comments"), 2);
    let err = gh.review_comments(&repo(), 404, 77).await.unwrap_err();
    assert_eq!(err.status(), Some(404));
}

#[tokio::test]
async fn reaction_and_reply_in_the_review_thread() {
    let (fake, gh, _) = world().await;
    let id = fake.add_review_comment(
        REPO,
        5,
        77,
        "alice",
        "/jules go",
        "a.rs",
        Some(3),
        None,
        "@@",
    );
    gh.react_to_review_comment(&repo(), id).await.unwrap();
    gh.react_to_review_comment(&repo(), id).await.unwrap();
    let reactions = fake.reactions();
    assert_eq!(reactions.len(), 1, "{reactions:?}");
    assert_eq!(
        reactions[0].target,
        ReactionTarget::ReviewComment {
            repo: REPO.into(),
            id
        }
    );
    assert_eq!(reactions[0].content, "eyes");
    assert_eq!(reactions[0].user, "github-actions[bot]");

    let reply = gh
        .reply_to_review_comment(&repo(), 5, id, "On it: https://jules.google.com/session/s1")
        .await
        .unwrap();
    let thread = fake.review_comments(REPO, 5);
    assert_eq!(thread.len(), 2);
    assert_eq!(thread[1].id, reply);
    assert_eq!(thread[1].in_reply_to_id, Some(id));
    assert_eq!(thread[1].user, "github-actions[bot]");
    assert_eq!(thread[1].path, "a.rs");

    let missing = gh
        .reply_to_review_comment(&repo(), 5, 999, "x")
        .await
        .unwrap_err();
    assert_eq!(missing.status(), Some(404));
    let missing = gh.react_to_review_comment(&repo(), 999).await.unwrap_err();
    assert_eq!(missing.status(), Some(404));
}
