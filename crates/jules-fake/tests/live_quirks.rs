//! Behaviour measured on the live API by people running clients against it (the contract's
//! "Observed behaviour"): answer shapes, archive pausing, approval carrying forward, the
//! auto-approve timer, cumulative change sets, whole-prompt titles, nanosecond page
//! cursors, long branch lists, and the quotas and plan limits.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{kind, kinds, repo_session, Harness, KEY};
use jules_fake::{FakeConfig, Limits, LIST_ACTIVITIES_QUOTA};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

fn manual(config: FakeConfig) -> FakeConfig {
    FakeConfig {
        step: Duration::ZERO,
        ..config
    }
}

/// The raw bytes of a sendMessage answer.
async fn send_message_raw(fake: &Harness, id: &str, text: &str) -> (StatusCode, String) {
    let response = fake
        .client
        .post(fake.url(&format!("/v1alpha/sessions/{id}:sendMessage")))
        .header("X-Goog-Api-Key", KEY)
        .json(&json!({ "prompt": text }))
        .send()
        .await
        .expect("request completes");
    let status = response.status();
    (status, response.text().await.expect("body reads"))
}

#[tokio::test]
async fn send_message_can_answer_an_empty_body() {
    let fake = Harness::manual().await;
    let id = fake.create(json!({"prompt": "Chatty"})).await;
    assert_eq!(
        send_message_raw(&fake, &id, "one").await,
        (StatusCode::OK, "{}".to_string()),
        "off by default"
    );

    let switched = fake
        .control(
            Method::POST,
            "quirks",
            Some(json!({"emptySendMessageBody": true})),
        )
        .await;
    assert_eq!(switched.status, StatusCode::OK);
    assert_eq!(
        switched.body,
        json!({"emptySendMessageBody": true, "activitiesKeepUpdateTime": false})
    );
    assert_eq!(
        send_message_raw(&fake, &id, "two").await,
        (StatusCode::OK, String::new())
    );
    let user_messages = kinds(&fake.activities(&id).await)
        .into_iter()
        .filter(|kind| *kind == "userMessaged")
        .count();
    assert_eq!(user_messages, 2, "the message is still recorded");

    let typo = fake
        .control(Method::POST, "quirks", Some(json!({"emptyBody": true})))
        .await;
    assert_eq!(typo.status, StatusCode::BAD_REQUEST);
    fake.control(Method::POST, "reset", None).await;
    assert_eq!(
        fake.control(Method::GET, "quirks", None).await.body,
        json!({"emptySendMessageBody": false, "activitiesKeepUpdateTime": false}),
        "reset restores the configured switches"
    );

    let configured = Harness::with_config(manual(FakeConfig {
        empty_send_message_body: true,
        ..FakeConfig::default()
    }))
    .await;
    let id = configured.create(json!({"prompt": "Quiet"})).await;
    assert_eq!(
        send_message_raw(&configured, &id, "hello").await,
        (StatusCode::OK, String::new())
    );
}

#[tokio::test]
async fn archiving_a_running_session_pauses_it() {
    let fake = Harness::manual().await;
    let id = fake
        .create(repo_session("octo/widgets", "Pause me midway"))
        .await;
    fake.step_until(&id, "IN_PROGRESS", 5).await;
    fake.step().await;
    let before = fake.activities(&id).await.len();

    // The answer is the full Session, now PAUSED and archived.
    let archived = fake
        .post(&format!("sessions/{id}:archive"), json!({}))
        .await;
    assert_eq!(archived["state"], "PAUSED");
    assert_eq!(archived["archived"], true);
    assert_eq!(
        archived["sourceContext"]["source"],
        "sources/github/octo/widgets"
    );
    assert!(archived["url"].is_string() && archived["updateTime"].is_string());
    assert_eq!(fake.step().await, 0, "a paused session does no work");
    assert_eq!(fake.activities(&id).await.len(), before);

    // Unarchiving only clears the flag; a message wakes it where it stopped.
    fake.post(&format!("sessions/{id}:unarchive"), json!({}))
        .await;
    assert_eq!(fake.state(&id).await, "PAUSED");
    fake.post(
        &format!("sessions/{id}:sendMessage"),
        json!({"prompt": "Please carry on."}),
    )
    .await;
    assert_eq!(fake.state(&id).await, "IN_PROGRESS");
    fake.step_until(&id, "COMPLETED", 20).await;

    // A finished session is only flagged.
    let done = fake
        .post(&format!("sessions/{id}:archive"), json!({}))
        .await;
    assert_eq!(done["state"], "COMPLETED");
    assert_eq!(done["archived"], true);
}

