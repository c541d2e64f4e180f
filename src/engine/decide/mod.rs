//! The decision core: what the bridge does about an event, as a pure function of what the
//! shell has learned.
//!
//! A shell (the Action, a server worker, `simulate`) drives it. It turns the event into an
//! [`Intake`], settles who sent it with [`open`], then for each piece of [`Work`] calls
//! [`decide`] with the [`Facts`] learned so far. The answer is one [`Step`]:
//! - [`Step::Need`]: one read (GitHub, Jules or the store); the shell learns it and asks again;
//! - [`Step::Try`]: one effect whose result matters (a create, a message, an approval); the
//!   shell carries it out, learns its result and asks again;
//! - [`Step::Plan`]: the last effects and how the work ends.
//!
//! So authorization, limits and every branch live here once, for every way in (label,
//! command, dispatch, CI fixer); the shells only read, carry out and report. Nothing here does
//! I/O: every branch is unit-tested, and `simulate` prints exactly what the Action will do.

mod chores;
mod facts;
mod plan;
mod progress;
mod review;

pub use chores::{archive_when_issue_closed, housekeeping, Chore, CLOSED_WHILE_WAITING};
pub use progress::{progress, Progress, Question};
mod watchdog;
pub use watchdog::{watchdog, Nudge, Watch};
#[cfg(test)]
mod tests;

pub use facts::{Admission, CreateFailure, Facts, Found, IssueFacts, IssueSession, StatusComment};
pub use plan::{
    ActionTaken, Attempt, Effect, Finish, NewSessionPlan, Plan, Query, StatusUpdate, Step, Verdict,
};

use super::ci_fixer;
use super::command::{new_commands, parse_commands, take_anyway, Command, CommandError};
use super::comment::{Reply, StaleBase};
use super::escape;
use super::event::{
    Actor, Comment, Event, EventKind, Issue, PullBranches, RepoName, Repository, Review,
    WorkflowRun,
};
use super::policy::{check_sender, Permission, SenderCheck};
use super::prompt::{build_prompt, short_title, PromptParts};
use super::render;
use super::request_tag;
use super::settings::Settings;
use super::status::SessionView;
use crate::jules::{request_tag_of, NewSession, RequestTag, Session};

/// Where the bridge runs: what the shell can do beyond GitHub and Jules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The Action: stateless; the issue's session is found through its signed marker.
    Action,
    /// The server: a store that tracks sessions, enforces limits and queues requests.
    Server,
}

/// What an event asks of the bridge, before anything is looked up.
#[derive(Debug, Clone, PartialEq)]
pub enum Intake {
    /// Nothing to do, and why.
    Ignore(String),
    /// A person (or an allowed bot) asks on an issue or pull request.
    Conversation(Conversation),
    /// Work with no conversation: a dispatch, a schedule, a failed run, a pull request
    /// closed (on `issue`, when there is one; nobody is answered or refused).
    Unattended { issue: Option<Issue>, work: Work },
}

/// A request on an issue or pull request.
#[derive(Debug, Clone, PartialEq)]
pub struct Conversation {
    pub sender: Actor,
    pub issue: Issue,
    /// The comment the commands came from (`None` for a label).
    pub comment: Option<Comment>,
    pub work: Vec<Work>,
}

/// One thing to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Work {
    /// The trigger label, `/jules <text>` or `/jules new <text>`.
    Start {
        trigger: Trigger,
        instruction: Option<String>,
        branch: BranchFrom,
    },
    /// `/jules approve [PLAN]`.
    Approve { plan: Option<String> },
    /// `/jules status`.
    Status,
    /// `/jules stop`.
    Stop,
    /// `/jules help`.
    Help,
    /// A line that starts with the prefix but is not a command.
    Malformed { line: String, reason: String },
    /// `workflow_dispatch` or `schedule`.
    Dispatch { scheduled: bool },
    /// A failed workflow run.
    FixCi(Box<WorkflowRun>),
    /// The pull request was merged or closed: its session's work is over.
    PullClosed { merged: bool, head: String },
    /// A review was submitted: its `/jules` lines (body and line comments) go to the pull
    /// request's session as one message, with the lines they are about.
    Review {
        review: Review,
        branches: PullBranches,
    },
}

/// Why a review comment's own event is not acted on.
pub const READ_WITH_ITS_REVIEW: &str =
    "a review comment is read with its review, when the review is submitted";

/// What asked for a session: how an issue's existing session is treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// The trigger label: never a second session while one is active.
    Label,
    /// `/jules <text>`: a message to the active session, checked first for a stale base
    /// unless `--anyway`.
    Message { anyway: bool },
    /// `/jules new <text>`: a fresh session; the active one is archived.
    Fresh,
}

/// Which branch a new session starts from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BranchFrom {
    /// The repository's default branch.
    Default,
    /// A pull request's head branch, known from the payload.
    Pull(PullBranches),
    /// The head branch of the pull request the comment is on (to be looked up).
    ThisPull,
}

/// The context every decision about one request shares.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub settings: &'a Settings,
    pub repo: &'a Repository,
    pub mode: Mode,
    pub sender: &'a Actor,
    /// The issue or pull request of a conversation.
    pub issue: Option<&'a Issue>,
    pub comment: Option<&'a Comment>,
}

