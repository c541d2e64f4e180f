//! The typed Jules REST client (v1alpha): all 12 methods, retries, and safe session creation.

use std::sync::Arc;
use std::time::Duration;

use futures::{Stream, TryStreamExt};
use reqwest::header::{HeaderMap, HeaderValue, LOCATION, RETRY_AFTER};
use reqwest::{redirect, Method};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde_json::Value;
use tracing::{debug, warn};
use url::{Host, Origin, Url};

use super::create::{self, RequestTag};
use super::error::{ApiError, JulesError};
use super::models::{
    session_id, source_name, Activity, ActivityPage, NewSession, Session, SessionPage, Source,
    SourcePage, Timestamp,
};
use super::paging::paginate;
use super::retry::{is_transient, RetryPolicy, Safety};

/// The public Jules endpoint; `JULES_API_URL` overrides it (for `jules-fake`, a proxy, ...).
pub const DEFAULT_API_URL: &str = "https://jules.googleapis.com";

/// At most this many redirects are followed per request, and only within the origin of the
/// request: the API key header (`X-Goog-Api-Key`) is never sent anywhere else.
const MAX_REDIRECTS: usize = 5;

/// How the client connects; every field has a sensible default.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The service root, without `/v1alpha`.
    pub base_url: String,
    pub connect_timeout: Duration,
    /// For one HTTP exchange (retries get their own).
    pub request_timeout: Duration,
    pub retry: RetryPolicy,
    pub user_agent: String,
    /// Told about every HTTP exchange (for metrics).
    pub observer: Option<CallObserver>,
    /// Asked before every HTTP exchange (Jules' request quotas; `budget.rs`).
    pub budget: Option<super::budget::SharedBudget>,
}

/// A callback told about every API call: the method name (`sessions.get`) and the HTTP
/// status (0 when no answer came).
#[derive(Clone)]
pub struct CallObserver(pub Arc<dyn Fn(&'static str, u16) + Send + Sync>);

impl std::fmt::Debug for CallObserver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CallObserver")
    }
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            base_url: DEFAULT_API_URL.to_owned(),
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            retry: RetryPolicy::default(),
            user_agent: concat!("jules-bridge/", env!("CARGO_PKG_VERSION")).to_owned(),
            observer: None,
            budget: None,
        }
    }
}

/// A Jules API client. Cheap to clone: clones share one connection pool.
#[derive(Clone)]
pub struct JulesClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    /// `{base_url}/v1alpha`.
    api_root: String,
    /// The origin of `api_root`: the only one the key is sent to.
    origin: Origin,
    /// Kept only to make sure no error message ever repeats it.
    api_key: SecretString,
    retry: RetryPolicy,
    observer: Option<CallObserver>,
    budget: Option<super::budget::SharedBudget>,
}

impl std::fmt::Debug for JulesClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JulesClient")
            .field("api_root", &self.inner.api_root)
            .finish_non_exhaustive()
    }
}

/// One API call, described once and sent as often as its retry rules allow.
pub(super) struct Call<'a> {
    /// The API method name (`sessions.get`), for logs and errors.
    pub(super) method: &'static str,
    http: Method,
    /// The path below `/v1alpha/`.
    path: String,
    query: Vec<(&'static str, String)>,
    body: Option<&'a Value>,
    safety: Safety,
}

