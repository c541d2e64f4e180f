//! A recording, in-memory fake of the GitHub REST API subset jules-bridge uses.
//!
//! Start it with [`FakeGitHub::start`], point the client (`GITHUB_API_URL`, octocrab `base_uri`)
//! at [`FakeGitHub::url`], set up the world (permissions, pull requests, files, tokens), run the
//! code under test, then inspect what happened ([`FakeGitHub::comments`],
//! [`FakeGitHub::reactions`], [`FakeGitHub::issues`], [`FakeGitHub::requests`]).
//!
//! Every JSON response is built from GitHub's own OpenAPI examples (see `fixtures/`), patched with
//! the fake's state, so clients deserialize them exactly as real GitHub answers. Errors use
//! GitHub's `{"message", "documentation_url"}` shape (422 adds `errors[]`).
//!
//! All paths are also served under an `/api/v3` prefix (GitHub Enterprise Server style).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use serde_json::Value;

mod server;
mod templates;

/// The login an Actions `GITHUB_TOKEN` acts as ([`FakeGitHub::add_actions_token`]), and the author
/// of issues made with [`FakeGitHub::add_issue`].
pub const DEFAULT_TOKEN_LOGIN: &str = "github-actions[bot]";

/// What `GET /user` answers for a token that is not a user's (an installation token, the
/// Actions `GITHUB_TOKEN`), and what a token without a needed permission gets (403).
pub const NOT_ACCESSIBLE_BY_INTEGRATION: &str = "Resource not accessible by integration";

/// The permissions an installation has unless [`FakeGitHub::set_installation_permissions`] says
/// otherwise: what jules-bridge's App asks for (`app.yml`).
pub const DEFAULT_INSTALLATION_PERMISSIONS: &[(&str, &str)] = &[
    ("actions", "read"),
    ("checks", "write"),
    ("contents", "read"),
    ("issues", "write"),
    ("metadata", "read"),
    ("pull_requests", "write"),
];

/// A running fake GitHub API. Cloning gives another handle on the same server; the server stops
/// when the last handle is dropped.
#[derive(Clone)]
pub struct FakeGitHub {
    inner: Arc<Inner>,
    _server: Arc<ServerGuard>,
}

struct ServerGuard {
    shutdown: Mutex<Option<tokio::sync::oneshot::Sender<()>>>,
}

impl Drop for ServerGuard {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.lock().map(|mut g| g.take()).unwrap_or(None) {
            let _ = tx.send(());
        }
    }
}

pub(crate) struct Inner {
    pub(crate) base_url: String,
    pub(crate) state: Mutex<State>,
}

impl Inner {
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A comment as stored by the fake (pre-existing or created through the API).
#[derive(Debug, Clone, PartialEq)]
pub struct Comment {
    pub id: u64,
    /// `owner/repo`
    pub repo: String,
    /// Issue or pull request number.
    pub issue: u64,
    /// Author login (`github-actions[bot]`, `<slug>[bot]`, a user...).
    pub user: String,
    pub body: String,
    /// Times the comment was updated through the API.
    pub edits: usize,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What a reaction was put on.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ReactionTarget {
    Issue {
        repo: String,
        number: u64,
    },
    Comment {
        repo: String,
        id: u64,
    },
    /// A pull request review comment (`POST …/pulls/comments/{id}/reactions`).
    ReviewComment {
        repo: String,
        id: u64,
    },
}

/// A check run, created through the API (`POST /repos/{o}/{r}/check-runs`) and updated with
/// `PATCH …/check-runs/{id}`.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckRun {
    pub id: u64,
    /// `owner/repo`
    pub repo: String,
    pub name: String,
    pub head_sha: String,
    /// `queued`, `in_progress` or `completed`.
    pub status: String,
    /// Set when `completed`: `success`, `failure`, `neutral`, `cancelled`, `skipped`,
    /// `timed_out`, `action_required`.
    pub conclusion: Option<String>,
    pub external_id: Option<String>,
    pub details_url: Option<String>,
    /// `output.title` / `output.summary` / `output.text`.
    pub title: Option<String>,
    pub summary: Option<String>,
    pub text: Option<String>,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    /// The slug of the app that created it (`github-actions` for the Actions token, the App's
    /// slug for installation tokens).
    pub app: String,
    /// Times it was updated through the API.
    pub updates: usize,
}

/// A pull request review comment (a line comment), pre-existing
/// ([`FakeGitHub::add_review_comment`]) or a reply created through the API.
#[derive(Debug, Clone, PartialEq)]
pub struct ReviewComment {
    pub id: u64,
    /// `owner/repo`
    pub repo: String,
    pub pull: u64,
    /// The review it belongs to (a reply is a review of its own, as on GitHub).
    pub review_id: u64,
    pub user: String,
    pub body: String,
    pub path: String,
    /// The (last) line; `None` on an outdated diff.
    pub line: Option<u64>,
    /// The first line of a multi-line comment.
    pub start_line: Option<u64>,
    pub diff_hunk: String,
    /// The thread's first comment, for a reply.
    pub in_reply_to_id: Option<u64>,
    pub created_at: DateTime<Utc>,
}

/// A reaction recorded by the fake.
#[derive(Debug, Clone, PartialEq)]
pub struct Reaction {
    pub id: u64,
    pub target: ReactionTarget,
    /// `+1 -1 laugh confused heart hooray rocket eyes`
    pub content: String,
    pub user: String,
    pub created_at: DateTime<Utc>,
}

/// One HTTP request received by the fake (including unknown routes and injected failures).
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub method: String,
    /// Path and query, with any `/api/v3` prefix removed (e.g. `/repos/o/r/issues/1/comments?page=2`).
    pub path: String,
    /// The path and query exactly as received.
    pub raw_path: String,
    /// `Authorization` header value, if any (e.g. `token ghs_...`, `Bearer eyJ...`).
    pub authorization: Option<String>,
    /// The body parsed as JSON; `Null` when empty; a JSON string when not JSON.
    pub body: Value,
    /// The status code the fake answered.
    pub status: u16,
}

