//! The Jules client against `jules-fake` over real loopback HTTP: every method, the retry
//! rules, and exactly-once session creation under injected faults.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use common::{client_for, client_with, fast_retry, inject, live_fake, manual_fake, step, KEY};
use futures::{StreamExt, TryStreamExt};
use jules_bridge::jules::{
    ActivityKind, AutomationMode, ClientConfig, JulesClient, JulesError, NewSession, RequestTag,
    RetryPolicy, Session, State, WatchEvent, WatchOptions,
};
use jules_fake::FakeServer;
use serde_json::json;

fn plan_session(prompt: &str) -> NewSession {
    NewSession::new(prompt)
        .with_source("octo-org/octo-repo", Some("main"))
        .with_plan_approval(true)
        .with_automation_mode(AutomationMode::AutoCreatePr)
        .with_title("Fix the parser")
}

/// Steps the fake until the session satisfies `done` (at most 30 steps).
async fn step_until(
    fake: &FakeServer,
    client: &JulesClient,
    id: &str,
    done: impl Fn(&Session) -> bool,
) -> Session {
    for _ in 0..30 {
        let session = client.get_session(id).await.unwrap();
        if done(&session) {
            return session;
        }
        step(fake, 1).await;
    }
    panic!("session {id} never reached the expected state");
}

#[tokio::test]
async fn a_session_from_create_to_pull_request() {
    let fake = manual_fake().await;
    let client = client_for(&fake);

    let created = client
        .create_session(&plan_session("Fix the parser"))
        .await
        .unwrap();
    let id = created.session_id().to_owned();
    assert!(created.name.ends_with(&id));
    assert_eq!(created.title, "Fix the parser");

    let waiting = step_until(&fake, &client, &id, |s| {
        s.state == State::AwaitingPlanApproval
    })
    .await;
    assert!(waiting.url.ends_with(&id));
    let activities = client.all_activities(&id, None).await.unwrap();
    let plan = activities
        .iter()
        .find_map(|a| match &a.kind {
            ActivityKind::PlanGenerated(generated) => Some(generated.plan.clone()),
            _ => None,
        })
        .expect("a plan was generated");
    assert!(!plan.steps.is_empty());

    client.approve_plan(&id).await.unwrap();
    let approved = client.all_activities(&id, None).await.unwrap();
    assert!(approved.iter().any(|a| matches!(&a.kind,
        ActivityKind::PlanApproved(p) if p.plan_id == plan.id)));

    let done = step_until(&fake, &client, &id, |s| s.state == State::Completed).await;
    let pr = done
        .pull_request()
        .expect("AUTO_CREATE_PR opens a pull request");
    assert!(
        pr.url
            .starts_with("https://github.com/octo-org/octo-repo/pull/"),
        "{}",
        pr.url
    );
    let last = client
        .all_activities(&id, None)
        .await
        .unwrap()
        .pop()
        .unwrap();
    assert!(matches!(last.kind, ActivityKind::SessionCompleted(_)));

    // activities.get returns the same immutable activity.
    let again = client.get_activity(&id, &last.id).await.unwrap();
    assert_eq!(again, last);
}

#[tokio::test]
async fn activities_after_a_timestamp_are_strictly_newer() {
    let fake = manual_fake().await;
    let client = client_for(&fake);
    let id = client.create_session(&plan_session("x")).await.unwrap().id;
    step_until(&fake, &client, &id, |s| {
        s.state == State::AwaitingPlanApproval
    })
    .await;
    client.approve_plan(&id).await.unwrap();
    step_until(&fake, &client, &id, |s| s.state == State::Completed).await;

    let all = client.all_activities(&id, None).await.unwrap();
    assert!(all.len() >= 4);
    let pivot = all[1].create_time.unwrap();
    let newer = client.all_activities(&id, Some(pivot)).await.unwrap();
    assert_eq!(newer, all[2..]);
}

