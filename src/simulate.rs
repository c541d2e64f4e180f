//! Dry runs: what the bridge would do with an event, decided by the same core the Action and
//! the server use, without writing anything.
//!
//! The rehearsal shell learns the same facts the live one does, read-only: from GitHub with a
//! token, from Jules with an API key, and otherwise from stated assumptions. Effects are
//! written down instead of carried out, and assumed to succeed (a created session is a
//! placeholder). So with the Action's credentials the decision printed is the decision the
//! Action will take.

use std::fmt::Write as _;
use std::sync::Mutex;

use crate::engine::decide::{
    Admission, Attempt, Conversation, Effect, Facts, Found, Intake, IssueFacts, Mode, Query,
    Request, Work,
};
use crate::engine::event::Event;
use crate::engine::policy::Permission;
use crate::github::GitHubClient;
use crate::handler::{drive, Handler, HandlerError, Record, Settings, Shell};
use crate::jules::{JulesClient, Session, State};

/// The name of the session a rehearsal pretends to create.
pub const PLACEHOLDER_SESSION: &str = "sessions/(would-be-created)";

/// A readable account of the decision, one fact per line, ending with
/// `action-taken  <what the Action would output>`.
pub async fn explain(
    event_name: &str,
    event: &Event,
    settings: &Settings,
    github: Option<&GitHubClient>,
    jules: Option<&JulesClient>,
) -> String {
    let rehearsal = Rehearsal {
        github,
        jules,
        settings,
        lines: Mutex::new(Vec::new()),
    };
    let mut out = String::new();
    let line = |out: &mut String, key: &str, value: &str| {
        let _ = writeln!(out, "{key:<11} {value}");
    };
    line(&mut out, "event", event_name);
    if let Some(repo) = &event.repo {
        line(&mut out, "repository", &repo.name.to_string());
    }
    if let Some(issue) = event.kind.issue() {
        let kind = if issue.is_pull_request {
            "pull request"
        } else {
            "issue"
        };
        line(
            &mut out,
            kind,
            &format!("#{} {}", issue.number, issue.title),
        );
    }
    if let Some(sender) = &event.sender {
        let bot = if sender.is_bot { " (bot)" } else { "" };
        line(&mut out, "sender", &format!("@{}{bot}", sender.login));
    }
    if let Intake::Conversation(Conversation { work, .. }) =
        crate::engine::decide::intake(event, settings)
    {
        for work in &work {
            line(&mut out, "command", &describe(work));
        }
    }
    let outcome = drive(&rehearsal, event, settings).await;
    for (key, value) in rehearsal.lines.into_inner().unwrap_or_default() {
        if key == "prompt" {
            let _ = writeln!(out, "prompt:\n{}", indent(&value));
        } else {
            line(&mut out, &key, &value);
        }
    }
    match outcome {
        Ok(outcome) => {
            line(
                &mut out,
                "decision",
                &format!("{}: {}", outcome.action.as_str(), outcome.reason),
            );
            line(&mut out, "action-taken", outcome.action.as_str());
        }
        Err(error) => {
            line(&mut out, "decision", &format!("failed: {error}"));
            line(&mut out, "action-taken", "failed");
        }
    }
    out
}

fn describe(work: &Work) -> String {
    let one_line = |text: &Option<String>| text.as_deref().unwrap_or("").replace('\n', " ");
    match work {
        Work::Start {
            trigger: crate::engine::decide::Trigger::Fresh,
            instruction,
            ..
        } => format!(
            "new session (the active one is archived): {}",
            one_line(instruction)
        ),
        Work::Start {
            trigger: crate::engine::decide::Trigger::Label,
            ..
        } => "the trigger label: start a session, or show the active one".into(),
        Work::Start { instruction, .. } => format!("run: {}", one_line(instruction)),
        Work::Approve { plan: Some(plan) } => format!("approve plan {plan}"),
        Work::Approve { plan: None } => "approve the pending plan".into(),
        Work::Status => "status".into(),
        Work::Stop => "stop the running session".into(),
        Work::Help => "help".into(),
        Work::Malformed { line, reason } => format!("malformed `{line}`: {reason}"),
        Work::Dispatch { .. } => "dispatch".into(),
        Work::FixCi(run) => format!("fix the failed run {}", run.id),
        Work::Review { review, .. } => format!("review {} by @{}", review.id, review.author.login),
        Work::PullClosed { merged: true, .. } => "the pull request was merged".into(),
        Work::PullClosed { merged: false, .. } => "the pull request was closed".into(),
    }
}