/// An issue created through the API or with [`FakeGitHub::add_issue`] (implicit issues that only
/// have comments are not listed).
#[derive(Debug, Clone)]
pub struct Issue {
    pub number: u64,
    /// `owner/repo`
    pub repo: String,
    pub title: String,
    pub body: String,
    /// Labels currently on the issue (the same as [`FakeGitHub::labels`]).
    pub labels: Vec<String>,
    /// `open` or `closed`.
    pub state: String,
    /// Author login.
    pub user: String,
}

/// An issue as stored; its labels live in `State::labels`.
#[derive(Debug, Clone)]
pub(crate) struct StoredIssue {
    pub number: u64,
    pub repo: String,
    pub title: String,
    pub body: String,
    pub state: String,
    pub user: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A job of a workflow run, set with [`FakeGitHub::set_run_jobs`].
#[derive(Debug, Clone)]
pub(crate) struct Job {
    pub id: u64,
    pub name: String,
    pub conclusion: String,
}

/// First number of the issues created in each repository (small numbers are left to the implicit
/// issues tests comment on).
pub(crate) const FIRST_ISSUE_NUMBER: u64 = 9001;

#[derive(Debug, Clone)]
pub(crate) struct Pull {
    pub head_ref: String,
    pub head_repo: String,
    pub base_ref: String,
}

#[derive(Debug, Clone)]
pub(crate) struct Failure {
    pub prefix: String,
    pub status: u16,
    pub remaining: usize,
    pub message: Option<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct InstallationToken {
    pub installation_id: u64,
    pub expires_at: DateTime<Utc>,
    /// The permissions the token carries (asked for when minted, else the installation's).
    pub permissions: std::collections::BTreeMap<String, String>,
    /// Repository names (`Hello-World`) the token was narrowed to when minted; `None`: all of
    /// the installation's.
    pub repositories: Option<Vec<String>>,
}

pub(crate) struct AppConfig {
    pub id: u64,
    pub slug: String,
    /// Whether `set_app` was called (then `iss` must equal `id`).
    pub configured: bool,
    pub key: Option<jsonwebtoken::DecodingKey>,
}

pub(crate) struct State {
    pub permissions: HashMap<(String, String), String>,
    pub pulls: HashMap<(String, u64), Pull>,
    /// (repo, base, head) -> (ahead_by, behind_by): the branches `compare` knows.
    pub comparisons: HashMap<(String, String, String), (u64, u64)>,
    /// (repo, ref or None for every ref, path) -> content
    pub files: HashMap<(String, Option<String>, String), Vec<u8>>,
    pub default_branch: HashMap<String, String>,
    pub comments: Vec<Comment>,
    pub reactions: Vec<Reaction>,
    pub labels: HashMap<(String, u64), Vec<String>>,
    pub issues: Vec<StoredIssue>,
    /// repo -> number of the next created issue
    pub next_issue_number: HashMap<String, u64>,
    /// (repo, run id) -> jobs
    pub run_jobs: HashMap<(String, u64), Vec<Job>>,
    /// Personal access tokens (and other user tokens) -> login.
    pub token_logins: HashMap<String, String>,
    /// Actions `GITHUB_TOKEN`s (act as `github-actions[bot]`, cannot read `GET /user`) -> the
    /// permissions the workflow gave them (`None`: the default, write on issues).
    pub actions_tokens: HashMap<String, Option<std::collections::BTreeMap<String, String>>>,
    pub revoked: HashSet<String>,
    pub installation_tokens: HashMap<String, InstallationToken>,
    /// repo (`owner/name`) -> the installation it belongs to.
    pub installations: HashMap<String, u64>,
    /// Installations that exist even without a repository (`add_installation`).
    pub known_installations: HashSet<u64>,
    /// installation -> its permissions (else [`DEFAULT_INSTALLATION_PERMISSIONS`]).
    pub installation_permissions: HashMap<u64, std::collections::BTreeMap<String, String>>,
    /// Issues that exist without being created here (the issues webhook payloads name).
    pub known_issues: HashSet<(String, u64)>,
    /// Deleted issues: 410 `This issue was deleted`.
    pub deleted_issues: HashSet<(String, u64)>,
    pub check_runs: Vec<CheckRun>,
    pub review_comments: Vec<ReviewComment>,
    pub failures: Vec<Failure>,
    pub requests: Vec<Request>,
    pub app: AppConfig,
    pub token_lifetime_secs: i64,
    pub tokens_issued: usize,
    pub user_ids: HashMap<String, u64>,
    pub next_id: u64,
}

impl State {
    fn new() -> Self {
        State {
            permissions: HashMap::new(),
            pulls: HashMap::new(),
            comparisons: HashMap::new(),
            files: HashMap::new(),
            default_branch: HashMap::new(),
            comments: Vec::new(),
            reactions: Vec::new(),
            labels: HashMap::new(),
            issues: Vec::new(),
            next_issue_number: HashMap::new(),
            run_jobs: HashMap::new(),
            token_logins: HashMap::new(),
            actions_tokens: HashMap::new(),
            revoked: HashSet::new(),
            installation_tokens: HashMap::new(),
            installations: HashMap::new(),
            known_installations: HashSet::new(),
            installation_permissions: HashMap::new(),
            known_issues: HashSet::new(),
            deleted_issues: HashSet::new(),
            check_runs: Vec::new(),
            review_comments: Vec::new(),
            failures: Vec::new(),
            requests: Vec::new(),
            app: AppConfig {
                id: 1,
                slug: "jules-bridge".to_string(),
                configured: false,
                key: None,
            },
            token_lifetime_secs: 3600,
            tokens_issued: 0,
            user_ids: HashMap::new(),
            next_id: 1_000_001,
        }
    }

