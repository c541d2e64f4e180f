//! Check runs and pull request review comments, through raw HTTP (and octocrab where it has a
//! model): validation, permissions, filters, paging, threading.

use github_fake::{FakeGitHub, ReactionTarget};
use serde_json::{json, Value};

mod support;
use support::{header, raw};

const REPO: &str = "acme/widgets";
const ACTIONS: Option<&str> = Some("token ghs_actions");

async fn world() -> (FakeGitHub, String) {
    let fake = FakeGitHub::start().await;
    fake.add_actions_token("ghs_actions");
    fake.add_pull(REPO, 5, "jules/fix", REPO, "main");
    let sha = fake.pull_head_sha(REPO, 5).unwrap();
    (fake, sha)
}

async fn post_run(fake: &FakeGitHub, auth: Option<&str>, body: Value) -> (u16, Value) {
    let (status, _, answer) = raw(
        fake,
        "POST",
        &format!("/repos/{REPO}/check-runs"),
        auth,
        Some(body),
    )
    .await;
    (status, answer)
}

#[tokio::test]
async fn check_run_create_update_and_read_back() {
    let (fake, sha) = world().await;
    let (status, created) = post_run(
        &fake,
        ACTIONS,
        json!({"name": "Jules", "head_sha": sha, "external_id": "s1",
               "output": {"title": "Queued", "summary": "Starting"}}),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["status"], "queued");
    assert_eq!(created["conclusion"], Value::Null);
    assert_eq!(created["completed_at"], Value::Null);
    assert_eq!(created["app"]["slug"], "github-actions");
    assert_eq!(created["pull_requests"][0]["number"], 5);
    assert_eq!(created["pull_requests"][0]["head"]["sha"], sha.as_str());
    let id = created["id"].as_u64().unwrap();
    assert_eq!(
        created["url"],
        format!("{}/repos/{REPO}/check-runs/{id}", fake.url())
    );

    // A conclusion completes the run, as GitHub documents.
    let (status, _, updated) = raw(
        &fake,
        "PATCH",
        &format!("/repos/{REPO}/check-runs/{id}"),
        ACTIONS,
        Some(json!({"conclusion": "success", "output": {"title": "Done", "summary": "PR #5"}})),
    )
    .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["status"], "completed");
    assert_eq!(updated["conclusion"], "success");
    assert!(updated["completed_at"].is_string());
    assert_eq!(updated["external_id"], "s1");
    assert_eq!(updated["output"]["summary"], "PR #5");

    let runs = fake.check_runs(REPO);
    assert_eq!(runs.len(), 1);
    let run = &runs[0];
    assert_eq!(
        (run.id, run.name.as_str(), run.head_sha.as_str()),
        (id, "Jules", sha.as_str())
    );
    assert_eq!(run.status, "completed");
    assert_eq!(run.conclusion.as_deref(), Some("success"));
    assert_eq!(run.external_id.as_deref(), Some("s1"));
    assert_eq!(run.title.as_deref(), Some("Done"));
    assert_eq!(run.summary.as_deref(), Some("PR #5"));
    assert_eq!(run.updates, 1);

    // Back in progress: the conclusion goes.
    let (status, _, again) = raw(
        &fake,
        "PATCH",
        &format!("/repos/{REPO}/check-runs/{id}"),
        ACTIONS,
        Some(json!({"status": "in_progress"})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        (again["status"].as_str(), &again["conclusion"]),
        (Some("in_progress"), &Value::Null)
    );
    let (status, _, read) = raw(
        &fake,
        "GET",
        &format!("/repos/{REPO}/check-runs/{id}"),
        ACTIONS,
        None,
    )
    .await;
    assert_eq!(
        (status, read["status"].as_str()),
        (200, Some("in_progress"))
    );

    let (status, _, _) = raw(
        &fake,
        "PATCH",
        &format!("/repos/{REPO}/check-runs/{}", id + 100),
        ACTIONS,
        Some(json!({"status": "in_progress"})),
    )
    .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn check_run_validation_like_github() {
    let (fake, sha) = world().await;
    let bad = [
        (json!({"head_sha": sha}), "\"name\" wasn't supplied."),
        (json!({"name": "Jules"}), "\"head_sha\" wasn't supplied."),
        (
            json!({"name": "Jules", "head_sha": sha, "status": "completed"}),
            "\"conclusion\" wasn't supplied.",
        ),
        (
            json!({"name": "Jules", "head_sha": sha, "completed_at": "2024-01-01T00:00:00Z"}),
            "\"conclusion\" wasn't supplied.",
        ),
        (
            json!({"name": "Jules", "head_sha": sha, "status": "done"}),
            "For 'properties/status', \"done\" is not one of",
        ),
        (
            json!({"name": "Jules", "head_sha": sha, "conclusion": "passed"}),
            "For 'properties/conclusion', \"passed\" is not one of",
        ),
        (
            json!({"name": "Jules", "head_sha": sha, "output": {"title": "t"}}),
            "\"summary\" wasn't supplied.",
        ),
        (
            json!({"name": "Jules", "head_sha": sha, "output": {"summary": "s"}}),
            "\"title\" wasn't supplied.",
        ),
        (
            json!({"name": "Jules", "head_sha": "main"}),
            "No commit found for SHA: main",
        ),
    ];
    for (body, message) in bad {
        let (status, answer) = post_run(&fake, ACTIONS, body.clone()).await;
        assert_eq!(status, 422, "{body} -> {answer}");
        assert!(
            answer["message"].as_str().unwrap().contains(message),
            "{body} -> {answer}"
        );
    }
    assert!(fake.check_runs(REPO).is_empty());
    // A conclusion without a status is a completed run.
    let (status, answer) = post_run(
        &fake,
        ACTIONS,
        json!({"name": "Jules", "head_sha": sha, "conclusion": "action_required",
               "details_url": "https://jules.google.com/session/1"}),
    )
    .await;
    assert_eq!(status, 201, "{answer}");
    assert_eq!(answer["status"], "completed");
    assert_eq!(answer["conclusion"], "action_required");
    assert_eq!(answer["details_url"], "https://jules.google.com/session/1");
}

#[tokio::test]
async fn check_run_writes_need_an_app_with_checks_write() {
    let (fake, sha) = world().await;
    let body = json!({"name": "Jules", "head_sha": sha});
    fake.set_token_login("ghp_person", "octo-dev");
    let (status, answer) = post_run(&fake, Some("token ghp_person"), body.clone()).await;
    assert_eq!(
        (status, answer["message"].as_str()),
        (403, Some("You must authenticate via a GitHub App."))
    );
    fake.add_actions_token_with_permissions("ghs_read", &[("checks", "read")]);
    let (status, answer) = post_run(&fake, Some("token ghs_read"), body.clone()).await;
    assert_eq!(
        (status, answer["message"].as_str()),
        (403, Some("Resource not accessible by integration"))
    );
    fake.add_actions_token_with_permissions("ghs_write", &[("checks", "write")]);
    let (status, created) = post_run(&fake, Some("token ghs_write"), body.clone()).await;
    assert_eq!(status, 201);
    let id = created["id"].as_u64().unwrap();
    // Updating needs it too; reading does not.
    let route = format!("/repos/{REPO}/check-runs/{id}");
    let (status, _, _) = raw(
        &fake,
        "PATCH",
        &route,
        Some("token ghs_read"),
        Some(json!({"status": "in_progress"})),
    )
    .await;
    assert_eq!(status, 403);
    let list = format!("/repos/{REPO}/commits/{sha}/check-runs");
    let (status, _, listed) = raw(&fake, "GET", &list, Some("token ghp_person"), None).await;
    assert_eq!((status, listed["total_count"].as_u64()), (200, Some(1)));
    assert_eq!(fake.check_runs(REPO)[0].updates, 0);
}

#[tokio::test]
async fn installation_tokens_carry_checks_permission() {
    // An installation whose App lacks `checks: write` (minted through the JWT path in
    // strict.rs; here through an unsigned JWT, no key configured).
    use base64::Engine;
    let (fake, sha) = world().await;
    fake.set_installation(REPO, 9);
    fake.set_installation_permissions(9, &[("checks", "read"), ("pull_requests", "write")]);
    let b64 = |v: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let exp = chrono::Utc::now().timestamp() + 300;
    let jwt = format!(
        "{}.{}.sig",
        b64(json!({"alg": "RS256"})),
        b64(json!({"iss": 1, "exp": exp}))
    );
    let auth = format!("Bearer {jwt}");
    let (status, _, token) = raw(
        &fake,
        "POST",
        "/app/installations/9/access_tokens",
        Some(&auth),
        Some(json!({})),
    )
    .await;
    assert_eq!(status, 201, "{token}");
    let token = format!("token {}", token["token"].as_str().unwrap());
    let (status, answer) = post_run(
        &fake,
        Some(&token),
        json!({"name": "Jules", "head_sha": sha}),
    )
    .await;
    assert_eq!(
        (status, answer["message"].as_str()),
        (403, Some("Resource not accessible by integration"))
    );
    fake.set_installation_permissions(9, &[("checks", "write")]);
    let (status, _, token) = raw(
        &fake,
        "POST",
        "/app/installations/9/access_tokens",
        Some(&auth),
        Some(json!({})),
    )
    .await;
    assert_eq!(status, 201);
    let token = format!("token {}", token["token"].as_str().unwrap());
    let (status, answer) = post_run(
        &fake,
        Some(&token),
        json!({"name": "Jules", "head_sha": sha}),
    )
    .await;
    assert_eq!(status, 201, "{answer}");
    assert_eq!(answer["app"]["slug"], "jules-bridge");
    assert_eq!(fake.check_runs(REPO)[0].app, "jules-bridge");
}

#[tokio::test]
async fn check_runs_for_a_ref_filter_by_name_latest_or_all() {
    let (fake, sha) = world().await;
    for (name, external_id) in [("Jules", "s1"), ("Lint", "x"), ("Jules", "s2")] {
        let (status, _) = post_run(
            &fake,
            ACTIONS,
            json!({"name": name, "head_sha": sha, "external_id": external_id}),
        )
        .await;
        assert_eq!(status, 201);
    }
    let list = |query: &str| format!("/repos/{REPO}/commits/{sha}/check-runs{query}");
    let ids = |v: &Value| -> Vec<String> {
        v["check_runs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                format!(
                    "{}:{}",
                    r["name"].as_str().unwrap(),
                    r["external_id"].as_str().unwrap()
                )
            })
            .collect()
    };
    let (_, _, latest) = raw(&fake, "GET", &list("?check_name=Jules"), ACTIONS, None).await;
    assert_eq!(
        (latest["total_count"].as_u64(), ids(&latest)),
        (Some(1), vec!["Jules:s2".to_string()])
    );
    let (_, _, all) = raw(
        &fake,
        "GET",
        &list("?check_name=Jules&filter=all"),
        ACTIONS,
        None,
    )
    .await;
    assert_eq!(ids(&all), ["Jules:s2", "Jules:s1"]);
    let (_, _, every) = raw(&fake, "GET", &list("?filter=all"), ACTIONS, None).await;
    assert_eq!(every["total_count"], 3);
    // Paged, with GitHub's Link header.
    let (_, headers, page1) =
        raw(&fake, "GET", &list("?filter=all&per_page=2"), ACTIONS, None).await;
    assert_eq!(ids(&page1).len(), 2);
    assert_eq!(page1["total_count"], 3);
    assert!(header(&headers, "link")
        .unwrap()
        .contains("page=2>; rel=\"next\""));
    // By branch name (a pull request's head) as well as by sha; another commit has none.
    let (_, _, by_branch) = raw(
        &fake,
        "GET",
        &format!("/repos/{REPO}/commits/jules%2Ffix/check-runs?filter=all"),
        ACTIONS,
        None,
    )
    .await;
    assert_eq!(by_branch["total_count"], 3);
    let other = "0".repeat(40);
    let (status, _, none) = raw(
        &fake,
        "GET",
        &format!("/repos/{REPO}/commits/{other}/check-runs"),
        ACTIONS,
        None,
    )
    .await;
    assert_eq!((status, none["total_count"].as_u64()), (200, Some(0)));
    let (status, _, _) = raw(&fake, "GET", &list("?filter=newest"), ACTIONS, None).await;
    assert_eq!(status, 422);
}