/// Reads the event: which work it asks for, before anything is looked up.
pub fn intake(event: &Event, settings: &Settings) -> Intake {
    if event.repo.is_none() {
        return Intake::Ignore("the event has no repository".into());
    }
    let sender = event.sender.clone().unwrap_or(Actor {
        login: String::new(),
        is_bot: false,
    });
    let not_the_trigger = |label: &str| {
        (!label.eq_ignore_ascii_case(&settings.trigger_label)).then(|| {
            Intake::Ignore(format!(
                "label `{label}` is not the trigger label `{}`",
                settings.trigger_label
            ))
        })
    };
    let start_by_label = |branch| Work::Start {
        trigger: Trigger::Label,
        instruction: settings.prompt.clone(),
        branch,
    };
    let conversation = |issue: &Issue, comment: Option<&Comment>, work| {
        Intake::Conversation(Conversation {
            sender: sender.clone(),
            issue: issue.clone(),
            comment: comment.cloned(),
            work,
        })
    };
    match &event.kind {
        EventKind::IssueLabeled { issue, label } => not_the_trigger(label).unwrap_or_else(|| {
            conversation(issue, None, vec![start_by_label(BranchFrom::Default)])
        }),
        EventKind::PullRequestLabeled {
            issue,
            branches,
            label,
        } => not_the_trigger(label).unwrap_or_else(|| {
            conversation(
                issue,
                None,
                vec![start_by_label(BranchFrom::Pull(branches.clone()))],
            )
        }),
        EventKind::CommentCreated { issue, comment } => commented(
            issue,
            parse_commands(&comment.body, &settings.command_prefix),
            |work| conversation(issue, Some(comment), work),
        ),
        EventKind::CommentEdited {
            issue,
            comment,
            previous_body,
        } => commented(
            issue,
            new_commands(previous_body, &comment.body, &settings.command_prefix),
            |work| conversation(issue, Some(comment), work),
        ),
        EventKind::Dispatch { scheduled } => Intake::Unattended {
            issue: None,
            work: Work::Dispatch {
                scheduled: *scheduled,
            },
        },
        EventKind::WorkflowRunFailed { run } => Intake::Unattended {
            issue: None,
            work: Work::FixCi(Box::new(run.clone())),
        },
        EventKind::ReviewSubmitted {
            pull,
            branches,
            review,
        } => Intake::Unattended {
            issue: Some(pull.clone()),
            work: Work::Review {
                review: review.clone(),
                branches: branches.clone(),
            },
        },
        EventKind::ReviewCommentCreated { .. } => Intake::Ignore(READ_WITH_ITS_REVIEW.into()),
        EventKind::PullRequestClosed {
            pull,
            merged,
            branches,
        } => Intake::Unattended {
            issue: Some(pull.clone()),
            work: Work::PullClosed {
                merged: *merged,
                head: branches.head_ref.clone(),
            },
        },
        EventKind::Ignored { reason } => Intake::Ignore(reason.clone()),
        EventKind::IssueClosed { .. } => Intake::Ignore("closed issues need no action".into()),
        EventKind::Installation { .. } | EventKind::Push { .. } | EventKind::Ping => {
            Intake::Ignore("nothing to do for this event".into())
        }
    }
}

fn commented(
    issue: &Issue,
    commands: Vec<Result<Command, CommandError>>,
    conversation: impl FnOnce(Vec<Work>) -> Intake,
) -> Intake {
    if commands.is_empty() {
        return Intake::Ignore("the comment has no command".into());
    }
    let branch = || {
        if issue.is_pull_request {
            BranchFrom::ThisPull
        } else {
            BranchFrom::Default
        }
    };
    let work = commands
        .into_iter()
        .map(|command| match command {
            Ok(Command::Run(text)) => {
                let (text, anyway) = take_anyway(&text);
                Work::Start {
                    trigger: Trigger::Message { anyway },
                    instruction: Some(text),
                    branch: branch(),
                }
            }
            Ok(Command::New(text)) => Work::Start {
                trigger: Trigger::Fresh,
                instruction: Some(text),
                branch: branch(),
            },
            Ok(Command::Approve { plan }) => Work::Approve { plan },
            Ok(Command::Status) => Work::Status,
            Ok(Command::Stop) => Work::Stop,
            Ok(Command::Help) => Work::Help,
            Err(CommandError::Malformed { line, reason }) => Work::Malformed { line, reason },
        })
        .collect();
    conversation(work)
}

/// Whether an actor may start or steer a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Authorization {
    /// Their permission must be looked up first.
    Need(Query),
    Allowed,
    /// Not a person to answer (the bridge itself, a bot not listed): ignored, and why.
    Ignored(String),
    /// A person without write access.
    Refused {
        reason: String,
        permission: String,
    },
}

/// The one authorization rule, for every way in: the bridge never acts on its own
/// activity, bots only when the operator lists them, people only with write access or more.
pub fn authorize(
    actor: &Actor,
    settings: &Settings,
    permission: Option<&Permission>,
) -> Authorization {
    match check_sender(actor, &settings.identity.own_logins, &settings.allowed_bots) {
        SenderCheck::Ourselves => Authorization::Ignored("the bridge's own activity".into()),
        SenderCheck::UntrustedBot => Authorization::Ignored(format!(
            "{} is a bot that is not in allowed-bots",
            actor.login
        )),
        SenderCheck::TrustedBot => Authorization::Allowed,
        SenderCheck::CheckPermission => match permission {
            None => Authorization::Need(Query::Permission {
                login: actor.login.clone(),
            }),
            Some(permission) if permission.can_trigger() => Authorization::Allowed,
            Some(permission) => Authorization::Refused {
                reason: format!(
                    "{} has {} access; write access is required",
                    actor.login,
                    permission.describe()
                ),
                permission: permission.describe(),
            },
        },
    }
}

/// How a conversation opens.
#[derive(Debug, Clone, PartialEq)]
pub enum Opening {
    /// Not yet settled, or settled with an answer (ignored, refused).
    Step(Step),
    /// Go on with the work, after these effects.
    Proceed(Vec<Effect>),
}