#[tokio::test]
async fn approval_carries_forward_to_revised_plans() {
    let fake = Harness::manual().await;
    let id = fake
        .create(json!({
            "prompt": "Rework the cache",
            "sourceContext": {"source": "sources/github/octo/cache"},
            "requirePlanApproval": true,
        }))
        .await;
    fake.step_until(&id, "AWAITING_PLAN_APPROVAL", 5).await;
    fake.post(&format!("sessions/{id}:approvePlan"), json!({}))
        .await;
    fake.step().await; // the first progress step
    fake.post(
        &format!("sessions/{id}:sendMessage"),
        json!({"prompt": "Use an LRU instead, please."}),
    )
    .await;
    fake.step().await; // the reply
    fake.step().await; // the revised plan
    assert_eq!(
        fake.state(&id).await,
        "IN_PROGRESS",
        "no new wait for approval"
    );
    let activities = fake.activities(&id).await;
    assert_eq!(
        kinds(&activities),
        [
            "planGenerated",
            "planApproved",
            "progressUpdated",
            "userMessaged",
            "agentMessaged",
            "planGenerated"
        ]
    );
    let revised = activities[5]["planGenerated"]["plan"]["id"].clone();
    assert_ne!(revised, activities[0]["planGenerated"]["plan"]["id"]);

    let mut states = Vec::new();
    for _ in 0..10 {
        fake.step().await;
        states.push(fake.state(&id).await);
    }
    assert!(
        !states.iter().any(|state| state == "AWAITING_PLAN_APPROVAL"),
        "{states:?}"
    );
    assert_eq!(states.last().map(String::as_str), Some("COMPLETED"));
    let activities = fake.activities(&id).await;
    let approvals = kinds(&activities)
        .into_iter()
        .filter(|kind| *kind == "planApproved")
        .count();
    assert_eq!(approvals, 1, "no planApproved for the revised plan");
    assert_eq!(
        kinds(&activities)[6..],
        [
            "progressUpdated",
            "progressUpdated",
            "progressUpdated",
            "sessionCompleted"
        ],
        "the revised plan runs through"
    );
}

#[tokio::test]
async fn unattended_plans_are_approved_by_jules_after_the_timer() {
    let fake = Harness::with_config(manual(FakeConfig {
        auto_approve_after: Some(Duration::from_secs(600)),
        ..FakeConfig::default()
    }))
    .await;
    let id = fake
        .create(json!({"prompt": "Wait for me", "requirePlanApproval": true}))
        .await;
    fake.step_until(&id, "AWAITING_PLAN_APPROVAL", 5).await;
    let moved = fake
        .control(Method::POST, "clock", Some(json!({"advanceMs": 599_000})))
        .await;
    assert_eq!(moved.status, StatusCode::OK);
    assert!(moved.body["now"].is_string());
    assert_eq!(fake.state(&id).await, "AWAITING_PLAN_APPROVAL");

    fake.server.advance_clock(Duration::from_secs(1));
    assert_eq!(fake.state(&id).await, "IN_PROGRESS");
    let activities = fake.activities(&id).await;
    let approval = activities.last().expect("an approval");
    assert_eq!(kind(approval), "planApproved");
    assert_eq!(approval["originator"], "system", "Jules, not a person");
    assert_eq!(
        approval["planApproved"]["planId"],
        activities[0]["planGenerated"]["plan"]["id"]
    );
    fake.step_until(&id, "COMPLETED", 10).await;

    // Without the timer a plan waits for ever, and a person's approval is `user`.
    let plain = Harness::manual().await;
    let id = plain
        .create(json!({"prompt": "Wait for me", "requirePlanApproval": true}))
        .await;
    plain.step_until(&id, "AWAITING_PLAN_APPROVAL", 5).await;
    plain.server.advance_clock(Duration::from_secs(7 * 86_400));
    plain.step().await;
    assert_eq!(plain.state(&id).await, "AWAITING_PLAN_APPROVAL");
    plain
        .post(&format!("sessions/{id}:approvePlan"), json!({}))
        .await;
    let activities = plain.activities(&id).await;
    assert_eq!(activities.last().expect("approval")["originator"], "user");
}