#[tokio::test]
async fn review_comments_listed_paged_with_replies() {
    let (fake, _) = world().await;
    let first = fake.add_review_comment(
        REPO,
        5,
        42,
        "alice",
        "/jules rename",
        "src/a.rs",
        Some(8),
        Some(6),
        "@@ -1 +1 @@",
    );
    for i in 0..4 {
        fake.add_review_comment(
            REPO,
            5,
            43,
            "bob",
            &format!("nit {i}"),
            "b.rs",
            None,
            None,
            "@@",
        );
    }
    let route = format!("/repos/{REPO}/pulls/5/comments");
    let (status, headers, page1) =
        raw(&fake, "GET", &format!("{route}?per_page=2"), ACTIONS, None).await;
    assert_eq!(status, 200);
    let page1 = page1.as_array().unwrap().clone();
    assert_eq!(page1.len(), 2);
    let c = &page1[0];
    assert_eq!(c["id"], first);
    assert_eq!(c["pull_request_review_id"], 42);
    assert_eq!(c["body"], "/jules rename");
    assert_eq!(c["user"]["login"], "alice");
    assert_eq!(c["path"], "src/a.rs");
    assert_eq!(
        (c["start_line"].as_u64(), c["line"].as_u64()),
        (Some(6), Some(8))
    );
    assert_eq!(c["diff_hunk"], "@@ -1 +1 @@");
    assert!(c.get("in_reply_to_id").is_none());
    assert_eq!(page1[1]["line"], Value::Null);
    assert!(header(&headers, "link").unwrap().contains("rel=\"last\""));
    let (_, _, page3) = raw(
        &fake,
        "GET",
        &format!("{route}?per_page=2&page=3"),
        ACTIONS,
        None,
    )
    .await;
    assert_eq!(page3.as_array().unwrap().len(), 1);

    // Replies thread to the first comment, even when replying to a reply.
    let replies = format!("/repos/{REPO}/pulls/5/comments/{first}/replies");
    let (status, headers, reply) = raw(
        &fake,
        "POST",
        &replies,
        ACTIONS,
        Some(json!({"body": "On it"})),
    )
    .await;
    assert_eq!(status, 201, "{reply}");
    let reply_id = reply["id"].as_u64().unwrap();
    assert_eq!(reply["in_reply_to_id"], first);
    assert_eq!(reply["user"]["login"], "github-actions[bot]");
    assert_eq!(reply["path"], "src/a.rs");
    assert!(header(&headers, "location")
        .unwrap()
        .ends_with(&format!("/pulls/comments/{reply_id}")));
    let (status, _, nested) = raw(
        &fake,
        "POST",
        &format!("/repos/{REPO}/pulls/5/comments/{reply_id}/replies"),
        ACTIONS,
        Some(json!({"body": "more"})),
    )
    .await;
    assert_eq!(
        (status, nested["in_reply_to_id"].as_u64()),
        (201, Some(first))
    );
    let stored = fake.review_comments(REPO, 5);
    assert_eq!(stored.len(), 7);
    assert_eq!(stored[5].in_reply_to_id, Some(first));
    assert_eq!(stored[5].body, "On it");

    // 404: no such comment (or not on that pull request), no such pull request; 422 without body.
    let (status, _, _) = raw(
        &fake,
        "POST",
        &format!("/repos/{REPO}/pulls/5/comments/1/replies"),
        ACTIONS,
        Some(json!({"body": "x"})),
    )
    .await;
    assert_eq!(status, 404);
    fake.add_pull(REPO, 6, "other", REPO, "main");
    let (status, _, _) = raw(
        &fake,
        "POST",
        &format!("/repos/{REPO}/pulls/6/comments/{first}/replies"),
        ACTIONS,
        Some(json!({"body": "x"})),
    )
    .await;
    assert_eq!(status, 404);
    let (status, _, _) = raw(
        &fake,
        "GET",
        &format!("/repos/{REPO}/pulls/404/comments"),
        ACTIONS,
        None,
    )
    .await;
    assert_eq!(status, 404);
    let (status, _, _) = raw(&fake, "POST", &replies, ACTIONS, Some(json!({}))).await;
    assert_eq!(status, 422);
    assert_eq!(fake.review_comments(REPO, 5).len(), 7);
}