impl JulesClient {
    /// A client for `config.base_url` that authenticates with `api_key`.
    ///
    /// The URL must be `https://`, or `http://` to a loopback host (127.0.0.0/8, `::1`,
    /// `localhost`, for `jules-fake`): the key must not cross a network in the clear.
    /// Redirects are followed only within the URL's origin, five at most.
    pub fn new(api_key: SecretString, config: ClientConfig) -> Result<Self, JulesError> {
        if api_key.expose_secret().trim().is_empty() {
            return Err(JulesError::Config(
                "no Jules API key: set JULES_API_KEY or pass --api-key".into(),
            ));
        }
        let base = Url::parse(config.base_url.trim())
            .ok()
            .filter(|url| matches!(url.scheme(), "http" | "https") && url.has_host())
            .ok_or_else(|| {
                JulesError::Config(format!(
                    "the Jules API URL {:?} is not an http(s) URL",
                    config.base_url
                ))
            })?;
        if base.scheme() == "http" && !base.host().is_some_and(is_loopback) {
            return Err(JulesError::Config(format!(
                "the Jules API URL must use https: plain http is allowed only to a loopback \
                 host (127.0.0.0/8, ::1, localhost), and {} is not one",
                base.host_str().unwrap_or_default()
            )));
        }
        let mut key = HeaderValue::from_str(api_key.expose_secret().trim())
            .map_err(|_| JulesError::Config("the Jules API key has invalid characters".into()))?;
        key.set_sensitive(true);
        let mut headers = HeaderMap::new();
        headers.insert("x-goog-api-key", key);
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .user_agent(config.user_agent)
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            .redirect(redirect::Policy::custom(|attempt| {
                if follows_redirect(attempt.previous(), attempt.url()) {
                    attempt.follow()
                } else {
                    // The 3xx answer comes back to `send_once`, which reports it.
                    attempt.stop()
                }
            }))
            .build()
            .map_err(|err| JulesError::Config(format!("cannot build the HTTP client: {err}")))?;
        Ok(JulesClient {
            inner: Arc::new(Inner {
                http,
                api_root: format!("{}/v1alpha", base.as_str().trim_end_matches('/')),
                origin: base.origin(),
                api_key,
                retry: config.retry,
                observer: config.observer,
                budget: config.budget,
            }),
        })
    }

    // ---- sources ----------------------------------------------------------------------------

    /// `sources.list`, one page. `filter` accepts only `name` terms (`name=sources/a OR ...`).
    pub async fn list_sources_page(
        &self,
        filter: Option<&str>,
        page_size: Option<u32>,
        page_token: Option<&str>,
    ) -> Result<SourcePage, JulesError> {
        let query = page_query(filter, page_size, page_token);
        self.execute(Call::get("sources.list", "sources".into()).with_query(query))
            .await
    }

