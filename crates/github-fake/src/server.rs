//! HTTP side: one fallback handler that records the request, applies injected failures, checks
//! auth and dispatches on `(method, path segments)`.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use axum::Router;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};

use crate::templates::{self as t, rewrite, set};
use crate::{
    CheckRun, Comment, Inner, InstallationToken, Reaction, ReactionTarget, Request, ReviewComment,
    State, StoredIssue,
};

const DOCS: &str = "https://docs.github.com/rest";
const REACTIONS: [&str; 8] = [
    "+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes",
];
const MAX_BODY_CHARS: usize = 65536;

pub(crate) fn router(inner: Arc<Inner>) -> Router {
    Router::new().fallback(handle).with_state(inner)
}

/// A response under construction: status, JSON body, extra headers.
struct Reply {
    status: u16,
    body: Option<Value>,
    headers: Vec<(&'static str, String)>,
}

impl Reply {
    fn json(status: u16, body: Value) -> Reply {
        Reply {
            status,
            body: Some(body),
            headers: Vec::new(),
        }
    }

    fn empty(status: u16) -> Reply {
        Reply {
            status,
            body: None,
            headers: Vec::new(),
        }
    }

    fn error(status: u16, message: &str) -> Reply {
        Reply::json(
            status,
            json!({"message": message, "documentation_url": DOCS}),
        )
    }

    fn not_found() -> Reply {
        Reply::error(404, "Not Found")
    }

    fn validation(resource: &str, field: &str, code: &str, message: &str) -> Reply {
        Reply::json(
            422,
            json!({
                "message": "Validation Failed",
                "errors": [{"resource": resource, "field": field, "code": code, "message": message}],
                "documentation_url": DOCS,
            }),
        )
    }

    fn header(mut self, name: &'static str, value: impl Into<String>) -> Reply {
        self.headers.push((name, value.into()));
        self
    }
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Some(v) = std::str::from_utf8(&b[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn parse_query(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (
                percent_decode(&k.replace('+', " ")),
                percent_decode(&v.replace('+', " ")),
            )
        })
        .collect()
}

async fn handle(
    axum::extract::State(inner): axum::extract::State<Arc<Inner>>,
    req: axum::extract::Request,
) -> Response {
    let method = req.method().as_str().to_ascii_uppercase();
    let raw_path = req
        .uri()
        .path_and_query()
        .map(|pq| pq.as_str().to_string())
        .unwrap_or_else(|| req.uri().path().to_string());
    let headers = req.headers().clone();
    let bytes = axum::body::to_bytes(req.into_body(), 64 * 1024 * 1024)
        .await
        .unwrap_or_default();
    let body: Value = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
    };
    let authorization = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);

    let (path_only, query) = raw_path.split_once('?').unwrap_or((&raw_path, ""));
    let (prefix, norm_path) = match path_only.strip_prefix("/api/v3") {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => ("/api/v3", rest),
        _ => ("", path_only),
    };
    let norm_path = if norm_path.is_empty() { "/" } else { norm_path };
    let path = if query.is_empty() {
        norm_path.to_string()
    } else {
        format!("{norm_path}?{query}")
    };

    let ctx = Ctx {
        base: inner.base_url.clone(),
        prefix: prefix.to_string(),
        norm_path: norm_path.to_string(),
        query: parse_query(query),
        authorization: authorization.clone(),
        body: body.clone(),
    };

    let reply = {
        let mut st = inner.lock();
        let reply = match take_failure(&mut st, &method, &path) {
            Some(r) => r,
            None => route(&mut st, &ctx, &method),
        };
        tracing::debug!(%method, %raw_path, status = reply.status, "github-fake");
        st.requests.push(Request {
            method: method.clone(),
            path,
            raw_path,
            authorization,
            body,
            status: reply.status,
        });
        reply
    };
    into_response(reply)
}

fn into_response(reply: Reply) -> Response {
    let mut builder = Response::builder()
        .status(StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR));
    let h: &mut HeaderMap = builder.headers_mut().expect("fresh builder");
    h.insert(
        "x-github-media-type",
        HeaderValue::from_static("github.v3; format=json"),
    );
    h.insert(
        "x-github-api-version-selected",
        HeaderValue::from_static("2022-11-28"),
    );
    h.insert(
        "x-github-request-id",
        HeaderValue::from_static("0000:0000:0000000:0000000:00000000"),
    );
    let mut rate_headers_set = false;
    for (name, value) in &reply.headers {
        if name.starts_with("x-ratelimit") {
            rate_headers_set = true;
        }
        if let Ok(v) = HeaderValue::from_str(value) {
            h.insert(*name, v);
        }
    }
    if !rate_headers_set {
        let reset = (Utc::now().timestamp() + 3600).to_string();
        h.insert("x-ratelimit-limit", HeaderValue::from_static("5000"));
        h.insert("x-ratelimit-remaining", HeaderValue::from_static("4999"));
        h.insert("x-ratelimit-used", HeaderValue::from_static("1"));
        h.insert("x-ratelimit-resource", HeaderValue::from_static("core"));
        if let Ok(v) = HeaderValue::from_str(&reset) {
            h.insert("x-ratelimit-reset", v);
        }
    }
    match reply.body {
        Some(v) => builder
            .header("content-type", "application/json; charset=utf-8")
            .body(Body::from(v.to_string())),
        None => builder.body(Body::empty()),
    }
    .expect("valid response")
}

fn take_failure(st: &mut State, method: &str, path: &str) -> Option<Reply> {
    let key = format!("{method} {path}");
    let idx = st.failures.iter().position(|f| {
        f.remaining > 0
            && if f.prefix.starts_with('/') {
                path.starts_with(&f.prefix)
            } else {
                key.starts_with(&f.prefix)
            }
    })?;
    let f = &mut st.failures[idx];
    f.remaining -= 1;
    let (status, message) = (f.status, f.message.clone());
    if f.remaining == 0 {
        st.failures.remove(idx);
    }
    let message = message.unwrap_or_else(|| {
        match status {
            400 => "Problems parsing JSON",
            401 => "Bad credentials",
            403 => "Resource not accessible by integration",
            404 => "Not Found",
            409 => "Conflict",
            410 => "Gone",
            422 => "Validation Failed",
            429 => "API rate limit exceeded for installation ID 1. If you reach out to GitHub Support for help, please include the request ID 0000:0000:0000000:0000000:00000000.",
            500..=599 => "Server Error",
            _ => "Error",
        }
        .to_string()
    });
    let mut reply = if status == 422 {
        Reply::json(
            422,
            json!({
                "message": message,
                "errors": [{"resource": "Issue", "code": "custom", "message": "injected failure"}],
                "documentation_url": DOCS,
            }),
        )
    } else {
        Reply::error(status, &message)
    };
    if message.to_ascii_lowercase().contains("rate limit") {
        reply = reply.header("retry-after", "1");
        if !message.to_ascii_lowercase().contains("secondary") {
            reply = reply
                .header("x-ratelimit-limit", "5000")
                .header("x-ratelimit-remaining", "0")
                .header("x-ratelimit-used", "5000")
                .header("x-ratelimit-resource", "core")
                .header(
                    "x-ratelimit-reset",
                    (Utc::now().timestamp() + 1).to_string(),
                );
        }
    }
    Some(reply)
}

struct Ctx {
    base: String,
    prefix: String,
    norm_path: String,
    query: Vec<(String, String)>,
    authorization: Option<String>,
    body: Value,
}