#[tokio::test]
async fn messages_archive_unarchive_and_delete() {
    let fake = manual_fake().await;
    let client = client_for(&fake);
    let first = client
        .create_session(&NewSession::new("first"))
        .await
        .unwrap();
    let second = client
        .create_session(&NewSession::new("second"))
        .await
        .unwrap();

    client
        .send_message(&first.name, "Please also update the docs")
        .await
        .unwrap();
    let activities = client.all_activities(&first.id, None).await.unwrap();
    assert!(activities.iter().any(|a| matches!(&a.kind,
        ActivityKind::UserMessaged(m) if m.user_message == "Please also update the docs")));

    // Newest first; archived sessions are hidden unless asked for.
    let listed: Vec<String> = client
        .sessions(false)
        .map_ok(|s| s.id)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(listed, [second.id.clone(), first.id.clone()]);
    client.archive_session(&first.id).await.unwrap();
    let listed: Vec<String> = client
        .sessions(false)
        .map_ok(|s| s.id)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(listed, std::slice::from_ref(&second.id));
    let archived: Vec<Session> = client.sessions(true).try_collect().await.unwrap();
    assert_eq!(archived.len(), 1);
    assert!(archived[0].archived);
    client.unarchive_session(&first.id).await.unwrap();
    assert!(!client.get_session(&first.id).await.unwrap().archived);

    client.delete_session(&second.id).await.unwrap();
    let error = client.get_session(&second.id).await.unwrap_err();
    assert!(error.is_not_found(), "{error}");
}

#[tokio::test]
async fn approving_without_a_pending_plan_is_a_failed_precondition() {
    let fake = manual_fake().await;
    let client = client_for(&fake);
    let id = client
        .create_session(&NewSession::new("no plan yet"))
        .await
        .unwrap()
        .id;
    let error = client.approve_plan(&id).await.unwrap_err();
    assert!(error.api().unwrap().is_failed_precondition(), "{error}");
}

#[tokio::test]
async fn sources_are_listed_and_fetched() {
    let fake = common::fake_with(jules_fake::FakeConfig {
        api_key: Some(common::KEY.into()),
        step: Duration::ZERO,
        sources: Some(vec!["octo-org/octo-repo".into(), "octo-org/docs".into()]),
        ..jules_fake::FakeConfig::default()
    })
    .await;
    let client = client_for(&fake);
    let names: Vec<String> = client
        .sources(None)
        .map_ok(|s| s.name)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(names.len(), 2);
    assert!(names.contains(&"sources/github/octo-org/docs".to_owned()));

    let filtered: Vec<String> = client
        .sources(Some("name=sources/github/octo-org/docs".into()))
        .map_ok(|s| s.name)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(filtered, ["sources/github/octo-org/docs"]);

    let source = client.get_source("octo-org/octo-repo").await.unwrap();
    assert_eq!(source.github_repo.unwrap().repo, "octo-repo");
    assert!(client
        .get_source("octo-org/missing")
        .await
        .unwrap_err()
        .is_not_found());
    let error = client
        .create_session(&NewSession::new("x").with_source("octo-org/missing", None))
        .await
        .unwrap_err();
    assert!(error.is_not_found(), "{error}");
}

#[tokio::test]
async fn long_lists_are_followed_across_pages() {
    // 23 sessions that never finish: more than the 15 a live account may run at once.
    let fake = common::fake_with(jules_fake::FakeConfig {
        api_key: Some(KEY.into()),
        step: Duration::ZERO,
        limits: jules_fake::Limits::unlimited(),
        ..jules_fake::FakeConfig::default()
    })
    .await;
    let client = client_for(&fake);
    for n in 0..23 {
        client
            .create_session(&NewSession::new(format!("task {n}")))
            .await
            .unwrap();
    }
    let first = client
        .list_sessions_page(false, Some(10), None)
        .await
        .unwrap();
    assert_eq!(first.sessions.len(), 10);
    let token = first.next_page_token.expect("more pages");
    let second = client
        .list_sessions_page(false, Some(10), Some(&token))
        .await
        .unwrap();
    assert_eq!(second.sessions.len(), 10);
    assert!(first.sessions.iter().all(|s| !second.sessions.contains(s)));
    let all: Vec<Session> = client.sessions(false).try_collect().await.unwrap();
    assert_eq!(all.len(), 23);
    let limited: Vec<Session> = client.sessions(false).take(5).try_collect().await.unwrap();
    assert_eq!(limited.len(), 5);
}

