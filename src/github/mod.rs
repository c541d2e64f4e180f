//! The GitHub calls the bridge makes, over octocrab.
//!
//! One wrapper owns the client's timeouts and retry rules. octocrab is built without its
//! `retry` feature: that middleware re-sends POSTs on 5xx/429, which duplicates comments. Here reads, edits and reactions
//! (all idempotent) are retried with back-off; creating a comment never is.

pub mod auth;

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use octocrab::models::reactions::ReactionContent;
use octocrab::models::{CommentId, RunId};
use octocrab::Octocrab;
use secrecy::SecretString;
use serde::Deserialize;

use crate::engine::event::{Actor, PullBranches, RepoName, ReviewComment};
use crate::engine::policy::Permission;
use crate::jules::CallObserver;

mod checks;
pub use checks::CheckRunState;

/// Everything that can go wrong calling GitHub. Never holds a token.
#[derive(Debug, thiserror::Error)]
pub enum GitHubError {
    #[error("GitHub answered {status}: {message}")]
    Api { status: u16, message: String },
    #[error("could not reach GitHub: {0}")]
    Transport(String),
    #[error("GitHub client configuration: {0}")]
    Config(String),
}

impl GitHubError {
    pub(crate) fn from_octocrab(error: octocrab::Error) -> Self {
        match error {
            octocrab::Error::GitHub { source, .. } => GitHubError::Api {
                status: source.status_code.as_u16(),
                message: source.message,
            },
            other => GitHubError::Transport(other.to_string()),
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            GitHubError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Worth another try: rate limits, server errors, network trouble. Anything else (401,
    /// 403, 404, 410, 422, ...) is a permanent answer.
    pub fn is_transient(&self) -> bool {
        match self {
            GitHubError::Api { status, message } => {
                matches!(status, 429 | 500 | 502 | 503 | 504)
                    || (*status == 403 && message.to_lowercase().contains("rate limit"))
            }
            GitHubError::Transport(_) => true,
            GitHubError::Config(_) => false,
        }
    }
}

/// A comment as the bridge needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueComment {
    pub id: u64,
    pub body: String,
    pub author: Actor,
}

/// One GitHub identity (an Actions token, an installation token or a personal token).
#[derive(Clone)]
pub struct GitHubClient {
    octocrab: Octocrab,
    retries: usize,
    observer: Option<CallObserver>,
}

impl std::fmt::Debug for GitHubClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitHubClient").finish_non_exhaustive()
    }
}

impl GitHubClient {
    /// A client for `api_url` (`https://api.github.com`, a GHES `/api/v3` URL, or a fake)
    /// authenticated with `token`.
    pub fn with_token(api_url: &str, token: SecretString) -> Result<Self, GitHubError> {
        let octocrab = Octocrab::builder()
            .base_uri(api_url)
            .map_err(|err| GitHubError::Config(format!("bad GitHub API URL {api_url:?}: {err}")))?
            .personal_token(token)
            .set_connect_timeout(Some(Duration::from_secs(10)))
            .set_read_timeout(Some(Duration::from_secs(30)))
            .set_write_timeout(Some(Duration::from_secs(30)))
            .build()
            .map_err(|err| GitHubError::Config(err.to_string()))?;
        Ok(GitHubClient::from_octocrab(octocrab))
    }

    /// Wraps an already configured octocrab (an App installation client, say).
    pub fn from_octocrab(octocrab: Octocrab) -> Self {
        GitHubClient {
            octocrab,
            retries: 3,
            observer: None,
        }
    }

    /// Counts every call (for metrics).
    pub fn with_observer(mut self, observer: CallObserver) -> Self {
        self.observer = Some(observer);
        self
    }

    fn observe<T>(&self, method: &'static str, result: &Result<T, GitHubError>) {
        if let Some(observer) = &self.observer {
            let status = match result {
                Ok(_) => 200,
                Err(error) => error.status().unwrap_or(0),
            };
            (observer.0)(method, status);
        }
    }

