//! Every branch of the core, without HTTP: real webhook payloads in, the questions the core
//! asks and the plan it settles on out. Each test reads as a transcript of one request.

use serde_json::{json, Value};

use super::*;
use crate::engine::comment::Reply;
use crate::engine::marker::Marker;
use crate::jules::{Activity, ActivityPage};
use crate::payload::parse_event;

const REPO: &str = "Codertocat/Hello-World";

/// A real payload from the fixtures with some fields replaced (JSON pointers).
fn payload(name: &str, changes: &[(&str, Value)]) -> Value {
    let path = format!(
        "{}/tests/fixtures/webhooks/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut payload: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    for (pointer, value) in changes {
        *payload.pointer_mut(pointer).unwrap() = value.clone();
    }
    payload
}

fn event(name: &str, payload: &Value) -> Event {
    parse_event(name, &serde_json::to_vec(payload).unwrap()).unwrap()
}

fn labeled(label: &str) -> Event {
    event(
        "issues",
        &payload("issues.labeled.json", &[("/label/name", json!(label))]),
    )
}

fn commented(body: &str) -> Event {
    commented_by("Codertocat", body)
}

fn commented_by(login: &str, body: &str) -> Event {
    event(
        "issue_comment",
        &payload(
            "issue_comment.created.json",
            &[
                ("/comment/body", json!(body)),
                ("/comment/user/login", json!(login)),
                ("/sender/login", json!(login)),
            ],
        ),
    )
}

/// Jules' own session body (the API docs' example), moved to this repository.
fn session(state: &str) -> Session {
    let mut body: Value = serde_json::from_str(include_str!(
        "../../../tests/fixtures/jules/dg-session-create-response.json"
    ))
    .unwrap();
    body["sourceContext"]["source"] = json!(format!("sources/github/{REPO}"));
    body["state"] = json!(state);
    body["createTime"] = json!("2025-10-03T05:43:42Z");
    serde_json::from_value(body).unwrap()
}

fn with_pull_request(mut session: Session, url: &str) -> Session {
    let mut body = serde_json::to_value(&session).unwrap();
    body["outputs"] = json!([{"pullRequest": {"url": url, "title": "Fix", "baseRef": "master", "headRef": "fix-typo"}}]);
    session = serde_json::from_value(body).unwrap();
    session
}

/// The API docs' activity list, up to (not including) the `count`th activity: with 1, only
/// the plan exists and waits for approval.
fn activities(count: usize) -> Vec<Activity> {
    let page: ActivityPage = serde_json::from_str(include_str!(
        "../../../tests/fixtures/jules/dg-activities-list-response.json"
    ))
    .unwrap();
    page.activities.into_iter().take(count).collect()
}

fn plan_id() -> String {
    let view = SessionView::new(&session("AWAITING_PLAN_APPROVAL"), &activities(1));
    view.pending_plan().unwrap().id.clone()
}

fn found(session: Session, plan_shown: Option<&str>) -> IssueFacts {
    IssueFacts {
        found: Found::Session(Box::new(IssueSession {
            marker: Marker {
                session: session.name.clone(),
                requester: Some("Codertocat".into()),
                plan: plan_shown.map(str::to_owned),
            },
            session,
            comment: Some(StatusComment {
                id: 77,
                body: "⏳ **Queued**".into(),
            }),
        })),
        queued_comment: None,
    }
}

fn nothing() -> IssueFacts {
    IssueFacts {
        found: Found::Nothing,
        queued_comment: None,
    }
}

fn settings() -> Settings {
    Settings::default()
}

/// Everything one request did: the questions asked, the attempts tried and the final plan.
#[derive(Debug)]
struct Transcript {
    asked: Vec<Query>,
    tried: Vec<Attempt>,
    plan: Plan,
}

impl Transcript {
    fn verdict(&self) -> (ActionTaken, &str) {
        match &self.plan.finish {
            Finish::Verdict(verdict) => (verdict.action, verdict.reason.as_str()),
            other => panic!("no verdict: {other:?}"),
        }
    }

    fn replies(&self) -> Vec<&'static str> {
        self.plan
            .effects
            .iter()
            .filter_map(|effect| match effect {
                Effect::Reply { reply, .. } => Some(reply.kind()),
                _ => None,
            })
            .collect()
    }

    fn status(&self) -> Option<&StatusUpdate> {
        self.plan.effects.iter().find_map(|effect| match effect {
            Effect::PublishStatus(update) => Some(update.as_ref()),
            _ => None,
        })
    }

    fn created(&self) -> bool {
        self.tried
            .iter()
            .any(|attempt| matches!(attempt, Attempt::CreateSession(_)))
    }
}