#[tokio::test]
async fn reads_are_retried_through_429_and_503() {
    let fake = manual_fake().await;
    let client = client_for(&fake);
    let id = client
        .create_session(&NewSession::new("x"))
        .await
        .unwrap()
        .id;

    inject(
        &fake,
        json!({"errorStatus": 503, "failNext": 3, "methods": ["sessions.get"]}),
    )
    .await;
    assert_eq!(client.get_session(&id).await.unwrap().id, id);
    assert_eq!(fake.request_count("sessions.get"), 4);

    inject(
        &fake,
        json!({"errorStatus": 429, "failNext": 2, "retryAfterSeconds": 0,
        "methods": ["activities.list"]}),
    )
    .await;
    client.all_activities(&id, None).await.unwrap();
    assert_eq!(fake.request_count("activities.list"), 3);
}

#[tokio::test]
async fn retries_are_bounded() {
    let fake = manual_fake().await;
    let policy = RetryPolicy {
        max_attempts: 4,
        ..fast_retry()
    };
    let client = client_with(&fake, policy);
    inject(
        &fake,
        json!({"errorStatus": 503, "errorRate": 1.0, "methods": ["sessions.list"]}),
    )
    .await;
    let error = client
        .list_sessions_page(false, None, None)
        .await
        .unwrap_err();
    assert_eq!(error.api().unwrap().http_status, 503);
    assert_eq!(fake.request_count("sessions.list"), 4);
}

#[tokio::test]
async fn a_message_is_never_sent_twice() {
    let fake = manual_fake().await;
    let client = client_for(&fake);
    let id = client
        .create_session(&NewSession::new("x"))
        .await
        .unwrap()
        .id;

    // 503: the server may have taken the message; sending again could duplicate it.
    inject(
        &fake,
        json!({"errorStatus": 503, "failNext": 1, "methods": ["sessions.sendMessage"]}),
    )
    .await;
    let error = client.send_message(&id, "hello").await.unwrap_err();
    assert!(
        matches!(error, JulesError::OutcomeUnknown { .. }),
        "{error}"
    );
    assert_eq!(fake.request_count("sessions.sendMessage"), 1);

    // 429: the server refused it, so it is sent again, once.
    inject(
        &fake,
        json!({"errorStatus": 429, "failNext": 1, "methods": ["sessions.sendMessage"]}),
    )
    .await;
    client.send_message(&id, "hello again").await.unwrap();
    assert_eq!(fake.request_count("sessions.sendMessage"), 3);
    let messages = client
        .all_activities(&id, None)
        .await
        .unwrap()
        .into_iter()
        .filter(
            |a| matches!(&a.kind, ActivityKind::UserMessaged(m) if m.user_message == "hello again"),
        )
        .count();
    assert_eq!(messages, 1);
}

#[tokio::test]
async fn activities_right_after_create_survive_the_404_window() {
    let fake = manual_fake().await;
    let client = client_for(&fake);
    inject(&fake, json!({"activitiesNotFoundMs": 150})).await;
    let id = client
        .create_session(&NewSession::new("x"))
        .await
        .unwrap()
        .id;
    let activities = client.all_activities(&id, None).await.unwrap();
    assert!(activities.is_empty());
    assert!(
        fake.request_count("activities.list") > 1,
        "the 404 was retried"
    );

    // A session that does not exist is a plain 404, after one check.
    let error = client.all_activities("999", None).await.unwrap_err();
    assert!(error.is_not_found());
}

#[tokio::test]
async fn a_create_whose_answer_is_lost_makes_exactly_one_session() {
    let fake = manual_fake().await;
    let client = client_for(&fake);
    inject(&fake, json!({"dropCreateResponses": 1})).await;
    let session = client
        .create_session(&plan_session("Fix the parser"))
        .await
        .unwrap();
    assert_eq!(fake.session_count(), 1);
    assert_eq!(
        fake.request_count("sessions.create"),
        1,
        "found by its tag, not re-created"
    );
    assert_eq!(
        client.get_session(&session.id).await.unwrap().id,
        session.id
    );
}

