//! Every real webhook payload in `tests/fixtures/webhooks/` parses into a domain event, and
//! the ones the bridge acts on carry what it needs.

use std::path::Path;

use jules_bridge::engine::event::EventKind;
use jules_bridge::payload::parse_event;

fn fixtures() -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/webhooks");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .filter(|path| path.file_name().unwrap() != "manifest.json")
        .map(|path| {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&path).unwrap())
        })
        .collect();
    files.sort();
    files
}

/// `issue_comment.created.8.json` -> `issue_comment`
fn event_name(file: &str) -> &str {
    file.split('.').next().unwrap()
}

#[test]
fn every_real_payload_parses() {
    let files = fixtures();
    assert!(files.len() >= 70, "{} fixtures", files.len());
    for (name, body) in &files {
        let event =
            parse_event(event_name(name), body).unwrap_or_else(|err| panic!("{name}: {err}"));
        if name != "ping.json" && !name.starts_with("ping.") {
            assert!(
                event.repo.is_some() || name.starts_with("installation"),
                "{name} has a repository"
            );
        }
        let kind = &event.kind;
        match name.as_str() {
            n if n.starts_with("issues.labeled") => {
                assert!(matches!(kind, EventKind::IssueLabeled { .. }), "{n}")
            }
            n if n.starts_with("issues.closed") => {
                assert!(matches!(kind, EventKind::IssueClosed { .. }), "{n}")
            }
            n if n.starts_with("pull_request.labeled") => {
                assert!(matches!(kind, EventKind::PullRequestLabeled { .. }), "{n}")
            }
            n if n.starts_with("pull_request.closed") => {
                assert!(matches!(kind, EventKind::PullRequestClosed { .. }), "{n}")
            }
            n if n.starts_with("pull_request_review.submitted") => {
                assert!(matches!(kind, EventKind::ReviewSubmitted { .. }), "{n}")
            }
            n if n.starts_with("pull_request_review_comment.created") => {
                assert!(
                    matches!(kind, EventKind::ReviewCommentCreated { .. }),
                    "{n}"
                )
            }
            n if n.starts_with("issue_comment.created") => {
                assert!(matches!(kind, EventKind::CommentCreated { .. }), "{n}")
            }
            n if n.starts_with("issue_comment.edited") => {
                assert!(matches!(kind, EventKind::CommentEdited { .. }), "{n}")
            }
            n if n.starts_with("installation") => {
                assert!(matches!(kind, EventKind::Installation { .. }), "{n}")
            }
            n if n.starts_with("ping") => assert!(matches!(kind, EventKind::Ping), "{n}"),
            n if n.starts_with("push") => {
                assert!(matches!(kind, EventKind::Push { .. }), "{n}: {kind:?}")
            }
            n => assert!(matches!(kind, EventKind::Ignored { .. }), "{n}: {kind:?}"),
        }
    }
}

#[test]
fn comments_on_pull_requests_are_marked_as_such() {
    let body = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/webhooks/issue_comment.created.8.json"),
    )
    .unwrap();
    let event = parse_event("issue_comment", &body).unwrap();
    let EventKind::CommentCreated { issue, comment } = event.kind else {
        panic!()
    };
    assert!(issue.is_pull_request);
    assert_eq!(issue.number, 85);
    assert_eq!(comment.author.login, "ehuss");
    assert!(!comment.author.is_bot);
    assert_eq!(event.repo.unwrap().name.to_string(), "ehuss/triagebot-test");
}

#[test]
fn app_deliveries_carry_the_installation_and_edits_the_previous_body() {
    let body = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/webhooks/issues.labeled.3.json"),
    )
    .unwrap();
    assert!(parse_event("issues", &body)
        .unwrap()
        .installation_id
        .is_some());
    let body = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/webhooks/issue_comment.edited.json"),
    )
    .unwrap();
    let EventKind::CommentEdited {
        previous_body,
        comment,
        ..
    } = parse_event("issue_comment", &body).unwrap().kind
    else {
        panic!()
    };
    assert_ne!(previous_body, comment.body);
    assert!(!previous_body.is_empty());
}

#[test]
fn unknown_actions_are_ignored_and_bad_bodies_are_clear_errors() {
    let body =
        br#"{"action": "typed", "issue": {"number": 1}, "repository": {"full_name": "o/r"}}"#;
    let event = parse_event("issues", body).unwrap();
    assert_eq!(
        event.kind,
        EventKind::Ignored {
            reason: "`issues.typed` is not handled".into()
        }
    );
    let error = parse_event(
        "issues",
        b"{\"action\": \"labeled\", \"issue\": {\"number\": \"seven\"}}",
    )
    .unwrap_err();
    assert!(error.to_string().contains("issue.number"), "{error}");
    let error = parse_event(
        "issues",
        br#"{"action": "labeled", "issue": {"number": 1}, "repository": {"full_name": "o/r"}}"#,
    )
    .unwrap_err();
    assert!(error.to_string().contains("missing `label`"), "{error}");
    assert!(parse_event("issues", b"not json").is_err());
}
