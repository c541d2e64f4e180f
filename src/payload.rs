//! GitHub event payloads -> domain [`Event`]s.
//!
//! Our own small, tolerant serde types rather than octocrab's webhook enums: those have no
//! catch-all, so a new `action` value (`typed`, `pinned`, ...) would fail the whole parse.
//! Everything not essential is optional; an unknown event or action becomes
//! [`EventKind::Ignored`] with the reason, never an error. Errors are kept for bodies that are
//! not the JSON the event name promises, with the path of the bad field.

use serde::Deserialize;

use crate::engine::event::{
    Actor, Comment, Event, EventKind, Issue, PullBranches, RepoName, Repository, Review,
    ReviewComment, WorkflowRun,
};

/// A payload that is not what its event name says.
#[derive(Debug, thiserror::Error)]
#[error("malformed {event} payload: {detail}")]
pub struct PayloadError {
    pub event: String,
    pub detail: String,
}

/// Parses the body of event `event_name` (the `X-GitHub-Event` header or
/// `GITHUB_EVENT_NAME`).
pub fn parse_event(event_name: &str, body: &[u8]) -> Result<Event, PayloadError> {
    let deserializer = &mut serde_json::Deserializer::from_slice(body);
    let raw: RawEvent =
        serde_path_to_error::deserialize(deserializer).map_err(|err| PayloadError {
            event: event_name.to_owned(),
            detail: err.to_string(),
        })?;
    let missing = |what: &str| PayloadError {
        event: event_name.to_owned(),
        detail: format!("missing `{what}`"),
    };
    let action = raw.action.as_deref().unwrap_or("");
    let kind = match (event_name, action) {
        ("issues", "labeled") => EventKind::IssueLabeled {
            issue: raw.issue.clone().ok_or_else(|| missing("issue"))?.into(),
            label: raw.label_name().ok_or_else(|| missing("label"))?,
        },
        ("issues", "closed") => EventKind::IssueClosed {
            issue: raw.issue.clone().ok_or_else(|| missing("issue"))?.into(),
        },
        ("pull_request" | "pull_request_target", "labeled") => {
            let pull = raw
                .pull_request
                .clone()
                .ok_or_else(|| missing("pull_request"))?;
            EventKind::PullRequestLabeled {
                branches: pull.branches(),
                issue: pull.into(),
                label: raw.label_name().ok_or_else(|| missing("label"))?,
            }
        }
        ("pull_request" | "pull_request_target", "closed") => {
            let pull = raw
                .pull_request
                .clone()
                .ok_or_else(|| missing("pull_request"))?;
            EventKind::PullRequestClosed {
                merged: pull.merged.unwrap_or(false),
                branches: pull.branches(),
                pull: pull.into(),
            }
        }
        ("pull_request_review", "submitted") => {
            let pull = raw
                .pull_request
                .clone()
                .ok_or_else(|| missing("pull_request"))?;
            let review = raw.review.clone().ok_or_else(|| missing("review"))?;
            EventKind::ReviewSubmitted {
                branches: pull.branches(),
                pull: pull.into(),
                review: Review {
                    id: review.id,
                    body: review.body.unwrap_or_default(),
                    author: review.user.into(),
                    html_url: review.html_url,
                },
            }
        }
        ("pull_request_review_comment", "created") => EventKind::ReviewCommentCreated {
            pull: raw
                .pull_request
                .clone()
                .ok_or_else(|| missing("pull_request"))?
                .into(),
            comment: raw
                .comment
                .clone()
                .ok_or_else(|| missing("comment"))?
                .into_review_comment(),
        },
        ("issue_comment", "created") => EventKind::CommentCreated {
            issue: raw.issue.clone().ok_or_else(|| missing("issue"))?.into(),
            comment: raw
                .comment
                .clone()
                .ok_or_else(|| missing("comment"))?
                .into(),
        },
        ("issue_comment", "edited") => EventKind::CommentEdited {
            issue: raw.issue.clone().ok_or_else(|| missing("issue"))?.into(),
            comment: raw
                .comment
                .clone()
                .ok_or_else(|| missing("comment"))?
                .into(),
            previous_body: raw
                .changes
                .as_ref()
                .and_then(|changes| changes.body.as_ref())
                .map(|body| body.from.clone())
                .unwrap_or_default(),
        },
        ("workflow_dispatch", _) => EventKind::Dispatch { scheduled: false },
        ("schedule", _) => EventKind::Dispatch { scheduled: true },
        ("workflow_run", "completed") => {
            let run = raw
                .workflow_run
                .clone()
                .ok_or_else(|| missing("workflow_run"))?;
            if run.conclusion.as_deref() == Some("failure") {
                EventKind::WorkflowRunFailed { run: run.into() }
            } else {
                ignored(format!(
                    "workflow run concluded {}",
                    run.conclusion.as_deref().unwrap_or("without a conclusion")
                ))
            }
        }
        ("installation" | "installation_repositories", action) => EventKind::Installation {
            action: action.to_owned(),
        },
        ("push", _) => EventKind::Push {
            git_ref: raw.git_ref.clone().unwrap_or_default(),
            changed_files: raw.changed_files(),
        },
        ("ping", _) => EventKind::Ping,
        (event, "") => ignored(format!("`{event}` events are not handled")),
        (event, action) => ignored(format!("`{event}.{action}` is not handled")),
    };
    Ok(Event {
        repo: raw.repository.map(Into::into),
        sender: raw.sender.map(Into::into),
        installation_id: raw.installation.map(|installation| installation.id),
        kind,
    })
}