/// The read-only shell.
struct Rehearsal<'a> {
    github: Option<&'a GitHubClient>,
    jules: Option<&'a JulesClient>,
    settings: &'a Settings,
    lines: Mutex<Vec<(String, String)>>,
}

impl Rehearsal<'_> {
    fn note(&self, key: &str, value: impl Into<String>) {
        self.lines
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .push((key.to_owned(), value.into()));
    }

    /// A live shell for reads, when both GitHub and Jules can be read.
    fn reader(&self) -> Option<Handler<'_>> {
        Some(Handler {
            github: self.github?,
            jules: self.jules?,
            settings: self.settings,
            gate: None,
            replies: Default::default(),
        })
    }

    /// Learns `query` without GitHub or Jules (or with only GitHub where it answers):
    /// what the bridge would find on a fresh issue, said as an assumption.
    async fn assume(
        &self,
        request: &Request<'_>,
        query: &Query,
        facts: &mut Facts,
    ) -> Result<(), HandlerError> {
        if let Some(github) = self.github {
            let github_only = matches!(
                query,
                Query::Permission { .. }
                    | Query::PullBranches
                    | Query::StaleBase { .. }
                    | Query::FixerIssue
                    | Query::FailedJobs { .. }
                    | Query::ReviewComments { .. }
            );
            if github_only {
                return crate::handler::learn_from_github(github, request, query, facts).await;
            }
        }
        match query {
            Query::Permission { .. } => {
                self.note(
                    "permission",
                    "not looked up (no GitHub token); assumed write",
                );
                facts.permission = Some(Permission::Write);
            }
            Query::PullBranches => {
                self.note(
                    "branch",
                    "not looked up (no GitHub token); assumed the pull request's own head branch",
                );
                facts.branches = Some(crate::engine::event::PullBranches {
                    head_ref: "(the pull request's head branch)".into(),
                    head_repo: Some(request.repo.name.to_string()),
                    base_ref: request.repo.default_branch.clone(),
                });
            }
            Query::IssueSession { .. } => {
                self.note(
                    "session",
                    "not looked up (needs a GitHub token and a Jules API key); assumed none",
                );
                facts.issue = Some(IssueFacts {
                    found: Found::Nothing,
                    queued_comment: None,
                });
            }
            Query::Activities { session } => {
                facts.activities.insert(session.clone(), Vec::new());
            }
            Query::Reread { session } => {
                let before = found_session(facts, session).unwrap_or_default();
                let activities = facts.activities.get(session).cloned().unwrap_or_default();
                facts.reread.insert(session.clone(), (before, activities));
            }
            Query::StaleBase { .. } => facts.stale_base = Some(None),
            Query::EarlierAttempt { .. } => facts.earlier_attempt = Some(None),
            Query::Admission { .. } => facts.admission = Some(Admission::Go),
            Query::FixerSessions => {
                self.note(
                    "ci fixer",
                    "earlier fixer sessions not looked up (no Jules API key); assumed none",
                );
                facts.fixer_sessions = Some(Vec::new());
            }
            Query::FixerIssue => facts.fixer_issue = Some(None),
            Query::SessionOfPull { .. } => facts.pull_session = Some(None),
            Query::FailedJobs { .. } => facts.failed_jobs = Some(Vec::new()),
            Query::ReviewComments { .. } => {
                self.note(
                    "review",
                    "line comments not looked up (no GitHub token); assumed none",
                );
                facts.review_comments = Some(Vec::new());
            }
        }
        Ok(())
    }
}

/// The issue's session as found, if it is `name`.
fn found_session(facts: &Facts, name: &str) -> Option<Session> {
    match &facts.issue.as_ref()?.found {
        Found::Session(found) if found.session.name == name => Some(found.session.clone()),
        _ => None,
    }
}

