//! Readable text for the CLI's default output.

use std::time::Duration;

use crate::jules::retry::{network_fault, NetworkFault};
use crate::jules::{
    format_timestamp, session_id, strip_request_tag, Activity, ActivityKind, Artifact, JulesError,
    Session, SessionOutput, Source, State, Timestamp,
};
use crate::store::{Delivery, DeliveryStatus};

/// What a failed command was about, so that its error can say so in its words.
#[derive(Debug, Clone)]
pub enum Subject {
    /// Nothing more specific than the API call.
    Call,
    /// A session, as the user named it.
    Session(String),
    /// A source, as the user named it (`OWNER/REPO` or `sources/...`).
    Source(String),
    /// A plan approval that found nothing to approve, with the session's state if known.
    Approve { id: String, state: Option<State> },
    /// One activity of a session that exists.
    Activity { session: String, activity: String },
}

/// What the CLI tried before it gave up on a call.
#[derive(Debug, Clone)]
pub struct Tried {
    /// HTTP exchanges made.
    pub attempts: usize,
    pub elapsed: Duration,
    /// `--timeout`.
    pub limit: Duration,
    /// How often a refused connection is retried.
    pub quick_retries: usize,
}

/// The error line of a failed command: Jules' answer in the words of what was asked, and,
/// for a failure to get an answer, what was tried and the limit. `host` is the API's
/// `host[:port]` (never the whole URL, which could hold credentials).
pub fn failure(error: &JulesError, subject: &Subject, tried: &Tried, host: &str) -> String {
    if let Some(api) = error.api() {
        if api.is_unauthenticated() {
            return format!("{error} (check JULES_API_KEY)");
        }
        if api.is_not_found() {
            match subject {
                Subject::Session(id) | Subject::Approve { id, .. } => {
                    return format!("session {} not found ({api})", session_id(id.trim()));
                }
                Subject::Source(source) => {
                    return format!(
                        "source {source} is not connected to Jules (see `jules-bridge jules sources list`) ({api})"
                    );
                }
                Subject::Activity { session, activity } => {
                    return format!(
                        "activity {activity} not found in session {} ({api})",
                        session_id(session.trim())
                    );
                }
                Subject::Call => {}
            }
        }
        if let (true, Subject::Approve { id, state }) = (api.is_failed_precondition(), subject) {
            let id = session_id(id.trim());
            return match state {
                Some(state) if !state.is_default() => format!(
                    "nothing to approve: session {id} is {state}, not waiting for plan approval ({api})"
                ),
                _ => format!(
                    "nothing to approve: session {id} is not waiting for plan approval ({api})"
                ),
            };
        }
        if api.is_at_limit() || api.is_server_error() {
            return format!("{error}; {}", patience(tried));
        }
        return error.to_string();
    }
    match error {
        JulesError::Transport { method, .. } => match network_fault(error) {
            Some(NetworkFault::ConnectionRefused) => format!(
                "could not reach the Jules API at {host} ({method}): connection refused; {} \
                 (a refused connection gets {} quick retries): is the service running, and are \
                 --api-url / JULES_API_URL right?",
                attempts_in(tried),
                tried.quick_retries
            ),
            Some(NetworkFault::UnknownHost) => format!(
                "could not reach the Jules API at {host} ({method}): {}; not retried, no retry \
                 makes a name exist: check --api-url / JULES_API_URL",
                error
                    .to_string()
                    .rsplit_once("): ")
                    .map_or("unknown host", |(_, words)| words)
            ),
            None => format!("{} (at {host}); {}", error, patience(tried)),
        },
        JulesError::Timeout { method } => format!(
            "the Jules API at {host} did not answer {method} in time; {}",
            patience(tried)
        ),
        _ => error.to_string(),
    }
}

/// "tried 3 times in 0.6 s".
fn attempts_in(tried: &Tried) -> String {
    let times = match tried.attempts {
        1 => "once".to_owned(),
        n => format!("{n} times"),
    };
    format!("tried {times} in {:.1} s", tried.elapsed.as_secs_f64())
}

/// "tried 7 times in 58.2 s (limit 60 s per call: --timeout or JULES_TIMEOUT)".
fn patience(tried: &Tried) -> String {
    format!(
        "{} (limit {} s per call: --timeout or JULES_TIMEOUT)",
        attempts_in(tried),
        tried.limit.as_secs()
    )
}

/// `host[:port]` of the API URL, for messages; never its user, password, path or query.
pub fn host_of(api_url: &str) -> String {
    match url::Url::parse(api_url.trim()) {
        Ok(url) => match (url.host_str(), url.port()) {
            (Some(host), Some(port)) => format!("{host}:{port}"),
            (Some(host), None) => host.to_owned(),
            (None, _) => "the configured URL".to_owned(),
        },
        Err(_) => "the configured URL".to_owned(),
    }
}

