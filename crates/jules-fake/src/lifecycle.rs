//! The simulated agent: what a session does on each step, and how it reacts to
//! sendMessage and approvePlan.
//!
//! Normal path, one step each: QUEUED -> PLANNING -> planGenerated -> (wait for approval |
//! system planApproved, IN_PROGRESS) -> one progressUpdated per plan step ->
//! sessionCompleted, COMPLETED with outputs. Prompt markers change the script:
//! `[fake:ask]` asks a question after the first progress step, `[fake:fail]` fails there,
//! `[fake:slow]` steps ten times less often.
//!
//! Behaviour measured on the live API: a plan revised by a message after an approval runs
//! without a new approval (approval carries forward); an unattended plan may be approved by
//! Jules itself after a while (`auto_approve_after`); archiving a running session pauses
//! it; and each progress `changeSet` holds the whole diff so far.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use chrono::TimeDelta;
use serde_json::{json, Value};

use crate::clock::{format_timestamp, Timestamp};
use crate::errors::ApiError;
use crate::ids;
use crate::state::{App, AutomationMode, Originator, Session, SessionState, Store};

/// How many background ticks a `[fake:slow]` session waits between steps.
const SLOW_FACTOR: u64 = 10;

#[derive(Debug, Clone, Copy, Default)]
struct Scenario {
    ask: bool,
    fail: bool,
    slow: bool,
}

