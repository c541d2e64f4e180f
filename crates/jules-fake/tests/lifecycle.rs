//! Sessions living their lives: with and without plan approval, PR outputs, the ask and
//! fail scenarios, follow-up messages, and the background stepper.

mod common;

use std::time::Duration;

use common::{kind, kinds, repo_session, Harness};
use jules_fake::FakeConfig;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

fn timestamps(activities: &[Value]) -> Vec<String> {
    activities
        .iter()
        .map(|a| a["createTime"].as_str().expect("createTime").to_string())
        .collect()
}

fn assert_timestamp_shape(text: &str) {
    // 2025-10-03T05:43:42.801654Z
    assert_eq!(text.len(), 27, "{text}");
    assert!(text.ends_with('Z') && text.as_bytes()[19] == b'.', "{text}");
}

#[tokio::test]
async fn auto_approved_session_runs_to_a_pull_request() {
    let fake = Harness::manual().await;
    let created = fake
        .post(
            "sessions",
            repo_session("octo/widgets", "Add a changelog entry"),
        )
        .await;
    // The create response is sparse, like the official quickstart's, but carries the state
    // (measured on the live API).
    let id = created["id"].as_str().expect("id").to_string();
    assert_eq!(created["name"], format!("sessions/{id}"));
    assert_eq!(created["title"], "Add a changelog entry");
    assert_eq!(created["automationMode"], "AUTO_CREATE_PR");
    assert_eq!(created["state"], "QUEUED");
    for absent in ["url", "createTime", "updateTime", "requirePlanApproval"] {
        assert!(created.get(absent).is_none(), "{absent} in {created}");
    }
    assert!(id.chars().all(|c| c.is_ascii_digit()));

    let session = fake.session(&id).await;
    assert_eq!(session["state"], "QUEUED");
    assert_eq!(
        session["url"],
        format!("https://jules.google.com/session/{id}")
    );
    assert_timestamp_shape(session["createTime"].as_str().expect("createTime"));
    assert!(session.get("archived").is_none());
    assert!(session.get("outputs").is_none());

    assert_eq!(fake.step().await, 1);
    assert_eq!(fake.state(&id).await, "PLANNING");
    fake.step().await;
    let activities = fake.activities(&id).await;
    assert_eq!(kinds(&activities), ["planGenerated"]);
    let plan = &activities[0]["planGenerated"]["plan"];
    let steps = plan["steps"].as_array().expect("steps");
    assert_eq!(steps.len(), 3);
    assert!(steps[0].get("index").is_none(), "index 0 is omitted");
    assert_eq!(steps[1]["index"], 1);
    assert_eq!(activities[0]["originator"], "agent");

    fake.step().await;
    let session = fake.session(&id).await;
    assert_eq!(session["state"], "IN_PROGRESS");
    let branch = session["sourceContext"]["workingBranch"]
        .as_str()
        .expect("working branch once started")
        .to_string();
    assert!(branch.ends_with(&format!("-{id}")), "{branch}");
    let approved = fake.activities(&id).await[1].clone();
    assert_eq!(approved["originator"], "system");
    assert_eq!(approved["planApproved"]["planId"], plan["id"]);

    fake.step_until(&id, "COMPLETED", 10).await;
    let activities = fake.activities(&id).await;
    assert_eq!(
        kinds(&activities),
        [
            "planGenerated",
            "planApproved",
            "progressUpdated",
            "progressUpdated",
            "progressUpdated",
            "sessionCompleted"
        ]
    );
    let times = timestamps(&activities);
    for pair in times.windows(2) {
        assert!(pair[0] < pair[1], "strictly increasing: {pair:?}");
    }
    for activity in &activities {
        let activity_id = activity["id"].as_str().expect("activity id");
        assert_eq!(activity_id.len(), 32);
        assert_eq!(
            activity["name"],
            format!("sessions/{id}/activities/{activity_id}")
        );
        assert_timestamp_shape(activity["createTime"].as_str().expect("time"));
        for artifact in activity["artifacts"].as_array().into_iter().flatten() {
            assert!(
                artifact.get("changeSet").is_some(),
                "only changeSets: {artifact}"
            );
        }
    }
    let progress = &activities[2]["artifacts"][0]["changeSet"];
    assert_eq!(progress["source"], "sources/github/octo/widgets");
    assert!(progress["gitPatch"]["unidiffPatch"]
        .as_str()
        .expect("patch")
        .starts_with("diff --git "));
    let final_change = &activities[5]["artifacts"][0]["changeSet"]["gitPatch"];
    assert!(final_change["suggestedCommitMessage"].is_string());

    let session = fake.session(&id).await;
    let outputs = session["outputs"].as_array().expect("outputs");
    let pull_request = &outputs[0]["pullRequest"];
    assert_eq!(
        pull_request["url"],
        "https://github.com/octo/widgets/pull/1"
    );
    assert_eq!(pull_request["title"], "Add a changelog entry");
    assert_eq!(
        pull_request["description"],
        format!(
            "PR created automatically by Jules for task [{id}](https://jules.google.com/task/{id})"
        )
    );
    assert_eq!(pull_request["baseRef"], "main");
    assert_eq!(pull_request["headRef"], branch.as_str());
    assert_eq!(outputs.len(), 1, "only the pull request: {outputs:?}");
    assert_eq!(
        session["updateTime"], activities[5]["createTime"],
        "updateTime follows the last activity"
    );
    assert_eq!(fake.step().await, 0, "a completed session rests");

    // PR numbers count up per repository.
    let second = fake
        .create(repo_session("octo/widgets", "Second change"))
        .await;
    let other_repo = fake.create(repo_session("octo/other", "Elsewhere")).await;
    fake.step_until(&second, "COMPLETED", 10).await;
    fake.step_until(&other_repo, "COMPLETED", 10).await;
    assert_eq!(
        fake.session(&second).await["outputs"][0]["pullRequest"]["url"],
        "https://github.com/octo/widgets/pull/2"
    );
    assert_eq!(
        fake.session(&other_repo).await["outputs"][0]["pullRequest"]["url"],
        "https://github.com/octo/other/pull/1"
    );
}

