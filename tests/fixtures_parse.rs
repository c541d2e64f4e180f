//! Every Jules body in `tests/fixtures/jules/` (copied from the official docs and real error
//! reports) parses into the client's types, and survives a round trip.

use std::path::{Path, PathBuf};

use jules_bridge::jules::{
    ActivityKind, ActivityPage, ApiError, Artifact, AutomationMode, NewSession, Session,
    SessionOutput, SourcePage, State,
};
use serde::de::DeserializeOwned;
use serde_json::Value;

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/jules")
}

fn parse<T: DeserializeOwned>(name: &str) -> T {
    let text = std::fs::read_to_string(fixture_dir().join(name)).expect("fixture exists");
    serde_json::from_str(&text).unwrap_or_else(|err| panic!("{name}: {err}"))
}

#[test]
fn the_official_activities_list_has_eleven_activities_of_the_right_kinds() {
    let page: ActivityPage = parse("dg-activities-list-response.json");
    let kinds: Vec<&str> = page.activities.iter().map(|a| a.kind.name()).collect();
    assert_eq!(
        kinds,
        [
            "planGenerated",
            "planApproved",
            "progressUpdated",
            "progressUpdated",
            "progressUpdated",
            "progressUpdated",
            "progressUpdated",
            "progressUpdated",
            "progressUpdated",
            "progressUpdated",
            "sessionCompleted",
        ]
    );
    let ActivityKind::PlanGenerated(generated) = &page.activities[0].kind else {
        panic!("first activity is the plan");
    };
    assert_eq!(generated.plan.id, "5103d604240042cd9f59a4cb2355643a");
    // The first step has no `index` on the wire: it is step 0.
    let indexes: Vec<u32> = generated.plan.steps.iter().map(|s| s.index).collect();
    assert_eq!(indexes, [0, 1, 2, 3, 4]);
    // Artifacts of all three kinds, including the retired bashOutput with exitCode 0 omitted.
    let artifacts: Vec<&Artifact> = page.activities.iter().flat_map(|a| &a.artifacts).collect();
    assert!(
        matches!(artifacts[0], Artifact::BashOutput(bash) if bash.exit_code == 0 && bash.command.contains("npm install"))
    );
    assert!(artifacts
        .iter()
        .any(|a| matches!(a, Artifact::Media(m) if m.mime_type == "image/png")));
    assert!(artifacts
        .iter()
        .any(|a| matches!(a, Artifact::BashOutput(b) if b.exit_code == 1)));
    let Artifact::ChangeSet(last) = page.activities[10].artifacts[0].clone() else {
        panic!("the completion carries the change set");
    };
    assert!(last
        .git_patch
        .unwrap()
        .suggested_commit_message
        .starts_with("feat: Create simple Boba App"));
    assert_eq!(page.next_page_token, None);
}

#[test]
fn a_session_with_every_field() {
    let session: Session = parse("session-all-fields.json");
    assert_eq!(session.state, State::AwaitingPlanApproval);
    assert_eq!(session.automation_mode, AutomationMode::AutoCreatePr);
    assert!(session.archived && session.require_plan_approval);
    let context = session.source_context.as_ref().unwrap();
    assert_eq!(context.working_branch, "jules/add-auth-tests");
    assert!(context.environment_variables_enabled);
    assert_eq!(
        session.pull_request().unwrap().head_ref,
        "jules/add-auth-tests"
    );
    assert!(
        matches!(&session.outputs[1], SessionOutput::ChangeSet(c) if c.git_patch.as_ref().unwrap().base_commit_id == "a1b2c3d4")
    );
}

#[test]
fn sparse_sessions_from_create_and_get() {
    let created: Session = parse("dg-session-create-response.json");
    assert_eq!(created.session_id(), "31415926535897932384");
    assert_eq!(created.state, State::Unspecified);
    assert!(created.url.is_empty() && created.create_time.is_none());
    let with_pr: Session = parse("dg-session-get-with-pr-output.json");
    assert_eq!(
        with_pr.pull_request().unwrap().url,
        "https://github.com/bobalover/boba/pull/35"
    );
}

#[test]
fn source_lists_with_slashed_and_dashed_names() {
    let page: SourcePage = parse("dg-sources-list-response.json");
    assert_eq!(page.sources[0].name, "sources/github/bobalover/boba");
    assert_eq!(
        page.next_page_token.as_deref(),
        Some("github/bobalover/boba-web")
    );
    let dashed: SourcePage = parse("sources-list-dashed-names.json");
    let repo = dashed.sources[1].github_repo.as_ref().unwrap();
    assert_eq!(dashed.sources[1].name, "sources/github-myorg-another-repo");
    assert!(repo.is_private);
    assert_eq!(repo.default_branch.as_ref().unwrap().display_name, "main");
    assert_eq!(
        dashed.sources[0]
            .github_repo
            .as_ref()
            .unwrap()
            .branches
            .len(),
        3
    );
}

#[test]
fn our_create_request_matches_the_documented_one() {
    let documented: Value = parse("dg-session-create-request.json");
    let ours = NewSession::new("Create a boba app!")
        .with_source("bobalover/boba", Some("main"))
        .with_automation_mode(AutomationMode::AutoCreatePr)
        .with_title("Boba App");
    assert_eq!(serde_json::to_value(&ours).unwrap(), documented);
    let message: Value = parse("dg-send-message-request.json");
    assert_eq!(message["prompt"], "Can you make the app corgi themed?");
}

#[test]
fn error_bodies() {
    for (name, status, reason) in [
        (
            "err-401-credentials-missing.json",
            401,
            Some("CREDENTIALS_MISSING"),
        ),
        ("err-404-not-found-activities-new-session.json", 404, None),
        ("err-400-failed-precondition-create-session.json", 400, None),
    ] {
        let body = std::fs::read(fixture_dir().join(name)).unwrap();
        let error = ApiError::from_response(status, &body, None);
        assert_eq!(error.reason.as_deref(), reason, "{name}");
        assert!(
            !error.status.is_empty() && !error.message.is_empty(),
            "{name}"
        );
    }
}

/// Every fixture parses as what it is, and our serialisation of it equals the input
/// (proto3 JSON: nothing added, nothing lost).
#[test]
fn every_fixture_round_trips() {
    let mut seen = 0;
    for entry in std::fs::read_dir(fixture_dir()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let raw: Value = parse(&name);
        let again = if name.starts_with("err-") || name.ends_with("-request.json") {
            continue;
        } else if name.contains("activities") {
            serde_json::to_value(parse::<ActivityPage>(&name)).unwrap()
        } else if name.contains("sources") {
            serde_json::to_value(parse::<SourcePage>(&name)).unwrap()
        } else {
            serde_json::to_value(parse::<Session>(&name)).unwrap()
        };
        assert_eq!(again, without_defaults(raw), "{name}");
        seen += 1;
    }
    assert_eq!(seen, 6);
}

/// The fixtures come from docs that sometimes spell out a default (`"unidiffPatch": ""`,
/// `"isPrivate": false`); proto3 JSON omits those, so compare without them.
fn without_defaults(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(_, v)| {
                    !matches!(v, Value::Bool(false))
                        && !matches!(v, Value::String(s) if s.is_empty())
                })
                .map(|(k, v)| (k, without_defaults(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(without_defaults).collect()),
        other => other,
    }
}
