//! The fake driven by octocrab 0.54 (configured like the bridge) plus raw HTTP for edge cases.

use github_fake::{FakeGitHub, ReactionTarget};
use octocrab::models::reactions::ReactionContent;
use octocrab::models::{AppId, InstallationId};
use octocrab::Octocrab;
use serde_json::{json, Value};
use std::time::Duration;

const PRIVATE_KEY: &str = include_str!("../fixtures/test-only-app-key.private.pem");
const PUBLIC_KEY: &str = include_str!("../fixtures/test-only-app-key.public.pem");

/// Built like the bridge builds its client. (The workspace octocrab has no `retry` feature, so
/// there is no retry layer and no `add_retry_config` to call.)
fn client(fake: &FakeGitHub, token: &str) -> Octocrab {
    Octocrab::builder()
        .base_uri(fake.url())
        .expect("base uri")
        .personal_token(token.to_string())
        .set_connect_timeout(Some(Duration::from_secs(5)))
        .set_read_timeout(Some(Duration::from_secs(10)))
        .build()
        .expect("octocrab")
}

fn status_of(err: &octocrab::Error) -> u16 {
    match err {
        octocrab::Error::GitHub { source, .. } => source.status_code.as_u16(),
        other => panic!("expected a GitHub error, got {other:?}"),
    }
}

fn message_of(err: &octocrab::Error) -> String {
    match err {
        octocrab::Error::GitHub { source, .. } => source.message.clone(),
        other => panic!("expected a GitHub error, got {other:?}"),
    }
}

mod support;
use support::{header, raw};