    /// Runs an idempotent call with bounded retries.
    async fn retrying<T, F, Fut>(&self, what: &'static str, mut call: F) -> Result<T, GitHubError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, GitHubError>>,
    {
        let mut delays = ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(500))
            .with_max_delay(Duration::from_secs(10))
            .with_jitter()
            .with_max_times(self.retries)
            .build();
        loop {
            let result = call().await;
            self.observe(what, &result);
            match result {
                Err(error) if error.is_transient() => match delays.next() {
                    Some(delay) => {
                        tracing::warn!(%error, what, delay_ms = delay.as_millis() as u64, "retrying GitHub call");
                        tokio::time::sleep(delay).await;
                    }
                    None => return Err(error),
                },
                other => return other,
            }
        }
    }

    /// The user's permission on `repo`; not a collaborator is [`Permission::None`].
    pub async fn permission(&self, repo: &RepoName, user: &str) -> Result<Permission, GitHubError> {
        #[derive(Deserialize)]
        struct Answer {
            permission: Option<String>,
            role_name: Option<String>,
        }
        let route = format!(
            "/repos/{}/{}/collaborators/{}/permission",
            repo.owner, repo.name, user
        );
        let answer = self
            .retrying("permission", || async {
                self.octocrab
                    .get::<Answer, _, ()>(&route, None)
                    .await
                    .map_err(GitHubError::from_octocrab)
            })
            .await;
        match answer {
            Ok(answer) => Ok(Permission::from_api(
                answer.role_name.as_deref(),
                answer.permission.as_deref(),
            )),
            Err(error) if error.status() == Some(404) => Ok(Permission::None),
            Err(error) => Err(error),
        }
    }

    /// How many commits `base` has that `head` lacks (the compare API's `behind_by`).
    pub async fn behind_by(
        &self,
        repo: &RepoName,
        base: &str,
        head: &str,
    ) -> Result<u64, GitHubError> {
        #[derive(Deserialize)]
        struct Comparison {
            behind_by: u64,
        }
        // Branch names may hold characters that mean something in a URL (`#`, `%`, `?`);
        // `/` stays, as GitHub expects it in compare refs.
        let encode = |name: &str| {
            name.split('/')
                .map(|part| {
                    url::form_urlencoded::byte_serialize(part.as_bytes()).collect::<String>()
                })
                .collect::<Vec<_>>()
                .join("/")
        };
        let route = format!(
            "/repos/{}/{}/compare/{}...{}",
            repo.owner,
            repo.name,
            encode(base),
            encode(head)
        );
        let comparison = self
            .retrying("compare", || async {
                self.octocrab
                    .get::<Comparison, _, ()>(&route, None)
                    .await
                    .map_err(GitHubError::from_octocrab)
            })
            .await?;
        Ok(comparison.behind_by)
    }

    /// A pull request's head and base branches.
    pub async fn pull_branches(
        &self,
        repo: &RepoName,
        number: u64,
    ) -> Result<PullBranches, GitHubError> {
        let pull = self
            .retrying("pull request", || async {
                self.octocrab
                    .pulls(&repo.owner, &repo.name)
                    .get(number)
                    .await
                    .map_err(GitHubError::from_octocrab)
            })
            .await?;
        Ok(PullBranches {
            head_ref: pull.head.ref_field,
            head_repo: pull.head.repo.and_then(|r| r.full_name),
            base_ref: pull.base.ref_field,
        })
    }

    /// Every comment on an issue or pull request, oldest first.
    pub async fn comments(
        &self,
        repo: &RepoName,
        issue: u64,
    ) -> Result<Vec<IssueComment>, GitHubError> {
        let first = self
            .retrying("list comments", || async {
                self.octocrab
                    .issues(&repo.owner, &repo.name)
                    .list_comments(issue)
                    .per_page(100)
                    .send()
                    .await
                    .map_err(GitHubError::from_octocrab)
            })
            .await?;
        let all = self
            .octocrab
            .all_pages(first)
            .await
            .map_err(GitHubError::from_octocrab)?;
        Ok(all
            .into_iter()
            .map(|comment| IssueComment {
                id: comment.id.into_inner(),
                body: comment.body.unwrap_or_default(),
                author: Actor {
                    is_bot: comment.user.r#type == "Bot" || comment.user.login.ends_with("[bot]"),
                    login: comment.user.login,
                },
            })
            .collect())
    }

