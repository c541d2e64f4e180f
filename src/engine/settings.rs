//! How the bridge behaves: the repository's policy ([`Settings`]), who the bridge is
//! ([`Identity`]) and what this attempt of a request is ([`Attempt`]).

use super::ci_fixer::CiFixerPolicy;
use super::marker::MarkerKey;
use crate::jules::AutomationMode;

/// How the bridge behaves for one repository.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The label that starts a session (never `jules`: Jules' own App acts on that one).
    pub trigger_label: String,
    /// The comment command prefix.
    pub command_prefix: String,
    pub require_plan_approval: bool,
    /// Archive a session when its pull request is merged or closed.
    pub archive_on_close: bool,
    /// Mirror a session on a pull request as its `Jules` check run.
    pub check_runs: bool,
    pub automation_mode: AutomationMode,
    /// Overrides the starting branch (default: the PR's head branch, else the default branch).
    pub starting_branch: Option<String>,
    /// Bots allowed to trigger (logins, with or without `[bot]`).
    pub allowed_bots: Vec<String>,
    /// Who the bridge is.
    pub identity: Identity,
    /// The prompt for dispatch/schedule events, or an extra instruction for labels.
    pub prompt: Option<String>,
    pub title: Option<String>,
    /// This attempt of the request.
    pub attempt: Attempt,
    /// Sessions of this repository that may run at once (server mode; `None`: no limit).
    pub max_concurrent_sessions: Option<u32>,
    /// Sessions this repository may start per UTC day (server mode; `None`: no limit).
    pub daily_session_budget: Option<u32>,
    /// The repository's prompt template (`{instruction}`, `{context}`, ...), if any.
    pub prompt_template: Option<String>,
    /// Whether failed workflow runs start fix sessions, and which (`None`: off; the server's
    /// default until a repository opts in).
    pub ci_fixer: Option<CiFixerPolicy>,
    /// A working session with no new activity this long gets one line on its status comment
    /// and one mention of the requester (server mode; 0: off).
    pub stall_minutes: u32,
    /// A plan or question unanswered this long gets one reminder (server mode; 0: off).
    pub remind_hours: u32,
}

/// Who the bridge is on GitHub.
#[derive(Debug, Clone)]
pub struct Identity {
    /// The logins the bridge posts as: its own comments never trigger it.
    pub own_logins: Vec<String>,
    /// Signs and verifies the status comments' markers (docs/security.md).
    pub marker_key: MarkerKey,
}

impl Default for Identity {
    fn default() -> Self {
        Identity {
            own_logins: vec!["github-actions[bot]".into()],
            marker_key: MarkerKey::unkeyed(),
        }
    }
}

/// One attempt of one request: a workflow run, or a delivery's try.
#[derive(Debug, Clone)]
pub struct Attempt {
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
}

impl Default for Attempt {
    fn default() -> Self {
        Attempt {
            run_url: None,
            trigger_id: String::new(),
            recheck_before_create: None,
            final_attempt: true,
        }
    }
}

/// The server's default `stall_minutes`.
pub const DEFAULT_STALL_MINUTES: u32 = 30;
/// The server's default `remind_hours`.
pub const DEFAULT_REMIND_HOURS: u32 = 24;

impl Settings {
    /// What the stall watchdog looks at.
    pub fn watch(&self) -> super::decide::Watch {
        super::decide::Watch {
            stall_minutes: self.stall_minutes,
            remind_hours: self.remind_hours,
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            trigger_label: "jules-bridge".into(),
            command_prefix: "/jules".into(),
            require_plan_approval: true,
            archive_on_close: true,
            check_runs: true,
            automation_mode: AutomationMode::AutoCreatePr,
            starting_branch: None,
            allowed_bots: Vec::new(),
            identity: Identity::default(),
            prompt: None,
            title: None,
            attempt: Attempt::default(),
            max_concurrent_sessions: None,
            daily_session_budget: None,
            prompt_template: None,
            ci_fixer: None,
            stall_minutes: DEFAULT_STALL_MINUTES,
            remind_hours: DEFAULT_REMIND_HOURS,
        }
    }
}
