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
/// (proto3 JSON: nothing added, nothing lost). The docs sometimes spell out a default
/// (`"unidiffPatch": ""`, `"isPrivate": false`) that proto3 JSON omits: exactly those leaves
/// may be missing from our output, and the same fixture with each of them set to a
/// non-default value must come back whole, so a field the types drop cannot hide behind a
/// default.
#[test]
fn every_fixture_round_trips() {
    let mut seen = 0;
    let mut defaults_seen = 0;
    for entry in std::fs::read_dir(fixture_dir()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("err-") || name.ends_with("-request.json") {
            continue;
        }
        let raw: Value = parse(&name);
        let defaults = default_leaves(&raw);
        let mut expected = raw.clone();
        for pointer in &defaults {
            remove_leaf(&mut expected, pointer);
        }
        assert_eq!(
            differences(&round_trip(&name, &raw), &expected),
            Vec::<String>::new(),
            "{name}: round trip vs fixture without its spelled-out defaults"
        );

        // The same document with every spelled-out default made a real value.
        let mut filled = raw.clone();
        for pointer in &defaults {
            let leaf = filled.pointer_mut(pointer).unwrap();
            *leaf = match leaf {
                Value::Bool(false) => Value::Bool(true),
                _ => Value::String("x".to_owned()),
            };
        }
        assert_eq!(
            differences(&round_trip(&name, &filled), &filled),
            Vec::<String>::new(),
            "{name} with its defaults {defaults:?} filled in: a field was dropped or changed"
        );
        defaults_seen += defaults.len();
        seen += 1;
    }
    assert_eq!(seen, 6);
    // unidiffPatch x4 and media data in the activities, isPrivate in the dashed sources.
    assert_eq!(defaults_seen, 6, "the fixtures' spelled-out defaults");
}

/// Parses `value` as the type the fixture `name` holds and serialises it again.
fn round_trip(name: &str, value: &Value) -> Value {
    fn again<T: DeserializeOwned + serde::Serialize>(name: &str, value: &Value) -> Value {
        let parsed: T =
            serde_json::from_value(value.clone()).unwrap_or_else(|err| panic!("{name}: {err}"));
        serde_json::to_value(parsed).unwrap()
    }
    if name.contains("activities") {
        again::<ActivityPage>(name, value)
    } else if name.contains("sources") {
        again::<SourcePage>(name, value)
    } else {
        again::<Session>(name, value)
    }
}

/// JSON pointers of the leaves holding a proto3 default that JSON output omits (`false`,
/// `""`), in document order.
fn default_leaves(value: &Value) -> Vec<String> {
    fn walk(value: &Value, at: String, found: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                for (key, child) in map {
                    let key = key.replace('~', "~0").replace('/', "~1");
                    walk(child, format!("{at}/{key}"), found);
                }
            }
            Value::Array(items) => {
                for (index, child) in items.iter().enumerate() {
                    walk(child, format!("{at}/{index}"), found);
                }
            }
            Value::Bool(false) => found.push(at),
            Value::String(text) if text.is_empty() => found.push(at),
            _ => {}
        }
    }
    let mut found = Vec::new();
    walk(value, String::new(), &mut found);
    found
}

/// Removes the object member at `pointer`.
fn remove_leaf(value: &mut Value, pointer: &str) {
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    let key = key.replace("~1", "/").replace("~0", "~");
    value
        .pointer_mut(parent)
        .and_then(Value::as_object_mut)
        .unwrap_or_else(|| panic!("{pointer} is an object member"))
        .remove(&key)
        .unwrap_or_else(|| panic!("{pointer} exists"));
}

/// Where `ours` and `theirs` differ, as JSON pointers (`-` missing from ours, `+` added by
/// ours, `~` changed).
fn differences(ours: &Value, theirs: &Value) -> Vec<String> {
    fn walk(ours: &Value, theirs: &Value, at: &str, found: &mut Vec<String>) {
        match (ours, theirs) {
            (Value::Object(a), Value::Object(b)) => {
                for (key, value) in b {
                    match a.get(key) {
                        Some(mine) => walk(mine, value, &format!("{at}/{key}"), found),
                        None => found.push(format!("- {at}/{key}")),
                    }
                }
                for key in a.keys().filter(|key| !b.contains_key(*key)) {
                    found.push(format!("+ {at}/{key}"));
                }
            }
            (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
                for (index, (mine, value)) in a.iter().zip(b).enumerate() {
                    walk(mine, value, &format!("{at}/{index}"), found);
                }
            }
            (a, b) if a == b => {}
            (a, b) => found.push(format!("~ {at}: {a} != {b}")),
        }
    }
    let mut found = Vec::new();
    walk(ours, theirs, "", &mut found);
    found
}
