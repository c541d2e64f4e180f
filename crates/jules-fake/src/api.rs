//! The 12 v1alpha methods: routing (including `{id}:verb` custom methods), per-request
//! bookkeeping (stats, latency, auth, query checks, injected faults) and the handlers.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use tokio::time::Instant;

use crate::errors::ApiError;
use crate::filters;
use crate::ids;
use crate::input::{self, parse_body};
use crate::lifecycle::{self, Agent};
use crate::paging;
use crate::server::DropConnection;
use crate::state::{App, AutomationMode, Session, SessionState, SourceContext, Store};

/// The method names used in stats and fault configs, as Google names them.
pub const METHOD_NAMES: [&str; 12] = [
    "sources.list",
    "sources.get",
    "sessions.create",
    "sessions.get",
    "sessions.list",
    "sessions.delete",
    "sessions.sendMessage",
    "sessions.approvePlan",
    "sessions.archive",
    "sessions.unarchive",
    "activities.list",
    "activities.get",
];

const SOURCES_PAGE_SIZE: usize = 30;
const SESSIONS_PAGE_SIZE: usize = 30;
const ACTIVITIES_PAGE_SIZE: usize = 50;

/// A routed request.
#[derive(Debug, Clone, PartialEq)]
enum Call {
    SourcesList,
    SourcesGet { name: String },
    SessionsCreate,
    SessionsGet { id: String },
    SessionsList,
    SessionsDelete { id: String },
    SendMessage { id: String },
    ApprovePlan { id: String },
    Archive { id: String },
    Unarchive { id: String },
    ActivitiesList { session: String },
    ActivitiesGet { session: String, activity: String },
}

impl Call {
    fn method_name(&self) -> &'static str {
        match self {
            Self::SourcesList => "sources.list",
            Self::SourcesGet { .. } => "sources.get",
            Self::SessionsCreate => "sessions.create",
            Self::SessionsGet { .. } => "sessions.get",
            Self::SessionsList => "sessions.list",
            Self::SessionsDelete { .. } => "sessions.delete",
            Self::SendMessage { .. } => "sessions.sendMessage",
            Self::ApprovePlan { .. } => "sessions.approvePlan",
            Self::Archive { .. } => "sessions.archive",
            Self::Unarchive { .. } => "sessions.unarchive",
            Self::ActivitiesList { .. } => "activities.list",
            Self::ActivitiesGet { .. } => "activities.get",
        }
    }

    fn is_list(&self) -> bool {
        matches!(
            self,
            Self::SourcesList | Self::SessionsList | Self::ActivitiesList { .. }
        )
    }
}

/// Maps `METHOD /v1alpha/...` to a call. axum cannot route `sessions/{id}:verb`, so the
/// path is split by hand.
fn route(method: &Method, path: &str) -> Option<Call> {
    let rest = path.strip_prefix("/v1alpha/")?;
    let segments: Vec<&str> = rest.split('/').collect();
    let call = match (method.as_str(), segments.as_slice()) {
        ("GET", ["sources"]) => Call::SourcesList,
        ("GET", ["sources", _, ..]) => Call::SourcesGet {
            name: rest.to_string(),
        },
        ("GET", ["sessions"]) => Call::SessionsList,
        ("POST", ["sessions"]) => Call::SessionsCreate,
        (method, ["sessions", id_and_verb]) => {
            let (id, verb) = match id_and_verb.split_once(':') {
                Some((id, verb)) => (id.to_string(), Some(verb)),
                None => (id_and_verb.to_string(), None),
            };
            match (method, verb) {
                ("GET", None) => Call::SessionsGet { id },
                ("DELETE", None) => Call::SessionsDelete { id },
                ("POST", Some("sendMessage")) => Call::SendMessage { id },
                ("POST", Some("approvePlan")) => Call::ApprovePlan { id },
                ("POST", Some("archive")) => Call::Archive { id },
                ("POST", Some("unarchive")) => Call::Unarchive { id },
                _ => return None,
            }
        }
        ("GET", ["sessions", id, "activities"]) => Call::ActivitiesList {
            session: id.to_string(),
        },
        ("GET", ["sessions", id, "activities", activity]) => Call::ActivitiesGet {
            session: id.to_string(),
            activity: activity.to_string(),
        },
        _ => return None,
    };
    Some(call)
}

/// The query parameters the list methods take.
#[derive(Debug, Default)]
struct ListQuery {
    page_size: Option<String>,
    page_token: Option<String>,
    filter: Option<String>,
}

