//! The fake's memory: sessions with their activities, the source catalogue, request stats.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use tokio::time::Instant;

use crate::clock::{format_timestamp, MonotonicClock, Timestamp};
use crate::faults::Faults;
use crate::lifecycle::Agent;
use crate::quotas::{Limits, Quotas};

/// Everything shared between the HTTP handlers and the background stepper.
pub struct App {
    pub api_key: Option<String>,
    store: Mutex<Store>,
}

/// Configuration the store needs at run time; fixed for the fake's life.
#[derive(Debug, Clone)]
pub struct Settings {
    /// A plan waiting this long for approval is approved by Jules itself.
    pub auto_approve_after: Option<Duration>,
    pub limits: Limits,
    /// What `POST /_fake/reset` restores the quirk switches to.
    pub quirks: Quirks,
}

/// Answer-shape quirks of the live API that are not always seen; switched at run time by
/// `POST /_fake/quirks`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Quirks {
    /// `sessions.sendMessage` answers 200 with an entirely empty body instead of `{}`.
    pub empty_send_message_body: bool,
    /// New activities leave `updateTime` where it was (only state changes move it), for
    /// sessions created while this is on. Whether the live API moves it with every activity is
    /// not documented; a client must not depend on it.
    pub activities_keep_update_time: bool,
}

impl App {
    pub fn new(api_key: Option<String>, catalog: SourceCatalog, settings: Settings) -> Self {
        Self {
            api_key,
            store: Mutex::new(Store::new(catalog, settings)),
        }
    }

    /// The lock is never held across an await, so a poisoned lock only means a panic in
    /// plain data code; the data is still usable.
    pub fn store(&self) -> MutexGuard<'_, Store> {
        self.store
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

pub struct Store {
    pub sessions: HashMap<String, Session>,
    pub clock: MonotonicClock,
    pub sources: SourceCatalog,
    /// Next pull request number per `owner/repo`.
    pub pull_request_numbers: HashMap<String, u64>,
    /// Requests per API method name (`sessions.create`, ...).
    pub requests: BTreeMap<&'static str, u64>,
    pub faults: Faults,
    /// Background ticks so far; `[fake:slow]` sessions act on every tenth.
    pub ticks: u64,
    /// The newest API requests, oldest first (at most [`REQUEST_LOG_LIMIT`]), for benchmarks
    /// and tests that need to know when a call arrived.
    pub request_log: VecDeque<RequestRecord>,
    pub settings: Settings,
    pub quirks: Quirks,
    pub quotas: Quotas,
}

/// How many requests the log keeps; older ones are dropped.
pub const REQUEST_LOG_LIMIT: usize = 100_000;

/// One API request as it arrived (before latency or faults), for timing measurements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    /// When it arrived (monotonic).
    pub at: std::time::Instant,
    /// When it arrived (wall clock).
    pub time: Timestamp,
    /// The API method name (`sessions.list`, ...).
    pub method: &'static str,
    /// The path and query as received (`/v1alpha/sessions/123/activities?pageSize=50`).
    pub path: String,
}

impl Store {
    fn new(sources: SourceCatalog, settings: Settings) -> Self {
        Self {
            quirks: settings.quirks.clone(),
            settings,
            quotas: Quotas::default(),
            sessions: HashMap::new(),
            clock: MonotonicClock::default(),
            sources,
            pull_request_numbers: HashMap::new(),
            requests: BTreeMap::new(),
            faults: Faults::default(),
            ticks: 0,
            request_log: VecDeque::new(),
        }
    }

    /// Back to a fresh fake; only the configuration (key, fixed sources, limits, configured
    /// quirks) and the clock stay.
    pub fn reset(&mut self) {
        self.quirks = self.settings.quirks.clone();
        self.quotas = Quotas::default();
        self.sessions.clear();
        self.sources.reset();
        self.pull_request_numbers.clear();
        self.requests.clear();
        self.faults = Faults::default();
        self.ticks = 0;
        self.request_log.clear();
    }