fn ignored(reason: String) -> EventKind {
    EventKind::Ignored { reason }
}

#[derive(Debug, Deserialize)]
struct RawEvent {
    action: Option<String>,
    repository: Option<RawRepository>,
    sender: Option<RawUser>,
    installation: Option<RawInstallation>,
    issue: Option<RawIssue>,
    comment: Option<RawComment>,
    label: Option<RawLabel>,
    pull_request: Option<RawPull>,
    changes: Option<RawChanges>,
    workflow_run: Option<RawWorkflowRun>,
    review: Option<RawReview>,
    #[serde(rename = "ref")]
    git_ref: Option<String>,
    #[serde(default)]
    commits: Vec<RawCommit>,
}

impl RawEvent {
    fn label_name(&self) -> Option<String> {
        self.label.as_ref().map(|label| label.name.clone())
    }

    fn changed_files(&self) -> Vec<String> {
        let mut files: Vec<String> = self
            .commits
            .iter()
            .flat_map(|c| c.added.iter().chain(&c.modified).chain(&c.removed))
            .cloned()
            .collect();
        files.sort();
        files.dedup();
        files
    }
}

#[derive(Debug, Clone, Deserialize)]
struct RawRepository {
    full_name: String,
    #[serde(default)]
    default_branch: Option<String>,
    #[serde(default)]
    html_url: Option<String>,
}