/// Accepts the list parameters (camelCase or snake_case) on list methods and Google's
/// system parameters everywhere; anything else is rejected like the real front end does.
fn check_query(pairs: &[(String, String)], is_list: bool) -> Result<ListQuery, ApiError> {
    let mut query = ListQuery::default();
    for (name, value) in pairs {
        match name.as_str() {
            "pageSize" | "page_size" if is_list => query.page_size = Some(value.clone()),
            "pageToken" | "page_token" if is_list => query.page_token = Some(value.clone()),
            "filter" if is_list => query.filter = Some(value.clone()),
            "key" | "$.xgafv" | "prettyPrint" => {}
            "alt" if value == "json" => {}
            "alt" => {
                return Err(ApiError::invalid_argument(format!(
                    "Invalid alt parameter \"{value}\": only alt=json is supported."
                )))
            }
            _ => return Err(ApiError::unknown_query_parameter(name)),
        }
    }
    Ok(query)
}

/// `X-Goog-Api-Key` (or Google's `?key=`): missing is CREDENTIALS_MISSING; with a
/// configured key, any other key is rejected; without one, any non-empty key passes.
/// Returns the key, which quotas are counted by.
fn authenticate(
    app: &App,
    headers: &HeaderMap,
    pairs: &[(String, String)],
) -> Result<String, ApiError> {
    let from_header = headers
        .get("x-goog-api-key")
        .and_then(|value| value.to_str().ok());
    let from_query = pairs
        .iter()
        .find(|(name, _)| name == "key")
        .map(|(_, value)| value.as_str());
    let presented = from_header
        .or(from_query)
        .map(str::trim)
        .filter(|key| !key.is_empty());
    match (presented, &app.api_key) {
        (None, _) => Err(ApiError::credentials_missing()),
        (Some(key), Some(expected)) if key != expected => Err(ApiError::invalid_api_key()),
        (Some(key), _) => Ok(key.to_owned()),
    }
}

/// What a handler produces besides errors.
enum Reply {
    Json(Value),
    /// 200 with no body bytes at all (the live sendMessage sometimes answers so).
    Empty,
    /// The work is done but the client must see the connection die instead of an answer.
    DropConnection,
}

/// The fallback handler for everything outside `/_fake/`.
pub async fn handle(
    State(app): State<Arc<App>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = percent_decode(uri.path());
    let Some(call) = route(&method, &path) else {
        return ApiError::not_found().into_response();
    };
    let latency = {
        let mut store = app.store();
        let raw = uri
            .path_and_query()
            .map_or_else(|| uri.path(), |pq| pq.as_str());
        store.count_request(call.method_name(), raw);
        store.faults.latency()
    };
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    match serve(&app, &call, &uri, &headers, &body) {
        Ok(Reply::Json(value)) => Json(value).into_response(),
        Ok(Reply::Empty) => (
            StatusCode::OK,
            [(
                axum::http::header::CONTENT_TYPE,
                "application/json; charset=UTF-8",
            )],
        )
            .into_response(),
        Ok(Reply::DropConnection) => {
            let mut response = StatusCode::OK.into_response();
            response.extensions_mut().insert(DropConnection);
            response
        }
        Err(error) => {
            tracing::debug!(method = call.method_name(), status = error.status, message = %error.message, "error answer");
            error.into_response()
        }
    }
}