impl Ctx {
    fn q(&self, key: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// `(scheme, credential)` from the Authorization header.
    fn credential(&self) -> Option<(&str, &str)> {
        let h = self.authorization.as_deref()?.trim();
        let (scheme, cred) = h.split_once(' ')?;
        let cred = cred.trim();
        if cred.is_empty() {
            return None;
        }
        Some((scheme, cred))
    }
}

/// Who the request acts as.
struct Actor {
    login: String,
    is_bot: bool,
    kind: ActorKind,
}

enum ActorKind {
    /// A personal access token (or another user token): `GET /user` answers its user.
    User,
    /// An Actions `GITHUB_TOKEN`, with the permissions its workflow declared (`None`: all).
    Actions(Option<std::collections::BTreeMap<String, String>>),
    /// An installation token: scoped to its installation's repositories and permissions.
    Installation {
        id: u64,
        permissions: std::collections::BTreeMap<String, String>,
        repositories: Option<Vec<String>>,
    },
}

fn looks_like_jwt(s: &str) -> bool {
    s.split('.').count() == 3 && s.starts_with("eyJ")
}

/// Token auth for the non-App endpoints: only tokens the fake knows (registered with
/// `set_token_login` / `add_actions_token`, or minted for an installation) authenticate.
fn token_actor(st: &State, ctx: &Ctx) -> Result<Actor, Reply> {
    let Some((scheme, token)) = ctx.credential() else {
        return Err(Reply::error(401, "Requires authentication"));
    };
    if !scheme.eq_ignore_ascii_case("token") && !scheme.eq_ignore_ascii_case("bearer") {
        return Err(Reply::error(401, "Bad credentials"));
    }
    if st.revoked.contains(token) {
        return Err(Reply::error(401, "Bad credentials"));
    }
    if let Some(it) = st.installation_tokens.get(token) {
        if it.expires_at <= Utc::now() {
            return Err(Reply::error(401, "Bad credentials"));
        }
        return Ok(Actor {
            login: format!("{}[bot]", st.app.slug),
            is_bot: true,
            kind: ActorKind::Installation {
                id: it.installation_id,
                permissions: it.permissions.clone(),
                repositories: it.repositories.clone(),
            },
        });
    }
    if let Some(login) = st.token_logins.get(token) {
        return Ok(Actor {
            is_bot: login.ends_with("[bot]"),
            login: login.clone(),
            kind: ActorKind::User,
        });
    }
    if let Some(permissions) = st.actions_tokens.get(token) {
        return Ok(Actor {
            login: crate::DEFAULT_TOKEN_LOGIN.to_string(),
            is_bot: true,
            kind: ActorKind::Actions(permissions.clone()),
        });
    }
    if looks_like_jwt(token) {
        // An App JWT only works on the /app endpoints.
        return Err(Reply::error(403, crate::NOT_ACCESSIBLE_BY_INTEGRATION));
    }
    Err(Reply::error(401, "Bad credentials"))
}

/// An installation token sees only its installation's repositories (and, when narrowed at
/// minting, only those): 404 elsewhere, as GitHub hides what a token cannot see.
fn check_repo_scope(st: &State, actor: &Actor, repo: &str) -> Result<(), Reply> {
    let ActorKind::Installation {
        id, repositories, ..
    } = &actor.kind
    else {
        return Ok(());
    };
    if st.installation_of(repo) != Some(*id) {
        return Err(Reply::not_found());
    }
    if let Some(names) = repositories {
        let name = repo.split('/').nth(1).unwrap_or("");
        if !names.iter().any(|n| n.eq_ignore_ascii_case(name)) {
            return Err(Reply::not_found());
        }
    }
    Ok(())
}

/// A write needing `permission: write` (any of `permissions`): 403 for an installation token
/// or an Actions token with declared permissions that does not carry it.
fn check_write(actor: &Actor, permissions: &[&str]) -> Result<(), Reply> {
    let has = match &actor.kind {
        ActorKind::Installation {
            permissions: has, ..
        } => has,
        ActorKind::Actions(Some(has)) => has,
        _ => return Ok(()),
    };
    if permissions
        .iter()
        .any(|p| has.get(*p).map(String::as_str) == Some("write"))
    {
        Ok(())
    } else {
        Err(Reply::error(403, crate::NOT_ACCESSIBLE_BY_INTEGRATION))
    }
}

/// Comments, reactions and labels need the issue: 410 if it was deleted, 404 if it never
/// existed.
fn check_issue(st: &State, repo: &str, number: u64) -> Result<(), Reply> {
    if st.issue_deleted(repo, number) {
        return Err(Reply::error(410, "This issue was deleted"));
    }
    if !st.issue_exists(repo, number) {
        return Err(Reply::not_found());
    }
    Ok(())
}

/// App JWT auth for `/app...` and `/repos/{o}/{r}/installation`.
fn check_jwt(st: &State, ctx: &Ctx) -> Result<(), Reply> {
    let bad = || Reply::error(401, "A JSON web token could not be decoded");
    let Some((scheme, jwt)) = ctx.credential() else {
        return Err(Reply::error(401, "Requires authentication"));
    };
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(bad());
    }
    let iss_ok = |claims: &Value| -> bool {
        match &claims["iss"] {
            Value::Number(n) => !st.app.configured || n.as_u64() == Some(st.app.id),
            Value::String(s) => !st.app.configured || s.trim() == st.app.id.to_string(),
            _ => false,
        }
    };
    if let Some(key) = &st.app.key {
        let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
        v.leeway = 0;
        v.validate_aud = false;
        v.set_required_spec_claims(&["exp"]);
        let data = jsonwebtoken::decode::<Value>(jwt, key, &v).map_err(|_| bad())?;
        if !iss_ok(&data.claims) {
            return Err(bad());
        }
        return Ok(());
    }
    // No key configured: structure and claims only.
    use base64::Engine;
    let parts: Vec<&str> = jwt.split('.').collect();
    if parts.len() != 3 {
        return Err(bad());
    }
    let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(parts[1].trim_end_matches('='))
        .map_err(|_| bad())?;
    let claims: Value = serde_json::from_slice(&payload).map_err(|_| bad())?;
    if !iss_ok(&claims) {
        return Err(bad());
    }
    if let Some(exp) = claims["exp"].as_i64() {
        if exp <= Utc::now().timestamp() {
            return Err(bad());
        }
    }
    Ok(())
}

fn route(st: &mut State, ctx: &Ctx, method: &str) -> Reply {
    let segs: Vec<String> = ctx
        .norm_path
        .trim_start_matches('/')
        .split('/')
        .map(percent_decode)
        .collect();
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    let num = |s: &str| s.parse::<u64>().ok();

    // App endpoints (JWT).
    match (method, segs.as_slice()) {
        ("GET", ["app"]) => {
            return check_jwt(st, ctx).map_or_else(|e| e, |()| app_get(st, ctx));
        }
        ("POST", ["app", "installations", id, "access_tokens"]) => {
            return match (check_jwt(st, ctx), num(id)) {
                (Err(e), _) => e,
                (Ok(()), None) => Reply::not_found(),
                (Ok(()), Some(id)) => create_installation_token(st, ctx, id),
            };
        }
        ("GET", ["repos", o, r, "installation"]) => {
            let repo = format!("{o}/{r}");
            return check_jwt(st, ctx).map_or_else(|e| e, |()| repo_installation(st, ctx, &repo));
        }
        _ => {}
    }

    let known = matches!(
        (method, segs.as_slice()),
        ("GET", ["user"])
            | ("GET", ["repos", _, _])
            | ("GET", ["repos", _, _, "collaborators", _, "permission"])
            | ("GET" | "POST", ["repos", _, _, "issues"])
            | ("GET" | "POST", ["repos", _, _, "issues", _, "comments"])
            | (
                "GET" | "PATCH" | "POST" | "DELETE",
                ["repos", _, _, "issues", "comments", _]
            )
            | ("POST", ["repos", _, _, "issues", _, "reactions"])
            | (
                "POST",
                ["repos", _, _, "issues", "comments", _, "reactions"]
            )
            | ("GET", ["repos", _, _, "contents", ..])
            | ("GET", ["repos", _, _, "pulls", _])
            | ("GET", ["repos", _, _, "compare", _, ..])
            | ("POST", ["repos", _, _, "issues", _, "labels"])
            | ("DELETE", ["repos", _, _, "issues", _, "labels", _])
            | ("GET", ["repos", _, _, "actions", "runs", _, "jobs"])
            | ("GET", ["repos", _, _, "pulls", _, "comments"])
            | (
                "POST",
                ["repos", _, _, "pulls", _, "comments", _, "replies"]
            )
            | ("POST", ["repos", _, _, "pulls", "comments", _, "reactions"])
            | ("POST", ["repos", _, _, "check-runs"])
            | ("GET" | "PATCH", ["repos", _, _, "check-runs", _])
            | ("GET", ["repos", _, _, "commits", _, "check-runs"])
    );
    if !known {
        return Reply::not_found();
    }
    let actor = match token_actor(st, ctx) {
        Ok(a) => a,
        Err(e) => return e,
    };
    if let ["repos", o, r, ..] = segs.as_slice() {
        if let Err(e) = check_repo_scope(st, &actor, &format!("{o}/{r}")) {
            return e;
        }
    }
    // Writes on issues and their comments need `issues: write` (or `pull_requests: write` on a
    // pull request's thread).
    let issue_write = match (method, segs.as_slice()) {
        ("POST", ["repos", _, _, "issues"]) => Some(None),
        ("PATCH" | "POST" | "DELETE", ["repos", _, _, "issues", "comments", ..]) => Some(None),
        ("POST" | "DELETE", ["repos", o, r, "issues", n, ..]) => {
            Some(num(n).map(|n| (format!("{o}/{r}"), n)))
        }
        _ => None,
    };
    if let Some(issue) = issue_write {
        let on_pull = issue
            .map(|(repo, n)| {
                st.pulls
                    .keys()
                    .any(|(r, p)| *p == n && r.eq_ignore_ascii_case(&repo))
            })
            .unwrap_or(false);
        let needed: &[&str] = if on_pull {
            &["issues", "pull_requests"]
        } else {
            &["issues"]
        };
        if let Err(e) = check_write(&actor, needed) {
            return e;
        }
    }

    // Check runs are written by GitHub Apps only (the Actions token is one), with `checks:
    // write`; review comments need `pull_requests: write`.
    let checked = match (method, segs.as_slice()) {
        ("POST", ["repos", _, _, "check-runs"]) | ("PATCH", ["repos", _, _, "check-runs", _]) => {
            if matches!(actor.kind, ActorKind::User) {
                Err(Reply::error(403, "You must authenticate via a GitHub App."))
            } else {
                check_write(&actor, &["checks"])
            }
        }
        ("POST", ["repos", _, _, "pulls", ..]) => check_write(&actor, &["pull_requests"]),
        _ => Ok(()),
    };
    if let Err(e) = checked {
        return e;
    }

    match (method, segs.as_slice()) {
        ("GET", ["user"]) => authenticated_user(st, ctx, &actor),
        ("POST", ["repos", o, r, "check-runs"]) => {
            create_check_run(st, ctx, &actor, &format!("{o}/{r}"))
        }
        ("GET" | "PATCH", ["repos", o, r, "check-runs", id]) => match num(id) {
            Some(id) if method == "GET" => get_check_run(st, ctx, &format!("{o}/{r}"), id),
            Some(id) => update_check_run(st, ctx, &format!("{o}/{r}"), id),
            None => Reply::not_found(),
        },
        ("GET", ["repos", o, r, "commits", git_ref, "check-runs"]) => {
            list_check_runs(st, ctx, &format!("{o}/{r}"), git_ref)
        }
        ("GET", ["repos", o, r, "pulls", n, "comments"]) => match num(n) {
            Some(n) => list_review_comments(st, ctx, &format!("{o}/{r}"), n),
            None => Reply::not_found(),
        },
        ("POST", ["repos", o, r, "pulls", n, "comments", id, "replies"]) => {
            match (num(n), num(id)) {
                (Some(n), Some(id)) => {
                    reply_to_review_comment(st, ctx, &actor, &format!("{o}/{r}"), n, id)
                }
                _ => Reply::not_found(),
            }
        }
        ("POST", ["repos", o, r, "pulls", "comments", id, "reactions"]) => {
            let Some(id) = num(id) else {
                return Reply::not_found();
            };
            let repo = format!("{o}/{r}");
            if !st
                .review_comments
                .iter()
                .any(|c| c.id == id && c.repo.eq_ignore_ascii_case(&repo))
            {
                return Reply::not_found();
            }
            create_reaction(st, ctx, &actor, ReactionTarget::ReviewComment { repo, id })
        }
        ("GET", ["repos", o, r]) => repo_get(st, ctx, o, r),
        ("GET", ["repos", o, r, "collaborators", user, "permission"]) => {
            collaborator_permission(st, ctx, &format!("{o}/{r}"), user)
        }
        ("GET", ["repos", o, r, "issues"]) => list_issues(st, ctx, &format!("{o}/{r}")),
        ("POST", ["repos", o, r, "issues"]) => create_issue(st, ctx, &actor, &format!("{o}/{r}")),
        ("GET" | "PATCH" | "POST" | "DELETE", ["repos", o, r, "issues", "comments", id]) => {
            let Some(id) = num(id) else {
                return Reply::not_found();
            };
            let repo = format!("{o}/{r}");
            match method {
                "GET" => get_comment(st, ctx, &repo, id),
                "DELETE" => delete_comment(st, &repo, id),
                _ => update_comment(st, ctx, &repo, id),
            }
        }
        ("POST", ["repos", o, r, "issues", "comments", id, "reactions"]) => {
            let Some(id) = num(id) else {
                return Reply::not_found();
            };
            let repo = format!("{o}/{r}");
            if !st.comments.iter().any(|c| c.id == id && c.repo == repo) {
                return Reply::not_found();
            }
            create_reaction(st, ctx, &actor, ReactionTarget::Comment { repo, id })
        }
        (_, ["repos", o, r, "issues", n, rest @ ..]) => {
            let Some(n) = num(n) else {
                return Reply::not_found();
            };
            let repo = format!("{o}/{r}");
            if matches!(rest, ["comments"] | ["reactions"] | ["labels", ..]) {
                if let Err(e) = check_issue(st, &repo, n) {
                    return e;
                }
            }
            match (method, rest) {
                ("POST", ["comments"]) => create_comment(st, ctx, &actor, &repo, n),
                ("GET", ["comments"]) => list_comments(st, ctx, &repo, n),
                ("POST", ["reactions"]) => {
                    create_reaction(st, ctx, &actor, ReactionTarget::Issue { repo, number: n })
                }
                ("POST", ["labels"]) => add_labels(st, ctx, &repo, n),
                ("DELETE", ["labels", name]) => remove_label(st, ctx, &repo, n, name),
                _ => Reply::not_found(),
            }
        }
        ("GET", ["repos", o, r, "contents", path @ ..]) => {
            get_content(st, ctx, &format!("{o}/{r}"), &path.join("/"))
        }
        ("GET", ["repos", o, r, "compare", spec @ ..]) => {
            compare(st, ctx, &format!("{o}/{r}"), &spec.join("/"))
        }
        ("GET", ["repos", o, r, "pulls", n]) => match num(n) {
            Some(n) => get_pull(st, ctx, &format!("{o}/{r}"), n),
            None => Reply::not_found(),
        },
        ("GET", ["repos", o, r, "actions", "runs", id, "jobs"]) => match num(id) {
            Some(id) => list_run_jobs(st, ctx, &format!("{o}/{r}"), id),
            None => Reply::not_found(),
        },
        _ => Reply::not_found(),
    }
}

