//! The request surface: auth, query and body validation, the create quirk, paging,
//! filters and sources.

mod common;

use common::{repo_session, Harness, KEY};
use jules_fake::{FakeConfig, Limits};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

fn fixture(name: &str) -> Value {
    // The real bodies, kept with the main crate's test fixtures.
    let path = format!(
        "{}/../../tests/fixtures/jules/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).expect("fixture exists");
    serde_json::from_str(&text).expect("fixture is JSON")
}

#[tokio::test]
async fn auth_errors_look_like_googles() {
    let fake = Harness::with_config(FakeConfig {
        api_key: Some("right".into()),
        ..FakeConfig::default()
    })
    .await;
    let missing = fake.raw(Method::GET, "/v1alpha/sessions", None, None).await;
    assert_eq!(missing.status, StatusCode::UNAUTHORIZED);
    assert_eq!(missing.body, fixture("err-401-credentials-missing.json"));
    assert_eq!(
        missing.body["error"]["details"][0]["reason"],
        "CREDENTIALS_MISSING"
    );

    let wrong = fake
        .raw(Method::GET, "/v1alpha/sessions", Some("wrong"), None)
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.body["error"]["status"], "UNAUTHENTICATED");
    assert_eq!(
        wrong.body["error"]["details"][0]["reason"],
        "ACCESS_TOKEN_TYPE_UNSUPPORTED"
    );
    assert!(wrong.body["error"]["message"]
        .as_str()
        .is_some_and(|m| m.starts_with("Request had invalid authentication credentials.")));

    let right = fake
        .raw(Method::GET, "/v1alpha/sessions", Some("right"), None)
        .await;
    assert_eq!(right.status, StatusCode::OK);
    assert_eq!(right.body, json!({}), "an empty list page is {{}}");

    // Control routes need no key; every API request was counted, rejected ones too.
    let stats = fake.control(Method::GET, "stats", None).await;
    assert_eq!(stats.status, StatusCode::OK);
    assert_eq!(stats.body["requests"]["sessions.list"], 3);
    assert_eq!(stats.body["total"], 3);
    assert_eq!(fake.server.request_count("sessions.list"), 3);
}