#[tokio::test]
async fn a_create_that_fails_with_5xx_is_looked_up_before_it_is_retried() {
    let fake = manual_fake().await;
    let client = client_for(&fake);
    // The 503 is answered before the fake commits anything: the lookup finds nothing, so
    // the create is sent again, and exactly one session exists at the end.
    inject(
        &fake,
        json!({"errorStatus": 503, "failNext": 2, "methods": ["sessions.create"]}),
    )
    .await;
    client.create_session(&NewSession::new("x")).await.unwrap();
    assert_eq!(fake.session_count(), 1);
    assert_eq!(fake.request_count("sessions.create"), 3);
    assert!(fake.request_count("sessions.list") >= 2);
}

#[tokio::test]
async fn a_callers_own_tag_finds_a_session_created_earlier() {
    let fake = manual_fake().await;
    let client = client_for(&fake);
    let tag = RequestTag::new("delivery-42:octo-org/octo-repo#7").unwrap();
    let created = client
        .create_session(&NewSession::new("x").with_request_tag(tag.clone()))
        .await
        .unwrap();
    let since = chrono::Utc::now() - chrono::Duration::hours(1);
    let found = client
        .find_session_by_tag(&tag, since)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.id, created.id);
    let other = RequestTag::new("delivery-43").unwrap();
    assert!(client
        .find_session_by_tag(&other, since)
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn a_wrong_key_is_an_authentication_error_that_never_shows_the_key() {
    let fake = manual_fake().await;
    let client = JulesClient::new(
        "wrong-secret-key-123".to_owned().into(),
        jules_bridge::jules::ClientConfig {
            base_url: fake.url(),
            retry: fast_retry(),
            ..Default::default()
        },
    )
    .unwrap();
    let error = client.get_session("1").await.unwrap_err();
    assert!(error.api().unwrap().is_unauthenticated(), "{error}");
    assert!(!format!("{error} {error:?}").contains("wrong-secret-key-123"));
    assert!(!format!("{client:?}").contains("wrong-secret-key-123"));
}

#[tokio::test]
async fn watch_reports_activities_and_states_until_the_end() {
    let fake = live_fake().await;
    let client = client_for(&fake);
    let session = client
        .create_session(
            &NewSession::new("Add tests")
                .with_source("octo-org/octo-repo", None)
                .with_automation_mode(AutomationMode::AutoCreatePr),
        )
        .await
        .unwrap();
    let options = WatchOptions::with_fast_interval(Duration::from_millis(10));
    let events: Vec<WatchEvent> = tokio::time::timeout(
        Duration::from_secs(20),
        client.watch(&session.id, options).try_collect(),
    )
    .await
    .expect("the session finishes")
    .unwrap();

    let kinds: Vec<String> = events
        .iter()
        .filter_map(|e| match e {
            WatchEvent::Activity(a) => Some(a.kind.name().to_owned()),
            WatchEvent::State(_) => None,
        })
        .collect();
    assert_eq!(kinds.first().map(String::as_str), Some("planGenerated"));
    assert_eq!(kinds.last().map(String::as_str), Some("sessionCompleted"));
    // No activity is reported twice.
    let mut ids: Vec<&str> = events
        .iter()
        .filter_map(|e| match e {
            WatchEvent::Activity(a) => Some(a.id.as_str()),
            WatchEvent::State(_) => None,
        })
        .collect();
    let total = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), total);
    let Some(WatchEvent::State(last)) = events.last() else {
        panic!("the watch ends with the final state");
    };
    assert_eq!(last.state, State::Completed);
    assert!(last.pull_request().is_some());
}

#[tokio::test]
async fn watching_a_waiting_session_costs_one_call_per_tick() {
    let fake = manual_fake().await;
    let client = client_for(&fake);
    let id = client.create_session(&plan_session("x")).await.unwrap().id;
    step_until(&fake, &client, &id, |s| {
        s.state == State::AwaitingPlanApproval
    })
    .await;

    let options = WatchOptions {
        waiting: Duration::from_millis(5),
        ..WatchOptions::with_fast_interval(Duration::from_millis(5))
    };
    let lists_before = fake.request_count("activities.list");
    let gets_before = fake.request_count("sessions.get");
    let mut events = Vec::new();
    let watching = client.watch(&id, options).for_each(|event| {
        events.push(event);
        async {}
    });
    // The session waits for approval forever: watch it for a while, then stop.
    let _ = tokio::time::timeout(Duration::from_millis(300), watching).await;
    assert!(events.iter().all(Result::is_ok));
    assert!(
        matches!(events.last(), Some(Ok(WatchEvent::State(s))) if s.state == State::AwaitingPlanApproval)
    );
    let gets = fake.request_count("sessions.get") - gets_before;
    let lists = fake.request_count("activities.list") - lists_before;
    // The plan arrives on the first tick; after that nothing changes, so each further tick
    // is one sessions.get and no activities.list.
    assert_eq!(
        lists, 1,
        "activities are listed only when the session changed"
    );
    assert!(gets >= 2);
}