// ----- repositories -----

fn repo_json(st: &mut State, ctx: &Ctx, full: &str) -> Value {
    let (owner, name) = full.split_once('/').unwrap_or((full, full));
    let mut v = t::REPO.clone();
    if let Some(o) = v.as_object_mut() {
        o.remove("parent");
        o.remove("source");
        o.remove("organization");
        o.insert("template_repository".into(), Value::Null);
    }
    rewrite(
        &mut v,
        &[
            ("octocat/Hello-World", full),
            ("https://api.github.com", &ctx.base),
        ],
    );
    let owner_id = st.user_id(owner);
    set(&mut v, "owner", t::user(&ctx.base, owner, owner_id, false));
    set(&mut v, "name", name);
    set(&mut v, "full_name", full);
    set(&mut v, "id", repo_id(full));
    set(
        &mut v,
        "node_id",
        t::b64(&format!("010:Repository{}", repo_id(full))),
    );
    set(&mut v, "fork", false);
    set(&mut v, "html_url", format!("https://github.com/{full}"));
    set(&mut v, "url", format!("{}/repos/{full}", ctx.base));
    set(&mut v, "default_branch", st.default_branch(full));
    v
}

fn repo_id(full: &str) -> u64 {
    use std::hash::{DefaultHasher, Hash, Hasher};
    let mut h = DefaultHasher::new();
    full.to_ascii_lowercase().hash(&mut h);
    100_000_000 + h.finish() % 900_000_000
}

fn repo_get(st: &mut State, ctx: &Ctx, o: &str, r: &str) -> Reply {
    let full = format!("{o}/{r}");
    Reply::json(200, repo_json(st, ctx, &full))
}

fn collaborator_permission(st: &mut State, ctx: &Ctx, repo: &str, user: &str) -> Reply {
    // Someone without access is not a 404: GitHub answers `permission: "none"`.
    let role = st
        .permissions
        .get(&(repo.to_string(), user.to_ascii_lowercase()))
        .cloned()
        .unwrap_or_else(|| "none".to_string());
    let (role_name, permission) = legacy_permission(&role);
    let mut v = t::COLLABORATOR_PERMISSION.clone();
    let id = st.user_id(user);
    let mut u = t::user(&ctx.base, user, id, user.ends_with("[bot]"));
    let admin = permission == "admin";
    let push = admin || permission == "write";
    set(
        &mut u,
        "permissions",
        json!({
            "admin": admin,
            "maintain": admin || role_name == "maintain",
            "push": push,
            "triage": push || role_name == "triage",
            "pull": permission != "none",
        }),
    );
    set(&mut u, "role_name", role_name.clone());
    set(&mut v, "user", u);
    set(&mut v, "permission", permission);
    set(&mut v, "role_name", role_name);
    Reply::json(200, v)
}

/// `(role_name, legacy permission)`.
fn legacy_permission(role: &str) -> (String, String) {
    if let Some((name, base)) = role.split_once(':') {
        let (_, legacy) = legacy_permission(base);
        return (name.to_string(), legacy);
    }
    let legacy = match role {
        "admin" => "admin",
        "maintain" | "write" => "write",
        "triage" | "read" => "read",
        "none" => "none",
        _ => "read",
    };
    (role.to_string(), legacy.to_string())
}

/// `GET /user`: the token's user; 403 for an installation token or the Actions token, which
/// are not users.
fn authenticated_user(st: &mut State, ctx: &Ctx, actor: &Actor) -> Reply {
    if !matches!(actor.kind, ActorKind::User) {
        return Reply::error(403, crate::NOT_ACCESSIBLE_BY_INTEGRATION);
    }
    let login = actor.login.as_str();
    let id = st.user_id(login);
    let user = t::user(&ctx.base, login, id, actor.is_bot);
    let mut v = t::AUTHENTICATED_USER.clone();
    if let (Some(v), Some(user)) = (v.as_object_mut(), user.as_object()) {
        for (k, x) in user {
            if v.contains_key(k) {
                v.insert(k.clone(), x.clone());
            }
        }
    }
    set(&mut v, "name", login);
    set(&mut v, "email", format!("{login}@users.noreply.github.com"));
    Reply::json(200, v)
}

// ----- comments -----

fn author_association(st: &State, repo: &str, login: &str) -> &'static str {
    let owner = repo.split('/').next().unwrap_or("");
    if owner.eq_ignore_ascii_case(login) {
        "OWNER"
    } else if st
        .permissions
        .contains_key(&(repo.to_string(), login.to_ascii_lowercase()))
    {
        "COLLABORATOR"
    } else {
        "NONE"
    }
}

fn comment_json(st: &mut State, ctx: &Ctx, c: &Comment, template: &Value) -> Value {
    let mut v = template.clone();
    let repo = c.repo.as_str();
    let kind = if st.pulls.contains_key(&(c.repo.clone(), c.issue)) {
        "pull"
    } else {
        "issues"
    };
    set(&mut v, "id", c.id);
    set(
        &mut v,
        "node_id",
        format!("IC_{}", t::b64(&format!("IssueComment{}", c.id))),
    );
    set(
        &mut v,
        "url",
        format!("{}/repos/{repo}/issues/comments/{}", ctx.base, c.id),
    );
    set(
        &mut v,
        "html_url",
        format!(
            "https://github.com/{repo}/{kind}/{}#issuecomment-{}",
            c.issue, c.id
        ),
    );
    set(
        &mut v,
        "issue_url",
        format!("{}/repos/{repo}/issues/{}", ctx.base, c.issue),
    );
    set(&mut v, "body", c.body.clone());
    let uid = st.user_id(&c.user);
    set(
        &mut v,
        "user",
        t::user(&ctx.base, &c.user, uid, c.user.ends_with("[bot]")),
    );
    set(&mut v, "created_at", ts(c.created_at));
    set(&mut v, "updated_at", ts(c.updated_at));
    set(
        &mut v,
        "author_association",
        author_association(st, repo, &c.user),
    );
    set(&mut v, "performed_via_github_app", Value::Null);
    // Reaction rollup, as the live API sends it (see the recorded triagebot traffic).
    let target = ReactionTarget::Comment {
        repo: c.repo.clone(),
        id: c.id,
    };
    let url = format!(
        "{}/repos/{repo}/issues/comments/{}/reactions",
        ctx.base, c.id
    );
    set(&mut v, "reactions", reaction_rollup(st, &target, url));
    v
}