fn change_set_patch(activity: &Value) -> String {
    activity["artifacts"][0]["changeSet"]["gitPatch"]["unidiffPatch"]
        .as_str()
        .unwrap_or_else(|| panic!("a changeSet patch in {activity}"))
        .to_string()
}

#[tokio::test]
async fn change_sets_are_cumulative_and_outputs_need_a_pull_request() {
    let fake = Harness::manual().await;
    let id = fake
        .create(json!({
            "prompt": "No PR wanted",
            "sourceContext": {"source": "sources/github/octo/widgets"},
        }))
        .await;
    fake.step_until(&id, "COMPLETED", 10).await;
    let session = fake.session(&id).await;
    assert!(session.get("outputs").is_none(), "{session}");
    let activities = fake.activities(&id).await;
    let progress: Vec<&Value> = activities
        .iter()
        .filter(|activity| kind(activity) == "progressUpdated")
        .collect();
    assert_eq!(progress.len(), 3);
    let patches: Vec<String> = progress
        .iter()
        .map(|activity| change_set_patch(activity))
        .collect();
    for pair in patches.windows(2) {
        assert!(
            pair[1].starts_with(&pair[0]) && pair[1].len() > pair[0].len(),
            "each change set is the whole diff so far: {pair:?}"
        );
    }
    for number in 1..=3 {
        assert!(patches[2].contains(&format!("b/jules-fake/step-{number}.md")));
    }
    let change_set = &progress[2]["artifacts"][0]["changeSet"];
    assert_eq!(change_set["source"], "sources/github/octo/widgets");
    let base = change_set["gitPatch"]["baseCommitId"]
        .as_str()
        .expect("baseCommitId");
    assert_eq!(base.len(), 40);
    let completed = activities.last().expect("sessionCompleted");
    assert_eq!(
        change_set_patch(completed),
        patches[2],
        "the last is complete"
    );
    assert!(
        completed["artifacts"][0]["changeSet"]["gitPatch"]["suggestedCommitMessage"].is_string()
    );

    // With AUTO_CREATE_PR the pull request is the only output.
    let with_pr = fake.create(repo_session("octo/widgets", "PR wanted")).await;
    fake.step_until(&with_pr, "COMPLETED", 10).await;
    let outputs = fake.session(&with_pr).await["outputs"].clone();
    let outputs = outputs.as_array().expect("outputs");
    assert_eq!(outputs.len(), 1);
    assert!(outputs[0]["pullRequest"]["url"].is_string());
}

#[tokio::test]
async fn untitled_sessions_are_titled_with_the_whole_prompt() {
    let fake = Harness::manual().await;
    let prompt = "Fix the flaky login test\n\nIt fails one run in ten on CI, \
                  probably a race between the session cookie and the redirect.";
    let created = fake
        .post("sessions", repo_session("octo/widgets", prompt))
        .await;
    assert_eq!(created["title"], prompt);
    let id = created["id"].as_str().expect("id");
    assert_eq!(fake.session(id).await["title"], prompt);
    // The pull request and the branch still get a short name.
    fake.step_until(id, "COMPLETED", 10).await;
    let session = fake.session(id).await;
    assert_eq!(
        session["outputs"][0]["pullRequest"]["title"],
        "Fix the flaky login test"
    );
    let branch = session["sourceContext"]["workingBranch"]
        .as_str()
        .expect("branch");
    assert_eq!(branch, format!("jules-fix-the-flaky-login-test-{id}"));

    let titled = fake
        .post(
            "sessions",
            json!({"prompt": prompt, "title": "Login flake"}),
        )
        .await;
    assert_eq!(titled["title"], "Login flake");
}