// ---- redirects and plain http ---------------------------------------------------------------

/// A loopback HTTP server that records the path and headers of every request it receives and
/// answers with `answer(own_url, path)`.
struct Recorder {
    url: String,
    seen: Arc<Mutex<Vec<(String, HeaderMap)>>>,
}

impl Recorder {
    async fn start<F>(answer: F) -> Recorder
    where
        F: Fn(&str, &str) -> Response + Send + Sync + 'static,
    {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let answer = Arc::new(answer);
        let (own, log) = (url.clone(), seen.clone());
        let app = axum::Router::new().fallback(move |uri: Uri, headers: HeaderMap| {
            let (own, log, answer) = (own.clone(), log.clone(), answer.clone());
            async move {
                log.lock().unwrap().push((uri.path().to_owned(), headers));
                answer(&own, uri.path())
            }
        });
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Recorder { url, seen }
    }

    fn requests(&self) -> Vec<(String, HeaderMap)> {
        self.seen.lock().unwrap().clone()
    }
}

fn redirect_to(status: u16, location: String) -> Response {
    let status = StatusCode::from_u16(status).unwrap();
    (status, [(header::LOCATION, location)], "moved").into_response()
}

fn session_one() -> Response {
    axum::Json(json!({"name": "sessions/1", "id": "1", "title": "found"})).into_response()
}

fn client_of(base_url: &str) -> JulesClient {
    JulesClient::new(
        KEY.to_owned().into(),
        ClientConfig {
            base_url: base_url.to_owned(),
            request_timeout: Duration::from_secs(5),
            retry: fast_retry(),
            ..ClientConfig::default()
        },
    )
    .expect("client builds")
}

#[tokio::test]
async fn the_api_key_never_follows_a_redirect_to_another_origin() {
    for status in [301, 302, 303, 307, 308] {
        // B would answer the call successfully, so following the redirect would "work".
        let other = Recorder::start(|_, _| session_one()).await;
        let target = format!("{}/v1alpha/sessions/1", other.url);
        let api = Recorder::start(move |_, _| redirect_to(status, target.clone())).await;
        let client = client_of(&api.url);

        let error = client.get_session("1").await.unwrap_err();
        assert!(
            matches!(error, JulesError::Redirect { status: s, .. } if s == status),
            "{status}: {error:?}"
        );
        let text = error.to_string();
        assert!(text.contains("another origin"), "{text}");
        assert!(text.contains(&other.url), "names the target origin: {text}");
        assert!(!format!("{error} {error:?}").contains(KEY));

        // A POST (not idempotent) is refused the same way, not reported as "outcome unknown".
        let error = client.send_message("1", "hello").await.unwrap_err();
        assert!(
            matches!(error, JulesError::Redirect { .. }),
            "{status}: {error:?}"
        );

        assert!(
            other.requests().is_empty(),
            "{status}: the other origin got {:?}",
            other.requests()
        );
        // The configured origin got the key, once per call: a refused redirect is not retried.
        let asked = api.requests();
        assert_eq!(asked.len(), 2, "{status}");
        assert!(asked
            .iter()
            .all(|(_, headers)| headers["x-goog-api-key"] == KEY));
    }
}