/// The `reactions` summary of a comment or an issue: url, total_count and one count per content.
fn reaction_rollup(st: &State, target: &ReactionTarget, url: String) -> Value {
    let mut rollup = serde_json::Map::new();
    let mine: Vec<&Reaction> = st
        .reactions
        .iter()
        .filter(|r| &r.target == target)
        .collect();
    rollup.insert("url".into(), url.into());
    rollup.insert("total_count".into(), mine.len().into());
    for content in REACTIONS {
        let n = mine.iter().filter(|r| r.content == content).count();
        rollup.insert(content.into(), n.into());
    }
    Value::Object(rollup)
}

fn body_field(ctx: &Ctx) -> Result<String, Reply> {
    match ctx.body.get("body") {
        Some(Value::String(s)) => {
            if s.chars().count() > MAX_BODY_CHARS {
                Err(Reply::validation(
                    "IssueComment",
                    "data",
                    "unprocessable",
                    "Body is too long (maximum is 65536 characters)",
                ))
            } else {
                Ok(s.clone())
            }
        }
        _ => Err(Reply::json(
            422,
            json!({
                "message": "Invalid request.\n\n\"body\" wasn't supplied.",
                "documentation_url": DOCS,
            }),
        )),
    }
}

fn create_comment(st: &mut State, ctx: &Ctx, actor: &Actor, repo: &str, issue: u64) -> Reply {
    let body = match body_field(ctx) {
        Ok(b) => b,
        Err(e) => return e,
    };
    let id = st.next_id();
    let now = Utc::now();
    let c = Comment {
        id,
        repo: repo.to_string(),
        issue,
        user: actor.login.clone(),
        body,
        edits: 0,
        created_at: now,
        updated_at: now,
    };
    st.comments.push(c.clone());
    let v = comment_json(st, ctx, &c, &t::COMMENT_CREATED);
    Reply::json(201, v).header(
        "location",
        format!("{}/repos/{repo}/issues/comments/{id}", ctx.base),
    )
}

fn find_comment(st: &State, repo: &str, id: u64) -> Option<usize> {
    st.comments
        .iter()
        .position(|c| c.id == id && c.repo.eq_ignore_ascii_case(repo))
}

fn get_comment(st: &mut State, ctx: &Ctx, repo: &str, id: u64) -> Reply {
    let Some(i) = find_comment(st, repo, id) else {
        return Reply::not_found();
    };
    let c = st.comments[i].clone();
    let template = t::first(&t::COMMENTS_LIST);
    Reply::json(200, comment_json(st, ctx, &c, &template))
}

fn update_comment(st: &mut State, ctx: &Ctx, repo: &str, id: u64) -> Reply {
    let Some(i) = find_comment(st, repo, id) else {
        return Reply::not_found();
    };
    let body = match body_field(ctx) {
        Ok(b) => b,
        Err(e) => return e,
    };
    let c = &mut st.comments[i];
    c.body = body;
    c.edits += 1;
    c.updated_at = Utc::now();
    let c = c.clone();
    Reply::json(200, comment_json(st, ctx, &c, &t::COMMENT_UPDATED))
}

fn delete_comment(st: &mut State, repo: &str, id: u64) -> Reply {
    let Some(i) = find_comment(st, repo, id) else {
        return Reply::not_found();
    };
    st.comments.remove(i);
    Reply::empty(204)
}

/// `(per_page, page)` from the query: per_page default 30, at most 100; page from 1.
fn page_params(ctx: &Ctx) -> (usize, usize) {
    let per_page = ctx
        .q("per_page")
        .and_then(|s| s.parse::<usize>().ok())
        .unwrap_or(30)
        .clamp(1, 100);
    let page = ctx
        .q("page")
        .and_then(|s| s.parse::<usize>().ok())
        .unwrap_or(1)
        .max(1);
    (per_page, page)
}

/// Add GitHub's `Link` header (`prev next last first`) for `page` of `last` pages.
fn with_links(mut reply: Reply, ctx: &Ctx, page: usize, last: usize) -> Reply {
    let link_for = |p: usize| {
        let mut q: Vec<String> = ctx
            .query
            .iter()
            .filter(|(k, _)| k != "page")
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        q.push(format!("page={p}"));
        format!(
            "<{}{}{}?{}>",
            ctx.base,
            ctx.prefix,
            ctx.norm_path,
            q.join("&")
        )
    };
    let mut links = Vec::new();
    if page > 1 {
        links.push(format!("{}; rel=\"prev\"", link_for((page - 1).min(last))));
    }
    if page < last {
        links.push(format!("{}; rel=\"next\"", link_for(page + 1)));
        links.push(format!("{}; rel=\"last\"", link_for(last)));
    }
    if page > 1 {
        links.push(format!("{}; rel=\"first\"", link_for(1)));
    }
    if !links.is_empty() {
        reply = reply.header("link", links.join(", "));
    }
    reply
}

fn list_comments(st: &mut State, ctx: &Ctx, repo: &str, issue: u64) -> Reply {
    let (per_page, page) = page_params(ctx);
    let all: Vec<Comment> = st
        .comments
        .iter()
        .filter(|c| c.repo.eq_ignore_ascii_case(repo) && c.issue == issue)
        .cloned()
        .collect();
    let last = all.len().div_ceil(per_page).max(1);
    let template = t::first(&t::COMMENTS_LIST);
    let items: Vec<Value> = all
        .iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .map(|c| comment_json(st, ctx, c, &template))
        .collect();
    with_links(Reply::json(200, Value::Array(items)), ctx, page, last)
}

// ----- issues -----

fn issue_json(st: &mut State, ctx: &Ctx, i: &StoredIssue) -> Value {
    let mut v = t::ISSUE.clone();
    let repo = i.repo.as_str();
    let n = i.number;
    rewrite(
        &mut v,
        &[
            (
                "Codertocat/Hello-World/issues/1",
                &format!("{repo}/issues/{n}"),
            ),
            ("Codertocat/Hello-World", repo),
            ("https://api.github.com", &ctx.base),
        ],
    );
    let id = 300_000_000 + (repo_id(&format!("{repo}#{n}")) % 100_000_000);
    set(&mut v, "id", id);
    set(&mut v, "node_id", t::b64(&format!("05:Issue{id}")));
    set(&mut v, "number", n);
    set(&mut v, "title", i.title.clone());
    set(
        &mut v,
        "body",
        if i.body.is_empty() {
            Value::Null
        } else {
            i.body.clone().into()
        },
    );
    let labels: Vec<Value> = st
        .issue_labels(repo, n)
        .iter()
        .map(|l| label_json(ctx, repo, l))
        .collect();
    set(&mut v, "labels", Value::Array(labels));
    set(&mut v, "state", i.state.clone());
    set(&mut v, "locked", false);
    set(&mut v, "active_lock_reason", Value::Null);
    set(&mut v, "assignee", Value::Null);
    set(&mut v, "assignees", Value::Array(Vec::new()));
    set(&mut v, "milestone", Value::Null);
    let uid = st.user_id(&i.user);
    set(
        &mut v,
        "user",
        t::user(&ctx.base, &i.user, uid, i.user.ends_with("[bot]")),
    );
    let comments = st
        .comments
        .iter()
        .filter(|c| c.repo.eq_ignore_ascii_case(repo) && c.issue == n)
        .count();
    set(&mut v, "comments", comments);
    set(&mut v, "created_at", ts(i.created_at));
    set(&mut v, "updated_at", ts(i.updated_at));
    set(
        &mut v,
        "closed_at",
        if i.state == "closed" {
            ts(i.updated_at).into()
        } else {
            Value::Null
        },
    );
    set(
        &mut v,
        "author_association",
        author_association(st, repo, &i.user),
    );
    set(
        &mut v,
        "html_url",
        format!("https://github.com/{repo}/issues/{n}"),
    );
    let target = ReactionTarget::Issue {
        repo: repo.to_string(),
        number: n,
    };
    let url = format!("{}/repos/{repo}/issues/{n}/reactions", ctx.base);
    set(&mut v, "reactions", reaction_rollup(st, &target, url));
    v
}

/// `GET /repos/{o}/{r}/issues`: the repository's issues (pull requests are not issues here),
/// newest first unless `direction=asc`, filtered by `state` (default `open`) and `labels` (all of
/// them, case-insensitive).
fn list_issues(st: &mut State, ctx: &Ctx, repo: &str) -> Reply {
    let state = ctx.q("state").unwrap_or("open");
    if !matches!(state, "open" | "closed" | "all") {
        return Reply::validation(
            "Issue",
            "state",
            "invalid",
            "state is not included in the list",
        );
    }
    let wanted: Vec<&str> = ctx
        .q("labels")
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let (per_page, page) = page_params(ctx);
    let mut all: Vec<StoredIssue> = st
        .issues
        .iter()
        .filter(|i| i.repo.eq_ignore_ascii_case(repo))
        .filter(|i| state == "all" || i.state == state)
        .filter(|i| {
            let on = st.issue_labels(&i.repo, i.number);
            wanted
                .iter()
                .all(|w| on.iter().any(|l| l.eq_ignore_ascii_case(w)))
        })
        .cloned()
        .collect();
    if ctx.q("direction") != Some("asc") {
        all.reverse();
    }
    let last = all.len().div_ceil(per_page).max(1);
    let items: Vec<Value> = all
        .iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .map(|i| issue_json(st, ctx, i))
        .collect();
    with_links(Reply::json(200, Value::Array(items)), ctx, page, last)
}