fn serve(
    app: &App,
    call: &Call,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Reply, ApiError> {
    let pairs = Query::<Vec<(String, String)>>::try_from_uri(uri)
        .map(|Query(pairs)| pairs)
        .map_err(|_| ApiError::invalid_argument("Malformed query string."))?;
    let key = authenticate(app, headers, &pairs)?;
    let query = check_query(&pairs, call.is_list())?;
    let mut store = app.store();
    if let Some(error) = store.faults.injected_error(call.method_name()) {
        return Err(error);
    }
    let store = &mut *store;
    if let Call::ActivitiesList { .. } = call {
        let now = store.clock.current();
        let limits = store.settings.limits;
        store.quotas.admit_list_activities(&limits, &key, now)?;
    }
    let value = match call {
        Call::SourcesList => list_sources(store, &query)?,
        Call::SourcesGet { name } => store
            .sources
            .lookup(name)
            .map(|source| source.to_json(store.sources.branches))
            .ok_or_else(ApiError::not_found)?,
        Call::SessionsCreate => {
            let created = create_session(store, body, &key)?;
            if store.faults.take_dropped_create() {
                tracing::info!("dropping the connection after committing a session (fault)");
                return Ok(Reply::DropConnection);
            }
            created
        }
        Call::SessionsGet { id } => find_session(store, id)?.to_json(),
        Call::SessionsList => list_sessions(store, &query)?,
        Call::SessionsDelete { id } => {
            store.sessions.remove(id).ok_or_else(ApiError::not_found)?;
            json!({})
        }
        Call::SendMessage { id } => {
            let request: SendMessageRequest = input::typed(parse_body(body, input::SEND_MESSAGE)?)?;
            if request.prompt.trim().is_empty() {
                return Err(ApiError::invalid_argument("prompt must not be empty."));
            }
            let now = store.clock.now();
            let empty_answer = store.quirks.empty_send_message_body;
            lifecycle::send_message(find_session(store, id)?, now, &request.prompt);
            if empty_answer {
                return Ok(Reply::Empty);
            }
            json!({})
        }
        Call::ApprovePlan { id } => {
            parse_body(body, input::EMPTY)?;
            let now = store.clock.now();
            let session = find_session(store, id)?;
            lifecycle::approve_plan(session, now)?;
            session.approved_json()
        }
        Call::Archive { id } => {
            parse_body(body, input::EMPTY)?;
            let now = store.clock.now();
            let session = find_session(store, id)?;
            lifecycle::archive(session, now);
            session.to_json()
        }
        Call::Unarchive { id } => {
            parse_body(body, input::EMPTY)?;
            // Only the flag: a PAUSED session stays paused until a message wakes it. Only
            // archive's answer is known to be the Session, so this one stays `{}`.
            find_session(store, id)?.archived = false;
            json!({})
        }
        Call::ActivitiesList { session } => list_activities(store, session, &query)?,
        Call::ActivitiesGet { session, activity } => {
            let session = visible_activities_session(store, session)?;
            session
                .activities
                .iter()
                .find(|candidate| candidate.id == *activity)
                .map(|found| found.json.clone())
                .ok_or_else(ApiError::not_found)?
        }
    };
    Ok(Reply::Json(value))
}

fn find_session<'a>(store: &'a mut Store, id: &str) -> Result<&'a mut Session, ApiError> {
    store.sessions.get_mut(id).ok_or_else(ApiError::not_found)
}

/// A session whose activities may be read (the `activitiesNotFoundMs` fault hides them).
fn visible_activities_session<'a>(store: &'a mut Store, id: &str) -> Result<&'a Session, ApiError> {
    let hidden_window = store.faults.config.activities_not_found_ms;
    let session = store.sessions.get(id).ok_or_else(ApiError::not_found)?;
    if hidden_window > 0
        && store
            .faults
            .activities_hidden(Instant::now().duration_since(session.created_at))
    {
        return Err(ApiError::not_found());
    }
    Ok(session)
}

/// `{"<field>": [...], "nextPageToken": "..."}` with proto3 omissions (`{}` when empty).
fn page_json(field: &str, items: Vec<Value>, list: &str, next: Option<String>) -> Value {
    let mut page = Map::new();
    if !items.is_empty() {
        page.insert(field.to_string(), Value::Array(items));
    }
    if let Some(last_key) = next {
        page.insert(
            "nextPageToken".to_string(),
            Value::String(paging::encode_token(list, &last_key)),
        );
    }
    Value::Object(page)
}

fn list_sources(store: &mut Store, query: &ListQuery) -> Result<Value, ApiError> {
    let size = paging::page_size(query.page_size.as_deref(), SOURCES_PAGE_SIZE)?;
    let after = paging::decode_token("sources", query.page_token.as_deref())?;
    let sources = match filters::parse_source_name_filter(query.filter.as_deref())? {
        Some(names) => store.sources.list_named(&names),
        None => store.sources.list(),
    };
    let items = sources
        .into_iter()
        .map(|source| (source.name(), source.to_json(store.sources.branches)))
        .collect();
    let (page, next) = paging::paginate(items, after.as_deref(), size);
    Ok(page_json("sources", page, "sources", next))
}