impl Scenario {
    fn from_prompt(prompt: &str) -> Self {
        Self {
            ask: prompt.contains("[fake:ask]"),
            fail: prompt.contains("[fake:fail]"),
            slow: prompt.contains("[fake:slow]"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Queued,
    Planning,
    /// Waits for sessions.approvePlan.
    AwaitingApproval,
    /// The plan is approved automatically on the next step.
    Approving,
    Working {
        next_step: usize,
    },
    /// Waits for sessions.sendMessage, then resumes at `resume_step`.
    AwaitingFeedback {
        resume_step: usize,
    },
    /// Woken by a message after finishing: one progress step, then complete again.
    FollowUp {
        progress_done: bool,
    },
    Finished,
}

#[derive(Debug, Clone)]
struct PlanStep {
    id: String,
    title: String,
    description: String,
}

#[derive(Debug, Clone)]
struct Plan {
    id: String,
    steps: Vec<PlanStep>,
}

/// The hidden part of a session: where the simulated agent is in its script.
#[derive(Debug)]
pub struct Agent {
    phase: Phase,
    scenario: Scenario,
    plan: Option<Plan>,
    /// User messages not answered yet; each step answers one before doing anything else.
    pending_replies: VecDeque<String>,
    /// A message arrived while awaiting approval or working: after replying, post a revised
    /// plan.
    replan_after_reply: bool,
    /// A plan of this session was approved once: later revised plans need no approval.
    approved_once: bool,
    /// When the plan now waiting for approval was posted (for the auto-approve timer).
    awaiting_since: Option<Timestamp>,
    /// The ask scenario asks once.
    asked: bool,
    base_commit_id: String,
    /// Per-step diffs; every change set carries their concatenation so far.
    patches: Vec<String>,
    follow_ups: usize,
}

impl Agent {
    pub fn new(prompt: &str) -> Self {
        Self {
            phase: Phase::Queued,
            scenario: Scenario::from_prompt(prompt),
            plan: None,
            pending_replies: VecDeque::new(),
            replan_after_reply: false,
            approved_once: false,
            awaiting_since: None,
            asked: false,
            base_commit_id: ids::new_commit_id(),
            patches: Vec::new(),
            follow_ups: 0,
        }
    }

    pub fn is_slow(&self) -> bool {
        self.scenario.slow
    }

    /// False while the session waits for the user or has finished.
    pub fn has_work(&self) -> bool {
        !self.pending_replies.is_empty()
            || self.replan_after_reply
            || !matches!(
                self.phase,
                Phase::AwaitingApproval | Phase::AwaitingFeedback { .. } | Phase::Finished
            )
    }
}

/// Runs one automatic step for every session with work (slow ones only every tenth tick).
pub fn tick(store: &mut Store) -> usize {
    fire_timers(store);
    store.ticks += 1;
    let slow_turn = store.ticks.is_multiple_of(SLOW_FACTOR);
    step_sessions(store, |session| slow_turn || !session.agent.is_slow())
}

/// `POST /_fake/step`: one step for every session with work, slow or not.
pub fn step_all(store: &mut Store) -> usize {
    fire_timers(store);
    step_sessions(store, |_| true)
}

/// Jules approves a plan nobody approved within `auto_approve_after` (the Jules docs: "If
/// you navigate away, Jules will eventually auto-approve the plan"). Runs on every tick and
/// whenever the fake's clock is moved. A plan about to be revised by a pending message is
/// not approved; the revised one starts a new wait.
pub fn fire_timers(store: &mut Store) {
    let Some(after) = store.settings.auto_approve_after else {
        return;
    };
    let after = TimeDelta::from_std(after).unwrap_or(TimeDelta::MAX);
    let current = store.clock.current();
    let mut due: Vec<(Timestamp, String)> = store
        .sessions
        .values()
        .filter(|session| {
            let agent = &session.agent;
            session.state == SessionState::AwaitingPlanApproval
                && agent.pending_replies.is_empty()
                && !agent.replan_after_reply
                && agent
                    .awaiting_since
                    .is_some_and(|since| current.signed_duration_since(since) >= after)
        })
        .map(|session| (session.create_time, session.id.clone()))
        .collect();
    due.sort();
    for (_, id) in due {
        if let Some(session) = store.sessions.get_mut(&id) {
            let now = store.clock.now();
            approve(session, now, Originator::System);
        }
    }
}

fn step_sessions(store: &mut Store, mut eligible: impl FnMut(&Session) -> bool) -> usize {
    // Oldest first, so that timestamps across sessions follow creation order.
    let mut ids: Vec<(Timestamp, String)> = store
        .sessions
        .values()
        .filter(|session| {
            session.state != SessionState::Paused && session.agent.has_work() && eligible(session)
        })
        .map(|session| (session.create_time, session.id.clone()))
        .collect();
    ids.sort();
    let mut stepped = 0;
    for (_, id) in ids {
        if let Some(session) = store.sessions.get_mut(&id) {
            let now = store.clock.now();
            step(session, now, &mut store.pull_request_numbers);
            stepped += 1;
        }
    }
    stepped
}

/// The background task: one tick per `step` until the server is dropped.
pub async fn run_stepper(app: Arc<App>, step: Duration) {
    let mut interval = tokio::time::interval(step);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    interval.tick().await; // the first tick fires immediately; a session should wait one step
    loop {
        interval.tick().await;
        tick(&mut app.store());
    }
}

fn step(session: &mut Session, now: Timestamp, pull_request_numbers: &mut HashMap<String, u64>) {
    if let Some(message) = session.agent.pending_replies.pop_front() {
        let reply = format!(
            "Thanks for the message. I will take it into account: \"{}\"",
            shorten(&message, 200)
        );
        session.push_activity(
            now,
            Originator::Agent,
            "agentMessaged",
            json!({ "agentMessage": reply }),
            Vec::new(),
        );
        return;
    }
    if session.agent.replan_after_reply {
        session.agent.replan_after_reply = false;
        generate_plan(session, now);
        if session.agent.phase == Phase::AwaitingApproval {
            session.agent.awaiting_since = Some(now);
        } else {
            // Approval carries forward: the revised plan runs at once, without
            // AWAITING_PLAN_APPROVAL and without a planApproved activity.
            session.agent.phase = Phase::Working { next_step: 0 };
            session.set_state(SessionState::InProgress, now);
        }
        return;
    }
    match session.agent.phase {
        Phase::Queued => {
            session.set_state(SessionState::Planning, now);
            session.agent.phase = Phase::Planning;
        }
        Phase::Planning => {
            generate_plan(session, now);
            if session.require_plan_approval {
                session.set_state(SessionState::AwaitingPlanApproval, now);
                session.agent.phase = Phase::AwaitingApproval;
                session.agent.awaiting_since = Some(now);
            } else {
                session.agent.phase = Phase::Approving;
            }
        }
        Phase::Approving => approve(session, now, Originator::System),
        Phase::Working { next_step } => work(session, now, next_step, pull_request_numbers),
        Phase::FollowUp {
            progress_done: false,
        } => {
            session.agent.follow_ups += 1;
            let number = session.agent.follow_ups;
            let patch = new_file_patch(
                &format!("jules-fake/follow-up-{number}.md"),
                &format!("Follow-up {number}: addressed the latest feedback."),
            );
            push_progress(
                session,
                now,
                "I have addressed your feedback.",
                "Updated the change based on the latest message.",
                patch,
            );
            session.agent.phase = Phase::FollowUp {
                progress_done: true,
            };
        }
        Phase::FollowUp {
            progress_done: true,
        } => complete(session, now, pull_request_numbers),
        Phase::AwaitingApproval | Phase::AwaitingFeedback { .. } | Phase::Finished => {}
    }
}

fn work(
    session: &mut Session,
    now: Timestamp,
    next_step: usize,
    pull_request_numbers: &mut HashMap<String, u64>,
) {
    let scenario = session.agent.scenario;
    if next_step == 1 && scenario.fail {
        session.push_activity(
            now,
            Originator::Agent,
            "sessionFailed",
            json!({ "reason": "The agent could not complete the task: the build failed in the sandbox (scripted by [fake:fail])." }),
            Vec::new(),
        );
        session.set_state(SessionState::Failed, now);
        session.agent.phase = Phase::Finished;
        return;
    }
    if next_step == 1 && scenario.ask && !session.agent.asked {
        session.agent.asked = true;
        session.push_activity(
            now,
            Originator::Agent,
            "agentMessaged",
            json!({ "agentMessage": "Before I continue: should I also update the documentation for this change? Please reply to let me know." }),
            Vec::new(),
        );
        session.set_state(SessionState::AwaitingUserFeedback, now);
        session.agent.phase = Phase::AwaitingFeedback {
            resume_step: next_step,
        };
        return;
    }
    let step = session
        .agent
        .plan
        .as_ref()
        .and_then(|plan| plan.steps.get(next_step))
        .cloned();
    match step {
        Some(step) => {
            // Numbered across revisions, so a revised plan's steps add new files and the
            // cumulative diff stays applicable.
            let number = session.agent.patches.len() + 1;
            let patch = new_file_patch(
                &format!("jules-fake/step-{number}.md"),
                &format!("Step {number}: {}", step.title),
            );
            push_progress(
                session,
                now,
                &format!("I have completed: {}", step.title),
                &step.description,
                patch,
            );
            session.agent.phase = Phase::Working {
                next_step: next_step + 1,
            };
        }
        None => complete(session, now, pull_request_numbers),
    }
}

fn generate_plan(session: &mut Session, now: Timestamp) {
    let title = session.summary.clone();
    let revision = session.agent.plan.is_some();
    let mut steps = vec![
        (
            "Explore the codebase.".to_string(),
            format!("Read the relevant files to find where \"{title}\" belongs."),
        ),
        (
            "Implement the change.".to_string(),
            format!("Make the code changes for \"{title}\"."),
        ),
        (
            "Run the tests and submit.".to_string(),
            "Run the test suite, fix what breaks, and submit the change.".to_string(),
        ),
    ];
    if revision {
        steps[1].1.push_str(" (revised after your message)");
    }
    let plan = Plan {
        id: ids::new_hex_id(),
        steps: steps
            .into_iter()
            .map(|(title, description)| PlanStep {
                id: ids::new_hex_id(),
                title,
                description,
            })
            .collect(),
    };
    let steps_json: Vec<Value> = plan
        .steps
        .iter()
        .enumerate()
        .map(|(index, step)| {
            let mut json = json!({
                "id": step.id,
                "title": step.title,
                "description": step.description,
            });
            // proto3 JSON omits the default: the first step has no `index`.
            if index > 0 {
                json["index"] = json!(index);
            }
            json
        })
        .collect();
    session.push_activity(
        now,
        Originator::Agent,
        "planGenerated",
        json!({ "plan": {
            "id": plan.id,
            "steps": steps_json,
            "createTime": format_timestamp(&now),
        }}),
        Vec::new(),
    );
    session.agent.plan = Some(plan);
}

/// Records the approval of the pending plan and starts the work.
fn approve(session: &mut Session, now: Timestamp, originator: Originator) {
    let plan_id = session
        .agent
        .plan
        .as_ref()
        .map(|plan| plan.id.clone())
        .unwrap_or_default();
    session.push_activity(
        now,
        originator,
        "planApproved",
        json!({ "planId": plan_id }),
        Vec::new(),
    );
    let branch = ids::working_branch(&session.summary, &session.id);
    if let Some(context) = session.source_context.as_mut() {
        if context.working_branch.is_empty() {
            context.working_branch = branch;
        }
    }
    session.set_state(SessionState::InProgress, now);
    session.agent.phase = Phase::Working { next_step: 0 };
    session.agent.replan_after_reply = false;
    session.agent.approved_once = true;
    session.agent.awaiting_since = None;
}

/// sessions.approvePlan: only while a plan awaits approval.
pub fn approve_plan(session: &mut Session, now: Timestamp) -> Result<(), ApiError> {
    if session.state != SessionState::AwaitingPlanApproval {
        return Err(ApiError::failed_precondition());
    }
    approve(session, now, Originator::User);
    Ok(())
}

/// sessions.sendMessage: the user's message is recorded now, the reply comes on the next
/// step. A session waiting for feedback resumes; a finished one wakes up for a follow-up.
pub fn send_message(session: &mut Session, now: Timestamp, prompt: &str) {
    // A message wakes a paused session where it stopped (the fake's choice: the live
    // behaviour is not published).
    if let Some(previous) = session.paused_from.take() {
        session.set_state(previous, now);
    }
    session.push_activity(
        now,
        Originator::User,
        "userMessaged",
        json!({ "userMessage": prompt }),
        Vec::new(),
    );
    session.agent.pending_replies.push_back(prompt.to_string());
    // A message about a plan (one waiting for approval, or one being worked on) revises
    // it after the reply. An answer to the agent's question does not.
    let revises = match session.agent.phase {
        Phase::AwaitingApproval => true,
        Phase::Working { .. } => session.agent.approved_once,
        _ => false,
    };
    session.agent.replan_after_reply |= revises;
    match session.agent.phase {
        Phase::AwaitingFeedback { resume_step } => {
            session.agent.phase = Phase::Working {
                next_step: resume_step,
            };
            session.set_state(SessionState::InProgress, now);
        }
        Phase::Finished => {
            session.agent.phase = Phase::FollowUp {
                progress_done: false,
            };
            session.set_state(SessionState::InProgress, now);
        }
        _ => {}
    }
}

/// sessions.archive. A running session is PAUSED: it stops where it is, but it is not over
/// (the live API does this). A finished one only gets the flag.
pub fn archive(session: &mut Session, now: Timestamp) {
    session.archived = true;
    if session.state.is_running() {
        session.paused_from = Some(session.state);
        session.set_state(SessionState::Paused, now);
    }
}

/// Each progress artifact holds the whole diff so far, as the live API's do: the last one
/// is the complete change.
fn push_progress(
    session: &mut Session,
    now: Timestamp,
    title: &str,
    description: &str,
    patch: String,
) {
    session.agent.patches.push(patch);
    let change_set = change_set_json(session, &session.agent.patches.concat(), None);
    session.push_activity(
        now,
        Originator::Agent,
        "progressUpdated",
        json!({ "title": title, "description": description }),
        vec![json!({ "changeSet": change_set })],
    );
}

fn complete(
    session: &mut Session,
    now: Timestamp,
    pull_request_numbers: &mut HashMap<String, u64>,
) {
    let commit_message = format!(
        "{}\n\nChanges made by Jules for session {}.",
        session.summary, session.id
    );
    let full_patch = session.agent.patches.concat();
    let change_set = change_set_json(session, &full_patch, Some(&commit_message));
    session.push_activity(
        now,
        Originator::Agent,
        "sessionCompleted",
        json!({}),
        vec![json!({ "changeSet": change_set })],
    );
    if session.automation_mode == AutomationMode::AutoCreatePr && session.pull_request.is_none() {
        if let (Some(source), Some(context)) = (session.source(), session.source_context.as_ref()) {
            let counter = pull_request_numbers.entry(source.slug()).or_insert(1);
            let number = *counter;
            *counter += 1;
            session.pull_request = Some(json!({ "pullRequest": {
                "url": format!("https://github.com/{}/pull/{number}", source.slug()),
                "title": session.summary,
                "description": format!(
                    "PR created automatically by Jules for task [{id}](https://jules.google.com/task/{id})",
                    id = session.id
                ),
                "baseRef": context.base_branch(),
                "headRef": context.working_branch,
            }}));
        }
    }
    session.set_state(SessionState::Completed, now);
    session.agent.phase = Phase::Finished;
}

/// `{source, gitPatch{unidiffPatch, baseCommitId, suggestedCommitMessage}}`, defaults omitted.
fn change_set_json(session: &Session, patch: &str, commit_message: Option<&str>) -> Value {
    let mut git_patch = json!({ "baseCommitId": session.agent.base_commit_id });
    if !patch.is_empty() {
        git_patch["unidiffPatch"] = json!(patch);
    }
    if let Some(message) = commit_message {
        git_patch["suggestedCommitMessage"] = json!(message);
    }
    let mut change_set = json!({ "gitPatch": git_patch });
    if let Some(context) = &session.source_context {
        change_set["source"] = json!(context.source);
    }
    change_set
}

/// A unified diff that creates `path` holding one line; valid input for `git apply`.
fn new_file_patch(path: &str, line: &str) -> String {
    format!(
        "diff --git a/{path} b/{path}\nnew file mode 100644\n--- /dev/null\n+++ b/{path}\n@@ -0,0 +1 @@\n+{line}\n"
    )
}

fn shorten(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text.to_string(),
    }
}