/// `POST /repos/{o}/{r}/issues` `{title, body?, labels?}`.
fn create_issue(st: &mut State, ctx: &Ctx, actor: &Actor, repo: &str) -> Reply {
    let title = match ctx.body.get("title") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => {
            return Reply::json(
                422,
                json!({
                    "message": "Invalid request.\n\n\"title\" wasn't supplied.",
                    "documentation_url": DOCS,
                }),
            )
        }
    };
    if title.trim().is_empty() {
        return Reply::validation("Issue", "title", "missing_field", "title can't be blank");
    }
    let body = match ctx.body.get("body") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) if s.chars().count() > MAX_BODY_CHARS => {
            return Reply::validation(
                "Issue",
                "body",
                "custom",
                "body is too long (maximum is 65536 characters)",
            )
        }
        Some(Value::String(s)) => s.clone(),
        Some(_) => {
            return Reply::validation("Issue", "body", "invalid", "body must be a string");
        }
    };
    let labels: Option<Vec<String>> = match ctx.body.get("labels") {
        None | Some(Value::Null) => Some(Vec::new()),
        Some(Value::Array(a)) => a
            .iter()
            .map(|x| {
                x.as_str()
                    .or_else(|| x.get("name").and_then(Value::as_str))
                    .map(str::to_string)
            })
            .collect(),
        Some(_) => None,
    };
    let Some(labels) = labels else {
        return Reply::validation(
            "Issue",
            "labels",
            "invalid",
            "labels must be an array of strings",
        );
    };
    let issue = st.create_issue(repo, &title, &body, &labels, &actor.login);
    let v = issue_json(st, ctx, &issue);
    Reply::json(201, v).header(
        "location",
        format!("{}/repos/{repo}/issues/{}", ctx.base, issue.number),
    )
}

// ----- workflow runs -----

/// `GET /repos/{o}/{r}/actions/runs/{run_id}/jobs`: the jobs set with `set_run_jobs`.
fn list_run_jobs(st: &mut State, ctx: &Ctx, repo: &str, run_id: u64) -> Reply {
    let (per_page, page) = page_params(ctx);
    // A run that does not exist is 404, as on GitHub.
    let Some(all) = st.run_jobs.get(&(repo.to_string(), run_id)).cloned() else {
        return Reply::not_found();
    };
    let last = all.len().div_ceil(per_page).max(1);
    let template = t::first(&t::RUN_JOBS["jobs"]);
    let head_sha = t::fake_sha(&[repo.as_bytes(), run_id.to_string().as_bytes()]);
    let head_branch = st.default_branch(repo);
    let jobs: Vec<Value> = all
        .iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .map(|job| {
            let mut v = template.clone();
            let api = format!("{}/repos/{repo}", ctx.base);
            set(&mut v, "id", job.id);
            set(&mut v, "run_url", format!("{api}/actions/runs/{run_id}"));
            set(&mut v, "url", format!("{api}/actions/jobs/{}", job.id));
            set(
                &mut v,
                "html_url",
                format!("https://github.com/{repo}/runs/{run_id}/jobs/{}", job.id),
            );
            set(
                &mut v,
                "check_run_url",
                format!("{api}/check-runs/{}", job.id),
            );
            set(&mut v, "run_id", run_id);
            set(
                &mut v,
                "node_id",
                t::b64(&format!("012:Workflow Job{}", job.id)),
            );
            set(&mut v, "head_sha", head_sha.clone());
            set(&mut v, "head_branch", head_branch.clone());
            set(&mut v, "status", "completed");
            set(&mut v, "conclusion", job.conclusion.clone());
            set(&mut v, "name", job.name.clone());
            // Not in the example, required by the schema (`created_at`) and by octocrab's `Job`.
            if v.get("created_at").is_none() {
                let started = v["started_at"].clone();
                set(&mut v, "created_at", started);
            }
            if v.get("run_attempt").is_none() {
                set(&mut v, "run_attempt", 1);
            }
            v
        })
        .collect();
    let mut v = t::RUN_JOBS.clone();
    set(&mut v, "total_count", all.len());
    set(&mut v, "jobs", Value::Array(jobs));
    with_links(Reply::json(200, v), ctx, page, last)
}

// ----- reactions -----

fn create_reaction(st: &mut State, ctx: &Ctx, actor: &Actor, target: ReactionTarget) -> Reply {
    let content = ctx
        .body
        .get("content")
        .and_then(Value::as_str)
        .unwrap_or("");
    if !REACTIONS.contains(&content) {
        return Reply::validation(
            "Reaction",
            "content",
            "invalid",
            "content is not included in the list",
        );
    }
    let (created_tpl, exists_tpl): (&Value, &Value) = match target {
        ReactionTarget::Comment { .. } => {
            (&t::REACTION_COMMENT_CREATED, &t::REACTION_COMMENT_EXISTS)
        }
        ReactionTarget::ReviewComment { .. } => (
            &t::REACTION_REVIEW_COMMENT_CREATED,
            &t::REACTION_REVIEW_COMMENT_EXISTS,
        ),
        ReactionTarget::Issue { .. } => (&t::REACTION_ISSUE_CREATED, &t::REACTION_ISSUE_EXISTS),
    };
    let existing = st
        .reactions
        .iter()
        .find(|r| r.target == target && r.content == content && r.user == actor.login)
        .cloned();
    let (status, reaction, template) = match existing {
        Some(r) => (200, r, exists_tpl),
        None => {
            let r = Reaction {
                id: st.next_id(),
                target,
                content: content.to_string(),
                user: actor.login.clone(),
                created_at: Utc::now(),
            };
            st.reactions.push(r.clone());
            (201, r, created_tpl)
        }
    };
    let mut v = template.clone();
    set(&mut v, "id", reaction.id);
    set(
        &mut v,
        "node_id",
        format!("REA_{}", t::b64(&format!("Reaction{}", reaction.id))),
    );
    let uid = st.user_id(&actor.login);
    set(
        &mut v,
        "user",
        t::user(&ctx.base, &actor.login, uid, actor.is_bot),
    );
    set(&mut v, "content", reaction.content.clone());
    set(&mut v, "created_at", ts(reaction.created_at));
    Reply::json(status, v)
}

// ----- labels -----

fn label_json(ctx: &Ctx, repo: &str, name: &str) -> Value {
    let mut v = t::first(&t::LABELS_ADDED);
    let id = 200_000_000 + (repo_id(&format!("{repo}#{name}")) % 100_000_000);
    set(&mut v, "id", id);
    set(&mut v, "node_id", t::b64(&format!("05:Label{id}")));
    set(
        &mut v,
        "url",
        format!(
            "{}/repos/{repo}/labels/{}",
            ctx.base,
            name.replace(' ', "%20")
        ),
    );
    set(&mut v, "name", name);
    set(&mut v, "description", Value::Null);
    set(&mut v, "color", "ededed");
    set(&mut v, "default", false);
    v
}

fn add_labels(st: &mut State, ctx: &Ctx, repo: &str, issue: u64) -> Reply {
    let names: Option<Vec<String>> = match &ctx.body {
        Value::Array(a) => a.iter().map(|x| x.as_str().map(str::to_string)).collect(),
        Value::Object(o) => match o.get("labels") {
            Some(Value::Array(a)) => a
                .iter()
                .map(|x| {
                    x.as_str()
                        .or_else(|| x.get("name").and_then(Value::as_str))
                        .map(str::to_string)
                })
                .collect(),
            _ => None,
        },
        _ => None,
    };
    let Some(names) = names else {
        return Reply::validation(
            "Label",
            "labels",
            "invalid",
            "labels must be an array of strings",
        );
    };
    let labels = st.labels.entry((repo.to_string(), issue)).or_default();
    for n in names {
        if !labels.iter().any(|l| l.eq_ignore_ascii_case(&n)) {
            labels.push(n);
        }
    }
    let out: Vec<Value> = labels.iter().map(|l| label_json(ctx, repo, l)).collect();
    Reply::json(200, Value::Array(out))
}

fn remove_label(st: &mut State, ctx: &Ctx, repo: &str, issue: u64, name: &str) -> Reply {
    let labels = st.labels.entry((repo.to_string(), issue)).or_default();
    let Some(i) = labels.iter().position(|l| l.eq_ignore_ascii_case(name)) else {
        return Reply::error(404, "Label does not exist");
    };
    labels.remove(i);
    let mut out = Vec::new();
    for l in labels.iter() {
        // Same shape as the remove-label example (identical to add-labels' items).
        let mut v = label_json(ctx, repo, l);
        if let Some(tpl) = t::LABEL_REMOVED.as_array().and_then(|a| a.first()) {
            for k in tpl.as_object().into_iter().flat_map(|o| o.keys()) {
                if v.get(k).is_none() {
                    set(&mut v, k, tpl[k].clone());
                }
            }
        }
        out.push(v);
    }
    Reply::json(200, Value::Array(out))
}

// ----- contents -----

fn get_content(st: &mut State, ctx: &Ctx, repo: &str, path: &str) -> Reply {
    let path = path.trim_matches('/');
    let git_ref = ctx
        .q("ref")
        .filter(|r| !r.is_empty())
        .map(str::to_string)
        .unwrap_or_else(|| st.default_branch(repo));
    let content = st
        .files
        .get(&(repo.to_string(), Some(git_ref.clone()), path.to_string()))
        .or_else(|| st.files.get(&(repo.to_string(), None, path.to_string())));
    let Some(content) = content else {
        return Reply::not_found();
    };
    let sha = t::fake_sha(&[b"blob", content]);
    let name = path.rsplit('/').next().unwrap_or(path);
    let mut v = t::CONTENT_FILE.clone();
    set(&mut v, "type", "file");
    set(&mut v, "encoding", "base64");
    set(&mut v, "size", content.len());
    set(&mut v, "name", name);
    set(&mut v, "path", path);
    set(&mut v, "content", t::b64_lines(content));
    set(&mut v, "sha", sha.clone());
    let api = format!("{}/repos/{repo}/contents/{path}?ref={git_ref}", ctx.base);
    let git = format!("{}/repos/{repo}/git/blobs/{sha}", ctx.base);
    let html = format!("https://github.com/{repo}/blob/{git_ref}/{path}");
    set(&mut v, "url", api.clone());
    set(&mut v, "git_url", git.clone());
    set(&mut v, "html_url", html.clone());
    set(
        &mut v,
        "download_url",
        format!("https://raw.githubusercontent.com/{repo}/{git_ref}/{path}"),
    );
    set(
        &mut v,
        "_links",
        json!({"git": git, "self": api, "html": html}),
    );
    Reply::json(200, v)
}

// ----- compare -----