    pub(crate) fn next_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// A stable numeric id per login (case-insensitive).
    pub(crate) fn user_id(&mut self, login: &str) -> u64 {
        let n = self.user_ids.len() as u64;
        *self
            .user_ids
            .entry(login.to_ascii_lowercase())
            .or_insert(10_000 + n)
    }

    /// Create an open issue (numbers from [`FIRST_ISSUE_NUMBER`] per repository); its labels go
    /// into `labels` (deduplicated case-insensitively, first spelling kept).
    pub(crate) fn create_issue(
        &mut self,
        repo: &str,
        title: &str,
        body: &str,
        labels: &[String],
        user: &str,
    ) -> StoredIssue {
        let next = self
            .next_issue_number
            .entry(repo.to_string())
            .or_insert(FIRST_ISSUE_NUMBER);
        let number = *next;
        *next += 1;
        let on_issue = self.labels.entry((repo.to_string(), number)).or_default();
        for l in labels {
            if !on_issue.iter().any(|x| x.eq_ignore_ascii_case(l)) {
                on_issue.push(l.clone());
            }
        }
        let now = Utc::now();
        let issue = StoredIssue {
            number,
            repo: repo.to_string(),
            title: title.to_string(),
            body: body.to_string(),
            state: "open".to_string(),
            user: user.to_string(),
            created_at: now,
            updated_at: now,
        };
        self.issues.push(issue.clone());
        issue
    }