/// Settles who asked: refuses people without write access (one polite reply), ignores the
/// bridge's own activity and unlisted bots, and acknowledges the rest with 👀.
pub fn open(conversation: &Conversation, settings: &Settings, facts: &Facts) -> Opening {
    let sender = &conversation.sender;
    match authorize(sender, settings, facts.permission.as_ref()) {
        Authorization::Need(query) => Opening::Step(Step::Need(query)),
        Authorization::Ignored(reason) => Opening::Step(Plan::only(ActionTaken::Ignored, reason)),
        Authorization::Refused { reason, permission } => Opening::Step(Plan::then(
            vec![Effect::Reply {
                issue: conversation.issue.number,
                reply: Reply::Refused {
                    login: sender.login.clone(),
                    permission,
                },
            }],
            ActionTaken::Refused,
            reason,
        )),
        Authorization::Allowed => Opening::Proceed(vec![Effect::React {
            comment: conversation.comment.as_ref().map(|comment| comment.id),
        }]),
    }
}

/// The next step of one piece of work.
pub fn decide(request: &Request<'_>, work: &Work, facts: &Facts) -> Step {
    with_check_run(request, decide_work(request, work, facts))
}

/// On a pull request, the session's check run mirrors what its status comment shows.
fn with_check_run(request: &Request<'_>, step: Step) -> Step {
    let Some(pull) = request
        .issue
        .filter(|issue| issue.is_pull_request && request.settings.check_runs)
    else {
        return step;
    };
    let Step::Plan(mut plan) = step else {
        return step;
    };
    let mut effects = Vec::with_capacity(plan.effects.len() + 1);
    for effect in plan.effects {
        let check = match &effect {
            Effect::PublishStatus(update) if update.issue == pull.number => {
                Some(Effect::PublishCheck {
                    pull: pull.number,
                    view: Box::new(update.view.clone()),
                })
            }
            _ => None,
        };
        effects.push(effect);
        effects.extend(check);
    }
    plan.effects = effects;
    Step::Plan(plan)
}

fn decide_work(request: &Request<'_>, work: &Work, facts: &Facts) -> Step {
    match work {
        Work::Start {
            trigger,
            instruction,
            branch,
        } => start(request, *trigger, instruction.as_deref(), branch, facts),
        Work::Approve { plan } => approve(request, plan.as_deref(), facts),
        Work::Status => refresh(request, facts),
        Work::Stop => stop(request, facts),
        Work::Help => {
            let settings = request.settings;
            let help = Reply::Help {
                prefix: settings.command_prefix.clone(),
                trigger_label: settings.trigger_label.clone(),
            };
            Plan::then(
                vec![reply(request, help)],
                ActionTaken::Help,
                "replied with the commands",
            )
        }
        Work::Malformed { line, reason } => {
            let settings = request.settings;
            let malformed = Reply::Malformed {
                line: line.clone(),
                reason: reason.clone(),
                prefix: settings.command_prefix.clone(),
                trigger_label: settings.trigger_label.clone(),
            };
            Plan::then(
                vec![reply(request, malformed)],
                ActionTaken::Help,
                format!("malformed command: {reason}"),
            )
        }
        Work::Dispatch { scheduled } => dispatch(request, *scheduled, facts),
        Work::FixCi(run) => fix_ci(request, run, facts),
        Work::PullClosed { merged, head } => pull_closed(request, *merged, head, facts),
        Work::Review { review, branches } => review::decide(request, review, branches, facts),
    }
}

fn issue_number(request: &Request<'_>) -> u64 {
    request.issue.map_or(0, |issue| issue.number)
}

fn reply(request: &Request<'_>, reply: Reply) -> Effect {
    Effect::Reply {
        issue: issue_number(request),
        reply,
    }
}

/// The issue's session, once known.
fn issue_facts<'f>(request: &Request<'_>, facts: &'f Facts) -> Result<&'f IssueFacts, Step> {
    facts.issue.as_ref().ok_or(Step::Need(Query::IssueSession {
        issue: issue_number(request),
    }))
}

/// The issue's session. On a pull request that nothing links to a session yet, whose head
/// branch is one Jules names (`<slug>-<session id>`), it is the session of this repository
/// that opened it: the Action links a pull request only while it follows a session, so
/// reviews and the closing of a pull request opened later still reach their session.
/// (`head`: the pull request's head branch when the event carries it.)
fn found_session(request: &Request<'_>, head: Option<&str>, facts: &Facts) -> Result<Found, Step> {
    let issue = issue_facts(request, facts)?;
    let Some(pull) = request.issue.filter(|issue| issue.is_pull_request) else {
        return Ok(issue.found.clone());
    };
    if !matches!(issue.found, Found::Nothing) {
        return Ok(issue.found.clone());
    }
    let head = match (head, &facts.branches) {
        (Some(head), _) => head,
        (None, Some(branches)) => branches.head_ref.as_str(),
        (None, None) => return Err(Step::Need(Query::PullBranches)),
    };
    if !ci_fixer::looks_like_a_jules_branch(head) {
        return Ok(Found::Nothing);
    }
    match &facts.pull_session {
        None => Err(Step::Need(Query::SessionOfPull { pull: pull.number })),
        Some(None) => Ok(Found::Nothing),
        Some(Some(session)) => Ok(Found::Session(Box::new(IssueSession {
            marker: crate::engine::marker::Marker {
                session: session.name.clone(),
                requester: None,
                plan: None,
            },
            session: session.clone(),
            comment: None,
        }))),
    }
}

/// `session` read again after an effect, with its activities, once known.
fn reread_of<'f>(
    session: &Session,
    facts: &'f Facts,
) -> Result<(&'f Session, &'f [crate::jules::Activity]), Step> {
    facts
        .reread
        .get(&session.name)
        .map(|(after, activities)| (after, activities.as_slice()))
        .ok_or(Step::Need(Query::Reread {
            session: session.name.clone(),
        }))
}

/// A command that needs the issue's session, on an issue without one: said, nothing done.
fn no_session(request: &Request<'_>, reason: &str) -> Step {
    let none = Reply::NoSession {
        prefix: request.settings.command_prefix.clone(),
    };
    Plan::then(vec![reply(request, none)], ActionTaken::Ignored, reason)
}