/// Answers the core's questions from `world` and its attempts with `outcome`, as a shell
/// would, until it settles on a plan.
fn walk(
    mode: Mode,
    settings: &Settings,
    event: &Event,
    mut facts: Facts,
    world: impl Fn(&Query, &mut Facts),
    outcome: impl Fn(&Attempt, &mut Facts),
) -> Transcript {
    let repo = event.repo.as_ref().unwrap();
    let (sender, issue, comment, work) = match intake(event, settings) {
        Intake::Conversation(conversation) => {
            assert_eq!(conversation.work.len(), 1, "one command per test");
            let Conversation {
                sender,
                issue,
                comment,
                work,
            } = conversation;
            (
                sender,
                Some(issue),
                comment,
                work.into_iter().next().unwrap(),
            )
        }
        Intake::Unattended { issue, work } => (event.sender.clone().unwrap(), issue, None, work),
        Intake::Ignore(reason) => panic!("ignored: {reason}"),
    };
    let request = Request {
        settings,
        repo,
        mode,
        sender: &sender,
        issue: issue.as_ref(),
        comment: comment.as_ref(),
    };
    let (mut asked, mut tried) = (Vec::new(), Vec::new());
    for _ in 0..20 {
        match decide(&request, &work, &facts) {
            Step::Need(query) => {
                assert!(!asked.contains(&query), "asked twice for {query:?}");
                world(&query, &mut facts);
                asked.push(query);
            }
            Step::Try(attempt) => {
                outcome(&attempt, &mut facts);
                tried.push(attempt);
            }
            Step::Plan(plan) => return Transcript { asked, tried, plan },
        }
    }
    panic!("the core never settled: asked {asked:?}, tried {tried:?}");
}

/// A shell whose Jules creates sessions, takes messages and approvals.
fn jules_says_yes(attempt: &Attempt, facts: &mut Facts) {
    match attempt {
        Attempt::CreateSession(_) => facts.created = Some(Ok(session("QUEUED"))),
        Attempt::SendMessage { .. } => facts.sent = true,
        Attempt::ApprovePlan { .. } => facts.approved = true,
        Attempt::Enqueue { .. } => facts.enqueued = Some(3),
        Attempt::OpenFixerIssue => facts.fixer_issue = Some(Some(99)),
        Attempt::Archive { .. } => facts.archived = true,
    }
}

/// A world where the issue has `issue` and every session has `acts` as its activities.
fn world_with(issue: IssueFacts, acts: Vec<Activity>) -> impl Fn(&Query, &mut Facts) {
    move |query, facts| match query {
        Query::IssueSession { .. } => facts.issue = Some(issue.clone()),
        Query::Activities { session } => {
            facts.activities.insert(session.clone(), acts.clone());
        }
        Query::Reread { session: name } => {
            facts
                .reread
                .insert(name.clone(), (session("IN_PROGRESS"), activities(2)));
        }
        Query::Admission { .. } => facts.admission = Some(Admission::Go),
        Query::Permission { .. } => facts.permission = Some(Permission::Write),
        Query::StaleBase { .. } => facts.stale_base = Some(None),
        Query::EarlierAttempt { .. } => facts.earlier_attempt = Some(None),
        other => panic!("unexpected question {other:?}"),
    }
}

fn action(settings: &Settings, event: &Event, issue: IssueFacts) -> Transcript {
    walk(
        Mode::Action,
        settings,
        event,
        Facts::default(),
        world_with(issue, activities(1)),
        jules_says_yes,
    )
}

// --- What an event asks for ---

#[test]
fn only_the_trigger_label_and_comments_with_commands_ask_for_anything() {
    let settings = settings();
    assert_eq!(
        intake(&labeled("bug"), &settings),
        Intake::Ignore("label `bug` is not the trigger label `jules-bridge`".into())
    );
    assert!(matches!(
        intake(&labeled("Jules-Bridge"), &settings),
        Intake::Conversation(Conversation { ref work, .. })
            if work == &[Work::Start { trigger: Trigger::Label, instruction: None, branch: BranchFrom::Default }]
    ));
    assert_eq!(
        intake(&commented("Thanks, looks good"), &settings),
        Intake::Ignore("the comment has no command".into())
    );
    let Intake::Conversation(two) = intake(&commented("/jules status\n/jules help"), &settings)
    else {
        panic!("two commands")
    };
    assert_eq!(two.work, [Work::Status, Work::Help]);
    let Intake::Conversation(anyway) = intake(&commented("/jules rebase it --anyway"), &settings)
    else {
        panic!("a message")
    };
    assert!(matches!(
        &anyway.work[0],
        Work::Start { trigger: Trigger::Message { anyway: true }, instruction: Some(text), .. } if text == "rebase it"
    ));
}

#[test]
fn a_labeled_pull_request_starts_from_its_head_branch_known_from_the_payload() {
    let pull = event(
        "pull_request",
        &payload(
            "pull_request.labeled.json",
            &[("/label/name", json!("jules-bridge"))],
        ),
    );
    let Intake::Conversation(conversation) = intake(&pull, &settings()) else {
        panic!("a conversation")
    };
    assert!(matches!(
        &conversation.work[0],
        Work::Start {
            branch: BranchFrom::Pull(_),
            ..
        }
    ));
}

// --- Who may ask ---

