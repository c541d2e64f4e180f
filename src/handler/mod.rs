//! Acting on one event: the orchestration shared by the Action and the webhook server.
//!
//! The pure decisions live in [`crate::engine`]; this module performs them against GitHub and
//! Jules, in this order: ignore what is not for us, check who sent it, acknowledge with 👀,
//! then start, message, approve or refresh a session, and always leave a visible trace on
//! the issue. The session of an issue is the store's (server) or the one the status comment's
//! signed marker names (Action), and is always checked to belong to this repository before
//! anything is done with it (`status.rs`).

pub mod follow;
mod session;
mod status;

use crate::engine::ci_fixer::CiFixerPolicy;
use crate::engine::command::{new_commands, parse_commands, take_anyway, Command, CommandError};
use crate::engine::event::{Actor, Comment, Event, EventKind, Issue, PullBranches, RepoName};
use crate::engine::marker::MarkerKey;
use crate::engine::policy::{check_sender, SenderCheck};
use crate::engine::render;
use crate::engine::status::SessionView;
use crate::github::{GitHubClient, GitHubError};
use crate::jules::{AutomationMode, JulesClient, JulesError, Session};

pub use status::{belongs_to, Found, IssueSession, StatusComment};

/// What asked for a session: how an issue's existing session is treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Trigger {
    /// The trigger label: never a second session while one is active.
    Label,
    /// `/jules <text>`: a message to the active session, checked first for a stale base
    /// unless `--anyway`.
    Message { anyway: bool },
    /// `/jules new <text>`: a fresh session; the active one is archived.
    Fresh,
}

/// How the bridge behaves for one repository.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The label that starts a session (never `jules`: Jules' own App acts on that one).
    pub trigger_label: String,
    /// The comment command prefix.
    pub command_prefix: String,
    pub require_plan_approval: bool,
    pub automation_mode: AutomationMode,
    /// Overrides the starting branch (default: the PR's head branch, else the default branch).
    pub starting_branch: Option<String>,
    /// Bots allowed to trigger (logins, with or without `[bot]`).
    pub allowed_bots: Vec<String>,
    /// The logins the bridge posts as: its own comments never trigger it.
    pub own_logins: Vec<String>,
    /// Signs and verifies the status comments' markers (docs/security.md).
    pub marker_key: MarkerKey,
    /// The prompt for dispatch/schedule events, or an extra instruction for labels.
    pub prompt: Option<String>,
    pub title: Option<String>,
    /// A link to the workflow run (Action mode), shown in the status comment.
    pub run_url: Option<String>,
    /// Identifies the trigger (a workflow run id, a delivery id) for exactly-once creation.
    pub trigger_id: String,
    /// Before creating, look for a session made by an earlier attempt of this same trigger
    /// (a retried delivery whose first attempt crashed after the create), created since
    /// this instant; `None` on a first attempt.
    pub recheck_before_create: Option<chrono::DateTime<chrono::Utc>>,
    /// Whether a failure to create is this request's last word: then the people on the
    /// issue are told. A server attempt that will be retried stays quiet.
    pub final_attempt: bool,
    /// Sessions of this repository that may run at once (server mode; `None`: no limit).
    pub max_concurrent_sessions: Option<u32>,
    /// Sessions this repository may start per UTC day (server mode; `None`: no limit).
    pub daily_session_budget: Option<u32>,
    /// The repository's prompt template (`{instruction}`, `{context}`, ...), if any.
    pub prompt_template: Option<String>,
    /// Whether failed workflow runs start fix sessions, and which (`None`: off; the server's
    /// default until a repository opts in).
    pub ci_fixer: Option<CiFixerPolicy>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            trigger_label: "jules-bridge".into(),
            command_prefix: "/jules".into(),
            require_plan_approval: true,
            automation_mode: AutomationMode::AutoCreatePr,
            starting_branch: None,
            allowed_bots: Vec::new(),
            own_logins: vec!["github-actions[bot]".into()],
            marker_key: MarkerKey::unkeyed(),
            prompt: None,
            title: None,
            run_url: None,
            trigger_id: String::new(),
            recheck_before_create: None,
            final_attempt: true,
            max_concurrent_sessions: None,
            daily_session_budget: None,
            prompt_template: None,
            ci_fixer: None,
        }
    }
}

/// What the bridge did, for outputs, summaries and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionTaken {
    Created,
    Messaged,
    Approved,
    Status,
    Help,
    Refused,
    Ignored,
    /// Over the repository's limits, or Jules is at its limit: waiting for a slot.
    Queued,
    Failed,
}