/// The activities of `session`, once known (none for a session that has no create time:
/// a sparse create answer has no activities yet).
fn activities_of<'f>(
    session: &Session,
    facts: &'f Facts,
) -> Result<&'f [crate::jules::Activity], Step> {
    if session.create_time.is_none() {
        return Ok(&[]);
    }
    facts
        .activities
        .get(&session.name)
        .map(Vec::as_slice)
        .ok_or(Step::Need(Query::Activities {
            session: session.name.clone(),
        }))
}

macro_rules! known {
    ($lookup:expr) => {
        match $lookup {
            Ok(value) => value,
            Err(step) => return step,
        }
    };
}

fn refuse_foreign(request: &Request<'_>, session: &str) -> Step {
    Plan::then(
        vec![reply(request, Reply::Foreign)],
        ActionTaken::Refused,
        format!(
            "{session} does not belong to {}; nothing was done with it",
            request.repo.name
        ),
    )
}

/// The issue's status comment shows `view` of `session`, between the `before` and `after`
/// effects, and the work ends with `verdict`.
#[allow(clippy::too_many_arguments)]
fn publish(
    issue: u64,
    found: &IssueSession,
    session: &Session,
    view: SessionView,
    notice: Option<String>,
    before: Vec<Effect>,
    after: Vec<Effect>,
    verdict: (ActionTaken, String),
) -> Step {
    let mut effects = before;
    effects.push(Effect::PublishStatus(Box::new(StatusUpdate {
        issue,
        session: session.clone(),
        view,
        requester: found.marker.requester.clone(),
        existing: found.comment.clone(),
        notice,
    })));
    effects.extend(after);
    Plan::then(effects, verdict.0, verdict.1)
}

/// The view of `session` as read with its activities, once they are known.
fn view_of(session: &Session, facts: &Facts) -> Result<SessionView, Step> {
    activities_of(session, facts).map(|activities| SessionView::new(session, activities))
}

fn start(
    request: &Request<'_>,
    trigger: Trigger,
    instruction: Option<&str>,
    branch: &BranchFrom,
    facts: &Facts,
) -> Step {
    let repo = &request.repo.name;
    let branch = match branch {
        BranchFrom::Default => request.repo.default_branch.clone(),
        BranchFrom::Pull(branches) => known!(head_branch(request, branches)),
        BranchFrom::ThisPull => match &facts.branches {
            Some(branches) => known!(head_branch(request, branches)),
            None => return Step::Need(Query::PullBranches),
        },
    };
    let branch_head = branch.clone();
    let issue = known!(issue_facts(request, facts));
    let found_here = known!(found_session(request, Some(&branch_head), facts));
    // A retried attempt whose first attempt created this very session (the request tag in
    // its prompt says so) only reports it: its text is the session's prompt already, so it
    // is never sent again as a message, and nothing is replaced.
    if let (Found::Session(found), Some(_), Some(tag)) = (
        &found_here,
        request.settings.attempt.recheck_before_create,
        this_request_tag(request),
    ) {
        if request_tag_of(&found.session.prompt) == Some(tag.as_str()) {
            let view = known!(view_of(&found.session, facts));
            return publish(
                issue_number(request),
                found,
                &found.session,
                view,
                None,
                Vec::new(),
                Vec::new(),
                (
                    ActionTaken::Created,
                    format!("created {}", found.session.name),
                ),
            );
        }
    }
    let mut replaced = None;
    match &found_here {
        Found::Foreign { session, .. } => return refuse_foreign(request, session),
        Found::Session(found)
            if trigger == Trigger::Label && !found.session.state.is_finished() =>
        {
            let reason = format!(
                "session {} is already {} for this issue",
                found.session.name,
                render::state_words(&found.session.state)
            );
            let view = known!(view_of(&found.session, facts));
            return publish(
                issue_number(request),
                found,
                &found.session,
                view,
                None,
                Vec::new(),
                Vec::new(),
                (ActionTaken::Status, reason),
            );
        }
        Found::Session(found) if matches!(trigger, Trigger::Message { .. }) => {
            return message(
                request,
                found,
                trigger,
                instruction.unwrap_or_default(),
                facts,
            );
        }
        // Replaced once the new one exists: a request that has to wait for a slot (or
        // fails) leaves the running session alone.
        Found::Session(found) if trigger == Trigger::Fresh => {
            replaced = Some(found.session.name.clone())
        }
        // A finished session and a new label, or no session: start a new one.
        Found::Session(_) | Found::Nothing => {}
    }
    let Some(conversation_issue) = request.issue else {
        return Plan::only(ActionTaken::Ignored, "no issue to start a session for");
    };
    let number = conversation_issue.number;
    let settings = request.settings;
    let prompt = build_prompt(&PromptParts {
        repo: Some(repo),
        issue: Some(conversation_issue),
        instruction,
        requester: Some(&request.sender.login),
        template: settings.prompt_template.as_deref(),
        ..PromptParts::default()
    });
    let title = settings
        .title
        .clone()
        .unwrap_or_else(|| short_title(&format!("#{number} {}", conversation_issue.title)));
    let tag = this_request_tag(request);
    let branch = settings.starting_branch.clone().unwrap_or(branch);
    let new = new_session(settings, &prompt, repo, &branch, title, tag.clone());
    // A request queued earlier has a "queued" comment: it becomes the status comment.
    let queued_comment = match request.mode {
        Mode::Server => issue.queued_comment,
        Mode::Action => None,
    };
    let requester = Some(request.sender.login.clone());
    let queued = |position: i64, reason: &str| {
        Plan::then(
            vec![Effect::PublishQueued {
                issue: number,
                existing: queued_comment,
                text: Reply::Queued {
                    position,
                    reason: reason.to_owned(),
                    requester: requester.clone(),
                }
                .body(),
            }],
            ActionTaken::Queued,
            format!("queued at position {position}: {reason}"),
        )
    };
    let session = match first_attempt(request, tag.as_ref(), facts) {
        Err(step) => return step,
        Ok(Some(earlier)) => earlier,
        Ok(None) => match &facts.created {
            None => {
                if request.mode == Mode::Server {
                    match &facts.admission {
                        None => return Step::Need(Query::Admission { issue: number }),
                        Some(Admission::Queued { position, reason }) => {
                            return queued(*position, reason)
                        }
                        Some(Admission::Go) => {}
                    }
                }
                return Step::Try(Attempt::CreateSession(Box::new(NewSessionPlan {
                    new,
                    prompt,
                })));
            }
            Some(Ok(session)) => session.clone(),
            Some(Err(CreateFailure::AtLimit)) if request.mode == Mode::Server => {
                return match facts.enqueued {
                    None => Step::Try(Attempt::Enqueue { issue: number }),
                    Some(position) => queued(
                        position,
                        "Jules is at its plan limit (concurrent or daily sessions)",
                    ),
                };
            }
            Some(Err(failure)) => {
                return Step::Plan(Plan {
                    effects: create_failure_reply(settings, *failure)
                        .map(|failed| reply(request, failed))
                        .into_iter()
                        .collect(),
                    finish: Finish::FailWithLastError,
                });
            }
        },
    };
    // Archived, not deleted: its history stays in Jules, and Jules pauses a running session
    // it archives rather than ending it.
    let archive: Vec<Effect> = replaced
        .into_iter()
        .map(|session| Effect::Archive { session })
        .collect();
    let found = IssueSession {
        session: session.clone(),
        marker: crate::engine::marker::Marker {
            session: session.name.clone(),
            requester,
            plan: None,
        },
        comment: queued_comment.map(|id| StatusComment {
            id,
            body: String::new(),
        }),
    };
    let reason = format!("created {}", session.name);
    let view = known!(view_of(&session, facts));
    publish(
        number,
        &found,
        &session,
        view,
        None,
        archive,
        Vec::new(),
        (ActionTaken::Created, reason),
    )
}