fn list_sessions(store: &mut Store, query: &ListQuery) -> Result<Value, ApiError> {
    let size = paging::page_size(query.page_size.as_deref(), SESSIONS_PAGE_SIZE)?;
    let after = paging::decode_token("sessions", query.page_token.as_deref())?;
    let want_archived = filters::parse_archived_filter(query.filter.as_deref())?;
    // Newest first: the key sorts ascending by (inverted createTime, id).
    let mut items: Vec<(String, Value)> = store
        .sessions
        .values()
        .filter(|session| session.archived == want_archived)
        .map(|session| {
            let inverted = i64::MAX - session.create_time.timestamp_micros();
            (format!("{inverted:020}|{}", session.id), session.to_json())
        })
        .collect();
    items.sort_by(|a, b| a.0.cmp(&b.0));
    let (page, next) = paging::paginate(items, after.as_deref(), size);
    Ok(page_json("sessions", page, "sessions", next))
}

/// Activities, oldest first. The live page token is a nanoseconds-since-epoch cursor, "the
/// first activity at or after T", so the fake hands out such tokens too (the createTime of
/// the next page's first activity; createTimes never repeat in the fake) and accepts any
/// client-made one. Its older opaque tokens are still accepted.
fn list_activities(store: &mut Store, id: &str, query: &ListQuery) -> Result<Value, ApiError> {
    let session = visible_activities_session(store, id)?;
    let size = paging::page_size(query.page_size.as_deref(), ACTIVITIES_PAGE_SIZE)?;
    let list = format!("activities/{id}");
    let start = match query.page_token.as_deref() {
        Some(token) if paging::is_nanos_cursor(token) => {
            ActivityStart::AtOrAfterNanos(paging::decode_nanos_cursor(token)?)
        }
        token => match paging::decode_token(&list, token)? {
            Some(key) => ActivityStart::AfterKey(key),
            None => ActivityStart::Beginning,
        },
    };
    let created_after = filters::parse_create_time_filter(query.filter.as_deref())?;
    // Appended in createTime order already.
    let mut remaining = session
        .activities
        .iter()
        .filter(|activity| created_after.is_none_or(|bound| activity.create_time > bound))
        .filter(|activity| start.admits(activity));
    let page: Vec<Value> = remaining
        .by_ref()
        .take(size)
        .map(|activity| activity.json.clone())
        .collect();
    let mut json = Map::new();
    if !page.is_empty() {
        json.insert("activities".into(), Value::Array(page));
    }
    if let Some(next) = remaining.next() {
        json.insert(
            "nextPageToken".into(),
            Value::String(paging::nanos_cursor(&next.create_time)),
        );
    }
    Ok(Value::Object(json))
}

/// Where an activities page starts.
enum ActivityStart {
    Beginning,
    /// A nanoseconds cursor: at or after this instant.
    AtOrAfterNanos(i128),
    /// An opaque token from before the fake used cursors: after this sort key.
    AfterKey(String),
}