    pub fn count_request(&mut self, method: &'static str, path: &str) {
        *self.requests.entry(method).or_default() += 1;
        if self.request_log.len() >= REQUEST_LOG_LIMIT {
            self.request_log.pop_front();
        }
        self.request_log.push_back(RequestRecord {
            at: std::time::Instant::now(),
            time: chrono::Utc::now(),
            method,
            path: path.to_owned(),
        });
    }
}

/// A GitHub repository as a Jules source.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Source {
    pub owner: String,
    pub repo: String,
}

impl Source {
    /// `owner/repo`
    pub fn parse_slug(slug: &str) -> Option<Source> {
        let (owner, repo) = slug.split_once('/')?;
        let valid = |part: &str| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        };
        (valid(owner) && valid(repo)).then(|| Source {
            owner: owner.to_string(),
            repo: repo.to_string(),
        })
    }

    /// `sources/github/owner/repo`
    pub fn parse_name(name: &str) -> Option<Source> {
        Self::parse_slug(name.strip_prefix("sources/github/")?)
    }

    pub fn slug(&self) -> String {
        format!("{}/{}", self.owner, self.repo)
    }

    pub fn name(&self) -> String {
        format!("sources/github/{}", self.slug())
    }

    /// `branches` is how many branches the repository lists: `main` plus `branches - 1`
    /// others (the live list is unbounded; 515 were seen on one repository).
    pub fn to_json(&self, branches: usize) -> Value {
        let mut names = vec![json!({"displayName": "main"})];
        names.extend(
            (1..branches).map(|n| json!({"displayName": format!("feature/branch-{n:04}")})),
        );
        json!({
            "name": self.name(),
            "id": format!("github/{}", self.slug()),
            "githubRepo": {
                "owner": self.owner,
                "repo": self.repo,
                "defaultBranch": {"displayName": "main"},
                "branches": names,
            }
        })
    }
}

/// Which sources exist. Without a configured list every `sources/github/OWNER/REPO` exists
/// and listing shows a demo repository plus the ones clients have used so far (a client
/// that picks its repository from the list, as the official SDK's examples do, finds one).
pub struct SourceCatalog {
    configured: Option<BTreeSet<Source>>,
    referenced: BTreeSet<Source>,
    /// How many branches every source lists (at least 1, `main`).
    pub branches: usize,
}

impl SourceCatalog {
    pub fn new(configured: Option<Vec<String>>, branches: usize) -> Self {
        let configured = configured.map(|slugs| {
            slugs
                .iter()
                .filter_map(|slug| Source::parse_slug(slug.trim()))
                .collect()
        });
        let mut catalog = Self {
            configured,
            referenced: BTreeSet::new(),
            branches: branches.max(1),
        };
        catalog.seed();
        catalog
    }

    /// The repository listed by a fresh fake without `--source`.
    pub const DEMO_SOURCE: &'static str = "octo-org/octo-repo";

    pub fn reset(&mut self) {
        self.referenced.clear();
        self.seed();
    }

    fn seed(&mut self) {
        if self.configured.is_none() {
            self.referenced
                .extend(Source::parse_slug(Self::DEMO_SOURCE));
        }
    }

    /// Resolves a source name; using a source is what makes it show up in lists.
    pub fn lookup(&mut self, name: &str) -> Option<Source> {
        let source = Source::parse_name(name)?;
        match &self.configured {
            Some(configured) => configured.contains(&source).then_some(source),
            None => {
                self.referenced.insert(source.clone());
                Some(source)
            }
        }
    }

    /// The sources a `name=... OR name=...` filter asks for that exist, sorted by name.
    pub fn list_named(&mut self, names: &[String]) -> Vec<Source> {
        let mut found: Vec<Source> = names.iter().filter_map(|name| self.lookup(name)).collect();
        found.sort_by_key(Source::name);
        found.dedup();
        found
    }