fn nanos(timestamp: &Value) -> String {
    let time = chrono::DateTime::parse_from_rfc3339(timestamp.as_str().expect("a timestamp"))
        .expect("RFC 3339");
    (i128::from(time.timestamp()) * 1_000_000_000 + i128::from(time.timestamp_subsec_nanos()))
        .to_string()
}

#[tokio::test]
async fn activity_page_tokens_are_nanosecond_cursors() {
    let fake = Harness::manual().await;
    let id = fake.create(json!({"prompt": "Page me"})).await;
    fake.step_until(&id, "COMPLETED", 10).await;
    let all = fake.activities(&id).await;
    assert_eq!(all.len(), 6);

    // The fake's own token: the createTime, in nanoseconds, of the next page's first item.
    let first = fake
        .get(&format!("sessions/{id}/activities?pageSize=2"))
        .await;
    let token = first["nextPageToken"].as_str().expect("token");
    assert_eq!(token, nanos(&all[2]["createTime"]));
    let second = fake
        .get(&format!(
            "sessions/{id}/activities?pageSize=2&pageToken={token}"
        ))
        .await;
    assert_eq!(second["activities"], json!(all[2..4]));

    // A client-made cursor: the first activity at or after T.
    let at: i128 = nanos(&all[3]["createTime"]).parse().expect("digits");
    for (cursor, from) in [(at, 3), (at - 1, 3), (at + 1, 4), (0, 0)] {
        let page = fake
            .get(&format!("sessions/{id}/activities?pageToken={cursor}"))
            .await;
        let got = page["activities"].as_array().cloned().unwrap_or_default();
        assert_eq!(got, all[from..].to_vec(), "cursor {cursor}");
        assert!(page.get("nextPageToken").is_none());
    }
    // Cursors combine with the create_time filter.
    let time = all[4]["createTime"].as_str().expect("time");
    let filtered = fake
        .get(&format!(
            "sessions/{id}/activities?pageToken={at}&filter=create_time%3E%22{time}%22"
        ))
        .await;
    assert_eq!(filtered["activities"], json!(all[5..]));
    let too_big = fake
        .api(
            Method::GET,
            &format!("sessions/{id}/activities?pageToken=99999999999999999999999"),
            None,
        )
        .await;
    assert_eq!(too_big.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn sources_list_as_many_branches_as_configured() {
    let fake = Harness::with_config(manual(FakeConfig {
        branches: 500,
        ..FakeConfig::default()
    }))
    .await;
    let source = fake.get("sources/github/octo/big").await;
    let branches = source["githubRepo"]["branches"]
        .as_array()
        .expect("branches");
    assert_eq!(branches.len(), 500);
    assert_eq!(branches[0]["displayName"], "main");
    assert_eq!(source["githubRepo"]["defaultBranch"]["displayName"], "main");
    let names: std::collections::BTreeSet<&str> = branches
        .iter()
        .map(|branch| branch["displayName"].as_str().expect("name"))
        .collect();
    assert_eq!(names.len(), 500, "distinct names");
    let listed = fake.get("sources").await;
    for source in listed["sources"].as_array().expect("sources") {
        assert_eq!(
            source["githubRepo"]["branches"].as_array().map(Vec::len),
            Some(500)
        );
    }

    let default = Harness::manual().await;
    let source = default.get("sources/github/octo/big").await;
    assert_eq!(
        source["githubRepo"]["branches"],
        json!([{"displayName": "main"}])
    );
}

async fn list_activities_as(fake: &Harness, key: &str, id: &str) -> common::Reply {
    fake.raw(
        Method::GET,
        &format!("/v1alpha/sessions/{id}/activities"),
        Some(key),
        None,
    )
    .await
}

#[tokio::test]
async fn list_activities_is_limited_to_120_a_minute_per_key() {
    let fake = Harness::manual().await;
    let id = fake.create(json!({"prompt": "Polled hard"})).await;
    for n in 0..120 {
        let reply = list_activities_as(&fake, KEY, &id).await;
        assert_eq!(reply.status, StatusCode::OK, "request {n}");
    }
    let refused = list_activities_as(&fake, KEY, &id).await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    let error = &refused.body["error"];
    assert_eq!(error["code"], 429);
    assert_eq!(error["status"], "RESOURCE_EXHAUSTED");
    let info = &error["details"][0];
    assert_eq!(info["@type"], "type.googleapis.com/google.rpc.ErrorInfo");
    assert_eq!(info["reason"], "RATE_LIMIT_EXCEEDED");
    assert_eq!(info["domain"], "googleapis.com");
    assert_eq!(info["metadata"]["quota_limit"], LIST_ACTIVITIES_QUOTA);
    assert_eq!(
        LIST_ACTIVITIES_QUOTA,
        "ListActivitiesRequestsPerMinutePerProject"
    );
    assert_eq!(info["metadata"]["quota_limit_value"], "120");
    assert!(
        refused.headers.get("retry-after").is_none(),
        "no quota headers"
    );

    // Other methods and other keys are not affected.
    assert_eq!(
        fake.api(Method::GET, &format!("sessions/{id}"), None)
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        list_activities_as(&fake, "another-key", &id).await.status,
        StatusCode::OK
    );
    // The window rolls.
    fake.server.advance_clock(Duration::from_secs(60));
    assert_eq!(
        list_activities_as(&fake, KEY, &id).await.status,
        StatusCode::OK
    );
}

async fn try_create(fake: &Harness, key: &str) -> common::Reply {
    fake.raw(
        Method::POST,
        "/v1alpha/sessions",
        Some(key),
        Some(r#"{"prompt": "One more"}"#),
    )
    .await
}

fn assert_at_limit(reply: &common::Reply) {
    assert_eq!(
        reply.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        reply.body
    );
    assert_eq!(reply.body["error"]["status"], "RESOURCE_EXHAUSTED");
    assert_eq!(
        reply.body["error"]["details"][0]["@type"],
        "type.googleapis.com/google.rpc.QuotaFailure"
    );
}

#[tokio::test]
async fn creates_beyond_15_running_sessions_are_refused() {
    let fake = Harness::manual().await;
    let mut ids = Vec::new();
    for _ in 0..15 {
        ids.push(fake.create(json!({"prompt": "Busy"})).await);
    }
    assert_at_limit(&try_create(&fake, KEY).await);
    assert_eq!(fake.server.session_count(), 15, "nothing was created");
    assert_eq!(
        try_create(&fake, "another-key").await.status,
        StatusCode::OK,
        "per key"
    );

    // A paused session frees its slot.
    fake.post(&format!("sessions/{}:archive", ids[0]), json!({}))
        .await;
    assert_eq!(try_create(&fake, KEY).await.status, StatusCode::OK);
    assert_at_limit(&try_create(&fake, KEY).await);
    // So does a finished one.
    for _ in 0..10 {
        fake.step().await;
    }
    assert_eq!(fake.state(&ids[1]).await, "COMPLETED");
    assert_eq!(try_create(&fake, KEY).await.status, StatusCode::OK);
}

#[tokio::test]
async fn creates_beyond_the_daily_limit_wait_24_hours() {
    let fake = Harness::with_config(manual(FakeConfig {
        limits: Limits {
            sessions_per_day: Some(3),
            ..Limits::default()
        },
        ..FakeConfig::default()
    }))
    .await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(fake.create(json!({"prompt": "Daily"})).await);
    }
    for id in &ids {
        fake.api(Method::DELETE, &format!("sessions/{id}"), None)
            .await;
    }
    assert_at_limit(&try_create(&fake, KEY).await);
    fake.server.advance_clock(Duration::from_secs(23 * 3600));
    assert_at_limit(&try_create(&fake, KEY).await);
    fake.server.advance_clock(Duration::from_secs(3600));
    assert_eq!(try_create(&fake, KEY).await.status, StatusCode::OK);

    // Unlimited means unlimited.
    let free = Harness::with_config(manual(FakeConfig {
        limits: Limits::unlimited(),
        ..FakeConfig::default()
    }))
    .await;
    for _ in 0..150 {
        free.create(json!({"prompt": "Load"})).await;
    }
}

#[tokio::test]
async fn the_binary_takes_the_quirk_and_limit_flags() {
    let (mut child, url) = common::spawn_binary(&[
        "--listen",
        "127.0.0.1:0",
        "--step-ms",
        "0",
        "--branches",
        "3",
        "--empty-send-message-body",
        "--auto-approve-after",
        "1000",
        "--list-activities-per-minute",
        "2",
        "--concurrent-sessions",
        "1",
        "--sessions-per-day",
        "0",
    ])
    .await;
    let client = reqwest::Client::new();
    let call = |method: reqwest::Method, path: &str, body: Option<Value>| {
        let mut request = client
            .request(method, format!("{url}/v1alpha/{path}"))
            .header("X-Goog-Api-Key", "k");
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send()
    };

    let source: Value = call(Method::GET, "sources/github/a/b", None)
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert_eq!(
        source["githubRepo"]["branches"].as_array().map(Vec::len),
        Some(3)
    );
    let created: Value = call(
        Method::POST,
        "sessions",
        Some(json!({"prompt": "x", "requirePlanApproval": true})),
    )
    .await
    .expect("request")
    .json()
    .await
    .expect("json");
    let id = created["id"].as_str().expect("id").to_string();
    let second = call(Method::POST, "sessions", Some(json!({"prompt": "y"})))
        .await
        .expect("request");
    assert_eq!(
        second.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "1 concurrent"
    );
    let sent = call(
        Method::POST,
        &format!("sessions/{id}:sendMessage"),
        Some(json!({"prompt": "hi"})),
    )
    .await
    .expect("request");
    assert_eq!(sent.status(), StatusCode::OK);
    assert_eq!(sent.text().await.expect("body"), "");
    let path = format!("sessions/{id}/activities");
    for _ in 0..2 {
        let page = call(Method::GET, &path, None).await.expect("request");
        assert_eq!(page.status(), StatusCode::OK);
    }
    let third = call(Method::GET, &path, None).await.expect("request");
    assert_eq!(third.status(), StatusCode::TOO_MANY_REQUESTS, "2 a minute");

    // The auto-approve timer: plan, then a clock move past one second.
    for _ in 0..4 {
        client
            .post(format!("{url}/_fake/step"))
            .send()
            .await
            .expect("step");
    }
    client
        .post(format!("{url}/_fake/clock"))
        .json(&json!({"advanceMs": 1000}))
        .send()
        .await
        .expect("clock");
    let session: Value = call(Method::GET, &format!("sessions/{id}"), None)
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert_eq!(session["state"], "IN_PROGRESS");

    let pid = child.id().to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status();
    assert!(killed.is_ok_and(|status| status.success()));
    let _ = tokio::task::spawn_blocking(move || child.wait()).await;
}

/// Off by default, activities move `updateTime`; with `activitiesKeepUpdateTime`, a session
/// created afterwards moves it only when its state changes.
#[tokio::test]
async fn activities_can_leave_update_time_where_it_was() {
    let fake = Harness::manual().await;
    let moved = fake.create(repo_session("acme/app", "Moves")).await;
    let switched = fake
        .control(
            Method::POST,
            "quirks",
            Some(json!({"activitiesKeepUpdateTime": true})),
        )
        .await;
    assert_eq!(switched.status, StatusCode::OK);
    let kept = fake.create(repo_session("acme/app", "Keeps")).await;
    for id in [&moved, &kept] {
        fake.step_until(id, "IN_PROGRESS", 10).await;
    }
    let update_time = |session: Value| session["updateTime"].as_str().unwrap().to_owned();
    let (moved_before, kept_before) = (
        update_time(fake.session(&moved).await),
        update_time(fake.session(&kept).await),
    );
    // One step of work: a progress activity each, no state change.
    fake.step().await;
    assert_eq!(fake.state(&kept).await, "IN_PROGRESS");
    assert_eq!(
        kinds(&fake.activities(&kept).await).last(),
        Some(&"progressUpdated")
    );
    assert_ne!(update_time(fake.session(&moved).await), moved_before);
    assert_eq!(update_time(fake.session(&kept).await), kept_before);
}
