//! The fake is as strict as GitHub: who a token is, what an installation token may reach, what
//! happens on issues that do not exist, what a token without a permission gets. Raw HTTP, so
//! every status and message is the fake's own.

use github_fake::FakeGitHub;
use serde_json::{json, Value};

mod support;
use support::raw;

const PRIVATE_KEY: &str = include_str!("../fixtures/test-only-app-key.private.pem");
const PUBLIC_KEY: &str = include_str!("../fixtures/test-only-app-key.public.pem");
const APP_ID: u64 = 4242;

/// A fake with the App `jules-test` (id 4242, verified key).
async fn fake_with_app() -> FakeGitHub {
    let fake = FakeGitHub::start().await;
    fake.set_app(APP_ID, "jules-test", Some(PUBLIC_KEY));
    fake
}

fn app_jwt() -> String {
    let now = chrono::Utc::now().timestamp();
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
        &json!({"iss": APP_ID.to_string(), "iat": now - 60, "exp": now + 540}),
        &jsonwebtoken::EncodingKey::from_rsa_pem(PRIVATE_KEY.as_bytes()).unwrap(),
    )
    .unwrap()
}

/// `POST /app/installations/{id}/access_tokens` with the App's JWT.
async fn mint(fake: &FakeGitHub, installation: u64, body: Value) -> (u16, Value) {
    let (status, _, body) = raw(
        fake,
        "POST",
        &format!("/app/installations/{installation}/access_tokens"),
        Some(&format!("Bearer {}", app_jwt())),
        Some(body),
    )
    .await;
    (status, body)
}

async fn comment(fake: &FakeGitHub, token: &str, repo: &str, issue: u64) -> (u16, Value) {
    let (status, _, body) = raw(
        fake,
        "POST",
        &format!("/repos/{repo}/issues/{issue}/comments"),
        Some(&format!("token {token}")),
        Some(json!({"body": "hello"})),
    )
    .await;
    (status, body)
}

async fn get(fake: &FakeGitHub, token: &str, path: &str) -> (u16, Value) {
    let (status, _, body) = raw(fake, "GET", path, Some(&format!("token {token}")), None).await;
    (status, body)
}

#[tokio::test]
async fn an_unknown_token_is_bad_credentials() {
    let fake = FakeGitHub::start().await;
    fake.add_issue_at("acme/widgets", 1);
    let (status, body) = comment(&fake, "ghp_nobodyknowsthisone", "acme/widgets", 1).await;
    assert_eq!(status, 401);
    assert_eq!(body["message"], "Bad credentials");
    assert!(body["documentation_url"].is_string());
    let (status, body) = get(&fake, "ghp_nobodyknowsthisone", "/user").await;
    assert_eq!(
        (status, body["message"].as_str()),
        (401, Some("Bad credentials"))
    );
    assert!(fake.comments("acme/widgets", 1).is_empty());
    // Once registered, the same token works.
    fake.set_token_login("ghp_nobodyknowsthisone", "octo-dev");
    assert_eq!(
        comment(&fake, "ghp_nobodyknowsthisone", "acme/widgets", 1)
            .await
            .0,
        201
    );
}

#[tokio::test]
async fn a_personal_access_token_acts_as_its_user() {
    let fake = FakeGitHub::start().await;
    fake.add_issue_at("acme/widgets", 1);
    fake.set_token_login("ghp_pat", "octo-dev");
    let (status, body) = comment(&fake, "ghp_pat", "acme/widgets", 1).await;
    assert_eq!(status, 201);
    assert_eq!(body["user"]["login"], "octo-dev");
    assert_eq!(body["user"]["type"], "User");
    assert_eq!(fake.comments("acme/widgets", 1)[0].user, "octo-dev");

    let (status, me) = get(&fake, "ghp_pat", "/user").await;
    assert_eq!(status, 200);
    assert_eq!(me["login"], "octo-dev");
    assert_eq!(me["type"], "User");
    assert_eq!(me["id"], body["user"]["id"]);
    assert_eq!(me["html_url"], "https://github.com/octo-dev");
    // Same through the Enterprise prefix.
    assert_eq!(
        get(&fake, "ghp_pat", "/api/v3/user").await.1["login"],
        "octo-dev"
    );
}

#[tokio::test]
async fn the_actions_token_is_github_actions_bot_and_not_a_user() {
    let fake = FakeGitHub::start().await;
    fake.add_issue_at("acme/widgets", 1);
    fake.add_actions_token("ghs_actions");
    let (status, body) = comment(&fake, "ghs_actions", "acme/widgets", 1).await;
    assert_eq!(status, 201);
    assert_eq!(body["user"]["login"], "github-actions[bot]");
    assert_eq!(body["user"]["type"], "Bot");
    let (status, body) = get(&fake, "ghs_actions", "/user").await;
    assert_eq!(status, 403);
    assert_eq!(body["message"], "Resource not accessible by integration");
}