impl ActionTaken {
    pub fn as_str(&self) -> &'static str {
        match self {
            ActionTaken::Created => "created",
            ActionTaken::Messaged => "messaged",
            ActionTaken::Approved => "approved",
            ActionTaken::Status => "status",
            ActionTaken::Help => "help",
            ActionTaken::Refused => "refused",
            ActionTaken::Ignored => "ignored",
            ActionTaken::Queued => "queued",
            ActionTaken::Failed => "failed",
        }
    }
}

/// The result of handling one event.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub action: ActionTaken,
    /// Why, in one sentence.
    pub reason: String,
    pub session: Option<Session>,
    pub view: Option<SessionView>,
    /// The prompt sent to Jules, when a session was created.
    pub prompt: Option<String>,
    /// Where the session is reported.
    pub report: Option<Report>,
    /// A session this request archived (`/jules new`): no longer relayed.
    pub archived: Option<String>,
}

/// The issue or pull request a session reports to, and its status comment.
#[derive(Debug, Clone)]
pub struct Report {
    pub repo: RepoName,
    pub issue: u64,
    pub status_comment_id: Option<u64>,
    pub requester: Option<String>,
}

impl Outcome {
    fn new(action: ActionTaken, reason: impl Into<String>) -> Self {
        Outcome {
            action,
            reason: reason.into(),
            session: None,
            view: None,
            prompt: None,
            report: None,
            archived: None,
        }
    }

    fn ignored(reason: impl Into<String>) -> Self {
        Outcome::new(ActionTaken::Ignored, reason)
    }
}

/// A failure the user was (if possible) told about on the issue.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    #[error("Jules: {0}")]
    Jules(#[from] JulesError),
    #[error("GitHub: {0}")]
    GitHub(#[from] GitHubError),
    #[error("{0}")]
    Event(String),
    #[error("store: {0}")]
    Store(String),
}

/// Decides whether a new session may start now (server mode: repository limits and Jules'
/// own limit); a request that may not is queued and started later.
#[async_trait::async_trait]
pub trait CreateGate: Send + Sync {
    /// Checks the repository's limits; over them, the request is queued.
    async fn admit(
        &self,
        repo: &RepoName,
        issue: u64,
        settings: &Settings,
    ) -> Result<Admission, HandlerError>;
    /// Jules answered "at limit": queue the request; returns its position.
    async fn queue(&self, repo: &RepoName, issue: u64) -> Result<i64, HandlerError>;
    /// Records that this request's reply `key` is being posted: false when an earlier
    /// attempt of the same request already posted it.
    async fn first_reply(&self, key: &str) -> Result<bool, HandlerError>;
    /// The post of reply `key` failed: a later attempt may post it.
    async fn forget_reply(&self, key: &str) -> Result<(), HandlerError>;
    /// The session the store maps this issue to (the newest), if any: in server mode the
    /// source of truth for "which session is this issue's".
    async fn tracked_session(
        &self,
        repo: &RepoName,
        issue: u64,
    ) -> Result<Option<TrackedRef>, HandlerError>;
}

/// An issue's session as the store records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackedRef {
    pub name: String,
    pub status_comment_id: Option<u64>,
    pub requester: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    Go,
    Queued { position: i64, reason: String },
}

/// Handles events for one repository with one GitHub identity.
pub struct Handler<'a> {
    pub github: &'a GitHubClient,
    pub jules: &'a JulesClient,
    pub settings: &'a Settings,
    /// Limits and queueing (server mode); `None` starts sessions right away.
    pub gate: Option<&'a dyn CreateGate>,
    /// How many replies of each kind this request posted, for their once-only keys.
    pub replies: ReplyCounter,
}

/// Numbers the replies of one request per kind (`refused#1`, `help#1`, `help#2`): the same
/// request, retried, gives its replies the same keys, so none is posted twice.
#[derive(Debug, Default)]
pub struct ReplyCounter(std::sync::Mutex<std::collections::HashMap<&'static str, u32>>);

impl ReplyCounter {
    fn next_key(&self, kind: &'static str) -> String {
        let mut counts = self.0.lock().unwrap_or_else(|poison| poison.into_inner());
        let n = counts.entry(kind).or_default();
        *n += 1;
        format!("{kind}#{n}")
    }
}

/// The issue-scoped context of a request.
struct Request<'e> {
    repo: &'e RepoName,
    default_branch: &'e str,
    issue: &'e Issue,
    sender: &'e Actor,
    /// The triggering comment, if any (for the 👀 reaction and the request tag).
    comment: Option<&'e Comment>,
}