    /// Every source, following `nextPageToken`.
    pub fn sources(
        &self,
        filter: Option<String>,
    ) -> impl Stream<Item = Result<Source, JulesError>> + Send + '_ {
        paginate(move |token| {
            let filter = filter.clone();
            async move {
                let page = self
                    .list_sources_page(filter.as_deref(), Some(100), token.as_deref())
                    .await?;
                Ok((page.sources, page.next_page_token))
            }
        })
    }

    /// `sources.get` by name (`sources/github/o/r`) or `owner/repo`.
    pub async fn get_source(&self, name_or_repo: &str) -> Result<Source, JulesError> {
        self.execute(Call::get("sources.get", source_name(name_or_repo)))
            .await
    }

    // ---- sessions ---------------------------------------------------------------------------

    /// `sessions.create`, safe to call once per intent: a create whose answer was lost is
    /// looked up before it is tried again, so it never makes a second session
    /// (see [`create`](super::create) for how).
    pub async fn create_session(&self, new: &NewSession) -> Result<Session, JulesError> {
        let tag = new.request_tag.clone().unwrap_or_else(RequestTag::random);
        let body = serde_json::to_value(create::tagged_request(new, &tag))
            .map_err(|err| JulesError::Config(format!("cannot encode the session: {err}")))?;
        let call = Call::post(
            "sessions.create",
            "sessions".into(),
            &body,
            Safety::NotIdempotent,
        );
        create::create_once(self, call, &tag).await
    }

    /// `sessions.get`; `id` with or without the `sessions/` prefix.
    pub async fn get_session(&self, id: &str) -> Result<Session, JulesError> {
        self.execute(Call::get("sessions.get", session_path(id)))
            .await
    }

    /// `sessions.list`, one page, newest first. `archived` lists only archived sessions
    /// (archived ones are hidden otherwise).
    pub async fn list_sessions_page(
        &self,
        archived: bool,
        page_size: Option<u32>,
        page_token: Option<&str>,
    ) -> Result<SessionPage, JulesError> {
        let filter = archived.then_some("archived = true");
        let query = page_query(filter, page_size, page_token);
        self.execute(Call::get("sessions.list", "sessions".into()).with_query(query))
            .await
    }

    /// Every session, newest first, following `nextPageToken`.
    pub fn sessions(
        &self,
        archived: bool,
    ) -> impl Stream<Item = Result<Session, JulesError>> + Send + '_ {
        paginate(move |token| async move {
            let page = self
                .list_sessions_page(archived, Some(100), token.as_deref())
                .await?;
            Ok((page.sessions, page.next_page_token))
        })
    }

    /// `sessions.delete`.
    pub async fn delete_session(&self, id: &str) -> Result<(), JulesError> {
        let call = Call {
            http: Method::DELETE,
            ..Call::get("sessions.delete", session_path(id))
        };
        self.execute::<Value>(call).await.map(drop)
    }

    /// `sessions.sendMessage`. Not idempotent: when the answer is lost it is NOT sent again
    /// (that could post the message twice); the error says the outcome is unknown.
    pub async fn send_message(&self, id: &str, text: &str) -> Result<(), JulesError> {
        let body = serde_json::json!({ "prompt": text });
        let call = Call::post(
            "sessions.sendMessage",
            format!("{}:sendMessage", session_path(id)),
            &body,
            Safety::NotIdempotent,
        );
        self.execute_reporting_unknown::<Value>(call)
            .await
            .map(drop)
    }

    /// `sessions.approvePlan`. Answers 400 `FAILED_PRECONDITION` when no plan is pending.
    /// Approving twice cannot approve two plans, so a lost answer is retried; a
    /// `FAILED_PRECONDITION` after a lost answer means the first attempt went through.
    pub async fn approve_plan(&self, id: &str) -> Result<(), JulesError> {
        let body = serde_json::json!({});
        let call = Call::post(
            "sessions.approvePlan",
            format!("{}:approvePlan", session_path(id)),
            &body,
            Safety::Idempotent,
        );
        let mut schedule = self.inner.retry.start();
        let mut earlier_outcome_unknown = false;
        loop {
            match self.send_once::<Value>(&call).await {
                Ok(_) => return Ok(()),
                Err(JulesError::Api(api))
                    if api.is_failed_precondition() && earlier_outcome_unknown =>
                {
                    debug!("approvePlan: plan already approved by an earlier attempt");
                    return Ok(());
                }
                Err(error) => {
                    earlier_outcome_unknown |= super::retry::outcome_unknown(&error);
                    let delay = is_transient(&error, Safety::Idempotent)
                        .then(|| schedule.next_delay(retry_after(&error)))
                        .flatten();
                    let Some(delay) = delay else {
                        return Err(error);
                    };
                    log_retry(call.method, &error, delay);
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }

    /// `sessions.archive`. Answers the session or `{}` (undocumented: both are accepted).
    pub async fn archive_session(&self, id: &str) -> Result<Option<Session>, JulesError> {
        self.archive_call("sessions.archive", "archive", id).await
    }

    /// `sessions.unarchive`. Answers the session or `{}`.
    pub async fn unarchive_session(&self, id: &str) -> Result<Option<Session>, JulesError> {
        self.archive_call("sessions.unarchive", "unarchive", id)
            .await
    }

    async fn archive_call(
        &self,
        method: &'static str,
        verb: &str,
        id: &str,
    ) -> Result<Option<Session>, JulesError> {
        let body = serde_json::json!({});
        let path = format!("{}:{verb}", session_path(id));
        let answer: Value = self
            .execute(Call::post(method, path, &body, Safety::Idempotent))
            .await?;
        if answer.get("name").is_none() {
            return Ok(None);
        }
        serde_json::from_value(answer)
            .map(Some)
            .map_err(|err| JulesError::Decode {
                method,
                detail: err.to_string(),
            })
    }

    // ---- activities -------------------------------------------------------------------------

    /// `activities.list`, one page, oldest first; `after` keeps only activities created
    /// strictly later (`filter=create_time>"..."`). The 404 that Jules answers for a few
    /// seconds after a session is created is retried while the session exists.
    pub async fn list_activities_page(
        &self,
        id: &str,
        after: Option<Timestamp>,
        page_size: Option<u32>,
        page_token: Option<&str>,
    ) -> Result<ActivityPage, JulesError> {
        let filter = after.map(|time| format!("create_time>\"{}\"", format_timestamp(&time)));
        let query = page_query(filter.as_deref(), page_size, page_token);
        let call = Call::get(
            "activities.list",
            format!("{}/activities", session_path(id)),
        )
        .with_query(query);
        self.execute_while_session_appears(id, call).await
    }

    /// Every activity (after `after`), oldest first, following `nextPageToken`.
    pub fn activities<'a>(
        &'a self,
        id: &'a str,
        after: Option<Timestamp>,
    ) -> impl Stream<Item = Result<Activity, JulesError>> + Send + 'a {
        paginate(move |token| async move {
            let page = self
                .list_activities_page(id, after, Some(100), token.as_deref())
                .await?;
            Ok((page.activities, page.next_page_token))
        })
    }

    /// `activities.get`; `activity_id` is the 32-hex id or the full name.
    pub async fn get_activity(&self, id: &str, activity_id: &str) -> Result<Activity, JulesError> {
        let activity_id = activity_id.rsplit('/').next().unwrap_or(activity_id);
        let call = Call::get(
            "activities.get",
            format!("{}/activities/{activity_id}", session_path(id)),
        );
        self.execute_while_session_appears(id, call).await
    }

    /// Reads a whole activity stream into a vector.
    pub async fn all_activities(
        &self,
        id: &str,
        after: Option<Timestamp>,
    ) -> Result<Vec<Activity>, JulesError> {
        self.activities(id, after).try_collect().await
    }

    // ---- transport --------------------------------------------------------------------------

    /// Sends `call`, retrying transient failures by its safety, and decodes the answer.
    async fn execute<T: DeserializeOwned>(&self, call: Call<'_>) -> Result<T, JulesError> {
        let mut schedule = self.inner.retry.start();
        loop {
            match self.send_once(&call).await {
                Ok(value) => return Ok(value),
                Err(error) => {
                    let delay = is_transient(&error, call.safety)
                        .then(|| schedule.next_delay(retry_after(&error)))
                        .flatten();
                    let Some(delay) = delay else {
                        return Err(error);
                    };
                    log_retry(call.method, &error, delay);
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }

    /// Like [`execute`](Self::execute), and says so when a non-idempotent call ended in a
    /// failure after which it may still have gone through.
    async fn execute_reporting_unknown<T: DeserializeOwned>(
        &self,
        call: Call<'_>,
    ) -> Result<T, JulesError> {
        let method = call.method;
        self.execute(call).await.map_err(|error| {
            if super::retry::outcome_unknown(&error) {
                JulesError::OutcomeUnknown {
                    method,
                    cause: Box::new(error),
                }
            } else {
                error
            }
        })
    }

    /// For activity reads: Jules answers 404 for a while after a session is created. A 404
    /// is retried as long as `sessions.get` finds the session; otherwise it is returned.
    async fn execute_while_session_appears<T: DeserializeOwned>(
        &self,
        id: &str,
        call: Call<'_>,
    ) -> Result<T, JulesError> {
        let mut schedule = self.inner.retry.start();
        loop {
            match self.execute(Call { ..call.clone() }).await {
                Err(error) if error.is_not_found() => {
                    self.get_session(id).await?;
                    let Some(delay) = schedule.next_delay(None) else {
                        return Err(error);
                    };
                    log_retry(call.method, &error, delay);
                    tokio::time::sleep(delay).await;
                }
                other => return other,
            }
        }
    }

    /// One HTTP exchange.
    pub(super) async fn send_once<T: DeserializeOwned>(
        &self,
        call: &Call<'_>,
    ) -> Result<T, JulesError> {
        let url = format!("{}/{}", self.inner.api_root, call.path);
        let mut request = self.inner.http.request(call.http.clone(), url);
        if !call.query.is_empty() {
            request = request.query(&call.query);
        }
        if let Some(body) = call.body {
            request = request.json(body);
        }
        if let Some(budget) = &self.inner.budget {
            // Every attempt counts against a quota, retries included.
            if !budget.0.spend(call.method).await {
                return Err(JulesError::OverBudget {
                    method: call.method,
                });
            }
        }
        debug!(method = call.method, "jules request");
        let response = request.send().await;
        if let Some(observer) = &self.inner.observer {
            let status = response.as_ref().map_or(0, |r| r.status().as_u16());
            (observer.0)(call.method, status);
        }
        let response = response.map_err(|err| JulesError::from_reqwest(call.method, err))?;
        let status = response.status();
        if status.is_redirection() {
            return Err(self.unfollowed_redirect(call.method, &response));
        }
        let retry_after = parse_retry_after(response.headers());
        let body = response
            .bytes()
            .await
            .map_err(|err| JulesError::from_reqwest(call.method, err))?;
        debug!(
            method = call.method,
            status = status.as_u16(),
            "jules response"
        );
        if !status.is_success() {
            return Err(JulesError::Api(ApiError::from_response(
                status.as_u16(),
                &body,
                retry_after,
            )));
        }
        // An empty answer is the empty message `{}`.
        let body: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
            b"{}"
        } else {
            &body
        };
        serde_json::from_slice(body).map_err(|err| JulesError::Decode {
            method: call.method,
            detail: err.to_string(),
        })
    }

    pub(super) fn retry_policy(&self) -> &RetryPolicy {
        &self.inner.retry
    }

    /// The error for a 3xx answer that the redirect policy did not follow. It names at most
    /// the origin of the target, never its path or query, and never the key.
    fn unfollowed_redirect(
        &self,
        method: &'static str,
        response: &reqwest::Response,
    ) -> JulesError {
        let target = response
            .headers()
            .get(LOCATION)
            .and_then(|location| location.to_str().ok())
            .and_then(|location| response.url().join(location).ok());
        let detail = match target {
            None => "the answer has no usable Location".to_owned(),
            Some(target) if target.origin() == self.inner.origin => format!(
                "more than {MAX_REDIRECTS} redirects within {}",
                self.inner.origin.ascii_serialization()
            ),
            Some(target) => {
                let to = target.origin().ascii_serialization();
                let key = self
                    .inner
                    .api_key
                    .expose_secret()
                    .trim()
                    .to_ascii_lowercase();
                let to = if to.to_ascii_lowercase().contains(&key) {
                    "a URL that contains the API key".to_owned()
                } else {
                    to
                };
                format!(
                    "it points to another origin ({to}); the API key is only sent to {}",
                    self.inner.origin.ascii_serialization()
                )
            }
        };
        JulesError::Redirect {
            method,
            status: response.status().as_u16(),
            detail,
        }
    }
}

/// Whether a redirect to `next` is followed: only within the origin (scheme, host, port) of
/// the original request (`previous[0]`), and only `MAX_REDIRECTS` times.
fn follows_redirect(previous: &[Url], next: &Url) -> bool {
    // `previous` holds the original URL and every URL redirected to so far.
    let Some(original) = previous.first() else {
        return false;
    };
    previous.len() <= MAX_REDIRECTS && next.origin() == original.origin()
}

/// 127.0.0.0/8, `::1` or `localhost`.
fn is_loopback(host: Host<&str>) -> bool {
    match host {
        Host::Domain(name) => name.eq_ignore_ascii_case("localhost"),
        Host::Ipv4(ip) => ip.is_loopback(),
        Host::Ipv6(ip) => ip.is_loopback(),
    }
}

impl<'a> Call<'a> {
    fn get(method: &'static str, path: String) -> Self {
        Call {
            method,
            http: Method::GET,
            path,
            query: Vec::new(),
            body: None,
            safety: Safety::Idempotent,
        }
    }

    fn post(method: &'static str, path: String, body: &'a Value, safety: Safety) -> Self {
        Call {
            method,
            http: Method::POST,
            path,
            query: Vec::new(),
            body: Some(body),
            safety,
        }
    }

    fn with_query(mut self, query: Vec<(&'static str, String)>) -> Self {
        self.query = query;
        self
    }
}

impl Clone for Call<'_> {
    fn clone(&self) -> Self {
        Call {
            method: self.method,
            http: self.http.clone(),
            path: self.path.clone(),
            query: self.query.clone(),
            body: self.body,
            safety: self.safety,
        }
    }
}

fn session_path(id: &str) -> String {
    format!("sessions/{}", session_id(id.trim()))
}

fn page_query(
    filter: Option<&str>,
    page_size: Option<u32>,
    page_token: Option<&str>,
) -> Vec<(&'static str, String)> {
    let mut query = Vec::new();
    if let Some(size) = page_size {
        query.push(("pageSize", size.to_string()));
    }
    if let Some(token) = page_token.filter(|token| !token.is_empty()) {
        query.push(("pageToken", token.to_owned()));
    }
    if let Some(filter) = filter.filter(|filter| !filter.is_empty()) {
        query.push(("filter", filter.to_owned()));
    }
    query
}

/// RFC 3339 with as many fractional digits as needed, so a filter on a timestamp read from
/// the API is exact.
pub fn format_timestamp(time: &Timestamp) -> String {
    time.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

/// `Retry-After` as seconds or as an HTTP date.
fn parse_retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(
        when.duration_since(std::time::SystemTime::now())
            .unwrap_or_default(),
    )
}

pub(super) fn retry_after(error: &JulesError) -> Option<Duration> {
    error.api().and_then(|api| api.retry_after)
}

pub(super) fn log_retry(method: &str, error: &JulesError, delay: Duration) {
    warn!(method, %error, delay_ms = delay.as_millis() as u64, "retrying Jules call");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap()
    }

    #[test]
    fn redirects_are_followed_only_within_the_origin() {
        let start = [url("https://jules.example/v1alpha/sessions/1")];
        assert!(follows_redirect(
            &start,
            &url("https://jules.example/other")
        ));
        assert!(follows_redirect(
            &start,
            &url("https://jules.example:443/other")
        ));
        for elsewhere in [
            "https://evil.example/v1alpha/sessions/1",
            "http://jules.example/v1alpha/sessions/1",
            "https://jules.example:8443/v1alpha/sessions/1",
            "https://sub.jules.example/v1alpha/sessions/1",
        ] {
            assert!(!follows_redirect(&start, &url(elsewhere)), "{elsewhere}");
        }
        assert!(!follows_redirect(&[], &url("https://jules.example/")));
    }

    #[test]
    fn at_most_five_redirects_are_followed() {
        let hop = url("https://jules.example/hop");
        let mut previous = vec![url("https://jules.example/start")];
        for _ in 0..MAX_REDIRECTS {
            assert!(follows_redirect(&previous, &hop));
            previous.push(hop.clone());
        }
        assert!(!follows_redirect(&previous, &hop));
    }
}
