//! The vocabulary between the decision core and the shells: what the core asks to know
//! ([`Query`]), what it asks to be done ([`Effect`]), and how a request ended ([`Verdict`]).

use crate::engine::status::SessionView;
use crate::jules::{NewSession, Session};

use super::facts::StatusComment;
use crate::engine::comment::Reply;

/// The next thing a shell must do for a request.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Learn one fact (a read from GitHub, Jules or the store) and ask again.
    Need(Query),
    /// Carry out one effect whose result decides what follows, learn that result, and ask
    /// again.
    Try(Attempt),
    /// Carry out these effects, in order; then the request has ended with `finish`.
    Plan(Plan),
}

/// The last effects of a request and how it ends.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub effects: Vec<Effect>,
    pub finish: Finish,
}

impl Plan {
    pub(crate) fn then(
        effects: Vec<Effect>,
        action: ActionTaken,
        reason: impl Into<String>,
    ) -> Step {
        Step::Plan(Plan {
            effects,
            finish: Finish::Verdict(Verdict {
                action,
                reason: reason.into(),
            }),
        })
    }

    pub(crate) fn only(action: ActionTaken, reason: impl Into<String>) -> Step {
        Plan::then(Vec::new(), action, reason)
    }
}

/// How a request ends.
#[derive(Debug, Clone, PartialEq)]
pub enum Finish {
    Verdict(Verdict),
    /// The attempt failed with the error of the last effect tried: the shell returns that
    /// error (a server worker retries it when another attempt can help).
    FailWithLastError,
    /// The event cannot be acted on (a configuration mistake); not retried.
    Invalid(String),
}

/// What the bridge did, and why in one sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub action: ActionTaken,
    pub reason: String,
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
    /// The session was archived (`/jules stop`, its pull request closed).
    Stopped,
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
            ActionTaken::Stopped => "stopped",
            ActionTaken::Failed => "failed",
        }
    }
}

/// A fact the core needs. Each is one read; none changes anything on GitHub or in Jules
/// (admission takes a turn in the store's queue, which is released when the request ends).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Query {
    /// The permission of `login` on the repository.
    Permission { login: String },
    /// The pull request's branches (a command on a pull request).
    PullBranches,
    /// The issue's session (the store's mapping or a signed marker, read from Jules and
    /// checked to belong to this repository) and the thread's "queued" comment, from one
    /// comment listing.
    IssueSession { issue: u64 },
    /// The activities of a session.
    Activities { session: String },
    /// A session read again after an effect changed it.
    Reread { session: String },
    /// How far the session's pull request is behind its base.
    StaleBase { base: String, head: String },
    /// A session an earlier attempt of this same request created (found by its tag).
    EarlierAttempt { tag: String },
    /// Whether the repository's limits and Jules' plan admit a session now.
    Admission { issue: u64 },
    /// The CI fixer's sessions of this repository from the last 24 hours.
    FixerSessions,
    /// The CI fixer's open report issue, if there is one.
    FixerIssue,
    /// The names of the failed jobs of a workflow run.
    FailedJobs { run: u64 },
    /// The session of this repository whose pull request this is (found in Jules' session
    /// list, newest first, within the last 30 days).
    SessionOfPull { pull: u64 },
    /// The line comments of a review of the pull request.
    ReviewComments { review: u64 },
}

/// An effect whose result the core needs before it can go on.
#[derive(Debug, Clone, PartialEq)]
pub enum Attempt {
    /// Create a session (exactly once: it carries a request tag). Learned: `Created`.
    CreateSession(Box<NewSessionPlan>),
    /// Send a message. Learned: `Sent`.
    SendMessage { session: String, text: String },
    /// Approve the pending plan. Learned: `Approved`.
    ApprovePlan { session: String },
    /// Archive a session on purpose (`/jules stop`, its pull request closed). Learned:
    /// `archived`.
    Archive { session: String },
    /// Jules is at its limit: put the request in the store's queue. Learned: `Enqueued`.
    Enqueue { issue: u64 },
    /// Open the CI fixer's report issue. Learned: `FixerIssue`.
    OpenFixerIssue,
}

/// A session to create, with what the shell reports about it.
#[derive(Debug, Clone, PartialEq)]
pub struct NewSessionPlan {
    pub new: NewSession,
    /// The whole prompt (also in `new`), for the Action's outputs.
    pub prompt: String,
}

/// An effect that needs no answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// 👀 on the triggering comment, or on the issue for a label. A courtesy: its failure is
    /// logged, never fatal.
    React { comment: Option<u64> },
    /// A reply on the issue, posted at most once per request (its kind numbers its key).
    Reply { issue: u64, reply: Reply },
    /// 👀 on a review comment (a courtesy, like `React`).
    ReactToReviewComment { comment: u64 },
    /// A reply in the review thread of `comment`, posted at most once per request.
    ReplyInThread { comment: u64, reply: Reply },
    /// Post or edit the issue's one status comment.
    PublishStatus(Box<StatusUpdate>),
    /// Create or update the session's `Jules` check run on the pull request's head commit.
    /// A courtesy: without the `checks: write` permission it is logged, never fatal.
    PublishCheck { pull: u64, view: Box<SessionView> },
    /// Post the "queued" comment, or edit the one an earlier request left.
    PublishQueued {
        issue: u64,
        existing: Option<u64>,
        text: String,
    },
    /// Archive a session that `/jules new` replaced. Best effort: the new session exists
    /// either way, so a failure is logged, not retried.
    Archive { session: String },
}

/// The status comment of `issue`, showing `view`.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusUpdate {
    pub issue: u64,
    pub session: Session,
    pub view: SessionView,
    pub requester: Option<String>,
    /// The comment to edit; `None`: post one.
    pub existing: Option<StatusComment>,
    /// A line shown above the marker (a notice about the last request).
    pub notice: Option<String>,
}