#[tokio::test]
async fn create_update_get_comment() {
    let fake = FakeGitHub::start().await;
    fake.add_actions_token("gh-actions-token");
    fake.add_issue_at("acme/widgets", 7);
    let gh = client(&fake, "gh-actions-token");
    let issues = gh.issues("acme", "widgets");

    let created = issues.create_comment(7, "Working on it").await.unwrap();
    assert_eq!(created.body.as_deref(), Some("Working on it"));
    assert_eq!(created.user.login, "github-actions[bot]");
    assert_eq!(created.user.r#type, "Bot");
    assert_eq!(
        created.html_url.as_str(),
        format!(
            "https://github.com/acme/widgets/issues/7#issuecomment-{}",
            created.id
        )
    );
    assert!(created
        .issue_url
        .as_ref()
        .unwrap()
        .as_str()
        .ends_with("/repos/acme/widgets/issues/7"));

    // octocrab's update_comment sends POST.
    let updated = issues
        .update_comment(created.id, "Done: see PR")
        .await
        .unwrap();
    assert_eq!(updated.id, created.id);
    assert_eq!(updated.body.as_deref(), Some("Done: see PR"));
    // PATCH (what the docs specify) works too.
    let route = format!("/repos/acme/widgets/issues/comments/{}", created.id);
    let patched: octocrab::models::issues::Comment = gh
        .patch(&route, Some(&json!({"body": "edited twice"})))
        .await
        .unwrap();
    assert_eq!(patched.body.as_deref(), Some("edited twice"));
    let got: octocrab::models::issues::Comment = gh.get(&route, None::<&()>).await.unwrap();
    assert_eq!(got.body.as_deref(), Some("edited twice"));

    let comments = fake.comments("acme/widgets", 7);
    assert_eq!(comments.len(), 1);
    assert_eq!(comments[0].edits, 2);
    assert_eq!(comments[0].user, "github-actions[bot]");
    assert_eq!(comments[0].body, "edited twice");
    assert_eq!(
        fake.count("POST", "/repos/acme/widgets/issues/comments/"),
        1
    );
    assert_eq!(
        fake.count("PATCH", "/repos/acme/widgets/issues/comments/"),
        1
    );
    let reqs = fake.requests();
    assert_eq!(
        reqs[0].authorization.as_deref(),
        Some("Bearer gh-actions-token")
    );
    assert_eq!(reqs[0].body, json!({"body": "Working on it"}));

    // Unknown comment -> 404.
    let err = issues
        .update_comment(octocrab::models::CommentId(424242), "x")
        .await
        .unwrap_err();
    assert_eq!(status_of(&err), 404);
    // Token login can be configured; PR comments get /pull/ html urls.
    fake.set_token_login("user-token", "alice");
    fake.add_pull("acme/widgets", 8, "feature", "acme/widgets", "main");
    let c = client(&fake, "user-token")
        .issues("acme", "widgets")
        .create_comment(8, "hi")
        .await
        .unwrap();
    assert_eq!(c.user.login, "alice");
    assert_eq!(c.user.r#type, "User");
    assert!(c.html_url.as_str().contains("/pull/8#issuecomment-"));
}

#[tokio::test]
async fn list_comments_paginates_with_link_header() {
    let fake = FakeGitHub::start().await;
    fake.add_actions_token("t");
    for i in 0..65 {
        fake.add_comment("acme/widgets", 3, "bob", &format!("comment {i}"));
    }
    fake.add_comment("acme/widgets", 4, "bob", "other issue");
    let gh = client(&fake, "t");
    let page = gh
        .issues("acme", "widgets")
        .list_comments(3)
        .per_page(30)
        .send()
        .await
        .unwrap();
    assert_eq!(page.items.len(), 30);
    assert_eq!(page.number_of_pages(), Some(3));
    assert!(page.next.is_some());
    let all = gh.all_pages(page).await.unwrap();
    assert_eq!(all.len(), 65);
    assert_eq!(all[64].body.as_deref(), Some("comment 64"));
    assert_eq!(
        fake.count("GET", "/repos/acme/widgets/issues/3/comments"),
        3
    );

    // Default per_page is 30; max 100; no Link header on a single page.
    let (status, headers, body) = raw(
        &fake,
        "GET",
        "/repos/acme/widgets/issues/3/comments",
        Some("token t"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body.as_array().unwrap().len(), 30);
    let link = header(&headers, "link").unwrap();
    assert!(link.contains("page=2>; rel=\"next\""), "{link}");
    assert!(link.contains("page=3>; rel=\"last\""), "{link}");
    let (_, headers, body) = raw(
        &fake,
        "GET",
        "/repos/acme/widgets/issues/3/comments?per_page=500",
        Some("token t"),
        None,
    )
    .await;
    assert_eq!(body.as_array().unwrap().len(), 65);
    assert!(header(&headers, "link").is_none());
    let (_, headers, body) = raw(
        &fake,
        "GET",
        "/repos/acme/widgets/issues/3/comments?per_page=20&page=4",
        Some("token t"),
        None,
    )
    .await;
    assert_eq!(body.as_array().unwrap().len(), 5);
    let link = header(&headers, "link").unwrap();
    assert!(link.contains("rel=\"prev\"") && link.contains("rel=\"first\""));
    assert!(!link.contains("rel=\"next\""));
}

#[tokio::test]
async fn reactions_created_then_existing() {
    let fake = FakeGitHub::start().await;
    fake.add_actions_token("t");
    let id = fake.add_comment("acme/widgets", 5, "carol", "@jules fix this");
    let gh = client(&fake, "t");
    let issues = gh.issues("acme", "widgets");
    let r1 = issues
        .create_comment_reaction(id, ReactionContent::Eyes)
        .await
        .unwrap();
    let r2 = issues
        .create_comment_reaction(id, ReactionContent::Eyes)
        .await
        .unwrap();
    assert_eq!(r1.id, r2.id);
    assert_eq!(r1.content, ReactionContent::Eyes);
    assert_eq!(r1.user.login, "github-actions[bot]");
    let ri = issues
        .create_reaction(5, ReactionContent::Rocket)
        .await
        .unwrap();
    assert_eq!(ri.content, ReactionContent::Rocket);
    let statuses: Vec<u16> = fake.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, vec![201, 200, 201]);

    let reactions = fake.reactions();
    assert_eq!(reactions.len(), 2);
    assert_eq!(
        reactions[0].target,
        ReactionTarget::Comment {
            repo: "acme/widgets".into(),
            id
        }
    );
    assert_eq!(reactions[0].content, "eyes");
    assert_eq!(
        reactions[1].target,
        ReactionTarget::Issue {
            repo: "acme/widgets".into(),
            number: 5
        }
    );

    // The comment's reaction rollup counts it.
    let c: Value = gh
        .get(
            format!("/repos/acme/widgets/issues/comments/{id}"),
            None::<&()>,
        )
        .await
        .unwrap();
    assert_eq!(c["reactions"]["eyes"], 1);

    // Invalid content -> 422 with errors[]; unknown comment -> 404.
    let (status, _, body) = raw(
        &fake,
        "POST",
        &format!("/repos/acme/widgets/issues/comments/{id}/reactions"),
        Some("token t"),
        Some(json!({"content": "thumbsup"})),
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(body["message"], "Validation Failed");
    assert_eq!(body["errors"][0]["field"], "content");
    let err = issues
        .create_comment_reaction(999u64, ReactionContent::Heart)
        .await
        .unwrap_err();
    assert_eq!(status_of(&err), 404);
}

#[tokio::test]
async fn pulls_repo_permission_contents_labels() {
    let fake = FakeGitHub::start().await;
    fake.add_actions_token("t");
    fake.add_pull("acme/widgets", 12, "patch-1", "mallory/widgets", "main");
    fake.add_pull("acme/widgets", 13, "jules/fix", "acme/widgets", "develop");
    fake.set_default_branch("acme/widgets", "trunk");
    fake.set_permission("acme/widgets", "Alice", "maintain");
    fake.set_permission("acme/widgets", "tri", "triage");
    fake.set_permission("acme/widgets", "dep", "deployer:write");
    let config = "# jules-bridge config\n".to_string() + &"trigger: \"@jules\"\n".repeat(20);
    fake.set_file("acme/widgets", ".github/jules-bridge.yml", &config);
    fake.set_file_at_ref("acme/widgets", "v2", "only-v2.txt", "two");
    let gh = client(&fake, "t");

    let pr = gh.pulls("acme", "widgets").get(12).await.unwrap();
    assert_eq!(pr.number, 12);
    assert_eq!(pr.head.ref_field, "patch-1");
    let head_repo = pr.head.repo.as_ref().unwrap();
    assert_eq!(head_repo.full_name.as_deref(), Some("mallory/widgets"));
    assert_eq!(head_repo.fork, Some(true));
    assert_eq!(pr.base.ref_field, "main");
    assert_eq!(
        pr.base.repo.as_ref().unwrap().full_name.as_deref(),
        Some("acme/widgets")
    );
    assert_eq!(
        pr.html_url.as_ref().unwrap().as_str(),
        "https://github.com/acme/widgets/pull/12"
    );
    let pr = gh.pulls("acme", "widgets").get(13).await.unwrap();
    assert_eq!(pr.head.repo.as_ref().unwrap().fork, Some(false));
    assert_eq!(pr.base.ref_field, "develop");
    let err = gh.pulls("acme", "widgets").get(99).await.unwrap_err();
    assert_eq!(status_of(&err), 404);

    let repo = gh.repos("acme", "widgets").get().await.unwrap();
    assert_eq!(repo.full_name.as_deref(), Some("acme/widgets"));
    assert_eq!(repo.name, "widgets");
    assert_eq!(repo.owner.as_ref().unwrap().login, "acme");
    assert_eq!(repo.default_branch.as_deref(), Some("trunk"));
    assert_eq!(
        repo.html_url.as_ref().unwrap().as_str(),
        "https://github.com/acme/widgets"
    );

    let perm = |user: &str| {
        let gh = gh.clone();
        let route = format!("/repos/acme/widgets/collaborators/{user}/permission");
        async move { gh.get::<Value, _, _>(route, None::<&()>).await }
    };
    let p = perm("alice").await.unwrap();
    assert_eq!(p["permission"], "write");
    assert_eq!(p["role_name"], "maintain");
    assert_eq!(p["user"]["login"], "alice");
    assert_eq!(perm("tri").await.unwrap()["permission"], "read");
    let p = perm("dep").await.unwrap();
    assert_eq!(
        (p["permission"].as_str(), p["role_name"].as_str()),
        (Some("write"), Some("deployer"))
    );
    // Not a collaborator: 200 with `permission: "none"`, as GitHub answers, not 404.
    let p = perm("stranger").await.unwrap();
    assert_eq!(
        (p["permission"].as_str(), p["role_name"].as_str()),
        (Some("none"), Some("none"))
    );
    assert_eq!(p["user"]["login"], "stranger");
    assert_eq!(p["user"]["permissions"]["pull"], false);

    let mut items = gh
        .repos("acme", "widgets")
        .get_content()
        .path(".github/jules-bridge.yml")
        .r#ref("trunk")
        .send()
        .await
        .unwrap();
    let file = items.take_items().remove(0);
    assert_eq!(file.r#type, "file");
    assert_eq!(file.path, ".github/jules-bridge.yml");
    let raw_b64 = file.content.clone().unwrap();
    assert!(raw_b64.contains('\n'));
    assert!(raw_b64.lines().all(|l| l.len() <= 60));
    assert_eq!(file.decoded_content().unwrap(), config);
    let err = gh
        .repos("acme", "widgets")
        .get_content()
        .path("missing.yml")
        .send()
        .await
        .unwrap_err();
    assert_eq!(status_of(&err), 404);
    let v2 = |r: &'static str| {
        let gh = gh.clone();
        async move {
            gh.repos("acme", "widgets")
                .get_content()
                .path("only-v2.txt")
                .r#ref(r)
                .send()
                .await
        }
    };
    assert!(v2("v2").await.is_ok());
    assert_eq!(status_of(&v2("trunk").await.unwrap_err()), 404);
    assert!(fake
        .requests()
        .iter()
        .any(|r| r.path == "/repos/acme/widgets/contents/.github/jules-bridge.yml?ref=trunk"));

    let labels = gh
        .issues("acme", "widgets")
        .add_labels(12, &["jules".to_string(), "bug".to_string()])
        .await
        .unwrap();
    assert_eq!(labels.len(), 2);
    assert_eq!(fake.labels("acme/widgets", 12), vec!["jules", "bug"]);
    let left = gh
        .issues("acme", "widgets")
        .remove_label(12, "jules")
        .await
        .unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].name, "bug");
    let err = gh
        .issues("acme", "widgets")
        .remove_label(12, "nope")
        .await
        .unwrap_err();
    assert_eq!(status_of(&err), 404);
}

#[tokio::test]
async fn app_jwt_to_installation_token() {
    let fake = FakeGitHub::start().await;
    fake.set_app(4242, "jules-test", Some(PUBLIC_KEY));
    fake.set_installation("acme/widgets", 77);
    fake.add_issue_at("acme/widgets", 1);
    let app = Octocrab::builder()
        .base_uri(fake.url())
        .unwrap()
        .app_from_rsa_pem(AppId(4242), PRIVATE_KEY)
        .unwrap()
        .build()
        .unwrap();

    let me = app.apps().get().await.unwrap();
    assert_eq!(me.slug.as_deref(), Some("jules-test"));
    assert_eq!(me.id, AppId(4242));
    let inst = app
        .apps()
        .get_repository_installation("acme", "widgets")
        .await
        .unwrap();
    assert_eq!(inst.id, InstallationId(77));
    assert_eq!(inst.account.login, "acme");

    let gh = app.installation(inst.id).unwrap();
    let c = gh
        .issues("acme", "widgets")
        .create_comment(1, "from the app")
        .await
        .unwrap();
    assert_eq!(c.user.login, "jules-test[bot]");
    assert_eq!(c.user.r#type, "Bot");
    gh.issues("acme", "widgets")
        .create_comment(1, "token reused")
        .await
        .unwrap();
    assert_eq!(fake.tokens_issued(), 1);
    let auths: Vec<String> = fake
        .requests()
        .iter()
        .filter(|r| r.path.starts_with("/repos/acme/widgets/issues"))
        .map(|r| r.authorization.clone().unwrap())
        .collect();
    assert!(
        auths.iter().all(|a| a.starts_with("Bearer ghs_")),
        "{auths:?}"
    );
    let token = auths[0].trim_start_matches("Bearer ");
    assert_eq!(fake.token_installation(token), Some((77, false)));

    // Short-lived tokens are refreshed by octocrab (30 s buffer) before each use.
    fake.set_token_lifetime(10);
    let gh2 = app.installation(InstallationId(77)).unwrap();
    for _ in 0..2 {
        gh2.issues("acme", "widgets")
            .create_comment(1, "x")
            .await
            .unwrap();
    }
    assert_eq!(fake.tokens_issued(), 3);

    // Installation token JSON deserializes as octocrab's InstallationToken.
    let tok: octocrab::models::InstallationToken = app
        .post("/app/installations/77/access_tokens", None::<&()>)
        .await
        .unwrap();
    assert!(tok.token.starts_with("ghs_") && tok.token.len() == 40);
    assert!(tok.expires_at.is_some());

    // A JWT for another app id, or signed by another key, is refused.
    let wrong = Octocrab::builder()
        .base_uri(fake.url())
        .unwrap()
        .app_from_rsa_pem(AppId(1), PRIVATE_KEY)
        .unwrap()
        .build()
        .unwrap();
    let err = wrong.apps().get().await.unwrap_err();
    assert_eq!(status_of(&err), 401);
    assert_eq!(message_of(&err), "A JSON web token could not be decoded");
    let err = wrong
        .installation(InstallationId(77))
        .unwrap()
        .issues("acme", "widgets")
        .create_comment(1, "nope")
        .await
        .unwrap_err();
    assert_eq!(status_of(&err), 401);
    let (status, _, _) = raw(&fake, "GET", "/app", Some("Bearer a.b.c"), None).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn expired_installation_token_is_bad_credentials() {
    let fake = FakeGitHub::start().await;
    fake.set_installation("acme/widgets", 5);
    fake.set_token_lifetime(-1);
    // Without a public key only the JWT structure and `iss` are checked.
    let jwt = format!(
        "eyJhbGciOiJSUzI1NiJ9.{}.sig",
        base64_url(&json!({"iss": 1, "exp": chrono::Utc::now().timestamp() + 60}).to_string())
    );
    let (status, _, body) = raw(
        &fake,
        "POST",
        "/app/installations/5/access_tokens",
        Some(&format!("Bearer {jwt}")),
        Some(json!({})),
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(body["repository_selection"], "all");
    let token = body["token"].as_str().unwrap().to_string();
    let (status, _, body) = raw(
        &fake,
        "GET",
        "/repos/acme/widgets",
        Some(&format!("token {token}")),
        None,
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(body["message"], "Bad credentials");
    fake.revoke_token("old");
    let (status, _, _) = raw(&fake, "GET", "/repos/acme/widgets", Some("token old"), None).await;
    assert_eq!(status, 401);
}

fn base64_url(s: &str) -> String {
    // Tiny URL-safe base64 without padding, to build an unsigned test JWT.
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let b = s.as_bytes();
    let mut out = String::new();
    for chunk in b.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, &x)| acc | (u32::from(x) << (16 - 8 * i)));
        let chars = chunk.len() + 1;
        for i in 0..chars {
            out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

#[tokio::test]
async fn auth_unknown_routes_failures_and_enterprise_prefix() {
    let fake = FakeGitHub::start().await;
    fake.add_actions_token("t");
    fake.add_issue_at("acme/widgets", 1);
    fake.add_issue_at("acme/widgets", 2);

    let (status, _, body) = raw(&fake, "GET", "/repos/acme/widgets", None, None).await;
    assert_eq!(status, 401);
    assert_eq!(body["message"], "Requires authentication");
    assert!(body["documentation_url"].is_string());

    let (status, _, body) = raw(&fake, "GET", "/user/repos", Some("token t"), None).await;
    assert_eq!(status, 404);
    assert_eq!(
        body,
        json!({"message": "Not Found", "documentation_url": "https://docs.github.com/rest"})
    );
    assert_eq!(fake.count("GET", "/user/repos"), 1);

    // Injected failures: exactly `count` matching requests, then normal again.
    let gh = client(&fake, "t");
    fake.fail_next("POST /repos/acme/widgets/issues/1/comments", 502, 1);
    let err = gh
        .issues("acme", "widgets")
        .create_comment(1, "a")
        .await
        .unwrap_err();
    assert_eq!(status_of(&err), 502);
    gh.issues("acme", "widgets")
        .create_comment(1, "a")
        .await
        .unwrap();
    assert_eq!(fake.comments("acme/widgets", 1).len(), 1);
    assert_eq!(
        fake.count("POST", "/repos/acme/widgets/issues/1/comments"),
        2
    );

    fake.fail_next("/repos/acme/widgets/pulls", 429, 2);
    let (status, headers, body) = raw(
        &fake,
        "GET",
        "/repos/acme/widgets/pulls/1",
        Some("token t"),
        None,
    )
    .await;
    assert_eq!(status, 429);
    assert!(body["message"].as_str().unwrap().contains("rate limit"));
    assert_eq!(header(&headers, "retry-after"), Some("1"));
    assert_eq!(header(&headers, "x-ratelimit-remaining"), Some("0"));
    fake.add_pull("acme/widgets", 1, "a", "acme/widgets", "main");
    let err = gh.pulls("acme", "widgets").get(1).await.unwrap_err();
    assert_eq!(status_of(&err), 429);
    assert!(gh.pulls("acme", "widgets").get(1).await.is_ok());

    fake.fail_next_secondary_rate_limit("POST ", 1);
    let (status, headers, body) = raw(
        &fake,
        "POST",
        "/repos/acme/widgets/issues/1/reactions",
        Some("token t"),
        Some(json!({"content": "+1"})),
    )
    .await;
    assert_eq!(status, 403);
    assert!(body["message"]
        .as_str()
        .unwrap()
        .contains("secondary rate limit"));
    assert_eq!(header(&headers, "retry-after"), Some("1"));
    fake.fail_next("PATCH", 422, 1);
    let (status, _, body) = raw(
        &fake,
        "PATCH",
        "/repos/acme/widgets/issues/comments/1",
        Some("token t"),
        Some(json!({"body": "x"})),
    )
    .await;
    assert_eq!(status, 422);
    assert!(body["errors"].is_array());

    // Too long comment bodies are refused like GitHub does.
    let err = gh
        .issues("acme", "widgets")
        .create_comment(1, "x".repeat(65537))
        .await
        .unwrap_err();
    assert_eq!(status_of(&err), 422);

    // GitHub Enterprise style base URI.
    let ghes = Octocrab::builder()
        .base_uri(format!("{}/api/v3/", fake.url()))
        .unwrap()
        .personal_token("t".to_string())
        .build()
        .unwrap();
    let c = ghes
        .issues("acme", "widgets")
        .create_comment(2, "via GHES")
        .await
        .unwrap();
    assert_eq!(c.body.as_deref(), Some("via GHES"));
    let last = fake.requests().pop().unwrap();
    assert_eq!(
        last.raw_path,
        "/api/v3/repos/acme/widgets/issues/2/comments"
    );
    assert_eq!(last.path, "/repos/acme/widgets/issues/2/comments");
}

#[tokio::test]
async fn dropping_the_fake_stops_the_server() {
    let fake = FakeGitHub::start().await;
    let addr = fake.url().trim_start_matches("http://").to_string();
    let handle = fake.clone();
    drop(fake);
    // Still served while a handle lives.
    assert!(tokio::net::TcpStream::connect(&addr).await.is_ok());
    drop(handle);
    let mut refused = false;
    for _ in 0..50 {
        if tokio::net::TcpStream::connect(&addr).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(refused, "server still accepting after drop");
}

#[tokio::test]
async fn jwt_signature_iss_and_exp_are_verified() {
    let fake = FakeGitHub::start().await;
    fake.set_app(4242, "jules-test", Some(PUBLIC_KEY));
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(PRIVATE_KEY.as_bytes()).unwrap();
    let now = chrono::Utc::now().timestamp();
    let sign = |claims: Value| {
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
            &claims,
            &key,
        )
        .unwrap()
    };
    let get_app = |jwt: String| {
        let fake = fake.clone();
        async move { raw(&fake, "GET", "/app", Some(&format!("Bearer {jwt}")), None).await }
    };
    let good = sign(json!({"iss": 4242, "iat": now - 60, "exp": now + 540}));
    assert_eq!(get_app(good.clone()).await.0, 200);
    // `iss` as a string is accepted too.
    let s = sign(json!({"iss": "4242", "iat": now - 60, "exp": now + 540}));
    assert_eq!(get_app(s).await.0, 200);
    // Tampered signature.
    let sig_start = good.rfind('.').unwrap() + 1;
    let mid = sig_start + 20;
    let flipped = if &good[mid..=mid] == "A" { "B" } else { "A" };
    let bad = format!("{}{flipped}{}", &good[..mid], &good[mid + 1..]);
    let (status, _, body) = get_app(bad).await;
    assert_eq!(status, 401);
    assert_eq!(body["message"], "A JSON web token could not be decoded");
    // Expired, wrong issuer, or no `exp`.
    let expired = sign(json!({"iss": 4242, "iat": now - 700, "exp": now - 100}));
    assert_eq!(get_app(expired).await.0, 401);
    let other = sign(json!({"iss": 7, "iat": now - 60, "exp": now + 540}));
    assert_eq!(get_app(other).await.0, 401);
    let no_exp = sign(json!({"iss": 4242, "iat": now - 60}));
    assert_eq!(get_app(no_exp).await.0, 401);
    // A `token` scheme is not a JWT bearer.
    let (status, _, _) = raw(&fake, "GET", "/app", Some(&format!("token {good}")), None).await;
    assert_eq!(status, 401);
    assert_eq!(fake.tokens_issued(), 0);
}

#[tokio::test]
async fn create_and_list_issues_by_label() {
    let fake = FakeGitHub::start().await;
    fake.set_token_login("installation-token", "jules-bridge[bot]");
    let gh = client(&fake, "installation-token");
    let issues = gh.issues("acme", "widgets");
    let ci_label = vec!["jules-bridge-ci".to_string()];

    // What `ci_fixer_issue` does: look for an open labelled issue, create one when none.
    let open = issues
        .list()
        .labels(&ci_label)
        .state(octocrab::params::State::Open)
        .per_page(1)
        .send()
        .await
        .unwrap();
    assert!(open.items.is_empty());
    let created = issues
        .create("CI fixes by Jules")
        .body("Status comments below.")
        .labels(vec!["jules-bridge-ci".to_string(), "bot".to_string()])
        .send()
        .await
        .unwrap();
    assert_eq!(created.number, 9001);
    assert_eq!(created.title, "CI fixes by Jules");
    assert_eq!(created.body.as_deref(), Some("Status comments below."));
    assert_eq!(created.user.login, "jules-bridge[bot]");
    assert_eq!(created.user.r#type, "Bot");
    assert_eq!(created.state, octocrab::models::IssueState::Open);
    let names: Vec<&str> = created.labels.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, ["jules-bridge-ci", "bot"]);
    assert_eq!(
        created.url.as_str(),
        format!("{}/repos/acme/widgets/issues/9001", fake.url())
    );
    assert_eq!(
        created.html_url.as_str(),
        "https://github.com/acme/widgets/issues/9001"
    );
    assert_eq!(
        fake.labels("acme/widgets", 9001),
        ["jules-bridge-ci", "bot"]
    );

    // A pre-existing issue without the label and one in another repository are not found.
    assert_eq!(fake.add_issue("acme/widgets", "Unrelated", &["bug"]), 9002);
    assert_eq!(
        fake.add_issue("acme/other", "Elsewhere", &["jules-bridge-ci"]),
        9001
    );
    let open = issues
        .list()
        .labels(&ci_label)
        .state(octocrab::params::State::Open)
        .per_page(1)
        .send()
        .await
        .unwrap();
    assert_eq!(open.items.len(), 1);
    assert_eq!(open.items[0].number, 9001);
    assert!(fake.requests().iter().any(|r| r.method == "GET"
        && r.path == "/repos/acme/widgets/issues?state=open&labels=jules-bridge-ci&per_page=1"));

    // Newest first, paginated with a Link header; `labels` needs every label.
    let all = issues.list().per_page(1).send().await.unwrap();
    assert_eq!(all.items[0].number, 9002);
    assert!(all.next.is_some());
    let both = vec!["jules-bridge-ci".to_string(), "BOT".to_string()];
    let found = issues.list().labels(&both).send().await.unwrap();
    assert_eq!(found.items.len(), 1);
    let none = vec!["jules-bridge-ci".to_string(), "bug".to_string()];
    assert!(issues
        .list()
        .labels(&none)
        .send()
        .await
        .unwrap()
        .items
        .is_empty());
    let closed = issues
        .list()
        .state(octocrab::params::State::Closed)
        .send()
        .await
        .unwrap();
    assert!(closed.items.is_empty());

    // Labels added later show up in the listing and in `issues()`.
    issues
        .add_labels(9002, &["jules-bridge-ci".to_string()])
        .await
        .unwrap();
    let open = issues.list().labels(&ci_label).send().await.unwrap();
    assert_eq!(
        open.items.iter().map(|i| i.number).collect::<Vec<_>>(),
        [9002, 9001]
    );
    let recorded = fake.issues("acme/widgets");
    assert_eq!(recorded.len(), 2);
    assert_eq!(recorded[0].number, 9001);
    assert_eq!(recorded[0].repo, "acme/widgets");
    assert_eq!(recorded[0].body, "Status comments below.");
    assert_eq!(recorded[0].state, "open");
    assert_eq!(recorded[0].user, "jules-bridge[bot]");
    assert_eq!(recorded[1].title, "Unrelated");
    assert_eq!(recorded[1].labels, ["bug", "jules-bridge-ci"]);
    assert_eq!(recorded[1].user, "github-actions[bot]");
    let creates: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST" && r.path == "/repos/acme/widgets/issues")
        .collect();
    assert_eq!(creates.len(), 1);
    assert_eq!(creates[0].status, 201);
    assert_eq!(creates[0].body["labels"], json!(["jules-bridge-ci", "bot"]));
}

#[tokio::test]
async fn create_issue_validation_and_auth() {
    let fake = FakeGitHub::start().await;
    fake.add_actions_token("t");
    let (status, _, body) = raw(
        &fake,
        "POST",
        "/repos/acme/widgets/issues",
        Some("token t"),
        Some(json!({"body": "no title", "labels": ["x"]})),
    )
    .await;
    assert_eq!(status, 422);
    assert!(body["message"].as_str().unwrap().contains("\"title\""));
    assert!(body["documentation_url"].is_string());
    let (status, _, body) = raw(
        &fake,
        "POST",
        "/repos/acme/widgets/issues",
        Some("token t"),
        Some(json!({"title": " "})),
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(body["message"], "Validation Failed");
    assert_eq!(body["errors"][0]["field"], "title");
    assert_eq!(body["errors"][0]["code"], "missing_field");
    assert!(fake.issues("acme/widgets").is_empty());
    assert!(fake.labels("acme/widgets", 9001).is_empty());
    assert_eq!(fake.count("POST", "/repos/acme/widgets/issues"), 2);

    let (status, _, _) = raw(&fake, "GET", "/repos/acme/widgets/issues", None, None).await;
    assert_eq!(status, 401);
    let (status, _, _) = raw(
        &fake,
        "POST",
        "/repos/acme/widgets/issues",
        None,
        Some(json!({"title": "x"})),
    )
    .await;
    assert_eq!(status, 401);
    assert!(fake.issues("acme/widgets").is_empty());
}

#[tokio::test]
async fn list_workflow_run_jobs() {
    let fake = FakeGitHub::start().await;
    fake.add_actions_token("t");
    fake.set_run_jobs(
        "acme/widgets",
        77,
        &[
            ("build", "success"),
            ("test (ubuntu)", "failure"),
            ("lint", "timed_out"),
        ],
    );
    let gh = client(&fake, "t");
    let jobs = gh
        .workflows("acme", "widgets")
        .list_jobs(octocrab::models::RunId(77))
        .per_page(100)
        .send()
        .await
        .unwrap();
    assert_eq!(jobs.total_count, Some(3));
    use octocrab::models::workflows::{Conclusion, Status};
    let got: Vec<(&str, Option<Conclusion>)> = jobs
        .items
        .iter()
        .map(|j| (j.name.as_str(), j.conclusion.clone()))
        .collect();
    assert_eq!(
        got,
        [
            ("build", Some(Conclusion::Success)),
            ("test (ubuntu)", Some(Conclusion::Failure)),
            ("lint", Some(Conclusion::TimedOut)),
        ]
    );
    for j in &jobs.items {
        assert_eq!(j.run_id, octocrab::models::RunId(77));
        assert_eq!(j.status, Status::Completed);
        assert_eq!(
            j.run_url.as_str(),
            format!("{}/repos/acme/widgets/actions/runs/77", fake.url())
        );
    }
    assert_ne!(jobs.items[0].id, jobs.items[1].id);

    // Pages, and the same run number in another repository has no jobs.
    let page2 = gh
        .workflows("acme", "widgets")
        .list_jobs(octocrab::models::RunId(77))
        .per_page(2)
        .page(2u32)
        .send()
        .await
        .unwrap();
    assert_eq!(page2.items.len(), 1);
    assert_eq!(page2.items[0].name, "lint");
    assert_eq!(page2.total_count, Some(3));
    // A run with no jobs; a run that does not exist (here: of another repository) is 404.
    fake.set_run_jobs("acme/other", 78, &[]);
    let none = gh
        .workflows("acme", "other")
        .list_jobs(octocrab::models::RunId(78))
        .per_page(100)
        .send()
        .await
        .unwrap();
    assert!(none.items.is_empty());
    assert_eq!(none.total_count, Some(0));
    let err = gh
        .workflows("acme", "other")
        .list_jobs(octocrab::models::RunId(77))
        .send()
        .await
        .unwrap_err();
    assert_eq!(status_of(&err), 404);

    let (status, _, body) = raw(
        &fake,
        "GET",
        "/repos/acme/widgets/actions/runs/12345/jobs",
        Some("token t"),
        None,
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(body["message"], "Not Found");
    assert_eq!(fake.count("GET", "/repos/acme/widgets/actions/runs/"), 3);
}

/// `compare` answers GitHub's documented body with the registered counts; refs it does not
/// know are 404, like GitHub's.
#[tokio::test]
async fn compare_branches() {
    let fake = FakeGitHub::start().await;
    fake.add_actions_token("t");
    fake.set_comparison("acme/widgets", "main", "jules/fix-7", 1, 3);
    let path = "/repos/acme/widgets/compare/main...jules/fix-7";
    let (status, _, body) = raw(&fake, "GET", path, Some("token t"), None).await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], "diverged");
    assert_eq!(body["ahead_by"], 1);
    assert_eq!(body["behind_by"], 3);
    assert!(body["html_url"]
        .as_str()
        .unwrap()
        .ends_with("/acme/widgets/compare/main...jules/fix-7"));
    // The same keys as GitHub's example of this endpoint.
    let documented: Value = serde_json::from_str(include_str!(
        "../fixtures/compare-commits.response.200.default.json"
    ))
    .unwrap();
    let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&body), keys(&documented));

    let (status, _, _) = raw(
        &fake,
        "GET",
        "/repos/acme/widgets/compare/main...unknown",
        Some("token t"),
        None,
    )
    .await;
    assert_eq!(status, 404);
}
