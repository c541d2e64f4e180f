//! The simulated agent: what a session does on each step, and how it reacts to
//! sendMessage and approvePlan.
//!
//! Normal path, one step each: QUEUED -> PLANNING -> planGenerated -> (wait for approval |
//! system planApproved, IN_PROGRESS) -> one progressUpdated per plan step ->
//! sessionCompleted, COMPLETED with outputs. Prompt markers change the script:
//! `[fake:ask]` asks a question after the first progress step, `[fake:fail]` fails there,
//! `[fake:slow]` steps ten times less often.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

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
    /// A message arrived while awaiting approval: after replying, post a revised plan.
    replan_after_reply: bool,
    /// The ask scenario asks once.
    asked: bool,
    base_commit_id: String,
    /// Per-step diffs; the final change set is their concatenation.
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
    store.ticks += 1;
    let slow_turn = store.ticks.is_multiple_of(SLOW_FACTOR);
    step_sessions(store, |session| slow_turn || !session.agent.is_slow())
}

/// `POST /_fake/step`: one step for every session with work, slow or not.
pub fn step_all(store: &mut Store) -> usize {
    step_sessions(store, |_| true)
}

fn step_sessions(store: &mut Store, mut eligible: impl FnMut(&Session) -> bool) -> usize {
    // Oldest first, so that timestamps across sessions follow creation order.
    let mut ids: Vec<(Timestamp, String)> = store
        .sessions
        .values()
        .filter(|session| session.agent.has_work() && eligible(session))
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
        if session.agent.phase == Phase::AwaitingApproval {
            session.agent.replan_after_reply = true;
        }
        return;
    }
    if session.agent.replan_after_reply {
        session.agent.replan_after_reply = false;
        generate_plan(session, now);
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
            let patch = new_file_patch(
                &format!("jules-fake/step-{}.md", next_step + 1),
                &format!("Step {}: {}", next_step + 1, step.title),
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
    let title = session.title.clone();
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
    let branch = ids::working_branch(&session.title, &session.id);
    if let Some(context) = session.source_context.as_mut() {
        if context.working_branch.is_empty() {
            context.working_branch = branch;
        }
    }
    session.set_state(SessionState::InProgress, now);
    session.agent.phase = Phase::Working { next_step: 0 };
    session.agent.replan_after_reply = false;
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
    session.push_activity(
        now,
        Originator::User,
        "userMessaged",
        json!({ "userMessage": prompt }),
        Vec::new(),
    );
    session.agent.pending_replies.push_back(prompt.to_string());
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

fn push_progress(
    session: &mut Session,
    now: Timestamp,
    title: &str,
    description: &str,
    patch: String,
) {
    let change_set = change_set_json(session, &patch, None);
    session.agent.patches.push(patch);
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
        session.title, session.id
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
    session.change_set_output = Some(json!({ "changeSet": change_set }));
    if session.automation_mode == AutomationMode::AutoCreatePr && session.pull_request.is_none() {
        if let (Some(source), Some(context)) = (session.source(), session.source_context.as_ref()) {
            let counter = pull_request_numbers.entry(source.slug()).or_insert(1);
            let number = *counter;
            *counter += 1;
            session.pull_request = Some(json!({ "pullRequest": {
                "url": format!("https://github.com/{}/pull/{number}", source.slug()),
                "title": session.title,
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