#[test]
fn who_may_ask_is_settled_once_for_every_way_in() {
    let settings = Settings {
        allowed_bots: vec!["renovate".into()],
        ..settings()
    };
    let person = Actor {
        login: "Codertocat".into(),
        is_bot: false,
    };
    let bot = |login: &str| Actor {
        login: login.into(),
        is_bot: true,
    };
    assert_eq!(
        authorize(&person, &settings, None),
        Authorization::Need(Query::Permission {
            login: "Codertocat".into()
        })
    );
    assert_eq!(
        authorize(&person, &settings, Some(&Permission::Write)),
        Authorization::Allowed
    );
    assert!(matches!(
        authorize(&person, &settings, Some(&Permission::Triage)),
        Authorization::Refused { ref permission, .. } if permission == "triage"
    ));
    assert_eq!(
        authorize(&bot("renovate[bot]"), &settings, None),
        Authorization::Allowed
    );
    assert!(matches!(
        authorize(&bot("dependabot[bot]"), &settings, None),
        Authorization::Ignored(_)
    ));
    assert_eq!(
        authorize(&bot("github-actions[bot]"), &settings, None),
        Authorization::Ignored("the bridge's own activity".into())
    );
}

#[test]
fn a_reader_gets_one_polite_reply_and_a_writer_gets_eyes_on_the_comment() {
    let Intake::Conversation(conversation) =
        intake(&commented("/jules delete the tests"), &settings())
    else {
        panic!("a conversation")
    };
    let read = Facts {
        permission: Some(Permission::Read),
        ..Facts::default()
    };
    let Opening::Step(Step::Plan(refused)) = open(&conversation, &settings(), &read) else {
        panic!("refused")
    };
    assert!(matches!(
        &refused.effects[..],
        [Effect::Reply { reply, .. }] if reply.kind() == "refused" && reply.body().contains("you have read access")
    ));
    let write = Facts {
        permission: Some(Permission::Write),
        ..Facts::default()
    };
    assert_eq!(
        open(&conversation, &settings(), &write),
        Opening::Proceed(vec![Effect::React {
            comment: conversation.comment.as_ref().map(|comment| comment.id)
        }])
    );
}

// --- Starting ---

#[test]
fn the_label_on_an_issue_without_a_session_creates_one_and_posts_its_status() {
    let transcript = action(&settings(), &labeled("jules-bridge"), nothing());
    assert_eq!(transcript.asked[0], Query::IssueSession { issue: 1 });
    let [Attempt::CreateSession(plan)] = &transcript.tried[..] else {
        panic!("one create: {transcript:?}")
    };
    let context = plan.new.source_context.as_ref().unwrap();
    assert_eq!(context.source, format!("sources/github/{REPO}"));
    assert_eq!(
        context
            .github_repo_context
            .as_ref()
            .unwrap()
            .starting_branch,
        "master"
    );
    assert!(plan.prompt.contains("Requested by @Codertocat"));
    assert_eq!(transcript.verdict().0, ActionTaken::Created);
    let status = transcript.status().unwrap();
    assert_eq!(status.existing, None, "a new status comment");
    assert_eq!(status.requester.as_deref(), Some("Codertocat"));
}

#[test]
fn the_label_again_shows_the_active_session_and_never_starts_a_second() {
    let transcript = action(
        &settings(),
        &labeled("jules-bridge"),
        found(session("IN_PROGRESS"), None),
    );
    assert!(!transcript.created());
    assert_eq!(transcript.verdict().0, ActionTaken::Status);
    assert_eq!(
        transcript.status().unwrap().existing.as_ref().unwrap().id,
        77
    );
    // Once the session has finished, the label starts another.
    let again = action(
        &settings(),
        &labeled("jules-bridge"),
        found(session("COMPLETED"), None),
    );
    assert!(again.created());
}

#[test]
fn a_fork_pull_request_is_answered_not_worked_on() {
    let mut on_pull = payload(
        "issue_comment.created.json",
        &[("/comment/body", json!("/jules fix the build"))],
    );
    on_pull["issue"]["pull_request"] =
        json!({"url": "https://api.github.com/repos/Codertocat/Hello-World/pulls/1"});
    let pull = event("issue_comment", &on_pull);
    let transcript = walk(
        Mode::Action,
        &settings(),
        &pull,
        Facts::default(),
        |query, facts| {
            assert_eq!(query, &Query::PullBranches);
            facts.branches = Some(PullBranches {
                head_ref: "patch-1".into(),
                head_repo: Some("someone/Hello-World".into()),
                base_ref: "master".into(),
            });
        },
        jules_says_yes,
    );
    assert_eq!(transcript.verdict().0, ActionTaken::Refused);
    assert_eq!(transcript.replies(), ["fork"]);
    assert!(transcript.tried.is_empty());
}

#[test]
fn a_session_of_another_repository_is_refused_and_left_alone() {
    let foreign = IssueFacts {
        found: Found::Foreign {
            session: "sessions/9".into(),
            source: "sources/github/other/repo".into(),
        },
        queued_comment: None,
    };
    for event in [
        commented("/jules go on"),
        commented("/jules approve"),
        commented("/jules status"),
    ] {
        let transcript = action(&settings(), &event, foreign.clone());
        assert_eq!(transcript.verdict().0, ActionTaken::Refused);
        assert_eq!(transcript.replies(), ["foreign"]);
        assert!(transcript.tried.is_empty(), "{transcript:?}");
    }
}