#[tokio::test]
async fn review_comment_reactions_and_permissions() {
    let (fake, _) = world().await;
    let id = fake.add_review_comment(
        REPO,
        5,
        42,
        "alice",
        "/jules go",
        "a.rs",
        Some(1),
        None,
        "@@",
    );
    let route = format!("/repos/{REPO}/pulls/comments/{id}/reactions");
    let (status, _, created) = raw(
        &fake,
        "POST",
        &route,
        ACTIONS,
        Some(json!({"content": "eyes"})),
    )
    .await;
    assert_eq!((status, created["content"].as_str()), (201, Some("eyes")));
    let (status, _, again) = raw(
        &fake,
        "POST",
        &route,
        ACTIONS,
        Some(json!({"content": "eyes"})),
    )
    .await;
    assert_eq!((status, &again["id"]), (200, &created["id"]));
    let (status, _, _) = raw(
        &fake,
        "POST",
        &route,
        ACTIONS,
        Some(json!({"content": "wow"})),
    )
    .await;
    assert_eq!(status, 422);
    let (status, _, _) = raw(
        &fake,
        "POST",
        &format!("/repos/{REPO}/pulls/comments/1/reactions"),
        ACTIONS,
        Some(json!({"content": "eyes"})),
    )
    .await;
    assert_eq!(status, 404);
    let reactions = fake.reactions();
    assert_eq!(reactions.len(), 1);
    assert_eq!(
        reactions[0].target,
        ReactionTarget::ReviewComment {
            repo: REPO.into(),
            id
        }
    );
    // An issue comment with the same id is another target.
    assert_ne!(
        reactions[0].target,
        ReactionTarget::Comment {
            repo: REPO.into(),
            id
        }
    );

    // Writes need `pull_requests: write`; reading the comments does not.
    fake.add_actions_token_with_permissions(
        "ghs_read",
        &[("pull_requests", "read"), ("issues", "write")],
    );
    let read = Some("token ghs_read");
    let (status, _, answer) = raw(
        &fake,
        "POST",
        &route,
        read,
        Some(json!({"content": "heart"})),
    )
    .await;
    assert_eq!(
        (status, answer["message"].as_str()),
        (403, Some("Resource not accessible by integration"))
    );
    let (status, _, _) = raw(
        &fake,
        "POST",
        &format!("/repos/{REPO}/pulls/5/comments/{id}/replies"),
        read,
        Some(json!({"body": "x"})),
    )
    .await;
    assert_eq!(status, 403);
    let (status, _, _) = raw(
        &fake,
        "GET",
        &format!("/repos/{REPO}/pulls/5/comments"),
        read,
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(fake.reactions().len(), 1);
    assert_eq!(fake.review_comments(REPO, 5).len(), 1);
}

#[tokio::test]
async fn octocrab_reads_review_comments_and_check_runs() {
    let (fake, sha) = world().await;
    fake.add_review_comment(
        REPO,
        5,
        42,
        "alice",
        "/jules go",
        "a.rs",
        Some(3),
        Some(1),
        "@@",
    );
    let gh = octocrab::Octocrab::builder()
        .base_uri(fake.url())
        .unwrap()
        .personal_token("ghs_actions".to_string())
        .build()
        .unwrap();
    let page = gh
        .pulls("acme", "widgets")
        .list_comments(Some(5))
        .send()
        .await
        .unwrap();
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.items[0].body, "/jules go");
    assert_eq!(page.items[0].line, Some(3));
    let (status, _) = post_run(
        &fake,
        ACTIONS,
        json!({"name": "Jules", "head_sha": sha, "status": "in_progress"}),
    )
    .await;
    assert_eq!(status, 201);
    let runs = gh
        .checks("acme", "widgets")
        .list_check_runs_for_git_ref(octocrab::params::repos::Commitish(sha.clone()))
        .send()
        .await
        .unwrap();
    assert_eq!(runs.total_count, 1);
    assert_eq!(runs.check_runs[0].name, "Jules");
}