#[tokio::test]
async fn any_key_is_accepted_without_a_configured_one() {
    let fake = Harness::manual().await;
    let reply = fake
        .raw(Method::GET, "/v1alpha/sessions", Some("whatever"), None)
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    let empty = fake
        .raw(Method::GET, "/v1alpha/sessions", Some(""), None)
        .await;
    assert_eq!(empty.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn unknown_query_parameters_and_body_fields_are_rejected() {
    let fake = Harness::manual().await;
    let id = fake.create(json!({"prompt": "x"})).await;
    let reply = fake
        .api(
            Method::GET,
            &format!("sessions/{id}/activities?createTime=2026-01-01T00:00:00Z"),
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        reply.body,
        json!({"error": {"code": 400, "status": "INVALID_ARGUMENT", "message": "Invalid JSON payload received. Unknown name \"createTime\": Cannot bind query parameter. Field 'createTime' could not be found in request message."}})
    );
    let on_get = fake
        .api(Method::GET, &format!("sessions/{id}?pageSize=3"), None)
        .await;
    assert_eq!(
        on_get.status,
        StatusCode::BAD_REQUEST,
        "get takes no paging"
    );
    let alt = fake
        .api(Method::GET, &format!("sessions/{id}?alt=json"), None)
        .await;
    assert_eq!(alt.status, StatusCode::OK);

    let unknown_field = fake
        .api(
            Method::POST,
            "sessions",
            Some(json!({"prompt": "x", "foo": 1})),
        )
        .await;
    assert_eq!(unknown_field.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        unknown_field.body["error"]["message"],
        "Invalid JSON payload received. Unknown name \"foo\": Cannot find field."
    );
    let bad_json = fake
        .raw(Method::POST, "/v1alpha/sessions", Some(KEY), Some("{nope"))
        .await;
    assert_eq!(bad_json.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad_json.body["error"]["status"], "INVALID_ARGUMENT");
    let no_prompt = fake
        .api(Method::POST, "sessions", Some(json!({"title": "t"})))
        .await;
    assert_eq!(no_prompt.status, StatusCode::BAD_REQUEST);
    assert_eq!(no_prompt.body["error"]["status"], "INVALID_ARGUMENT");

    for path in [
        "sessions/123".to_string(),
        "sessions/123/activities".to_string(),
        format!("sessions/{id}/activities/0123456789abcdef0123456789abcdef"),
    ] {
        let reply = fake.api(Method::GET, &path, None).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(
            reply.body,
            json!({"error": {"code": 404, "message": "Requested entity was not found.", "status": "NOT_FOUND"}})
        );
    }
    let unknown_verb = fake
        .api(
            Method::POST,
            &format!("sessions/{id}:cancel"),
            Some(json!({})),
        )
        .await;
    assert_eq!(unknown_verb.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn explicit_require_plan_approval_false_without_mode_fails_like_the_live_api() {
    let fake = Harness::manual().await;
    let quirk = fake
        .api(
            Method::POST,
            "sessions",
            Some(json!({"prompt": "x", "requirePlanApproval": false})),
        )
        .await;
    assert_eq!(quirk.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        quirk.body,
        fixture("err-400-failed-precondition-create-session.json")
    );
    let explicit_unspecified = fake
        .api(
            Method::POST,
            "sessions",
            Some(json!({"prompt": "x", "requirePlanApproval": false, "automationMode": "AUTOMATION_MODE_UNSPECIFIED"})),
        )
        .await;
    assert_eq!(explicit_unspecified.status, StatusCode::BAD_REQUEST);
    assert_eq!(fake.server.session_count(), 0);

    // With a mode, or without the explicit false, creation works.
    let mut with_mode = repo_session("o/r", "x");
    with_mode["requirePlanApproval"] = json!(false);
    fake.create(with_mode).await;
    fake.create(json!({"prompt": "x"})).await;
    assert_eq!(fake.server.session_count(), 2);
    assert_eq!(fake.server.request_count("sessions.create"), 4);
}

#[tokio::test]
async fn session_paging_clamps_and_tokens_are_stable() {
    let fake = Harness::manual().await;
    let mut ids = Vec::new();
    for n in 0..7 {
        ids.push(fake.create(json!({"prompt": format!("task {n}")})).await);
    }
    let newest_first: Vec<String> = ids.iter().rev().cloned().collect();

    let first = fake.get("sessions?pageSize=3").await;
    let token = first["nextPageToken"].as_str().expect("token").to_string();
    assert!(token.parse::<u64>().is_err(), "opaque token: {token}");
    // A session created between pages must not shift the next page.
    fake.create(json!({"prompt": "late arrival"})).await;
    let second = fake
        .get(&format!("sessions?pageSize=3&pageToken={token}"))
        .await;
    let token2 = second["nextPageToken"].as_str().expect("token").to_string();
    let third = fake
        .get(&format!("sessions?pageSize=3&pageToken={token2}"))
        .await;
    assert!(
        third.get("nextPageToken").is_none(),
        "last page has no token"
    );
    let seen: Vec<String> = [first, second, third]
        .iter()
        .flat_map(|page| page["sessions"].as_array().cloned().unwrap_or_default())
        .map(|session| session["id"].as_str().expect("id").to_string())
        .collect();
    assert_eq!(seen, newest_first);

    let all = fake.get("sessions").await;
    assert_eq!(all["sessions"].as_array().map(Vec::len), Some(8));
    assert_eq!(all["sessions"][0]["prompt"], "late arrival");

    for bad in [
        "sessions?pageSize=-1",
        "sessions?pageToken=garbage",
        "sessions?pageToken=42",
    ] {
        let reply = fake.api(Method::GET, bad, None).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(reply.body["error"]["status"], "INVALID_ARGUMENT");
    }
}

#[tokio::test]
async fn page_size_defaults_and_clamps_to_one_hundred() {
    // 105 sessions: far beyond the live plan limits, which are not what this test is about.
    let fake = Harness::with_config(FakeConfig {
        step: std::time::Duration::ZERO,
        limits: Limits::unlimited(),
        ..FakeConfig::default()
    })
    .await;
    for n in 0..105 {
        fake.create(json!({"prompt": format!("task {n}")})).await;
    }
    let default_page = fake.get("sessions").await;
    assert_eq!(default_page["sessions"].as_array().map(Vec::len), Some(30));
    let zero = fake.get("sessions?pageSize=0").await;
    assert_eq!(zero["sessions"].as_array().map(Vec::len), Some(30));
    let clamped = fake.get("sessions?pageSize=1000").await;
    assert_eq!(clamped["sessions"].as_array().map(Vec::len), Some(100));
    let token = clamped["nextPageToken"].as_str().expect("more to come");
    let rest = fake
        .get(&format!("sessions?pageSize=1000&pageToken={token}"))
        .await;
    assert_eq!(rest["sessions"].as_array().map(Vec::len), Some(5));
}

#[tokio::test]
async fn archived_filter_and_archive_round_trip() {
    let fake = Harness::manual().await;
    let kept = fake.create(json!({"prompt": "keep"})).await;
    let archived = fake.create(json!({"prompt": "archive me"})).await;
    let answer = fake
        .post(&format!("sessions/{archived}:archive"), json!({}))
        .await;
    assert_eq!(answer["id"], archived.as_str());
    assert_eq!(answer["archived"], true);
    let ids = |page: &Value| -> Vec<String> {
        page["sessions"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|s| s["id"].as_str().expect("id").to_string())
            .collect()
    };
    assert_eq!(ids(&fake.get("sessions").await), [kept.as_str()]);
    assert_eq!(
        ids(&fake.get("sessions?filter=archived%20%3D%20true").await),
        [archived.as_str()]
    );
    assert_eq!(
        ids(&fake.get("sessions?filter=archived%3Dtrue").await),
        [archived.as_str()]
    );
    assert_eq!(
        ids(&fake.get("sessions?filter=archived%20%3D%20false").await),
        [kept.as_str()]
    );
    assert_eq!(fake.session(&archived).await["archived"], true);
    let bad = fake
        .api(Method::GET, "sessions?filter=state%20%3D%20COMPLETED", None)
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);

    fake.post(&format!("sessions/{archived}:unarchive"), json!({}))
        .await;
    assert_eq!(ids(&fake.get("sessions").await).len(), 2);
    assert_eq!(fake.server.session_count(), 2);

    let deleted = fake
        .api(Method::DELETE, &format!("sessions/{kept}"), None)
        .await;
    assert_eq!((deleted.status, deleted.body), (StatusCode::OK, json!({})));
    let gone = fake
        .api(Method::GET, &format!("sessions/{kept}"), None)
        .await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn activity_filter_is_strictly_greater_and_paging_works() {
    let fake = Harness::manual().await;
    let id = fake.create(json!({"prompt": "work"})).await;
    for _ in 0..8 {
        fake.step().await;
    }
    let all = fake.activities(&id).await;
    assert_eq!(all.len(), 6);
    let third_time = all[2]["createTime"].as_str().expect("time").to_string();
    for filter in [
        format!("create_time > \"{third_time}\""),
        format!("create_time>\"{third_time}\""),
        format!("create_time>{third_time}"),
    ] {
        let url = reqwest::Url::parse_with_params(
            &fake.url(&format!("/v1alpha/sessions/{id}/activities")),
            &[("filter", filter.as_str())],
        )
        .expect("url");
        let path = format!(
            "sessions/{id}/activities?{}",
            url.query().unwrap_or_default()
        );
        let page = fake.get(&path).await;
        let newer = page["activities"].as_array().cloned().unwrap_or_default();
        assert_eq!(newer, all[3..].to_vec(), "{filter}");
    }
    let last_time = all[5]["createTime"].as_str().expect("time");
    let none_newer = fake
        .get(&format!(
            "sessions/{id}/activities?filter=create_time%3E%22{last_time}%22"
        ))
        .await;
    assert_eq!(none_newer, json!({}));
    let bad = fake
        .api(
            Method::GET,
            &format!("sessions/{id}/activities?filter=originator%3Dagent"),
            None,
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad.body["error"]["status"], "INVALID_ARGUMENT");

    // Paging, oldest first, tokens scoped to the session.
    let first = fake
        .get(&format!("sessions/{id}/activities?pageSize=4"))
        .await;
    let token = first["nextPageToken"].as_str().expect("token");
    let second = fake
        .get(&format!(
            "sessions/{id}/activities?pageSize=4&pageToken={token}"
        ))
        .await;
    assert!(second.get("nextPageToken").is_none());
    let mut walked = first["activities"].as_array().cloned().unwrap_or_default();
    walked.extend(second["activities"].as_array().cloned().unwrap_or_default());
    assert_eq!(walked, all);
    let garbage = fake
        .api(
            Method::GET,
            &format!("sessions/{id}/activities?pageToken=not-a-token"),
            None,
        )
        .await;
    assert_eq!(garbage.status, StatusCode::BAD_REQUEST);

    let one = fake
        .get(&format!(
            "sessions/{id}/activities/{}",
            all[1]["id"].as_str().expect("id")
        ))
        .await;
    assert_eq!(one, all[1]);
}

#[tokio::test]
async fn open_catalogue_lists_the_demo_source_and_the_sources_used_so_far() {
    let fake = Harness::manual().await;
    let fresh = fake.get("sources").await;
    assert_eq!(
        fresh["sources"][0]["name"],
        "sources/github/octo-org/octo-repo"
    );
    assert_eq!(fresh["sources"].as_array().map(Vec::len), Some(1));
    let source = fake.get("sources/github/zed/zoo").await;
    assert_eq!(
        source,
        json!({"name": "sources/github/zed/zoo", "id": "github/zed/zoo", "githubRepo": {"owner": "zed", "repo": "zoo", "defaultBranch": {"displayName": "main"}, "branches": [{"displayName": "main"}]}})
    );
    fake.create(repo_session("abc/app", "x")).await;
    let listed = fake.get("sources").await;
    let names: Vec<&str> = listed["sources"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["name"].as_str())
        .collect();
    assert_eq!(
        names,
        [
            "sources/github/abc/app",
            "sources/github/octo-org/octo-repo",
            "sources/github/zed/zoo"
        ]
    );
    let not_github = fake.api(Method::GET, "sources/gitlab/a/b", None).await;
    assert_eq!(not_github.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn configured_sources_are_the_only_ones() {
    let fake = Harness::with_config(FakeConfig {
        sources: Some(vec![
            "acme/one".into(),
            "acme/two".into(),
            "acme/three".into(),
        ]),
        step: std::time::Duration::ZERO,
        ..FakeConfig::default()
    })
    .await;
    let missing = fake
        .api(Method::GET, "sources/github/acme/four", None)
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    let unknown_source = fake
        .api(
            Method::POST,
            "sessions",
            Some(repo_session("acme/four", "x")),
        )
        .await;
    assert_eq!(unknown_source.status, StatusCode::NOT_FOUND);
    fake.create(repo_session("acme/one", "x")).await;

    let page = fake.get("sources?pageSize=2").await;
    let token = page["nextPageToken"].as_str().expect("token");
    let rest = fake
        .get(&format!("sources?pageSize=2&pageToken={token}"))
        .await;
    let names: Vec<String> = [page.clone(), rest]
        .iter()
        .flat_map(|p| p["sources"].as_array().cloned().unwrap_or_default())
        .map(|s| s["name"].as_str().expect("name").to_string())
        .collect();
    assert_eq!(
        names,
        [
            "sources/github/acme/one",
            "sources/github/acme/three",
            "sources/github/acme/two"
        ]
    );
    let filtered = fake
        .get("sources?filter=name%3Dsources%2Fgithub%2Facme%2Ftwo%20OR%20name%20%3D%20%22sources%2Fgithub%2Facme%2Fone%22")
        .await;
    let names: Vec<&str> = filtered["sources"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["name"].as_str())
        .collect();
    assert_eq!(
        names,
        ["sources/github/acme/one", "sources/github/acme/two"]
    );
    let bad = fake
        .api(Method::GET, "sources?filter=owner%3Dacme", None)
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn the_request_log_keeps_arrival_order_and_times() {
    let fake = Harness::manual().await;
    let before = std::time::Instant::now();
    fake.create(repo_session("octo/demo", "Log me")).await;
    fake.get("sources").await;
    fake.get("sessions?pageSize=5").await;

    let log = fake.server.request_log();
    let methods: Vec<&str> = log.iter().map(|r| r.method).collect();
    assert_eq!(
        methods,
        ["sessions.create", "sources.list", "sessions.list"]
    );
    assert_eq!(log[2].path, "/v1alpha/sessions?pageSize=5");
    assert!(log[0].at >= before && log[0].at <= log[1].at && log[1].at <= log[2].at);
    assert!(log[0].time <= log[2].time);

    let reply = fake.control(Method::GET, "requests", None).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body["requests"][1]["method"], "sources.list");
    assert!(reply.body["requests"][1]["time"]
        .as_str()
        .is_some_and(|t| t.ends_with('Z')));

    // Clearing the log keeps the counters.
    fake.control(Method::DELETE, "requests", None).await;
    assert!(fake.server.request_log().is_empty());
    assert_eq!(fake.server.request_count("sources.list"), 1);
}