#[test]
fn a_retried_attempt_reports_the_session_its_first_attempt_created() {
    let settings = Settings {
        attempt: crate::engine::settings::Attempt {
            recheck_before_create: Some(chrono::Utc::now()),
            ..Default::default()
        },
        ..settings()
    };
    let transcript = walk(
        Mode::Action,
        &settings,
        &labeled("jules-bridge"),
        Facts::default(),
        |query, facts| match query {
            Query::EarlierAttempt { tag } => {
                assert!(tag.starts_with("Codertocat/Hello-World#1:"), "{tag}");
                facts.earlier_attempt = Some(Some(session("QUEUED")));
            }
            other => world_with(nothing(), Vec::new())(other, facts),
        },
        jules_says_yes,
    );
    assert!(!transcript.created(), "never a second create");
    assert_eq!(transcript.verdict().0, ActionTaken::Created);
}

// --- Messages ---

#[test]
fn a_message_goes_to_the_active_session_and_the_status_shows_it_after() {
    let transcript = action(
        &settings(),
        &commented("/jules also add a test"),
        found(session("IN_PROGRESS"), None),
    );
    assert!(matches!(
        &transcript.tried[..],
        [Attempt::SendMessage { text, .. }] if text == "also add a test"
    ));
    assert!(transcript.asked.contains(&Query::Reread {
        session: session("QUEUED").name
    }));
    assert_eq!(transcript.verdict().0, ActionTaken::Messaged);
    // The session the plan approved carries that approval forward: the status says so.
    assert!(transcript.status().unwrap().notice.is_some());
}

#[test]
fn a_message_to_a_session_behind_its_base_waits_for_anyway() {
    let pr = with_pull_request(
        session("COMPLETED"),
        "https://github.com/Codertocat/Hello-World/pull/3",
    );
    let behind = |query: &Query, facts: &mut Facts| match query {
        Query::StaleBase { base, head } => {
            facts.stale_base = Some(stale_base_fact(base, head, 4));
        }
        other => world_with(found(pr.clone(), None), Vec::new())(other, facts),
    };
    let held = walk(
        Mode::Action,
        &settings(),
        &commented("/jules also fix the docs"),
        Facts::default(),
        behind,
        jules_says_yes,
    );
    assert_eq!(held.verdict().0, ActionTaken::Refused);
    assert_eq!(held.replies(), ["stale-base"]);
    assert!(held.tried.is_empty());
    let anyway = walk(
        Mode::Action,
        &settings(),
        &commented("/jules also fix the docs --anyway"),
        Facts::default(),
        behind,
        jules_says_yes,
    );
    assert_eq!(anyway.verdict().0, ActionTaken::Messaged);
    assert!(!anyway
        .asked
        .iter()
        .any(|query| matches!(query, Query::StaleBase { .. })));
}

#[test]
fn new_starts_a_fresh_session_and_archives_the_old_one_only_once_it_exists() {
    let transcript = action(
        &settings(),
        &commented("/jules new start over"),
        found(session("IN_PROGRESS"), None),
    );
    assert!(transcript.created());
    let archive = transcript
        .plan
        .effects
        .iter()
        .position(|effect| matches!(effect, Effect::Archive { .. }))
        .expect("the old session is archived");
    let status = transcript
        .plan
        .effects
        .iter()
        .position(|effect| matches!(effect, Effect::PublishStatus(_)))
        .unwrap();
    assert!(archive < status);
}

// --- Approvals ---

#[test]
fn approve_with_no_session_or_no_pending_plan_explains_and_approves_nothing() {
    let none = action(&settings(), &commented("/jules approve"), nothing());
    assert_eq!(
        none.verdict(),
        (ActionTaken::Ignored, "there is no session to approve")
    );
    assert_eq!(none.replies(), ["no-session"]);

    let working = walk(
        Mode::Action,
        &settings(),
        &commented("/jules approve"),
        Facts::default(),
        world_with(found(session("IN_PROGRESS"), None), activities(2)),
        jules_says_yes,
    );
    assert_eq!(working.verdict().0, ActionTaken::Ignored);
    assert_eq!(working.replies(), ["nothing-to-approve"]);
    assert!(working.tried.is_empty());
}