/// The control for the test above: reqwest's own redirect policy strips `Authorization` and
/// cookies across hosts, but forwards a custom header like `X-Goog-Api-Key`.
#[tokio::test]
async fn a_default_reqwest_client_would_forward_the_key() {
    let other = Recorder::start(|_, _| session_one()).await;
    let target = format!("{}/v1alpha/sessions/1", other.url);
    let api = Recorder::start(move |_, _| redirect_to(307, target.clone())).await;
    let mut headers = HeaderMap::new();
    headers.insert("x-goog-api-key", KEY.parse().unwrap());
    let plain = reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .unwrap();
    let answer = plain
        .get(format!("{}/v1alpha/sessions/1", api.url))
        .send()
        .await
        .unwrap();
    assert!(answer.status().is_success());
    let leaked = other.requests();
    assert_eq!(leaked.len(), 1);
    assert_eq!(leaked[0].1["x-goog-api-key"], KEY);
}

#[tokio::test]
async fn a_redirect_to_another_port_of_the_same_host_is_another_origin() {
    let other = Recorder::start(|_, _| session_one()).await;
    // `localhost` and 127.0.0.1 are different hosts, and so are two ports of one host.
    let port = other.url.rsplit(':').next().unwrap().to_owned();
    let target = format!("http://localhost:{port}/v1alpha/sessions/1");
    let api = Recorder::start(move |_, _| redirect_to(307, target.clone())).await;
    let error = client_of(&api.url).get_session("1").await.unwrap_err();
    assert!(matches!(error, JulesError::Redirect { .. }), "{error:?}");
    assert!(other.requests().is_empty());
}

#[tokio::test]
async fn a_redirect_within_the_origin_is_followed() {
    let api = Recorder::start(|own, path| match path {
        "/v1alpha/sessions/1" => redirect_to(307, format!("{own}/moved/sessions/1")),
        // A relative Location resolves against the same origin.
        "/moved/sessions/1" => redirect_to(302, "/final/sessions/1".to_owned()),
        "/final/sessions/1" => session_one(),
        _ => StatusCode::NOT_FOUND.into_response(),
    })
    .await;
    let session = client_of(&api.url).get_session("1").await.unwrap();
    assert_eq!(session.title, "found");
    let asked = api.requests();
    let paths: Vec<_> = asked.iter().map(|(path, _)| path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "/v1alpha/sessions/1",
            "/moved/sessions/1",
            "/final/sessions/1"
        ]
    );
    assert!(asked
        .iter()
        .all(|(_, headers)| headers["x-goog-api-key"] == KEY));
}

#[tokio::test]
async fn a_redirect_loop_stops_after_five_redirects() {
    let api = Recorder::start(|own, path| {
        let hop: u32 = path.rsplit('/').next().unwrap().parse().unwrap_or(0);
        redirect_to(302, format!("{own}/loop/{}", hop + 1))
    })
    .await;
    let error = client_of(&api.url).get_session("1").await.unwrap_err();
    assert!(
        matches!(error, JulesError::Redirect { status: 302, .. }),
        "{error:?}"
    );
    assert!(
        error.to_string().contains("more than 5 redirects"),
        "{error}"
    );
    // The original request and five redirects, then it stops.
    assert_eq!(api.requests().len(), 6);
}

#[test]
fn plain_http_is_refused_except_to_loopback_hosts() {
    let build = |url: &str| {
        JulesClient::new(
            KEY.to_owned().into(),
            ClientConfig {
                base_url: url.to_owned(),
                ..ClientConfig::default()
            },
        )
    };
    for (url, host) in [
        ("http://example.com", "example.com"),
        ("http://user:hunter2@example.com:8080/jules", "example.com"),
        ("http://10.1.2.3:8080", "10.1.2.3"),
        ("http://localhost.example.com", "localhost.example.com"),
        ("http://[2001:db8::1]:9", "[2001:db8::1]"),
    ] {
        let error = build(url).unwrap_err();
        assert!(matches!(error, JulesError::Config(_)), "{url}: {error:?}");
        let text = error.to_string();
        assert!(
            text.contains("must use https") && text.contains(host),
            "{url}: {text}"
        );
        assert!(!text.contains(KEY) && !text.contains("hunter2"), "{text}");
    }
    for url in [
        "http://127.0.0.1:9",
        "http://127.4.5.6:9",
        "http://localhost:9",
        "http://LOCALHOST:9",
        "http://[::1]:9",
        "https://example.com",
        "https://10.1.2.3:8443/jules",
    ] {
        build(url).unwrap_or_else(|error| panic!("{url}: {error}"));
    }
}