/// `GET /repos/{repo}/compare/{base}...{head}`: GitHub's example body with the counts and
/// status of the registered pair.
fn compare(st: &mut State, ctx: &Ctx, repo: &str, spec: &str) -> Reply {
    let Some((base, head)) = spec.split_once("...") else {
        return Reply::not_found();
    };
    let key = (repo.to_string(), base.to_string(), head.to_string());
    let Some(&(ahead_by, behind_by)) = st.comparisons.get(&key) else {
        return Reply::not_found();
    };
    let mut v = t::COMPARISON.clone();
    rewrite(
        &mut v,
        &[
            ("octocat/Hello-World", repo),
            ("master...topic", spec),
            ("https://api.github.com", &ctx.base),
        ],
    );
    let status = match (ahead_by, behind_by) {
        (0, 0) => "identical",
        (_, 0) => "ahead",
        (0, _) => "behind",
        _ => "diverged",
    };
    set(&mut v, "status", status);
    set(&mut v, "ahead_by", ahead_by);
    set(&mut v, "behind_by", behind_by);
    set(&mut v, "total_commits", ahead_by);
    Reply::json(200, v)
}

// ----- pulls -----

fn get_pull(st: &mut State, ctx: &Ctx, repo: &str, number: u64) -> Reply {
    let Some(p) = st.pulls.get(&(repo.to_string(), number)).cloned() else {
        return Reply::not_found();
    };
    let mut v = t::PULL.clone();
    let head_tpl = v["head"]["repo"].clone();
    let n = format!("/{number}");
    rewrite(
        &mut v,
        &[
            ("/1347", &n),
            ("octocat/Hello-World", repo),
            ("https://api.github.com", &ctx.base),
        ],
    );
    set(&mut v, "number", number);
    set(&mut v, "state", "open");
    set(&mut v, "merged", false);
    set(&mut v, "id", 500_000_000 + number);
    let base_repo = repo_json(st, ctx, repo);
    let mut head_repo = repo_json(st, ctx, &p.head_repo);
    // Exactly the example's head.repo / base.repo keys (pull-request `repository` shape): the
    // full repository's extra keys dropped, the ones it lacks (`language`) from the example.
    let like = |repo: &mut Value, tpl: &Value| {
        if let (Some(r), Some(tpl)) = (repo.as_object_mut(), tpl.as_object()) {
            r.retain(|k, _| tpl.contains_key(k));
            for (k, v) in tpl {
                r.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
    };
    like(&mut head_repo, &head_tpl);
    let mut base_repo = base_repo;
    like(&mut base_repo, &t::PULL["base"]["repo"]);
    let is_fork = !p.head_repo.eq_ignore_ascii_case(repo);
    set(&mut head_repo, "fork", is_fork);
    let head_owner = p.head_repo.split('/').next().unwrap_or("").to_string();
    let base_owner = repo.split('/').next().unwrap_or("").to_string();
    let head_owner_id = st.user_id(&head_owner);
    let base_owner_id = st.user_id(&base_owner);
    let head_sha = t::fake_sha(&[p.head_repo.as_bytes(), p.head_ref.as_bytes()]);
    let base_sha = t::fake_sha(&[repo.as_bytes(), p.base_ref.as_bytes()]);
    if let Some(head) = v.get_mut("head") {
        set(head, "ref", p.head_ref.clone());
        set(head, "label", format!("{head_owner}:{}", p.head_ref));
        set(head, "sha", head_sha.clone());
        set(
            head,
            "user",
            t::user(&ctx.base, &head_owner, head_owner_id, false),
        );
        set(head, "repo", head_repo);
    }
    if let Some(base) = v.get_mut("base") {
        set(base, "ref", p.base_ref.clone());
        set(base, "label", format!("{base_owner}:{}", p.base_ref));
        set(base, "sha", base_sha);
        set(
            base,
            "user",
            t::user(&ctx.base, &base_owner, base_owner_id, false),
        );
        set(base, "repo", base_repo);
    }
    let statuses = format!("{}/repos/{repo}/statuses/{head_sha}", ctx.base);
    set(&mut v, "statuses_url", statuses.clone());
    if let Some(links) = v.get_mut("_links") {
        set(links, "statuses", json!({"href": statuses}));
    }
    set(
        &mut v,
        "html_url",
        format!("https://github.com/{repo}/pull/{number}"),
    );
    Reply::json(200, v)
}

// ----- GitHub App -----

fn app_get(st: &mut State, ctx: &Ctx) -> Reply {
    let mut v = t::APP.clone();
    let slug = st.app.slug.clone();
    rewrite(
        &mut v,
        &[
            ("apps/octoapp", &format!("apps/{slug}")),
            ("https://api.github.com", &ctx.base),
        ],
    );
    set(&mut v, "id", st.app.id);
    set(&mut v, "slug", slug.clone());
    set(&mut v, "name", slug);
    set(
        &mut v,
        "node_id",
        t::b64(&format!("03:Integration{}", st.app.id)),
    );
    Reply::json(200, v)
}

fn random_token() -> String {
    use std::hash::{BuildHasher, Hasher};
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut out = String::from("ghs_");
    while out.len() < 40 {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0),
        );
        let mut x = h.finish();
        for _ in 0..10 {
            out.push(ALPHABET[(x % ALPHABET.len() as u64) as usize] as char);
            x /= ALPHABET.len() as u64;
        }
    }
    out.truncate(40);
    out
}

fn create_installation_token(st: &mut State, ctx: &Ctx, installation_id: u64) -> Reply {
    if !st.installation_exists(installation_id) {
        return Reply::not_found();
    }
    let granted = st.permissions_of_installation(installation_id);
    // The token carries the permissions asked for (each at most the installation's), else all
    // of the installation's.
    let permissions = match ctx.body.get("permissions").and_then(Value::as_object) {
        None => granted,
        Some(asked) => {
            let rank = |level: &str| match level {
                "read" => 1,
                "write" => 2,
                "admin" => 3,
                _ => 0,
            };
            let mut out = std::collections::BTreeMap::new();
            for (name, level) in asked {
                let level = level.as_str().unwrap_or("");
                let has = granted.get(name).map(String::as_str).unwrap_or("");
                if rank(level) == 0 || rank(level) > rank(has) {
                    return Reply::validation(
                        "InstallationToken",
                        "permissions",
                        "invalid",
                        "The permissions requested are not granted to this installation.",
                    );
                }
                out.insert(name.clone(), level.to_string());
            }
            out
        }
    };
    let narrowed: Vec<String> = ctx
        .body
        .get("repositories")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    for name in &narrowed {
        let theirs = st.installations.iter().any(|(repo, id)| {
            *id == installation_id
                && repo
                    .split('/')
                    .nth(1)
                    .is_some_and(|n| n.eq_ignore_ascii_case(name))
        });
        if !theirs {
            return Reply::validation(
                "InstallationToken",
                "repositories",
                "invalid",
                "There is at least one repository that does not exist or is not accessible to the parent installation.",
            );
        }
    }
    let token = random_token();
    let expires_at = Utc::now() + chrono::Duration::seconds(st.token_lifetime_secs);
    st.installation_tokens.insert(
        token.clone(),
        InstallationToken {
            installation_id,
            expires_at,
            permissions: permissions.clone(),
            repositories: (!narrowed.is_empty()).then(|| narrowed.clone()),
        },
    );
    st.tokens_issued += 1;
    let mut v = t::INSTALLATION_TOKEN.clone();
    set(&mut v, "token", token);
    set(&mut v, "expires_at", ts(expires_at));
    set(&mut v, "permissions", json!(permissions));
    if narrowed.is_empty() {
        if let Some(o) = v.as_object_mut() {
            o.remove("repositories");
        }
        set(&mut v, "repository_selection", "all");
    } else {
        let tpl = v["repositories"][0].clone();
        let repos: Vec<Value> = narrowed
            .iter()
            .map(|name| {
                let mut r = tpl.clone();
                rewrite(
                    &mut r,
                    &[("Hello-World", name), ("https://api.github.com", &ctx.base)],
                );
                set(&mut r, "name", name.clone());
                r
            })
            .collect();
        set(&mut v, "repositories", Value::Array(repos));
        set(&mut v, "repository_selection", "selected");
    }
    Reply::json(201, v)
}

fn repo_installation(st: &mut State, ctx: &Ctx, repo: &str) -> Reply {
    let Some(id) = st.installation_of(repo) else {
        return Reply::not_found();
    };
    let owner = repo.split('/').next().unwrap_or(repo);
    let mut v = t::REPO_INSTALLATION.clone();
    rewrite(
        &mut v,
        &[
            ("installations/1", &format!("installations/{id}")),
            ("https://api.github.com", &ctx.base),
        ],
    );
    set(&mut v, "id", id);
    let owner_id = st.user_id(owner);
    set(
        &mut v,
        "account",
        t::user(&ctx.base, owner, owner_id, false),
    );
    set(&mut v, "target_id", owner_id);
    set(&mut v, "target_type", "User");
    set(&mut v, "app_id", st.app.id);
    set(&mut v, "app_slug", st.app.slug.clone());
    set(
        &mut v,
        "html_url",
        format!("https://github.com/settings/installations/{id}"),
    );
    Reply::json(200, v)
}

// ----- check runs -----

const CHECK_STATUSES: [&str; 3] = ["queued", "in_progress", "completed"];
const CHECK_CONCLUSIONS: [&str; 7] = [
    "action_required",
    "cancelled",
    "failure",
    "neutral",
    "success",
    "skipped",
    "timed_out",
];
/// The GitHub Actions app, which owns the check runs the Actions token creates.
const ACTIONS_APP: (u64, &str) = (15368, "github-actions");

/// GitHub's answer to a body its JSON schema rejects.
fn invalid_request(detail: &str) -> Reply {
    Reply::json(
        422,
        json!({"message": format!("Invalid request.\n\n{detail}"), "documentation_url": DOCS}),
    )
}