/// The request tag of a request on an issue: it names the issue and what triggered the
/// request (the comment or review, else this attempt's trigger id), so every attempt of the
/// same request carries the same tag.
fn this_request_tag(request: &Request<'_>) -> Option<RequestTag> {
    let issue = request.issue?;
    let trigger_key = request
        .comment
        .map(|comment| format!("c{}", comment.id))
        .unwrap_or_else(|| format!("label-{}", request.settings.attempt.trigger_id));
    RequestTag::new(request_tag::for_issue(
        &request.repo.name,
        issue.number,
        &trigger_key,
    ))
    .ok()
}

/// A retried attempt first looks for the session its crashed predecessor created.
fn first_attempt(
    request: &Request<'_>,
    tag: Option<&RequestTag>,
    facts: &Facts,
) -> Result<Option<Session>, Step> {
    match (tag, request.settings.attempt.recheck_before_create) {
        (Some(tag), Some(_)) => match &facts.earlier_attempt {
            None => Err(Step::Need(Query::EarlierAttempt {
                tag: tag.as_str().to_owned(),
            })),
            Some(earlier) => Ok(earlier.clone()),
        },
        _ => Ok(None),
    }
}

/// The head branch of a same-repository pull request; a fork's is refused with a reply.
fn head_branch(request: &Request<'_>, branches: &PullBranches) -> Result<String, Step> {
    if branches.is_fork_of(&request.repo.name) {
        let fork = Reply::Fork {
            head_repo: branches.head_repo.clone(),
        };
        return Err(Plan::then(
            vec![reply(request, fork)],
            ActionTaken::Refused,
            "the pull request comes from a fork; Jules can only work on this repository's branches",
        ));
    }
    Ok(branches.head_ref.clone())
}

/// `/jules <text>` to the issue's session.
fn message(
    request: &Request<'_>,
    found: &IssueSession,
    trigger: Trigger,
    text: &str,
    facts: &Facts,
) -> Step {
    let session = &found.session;
    if !facts.sent {
        if trigger != (Trigger::Message { anyway: true }) {
            if let Some(step) = stale_base(request, session, facts) {
                return step;
            }
        }
        return Step::Try(Attempt::SendMessage {
            session: session.name.clone(),
            text: text.to_owned(),
        });
    }
    let (after, activities) = known!(reread_of(session, facts));
    let view = SessionView::new(after, activities);
    // Jules will not stop for a revised plan once one was approved: say so now, before it
    // runs.
    let notice = view
        .approval_carries_forward()
        .then(|| render::message_after_approval(&request.settings.command_prefix));
    publish(
        issue_number(request),
        found,
        after,
        view,
        notice,
        Vec::new(),
        Vec::new(),
        (
            ActionTaken::Messaged,
            format!("sent the message to {}", after.name),
        ),
    )
}

/// Jules never rebases a session: a message to one whose pull request is behind its base
/// would revert the work merged since. `None` when the message may go.
fn stale_base(request: &Request<'_>, session: &Session, facts: &Facts) -> Option<Step> {
    let pr = session.pull_request()?;
    if pr.base_ref.is_empty()
        || pr.head_ref.is_empty()
        || !pull_request_of(&request.repo.name, &pr.url)
    {
        return None;
    }
    match &facts.stale_base {
        None => Some(Step::Need(Query::StaleBase {
            base: pr.base_ref.clone(),
            head: pr.head_ref.clone(),
        })),
        Some(None) => None,
        Some(Some(behind)) => {
            let stale = Reply::StaleBase {
                behind: behind.clone(),
                prefix: request.settings.command_prefix.clone(),
            };
            Some(Plan::then(
                vec![reply(request, stale)],
                ActionTaken::Refused,
                format!(
                    "not sent: the pull request is {} commits behind `{}`",
                    behind.commits, behind.base
                ),
            ))
        }
    }
}

