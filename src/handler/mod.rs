//! Carrying out the decision core's answers: the shell shared by the Action and the webhook
//! server (and, read-only, by `simulate`).
//!
//! [`drive`] asks [`crate::engine::decide`] what to do about an event and does it through a
//! [`Shell`]: learn a fact, try an effect whose result matters, or carry out the final plan.
//! Nothing here decides: which session an issue has, who may act, what is posted and when a
//! request waits are all the core's. [`Handler`] is the live shell (GitHub, Jules and, in
//! server mode, the store); `crate::simulate` has the read-only one.

mod apply;
mod checks;
pub mod follow;
mod gather;
mod status;

use crate::engine::decide::{self, Finish, Intake, Mode, Opening, Request, Step, Work};
use crate::engine::event::{Actor, Event, RepoName};
use crate::engine::status::SessionView;
use crate::github::{GitHubClient, GitHubError};
use crate::jules::{JulesClient, JulesError, Session};

pub use crate::engine::decide::{
    belongs_to, ActionTaken, Admission, Facts, Found, IssueSession, StatusComment,
};
pub use crate::engine::settings::Settings;
pub(crate) use gather::learn_from_github;

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
    /// `issue` is a pull request: the session's check run is on it.
    pub on_pull: bool,
    pub status_comment_id: Option<u64>,
    pub requester: Option<String>,
}