    /// Labels currently on `repo#number`.
    pub(crate) fn issue_labels(&self, repo: &str, number: u64) -> Vec<String> {
        self.labels
            .get(&(repo.to_string(), number))
            .cloned()
            .unwrap_or_default()
    }

    /// Whether `repo#number` exists: created here ([`FakeGitHub::add_issue`], `POST …/issues`),
    /// declared with [`FakeGitHub::add_issue_at`] (or by a pre-existing comment,
    /// [`FakeGitHub::add_comment`]) or a pull request ([`FakeGitHub::add_pull`]). Deleted issues
    /// do not.
    pub(crate) fn issue_exists(&self, repo: &str, number: u64) -> bool {
        let key = (repo.to_ascii_lowercase(), number);
        !self.deleted_issues.contains(&key)
            && (self.known_issues.contains(&key)
                || self
                    .issues
                    .iter()
                    .any(|i| i.number == number && i.repo.eq_ignore_ascii_case(repo))
                || self
                    .pulls
                    .keys()
                    .any(|(r, n)| *n == number && r.eq_ignore_ascii_case(repo)))
    }

    pub(crate) fn issue_deleted(&self, repo: &str, number: u64) -> bool {
        self.deleted_issues
            .contains(&(repo.to_ascii_lowercase(), number))
    }

    /// The installation `repo` belongs to, if any.
    pub(crate) fn installation_of(&self, repo: &str) -> Option<u64> {
        self.installations
            .iter()
            .find(|(r, _)| r.eq_ignore_ascii_case(repo))
            .map(|(_, id)| *id)
    }

    pub(crate) fn installation_exists(&self, id: u64) -> bool {
        self.known_installations.contains(&id) || self.installations.values().any(|i| *i == id)
    }

    pub(crate) fn permissions_of_installation(
        &self,
        id: u64,
    ) -> std::collections::BTreeMap<String, String> {
        self.installation_permissions
            .get(&id)
            .cloned()
            .unwrap_or_else(|| {
                DEFAULT_INSTALLATION_PERMISSIONS
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect()
            })
    }

    pub(crate) fn default_branch(&self, repo: &str) -> String {
        self.default_branch
            .get(repo)
            .cloned()
            .unwrap_or_else(|| "main".to_string())
    }
}

impl FakeGitHub {
    /// Start the fake on `127.0.0.1:<random port>`.
    pub async fn start() -> FakeGitHub {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        FakeGitHub::start_on(listener)
    }