    /// Posts a new comment. Never retried: a retry after a lost answer would post twice.
    pub async fn create_comment(
        &self,
        repo: &RepoName,
        issue: u64,
        body: &str,
    ) -> Result<u64, GitHubError> {
        let result = self
            .octocrab
            .issues(&repo.owner, &repo.name)
            .create_comment(issue, body)
            .await
            .map_err(GitHubError::from_octocrab);
        self.observe("create comment", &result);
        Ok(result?.id.into_inner())
    }

    /// Replaces a comment's body (idempotent, so retried).
    pub async fn update_comment(
        &self,
        repo: &RepoName,
        comment_id: u64,
        body: &str,
    ) -> Result<(), GitHubError> {
        self.retrying("update comment", || async {
            self.octocrab
                .issues(&repo.owner, &repo.name)
                .update_comment(CommentId(comment_id), body)
                .await
                .map(drop)
                .map_err(GitHubError::from_octocrab)
        })
        .await
    }

    /// Adds 👀 to a comment (GitHub answers 200 when it is already there).
    pub async fn react_to_comment(
        &self,
        repo: &RepoName,
        comment_id: u64,
    ) -> Result<(), GitHubError> {
        self.retrying("reaction", || async {
            self.octocrab
                .issues(&repo.owner, &repo.name)
                .create_comment_reaction(CommentId(comment_id), ReactionContent::Eyes)
                .await
                .map(drop)
                .map_err(GitHubError::from_octocrab)
        })
        .await
    }

    /// Adds 👀 to an issue or pull request.
    pub async fn react_to_issue(&self, repo: &RepoName, issue: u64) -> Result<(), GitHubError> {
        self.retrying("reaction", || async {
            self.octocrab
                .issues(&repo.owner, &repo.name)
                .create_reaction(issue, ReactionContent::Eyes)
                .await
                .map(drop)
                .map_err(GitHubError::from_octocrab)
        })
        .await
    }

    /// The line comments of review `review` of pull request `pull`, oldest first (from the
    /// pull request's review comments, at most 1,000 of them).
    pub async fn review_comments(
        &self,
        repo: &RepoName,
        pull: u64,
        review: u64,
    ) -> Result<Vec<ReviewComment>, GitHubError> {
        #[derive(Deserialize)]
        struct Raw {
            id: u64,
            pull_request_review_id: Option<u64>,
            #[serde(default)]
            body: String,
            user: RawUser,
            #[serde(default)]
            path: String,
            start_line: Option<u64>,
            line: Option<u64>,
            #[serde(default)]
            diff_hunk: String,
        }
        #[derive(Deserialize)]
        struct RawUser {
            login: String,
            #[serde(rename = "type", default)]
            kind: String,
        }
        const PER_PAGE: usize = 100;
        let mut found = Vec::new();
        for page in 1..=10 {
            let route = format!(
                "/repos/{}/{}/pulls/{pull}/comments?per_page={PER_PAGE}&page={page}",
                repo.owner, repo.name
            );
            let batch: Vec<Raw> = self
                .retrying("list review comments", || async {
                    self.octocrab
                        .get::<Vec<Raw>, _, ()>(&route, None)
                        .await
                        .map_err(GitHubError::from_octocrab)
                })
                .await?;
            let last = batch.len() < PER_PAGE;
            found.extend(
                batch
                    .into_iter()
                    .filter(|raw| raw.pull_request_review_id == Some(review))
                    .map(|raw| ReviewComment {
                        id: raw.id,
                        review_id: raw.pull_request_review_id,
                        body: raw.body,
                        author: Actor {
                            is_bot: raw.user.kind == "Bot" || raw.user.login.ends_with("[bot]"),
                            login: raw.user.login,
                        },
                        path: raw.path,
                        start_line: raw.start_line,
                        line: raw.line,
                        diff_hunk: raw.diff_hunk,
                    }),
            );
            if last {
                break;
            }
        }
        Ok(found)
    }

    /// Adds 👀 to a pull request review comment (GitHub answers 200 when it is already there).
    pub async fn react_to_review_comment(
        &self,
        repo: &RepoName,
        comment_id: u64,
    ) -> Result<(), GitHubError> {
        let route = format!(
            "/repos/{}/{}/pulls/comments/{comment_id}/reactions",
            repo.owner, repo.name
        );
        self.retrying("review comment reaction", || async {
            self.octocrab
                .post::<_, serde_json::Value>(&route, Some(&serde_json::json!({"content": "eyes"})))
                .await
                .map(drop)
                .map_err(GitHubError::from_octocrab)
        })
        .await
    }

