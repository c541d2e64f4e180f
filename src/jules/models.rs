//! The Jules v1alpha resources, as proto3 JSON.
//!
//! proto3 JSON rules apply throughout: a field at its default (`""`, `0`, `false`, empty list,
//! unset message) is omitted on the wire, so every field here has a default and is skipped
//! again when serialised at its default; unknown fields are ignored; every enum keeps unknown
//! values (see [`open_enum`](super::open_enum)). The `oneof` groups (an activity's kind, an
//! artifact, a session output) are Rust enums with an `Unknown` arm that keeps the raw JSON.

use chrono::{DateTime, Utc};
use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use super::open_enum::open_enum;

/// Timestamps are RFC 3339 UTC with 0, 3, 6 or 9 fractional digits; chrono keeps nanoseconds,
/// so a timestamp read from the API is sent back (in a filter) without losing precision.
pub type Timestamp = DateTime<Utc>;

fn is_false(value: &bool) -> bool {
    !*value
}

fn is_zero(value: &i64) -> bool {
    *value == 0
}

fn is_zero_u32(value: &u32) -> bool {
    *value == 0
}

open_enum! {
    /// Where a session is in its life. `COMPLETED` is not final: a message wakes the session.
    pub enum State {
        Unspecified = "STATE_UNSPECIFIED",
        Queued = "QUEUED",
        Planning = "PLANNING",
        AwaitingPlanApproval = "AWAITING_PLAN_APPROVAL",
        AwaitingUserFeedback = "AWAITING_USER_FEEDBACK",
        InProgress = "IN_PROGRESS",
        Paused = "PAUSED",
        Failed = "FAILED",
        Completed = "COMPLETED",
    }
}

impl State {
    /// The session waits for a person (a plan to approve, a question to answer, or a pause
    /// set in the web app): polling can slow down.
    pub fn awaits_human(&self) -> bool {
        matches!(
            self,
            State::AwaitingPlanApproval | State::AwaitingUserFeedback | State::Paused
        )
    }

    /// The session stopped working: it completed or failed. (A message can still wake it.)
    pub fn is_finished(&self) -> bool {
        matches!(self, State::Completed | State::Failed)
    }
}

open_enum! {
    /// What Jules does with the result.
    pub enum AutomationMode {
        Unspecified = "AUTOMATION_MODE_UNSPECIFIED",
        AutoCreatePr = "AUTO_CREATE_PR",
    }
}

open_enum! {
    /// Who caused an activity.
    pub enum Originator {
        Unspecified = "",
        User = "user",
        Agent = "agent",
        System = "system",
    }
}

/// A Jules session (`sessions/{id}`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Session {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub prompt: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub title: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_context: Option<SourceContext>,
    #[serde(skip_serializing_if = "is_false")]
    pub require_plan_approval: bool,
    #[serde(skip_serializing_if = "AutomationMode::is_default")]
    pub automation_mode: AutomationMode,
    #[serde(skip_serializing_if = "State::is_default")]
    pub state: State,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub create_time: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub update_time: Option<Timestamp>,
    #[serde(skip_serializing_if = "is_false")]
    pub archived: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub outputs: Vec<SessionOutput>,
}

impl Session {
    /// The id, taken from `name` when the sparse create response has no `id`.
    pub fn session_id(&self) -> &str {
        if self.id.is_empty() {
            self.name.strip_prefix("sessions/").unwrap_or(&self.name)
        } else {
            &self.id
        }
    }

    /// The first pull request Jules opened for this session, if any.
    pub fn pull_request(&self) -> Option<&PullRequest> {
        self.outputs.iter().find_map(|output| match output {
            SessionOutput::PullRequest(pr) => Some(pr),
            _ => None,
        })
    }
}

/// The repository a session works on.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SourceContext {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub source: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub github_repo_context: Option<GithubRepoContext>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub working_branch: String,
    #[serde(skip_serializing_if = "is_false")]
    pub environment_variables_enabled: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GithubRepoContext {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub starting_branch: String,
}

/// The input fields of `sessions.create`. Built with [`NewSession::new`] and the `with_*`
/// methods; `requirePlanApproval: false` is never sent explicitly (the live API has been seen
/// to reject it together with an unspecified automation mode).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewSession {
    pub prompt: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub title: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_context: Option<SourceContext>,
    #[serde(skip_serializing_if = "is_false")]
    pub require_plan_approval: bool,
    #[serde(skip_serializing_if = "AutomationMode::is_default")]
    pub automation_mode: AutomationMode,
    /// Identifies this create so that a lost answer never leads to a second session; a
    /// random one is used when unset (see [`create`](super::create)).
    #[serde(skip)]
    pub request_tag: Option<super::create::RequestTag>,
}