    /// Start the fake on a listener the caller bound (a chosen address or port). Must be called
    /// within a Tokio runtime, which serves it.
    pub fn start_on(listener: tokio::net::TcpListener) -> FakeGitHub {
        let addr = listener.local_addr().expect("local addr");
        let inner = Arc::new(Inner {
            base_url: format!("http://{addr}"),
            state: Mutex::new(State::new()),
        });
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let app = server::router(inner.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        FakeGitHub {
            inner,
            _server: Arc::new(ServerGuard {
                shutdown: Mutex::new(Some(tx)),
            }),
        }
    }

    /// `http://127.0.0.1:PORT`, what `GITHUB_API_URL` / octocrab `base_uri` gets.
    pub fn url(&self) -> String {
        self.inner.base_url.clone()
    }

    // ----- world setup -----

    /// Give `user` a role on `repo` (`owner/repo`): `admin`, `maintain`, `write`, `triage`, `read`,
    /// or a custom role. The legacy `permission` is derived (`maintain`->`write`, `triage`->`read`,
    /// custom -> `read`; write a custom role as `name:base`, e.g. `deployer:write`, to choose its
    /// base). Users never set are not collaborators (404).
    pub fn set_permission(&self, repo: &str, user: &str, role_name: &str) {
        self.inner.lock().permissions.insert(
            (repo.to_string(), user.to_ascii_lowercase()),
            role_name.to_string(),
        );
    }

    /// Register pull request `number` on `repo`. `head_repo` differs from `repo` for forks.
    pub fn add_pull(
        &self,
        repo: &str,
        number: u64,
        head_ref: &str,
        head_repo: &str,
        base_ref: &str,
    ) {
        self.inner.lock().pulls.insert(
            (repo.to_string(), number),
            Pull {
                head_ref: head_ref.to_string(),
                head_repo: head_repo.to_string(),
                base_ref: base_ref.to_string(),
            },
        );
    }

    /// What `GET /repos/{repo}/compare/{base}...{head}` answers: `head` has `ahead_by` commits
    /// that `base` lacks and lacks `behind_by` of `base`'s (work merged into the base since
    /// the branch was made). Pairs never set answer 404, as GitHub does for unknown refs.
    pub fn set_comparison(
        &self,
        repo: &str,
        base: &str,
        head: &str,
        ahead_by: u64,
        behind_by: u64,
    ) {
        self.inner.lock().comparisons.insert(
            (repo.to_string(), base.to_string(), head.to_string()),
            (ahead_by, behind_by),
        );
    }

    /// Serve `content` at `path` for every ref (unless a ref-specific file is set).
    pub fn set_file(&self, repo: &str, path: &str, content: &str) {
        self.inner.lock().files.insert(
            (
                repo.to_string(),
                None,
                path.trim_start_matches('/').to_string(),
            ),
            content.as_bytes().to_vec(),
        );
    }

    /// Serve `content` at `path` only for `git_ref` (branch, tag or sha as given in `?ref=`; the
    /// default branch when no `ref` is given).
    pub fn set_file_at_ref(&self, repo: &str, git_ref: &str, path: &str, content: &str) {
        self.inner.lock().files.insert(
            (
                repo.to_string(),
                Some(git_ref.to_string()),
                path.trim_start_matches('/').to_string(),
            ),
            content.as_bytes().to_vec(),
        );
    }

    /// Remove a file set with [`set_file`](Self::set_file) or [`set_file_at_ref`](Self::set_file_at_ref) (all refs).
    pub fn remove_file(&self, repo: &str, path: &str) {
        let path = path.trim_start_matches('/');
        self.inner
            .lock()
            .files
            .retain(|(r, _, p), _| !(r == repo && p == path));
    }

    /// Default branch reported by `GET /repos/{o}/{r}` (default `main`).
    pub fn set_default_branch(&self, repo: &str, branch: &str) {
        self.inner
            .lock()
            .default_branch
            .insert(repo.to_string(), branch.to_string());
    }

    /// Add a pre-existing comment; returns its id.
    pub fn add_comment(&self, repo: &str, issue: u64, user: &str, body: &str) -> u64 {
        let mut st = self.inner.lock();
        st.known_issues.insert((repo.to_ascii_lowercase(), issue));
        let id = st.next_id();
        let now = Utc::now();
        st.comments.push(Comment {
            id,
            repo: repo.to_string(),
            issue,
            user: user.to_string(),
            body: body.to_string(),
            edits: 0,
            created_at: now,
            updated_at: now,
        });
        id
    }

    /// Add a pre-existing comment with a given id (the comment a webhook payload is about),
    /// replacing any comment with that id.
    pub fn add_comment_with_id(&self, repo: &str, issue: u64, id: u64, user: &str, body: &str) {
        let mut st = self.inner.lock();
        st.known_issues.insert((repo.to_ascii_lowercase(), issue));
        st.comments.retain(|comment| comment.id != id);
        let now = Utc::now();
        st.comments.push(Comment {
            id,
            repo: repo.to_string(),
            issue,
            user: user.to_string(),
            body: body.to_string(),
            edits: 0,
            created_at: now,
            updated_at: now,
        });
    }

    /// The head commit of pull request `repo#number` set with [`add_pull`](Self::add_pull)
    /// (what `GET pulls/{n}` answers as `head.sha`, and the commit check runs go on).
    pub fn pull_head_sha(&self, repo: &str, number: u64) -> Option<String> {
        self.inner
            .lock()
            .pulls
            .get(&(repo.to_string(), number))
            .map(|p| templates::fake_sha(&[p.head_repo.as_bytes(), p.head_ref.as_bytes()]))
    }

    /// Add a pre-existing review comment (a line comment of review `review_id`) on pull request
    /// `pull` (which exists from then on, like [`add_issue_at`](Self::add_issue_at)); returns its
    /// id. `line: None` is a comment on an outdated diff; `start_line` the first line of a
    /// multi-line comment.
    #[allow(clippy::too_many_arguments)]
    pub fn add_review_comment(
        &self,
        repo: &str,
        pull: u64,
        review_id: u64,
        user: &str,
        body: &str,
        path: &str,
        line: Option<u64>,
        start_line: Option<u64>,
        diff_hunk: &str,
    ) -> u64 {
        let mut st = self.inner.lock();
        st.known_issues.insert((repo.to_ascii_lowercase(), pull));
        let id = st.next_id();
        st.review_comments.push(ReviewComment {
            id,
            repo: repo.to_string(),
            pull,
            review_id,
            user: user.to_string(),
            body: body.to_string(),
            path: path.to_string(),
            line,
            start_line,
            diff_hunk: diff_hunk.to_string(),
            in_reply_to_id: None,
            created_at: Utc::now(),
        });
        id
    }

    /// Add a pre-existing open issue by [`DEFAULT_TOKEN_LOGIN`] with an empty body; returns its
    /// number (9001, 9002, ... per repository, shared with issues created through the API).
    pub fn add_issue(&self, repo: &str, title: &str, labels: &[&str]) -> u64 {
        let labels: Vec<String> = labels.iter().map(|l| l.to_string()).collect();
        self.inner
            .lock()
            .create_issue(repo, title, "", &labels, DEFAULT_TOKEN_LOGIN)
            .number
    }

    /// Declare that issue (or pull request) `number` exists on `repo` without creating it here
    /// (the issue a webhook payload names): comments, reactions and labels on it work. On an
    /// issue that does not exist they answer 404, as GitHub does. Not listed by
    /// [`issues`](Self::issues).
    pub fn add_issue_at(&self, repo: &str, number: u64) {
        let mut st = self.inner.lock();
        let key = (repo.to_ascii_lowercase(), number);
        st.deleted_issues.remove(&key);
        st.known_issues.insert(key);
    }

    /// The issue or pull request a webhook payload is about (`issue.number`,
    /// `pull_request.number` or `workflow_run.pull_requests[].number`, in
    /// `repository.full_name`) exists on GitHub: declare it with
    /// [`add_issue_at`](Self::add_issue_at). For tests that deliver real payloads; payloads
    /// about no issue change nothing.
    pub fn add_event_issue(&self, payload: &Value) {
        let Some(repo) = payload
            .pointer("/repository/full_name")
            .and_then(Value::as_str)
        else {
            return;
        };
        for pointer in ["/issue/number", "/pull_request/number"] {
            if let Some(number) = payload.pointer(pointer).and_then(Value::as_u64) {
                self.add_issue_at(repo, number);
            }
        }
        // A workflow run names the pull requests it ran for.
        let pulls = payload
            .pointer("/workflow_run/pull_requests")
            .and_then(Value::as_array);
        for number in pulls
            .into_iter()
            .flatten()
            .filter_map(|p| p["number"].as_u64())
        {
            self.add_issue_at(repo, number);
        }
    }

    /// Delete issue `number` of `repo`: comments, reactions and labels on it answer 410 `This
    /// issue was deleted` from now on.
    pub fn delete_issue(&self, repo: &str, number: u64) {
        self.inner
            .lock()
            .deleted_issues
            .insert((repo.to_ascii_lowercase(), number));
    }

    /// The jobs of workflow run `run_id` answered by `GET /repos/{o}/{r}/actions/runs/{run_id}/jobs`
    /// (replacing any set before): `(name, conclusion)` pairs, conclusion as GitHub spells it
    /// (`success`, `failure`, `timed_out`, `cancelled`, `skipped`, ...); every job is `completed`.
    /// A run never set does not exist (404); `&[]` makes one without jobs.
    pub fn set_run_jobs(&self, repo: &str, run_id: u64, jobs: &[(&str, &str)]) {
        let mut st = self.inner.lock();
        let jobs: Vec<Job> = jobs
            .iter()
            .map(|(name, conclusion)| Job {
                id: st.next_id(),
                name: name.to_string(),
                conclusion: conclusion.to_string(),
            })
            .collect();
        st.run_jobs.insert((repo.to_string(), run_id), jobs);
    }

    /// Register a personal access token (or any user token): it acts as `login` (a User; a login
    /// ending in `[bot]` is a Bot) and `GET /user` answers that user. Tokens never registered
    /// (here, with [`add_actions_token`](Self::add_actions_token) or minted for an installation)
    /// answer 401 `Bad credentials`, as GitHub does.
    pub fn set_token_login(&self, token: &str, login: &str) {
        let mut st = self.inner.lock();
        st.actions_tokens.remove(token);
        st.token_logins.insert(token.to_string(), login.to_string());
    }

    /// Register an Actions `GITHUB_TOKEN`: it acts as [`DEFAULT_TOKEN_LOGIN`]
    /// (`github-actions[bot]`) and `GET /user` answers 403 `Resource not accessible by
    /// integration`, as GitHub does for that token.
    pub fn add_actions_token(&self, token: &str) {
        let mut st = self.inner.lock();
        st.token_logins.remove(token);
        st.actions_tokens.insert(token.to_string(), None);
    }

    /// Register an Actions `GITHUB_TOKEN` whose workflow declared `permissions:` (`[("issues",
    /// "read")]`...): like [`add_actions_token`](Self::add_actions_token), and a write needing a
    /// permission it lacks answers 403 `Resource not accessible by integration`.
    pub fn add_actions_token_with_permissions(&self, token: &str, permissions: &[(&str, &str)]) {
        let map = permissions
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut st = self.inner.lock();
        st.token_logins.remove(token);
        st.actions_tokens.insert(token.to_string(), Some(map));
    }

    /// From now on `token` answers 401 `Bad credentials`.
    pub fn revoke_token(&self, token: &str) {
        self.inner.lock().revoked.insert(token.to_string());
    }

    /// Configure the GitHub App: id (checked against the JWT `iss`), slug (installation tokens act
    /// as `<slug>[bot]`, default slug `jules-bridge`) and optionally the public key (PEM, PKCS#1
    /// or SPKI) used to verify the RS256 JWT signature. Panics on an invalid PEM.
    pub fn set_app(&self, app_id: u64, slug: &str, public_key_pem: Option<&str>) {
        let key = public_key_pem.map(|pem| {
            jsonwebtoken::DecodingKey::from_rsa_pem(pem.as_bytes())
                .expect("set_app: invalid RSA public key PEM")
        });
        let mut st = self.inner.lock();
        st.app = AppConfig {
            id: app_id,
            slug: slug.to_string(),
            configured: true,
            key,
        };
    }

    /// Lifetime of installation tokens issued from now on (default 3600 s). A short or negative
    /// lifetime makes clients refresh (octocrab refreshes tokens expiring within 30 s).
    pub fn set_token_lifetime(&self, secs: i64) {
        self.inner.lock().token_lifetime_secs = secs;
    }

    /// Put `repo` in installation `installation_id`: `GET /repos/{o}/{r}/installation` answers
    /// it, `POST /app/installations/{id}/access_tokens` mints tokens for it, and its tokens work
    /// on `repo`. A repository never put in an installation answers 404 there, and an
    /// installation token answers 404 on every repository of other installations.
    pub fn set_installation(&self, repo: &str, installation_id: u64) {
        self.inner
            .lock()
            .installations
            .insert(repo.to_string(), installation_id);
    }

    /// An installation with no repository (yet): tokens can be minted for it.
    pub fn add_installation(&self, installation_id: u64) {
        self.inner
            .lock()
            .known_installations
            .insert(installation_id);
    }

    /// The permissions of an installation (`[("issues", "read"), ...]`, replacing the default
    /// [`DEFAULT_INSTALLATION_PERMISSIONS`]): its tokens carry them (or the subset asked for when
    /// minted), and a write needing a permission the token lacks answers 403 `Resource not
    /// accessible by integration`.
    pub fn set_installation_permissions(&self, installation_id: u64, permissions: &[(&str, &str)]) {
        let map = permissions
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.inner
            .lock()
            .installation_permissions
            .insert(installation_id, map);
    }

    /// Number of installation tokens issued so far.
    pub fn tokens_issued(&self) -> usize {
        self.inner.lock().tokens_issued
    }

    /// The installation tokens issued so far (in no particular order).
    pub fn issued_tokens(&self) -> Vec<String> {
        self.inner
            .lock()
            .installation_tokens
            .keys()
            .cloned()
            .collect()
    }

    /// The installation id an issued installation token belongs to, and whether it is expired.
    pub fn token_installation(&self, token: &str) -> Option<(u64, bool)> {
        self.inner
            .lock()
            .installation_tokens
            .get(token)
            .map(|t| (t.installation_id, t.expires_at <= Utc::now()))
    }

    // ----- failure injection -----

    /// The next `count` requests whose `"METHOD /path?query"` (without `/api/v3`) starts with
    /// `prefix` answer `status` with a GitHub error body. A `prefix` starting with `/` matches any
    /// method. Default messages: 401 `Bad credentials`, 403 `Resource not accessible by
    /// integration`, 404 `Not Found`, 422 `Validation Failed`, 429 `API rate limit exceeded...`,
    /// 5xx `Server Error`. When the message contains "rate limit" the answer carries
    /// `retry-after: 1` and `x-ratelimit-*` headers.
    pub fn fail_next(&self, prefix: &str, status: u16, count: usize) {
        self.push_failure(prefix, status, count, None);
    }

    /// Like [`fail_next`](Self::fail_next) with an explicit `message`.
    pub fn fail_next_with(&self, prefix: &str, status: u16, count: usize, message: &str) {
        self.push_failure(prefix, status, count, Some(message.to_string()));
    }

    /// The next `count` matching requests answer GitHub's 403 secondary rate limit (with
    /// `retry-after: 1`).
    pub fn fail_next_secondary_rate_limit(&self, prefix: &str, count: usize) {
        self.push_failure(
            prefix,
            403,
            count,
            Some(
                "You have exceeded a secondary rate limit. Please wait a few minutes before you \
                 try again. If you reach out to GitHub Support for help, please include the \
                 request ID 0000:0000:0000000:0000000:00000000."
                    .to_string(),
            ),
        );
    }

    fn push_failure(&self, prefix: &str, status: u16, count: usize, message: Option<String>) {
        if count == 0 {
            return;
        }
        self.inner.lock().failures.push(Failure {
            prefix: prefix.to_string(),
            status,
            remaining: count,
            message,
        });
    }

    // ----- what happened -----

    /// Current comments on `repo#issue`, in creation order.
    pub fn comments(&self, repo: &str, issue: u64) -> Vec<Comment> {
        self.inner
            .lock()
            .comments
            .iter()
            .filter(|c| c.repo == repo && c.issue == issue)
            .cloned()
            .collect()
    }

    /// Every comment on every issue, in creation order.
    pub fn all_comments(&self) -> Vec<Comment> {
        self.inner.lock().comments.clone()
    }

    /// A comment by id.
    pub fn comment(&self, id: u64) -> Option<Comment> {
        self.inner
            .lock()
            .comments
            .iter()
            .find(|c| c.id == id)
            .cloned()
    }

    /// Every reaction, in creation order.
    pub fn reactions(&self) -> Vec<Reaction> {
        self.inner.lock().reactions.clone()
    }

    /// The check runs of `repo`, in creation order, as they are now.
    pub fn check_runs(&self, repo: &str) -> Vec<CheckRun> {
        self.inner
            .lock()
            .check_runs
            .iter()
            .filter(|c| c.repo.eq_ignore_ascii_case(repo))
            .cloned()
            .collect()
    }

    /// The review comments of pull request `repo#pull` (replies included, with their
    /// `in_reply_to_id`), in creation order.
    pub fn review_comments(&self, repo: &str, pull: u64) -> Vec<ReviewComment> {
        self.inner
            .lock()
            .review_comments
            .iter()
            .filter(|c| c.repo.eq_ignore_ascii_case(repo) && c.pull == pull)
            .cloned()
            .collect()
    }

    /// Labels currently on `repo#issue`.
    pub fn labels(&self, repo: &str, issue: u64) -> Vec<String> {
        self.inner
            .lock()
            .labels
            .get(&(repo.to_string(), issue))
            .cloned()
            .unwrap_or_default()
    }

    /// Issues of `repo` created through the API or with [`add_issue`](Self::add_issue), in
    /// creation order, with their current labels.
    pub fn issues(&self, repo: &str) -> Vec<Issue> {
        let st = self.inner.lock();
        st.issues
            .iter()
            .filter(|i| i.repo == repo)
            .map(|i| Issue {
                number: i.number,
                repo: i.repo.clone(),
                title: i.title.clone(),
                body: i.body.clone(),
                labels: st.issue_labels(&i.repo, i.number),
                state: i.state.clone(),
                user: i.user.clone(),
            })
            .collect()
    }

    /// Every request received, in order.
    pub fn requests(&self) -> Vec<Request> {
        self.inner.lock().requests.clone()
    }

    /// Forget recorded requests (state is kept).
    pub fn clear_requests(&self) {
        self.inner.lock().requests.clear();
    }

    /// Number of requests with `method` (case-insensitive) whose path (without `/api/v3`, with
    /// query) starts with `path_prefix`.
    pub fn count(&self, method: &str, path_prefix: &str) -> usize {
        self.inner
            .lock()
            .requests
            .iter()
            .filter(|r| r.method.eq_ignore_ascii_case(method) && r.path.starts_with(path_prefix))
            .count()
    }
}