pub fn session_ref(id: &str) -> String {
    format!("sessions/{}", session_id(id.trim()))
}

pub fn source_line(source: &Source) -> String {
    let mut line = source.name.clone();
    if let Some(repo) = &source.github_repo {
        let mut notes = Vec::new();
        if let Some(branch) = &repo.default_branch {
            notes.push(format!("default branch {}", branch.display_name));
        }
        if repo.is_private {
            notes.push("private".to_owned());
        }
        if !notes.is_empty() {
            line.push_str(&format!("  ({})", notes.join(", ")));
        }
    }
    line
}

pub fn session_line(session: &Session) -> String {
    let title = if session.title.trim().is_empty() {
        strip_request_tag(&session.prompt)
    } else {
        strip_request_tag(&session.title)
    };
    format!(
        "{:<20}  {:<22}  {}",
        session.session_id(),
        session.state,
        one_line(title, 80)
    )
}

/// What `sessions create` prints: the session, its state and URL, and how to follow it.
pub fn created_session(session: &Session) -> String {
    format!(
        "{}\n{:<13} jules-bridge jules activities watch {}",
        session_details(session),
        "follow",
        session.session_id()
    )
}

pub fn session_details(session: &Session) -> String {
    let mut rows: Vec<(&str, String)> = vec![("session", session.name.clone())];
    if !session.title.is_empty() {
        // A session titled by Jules with its whole prompt carries the bridge's request tag.
        rows.push(("title", strip_request_tag(&session.title).to_owned()));
    }
    if !session.state.is_default() {
        rows.push(("state", session.state.to_string()));
    }
    if !session.url.is_empty() {
        rows.push(("url", session.url.clone()));
    }
    if let Some(context) = &session.source_context {
        let mut source = context.source.clone();
        if let Some(branch) = context.github_repo_context.as_ref() {
            if !branch.starting_branch.is_empty() {
                source.push_str(&format!(" (from {})", branch.starting_branch));
            }
        }
        rows.push(("source", source));
        if !context.working_branch.is_empty() {
            rows.push(("branch", context.working_branch.clone()));
        }
    }
    if session.require_plan_approval {
        rows.push(("approval", "plan approval required".to_owned()));
    }
    if !session.automation_mode.is_default() {
        rows.push(("automation", session.automation_mode.to_string()));
    }
    if let Some(time) = &session.create_time {
        rows.push(("created", format_timestamp(time)));
    }
    if let Some(time) = &session.update_time {
        rows.push(("updated", format_timestamp(time)));
    }
    if session.archived {
        rows.push(("archived", "yes".to_owned()));
    }
    for output in &session.outputs {
        match output {
            SessionOutput::PullRequest(pr) => rows.push(("pull request", pr.url.clone())),
            SessionOutput::ChangeSet(change) => {
                rows.push(("change set", format!("patch on {}", change.source)))
            }
            SessionOutput::Unknown(_) => rows.push(("output", "(unknown kind)".to_owned())),
        }
    }
    // The whole prompt, as people wrote it: the request tag is for the bridge.
    rows.push(("prompt", indented(strip_request_tag(&session.prompt))));
    rows.iter()
        .map(|(key, value)| format!("{key:<13} {value}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `text` trimmed, its lines after the first indented to the value column of the details.
fn indented(text: &str) -> String {
    text.trim()
        .lines()
        .map(str::trim_end)
        .collect::<Vec<_>>()
        .join(&format!("\n{:14}", ""))
}

pub fn activity_line(activity: &Activity) -> String {
    format!(
        "{}  {:<6}  {}",
        time(activity.create_time.as_ref()),
        activity.originator.as_str(),
        activity_summary(activity)
    )
}

/// What `activities watch` prints for an activity: its line, then what a person must read
/// in full: every step of a plan, the whole of a question or message, a failure's reason.
pub fn activity_block(activity: &Activity) -> String {
    let head = |summary: &str| {
        format!(
            "{}  {:<6}  {summary}",
            time(activity.create_time.as_ref()),
            activity.originator.as_str()
        )
    };
    let pad = " ".repeat(4);
    // A text the one-line summary would cut: its kind on the line, all of it below.
    let full = |kind: &str, body: &str| {
        let body = body.trim();
        if body.lines().count() < 2 && body.chars().count() <= 100 {
            return None;
        }
        let mut text = head(&format!("{kind}:"));
        for line in body.lines() {
            text.push_str(&format!("\n{pad}{}", line.trim_end()));
        }
        Some(text)
    };
    let text = match &activity.kind {
        ActivityKind::PlanGenerated(generated) => {
            let plan = &generated.plan;
            let mut text = head(&format!(
                "plan {} generated ({} steps):",
                short_id(&plan.id),
                plan.steps.len()
            ));
            for (n, step) in plan.steps.iter().enumerate() {
                // `index` is absent on the wire for the first step; the position is the truth.
                let number = if step.index == 0 {
                    n as u32
                } else {
                    step.index
                } + 1;
                text.push_str(&format!("\n{pad}{number}. {}", one_line(&step.title, 200)));
                for line in step.description.trim().lines() {
                    text.push_str(&format!("\n{pad}   {}", line.trim_end()));
                }
            }
            Some(text)
        }
        ActivityKind::AgentMessaged(message) => full("agent", &message.agent_message),
        ActivityKind::UserMessaged(message) => full("user", &message.user_message),
        ActivityKind::SessionFailed(failed) => full("session failed", &failed.reason),
        _ => None,
    };
    text.unwrap_or_else(|| activity_line(activity))
}

fn activity_summary(activity: &Activity) -> String {
    match &activity.kind {
        ActivityKind::PlanGenerated(generated) => {
            let plan = &generated.plan;
            let first = plan.steps.first().map(|s| one_line(&s.title, 60));
            format!(
                "plan {} generated ({} steps){}",
                short_id(&plan.id),
                plan.steps.len(),
                first
                    .map(|title| format!(": 1. {title}"))
                    .unwrap_or_default()
            )
        }
        ActivityKind::PlanApproved(approved) => {
            format!("plan {} approved", short_id(&approved.plan_id))
        }
        ActivityKind::UserMessaged(message) => {
            format!("user: {}", one_line(&message.user_message, 100))
        }
        ActivityKind::AgentMessaged(message) => {
            format!("agent: {}", one_line(&message.agent_message, 100))
        }
        ActivityKind::ProgressUpdated(progress) => {
            let text = if progress.title.is_empty() {
                &progress.description
            } else {
                &progress.title
            };
            format!("progress: {}", one_line(text, 100))
        }
        ActivityKind::SessionCompleted(_) => "session completed".to_owned(),
        ActivityKind::SessionFailed(failed) => {
            format!("session failed: {}", one_line(&failed.reason, 100))
        }
        ActivityKind::Unknown(_) => format!("{} (unknown activity kind)", activity.kind.name()),
    }
}

pub fn activity_details(activity: &Activity) -> String {
    let mut text = format!(
        "activity      {}\ncreated       {}\noriginator    {}\nkind          {}\n",
        activity.name,
        time(activity.create_time.as_ref()),
        activity.originator.as_str(),
        activity.kind.name(),
    );
    match &activity.kind {
        ActivityKind::PlanGenerated(generated) => {
            text.push_str(&format!("plan          {}\n", generated.plan.id));
            for step in &generated.plan.steps {
                text.push_str(&format!("  {}. {}\n", step.index + 1, step.title));
            }
        }
        ActivityKind::ProgressUpdated(progress) if !progress.description.is_empty() => {
            text.push_str(&format!("title         {}\n", progress.title));
            text.push_str(&format!("description   {}\n", progress.description));
        }
        _ => text.push_str(&format!("summary       {}\n", activity_summary(activity))),
    }
    for artifact in &activity.artifacts {
        let line = match artifact {
            Artifact::ChangeSet(change) => format!("change set on {}", change.source),
            Artifact::Media(media) => format!("media ({})", media.mime_type),
            Artifact::BashOutput(bash) => {
                format!(
                    "bash `{}` exit {}",
                    one_line(&bash.command, 60),
                    bash.exit_code
                )
            }
            Artifact::Unknown(_) => "artifact of an unknown kind".to_owned(),
        };
        text.push_str(&format!("artifact      {line}\n"));
    }
    text.trim_end().to_owned()
}

/// The line `activities watch` prints when the state changes, with what to do next.
pub fn state_line(session: &Session) -> String {
    let id = session.session_id();
    let next = match &session.state {
        State::AwaitingPlanApproval => {
            format!(" (approve: jules-bridge jules sessions approve {id})")
        }
        State::AwaitingUserFeedback => {
            format!(" (answer: jules-bridge jules sessions message {id} \"...\")")
        }
        State::Completed => session
            .pull_request()
            .map(|pr| format!(" (pull request {})", pr.url))
            .unwrap_or_default(),
        _ => String::new(),
    };
    format!(
        "{}  state   {}{next}",
        time(session.update_time.as_ref()),
        session.state
    )
}

fn time(time: Option<&Timestamp>) -> String {
    time.map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|| "-".repeat(19))
}

fn short_id(id: &str) -> &str {
    id.get(..6).unwrap_or(id)
}

/// The first line of `text`, cut at `max` characters.
fn one_line(text: &str, max: usize) -> String {
    let line = text.trim().lines().next().unwrap_or("");
    match line.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line.to_owned(),
    }
}

// ---- deliveries -----------------------------------------------------------------------------

/// `deliveries list`: a table with a header row, one delivery a line.
pub fn delivery_table(deliveries: &[Delivery]) -> String {
    let rows: Vec<Vec<String>> = deliveries
        .iter()
        .map(|d| {
            vec![
                d.id.to_string(),
                d.status.as_str().to_owned(),
                d.attempts.to_string(),
                d.received_at.format("%Y-%m-%d %H:%M:%S").to_string(),
                event_of(d),
                d.issue_key
                    .clone()
                    .or_else(|| d.repo.clone())
                    .unwrap_or_else(|| "-".to_owned()),
                d.delivery_id.clone(),
                one_line(delivery_why(d).unwrap_or(""), 80),
            ]
        })
        .collect();
    table(
        &[
            "ID", "STATUS", "TRIES", "RECEIVED", "EVENT", "ISSUE", "DELIVERY", "WHY",
        ],
        &rows,
    )
}

/// `deliveries show`: every field, the error in full, and the body.
pub fn delivery_details(d: &Delivery) -> String {
    let mut rows: Vec<(&str, String)> = vec![
        ("id", d.id.to_string()),
        ("delivery", d.delivery_id.clone()),
        ("hook", d.hook_id.clone()),
        ("event", event_of(d)),
        ("status", d.status.as_str().to_owned()),
        ("attempts", d.attempts.to_string()),
        ("repository", d.repo.clone().unwrap_or_else(|| "-".into())),
        ("issue", d.issue_key.clone().unwrap_or_else(|| "-".into())),
        ("received", d.received_at.to_rfc3339()),
        ("updated", d.updated_at.to_rfc3339()),
    ];
    if d.status == DeliveryStatus::Pending {
        rows.push(("next attempt", d.next_attempt_at.to_rfc3339()));
    }
    if let Some(note) = d.note.as_deref().filter(|note| !note.trim().is_empty()) {
        rows.push(("note", indented(note)));
    }
    if let Some(error) = d.last_error.as_deref().filter(|e| !e.trim().is_empty()) {
        if succeeded(d) {
            // Kept by the store from a failed attempt; a later one went through.
            rows.push((
                "earlier error",
                indented(&format!("{error}\n(a later attempt succeeded)")),
            ));
        } else {
            rows.push(("error", indented(error)));
        }
    }
    let mut text = rows
        .iter()
        .map(|(key, value)| format!("{key:<13} {value}"))
        .collect::<Vec<_>>()
        .join("\n");
    let body = match serde_json::from_slice::<serde_json::Value>(&d.body) {
        Ok(json) => serde_json::to_string_pretty(&json).unwrap_or_default(),
        Err(_) => String::from_utf8_lossy(&d.body).into_owned(),
    };
    text.push_str(&format!("\n{:<13} {} bytes\n{body}", "body", d.body.len()));
    text
}

fn event_of(d: &Delivery) -> String {
    match d.action.as_deref().filter(|action| !action.is_empty()) {
        Some(action) => format!("{}.{action}", d.event),
        None => d.event.clone(),
    }
}

/// Handled, or recorded without processing: an error kept from an earlier attempt is no
/// longer the delivery's story.
fn succeeded(d: &Delivery) -> bool {
    matches!(d.status, DeliveryStatus::Done | DeliveryStatus::Ignored)
}

/// What the list says about a delivery: its error while it is failing or dead, its note
/// once it is done.
fn delivery_why(d: &Delivery) -> Option<&str> {
    let error = d.last_error.as_deref().filter(|e| !e.trim().is_empty());
    let note = d.note.as_deref().filter(|n| !n.trim().is_empty());
    if succeeded(d) {
        note
    } else {
        error.or(note)
    }
}

/// Left-aligned columns, as wide as their widest cell; the last one is not padded.
fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let last = cells.len().saturating_sub(1);
        cells
            .iter()
            .enumerate()
            .map(|(n, cell)| {
                if n == last {
                    (*cell).to_owned()
                } else {
                    format!("{cell:<width$}", width = widths[n])
                }
            })
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_owned()
    };
    let mut lines = vec![line(headers.to_vec())];
    lines.extend(
        rows.iter()
            .map(|row| line(row.iter().map(String::as_str).collect())),
    );
    lines.join("\n")
}
