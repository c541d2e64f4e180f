//! Readable text for the CLI's default output.

use crate::jules::{
    format_timestamp, session_id, strip_request_tag, Activity, ActivityKind, Artifact, JulesError,
    Session, SessionOutput, Source, State, Timestamp,
};

pub fn error(error: &JulesError) -> String {
    match error.api() {
        Some(api) if api.is_unauthenticated() => {
            format!("{error} (check JULES_API_KEY)")
        }
        _ => error.to_string(),
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
    format!(
        "{:<20}  {:<22}  {}",
        session.session_id(),
        session.state,
        one_line(&session.title, 80)
    )
}

pub fn session_details(session: &Session) -> String {
    let mut rows: Vec<(&str, String)> = vec![("session", session.name.clone())];
    if !session.title.is_empty() {
        rows.push(("title", session.title.clone()));
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
    rows.push(("prompt", one_line(strip_request_tag(&session.prompt), 100)));
    rows.iter()
        .map(|(key, value)| format!("{key:<13} {value}"))
        .collect::<Vec<_>>()
        .join("\n")
}

pub fn activity_line(activity: &Activity) -> String {
    format!(
        "{}  {:<6}  {}",
        time(activity.create_time.as_ref()),
        activity.originator.as_str(),
        activity_summary(activity)
    )
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