#[test]
fn a_bare_approve_approves_only_the_plan_the_status_comment_showed() {
    let plan = plan_id();
    let short = &plan[..6];
    // The status comment does not show the plan yet: show it, and say so.
    let unseen = action(
        &settings(),
        &commented("/jules approve"),
        found(session("AWAITING_PLAN_APPROVAL"), None),
    );
    assert_eq!(unseen.verdict().0, ActionTaken::Refused);
    assert!(unseen.tried.is_empty());
    assert!(
        matches!(
            &unseen.plan.effects[..],
            [
                Effect::PublishStatus(_),
                Effect::Reply {
                    reply: Reply::PlanNotShownYet { .. },
                    ..
                }
            ]
        ),
        "the plan is shown before the reply points at it: {:?}",
        unseen.plan.effects
    );
    // Shown: approved, and the status comment shows the session after.
    let shown = action(
        &settings(),
        &commented("/jules approve"),
        found(session("AWAITING_PLAN_APPROVAL"), Some(short)),
    );
    assert!(matches!(&shown.tried[..], [Attempt::ApprovePlan { .. }]));
    assert_eq!(
        shown.verdict(),
        (
            ActionTaken::Approved,
            format!("approved plan {plan}").as_str()
        )
    );
    // Named: only a prefix of the pending plan's id approves.
    let wrong = action(
        &settings(),
        &commented("/jules approve ffffff"),
        found(session("AWAITING_PLAN_APPROVAL"), Some(short)),
    );
    assert_eq!(wrong.verdict().0, ActionTaken::Refused);
    assert!(wrong.tried.is_empty());
    let named = action(
        &settings(),
        &commented(&format!("/jules approve {short}")),
        found(session("AWAITING_PLAN_APPROVAL"), None),
    );
    assert_eq!(named.verdict().0, ActionTaken::Approved);
}

// --- Limits (server) ---

#[test]
fn over_the_limits_a_request_waits_in_the_queue_and_its_comment_becomes_the_status() {
    let queued_before = IssueFacts {
        found: Found::Nothing,
        queued_comment: Some(55),
    };
    let full = walk(
        Mode::Server,
        &settings(),
        &labeled("jules-bridge"),
        Facts::default(),
        |query, facts| match query {
            Query::Admission { .. } => {
                facts.admission = Some(Admission::Queued {
                    position: 2,
                    reason: "at most 1 session at a time".into(),
                })
            }
            other => world_with(queued_before.clone(), Vec::new())(other, facts),
        },
        jules_says_yes,
    );
    assert!(!full.created());
    assert_eq!(full.verdict().0, ActionTaken::Queued);
    assert!(
        matches!(
            &full.plan.effects[..],
            [Effect::PublishQueued { existing: Some(55), text, .. }] if text.contains("position 2") || text.contains("#2")
        ),
        "{:?}",
        full.plan.effects
    );
    // Admitted later: the queued comment becomes the status comment.
    let admitted = walk(
        Mode::Server,
        &settings(),
        &labeled("jules-bridge"),
        Facts::default(),
        world_with(queued_before.clone(), Vec::new()),
        jules_says_yes,
    );
    assert_eq!(admitted.verdict().0, ActionTaken::Created);
    assert_eq!(admitted.status().unwrap().existing.as_ref().unwrap().id, 55);
    // The Action has no queue: it never asks.
    let action_run = action(&settings(), &labeled("jules-bridge"), queued_before);
    assert!(!action_run
        .asked
        .iter()
        .any(|query| matches!(query, Query::Admission { .. })));
}

#[test]
fn jules_at_its_limit_queues_in_the_server_and_is_reported_in_the_action() {
    let at_limit = |attempt: &Attempt, facts: &mut Facts| match attempt {
        Attempt::CreateSession(_) => facts.created = Some(Err(CreateFailure::AtLimit)),
        other => jules_says_yes(other, facts),
    };
    let server = walk(
        Mode::Server,
        &settings(),
        &labeled("jules-bridge"),
        Facts::default(),
        world_with(nothing(), Vec::new()),
        at_limit,
    );
    assert!(matches!(
        server.tried.last(),
        Some(Attempt::Enqueue { issue: 1 })
    ));
    assert_eq!(server.verdict().0, ActionTaken::Queued);
    let action_run = walk(
        Mode::Action,
        &settings(),
        &labeled("jules-bridge"),
        Facts::default(),
        world_with(nothing(), Vec::new()),
        at_limit,
    );
    assert_eq!(action_run.plan.finish, Finish::FailWithLastError);
    assert_eq!(action_run.replies(), ["create-failure"]);
}

#[test]
fn a_failed_create_is_told_once_on_the_last_attempt_only() {
    let flaky = |attempt: &Attempt, facts: &mut Facts| {
        if let Attempt::CreateSession(_) = attempt {
            facts.created = Some(Err(CreateFailure::Other { transient: true }));
        }
    };
    let first = Settings {
        attempt: crate::engine::settings::Attempt {
            final_attempt: false,
            ..Default::default()
        },
        ..settings()
    };
    let retried = walk(
        Mode::Server,
        &first,
        &labeled("jules-bridge"),
        Facts::default(),
        world_with(nothing(), Vec::new()),
        flaky,
    );
    assert_eq!(retried.plan.finish, Finish::FailWithLastError);
    assert!(
        retried.replies().is_empty(),
        "a retried attempt stays quiet"
    );
    let last = walk(
        Mode::Server,
        &settings(),
        &labeled("jules-bridge"),
        Facts::default(),
        world_with(nothing(), Vec::new()),
        flaky,
    );
    assert_eq!(last.replies(), ["create-failure"]);
    // Permanent answers are told at once, in words that say who can fix them.
    let text = create_failure_reply(&first, CreateFailure::SourceNotFound)
        .unwrap()
        .body();
    assert!(text.contains("Jules cannot see this repository"), "{text}");
}

