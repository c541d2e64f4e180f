//! The domain events: what happened on GitHub, reduced to what the bridge acts on.
//!
//! Both ways in (an Action's event file, a webhook delivery) are parsed into [`Event`] at the
//! edge (`crate::payload`), so handlers never see raw JSON and payload churn stays in one file.

use std::fmt;

/// `owner/name` of a repository.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RepoName {
    pub owner: String,
    pub name: String,
}

impl RepoName {
    /// Parses `owner/name`.
    pub fn parse(full_name: &str) -> Option<RepoName> {
        let (owner, name) = full_name.trim().split_once('/')?;
        let valid = |part: &str| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        };
        (valid(owner) && valid(name)).then(|| RepoName {
            owner: owner.to_owned(),
            name: name.to_owned(),
        })
    }

    /// The Jules source for this repository.
    pub fn jules_source(&self) -> String {
        format!("sources/github/{}/{}", self.owner, self.name)
    }
}

impl fmt::Display for RepoName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.owner, self.name)
    }
}

/// The repository an event happened in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repository {
    pub name: RepoName,
    pub default_branch: String,
    pub html_url: String,
}

/// Who did something.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub login: String,
    /// GitHub says `type: "Bot"` (Apps, `github-actions[bot]`, dependabot, ...).
    pub is_bot: bool,
}

/// An issue or a pull request, as the issue API sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    pub number: u64,
    pub title: String,
    pub body: String,
    pub html_url: String,
    pub author: String,
    /// Set when this "issue" is a pull request (comments on PRs arrive as issue comments).
    pub is_pull_request: bool,
    pub is_open: bool,
}

/// A pull request's branches; `head_repo` differs from the base repository for forks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullBranches {
    pub head_ref: String,
    /// `owner/name` of the head repository; `None` when it was deleted.
    pub head_repo: Option<String>,
    pub base_ref: String,
}

impl PullBranches {
    /// Jules can only work on branches of the connected repository.
    pub fn is_fork_of(&self, repo: &RepoName) -> bool {
        self.head_repo.as_deref() != Some(repo.to_string().as_str())
    }
}

/// A comment on an issue or pull request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comment {
    pub id: u64,
    pub body: String,
    pub author: Actor,
    pub html_url: String,
}

/// A review submitted on a pull request: its body and its line comments are read together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Review {
    pub id: u64,
    pub body: String,
    pub author: Actor,
    pub html_url: String,
}

/// A comment on a line (or lines) of a pull request's diff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewComment {
    pub id: u64,
    /// The review it was submitted with.
    pub review_id: Option<u64>,
    pub body: String,
    pub author: Actor,
    pub path: String,
    /// The first line of a multi-line comment.
    pub start_line: Option<u64>,
    /// The (last) line commented on; `None` for a comment on an outdated diff.
    pub line: Option<u64>,
    /// The part of the diff the comment is on.
    pub diff_hunk: String,
}

/// A failed workflow run (for the CI fixer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkflowRun {
    pub id: u64,
    pub name: String,
    pub html_url: String,
    pub head_branch: String,
    pub head_sha: String,
    /// Pull requests the run belongs to (same-repository ones only: GitHub omits forks).
    pub pull_requests: Vec<u64>,
    /// `owner/name` of the repository the head branch lives in.
    pub head_repo: Option<String>,
    /// The event that started the run (`push`, `pull_request`, `pull_request_target`, ...).
    pub event: String,
    pub workflow_id: u64,
    /// The workflow file (`.github/workflows/ci.yml`).
    pub path: String,
    /// Who caused the run: `triggering_actor` (a re-run's), else `actor`.
    pub actor: Option<Actor>,
}

/// One event, with the context every event carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub repo: Option<Repository>,
    pub sender: Option<Actor>,
    /// Present on GitHub App deliveries.
    pub installation_id: Option<u64>,
    pub kind: EventKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventKind {
    /// `issues.labeled`
    IssueLabeled { issue: Issue, label: String },
    /// `issues.closed`
    IssueClosed { issue: Issue },
    /// `pull_request[_target].labeled`
    PullRequestLabeled {
        issue: Issue,
        branches: PullBranches,
        label: String,
    },
    /// `pull_request[_target].closed`, merged or not.
    PullRequestClosed {
        pull: Issue,
        merged: bool,
        branches: PullBranches,
    },
    /// `pull_request_review.submitted`: the review's body and line comments, as one request.
    ReviewSubmitted {
        pull: Issue,
        branches: PullBranches,
        review: Review,
    },
    /// `pull_request_review_comment.created`: read with its review when that is submitted.
    ReviewCommentCreated { pull: Issue, comment: ReviewComment },
    /// `issue_comment.created`
    CommentCreated { issue: Issue, comment: Comment },
    /// `issue_comment.edited`, with the body before the edit.
    CommentEdited {
        issue: Issue,
        comment: Comment,
        previous_body: String,
    },
    /// `workflow_dispatch` or `schedule`: a session from the configured prompt.
    Dispatch { scheduled: bool },
    /// `workflow_run.completed` with conclusion `failure`.
    WorkflowRunFailed { run: WorkflowRun },
    /// `installation.*` and `installation_repositories.*` (server mode).
    Installation { action: String },
    /// `push` (server mode: refreshes the repo config when it changed).
    Push {
        git_ref: String,
        changed_files: Vec<String>,
    },
    /// `ping` (server mode).
    Ping,
    /// Anything the bridge does not act on, with why.
    Ignored { reason: String },
}

impl EventKind {
    /// The issue or pull request the event is about, if any.
    pub fn issue(&self) -> Option<&Issue> {
        match self {
            EventKind::IssueLabeled { issue, .. }
            | EventKind::IssueClosed { issue }
            | EventKind::PullRequestLabeled { issue, .. }
            | EventKind::PullRequestClosed { pull: issue, .. }
            | EventKind::ReviewSubmitted { pull: issue, .. }
            | EventKind::ReviewCommentCreated { pull: issue, .. }
            | EventKind::CommentCreated { issue, .. }
            | EventKind::CommentEdited { issue, .. } => Some(issue),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_names_are_validated() {
        let repo = RepoName::parse("octo-org/octo.repo_1").unwrap();
        assert_eq!(repo.jules_source(), "sources/github/octo-org/octo.repo_1");
        assert!(RepoName::parse("no-slash").is_none());
        assert!(RepoName::parse("a/b/c").is_none());
        assert!(RepoName::parse("/b").is_none());
    }

    #[test]
    fn a_head_branch_in_another_repository_is_a_fork() {
        let repo = RepoName::parse("o/r").unwrap();
        let mut branches = PullBranches {
            head_ref: "fix".into(),
            head_repo: Some("o/r".into()),
            base_ref: "main".into(),
        };
        assert!(!branches.is_fork_of(&repo));
        branches.head_repo = Some("someone/r".into());
        assert!(branches.is_fork_of(&repo));
        branches.head_repo = None;
        assert!(branches.is_fork_of(&repo));
    }
}