#[tokio::test]
async fn plan_approval_waits_for_the_user_and_revises_on_messages() {
    let fake = Harness::manual().await;
    let id = fake
        .create(json!({
            "prompt": "Refactor the parser",
            "sourceContext": {"source": "sources/github/octo/parser"},
            "requirePlanApproval": true,
        }))
        .await;
    let early = fake
        .api(
            Method::POST,
            &format!("sessions/{id}:approvePlan"),
            Some(json!({})),
        )
        .await;
    assert_eq!(early.status, StatusCode::BAD_REQUEST);
    assert_eq!(early.body["error"]["status"], "FAILED_PRECONDITION");

    fake.step_until(&id, "AWAITING_PLAN_APPROVAL", 5).await;
    assert_eq!(fake.step().await, 0, "waits for approval");
    let first_plan = fake.activities(&id).await[0]["planGenerated"]["plan"]["id"].clone();

    // A message while waiting: reply, then a new plan, still waiting.
    fake.post(
        &format!("sessions/{id}:sendMessage"),
        json!({"prompt": "Please keep the public API unchanged."}),
    )
    .await;
    assert_eq!(fake.step().await, 1);
    assert_eq!(fake.step().await, 1);
    assert_eq!(fake.step().await, 0);
    assert_eq!(fake.state(&id).await, "AWAITING_PLAN_APPROVAL");
    let activities = fake.activities(&id).await;
    assert_eq!(
        kinds(&activities),
        [
            "planGenerated",
            "userMessaged",
            "agentMessaged",
            "planGenerated"
        ]
    );
    assert_eq!(activities[1]["originator"], "user");
    let second_plan = activities[3]["planGenerated"]["plan"]["id"].clone();
    assert_ne!(first_plan, second_plan);

    let approved = fake
        .post(&format!("sessions/{id}:approvePlan"), json!({}))
        .await;
    // A partial Session, without sourceContext, like the live API's.
    assert_eq!(approved["id"], id.as_str());
    assert_eq!(approved["state"], "IN_PROGRESS");
    assert!(approved.get("sourceContext").is_none(), "{approved}");
    assert_eq!(fake.state(&id).await, "IN_PROGRESS");
    let activities = fake.activities(&id).await;
    let approval = activities.last().expect("approval");
    assert_eq!(kind(approval), "planApproved");
    assert_eq!(approval["originator"], "user");
    assert_eq!(approval["planApproved"]["planId"], second_plan);

    fake.step_until(&id, "COMPLETED", 10).await;
    let session = fake.session(&id).await;
    assert_eq!(session["requirePlanApproval"], true);
    assert!(
        session.get("outputs").is_none(),
        "no PR without AUTO_CREATE_PR, so no outputs: {session}"
    );
}