impl Handler<'_> {
    /// Posts a reply (not the status comment) at most once per request: in server mode the
    /// store records it before it is posted, and a retried delivery skips it.
    async fn reply(
        &self,
        repo: &RepoName,
        issue: u64,
        kind: &'static str,
        text: &str,
    ) -> Result<(), HandlerError> {
        let key = self.replies.next_key(kind);
        if let Some(gate) = self.gate {
            if !gate.first_reply(&key).await? {
                tracing::debug!(%key, "reply already posted by an earlier attempt");
                return Ok(());
            }
            if let Err(error) = self.github.create_comment(repo, issue, text).await {
                gate.forget_reply(&key).await?;
                return Err(error.into());
            }
            return Ok(());
        }
        self.github.create_comment(repo, issue, text).await?;
        Ok(())
    }

    /// Handles one event. `Err` means something failed that the user could not be told
    /// about on GitHub, or that the caller should retry.
    pub async fn handle(&self, event: &Event) -> Result<Outcome, HandlerError> {
        let Some(repo) = event.repo.as_ref() else {
            return Ok(Outcome::ignored("the event has no repository"));
        };
        let sender = event.sender.clone().unwrap_or(Actor {
            login: String::new(),
            is_bot: false,
        });
        let request = |issue, comment| Request {
            repo: &repo.name,
            default_branch: &repo.default_branch,
            issue,
            sender: &sender,
            comment,
        };
        match &event.kind {
            EventKind::IssueLabeled { issue, label } => {
                if !label.eq_ignore_ascii_case(&self.settings.trigger_label) {
                    return Ok(Outcome::ignored(format!(
                        "label `{label}` is not the trigger label `{}`",
                        self.settings.trigger_label
                    )));
                }
                self.labeled(&request(issue, None), None).await
            }
            EventKind::PullRequestLabeled {
                issue,
                branches,
                label,
            } => {
                if !label.eq_ignore_ascii_case(&self.settings.trigger_label) {
                    return Ok(Outcome::ignored(format!(
                        "label `{label}` is not the trigger label `{}`",
                        self.settings.trigger_label
                    )));
                }
                self.labeled(&request(issue, None), Some(branches)).await
            }
            EventKind::CommentCreated { issue, comment } => {
                let commands = parse_commands(&comment.body, &self.settings.command_prefix);
                self.commented(&request(issue, Some(comment)), commands)
                    .await
            }
            EventKind::CommentEdited {
                issue,
                comment,
                previous_body,
            } => {
                let commands =
                    new_commands(previous_body, &comment.body, &self.settings.command_prefix);
                self.commented(&request(issue, Some(comment)), commands)
                    .await
            }
            EventKind::Dispatch { scheduled } => self.dispatched(repo, &sender, *scheduled).await,
            EventKind::WorkflowRunFailed { run } => self.ci_failed(repo, run).await,
            EventKind::Ignored { reason } => Ok(Outcome::ignored(reason.clone())),
            EventKind::IssueClosed { .. } => Ok(Outcome::ignored("closed issues need no action")),
            EventKind::Installation { .. } | EventKind::Push { .. } | EventKind::Ping => {
                Ok(Outcome::ignored("nothing to do for this event"))
            }
        }
    }

    /// The trigger label was added to an issue or pull request.
    async fn labeled(
        &self,
        request: &Request<'_>,
        branches: Option<&PullBranches>,
    ) -> Result<Outcome, HandlerError> {
        if let Some(outcome) = self.authorize(request).await? {
            return Ok(outcome);
        }
        if let Err(error) = self
            .github
            .react_to_issue(request.repo, request.issue.number)
            .await
        {
            // 👀 is a courtesy: its failure must not stop the work.
            tracing::warn!(%error, "could not add the reaction");
        }
        let branch = match branches {
            Some(branches) if branches.is_fork_of(request.repo) => {
                let text = render::fork_pull_request(branches.head_repo.as_deref());
                self.reply(request.repo, request.issue.number, "fork", &text)
                    .await?;
                return Ok(Outcome::new(
                    ActionTaken::Refused,
                    "the pull request comes from a fork; Jules can only work on this repository's branches",
                ));
            }
            Some(branches) => branches.head_ref.clone(),
            None => request.default_branch.to_owned(),
        };
        let instruction = self.settings.prompt.clone();
        self.start_or_continue(request, instruction.as_deref(), &branch, Trigger::Label)
            .await
    }

    /// A comment with zero or more commands.
    async fn commented(
        &self,
        request: &Request<'_>,
        commands: Vec<Result<Command, CommandError>>,
    ) -> Result<Outcome, HandlerError> {
        if commands.is_empty() {
            return Ok(Outcome::ignored("the comment has no command"));
        }
        if let Some(outcome) = self.authorize(request).await? {
            return Ok(outcome);
        }
        if let Some(comment) = request.comment {
            if let Err(error) = self.github.react_to_comment(request.repo, comment.id).await {
                tracing::warn!(%error, "could not add the reaction");
            }
        }
        let mut last = Outcome::ignored("no command ran");
        for command in commands {
            last = match command {
                Ok(command) => self.run_command(request, command).await?,
                Err(CommandError::Malformed { line, reason }) => {
                    let text = render::malformed_command(
                        &line,
                        &reason,
                        &self.settings.command_prefix,
                        &self.settings.trigger_label,
                    );
                    self.reply(request.repo, request.issue.number, "malformed", &text)
                        .await?;
                    Outcome::new(ActionTaken::Help, format!("malformed command: {reason}"))
                }
            };
        }
        Ok(last)
    }

    async fn run_command(
        &self,
        request: &Request<'_>,
        command: Command,
    ) -> Result<Outcome, HandlerError> {
        match command {
            Command::Run(ref text) | Command::New(ref text) => {
                let branch = if request.issue.is_pull_request {
                    let branches = self
                        .github
                        .pull_branches(request.repo, request.issue.number)
                        .await?;
                    if branches.is_fork_of(request.repo) {
                        let text = render::fork_pull_request(branches.head_repo.as_deref());
                        self.reply(request.repo, request.issue.number, "fork", &text)
                            .await?;
                        return Ok(Outcome::new(
                            ActionTaken::Refused,
                            "the pull request comes from a fork",
                        ));
                    }
                    branches.head_ref
                } else {
                    request.default_branch.to_owned()
                };
                let (text, trigger) = match &command {
                    Command::New(_) => (text.clone(), Trigger::Fresh),
                    _ => {
                        let (text, anyway) = take_anyway(text);
                        (text, Trigger::Message { anyway })
                    }
                };
                self.start_or_continue(request, Some(&text), &branch, trigger)
                    .await
            }
            Command::Approve { plan } => self.approve(request, plan.as_deref()).await,
            Command::Status => self.refresh(request).await,
            Command::Help => {
                let text =
                    render::help(&self.settings.command_prefix, &self.settings.trigger_label);
                self.reply(request.repo, request.issue.number, "help", &text)
                    .await?;
                Ok(Outcome::new(ActionTaken::Help, "replied with the commands"))
            }
        }
    }

    /// `None` when `actor` may start a session in `repo`; otherwise the outcome, with no
    /// reply (for events that have no conversation to answer in, like a failed run).
    async fn authorize_quietly(
        &self,
        repo: &RepoName,
        actor: &Actor,
    ) -> Result<Option<Outcome>, HandlerError> {
        match check_sender(
            actor,
            &self.settings.own_logins,
            &self.settings.allowed_bots,
        ) {
            SenderCheck::Ourselves => Ok(Some(Outcome::ignored("the bridge's own activity"))),
            SenderCheck::UntrustedBot => Ok(Some(Outcome::ignored(format!(
                "{} is a bot that is not in allowed-bots",
                actor.login
            )))),
            SenderCheck::TrustedBot => Ok(None),
            SenderCheck::CheckPermission => {
                let permission = self.github.permission(repo, &actor.login).await?;
                if permission.can_trigger() {
                    Ok(None)
                } else {
                    Ok(Some(Outcome::new(
                        ActionTaken::Refused,
                        format!(
                            "{} has {} access; write access is required",
                            actor.login,
                            permission.describe()
                        ),
                    )))
                }
            }
        }
    }

    /// `None` when the sender may act; otherwise the outcome (ignored or refused, with the
    /// one polite reply already posted for people without write access).
    async fn authorize(&self, request: &Request<'_>) -> Result<Option<Outcome>, HandlerError> {
        let sender = request.sender;
        match check_sender(
            sender,
            &self.settings.own_logins,
            &self.settings.allowed_bots,
        ) {
            SenderCheck::Ourselves => {
                return Ok(Some(Outcome::ignored("the bridge's own activity")));
            }
            SenderCheck::UntrustedBot => {
                return Ok(Some(Outcome::ignored(format!(
                    "{} is a bot that is not in allowed-bots",
                    sender.login
                ))));
            }
            SenderCheck::TrustedBot => return Ok(None),
            SenderCheck::CheckPermission => {}
        }
        let permission = self.github.permission(request.repo, &sender.login).await?;
        if permission.can_trigger() {
            return Ok(None);
        }
        let text = render::refused(&sender.login, &permission.describe());
        self.reply(request.repo, request.issue.number, "refused", &text)
            .await?;
        Ok(Some(Outcome::new(
            ActionTaken::Refused,
            format!(
                "{} has {} access; write access is required",
                sender.login,
                permission.describe()
            ),
        )))
    }
}