/// `/jules approve [PLAN]`: approves only a pending plan, and only one the person can have
/// read: the one they name, or without a name the one the status comment shows.
fn approve(request: &Request<'_>, plan_prefix: Option<&str>, facts: &Facts) -> Step {
    let prefix = &request.settings.command_prefix;
    let found_here = known!(found_session(request, None, facts));
    let found = match &found_here {
        Found::Session(found) => found,
        Found::Foreign { session, .. } => return refuse_foreign(request, session),
        Found::Nothing => return no_session(request, "there is no session to approve"),
    };
    if facts.approved {
        let (after, activities) = known!(reread_of(&found.session, facts));
        let plan_id = facts
            .activities
            .get(&found.session.name)
            .and_then(|activities| {
                SessionView::new(&found.session, activities)
                    .pending_plan()
                    .map(|plan| plan.id.clone())
            })
            .unwrap_or_default();
        return publish(
            issue_number(request),
            found,
            after,
            SessionView::new(after, activities),
            None,
            Vec::new(),
            Vec::new(),
            (ActionTaken::Approved, format!("approved plan {plan_id}")),
        );
    }
    let session = &found.session;
    let view = known!(view_of(session, facts));
    let Some(plan) = view.pending_plan() else {
        let reason = format!(
            "no plan is waiting for approval ({})",
            render::state_words(&view.state)
        );
        let nothing = Reply::NothingToApprove {
            view: Box::new(view.clone()),
            prefix: prefix.clone(),
        };
        return publish(
            issue_number(request),
            found,
            session,
            view,
            None,
            vec![reply(request, nothing)],
            Vec::new(),
            (ActionTaken::Ignored, reason),
        );
    };
    let unseen = match plan_prefix {
        Some(given) if !plan.id.to_lowercase().starts_with(&given.to_lowercase()) => {
            Some(Reply::PlanMismatch {
                given: given.to_owned(),
                pending: plan.short_id().to_owned(),
                prefix: prefix.clone(),
            })
        }
        Some(_) => None,
        // A bare approve stands for the plan the person saw in the status comment.
        None if found.marker.plan.as_deref() != Some(plan.short_id()) => {
            Some(Reply::PlanNotShownYet {
                pending: plan.short_id().to_owned(),
                prefix: prefix.clone(),
            })
        }
        None => None,
    };
    if let Some(not_approved) = unseen {
        let reason = format!(
            "plan {} is not the plan the person approved",
            plan.short_id()
        );
        // Show the pending plan first, so the reply's pointer to it is true.
        return publish(
            issue_number(request),
            found,
            session,
            view,
            None,
            Vec::new(),
            vec![reply(request, not_approved)],
            (ActionTaken::Refused, reason),
        );
    }
    Step::Try(Attempt::ApprovePlan {
        session: session.name.clone(),
    })
}

/// `/jules status`: the status comment shows the session as it is now.
fn refresh(request: &Request<'_>, facts: &Facts) -> Step {
    let found_here = known!(found_session(request, None, facts));
    match &found_here {
        Found::Session(found) => {
            let view = known!(view_of(&found.session, facts));
            publish(
                issue_number(request),
                found,
                &found.session,
                view,
                None,
                Vec::new(),
                Vec::new(),
                (ActionTaken::Status, "refreshed the status comment".into()),
            )
        }
        Found::Foreign { session, .. } => refuse_foreign(request, session),
        Found::Nothing => no_session(request, "there is no session for this issue"),
    }
}

/// `/jules stop`: archives the issue's running session (Jules pauses a session it archives;
/// its history stays), and the status comment says who stopped it.
fn stop(request: &Request<'_>, facts: &Facts) -> Step {
    let prefix = &request.settings.command_prefix;
    let found_here = known!(found_session(request, None, facts));
    let found = match &found_here {
        Found::Session(found) => found,
        Found::Foreign { session, .. } => return refuse_foreign(request, session),
        Found::Nothing => return no_session(request, "there is no session to stop"),
    };
    let session = &found.session;
    if !facts.archived {
        if session.archived || session.state.is_finished() {
            let view = known!(view_of(session, facts));
            let nothing = Reply::NothingToStop {
                view: Box::new(view.clone()),
                prefix: prefix.clone(),
            };
            return publish(
                issue_number(request),
                found,
                session,
                view,
                None,
                vec![reply(request, nothing)],
                Vec::new(),
                (
                    ActionTaken::Ignored,
                    format!(
                        "{} is {}; nothing to stop",
                        session.name,
                        render::state_words(&session.state)
                    ),
                ),
            );
        }
        return Step::Try(Attempt::Archive {
            session: session.name.clone(),
        });
    }
    let (after, activities) = known!(reread_of(session, facts));
    publish(
        issue_number(request),
        found,
        after,
        SessionView::new(after, activities),
        Some(crate::engine::comment::stopped_notice(
            &format!("by @{}", request.sender.login),
            prefix,
        )),
        Vec::new(),
        Vec::new(),
        (
            ActionTaken::Stopped,
            format!(
                "archived {} at @{}'s request",
                session.name, request.sender.login
            ),
        ),
    )
}

