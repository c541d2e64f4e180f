//! What the shell learned while the core decided one piece of work. Every field starts
//! unknown (`None`); the core asks for the ones it needs, in the order it needs them, so a
//! request costs only the calls its branch requires.

use std::collections::HashMap;

use crate::engine::comment::StaleBase;
use crate::engine::event::PullBranches;
use crate::engine::marker::Marker;
use crate::engine::policy::Permission;
use crate::jules::{Activity, Session};

/// The bridge's status comment on an issue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusComment {
    pub id: u64,
    pub body: String,
}

/// The issue's session, read from Jules and proven to belong to this repository.
#[derive(Debug, Clone, PartialEq)]
pub struct IssueSession {
    pub session: Session,
    pub marker: Marker,
    /// The comment to edit; `None`: post a new status comment.
    pub comment: Option<StatusComment>,
}

/// What looking for the issue's session found.
#[derive(Debug, Clone, PartialEq)]
pub enum Found {
    /// No session (or only markers that proved nothing, or a session deleted in Jules).
    Nothing,
    Session(Box<IssueSession>),
    /// A trusted pointer (the store, or a validly signed marker) names a session of another
    /// repository. Nothing may be done with it.
    Foreign {
        session: String,
        source: String,
    },
}

/// The issue as one comment listing shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct IssueFacts {
    pub found: Found,
    /// The bridge's "queued" comment of an earlier request (server mode): it becomes the
    /// status comment when the session starts.
    pub queued_comment: Option<u64>,
}

/// Whether a new session may start now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    Go,
    Queued { position: i64, reason: String },
}

/// Why Jules did not create a session, as far as the people on the issue are concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreateFailure {
    /// The account is at its concurrent or daily session limit.
    AtLimit,
    /// Jules rejected the API key.
    Unauthenticated,
    /// Jules does not know this repository (it is not connected).
    SourceNotFound,
    /// Anything else; `transient` when another attempt may succeed.
    Other { transient: bool },
}

/// Everything learned for one piece of work.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Facts {
    pub permission: Option<Permission>,
    pub branches: Option<PullBranches>,
    pub issue: Option<IssueFacts>,
    /// Activities by session name.
    pub activities: HashMap<String, Vec<Activity>>,
    /// Sessions read again (with their activities) after an effect, by name.
    pub reread: HashMap<String, (Session, Vec<Activity>)>,
    /// `Some(None)`: up to date, or GitHub could not tell.
    pub stale_base: Option<Option<StaleBase>>,
    pub earlier_attempt: Option<Option<Session>>,
    pub admission: Option<Admission>,
    pub fixer_sessions: Option<Vec<Session>>,
    /// `Some(None)`: there is no open report issue.
    pub fixer_issue: Option<Option<u64>>,
    pub failed_jobs: Option<Vec<String>>,
    /// `Some(None)`: no session of this repository opened the pull request.
    pub pull_session: Option<Option<Session>>,
    pub review_comments: Option<Vec<crate::engine::event::ReviewComment>>,
    // Results of attempts.
    pub created: Option<Result<Session, CreateFailure>>,
    pub sent: bool,
    pub approved: bool,
    pub archived: bool,
    pub enqueued: Option<i64>,
}