#[async_trait::async_trait]
impl Shell for Rehearsal<'_> {
    fn mode(&self) -> Mode {
        Mode::Action
    }

    async fn learn(
        &self,
        request: &Request<'_>,
        query: &Query,
        facts: &mut Facts,
    ) -> Result<(), HandlerError> {
        // Nothing to read about a session that was only pretended.
        let pretended = match query {
            Query::Activities { session } | Query::Reread { session } => {
                session == PLACEHOLDER_SESSION
            }
            _ => false,
        };
        match self.reader() {
            Some(reader) if !pretended => reader.gather(request, query, facts).await?,
            _ => self.assume(request, query, facts).await?,
        }
        if let (Query::IssueSession { .. }, Some(issue)) = (query, &facts.issue) {
            if self.reader().is_some() {
                let found = match &issue.found {
                    Found::Nothing => "none yet".to_owned(),
                    Found::Session(found) => format!(
                        "{} ({})",
                        found.session.name,
                        crate::engine::render::state_words(&found.session.state)
                    ),
                    Found::Foreign { session, source } => {
                        format!("{session} belongs to {source}, not this repository")
                    }
                };
                self.note("session", found);
            }
        }
        if let (Query::Permission { login }, Some(permission)) = (query, &facts.permission) {
            if self.github.is_some() {
                let may = if permission.can_trigger() {
                    "may trigger"
                } else {
                    "may not trigger"
                };
                self.note(
                    "permission",
                    format!("@{login}: {} ({may})", permission.describe()),
                );
            }
        }
        Ok(())
    }

    async fn attempt(
        &self,
        _request: &Request<'_>,
        attempt: &Attempt,
        facts: &mut Facts,
        record: &mut Record,
    ) -> Result<(), HandlerError> {
        match attempt {
            Attempt::CreateSession(plan) => {
                let branch = plan
                    .new
                    .source_context
                    .as_ref()
                    .and_then(|context| context.github_repo_context.as_ref())
                    .map(|context| context.starting_branch.clone())
                    .unwrap_or_default();
                self.note(
                    "would",
                    format!("create a Jules session on `{branch}`: {}", plan.new.title),
                );
                self.note("prompt", plan.prompt.clone());
                record.prompt = Some(plan.prompt.clone());
                facts.created = Some(Ok(Session {
                    name: PLACEHOLDER_SESSION.into(),
                    state: State::Queued,
                    prompt: plan.prompt.clone(),
                    title: plan.new.title.clone(),
                    source_context: plan.new.source_context.clone(),
                    ..Session::default()
                }));
            }
            Attempt::SendMessage { session, text } => {
                self.note(
                    "would",
                    format!("send {session} the message: {}", first_line(text)),
                );
                facts.sent = true;
            }
            Attempt::ApprovePlan { session } => {
                self.note("would", format!("approve the pending plan of {session}"));
                facts.approved = true;
            }
            Attempt::Archive { session } => {
                self.note("would", format!("archive {session}"));
                facts.archived = true;
            }
            Attempt::Enqueue { .. } => {
                self.note("would", "queue the request until Jules has room");
                facts.enqueued = Some(1);
            }
            Attempt::OpenFixerIssue => {
                self.note("would", "open the CI fixer's report issue");
                facts.fixer_issue = Some(Some(0));
            }
        }
        Ok(())
    }

    async fn apply(
        &self,
        _request: &Request<'_>,
        effect: &Effect,
        _record: &mut Record,
    ) -> Result<(), HandlerError> {
        let what = match effect {
            Effect::React { comment: Some(_) } => "react 👀 to the comment".to_owned(),
            Effect::React { comment: None } => "react 👀 to the issue".to_owned(),
            Effect::Reply { reply, .. } => {
                format!("reply ({}): {}", reply.kind(), first_line(&reply.body()))
            }
            Effect::PublishStatus(update) => {
                let verb = if update.existing.is_some() {
                    "edit"
                } else {
                    "post"
                };
                format!(
                    "{verb} the status comment on #{}: {}",
                    update.issue,
                    crate::engine::render::state_words(&update.view.state)
                )
            }
            Effect::PublishQueued { existing, .. } => match existing {
                Some(_) => "edit the queued comment".to_owned(),
                None => "post a queued comment".to_owned(),
            },
            Effect::Archive { session } => format!("archive {session}"),
            Effect::ReactToReviewComment { .. } => "react 👀 to the review comment".to_owned(),
            Effect::PublishCheck { pull, view } => {
                let check = crate::engine::checks::check_run(view, &self.settings.command_prefix);
                format!(
                    "set the `{}` check run on #{pull}'s head commit: {}",
                    crate::engine::checks::NAME,
                    check.title
                )
            }
            Effect::ReplyInThread { reply, .. } => {
                format!("reply in the review thread: {}", first_line(&reply.body()))
            }
        };
        self.note("would", what);
        Ok(())
    }
}

fn first_line(text: &str) -> String {
    let line = text
        .lines()
        .find(|line| !line.trim().is_empty())
        .unwrap_or("");
    crate::engine::sanitize::truncate(line.trim(), 120)
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|line| format!("  | {line}"))
        .collect::<Vec<_>>()
        .join("\n")
}