    /// Replies in the review thread of `comment_id`. Never retried (it posts a comment).
    pub async fn reply_to_review_comment(
        &self,
        repo: &RepoName,
        pull: u64,
        comment_id: u64,
        body: &str,
    ) -> Result<u64, GitHubError> {
        #[derive(Deserialize)]
        struct Created {
            id: u64,
        }
        let route = format!(
            "/repos/{}/{}/pulls/{pull}/comments/{comment_id}/replies",
            repo.owner, repo.name
        );
        let result = self
            .octocrab
            .post::<_, Created>(&route, Some(&serde_json::json!({ "body": body })))
            .await
            .map_err(GitHubError::from_octocrab);
        self.observe("reply in review thread", &result);
        Ok(result?.id)
    }

    /// A file's text on the default branch; `None` when it does not exist.
    pub async fn file(&self, repo: &RepoName, path: &str) -> Result<Option<String>, GitHubError> {
        let result = self
            .retrying("get content", || async {
                self.octocrab
                    .repos(&repo.owner, &repo.name)
                    .get_content()
                    .path(path)
                    .send()
                    .await
                    .map_err(GitHubError::from_octocrab)
            })
            .await;
        match result {
            Ok(mut items) => Ok(items
                .take_items()
                .into_iter()
                .next()
                .and_then(|item| item.decoded_content())),
            Err(error) if error.status() == Some(404) => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// The names of a workflow run's failed jobs.
    pub async fn failed_jobs(
        &self,
        repo: &RepoName,
        run_id: u64,
    ) -> Result<Vec<String>, GitHubError> {
        let jobs = self
            .retrying("list jobs", || async {
                self.octocrab
                    .workflows(&repo.owner, &repo.name)
                    .list_jobs(RunId(run_id))
                    .per_page(100)
                    .send()
                    .await
                    .map_err(GitHubError::from_octocrab)
            })
            .await?;
        Ok(jobs
            .items
            .into_iter()
            .filter(|job| {
                matches!(
                    job.conclusion,
                    Some(octocrab::models::workflows::Conclusion::Failure)
                        | Some(octocrab::models::workflows::Conclusion::TimedOut)
                )
            })
            .map(|job| job.name)
            .collect())
    }

    /// The login of the token's user (`GET /user`).
    pub async fn current_login(&self) -> Result<String, GitHubError> {
        self.retrying("current user", || async {
            self.octocrab
                .current()
                .user()
                .await
                .map(|user| user.login)
                .map_err(GitHubError::from_octocrab)
        })
        .await
    }

    /// The open issue the CI fixer reports on when a failed run has no pull request (found by
    /// its label), if there is one.
    pub async fn ci_fixer_issue(&self, repo: &RepoName) -> Result<Option<u64>, GitHubError> {
        let open = self
            .retrying("list issues", || async {
                self.octocrab
                    .issues(&repo.owner, &repo.name)
                    .list()
                    .labels(&[CI_FIXER_LABEL.to_owned()])
                    .state(octocrab::params::State::Open)
                    .per_page(1)
                    .send()
                    .await
                    .map_err(GitHubError::from_octocrab)
            })
            .await?;
        Ok(open.items.first().map(|issue| issue.number))
    }

    /// Opens the CI fixer's report issue. Not retried: a create is not idempotent.
    pub async fn open_ci_fixer_issue(&self, repo: &RepoName) -> Result<u64, GitHubError> {
        let result = self
            .octocrab
            .issues(&repo.owner, &repo.name)
            .create("CI fixes by Jules")
            .body(
                "jules-bridge reports here on the Jules sessions it starts to fix failed workflow runs \
                 that have no pull request. Each session has its own status comment below. \
                 Close this issue to start a new one next time.",
            )
            .labels(vec![CI_FIXER_LABEL.to_owned()])
            .send()
            .await
            .map_err(GitHubError::from_octocrab);
        self.observe("create issue", &result);
        Ok(result?.number)
    }
}

/// The label of the CI fixer's report issue.
pub const CI_FIXER_LABEL: &str = "jules-bridge-ci";