// --- Unattended work ---

#[test]
fn dispatch_needs_a_prompt_and_then_creates_without_a_conversation() {
    let dispatch = Event {
        kind: EventKind::Dispatch { scheduled: true },
        ..labeled("jules-bridge")
    };
    let without = walk(
        Mode::Action,
        &settings(),
        &dispatch,
        Facts::default(),
        |query, _| panic!("asked {query:?}"),
        jules_says_yes,
    );
    assert!(matches!(without.plan.finish, Finish::Invalid(_)));
    let with = Settings {
        prompt: Some("Update the dependencies".into()),
        ..settings()
    };
    let created = walk(
        Mode::Action,
        &with,
        &dispatch,
        Facts::default(),
        |query, _| panic!("asked {query:?}"),
        jules_says_yes,
    );
    assert_eq!(created.verdict().0, ActionTaken::Created);
    assert!(created.plan.effects.is_empty(), "no issue to report on");
}

fn failed_run(actor: &str, pull_requests: Vec<u64>) -> Event {
    let mut run = event(
        "workflow_run",
        &payload(
            "workflow_run.completed.json",
            &[
                ("/workflow_run/conclusion", json!("failure")),
                ("/workflow_run/event", json!("push")),
                ("/workflow_run/head_branch", json!("main")),
                ("/workflow_run/head_repository/full_name", json!(REPO)),
                ("/workflow_run/triggering_actor/login", json!(actor)),
                ("/repository/full_name", json!(REPO)),
                ("/repository/name", json!("Hello-World")),
                ("/repository/owner/login", json!("Codertocat")),
            ],
        ),
    );
    if let EventKind::WorkflowRunFailed { run } = &mut run.kind {
        run.pull_requests = pull_requests;
    }
    run
}

#[test]
fn the_ci_fixer_goes_through_the_same_authorization_quietly() {
    let fixer = Settings {
        ci_fixer: Some(Default::default()),
        ..settings()
    };
    let off = walk(
        Mode::Action,
        &settings(),
        &failed_run("Codertocat", vec![]),
        Facts::default(),
        |query, _| panic!("asked {query:?}"),
        jules_says_yes,
    );
    assert_eq!(off.verdict().0, ActionTaken::Ignored);
    let reader = walk(
        Mode::Action,
        &fixer,
        &failed_run("a-reader", vec![]),
        Facts::default(),
        |query, facts| {
            assert!(matches!(query, Query::Permission { login } if login == "a-reader"));
            facts.permission = Some(Permission::Read);
        },
        jules_says_yes,
    );
    assert_eq!(reader.verdict().0, ActionTaken::Refused);
    assert!(
        reader.plan.effects.is_empty(),
        "no conversation to answer in"
    );
}

#[test]
fn the_ci_fixer_reports_on_its_issue_opening_it_only_to_start_a_fix() {
    let fixer = Settings {
        ci_fixer: Some(Default::default()),
        ..settings()
    };
    let world = |query: &Query, facts: &mut Facts| match query {
        Query::Permission { .. } => facts.permission = Some(Permission::Write),
        Query::FixerSessions => facts.fixer_sessions = Some(Vec::new()),
        Query::FixerIssue => facts.fixer_issue = Some(None),
        Query::FailedJobs { .. } => facts.failed_jobs = Some(vec!["test".into()]),
        other => world_with(nothing(), Vec::new())(other, facts),
    };
    let started = walk(
        Mode::Action,
        &fixer,
        &failed_run("Codertocat", vec![]),
        Facts::default(),
        world,
        jules_says_yes,
    );
    assert!(matches!(
        &started.tried[..],
        [Attempt::OpenFixerIssue, Attempt::CreateSession(plan)] if plan.prompt.contains("test")
    ));
    assert_eq!(started.status().unwrap().issue, 99);
    // On a pull request: reported there, no issue opened.
    let on_pull = walk(
        Mode::Action,
        &fixer,
        &failed_run("Codertocat", vec![12]),
        Facts::default(),
        world,
        jules_says_yes,
    );
    assert!(!on_pull
        .tried
        .iter()
        .any(|attempt| matches!(attempt, Attempt::OpenFixerIssue)));
    assert_eq!(on_pull.status().unwrap().issue, 12);
}

// --- The session's life ---

#[test]
fn stop_archives_the_running_session_and_says_who_stopped_it() {
    let stopped = action(
        &settings(),
        &commented("/jules stop"),
        found(session("IN_PROGRESS"), None),
    );
    assert!(matches!(&stopped.tried[..], [Attempt::Archive { .. }]));
    assert_eq!(stopped.verdict().0, ActionTaken::Stopped);
    let notice = stopped.status().unwrap().notice.clone().unwrap();
    assert!(notice.starts_with("Stopped by @Codertocat"), "{notice}");
    // A finished session has nothing to stop: said, not archived.
    let done = action(
        &settings(),
        &commented("/jules stop"),
        found(session("COMPLETED"), None),
    );
    assert!(done.tried.is_empty());
    assert_eq!(done.replies(), ["nothing-to-stop"]);
    let none = action(&settings(), &commented("/jules stop"), nothing());
    assert_eq!(none.replies(), ["no-session"]);
}