fn not_one_of(field: &str, value: &Value, allowed: &[&str]) -> Reply {
    let list: Vec<String> = allowed.iter().map(|a| format!("{a:?}")).collect();
    invalid_request(&format!(
        "For 'properties/{field}', {value} is not one of [{}].",
        list.join(", ")
    ))
}

/// An optional string field: `Ok(None)` when absent or null, 422 when not a string.
fn opt_str(body: &Value, field: &str) -> Result<Option<String>, Reply> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(invalid_request(&format!(
            "For 'properties/{field}', {other} is not a string."
        ))),
    }
}

fn opt_time(body: &Value, field: &str) -> Result<Option<DateTime<Utc>>, Reply> {
    match opt_str(body, field)? {
        None => Ok(None),
        Some(s) => DateTime::parse_from_rfc3339(&s)
            .map(|t| Some(t.with_timezone(&Utc)))
            .map_err(|_| {
                invalid_request(&format!(
                    "For 'properties/{field}', {s:?} is not a valid date-time."
                ))
            }),
    }
}

/// The writable fields of a check run in a create or update body, validated as GitHub does:
/// enums checked, `output` needs `title` and `summary`, a `conclusion` makes the run
/// `completed`, and `completed` (or a `completed_at`) needs a `conclusion`.
struct CheckRunFields {
    name: Option<String>,
    status: Option<String>,
    conclusion: Option<String>,
    external_id: Option<String>,
    details_url: Option<String>,
    output: Option<(String, String, Option<String>)>,
    started_at: Option<DateTime<Utc>>,
    completed_at: Option<DateTime<Utc>>,
}

fn check_run_fields(body: &Value, had_conclusion: bool) -> Result<CheckRunFields, Reply> {
    if !body.is_object() {
        return Err(Reply::error(400, "Problems parsing JSON"));
    }
    let status = opt_str(body, "status")?;
    if let Some(s) = &status {
        if !CHECK_STATUSES.contains(&s.as_str()) {
            return Err(not_one_of("status", &body["status"], &CHECK_STATUSES));
        }
    }
    let conclusion = opt_str(body, "conclusion")?;
    if let Some(c) = &conclusion {
        if !CHECK_CONCLUSIONS.contains(&c.as_str()) {
            return Err(not_one_of(
                "conclusion",
                &body["conclusion"],
                &CHECK_CONCLUSIONS,
            ));
        }
    }
    let completed_at = opt_time(body, "completed_at")?;
    let completing = status.as_deref() == Some("completed") || completed_at.is_some();
    if completing && conclusion.is_none() && !had_conclusion {
        return Err(invalid_request("\"conclusion\" wasn't supplied."));
    }
    let output = match body.get("output") {
        None | Some(Value::Null) => None,
        Some(o @ Value::Object(_)) => {
            let title = opt_str(o, "title")?;
            let summary = opt_str(o, "summary")?;
            let text = opt_str(o, "text")?;
            match (title, summary) {
                (Some(title), Some(summary)) => {
                    if summary.chars().count() > MAX_BODY_CHARS {
                        return Err(Reply::validation(
                            "CheckRun",
                            "summary",
                            "custom",
                            "Only 65535 characters are allowed; 65536 were supplied.",
                        ));
                    }
                    Some((title, summary, text))
                }
                (None, _) => return Err(invalid_request("\"title\" wasn't supplied.")),
                (_, None) => return Err(invalid_request("\"summary\" wasn't supplied.")),
            }
        }
        Some(other) => {
            return Err(invalid_request(&format!(
                "For 'properties/output', {other} is not an object."
            )))
        }
    };
    Ok(CheckRunFields {
        name: opt_str(body, "name")?,
        // A conclusion makes the run completed (GitHub's documented behaviour).
        status: if conclusion.is_some() {
            Some("completed".to_string())
        } else {
            status
        },
        conclusion,
        external_id: opt_str(body, "external_id")?,
        details_url: opt_str(body, "details_url")?,
        output,
        started_at: opt_time(body, "started_at")?,
        completed_at,
    })
}

fn actor_app(st: &State, actor: &Actor) -> (u64, String) {
    match actor.kind {
        ActorKind::Installation { .. } => (st.app.id, st.app.slug.clone()),
        _ => (ACTIONS_APP.0, ACTIONS_APP.1.to_string()),
    }
}