impl NewSession {
    pub fn new(prompt: impl Into<String>) -> Self {
        NewSession {
            prompt: prompt.into(),
            ..NewSession::default()
        }
    }

    /// Work on a GitHub repository: `owner/repo` or a full source name (`sources/...`).
    pub fn with_source(mut self, source: &str, starting_branch: Option<&str>) -> Self {
        self.source_context = Some(SourceContext {
            source: source_name(source),
            github_repo_context: starting_branch.map(|branch| GithubRepoContext {
                starting_branch: branch.to_owned(),
            }),
            ..SourceContext::default()
        });
        self
    }

    pub fn with_title(mut self, title: impl Into<String>) -> Self {
        self.title = title.into();
        self
    }

    pub fn with_plan_approval(mut self, required: bool) -> Self {
        self.require_plan_approval = required;
        self
    }

    pub fn with_automation_mode(mut self, mode: AutomationMode) -> Self {
        self.automation_mode = mode;
        self
    }
}

/// `owner/repo` -> `sources/github/owner/repo`; a name that already starts with `sources/`
/// is kept as it is (names are opaque: dashed aliases exist).
pub fn source_name(source: &str) -> String {
    if source.starts_with("sources/") {
        source.to_owned()
    } else {
        format!("sources/github/{source}")
    }
}

/// `sessions/123` or `123` -> `123`.
pub fn session_id(id_or_name: &str) -> &str {
    id_or_name.strip_prefix("sessions/").unwrap_or(id_or_name)
}

/// One entry of `Session.outputs`: exactly one of `pullRequest` or `changeSet`.
#[derive(Debug, Clone, PartialEq)]
pub enum SessionOutput {
    PullRequest(PullRequest),
    ChangeSet(ChangeSet),
    /// An output kind this client does not know, kept as sent.
    Unknown(Map<String, Value>),
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PullRequest {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub url: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub title: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub description: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub base_ref: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub head_ref: String,
}

/// A set of changes to a source, as a git patch.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ChangeSet {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub source: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub git_patch: Option<GitPatch>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GitPatch {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub unidiff_patch: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub base_commit_id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub suggested_commit_message: String,
}