fn pull_closed(merged: bool) -> Event {
    event(
        "pull_request",
        &payload(
            "pull_request.closed.json",
            &[("/pull_request/merged", json!(merged))],
        ),
    )
}

#[test]
fn a_merged_or_closed_pull_request_archives_its_session_unless_turned_off() {
    for (merged, why) in [(true, "merged"), (false, "closed")] {
        let closed = action(
            &settings(),
            &pull_closed(merged),
            found(session("AWAITING_USER_FEEDBACK"), None),
        );
        assert_eq!(
            closed.asked[..2],
            [
                Query::Permission {
                    login: "Codertocat".into()
                },
                Query::IssueSession { issue: 2 }
            ]
        );
        assert!(matches!(&closed.tried[..], [Attempt::Archive { .. }]));
        assert_eq!(closed.verdict().0, ActionTaken::Stopped);
        let notice = closed.status().unwrap().notice.clone().unwrap();
        assert!(
            notice.contains(&format!("the pull request was {why}")),
            "{notice}"
        );
        assert!(closed.replies().is_empty(), "nobody asked: no reply");
    }
    let kept = Settings {
        archive_on_close: false,
        ..settings()
    };
    let off = action(
        &kept,
        &pull_closed(true),
        found(session("IN_PROGRESS"), None),
    );
    assert!(off.asked.is_empty() && off.tried.is_empty());
    // Closed by someone without write access (a stale-bot, a former contributor): nothing.
    let by_reader = walk(
        Mode::Action,
        &settings(),
        &pull_closed(true),
        Facts::default(),
        |query, facts| match query {
            Query::Permission { .. } => facts.permission = Some(Permission::Read),
            other => panic!("asked {other:?}"),
        },
        jules_says_yes,
    );
    assert_eq!(by_reader.verdict().0, ActionTaken::Ignored);
    assert!(by_reader.tried.is_empty() && by_reader.plan.effects.is_empty());
    // A session that opened a pull request of its own is left to serve it.
    let serving = action(
        &settings(),
        &pull_closed(false),
        found(
            with_pull_request(
                session("COMPLETED"),
                "https://github.com/Codertocat/Hello-World/pull/9",
            ),
            None,
        ),
    );
    assert!(serving.tried.is_empty(), "{serving:?}");
    // No session on the pull request, or another repository's: nothing done, nothing said.
    let foreign = IssueFacts {
        found: Found::Foreign {
            session: "sessions/9".into(),
            source: "sources/github/other/repo".into(),
        },
        queued_comment: None,
    };
    for issue in [nothing(), foreign] {
        let untouched = action(&settings(), &pull_closed(true), issue);
        assert!(untouched.tried.is_empty() && untouched.plan.effects.is_empty());
    }
}

// --- Reviews ---

fn review_submitted(body: Option<&str>) -> Event {
    event(
        "pull_request_review",
        &payload(
            "pull_request_review.submitted.json",
            &[("/review/body", body.map_or(Value::Null, |b| json!(b)))],
        ),
    )
}

/// The line comment the fixture's review was submitted with, saying `body`.
fn line_comment(id: u64, body: &str) -> crate::engine::event::ReviewComment {
    let Event {
        kind: EventKind::ReviewCommentCreated { comment, .. },
        ..
    } = event(
        "pull_request_review_comment",
        &payload(
            "pull_request_review_comment.created.json",
            &[("/comment/body", json!(body)), ("/comment/id", json!(id))],
        ),
    )
    else {
        panic!("a review comment")
    };
    comment
}

fn reviewed(
    comments: Vec<crate::engine::event::ReviewComment>,
    issue: IssueFacts,
) -> impl Fn(&Query, &mut Facts) {
    move |query, facts| match query {
        Query::ReviewComments { review } => {
            assert_eq!(*review, 237895671);
            facts.review_comments = Some(comments.clone());
        }
        Query::Permission { .. } => facts.permission = Some(Permission::Write),
        other => world_with(issue.clone(), activities(1))(other, facts),
    }
}

#[test]
fn a_review_comment_is_read_with_its_review_not_on_its_own() {
    let alone = event(
        "pull_request_review_comment",
        &payload(
            "pull_request_review_comment.created.json",
            &[("/comment/body", json!("/jules rename this"))],
        ),
    );
    assert_eq!(
        intake(&alone, &settings()),
        Intake::Ignore(READ_WITH_ITS_REVIEW.into())
    );
}