    /// Sorted by name.
    pub fn list(&self) -> Vec<Source> {
        let sources = self.configured.as_ref().unwrap_or(&self.referenced);
        let mut sorted: Vec<Source> = sources.iter().cloned().collect();
        sorted.sort_by_key(Source::name);
        sorted
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionState {
    Queued,
    Planning,
    AwaitingPlanApproval,
    AwaitingUserFeedback,
    InProgress,
    /// Archived while still running: it stops, but it is not over.
    Paused,
    Failed,
    Completed,
}

impl SessionState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "QUEUED",
            Self::Planning => "PLANNING",
            Self::AwaitingPlanApproval => "AWAITING_PLAN_APPROVAL",
            Self::AwaitingUserFeedback => "AWAITING_USER_FEEDBACK",
            Self::InProgress => "IN_PROGRESS",
            Self::Paused => "PAUSED",
            Self::Failed => "FAILED",
            Self::Completed => "COMPLETED",
        }
    }

    /// Still taking one of the plan's concurrent-session slots. Waiting for the user holds
    /// a slot (the session is alive); a PAUSED one does not (it stopped).
    pub fn is_running(self) -> bool {
        matches!(
            self,
            Self::Queued
                | Self::Planning
                | Self::AwaitingPlanApproval
                | Self::AwaitingUserFeedback
                | Self::InProgress
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AutomationMode {
    Unspecified,
    AutoCreatePr,
}

impl AutomationMode {
    /// Enums arrive as their name or their number (proto3 JSON allows both).
    pub fn parse(value: &Value) -> Option<Self> {
        match value {
            Value::String(name) if name == "AUTOMATION_MODE_UNSPECIFIED" => Some(Self::Unspecified),
            Value::String(name) if name == "AUTO_CREATE_PR" => Some(Self::AutoCreatePr),
            Value::Number(number) => match number.as_u64() {
                Some(0) => Some(Self::Unspecified),
                Some(1) => Some(Self::AutoCreatePr),
                _ => None,
            },
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceContext {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub source: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub github_repo_context: Option<GithubRepoContext>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub working_branch: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub environment_variables_enabled: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GithubRepoContext {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub starting_branch: String,
}

impl SourceContext {
    /// The branch work starts from: the requested one, else the repo's default.
    pub fn base_branch(&self) -> &str {
        self.github_repo_context
            .as_ref()
            .map(|context| context.starting_branch.as_str())
            .filter(|branch| !branch.is_empty())
            .unwrap_or("main")
    }
}

/// An activity is immutable once written, so it is stored already rendered.
#[derive(Debug, Clone)]
pub struct Activity {
    pub id: String,
    pub create_time: Timestamp,
    pub json: Value,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Originator {
    User,
    Agent,
    System,
}

impl Originator {
    fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Agent => "agent",
            Self::System => "system",
        }
    }
}

pub struct Session {
    pub id: String,
    /// The API key that created it: quotas are counted per key.
    pub api_key: String,
    pub title: String,
    /// A short name for the work (the given title, or the prompt's first words): used for
    /// the pull request title and the branch name, which are never the whole prompt.
    pub summary: String,
    pub prompt: String,
    pub source_context: Option<SourceContext>,
    pub require_plan_approval: bool,
    pub automation_mode: AutomationMode,
    pub state: SessionState,
    pub create_time: Timestamp,
    pub update_time: Timestamp,
    /// Whether a new activity moves `update_time` (see `Quirks::activities_keep_update_time`).
    pub activities_move_update_time: bool,
    pub archived: bool,
    /// The state a PAUSED session goes back to when a message wakes it.
    pub paused_from: Option<SessionState>,
    /// The only output the fake writes: the live API leaves `outputs` empty unless a pull
    /// request was opened (the change set is in the activities' artifacts).
    pub pull_request: Option<Value>,
    pub activities: Vec<Activity>,
    /// For `activitiesNotFoundMs`: how long ago the session was created.
    pub created_at: Instant,
    pub agent: Agent,
}

impl Session {
    pub fn name(&self) -> String {
        format!("sessions/{}", self.id)
    }

    pub fn source(&self) -> Option<Source> {
        Source::parse_name(&self.source_context.as_ref()?.source)
    }

    pub fn set_state(&mut self, state: SessionState, now: Timestamp) {
        self.state = state;
        self.update_time = now;
    }

    /// Appends an activity carrying exactly one of the seven kinds (`kind` is its JSON key).
    pub fn push_activity(
        &mut self,
        now: Timestamp,
        originator: Originator,
        kind: &str,
        payload: Value,
        artifacts: Vec<Value>,
    ) {
        let id = crate::ids::new_hex_id();
        let mut json = Map::new();
        json.insert(
            "name".into(),
            Value::String(format!("{}/activities/{id}", self.name())),
        );
        json.insert("id".into(), Value::String(id.clone()));
        json.insert("createTime".into(), Value::String(format_timestamp(&now)));
        json.insert(
            "originator".into(),
            Value::String(originator.as_str().into()),
        );
        json.insert(kind.into(), payload);
        if !artifacts.is_empty() {
            json.insert("artifacts".into(), Value::Array(artifacts));
        }
        self.activities.push(Activity {
            id,
            create_time: now,
            json: Value::Object(json),
        });
        if self.activities_move_update_time {
            self.update_time = now;
        }
    }

    /// The full resource, as sessions.get and sessions.list return it.
    pub fn to_json(&self) -> Value {
        let mut json = self.input_json();
        json.insert("state".into(), Value::String(self.state.as_str().into()));
        json.insert(
            "url".into(),
            Value::String(format!("https://jules.google.com/session/{}", self.id)),
        );
        json.insert(
            "createTime".into(),
            Value::String(format_timestamp(&self.create_time)),
        );
        json.insert(
            "updateTime".into(),
            Value::String(format_timestamp(&self.update_time)),
        );
        if self.archived {
            json.insert("archived".into(), Value::Bool(true));
        }
        if let Some(pull_request) = &self.pull_request {
            json.insert("outputs".into(), json!([pull_request]));
        }
        Value::Object(json)
    }

    /// The sparse create response: what the client sent plus name, id, title and
    /// `state: QUEUED` (the live create answer carries the state, nothing else server-made).
    pub fn created_json(&self) -> Value {
        let mut json = self.input_json();
        json.insert("state".into(), Value::String(self.state.as_str().into()));
        Value::Object(json)
    }

    /// The approvePlan answer: the live API answers a partial Session without
    /// `sourceContext`. Which other fields it drops is not published; the fake drops
    /// `sourceContext` and `outputs` and keeps the rest.
    pub fn approved_json(&self) -> Value {
        let mut json = self.to_json();
        if let Value::Object(fields) = &mut json {
            fields.remove("sourceContext");
            fields.remove("outputs");
        }
        json
    }

    fn input_json(&self) -> Map<String, Value> {
        let mut json = Map::new();
        json.insert("name".into(), Value::String(self.name()));
        json.insert("id".into(), Value::String(self.id.clone()));
        json.insert("title".into(), Value::String(self.title.clone()));
        if let Some(context) = &self.source_context {
            json.insert(
                "sourceContext".into(),
                serde_json::to_value(context).unwrap_or_default(),
            );
        }
        json.insert("prompt".into(), Value::String(self.prompt.clone()));
        if self.require_plan_approval {
            json.insert("requirePlanApproval".into(), Value::Bool(true));
        }
        if self.automation_mode == AutomationMode::AutoCreatePr {
            json.insert(
                "automationMode".into(),
                Value::String("AUTO_CREATE_PR".into()),
            );
        }
        json
    }
}