#[tokio::test]
async fn an_installation_token_is_the_app_bot_and_not_a_user() {
    let fake = fake_with_app().await;
    fake.set_installation("acme/widgets", 77);
    fake.add_issue_at("acme/widgets", 1);
    let (status, minted) = mint(&fake, 77, json!({})).await;
    assert_eq!(status, 201);
    let token = minted["token"].as_str().unwrap();
    let (status, body) = comment(&fake, token, "acme/widgets", 1).await;
    assert_eq!(status, 201);
    assert_eq!(body["user"]["login"], "jules-test[bot]");
    assert_eq!(body["user"]["type"], "Bot");
    let (status, body) = get(&fake, token, "/user").await;
    assert_eq!(status, 403);
    assert_eq!(body["message"], "Resource not accessible by integration");
}

#[tokio::test]
async fn an_installation_token_reaches_only_its_installations_repositories() {
    let fake = fake_with_app().await;
    fake.set_installation("acme/widgets", 77);
    fake.set_installation("acme/gadgets", 77);
    fake.set_installation("other/thing", 88);
    for repo in [
        "acme/widgets",
        "acme/gadgets",
        "other/thing",
        "nobody/installed",
    ] {
        fake.add_issue_at(repo, 1);
    }
    let token = mint(&fake, 77, json!({})).await.1["token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(comment(&fake, &token, "acme/widgets", 1).await.0, 201);
    assert_eq!(comment(&fake, &token, "acme/gadgets", 1).await.0, 201);
    for repo in ["other/thing", "nobody/installed"] {
        let (status, body) = comment(&fake, &token, repo, 1).await;
        assert_eq!(status, 404, "{repo}");
        assert_eq!(
            body,
            json!({"message": "Not Found", "documentation_url": "https://docs.github.com/rest"})
        );
        assert_eq!(get(&fake, &token, &format!("/repos/{repo}")).await.0, 404);
        assert!(fake.comments(repo, 1).is_empty());
    }
    // Narrowed to one repository when minted: the other one of the installation is hidden too.
    let (status, minted) = mint(&fake, 77, json!({"repositories": ["widgets"]})).await;
    assert_eq!(status, 201);
    assert_eq!(minted["repository_selection"], "selected");
    let narrow = minted["token"].as_str().unwrap();
    assert_eq!(comment(&fake, narrow, "acme/widgets", 1).await.0, 201);
    assert_eq!(comment(&fake, narrow, "acme/gadgets", 1).await.0, 404);
    // Narrowing to a repository outside the installation is refused.
    let (status, body) = mint(&fake, 77, json!({"repositories": ["thing"]})).await;
    assert_eq!(status, 422);
    assert_eq!(body["message"], "Validation Failed");
}

#[tokio::test]
async fn installations_that_do_not_exist_answer_404() {
    let fake = fake_with_app().await;
    fake.set_installation("acme/widgets", 77);
    let (status, body) = mint(&fake, 78, json!({})).await;
    assert_eq!(status, 404);
    assert_eq!(body["message"], "Not Found");
    assert_eq!(fake.tokens_issued(), 0);
    fake.add_installation(78);
    assert_eq!(mint(&fake, 78, json!({})).await.0, 201);

    let jwt = format!("Bearer {}", app_jwt());
    let (status, _, body) = raw(
        &fake,
        "GET",
        "/repos/acme/widgets/installation",
        Some(&jwt),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["id"], 77);
    assert_eq!(body["app_slug"], "jules-test");
    let (status, _, body) = raw(
        &fake,
        "GET",
        "/repos/acme/unknown/installation",
        Some(&jwt),
        None,
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(body["message"], "Not Found");
}

#[tokio::test]
async fn comments_reactions_and_labels_need_an_existing_issue() {
    let fake = FakeGitHub::start().await;
    fake.add_actions_token("t");
    let auth = Some("token t");
    let posts = [
        (
            "/repos/acme/widgets/issues/5/comments",
            json!({"body": "hi"}),
        ),
        (
            "/repos/acme/widgets/issues/5/reactions",
            json!({"content": "eyes"}),
        ),
        (
            "/repos/acme/widgets/issues/5/labels",
            json!({"labels": ["bug"]}),
        ),
    ];
    for (path, body) in &posts {
        let (status, _, answer) = raw(&fake, "POST", path, auth, Some(body.clone())).await;
        assert_eq!(
            (status, answer["message"].as_str()),
            (404, Some("Not Found")),
            "{path}"
        );
    }
    assert_eq!(
        raw(
            &fake,
            "GET",
            "/repos/acme/widgets/issues/5/comments",
            auth,
            None
        )
        .await
        .0,
        404
    );
    assert!(fake.comments("acme/widgets", 5).is_empty() && fake.reactions().is_empty());
    assert!(fake.labels("acme/widgets", 5).is_empty());

    fake.add_issue_at("acme/widgets", 5);
    let expected = [201, 201, 200];
    for ((path, body), want) in posts.iter().zip(expected) {
        assert_eq!(
            raw(&fake, "POST", path, auth, Some(body.clone())).await.0,
            want,
            "{path}"
        );
    }

    // Deleted: 410 with GitHub's message, for every one of them.
    fake.delete_issue("acme/widgets", 5);
    for (path, body) in &posts {
        let (status, _, answer) = raw(&fake, "POST", path, auth, Some(body.clone())).await;
        assert_eq!(
            (status, answer["message"].as_str()),
            (410, Some("This issue was deleted")),
            "{path}"
        );
    }
    assert_eq!(
        raw(
            &fake,
            "GET",
            "/repos/acme/widgets/issues/5/comments",
            auth,
            None
        )
        .await
        .0,
        410
    );
    assert_eq!(fake.comments("acme/widgets", 5).len(), 1);
}

#[tokio::test]
async fn a_token_without_issues_write_cannot_write() {
    let fake = fake_with_app().await;
    fake.set_installation("acme/widgets", 77);
    fake.set_installation("acme/readonly", 78);
    fake.set_installation_permissions(78, &[("issues", "read"), ("metadata", "read")]);
    let existing = fake.add_comment("acme/readonly", 3, "alice", "/jules status");
    fake.add_comment("acme/widgets", 3, "alice", "/jules status");

    // The installation's own permissions.
    let (status, minted) = mint(&fake, 78, json!({})).await;
    assert_eq!(status, 201);
    assert_eq!(
        minted["permissions"],
        json!({"issues": "read", "metadata": "read"})
    );
    let reader = minted["token"].as_str().unwrap().to_owned();
    let (status, body) = comment(&fake, &reader, "acme/readonly", 3).await;
    assert_eq!(
        (status, body["message"].as_str()),
        (403, Some("Resource not accessible by integration"))
    );
    let auth = format!("token {reader}");
    for (method, path, body) in [
        (
            "POST",
            format!("/repos/acme/readonly/issues/comments/{existing}/reactions"),
            json!({"content": "eyes"}),
        ),
        (
            "POST",
            "/repos/acme/readonly/issues/3/reactions".to_owned(),
            json!({"content": "eyes"}),
        ),
        (
            "PATCH",
            format!("/repos/acme/readonly/issues/comments/{existing}"),
            json!({"body": "x"}),
        ),
        (
            "POST",
            "/repos/acme/readonly/issues/3/labels".to_owned(),
            json!({"labels": ["bug"]}),
        ),
        (
            "POST",
            "/repos/acme/readonly/issues".to_owned(),
            json!({"title": "x"}),
        ),
    ] {
        assert_eq!(
            raw(&fake, method, &path, Some(&auth), Some(body)).await.0,
            403,
            "{method} {path}"
        );
    }
    // Reading is fine.
    assert_eq!(
        get(&fake, &reader, "/repos/acme/readonly/issues/3/comments")
            .await
            .0,
        200
    );
    assert_eq!(fake.comments("acme/readonly", 3).len(), 1);
    assert!(fake.reactions().is_empty());

    // A token minted with fewer permissions than the installation has carries only those.
    let (status, minted) = mint(&fake, 77, json!({"permissions": {"issues": "read"}})).await;
    assert_eq!(status, 201);
    assert_eq!(minted["permissions"], json!({"issues": "read"}));
    let narrow = minted["token"].as_str().unwrap().to_owned();
    assert_eq!(comment(&fake, &narrow, "acme/widgets", 3).await.0, 403);
    // The default installation token writes.
    let full = mint(&fake, 77, json!({})).await.1["token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(comment(&fake, &full, "acme/widgets", 3).await.0, 201);
    // More than the installation has is refused.
    let (status, _) = mint(&fake, 78, json!({"permissions": {"issues": "write"}})).await;
    assert_eq!(status, 422);
}

#[tokio::test]
async fn an_actions_token_with_read_only_issues_cannot_write() {
    let fake = FakeGitHub::start().await;
    fake.add_issue_at("acme/widgets", 1);
    fake.add_actions_token_with_permissions(
        "ghs_readonly",
        &[("issues", "read"), ("contents", "read")],
    );
    let (status, body) = comment(&fake, "ghs_readonly", "acme/widgets", 1).await;
    assert_eq!(
        (status, body["message"].as_str()),
        (403, Some("Resource not accessible by integration"))
    );
    assert_eq!(
        get(
            &fake,
            "ghs_readonly",
            "/repos/acme/widgets/issues/1/comments"
        )
        .await
        .0,
        200
    );
    assert!(fake.comments("acme/widgets", 1).is_empty());
    fake.add_actions_token_with_permissions("ghs_writer", &[("issues", "write")]);
    assert_eq!(comment(&fake, "ghs_writer", "acme/widgets", 1).await.0, 201);
}

#[tokio::test]
async fn pull_request_threads_accept_pull_requests_write() {
    let fake = fake_with_app().await;
    fake.set_installation("acme/widgets", 77);
    fake.set_installation_permissions(77, &[("pull_requests", "write"), ("issues", "read")]);
    fake.add_pull("acme/widgets", 12, "fix", "acme/widgets", "main");
    fake.add_issue_at("acme/widgets", 13);
    let token = mint(&fake, 77, json!({})).await.1["token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(comment(&fake, &token, "acme/widgets", 12).await.0, 201);
    assert_eq!(comment(&fake, &token, "acme/widgets", 13).await.0, 403);
}