#[test]
fn a_review_sends_all_its_jules_lines_as_one_message_and_answers_in_the_thread() {
    let comments = vec![
        line_comment(501, "/jules use more emoji on this line"),
        line_comment(502, "Fine by me."),
        line_comment(503, "/jules and add a test for it"),
    ];
    let transcript = walk(
        Mode::Action,
        &settings(),
        &review_submitted(None),
        Facts::default(),
        reviewed(comments, found(session("IN_PROGRESS"), None)),
        jules_says_yes,
    );
    let [Attempt::SendMessage { text, .. }] = &transcript.tried[..] else {
        panic!("one message: {transcript:?}")
    };
    assert!(
        text.starts_with("use more emoji on this line\n\n(Review comment on README.md, line 265:)"),
        "{text}"
    );
    assert!(text.contains("---\n\nand add a test for it"), "{text}");
    assert_eq!(transcript.verdict().0, ActionTaken::Messaged);
    let effects = &transcript.plan.effects;
    assert!(matches!(
        &effects[..2],
        [
            Effect::ReactToReviewComment { comment: 501 },
            Effect::ReactToReviewComment { comment: 503 }
        ]
    ));
    assert!(matches!(
        effects.last(),
        Some(Effect::ReplyInThread {
            comment: 501,
            reply: Reply::SentToJules { .. }
        })
    ));
}

#[test]
fn a_review_without_a_command_costs_one_read_and_a_readers_is_refused() {
    let quiet = walk(
        Mode::Action,
        &settings(),
        &review_submitted(Some("Looks good")),
        Facts::default(),
        reviewed(vec![line_comment(501, "nit: spacing")], nothing()),
        jules_says_yes,
    );
    assert_eq!(quiet.asked.len(), 1);
    assert_eq!(
        quiet.verdict(),
        (ActionTaken::Ignored, "the review has no command")
    );
    let reader = walk(
        Mode::Action,
        &settings(),
        &review_submitted(Some("/jules delete the tests")),
        Facts::default(),
        |query, facts| match query {
            Query::ReviewComments { .. } => facts.review_comments = Some(Vec::new()),
            Query::Permission { .. } => facts.permission = Some(Permission::Read),
            other => panic!("asked {other:?}"),
        },
        jules_says_yes,
    );
    assert_eq!(reader.verdict().0, ActionTaken::Refused);
    assert_eq!(reader.replies(), ["refused"]);
}

#[test]
fn a_review_on_a_pull_request_without_a_session_starts_one_on_its_branch() {
    let transcript = walk(
        Mode::Action,
        &settings(),
        &review_submitted(None),
        Facts::default(),
        reviewed(
            vec![line_comment(501, "/jules make this line shorter")],
            nothing(),
        ),
        jules_says_yes,
    );
    let [Attempt::CreateSession(plan)] = &transcript.tried[..] else {
        panic!("one create: {transcript:?}")
    };
    assert_eq!(
        plan.new
            .source_context
            .as_ref()
            .unwrap()
            .github_repo_context
            .as_ref()
            .unwrap()
            .starting_branch,
        "changes"
    );
    assert!(plan.prompt.contains("make this line shorter"));
    assert!(plan
        .prompt
        .contains("(Review comment on README.md, line 265:)"));
}

#[test]
fn a_jules_pull_request_nothing_links_yet_finds_the_session_that_opened_it() {
    let jules_branch = event(
        "pull_request",
        &payload(
            "pull_request.closed.json",
            &[
                ("/pull_request/merged", json!(true)),
                (
                    "/pull_request/head/ref",
                    json!("fix-the-typo-14550388554331055113"),
                ),
            ],
        ),
    );
    let transcript = walk(
        Mode::Action,
        &settings(),
        &jules_branch,
        Facts::default(),
        |query, facts| match query {
            Query::SessionOfPull { pull } => {
                assert_eq!(*pull, 2);
                facts.pull_session = Some(Some(session("COMPLETED")));
            }
            other => world_with(nothing(), activities(2))(other, facts),
        },
        jules_says_yes,
    );
    assert!(matches!(&transcript.tried[..], [Attempt::Archive { .. }]));
    assert_eq!(transcript.verdict().0, ActionTaken::Stopped);
    // A person's branch is never looked up in Jules.
    let person = action(&settings(), &pull_closed(true), nothing());
    assert!(!person
        .asked
        .iter()
        .any(|query| matches!(query, Query::SessionOfPull { .. })));
}

#[test]
fn a_retried_command_never_sends_its_text_to_the_session_its_first_attempt_created() {
    let event = commented("/jules fix the typo");
    let EventKind::CommentCreated { comment, .. } = &event.kind else {
        panic!("a comment")
    };
    let repo = &event.repo.as_ref().unwrap().name;
    let tag = crate::engine::request_tag::for_issue(repo, 1, &format!("c{}", comment.id));
    let mut created = session("QUEUED");
    created.prompt = format!("fix the typo\n\n<!-- jules-bridge-request: {tag} -->");
    let retried = Settings {
        attempt: crate::engine::settings::Attempt {
            recheck_before_create: Some(chrono::Utc::now()),
            ..Default::default()
        },
        ..settings()
    };
    let transcript = action(&retried, &event, found(created, None));
    assert!(transcript.tried.is_empty(), "{transcript:?}");
    assert_eq!(transcript.verdict().0, ActionTaken::Created);
}