impl ActivityStart {
    fn admits(&self, activity: &crate::state::Activity) -> bool {
        match self {
            Self::Beginning => true,
            Self::AtOrAfterNanos(nanos) => paging::nanos_of(&activity.create_time) >= *nanos,
            Self::AfterKey(key) => {
                let micros = activity.create_time.timestamp_micros();
                format!("{micros:020}|{}", activity.id).as_str() > key.as_str()
            }
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateSessionRequest {
    #[serde(default)]
    prompt: String,
    #[serde(default)]
    title: String,
    source_context: Option<SourceContext>,
    #[serde(default)]
    require_plan_approval: bool,
    automation_mode: Option<Value>,
}

#[derive(Deserialize)]
struct SendMessageRequest {
    #[serde(default)]
    prompt: String,
}

fn create_session(store: &mut Store, body: &[u8], key: &str) -> Result<Value, ApiError> {
    let body = parse_body(body, input::SESSION)?;
    // The quirk needs to know whether `false` was sent or merely defaulted.
    let explicitly_no_approval = body.get("requirePlanApproval") == Some(&Value::Bool(false));
    let request: CreateSessionRequest = input::typed(body)?;
    if request.prompt.trim().is_empty() {
        return Err(ApiError::invalid_argument("prompt is required."));
    }
    let automation_mode = match &request.automation_mode {
        None => AutomationMode::Unspecified,
        Some(value) => AutomationMode::parse(value).ok_or_else(|| {
            ApiError::invalid_payload(format!(
                "Invalid value at 'session.automation_mode' (type.googleapis.com/google.labs.jules.v1alpha.AutomationMode), {value}"
            ))
        })?,
    };
    // Reproduces the live service: an explicit `requirePlanApproval: false` without an
    // automation mode fails this way.
    if explicitly_no_approval && automation_mode == AutomationMode::Unspecified {
        return Err(ApiError::failed_precondition());
    }
    let source_context = match request.source_context {
        None => None,
        Some(mut context) => {
            if context.source.is_empty() {
                return Err(ApiError::invalid_argument(
                    "source_context.source is required.",
                ));
            }
            store
                .sources
                .lookup(&context.source)
                .ok_or_else(ApiError::not_found)?;
            // Output only: the agent picks the working branch once it starts.
            context.working_branch.clear();
            Some(context)
        }
    };
    // The plan limits are checked once the request is known to be valid.
    let running = store
        .sessions
        .values()
        .filter(|session| session.api_key == key && session.state.is_running())
        .count();
    let limits = store.settings.limits;
    let current = store.clock.current();
    store.quotas.check_create(&limits, key, current, running)?;
    // The live API titles an untitled session with the whole prompt.
    let (title, summary) = match request.title.trim() {
        "" => (
            ids::title_from_whole_prompt(&request.prompt),
            ids::title_from_prompt(&request.prompt),
        ),
        // The fake's scenario words steer it; its own texts (plan, PR title) never show them.
        title => (title.to_string(), ids::strip_scenario_markers(title)),
    };
    let id = loop {
        let candidate = ids::new_session_id();
        if !store.sessions.contains_key(&candidate) {
            break candidate;
        }
    };
    let now = store.clock.now();
    store.quotas.record_create(key, current);
    let session = Session {
        id: id.clone(),
        api_key: key.to_owned(),
        title,
        summary,
        agent: Agent::new(&request.prompt),
        prompt: request.prompt,
        source_context,
        require_plan_approval: request.require_plan_approval,
        automation_mode,
        state: SessionState::Queued,
        create_time: now,
        update_time: now,
        activities_move_update_time: !store.quirks.activities_keep_update_time,
        archived: false,
        paused_from: None,
        pull_request: None,
        activities: Vec::new(),
        created_at: Instant::now(),
    };
    let response = session.created_json();
    store.sessions.insert(id, session);
    Ok(response)
}

/// Decodes `%XX` escapes (clients may escape the `:` of custom verbs).
fn percent_decode(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%' {
            let hex = path.get(index + 1..index + 3);
            if let Some(byte) = hex.and_then(|hex| u8::from_str_radix(hex, 16).ok()) {
                out.push(byte);
                index += 3;
                continue;
            }
        }
        out.push(bytes[index]);
        index += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_all_twelve_methods() {
        let cases = [
            ("GET", "/v1alpha/sources", "sources.list"),
            ("GET", "/v1alpha/sources/github/o/r", "sources.get"),
            ("POST", "/v1alpha/sessions", "sessions.create"),
            ("GET", "/v1alpha/sessions/1", "sessions.get"),
            ("GET", "/v1alpha/sessions", "sessions.list"),
            ("DELETE", "/v1alpha/sessions/1", "sessions.delete"),
            (
                "POST",
                "/v1alpha/sessions/1:sendMessage",
                "sessions.sendMessage",
            ),
            (
                "POST",
                "/v1alpha/sessions/1:approvePlan",
                "sessions.approvePlan",
            ),
            ("POST", "/v1alpha/sessions/1:archive", "sessions.archive"),
            (
                "POST",
                "/v1alpha/sessions/1:unarchive",
                "sessions.unarchive",
            ),
            ("GET", "/v1alpha/sessions/1/activities", "activities.list"),
            ("GET", "/v1alpha/sessions/1/activities/ab", "activities.get"),
        ];
        for (method, path, name) in cases {
            let method = Method::from_bytes(method.as_bytes()).expect("valid method");
            let call = route(&method, path).unwrap_or_else(|| panic!("{path} routes"));
            assert_eq!(call.method_name(), name);
        }
        assert_eq!(route(&Method::POST, "/v1alpha/sessions/1:cancel"), None);
        assert_eq!(route(&Method::PATCH, "/v1alpha/sessions/1"), None);
        assert_eq!(route(&Method::GET, "/v1/sessions"), None);
    }

    #[test]
    fn percent_decoding_handles_escaped_colons() {
        assert_eq!(
            percent_decode("/v1alpha/sessions/1%3AapprovePlan"),
            "/v1alpha/sessions/1:approvePlan"
        );
        assert_eq!(percent_decode("/a%zz%"), "/a%zz%");
    }
}