impl Outcome {
    fn ignored(reason: impl Into<String>) -> Self {
        Record::default().into_outcome(ActionTaken::Ignored, reason.into())
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

impl HandlerError {
    /// Whether another attempt of the whole request can help: Jules or GitHub said "later"
    /// (rate limits, 5xx, Jules at its limit, the network), or a body could not be read (a
    /// truncated answer). A permanent answer (a source Jules cannot see, a rejected key, a
    /// missing issue, a validation error) is not: the people on the issue hear about it once,
    /// not once per attempt. The one rule for the server's deliveries and for what the core
    /// is told about a failed create.
    pub fn worth_another_attempt(&self) -> bool {
        match self {
            HandlerError::Event(_) => false,
            HandlerError::Jules(jules) => {
                crate::jules::retry::is_transient(jules, crate::jules::retry::Safety::Idempotent)
                    || matches!(jules, JulesError::Decode { .. })
            }
            HandlerError::GitHub(github) => github.is_transient(),
            HandlerError::Store(_) => true,
        }
    }
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

/// What the shell kept while carrying out a request, for the outcome.
#[derive(Debug, Default)]
pub struct Record {
    pub session: Option<Session>,
    pub view: Option<SessionView>,
    pub prompt: Option<String>,
    pub report: Option<Report>,
    pub archived: Option<String>,
    /// The error of the last attempt that failed (a create the core answers by reporting it).
    pub last_error: Option<HandlerError>,
}

impl Record {
    fn into_outcome(self, action: ActionTaken, reason: String) -> Outcome {
        Outcome {
            action,
            reason,
            session: self.session,
            view: self.view,
            prompt: self.prompt,
            report: self.report,
            archived: self.archived,
        }
    }

    fn finish(mut self, finish: Finish) -> Result<Outcome, HandlerError> {
        match finish {
            Finish::Verdict(verdict) => Ok(self.into_outcome(verdict.action, verdict.reason)),
            Finish::FailWithLastError => Err(self.last_error.take().unwrap_or_else(|| {
                HandlerError::Event("the request failed without an error to report".into())
            })),
            Finish::Invalid(message) => Err(HandlerError::Event(message)),
        }
    }
}

/// What a shell does for the core: learn facts and carry out effects.
#[async_trait::async_trait]
pub trait Shell: Sync {
    /// Which mode's rules apply (the Action's or the server's).
    fn mode(&self) -> Mode;
    /// Learns the fact `query` asks for into `facts`.
    async fn learn(
        &self,
        request: &Request<'_>,
        query: &decide::Query,
        facts: &mut Facts,
    ) -> Result<(), HandlerError>;
    /// Carries out an effect whose result the core needs, and learns the result.
    async fn attempt(
        &self,
        request: &Request<'_>,
        attempt: &decide::Attempt,
        facts: &mut Facts,
        record: &mut Record,
    ) -> Result<(), HandlerError>;
    /// Carries out an effect of the final plan.
    async fn apply(
        &self,
        request: &Request<'_>,
        effect: &decide::Effect,
        record: &mut Record,
    ) -> Result<(), HandlerError>;
}

/// More steps than any branch of the core takes: a core that keeps asking is a bug, and
/// must fail the request rather than loop.
const MAX_STEPS: usize = 32;

/// Handles one event through `shell`. `Err` means something failed that the user could not
/// be told about on GitHub, or that the caller should retry.
pub async fn drive(
    shell: &dyn Shell,
    event: &Event,
    settings: &Settings,
) -> Result<Outcome, HandlerError> {
    let intake = decide::intake(event, settings);
    let repo = match (&intake, &event.repo) {
        (Intake::Ignore(reason), _) => return Ok(Outcome::ignored(reason.clone())),
        (_, None) => return Ok(Outcome::ignored("the event has no repository")),
        (_, Some(repo)) => repo,
    };
    let nobody = Actor {
        login: String::new(),
        is_bot: false,
    };
    let request = Request {
        settings,
        repo,
        mode: shell.mode(),
        sender: event.sender.as_ref().unwrap_or(&nobody),
        issue: None,
        comment: None,
    };
    match &intake {
        Intake::Ignore(_) => unreachable!("answered above"),
        Intake::Unattended { issue, work } => {
            let request = Request {
                issue: issue.as_ref(),
                ..request
            };
            run(shell, &request, work, Facts::default()).await
        }
        Intake::Conversation(conversation) => {
            let request = Request {
                sender: &conversation.sender,
                issue: Some(&conversation.issue),
                comment: conversation.comment.as_ref(),
                ..request
            };
            let mut facts = Facts::default();
            let mut record = Record::default();
            let mut steps = 0;
            let effects = loop {
                match decide::open(conversation, settings, &facts) {
                    Opening::Proceed(effects) => break effects,
                    Opening::Step(step) => {
                        if let Some(outcome) =
                            take(shell, &request, step, &mut facts, &mut record, &mut steps).await?
                        {
                            return Ok(outcome);
                        }
                    }
                }
            };
            for effect in &effects {
                shell.apply(&request, effect, &mut record).await?;
            }
            let mut last = Outcome::ignored("no command ran");
            for work in &conversation.work {
                // Each command sees the issue as the commands before it left it; who asked
                // is settled once.
                let fresh = Facts {
                    permission: facts.permission.clone(),
                    ..Facts::default()
                };
                last = run(shell, &request, work, fresh).await?;
            }
            Ok(last)
        }
    }
}

/// Decides and carries out one piece of work.
async fn run(
    shell: &dyn Shell,
    request: &Request<'_>,
    work: &Work,
    mut facts: Facts,
) -> Result<Outcome, HandlerError> {
    let mut record = Record::default();
    let mut steps = 0;
    loop {
        let step = decide::decide(request, work, &facts);
        if let Some(outcome) =
            take(shell, request, step, &mut facts, &mut record, &mut steps).await?
        {
            return Ok(outcome);
        }
    }
}

/// Takes one step; `Some` when the work has ended.
async fn take(
    shell: &dyn Shell,
    request: &Request<'_>,
    step: Step,
    facts: &mut Facts,
    record: &mut Record,
    steps: &mut usize,
) -> Result<Option<Outcome>, HandlerError> {
    *steps += 1;
    if *steps > MAX_STEPS {
        return Err(HandlerError::Event(format!(
            "the decision did not settle in {MAX_STEPS} steps (last: {step:?})"
        )));
    }
    match step {
        Step::Need(query) => shell.learn(request, &query, facts).await?,
        Step::Try(attempt) => shell.attempt(request, &attempt, facts, record).await?,
        Step::Plan(plan) => {
            for effect in &plan.effects {
                shell.apply(request, effect, record).await?;
            }
            return std::mem::take(record).finish(plan.finish).map(Some);
        }
    }
    Ok(None)
}

/// The live shell: one repository, one GitHub identity.
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

#[async_trait::async_trait]
impl Shell for Handler<'_> {
    fn mode(&self) -> Mode {
        self.live_mode()
    }

    async fn learn(
        &self,
        request: &Request<'_>,
        query: &decide::Query,
        facts: &mut Facts,
    ) -> Result<(), HandlerError> {
        self.gather(request, query, facts).await
    }

    async fn attempt(
        &self,
        request: &Request<'_>,
        attempt: &decide::Attempt,
        facts: &mut Facts,
        record: &mut Record,
    ) -> Result<(), HandlerError> {
        self.carry_out(request, attempt, facts, record).await
    }

    async fn apply(
        &self,
        request: &Request<'_>,
        effect: &decide::Effect,
        record: &mut Record,
    ) -> Result<(), HandlerError> {
        self.apply_effect(request, effect, record).await
    }
}

impl Handler<'_> {
    /// Handles one event. `Err` means something failed that the user could not be told
    /// about on GitHub, or that the caller should retry.
    pub async fn handle(&self, event: &Event) -> Result<Outcome, HandlerError> {
        drive(self, event, self.settings).await
    }
}