/// A pull request was merged or closed: its session is archived (`archive_on_close`), so
/// nothing keeps running, or waiting, for work that is over; the status comment says why.
fn pull_closed(request: &Request<'_>, merged: bool, head: &str, facts: &Facts) -> Step {
    if !request.settings.archive_on_close {
        return Plan::only(ActionTaken::Ignored, "archive_on_close is off");
    }
    // Archiving steers a session: the same rule as every other way in, quietly (nobody asked
    // in a conversation). A stale-bot closing pull requests archives nothing.
    match authorize(request.sender, request.settings, facts.permission.as_ref()) {
        Authorization::Need(query) => return Step::Need(query),
        Authorization::Ignored(reason) | Authorization::Refused { reason, .. } => {
            return Plan::only(ActionTaken::Ignored, reason)
        }
        Authorization::Allowed => {}
    }
    let found_here = known!(found_session(request, Some(head), facts));
    let found = match &found_here {
        Found::Session(found) => found,
        // Nobody asked: nothing to answer, nothing to touch.
        Found::Foreign { .. } | Found::Nothing => {
            return Plan::only(
                ActionTaken::Ignored,
                "the pull request has no session of this repository",
            )
        }
    };
    let session = &found.session;
    // A session that opened a pull request of its own serves that one: closing the pull
    // request it was started on (superseded by Jules') leaves it alone.
    let own_pull = session
        .pull_request()
        .and_then(|pr| pull_number_in(&request.repo.name, &pr.url));
    if let Some(own) = own_pull.filter(|&own| own != issue_number(request)) {
        return Plan::only(
            ActionTaken::Ignored,
            format!("{} serves its own pull request #{own}", session.name),
        );
    }
    if !facts.archived {
        if session.archived {
            return Plan::only(
                ActionTaken::Ignored,
                format!("{} is already archived", session.name),
            );
        }
        return Step::Try(Attempt::Archive {
            session: session.name.clone(),
        });
    }
    let (after, activities) = known!(reread_of(session, facts));
    let why = if merged {
        "because the pull request was merged"
    } else {
        "because the pull request was closed"
    };
    publish(
        issue_number(request),
        found,
        after,
        SessionView::new(after, activities),
        Some(crate::engine::comment::stopped_notice(
            why,
            &request.settings.command_prefix,
        )),
        Vec::new(),
        Vec::new(),
        (
            ActionTaken::Stopped,
            format!("archived {} {why}", session.name),
        ),
    )
}

/// `workflow_dispatch` / `schedule`: a session from the configured prompt.
fn dispatch(request: &Request<'_>, scheduled: bool, facts: &Facts) -> Step {
    let settings = request.settings;
    let repo = &request.repo.name;
    let Some(instruction) = settings.prompt.as_deref().filter(|p| !p.trim().is_empty()) else {
        return Step::Plan(Plan {
            effects: Vec::new(),
            finish: Finish::Invalid("a dispatch or schedule event needs the `prompt` input".into()),
        });
    };
    match &facts.created {
        Some(Ok(session)) => Plan::only(ActionTaken::Created, format!("created {}", session.name)),
        Some(Err(_)) => Step::Plan(Plan {
            effects: Vec::new(),
            finish: Finish::FailWithLastError,
        }),
        None => {
            let login = &request.sender.login;
            let requester = (!scheduled && !login.is_empty()).then_some(login.as_str());
            let prompt = build_prompt(&PromptParts {
                repo: Some(repo),
                instruction: Some(instruction),
                requester,
                template: settings.prompt_template.as_deref(),
                ..PromptParts::default()
            });
            let title = settings
                .title
                .clone()
                .unwrap_or_else(|| short_title(instruction));
            let tag = RequestTag::new(request_tag::for_repo(
                repo,
                &format!(":run-{}", settings.attempt.trigger_id),
            ))
            .ok();
            let branch = settings
                .starting_branch
                .as_deref()
                .unwrap_or(&request.repo.default_branch);
            let new = new_session(settings, &prompt, repo, branch, title, tag);
            Step::Try(Attempt::CreateSession(Box::new(NewSessionPlan {
                new,
                prompt,
            })))
        }
    }
}