#[tokio::test]
async fn ask_scenario_waits_for_feedback_and_completed_sessions_wake_up() {
    let fake = Harness::manual().await;
    let id = fake
        .create(json!({"prompt": "[fake:ask] Tidy the docs"}))
        .await;
    fake.step_until(&id, "AWAITING_USER_FEEDBACK", 10).await;
    let activities = fake.activities(&id).await;
    assert_eq!(
        kinds(&activities),
        [
            "planGenerated",
            "planApproved",
            "progressUpdated",
            "agentMessaged"
        ]
    );
    assert_eq!(fake.step().await, 0, "waits for the user");
    let session = fake.session(&id).await;
    assert_eq!(session["title"], "Tidy the docs");
    assert!(session.get("sourceContext").is_none(), "repoless session");

    let empty = fake
        .api(
            Method::POST,
            &format!("sessions/{id}:sendMessage"),
            Some(json!({"prompt": ""})),
        )
        .await;
    assert_eq!(empty.status, StatusCode::BAD_REQUEST);
    assert_eq!(empty.body["error"]["status"], "INVALID_ARGUMENT");

    let sent = fake
        .post(
            &format!("sessions/{id}:sendMessage"),
            json!({"prompt": "Yes, update the docs too."}),
        )
        .await;
    assert_eq!(sent, json!({}));
    fake.step_until(&id, "COMPLETED", 10).await;
    let activities = fake.activities(&id).await;
    assert_eq!(
        kinds(&activities)[4..],
        [
            "userMessaged",
            "agentMessaged",
            "progressUpdated",
            "progressUpdated",
            "sessionCompleted"
        ]
    );
    let session = fake.session(&id).await;
    assert!(
        session.get("outputs").is_none(),
        "repoless: no PR, no outputs"
    );

    // A completed session wakes on a message: reply, one progress step, completed again.
    fake.post(
        &format!("sessions/{id}:sendMessage"),
        json!({"prompt": "Also fix the typo in the title."}),
    )
    .await;
    assert_eq!(fake.state(&id).await, "IN_PROGRESS");
    fake.step_until(&id, "COMPLETED", 10).await;
    let activities = fake.activities(&id).await;
    assert_eq!(
        kinds(&activities)[9..],
        [
            "userMessaged",
            "agentMessaged",
            "progressUpdated",
            "sessionCompleted"
        ]
    );
}

#[tokio::test]
async fn fail_scenario_ends_failed_with_a_reason() {
    let fake = Harness::manual().await;
    let id = fake
        .create(repo_session("octo/widgets", "[fake:fail] Break things"))
        .await;
    fake.step_until(&id, "FAILED", 10).await;
    let activities = fake.activities(&id).await;
    assert_eq!(
        kinds(&activities),
        [
            "planGenerated",
            "planApproved",
            "progressUpdated",
            "sessionFailed"
        ]
    );
    assert!(activities[3]["sessionFailed"]["reason"]
        .as_str()
        .is_some_and(|reason| !reason.is_empty()));
    assert!(fake.session(&id).await.get("outputs").is_none());
    assert_eq!(fake.step().await, 0);
}

#[tokio::test]
async fn background_stepper_moves_sessions_and_slow_ones_lag() {
    let fake = Harness::with_config(FakeConfig {
        step: Duration::from_millis(10),
        ..FakeConfig::default()
    })
    .await;
    let fast = fake.create(json!({"prompt": "Quick one"})).await;
    let slow = fake.create(json!({"prompt": "[fake:slow] Slow one"})).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while fake.state(&fast).await != "COMPLETED" {
        assert!(
            tokio::time::Instant::now() < deadline,
            "fast session stalled"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_ne!(fake.state(&slow).await, "COMPLETED", "slow session lags");
    while fake.state(&slow).await != "COMPLETED" {
        assert!(
            tokio::time::Instant::now() < deadline,
            "slow session stalled"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