/// Something an activity produced: exactly one of `changeSet`, `media` or `bashOutput`.
#[derive(Debug, Clone, PartialEq)]
pub enum Artifact {
    ChangeSet(ChangeSet),
    Media(Media),
    /// No longer sent by the live API, still parsed.
    BashOutput(BashOutput),
    Unknown(Map<String, Value>),
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Media {
    /// Base64 data.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub data: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub mime_type: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct BashOutput {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub command: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub output: String,
    #[serde(skip_serializing_if = "is_zero")]
    pub exit_code: i64,
}

/// One event in a session (`sessions/{s}/activities/{a}`); immutable once written.
#[derive(Debug, Clone, PartialEq)]
pub struct Activity {
    pub name: String,
    pub id: String,
    pub description: String,
    pub create_time: Option<Timestamp>,
    pub originator: Originator,
    pub artifacts: Vec<Artifact>,
    pub kind: ActivityKind,
}

/// What happened: exactly one of the seven kinds of the API.
#[derive(Debug, Clone, PartialEq)]
pub enum ActivityKind {
    PlanGenerated(PlanGenerated),
    PlanApproved(PlanApproved),
    UserMessaged(UserMessaged),
    AgentMessaged(AgentMessaged),
    ProgressUpdated(ProgressUpdated),
    SessionCompleted(SessionCompleted),
    SessionFailed(SessionFailed),
    /// A kind this client does not know: every field of the activity that is not one of the
    /// common ones, as sent.
    Unknown(Map<String, Value>),
}

impl ActivityKind {
    /// The wire name of the kind (`planGenerated`, ...), or `unknown`.
    pub fn name(&self) -> &str {
        match self {
            ActivityKind::PlanGenerated(_) => "planGenerated",
            ActivityKind::PlanApproved(_) => "planApproved",
            ActivityKind::UserMessaged(_) => "userMessaged",
            ActivityKind::AgentMessaged(_) => "agentMessaged",
            ActivityKind::ProgressUpdated(_) => "progressUpdated",
            ActivityKind::SessionCompleted(_) => "sessionCompleted",
            ActivityKind::SessionFailed(_) => "sessionFailed",
            ActivityKind::Unknown(fields) => fields.keys().next().map_or("unknown", |k| k),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PlanGenerated {
    pub plan: Plan,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Plan {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub id: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<PlanStep>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub create_time: Option<Timestamp>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PlanStep {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub title: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// Zero-based; absent on the wire for the first step.
    #[serde(skip_serializing_if = "is_zero_u32")]
    pub index: u32,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PlanApproved {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub plan_id: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct UserMessaged {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub user_message: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AgentMessaged {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub agent_message: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ProgressUpdated {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub title: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub description: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SessionCompleted {}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SessionFailed {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub reason: String,
}

/// A connected repository (`sources/github/{owner}/{repo}`; treat names as opaque).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Source {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub github_repo: Option<GithubRepo>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GithubRepo {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub owner: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub repo: String,
    #[serde(skip_serializing_if = "is_false")]
    pub is_private: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_branch: Option<GithubBranch>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub branches: Vec<GithubBranch>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GithubBranch {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub display_name: String,
}

/// One page of `sources.list`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SourcePage {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<Source>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_page_token: Option<String>,
}

/// One page of `sessions.list`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SessionPage {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sessions: Vec<Session>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_page_token: Option<String>,
}

/// One page of `activities.list`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ActivityPage {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub activities: Vec<Activity>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_page_token: Option<String>,
}

// ---- oneof plumbing -------------------------------------------------------------------------
//
// serde's derive has no "exactly one of these keys, else keep the rest" representation, so the
// oneof types go through a JSON object: known keys are taken out in turn and the first one
// present decides the variant; nothing is lost when none matches.

fn take<T: DeserializeOwned, E: serde::de::Error>(
    fields: &mut Map<String, Value>,
    key: &str,
) -> Result<Option<T>, E> {
    match fields.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => serde_json::from_value(value)
            .map(Some)
            .map_err(|err| E::custom(format!("{key}: {err}"))),
    }
}

fn put<T: Serialize, E: serde::ser::Error>(
    fields: &mut Map<String, Value>,
    key: &str,
    value: &T,
) -> Result<(), E> {
    fields.insert(
        key.to_owned(),
        serde_json::to_value(value).map_err(E::custom)?,
    );
    Ok(())
}

impl<'de> Deserialize<'de> for SessionOutput {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut fields = Map::deserialize(deserializer)?;
        if let Some(pr) = take(&mut fields, "pullRequest")? {
            return Ok(SessionOutput::PullRequest(pr));
        }
        if let Some(change_set) = take(&mut fields, "changeSet")? {
            return Ok(SessionOutput::ChangeSet(change_set));
        }
        Ok(SessionOutput::Unknown(fields))
    }
}

impl Serialize for SessionOutput {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut fields = Map::new();
        match self {
            SessionOutput::PullRequest(pr) => put(&mut fields, "pullRequest", pr)?,
            SessionOutput::ChangeSet(change_set) => put(&mut fields, "changeSet", change_set)?,
            SessionOutput::Unknown(raw) => fields = raw.clone(),
        }
        fields.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Artifact {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut fields = Map::deserialize(deserializer)?;
        if let Some(change_set) = take(&mut fields, "changeSet")? {
            return Ok(Artifact::ChangeSet(change_set));
        }
        if let Some(media) = take(&mut fields, "media")? {
            return Ok(Artifact::Media(media));
        }
        if let Some(bash) = take(&mut fields, "bashOutput")? {
            return Ok(Artifact::BashOutput(bash));
        }
        Ok(Artifact::Unknown(fields))
    }
}

impl Serialize for Artifact {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut fields = Map::new();
        match self {
            Artifact::ChangeSet(change_set) => put(&mut fields, "changeSet", change_set)?,
            Artifact::Media(media) => put(&mut fields, "media", media)?,
            Artifact::BashOutput(bash) => put(&mut fields, "bashOutput", bash)?,
            Artifact::Unknown(raw) => fields = raw.clone(),
        }
        fields.serialize(serializer)
    }
}

const ACTIVITY_COMMON_FIELDS: [&str; 6] = [
    "name",
    "id",
    "description",
    "createTime",
    "originator",
    "artifacts",
];

impl<'de> Deserialize<'de> for Activity {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut fields = Map::deserialize(deserializer)?;
        let name: String = take(&mut fields, "name")?.unwrap_or_default();
        let id: String = take(&mut fields, "id")?.unwrap_or_default();
        let description = take(&mut fields, "description")?.unwrap_or_default();
        let create_time = take(&mut fields, "createTime")?;
        let originator = take(&mut fields, "originator")?.unwrap_or_default();
        let artifacts = take(&mut fields, "artifacts")?.unwrap_or_default();
        let kind = activity_kind::<D::Error>(fields)?;
        if name.is_empty() && id.is_empty() {
            return Err(D::Error::custom("activity has neither name nor id"));
        }
        Ok(Activity {
            name,
            id,
            description,
            create_time,
            originator,
            artifacts,
            kind,
        })
    }
}

fn activity_kind<E: serde::de::Error>(mut fields: Map<String, Value>) -> Result<ActivityKind, E> {
    Ok(if let Some(kind) = take(&mut fields, "planGenerated")? {
        ActivityKind::PlanGenerated(kind)
    } else if let Some(kind) = take(&mut fields, "planApproved")? {
        ActivityKind::PlanApproved(kind)
    } else if let Some(kind) = take(&mut fields, "userMessaged")? {
        ActivityKind::UserMessaged(kind)
    } else if let Some(kind) = take(&mut fields, "agentMessaged")? {
        ActivityKind::AgentMessaged(kind)
    } else if let Some(kind) = take(&mut fields, "progressUpdated")? {
        ActivityKind::ProgressUpdated(kind)
    } else if let Some(kind) = take(&mut fields, "sessionCompleted")? {
        ActivityKind::SessionCompleted(kind)
    } else if let Some(kind) = take(&mut fields, "sessionFailed")? {
        ActivityKind::SessionFailed(kind)
    } else {
        ActivityKind::Unknown(fields)
    })
}

impl Serialize for Activity {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut fields = Map::new();
        if !self.name.is_empty() {
            put(&mut fields, "name", &self.name)?;
        }
        if !self.id.is_empty() {
            put(&mut fields, "id", &self.id)?;
        }
        if !self.description.is_empty() {
            put(&mut fields, "description", &self.description)?;
        }
        if let Some(time) = &self.create_time {
            put(&mut fields, "createTime", time)?;
        }
        if !self.originator.is_default() {
            put(&mut fields, "originator", &self.originator)?;
        }
        if !self.artifacts.is_empty() {
            put(&mut fields, "artifacts", &self.artifacts)?;
        }
        match &self.kind {
            ActivityKind::PlanGenerated(kind) => put(&mut fields, "planGenerated", kind)?,
            ActivityKind::PlanApproved(kind) => put(&mut fields, "planApproved", kind)?,
            ActivityKind::UserMessaged(kind) => put(&mut fields, "userMessaged", kind)?,
            ActivityKind::AgentMessaged(kind) => put(&mut fields, "agentMessaged", kind)?,
            ActivityKind::ProgressUpdated(kind) => put(&mut fields, "progressUpdated", kind)?,
            ActivityKind::SessionCompleted(kind) => put(&mut fields, "sessionCompleted", kind)?,
            ActivityKind::SessionFailed(kind) => put(&mut fields, "sessionFailed", kind)?,
            ActivityKind::Unknown(raw) => {
                for (key, value) in raw {
                    if !ACTIVITY_COMMON_FIELDS.contains(&key.as_str()) {
                        fields.insert(key.clone(), value.clone());
                    }
                }
            }
        }
        fields.serialize(serializer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_enum_values_are_kept() {
        let session: Session =
            serde_json::from_value(json!({"name": "sessions/1", "state": "HIBERNATING"})).unwrap();
        assert_eq!(session.state, State::Unknown("HIBERNATING".into()));
        assert_eq!(
            serde_json::to_value(&session).unwrap()["state"],
            "HIBERNATING"
        );
    }

    #[test]
    fn defaults_are_omitted_when_serialised() {
        let session = Session {
            name: "sessions/1".into(),
            ..Session::default()
        };
        assert_eq!(
            serde_json::to_value(&session).unwrap(),
            json!({"name": "sessions/1"})
        );
        let step: PlanStep = serde_json::from_value(json!({"id": "a", "title": "t"})).unwrap();
        assert_eq!(step.index, 0);
        assert_eq!(
            serde_json::to_value(&step).unwrap(),
            json!({"id": "a", "title": "t"})
        );
    }

    #[test]
    fn an_activity_of_an_unknown_kind_keeps_its_fields() {
        let raw = json!({
            "name": "sessions/1/activities/a", "id": "a", "originator": "agent",
            "createTime": "2026-01-17T00:03:53.137240123Z",
            "reviewRequested": {"reviewer": "bob"}
        });
        let activity: Activity = serde_json::from_value(raw.clone()).unwrap();
        assert_eq!(activity.kind.name(), "reviewRequested");
        assert_eq!(serde_json::to_value(&activity).unwrap(), raw);
    }

    #[test]
    fn new_session_never_sends_plan_approval_false() {
        let body = serde_json::to_value(NewSession::new("fix it").with_source("o/r", Some("main")))
            .unwrap();
        assert_eq!(
            body,
            json!({"prompt": "fix it", "sourceContext": {"source": "sources/github/o/r",
                "githubRepoContext": {"startingBranch": "main"}}})
        );
    }

    #[test]
    fn timestamps_keep_nanoseconds() {
        let raw = json!({"name": "sessions/1/activities/a", "createTime": "2026-01-17T00:03:53.137240123Z"});
        let activity: Activity = serde_json::from_value(raw).unwrap();
        let time = activity.create_time.unwrap();
        assert_eq!(
            time.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
            "2026-01-17T00:03:53.137240123Z"
        );
    }
}