fn is_sha(s: &str) -> bool {
    s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// `POST /repos/{o}/{r}/check-runs`.
fn create_check_run(st: &mut State, ctx: &Ctx, actor: &Actor, repo: &str) -> Reply {
    let f = match check_run_fields(&ctx.body, false) {
        Ok(f) => f,
        Err(e) => return e,
    };
    let Some(name) = f.name.filter(|n| !n.is_empty()) else {
        return invalid_request("\"name\" wasn't supplied.");
    };
    let head_sha = match opt_str(&ctx.body, "head_sha") {
        Ok(Some(sha)) => sha,
        Ok(None) => return invalid_request("\"head_sha\" wasn't supplied."),
        Err(e) => return e,
    };
    if !is_sha(&head_sha) {
        return Reply::error(422, &format!("No commit found for SHA: {head_sha}"));
    }
    let now = Utc::now();
    let status = f.status.unwrap_or_else(|| "queued".to_string());
    let completed = status == "completed";
    let (title, summary, text) = match f.output {
        Some((t, s, x)) => (Some(t), Some(s), x),
        None => (None, None, None),
    };
    let run = CheckRun {
        id: st.next_id(),
        repo: repo.to_string(),
        name,
        head_sha,
        conclusion: f.conclusion,
        external_id: f.external_id,
        details_url: f.details_url,
        title,
        summary,
        text,
        started_at: Some(f.started_at.unwrap_or(now)),
        completed_at: if completed {
            Some(f.completed_at.unwrap_or(now))
        } else {
            None
        },
        app: actor_app(st, actor).1,
        status,
        updates: 0,
    };
    st.check_runs.push(run.clone());
    let template = if completed {
        &t::CHECK_RUN_COMPLETED
    } else {
        &t::CHECK_RUN_IN_PROGRESS
    };
    let v = check_run_json(st, ctx, &run, template);
    Reply::json(201, v)
}

fn find_check_run(st: &State, repo: &str, id: u64) -> Option<usize> {
    st.check_runs
        .iter()
        .position(|c| c.id == id && c.repo.eq_ignore_ascii_case(repo))
}

/// `GET /repos/{o}/{r}/check-runs/{id}`.
fn get_check_run(st: &mut State, ctx: &Ctx, repo: &str, id: u64) -> Reply {
    let Some(i) = find_check_run(st, repo, id) else {
        return Reply::not_found();
    };
    let run = st.check_runs[i].clone();
    Reply::json(200, check_run_json(st, ctx, &run, &t::CHECK_RUN_UPDATED))
}

/// `PATCH /repos/{o}/{r}/check-runs/{id}`: the fields given replace the run's; a status other
/// than `completed` clears the conclusion.
fn update_check_run(st: &mut State, ctx: &Ctx, repo: &str, id: u64) -> Reply {
    let Some(i) = find_check_run(st, repo, id) else {
        return Reply::not_found();
    };
    let had_conclusion = st.check_runs[i].conclusion.is_some()
        && ctx.body.get("status").and_then(Value::as_str) != Some("completed");
    let f = match check_run_fields(&ctx.body, had_conclusion) {
        Ok(f) => f,
        Err(e) => return e,
    };
    let now = Utc::now();
    let run = &mut st.check_runs[i];
    if let Some(name) = f.name.filter(|n| !n.is_empty()) {
        run.name = name;
    }
    if let Some(status) = f.status {
        if status != "completed" {
            run.conclusion = None;
            run.completed_at = None;
        }
        run.status = status;
    }
    if let Some(c) = f.conclusion {
        run.conclusion = Some(c);
    }
    if run.status == "completed" {
        run.completed_at = Some(f.completed_at.or(run.completed_at).unwrap_or(now));
    }
    if let Some(x) = f.external_id {
        run.external_id = Some(x);
    }
    if let Some(u) = f.details_url {
        run.details_url = Some(u);
    }
    if let Some((title, summary, text)) = f.output {
        run.title = Some(title);
        run.summary = Some(summary);
        run.text = text;
    }
    if let Some(s) = f.started_at {
        run.started_at = Some(s);
    }
    run.updates += 1;
    let run = run.clone();
    Reply::json(200, check_run_json(st, ctx, &run, &t::CHECK_RUN_UPDATED))
}

/// `GET /repos/{o}/{r}/commits/{ref}/check-runs?check_name=&status=&filter=&app_id=`: the runs
/// on the commit (`ref` a sha, or the head branch of a pull request), newest first; `filter`
/// `latest` (the default) keeps the newest run per app and name, `all` every run.
fn list_check_runs(st: &mut State, ctx: &Ctx, repo: &str, git_ref: &str) -> Reply {
    let filter = ctx.q("filter").unwrap_or("latest");
    if !matches!(filter, "latest" | "all") {
        return Reply::validation(
            "CheckRun",
            "filter",
            "invalid",
            "filter is not included in the list",
        );
    }
    let sha = if is_sha(git_ref) {
        git_ref.to_ascii_lowercase()
    } else {
        match st
            .pulls
            .iter()
            .find(|((r, _), p)| r.eq_ignore_ascii_case(repo) && p.head_ref == git_ref)
        {
            Some((_, p)) => t::fake_sha(&[p.head_repo.as_bytes(), p.head_ref.as_bytes()]),
            None => return Reply::error(422, &format!("No commit found for SHA: {git_ref}")),
        }
    };
    let (per_page, page) = page_params(ctx);
    let mut runs: Vec<CheckRun> = st
        .check_runs
        .iter()
        .rev()
        .filter(|c| c.repo.eq_ignore_ascii_case(repo) && c.head_sha.eq_ignore_ascii_case(&sha))
        .filter(|c| ctx.q("check_name").is_none_or(|n| c.name == n))
        .filter(|c| ctx.q("status").is_none_or(|s| c.status == s))
        .cloned()
        .collect();
    if filter == "latest" {
        let mut seen = std::collections::HashSet::new();
        runs.retain(|c| seen.insert((c.app.clone(), c.name.clone())));
    }
    let last = runs.len().div_ceil(per_page).max(1);
    let template = t::CHECK_RUNS_LIST["check_runs"][0].clone();
    let items: Vec<Value> = runs
        .iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .map(|c| check_run_json(st, ctx, c, &template))
        .collect();
    let mut v = t::CHECK_RUNS_LIST.clone();
    set(&mut v, "total_count", runs.len());
    set(&mut v, "check_runs", Value::Array(items));
    with_links(Reply::json(200, v), ctx, page, last)
}

fn check_run_json(st: &mut State, ctx: &Ctx, c: &CheckRun, template: &Value) -> Value {
    let mut v = template.clone();
    let repo = c.repo.as_str();
    let api = format!("{}/repos/{repo}/check-runs/{}", ctx.base, c.id);
    set(&mut v, "id", c.id);
    set(&mut v, "node_id", t::b64(&format!("08:CheckRun{}", c.id)));
    set(&mut v, "head_sha", c.head_sha.clone());
    set(&mut v, "external_id", c.external_id.clone());
    set(&mut v, "url", api.clone());
    set(
        &mut v,
        "html_url",
        format!("https://github.com/{repo}/runs/{}", c.id),
    );
    set(&mut v, "details_url", c.details_url.clone());
    set(&mut v, "status", c.status.clone());
    set(&mut v, "conclusion", c.conclusion.clone());
    set(&mut v, "started_at", c.started_at.map(ts));
    set(&mut v, "completed_at", c.completed_at.map(ts));
    set(
        &mut v,
        "output",
        json!({
            "title": c.title,
            "summary": c.summary,
            "text": c.text,
            "annotations_count": 0,
            "annotations_url": format!("{api}/annotations"),
        }),
    );
    set(&mut v, "name", c.name.clone());
    // One check suite per app and commit.
    let suite = 600_000_000 + repo_id(&format!("{repo}@{}#{}", c.head_sha, c.app)) % 100_000_000;
    set(&mut v, "check_suite", json!({ "id": suite }));
    if let Some(app) = v.get_mut("app") {
        let (id, slug) = if c.app == ACTIONS_APP.1 {
            (ACTIONS_APP.0, ACTIONS_APP.1.to_string())
        } else {
            (st.app.id, st.app.slug.clone())
        };
        rewrite(
            app,
            &[
                ("apps/octoapp", &format!("apps/{slug}")),
                ("https://api.github.com", &ctx.base),
            ],
        );
        set(app, "id", id);
        set(app, "slug", slug.clone());
        set(app, "name", slug);
        set(app, "node_id", t::b64(&format!("03:Integration{id}")));
    }
    // The repository's open pull requests whose head is this commit.
    let tpl = template["pull_requests"][0].clone();
    let mut pulls: Vec<(u64, crate::Pull)> = st
        .pulls
        .iter()
        .filter(|((r, _), p)| {
            // Pull requests from forks are not listed, as on GitHub.
            r.eq_ignore_ascii_case(repo)
                && p.head_repo.eq_ignore_ascii_case(repo)
                && t::fake_sha(&[p.head_repo.as_bytes(), p.head_ref.as_bytes()]) == c.head_sha
        })
        .map(|((_, n), p)| (*n, p.clone()))
        .collect();
    pulls.sort_by_key(|(n, _)| *n);
    let rid = repo_id(repo);
    let pulls: Vec<Value> = pulls
        .into_iter()
        .map(|(n, p)| {
            let mut x = tpl.clone();
            set(&mut x, "url", format!("{}/repos/{repo}/pulls/{n}", ctx.base));
            set(&mut x, "id", 500_000_000 + n);
            set(&mut x, "number", n);
            let side = |r: &str, sha: String| {
                json!({
                    "ref": r,
                    "sha": sha,
                    "repo": {"id": rid, "url": format!("{}/repos/{repo}", ctx.base), "name": repo.split('/').nth(1).unwrap_or(repo)},
                })
            };
            set(
                &mut x,
                "head",
                side(&p.head_ref, c.head_sha.clone()),
            );
            set(
                &mut x,
                "base",
                side(
                    &p.base_ref,
                    t::fake_sha(&[repo.as_bytes(), p.base_ref.as_bytes()]),
                ),
            );
            x
        })
        .collect();
    set(&mut v, "pull_requests", Value::Array(pulls));
    v
}

// ----- review comments -----

fn review_comment_json(st: &mut State, ctx: &Ctx, c: &ReviewComment, template: &Value) -> Value {
    let mut v = template.clone();
    let repo = c.repo.as_str();
    let api = format!("{}/repos/{repo}/pulls/comments/{}", ctx.base, c.id);
    let html = format!(
        "https://github.com/{repo}/pull/{}#discussion_r{}",
        c.pull, c.id
    );
    let pull_api = format!("{}/repos/{repo}/pulls/{}", ctx.base, c.pull);
    set(&mut v, "url", api.clone());
    set(&mut v, "pull_request_review_id", c.review_id);
    set(&mut v, "id", c.id);
    set(
        &mut v,
        "node_id",
        format!(
            "PRRC_{}",
            t::b64(&format!("PullRequestReviewComment{}", c.id))
        ),
    );
    set(&mut v, "diff_hunk", c.diff_hunk.clone());
    set(&mut v, "path", c.path.clone());
    let (head, base) = match st.pulls.get(&(c.repo.clone(), c.pull)) {
        Some(p) => (
            t::fake_sha(&[p.head_repo.as_bytes(), p.head_ref.as_bytes()]),
            t::fake_sha(&[repo.as_bytes(), p.base_ref.as_bytes()]),
        ),
        None => (
            t::fake_sha(&[repo.as_bytes(), c.pull.to_string().as_bytes()]),
            t::fake_sha(&[repo.as_bytes(), b"base"]),
        ),
    };
    set(&mut v, "commit_id", head);
    set(&mut v, "original_commit_id", base);
    // `position` (deprecated) is null on an outdated diff, like `line`.
    set(&mut v, "position", c.line);
    set(&mut v, "original_position", c.line.unwrap_or(1));
    match c.in_reply_to_id {
        Some(id) => set(&mut v, "in_reply_to_id", id),
        // A comment that starts a thread has no `in_reply_to_id` at all.
        None => {
            if let Some(o) = v.as_object_mut() {
                o.remove("in_reply_to_id");
            }
        }
    }
    let uid = st.user_id(&c.user);
    set(
        &mut v,
        "user",
        t::user(&ctx.base, &c.user, uid, c.user.ends_with("[bot]")),
    );
    set(&mut v, "body", c.body.clone());
    set(&mut v, "created_at", ts(c.created_at));
    set(&mut v, "updated_at", ts(c.created_at));
    set(&mut v, "html_url", html.clone());
    set(&mut v, "pull_request_url", pull_api.clone());
    set(
        &mut v,
        "author_association",
        author_association(st, repo, &c.user),
    );
    set(
        &mut v,
        "_links",
        json!({"self": {"href": api}, "html": {"href": html}, "pull_request": {"href": pull_api}}),
    );
    set(&mut v, "start_line", c.start_line);
    set(&mut v, "original_start_line", c.start_line);
    set(
        &mut v,
        "start_side",
        c.start_line.map(|_| "RIGHT".to_string()),
    );
    set(&mut v, "line", c.line);
    set(&mut v, "original_line", c.line.unwrap_or(1));
    set(&mut v, "side", "RIGHT");
    v
}

/// `GET /repos/{o}/{r}/pulls/{n}/comments?per_page=&page=`: oldest first, + `Link`.
fn list_review_comments(st: &mut State, ctx: &Ctx, repo: &str, pull: u64) -> Reply {
    if let Err(e) = check_issue(st, repo, pull) {
        return e;
    }
    let (per_page, page) = page_params(ctx);
    let all: Vec<ReviewComment> = st
        .review_comments
        .iter()
        .filter(|c| c.repo.eq_ignore_ascii_case(repo) && c.pull == pull)
        .cloned()
        .collect();
    let last = all.len().div_ceil(per_page).max(1);
    let template = t::first(&t::REVIEW_COMMENTS_LIST);
    let items: Vec<Value> = all
        .iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .map(|c| review_comment_json(st, ctx, c, &template))
        .collect();
    with_links(Reply::json(200, Value::Array(items)), ctx, page, last)
}

/// `POST /repos/{o}/{r}/pulls/{n}/comments/{id}/replies` `{body}`: a reply in the thread of
/// comment `id` (to the thread's first comment when `id` is itself a reply, as GitHub does).
fn reply_to_review_comment(
    st: &mut State,
    ctx: &Ctx,
    actor: &Actor,
    repo: &str,
    pull: u64,
    id: u64,
) -> Reply {
    let Some(target) = st
        .review_comments
        .iter()
        .find(|c| c.id == id && c.pull == pull && c.repo.eq_ignore_ascii_case(repo))
        .cloned()
    else {
        return Reply::not_found();
    };
    let body = match body_field(ctx) {
        Ok(b) => b,
        Err(e) => return e,
    };
    let reply = ReviewComment {
        id: st.next_id(),
        repo: target.repo.clone(),
        pull,
        review_id: st.next_id(),
        user: actor.login.clone(),
        body,
        path: target.path.clone(),
        line: target.line,
        start_line: target.start_line,
        diff_hunk: target.diff_hunk.clone(),
        in_reply_to_id: Some(target.in_reply_to_id.unwrap_or(target.id)),
        created_at: Utc::now(),
    };
    st.review_comments.push(reply.clone());
    let v = review_comment_json(st, ctx, &reply, &t::REVIEW_COMMENT_REPLY);
    Reply::json(201, v).header(
        "location",
        format!("{}/repos/{repo}/pulls/comments/{}", ctx.base, reply.id),
    )
}