/// A failed workflow run: a session that fixes it, on the failing branch, through the same
/// authorization and limits as every other way to start a session.
fn fix_ci(request: &Request<'_>, run: &WorkflowRun, facts: &Facts) -> Step {
    let settings = request.settings;
    let repo = &request.repo.name;
    if let Err(reason) = ci_fixer::check_run(run, repo, settings.ci_fixer.as_ref()) {
        return Plan::only(ActionTaken::Ignored, reason);
    }
    let Some(actor) = run.actor.as_ref() else {
        return Plan::only(ActionTaken::Ignored, "the run names no actor to authorize");
    };
    // No conversation to answer in: a refusal is logged, not posted.
    match authorize(actor, settings, facts.permission.as_ref()) {
        Authorization::Need(query) => return Step::Need(query),
        Authorization::Ignored(reason) => return Plan::only(ActionTaken::Ignored, reason),
        Authorization::Refused { reason, .. } => return Plan::only(ActionTaken::Refused, reason),
        Authorization::Allowed => {}
    }
    let policy = settings.ci_fixer.clone().unwrap_or_default();
    let tag = ci_fixer::run_tag(repo, run);
    let Some(recent) = &facts.fixer_sessions else {
        return Step::Need(Query::FixerSessions);
    };
    let prefix = ci_fixer::tag_prefix(repo);
    let recent: Vec<&Session> = recent
        .iter()
        .filter(|session| belongs_to(session, repo))
        .filter(|session| request_tag_of(&session.prompt).is_some_and(|t| t.starts_with(&prefix)))
        .collect();
    if let Some(earlier) = recent
        .iter()
        .find(|session| request_tag_of(&session.prompt) == Some(tag.as_str()))
    {
        return Plan::only(
            ActionTaken::Ignored,
            format!(
                "{} already fixes this commit of `{}`",
                earlier.name, run.name
            ),
        );
    }
    let on_branch = recent
        .iter()
        .filter(|session| starting_branch(session) == Some(run.head_branch.as_str()))
        .count() as u32;
    // Where the session reports: the pull request, else the repository's CI-fixer issue.
    let target = match run.pull_requests.first() {
        Some(&pr) => Some(pr),
        None => match facts.fixer_issue {
            None => return Step::Need(Query::FixerIssue),
            Some(target) => target,
        },
    };
    if on_branch >= policy.max_per_branch_per_day {
        let reason = format!(
            "the CI fixer already started {on_branch} sessions on `{}` in the last 24 hours (at most {})",
            escape::inline(&run.head_branch),
            policy.max_per_branch_per_day
        );
        // The newest fixer status comment on the target says so (an edit, so a run that
        // keeps failing never adds a comment per failure).
        let Some(target) = target else {
            return Plan::only(ActionTaken::Refused, reason);
        };
        let issue = match &facts.issue {
            Some(issue) => issue,
            None => return Step::Need(Query::IssueSession { issue: target }),
        };
        return match &issue.found {
            Found::Session(found) => {
                let view = known!(view_of(&found.session, facts));
                publish(
                    target,
                    found,
                    &found.session,
                    view,
                    Some(format!("Not starting another fix: {reason}.")),
                    Vec::new(),
                    Vec::new(),
                    (ActionTaken::Refused, reason),
                )
            }
            _ => Plan::only(ActionTaken::Refused, reason),
        };
    }
    let Some(target) = target else {
        return Step::Try(Attempt::OpenFixerIssue);
    };
    if request.mode == Mode::Server && facts.created.is_none() {
        match &facts.admission {
            None => return Step::Need(Query::Admission { issue: target }),
            Some(Admission::Queued { position, reason }) => {
                return Plan::then(
                    vec![Effect::PublishQueued {
                        issue: target,
                        existing: None,
                        text: Reply::Queued {
                            position: *position,
                            reason: reason.clone(),
                            requester: None,
                        }
                        .body(),
                    }],
                    ActionTaken::Queued,
                    format!("queued at position {position}: {reason}"),
                )
            }
            Some(Admission::Go) => {}
        }
    }
    let session = match &facts.created {
        Some(Ok(session)) => session,
        Some(Err(_)) => {
            return Step::Plan(Plan {
                effects: Vec::new(),
                finish: Finish::FailWithLastError,
            })
        }
        None => {
            let Some(failed_jobs) = &facts.failed_jobs else {
                return Step::Need(Query::FailedJobs { run: run.id });
            };
            let prompt = build_prompt(&PromptParts {
                repo: Some(repo),
                instruction: settings.prompt.as_deref(),
                failed_run: Some((run, failed_jobs)),
                template: settings.prompt_template.as_deref(),
                ..PromptParts::default()
            });
            let title = settings.title.clone().unwrap_or_else(|| {
                short_title(&format!("Fix CI: {} on {}", run.name, run.head_branch))
            });
            let new = new_session(
                settings,
                &prompt,
                repo,
                &run.head_branch,
                title,
                RequestTag::new(tag).ok(),
            );
            return Step::Try(Attempt::CreateSession(Box::new(NewSessionPlan {
                new,
                prompt,
            })));
        }
    };
    let attempt = format!(
        "CI fix attempt {} of {} in 24 hours on `{}`, for the failed run [{}]({}).",
        on_branch + 1,
        policy.max_per_branch_per_day,
        escape::inline(&run.head_branch),
        escape::inline(&run.name),
        run.html_url
    );
    let found = IssueSession {
        session: session.clone(),
        marker: crate::engine::marker::Marker {
            session: session.name.clone(),
            requester: None,
            plan: None,
        },
        comment: None,
    };
    let view = known!(view_of(session, facts));
    publish(
        target,
        &found,
        session,
        view,
        Some(attempt),
        Vec::new(),
        Vec::new(),
        (
            ActionTaken::Created,
            format!("created {} to fix run {}", session.name, run.id),
        ),
    )
}

fn new_session(
    settings: &Settings,
    prompt: &str,
    repo: &RepoName,
    branch: &str,
    title: String,
    tag: Option<RequestTag>,
) -> NewSession {
    let mut new = NewSession::new(prompt)
        .with_source(&repo.jules_source(), Some(branch))
        .with_title(title)
        .with_plan_approval(settings.require_plan_approval)
        .with_automation_mode(settings.automation_mode.clone());
    if let Some(tag) = tag {
        new = new.with_request_tag(tag);
    }
    new
}

/// What the people on the issue are told when Jules did not start the session; `None` when
/// a server attempt that will be retried stays quiet (they hear only the final answer).
pub fn create_failure_reply(settings: &Settings, failure: CreateFailure) -> Option<Reply> {
    if matches!(failure, CreateFailure::Other { transient: true })
        && !settings.attempt.final_attempt
    {
        return None;
    }
    Some(Reply::CreateFailed {
        failure,
        prefix: settings.command_prefix.clone(),
        in_action: settings.attempt.run_url.is_some(),
    })
}

/// True when `session` works on `repo`: its source is exactly this repository's source.
/// GitHub names are case-insensitive; anything else (another repository, a repoless
/// session, an alias the bridge did not create) is not ours.
pub fn belongs_to(session: &Session, repo: &RepoName) -> bool {
    session
        .source_context
        .as_ref()
        .is_some_and(|context| context.source.eq_ignore_ascii_case(&repo.jules_source()))
}

/// True when `url` is a pull request of `repo` (`https://HOST/OWNER/REPO/pull/N`).
fn pull_request_of(repo: &RepoName, url: &str) -> bool {
    pull_number_in(repo, url).is_some()
}

/// The number of the pull request `url` names, when it is one of `repo`'s
/// (`https://HOST/OWNER/REPO/pull/N`).
pub fn pull_number_in(repo: &RepoName, url: &str) -> Option<u64> {
    let (path, number) = url.trim_end_matches('/').rsplit_once("/pull/")?;
    let full = format!("/{}/{}", repo.owner, repo.name);
    let ours = path.len() >= full.len()
        && path.is_char_boundary(path.len() - full.len())
        && path[path.len() - full.len()..].eq_ignore_ascii_case(&full);
    if !ours || number.is_empty() || !number.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    number.parse().ok()
}

/// The branch a session started from.
fn starting_branch(session: &Session) -> Option<&str> {
    session
        .source_context
        .as_ref()?
        .github_repo_context
        .as_ref()
        .map(|context| context.starting_branch.as_str())
}

/// The stale-base fact for a comparison GitHub answered (`behind` commits).
pub fn stale_base_fact(base: &str, head: &str, behind: u64) -> Option<StaleBase> {
    (behind > 0).then(|| StaleBase {
        base: base.to_owned(),
        head: head.to_owned(),
        commits: behind,
    })
}