impl From<RawRepository> for Repository {
    fn from(raw: RawRepository) -> Self {
        let name = RepoName::parse(&raw.full_name).unwrap_or_else(|| RepoName {
            owner: String::new(),
            name: raw.full_name.clone(),
        });
        Repository {
            html_url: raw
                .html_url
                .unwrap_or_else(|| format!("https://github.com/{}", raw.full_name)),
            name,
            default_branch: raw.default_branch.unwrap_or_else(|| "main".to_owned()),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
struct RawUser {
    login: String,
    #[serde(rename = "type", default)]
    kind: Option<String>,
}

impl From<RawUser> for Actor {
    fn from(raw: RawUser) -> Self {
        Actor {
            is_bot: raw.kind.as_deref() == Some("Bot") || raw.login.ends_with("[bot]"),
            login: raw.login,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
struct RawInstallation {
    id: u64,
}

#[derive(Debug, Clone, Deserialize)]
struct RawIssue {
    number: u64,
    #[serde(default)]
    title: String,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    html_url: String,
    #[serde(default)]
    user: Option<RawUser>,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    pull_request: Option<serde_json::Value>,
}

impl From<RawIssue> for Issue {
    fn from(raw: RawIssue) -> Self {
        Issue {
            number: raw.number,
            title: raw.title,
            body: raw.body.unwrap_or_default(),
            html_url: raw.html_url,
            author: raw.user.map(|user| user.login).unwrap_or_default(),
            is_pull_request: raw.pull_request.is_some_and(|pr| !pr.is_null()),
            is_open: raw.state.as_deref() != Some("closed"),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
struct RawComment {
    id: u64,
    #[serde(default)]
    body: Option<String>,
    user: RawUser,
    #[serde(default)]
    html_url: String,
    // A review comment's place in the diff.
    #[serde(default)]
    pull_request_review_id: Option<u64>,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    start_line: Option<u64>,
    #[serde(default)]
    line: Option<u64>,
    #[serde(default)]
    diff_hunk: Option<String>,
}

impl RawComment {
    fn into_review_comment(self) -> ReviewComment {
        ReviewComment {
            id: self.id,
            review_id: self.pull_request_review_id,
            body: self.body.unwrap_or_default(),
            author: self.user.into(),
            path: self.path.unwrap_or_default(),
            start_line: self.start_line,
            line: self.line,
            diff_hunk: self.diff_hunk.unwrap_or_default(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
struct RawReview {
    id: u64,
    #[serde(default)]
    body: Option<String>,
    user: RawUser,
    #[serde(default)]
    html_url: String,
}

impl From<RawComment> for Comment {
    fn from(raw: RawComment) -> Self {
        Comment {
            id: raw.id,
            body: raw.body.unwrap_or_default(),
            author: raw.user.into(),
            html_url: raw.html_url,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
struct RawLabel {
    name: String,
}

#[derive(Debug, Clone, Deserialize)]
struct RawPull {
    number: u64,
    #[serde(default)]
    title: String,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    html_url: String,
    #[serde(default)]
    user: Option<RawUser>,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    merged: Option<bool>,
    head: RawBranch,
    base: RawBranch,
}

impl RawPull {
    fn branches(&self) -> PullBranches {
        PullBranches {
            head_ref: self.head.git_ref.clone(),
            head_repo: self.head.repo.as_ref().map(|repo| repo.full_name.clone()),
            base_ref: self.base.git_ref.clone(),
        }
    }
}

impl From<RawPull> for Issue {
    fn from(raw: RawPull) -> Self {
        Issue {
            number: raw.number,
            title: raw.title,
            body: raw.body.unwrap_or_default(),
            html_url: raw.html_url,
            author: raw.user.map(|user| user.login).unwrap_or_default(),
            is_pull_request: true,
            is_open: raw.state.as_deref() != Some("closed"),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
struct RawBranch {
    #[serde(rename = "ref")]
    git_ref: String,
    #[serde(default)]
    repo: Option<RawRepository>,
}

#[derive(Debug, Clone, Deserialize)]
struct RawChanges {
    body: Option<RawChange>,
}

#[derive(Debug, Clone, Deserialize)]
struct RawChange {
    from: String,
}

#[derive(Debug, Clone, Deserialize)]
struct RawWorkflowRun {
    id: u64,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    html_url: String,
    #[serde(default)]
    head_branch: Option<String>,
    #[serde(default)]
    head_sha: String,
    #[serde(default)]
    conclusion: Option<String>,
    #[serde(default)]
    pull_requests: Vec<RawRunPull>,
    #[serde(default)]
    head_repository: Option<RawRepository>,
    #[serde(default)]
    event: String,
    #[serde(default)]
    workflow_id: u64,
    #[serde(default)]
    path: String,
    #[serde(default)]
    actor: Option<RawUser>,
    #[serde(default)]
    triggering_actor: Option<RawUser>,
}

#[derive(Debug, Clone, Deserialize)]
struct RawRunPull {
    number: u64,
}

impl From<RawWorkflowRun> for WorkflowRun {
    fn from(raw: RawWorkflowRun) -> Self {
        WorkflowRun {
            id: raw.id,
            name: raw.name.unwrap_or_default(),
            html_url: raw.html_url,
            head_branch: raw.head_branch.unwrap_or_default(),
            head_sha: raw.head_sha,
            pull_requests: raw.pull_requests.into_iter().map(|pr| pr.number).collect(),
            head_repo: raw.head_repository.map(|repo| repo.full_name),
            event: raw.event,
            workflow_id: raw.workflow_id,
            path: raw.path,
            actor: raw.triggering_actor.or(raw.actor).map(Into::into),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
struct RawCommit {
    #[serde(default)]
    added: Vec<String>,
    #[serde(default)]
    modified: Vec<String>,
    #[serde(default)]
    removed: Vec<String>,
}
