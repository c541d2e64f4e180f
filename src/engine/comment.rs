//! Every reply the bridge posts on an issue besides its status comment, with its text: one
//! type names them all, so what people read is written (and reviewed) in one place. The
//! status comment and the question comment are rendered in `render`.
//!
//! (Named `Reply`, not `Comment` as in rust-lang/bors: `Comment` is a GitHub comment in the
//! event model.)

use super::decide::CreateFailure;
use super::escape;
use super::render::{one_line, short_session, state_words};
use super::status::SessionView;

/// A reply on an issue or pull request.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// Someone without write access asked.
    Refused { login: String, permission: String },
    /// `/jules help`.
    Help {
        prefix: String,
        trigger_label: String,
    },
    /// A line that starts with the prefix but is not a command.
    Malformed {
        line: String,
        reason: String,
        prefix: String,
        trigger_label: String,
    },
    /// A pull request from a fork.
    Fork { head_repo: Option<String> },
    /// The issue's trusted pointer names another repository's session.
    Foreign,
    /// A command that needs a session, on an issue without one.
    NoSession { prefix: String },
    /// `/jules stop` with nothing running.
    NothingToStop {
        view: Box<SessionView>,
        prefix: String,
    },
    /// `/jules approve` with no plan waiting.
    NothingToApprove {
        view: Box<SessionView>,
        prefix: String,
    },
    /// A bare `/jules approve` while the status comment did not show the pending plan.
    PlanNotShownYet { pending: String, prefix: String },
    /// `/jules approve PLAN` naming a plan that is not the pending one.
    PlanMismatch {
        given: String,
        pending: String,
        prefix: String,
    },
    /// A message not sent: the session's pull request is behind its base.
    StaleBase { behind: StaleBase, prefix: String },
    /// Jules did not start the session.
    CreateFailed {
        failure: CreateFailure,
        prefix: String,
        /// The Action (a workflow run to look at) rather than the server.
        in_action: bool,
    },
    /// Jules asks something: a new comment, so the requester is notified.
    Question {
        view: Box<SessionView>,
        requester: Option<String>,
        prefix: String,
    },
    /// Commands a review cannot carry (approve, stop, ...): they belong in the conversation.
    NotInAReview {
        commands: Vec<&'static str>,
        prefix: String,
    },
    /// The short answer in a review thread: the request reached Jules.
    SentToJules { view: Box<SessionView> },
    /// The request waits for a slot.
    Queued {
        position: i64,
        reason: String,
        requester: Option<String>,
    },
    /// A working session with no new activity for a while (the stall watchdog): a new
    /// comment, so the requester is notified. Once per session.
    Stalled {
        view: Box<SessionView>,
        minutes: u32,
        requester: Option<String>,
        prefix: String,
    },
    /// A plan or a question nobody answered for a while: one reminder per session.
    Reminder {
        view: Box<SessionView>,
        /// `AWAITING_PLAN_APPROVAL` or `AWAITING_USER_FEEDBACK`.
        waiting_for: crate::jules::State,
        hours: u32,
        requester: Option<String>,
        prefix: String,
    },
}

impl Reply {
    /// A short name, unique per kind: the once-only key of a reply within a request, and
    /// what logs and dry runs call it.
    pub fn kind(&self) -> &'static str {
        match self {
            Reply::Refused { .. } => "refused",
            Reply::Help { .. } => "help",
            Reply::Malformed { .. } => "malformed",
            Reply::Fork { .. } => "fork",
            Reply::Foreign => "foreign",
            Reply::NoSession { .. } => "no-session",
            Reply::NothingToApprove { .. } => "nothing-to-approve",
            Reply::NothingToStop { .. } => "nothing-to-stop",
            Reply::PlanNotShownYet { .. } | Reply::PlanMismatch { .. } => "not-approved",
            Reply::StaleBase { .. } => "stale-base",
            Reply::CreateFailed { .. } => "create-failure",
            Reply::Question { .. } => "question",
            Reply::NotInAReview { .. } => "not-in-a-review",
            Reply::SentToJules { .. } => "sent",
            Reply::Queued { .. } => "queued",
            Reply::Stalled { .. } => "stalled",
            Reply::Reminder { .. } => "reminder",
        }
    }

    /// The comment's Markdown.
    pub fn body(&self) -> String {
        match self {
            Reply::Refused { login, permission } => refused(login, permission),
            Reply::Help {
                prefix,
                trigger_label,
            } => help(prefix, trigger_label),
            Reply::Malformed {
                line,
                reason,
                prefix,
                trigger_label,
            } => malformed_command(line, reason, prefix, trigger_label),
            Reply::Fork { head_repo } => fork_pull_request(head_repo.as_deref()),
            Reply::Foreign => foreign_session(),
            Reply::NoSession { prefix } => no_session(prefix),
            Reply::NothingToApprove { view, prefix } => nothing_to_approve(view, prefix),
            Reply::NothingToStop { view, prefix } => format!(
                "Nothing to stop: [session {}]({}) is {}. `{prefix} new <task>` starts another.",
                short_session(&view.id),
                view.url,
                state_words(&view.state)
            ),
            Reply::PlanNotShownYet { pending, prefix } => plan_not_shown_yet(pending, prefix),
            Reply::PlanMismatch {
                given,
                pending,
                prefix,
            } => plan_mismatch(given, pending, prefix),
            Reply::StaleBase { behind, prefix } => stale_base(behind, prefix),
            Reply::CreateFailed {
                failure,
                prefix,
                in_action,
            } => create_failed(*failure, prefix, *in_action),
            Reply::Question {
                view,
                requester,
                prefix,
            } => super::render::question_comment(view, requester.as_deref(), prefix),
            Reply::NotInAReview { commands, prefix } => format!(
                "A review can only send Jules a task (`{prefix} <text>`, `{prefix} new <text>`); {} belong in the conversation below, where the status comment is.",
                commands
                    .iter()
                    .map(|name| format!("`{prefix} {name}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Reply::SentToJules { view } => format!(
                "Sent to Jules: [session {}]({}).",
                short_session(&view.id),
                view.url
            ),
            Reply::Queued {
                position,
                reason,
                requester,
            } => queued_comment(*position, reason, requester.as_deref()),
            Reply::Stalled {
                view,
                minutes,
                requester,
                prefix,
            } => stalled_comment(view, *minutes, requester.as_deref(), prefix),
            Reply::Reminder {
                view,
                waiting_for,
                hours,
                requester,
                prefix,
            } => reminder_comment(view, waiting_for, *hours, requester.as_deref(), prefix),
        }
    }
}

/// The status comment's notice on a session the bridge archived (`how`: "by @login", "because
/// the pull request was merged").
pub fn stopped_notice(how: &str, prefix: &str) -> String {
    format!(
        "Stopped {how}: the session is archived (Jules keeps its history). `{prefix} new <task>` starts another."
    )
}

/// The notice on an issue's status comment when its session was stopped from `pull` (its pull
/// request merged or closed, `/jules stop` there).
pub fn stopped_from(pull: u64) -> String {
    format!("Stopped from #{pull}: the session is archived (Jules keeps its history).")
}

/// The notice on the status comment the bridge keeps on a pull request Jules opened for the
/// session of `issue`.
pub fn opened_for(issue: u64, prefix: &str) -> String {
    format!("Jules opened this pull request for #{issue}. Reviews and `{prefix}` commands here reach the same session.")
}

/// Jules did not start the session: what happened and who can fix it, in plain words.
fn create_failed(failure: CreateFailure, prefix: &str, in_action: bool) -> String {
    let where_to_look = if in_action {
        "check the workflow run"
    } else {
        "an operator can see the error with `jules-bridge deliveries list`"
    };
    let (what, next) = match failure {
        CreateFailure::AtLimit => (
            "Jules is at its session limit",
            format!("Nothing was started. Try again later with `{prefix} <task>` or by re-adding the label."),
        ),
        CreateFailure::Unauthenticated => (
            "Jules rejected the API key",
            if in_action {
                "A maintainer needs to update the Jules API key secret of this workflow.".to_owned()
            } else {
                // Server mode: the key is the operator's, not this repository's.
                "The operator of this jules-bridge installation needs to check its Jules API key; nothing in this repository can fix it.".to_owned()
            },
        ),
        CreateFailure::SourceNotFound => (
            "Jules cannot see this repository",
            "Connect the repository to Jules at jules.google.com, then try again.".to_owned(),
        ),
        CreateFailure::Other { .. } => (
            "Jules could not start a session",
            format!("Nothing was started. Try again with `{prefix} <task>`; if it keeps failing, {where_to_look}."),
        ),
    };
    error_comment(what, &next)
}

/// A session's pull request that is behind its base branch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaleBase {
    pub base: String,
    pub head: String,
    pub commits: u64,
}

/// The reply instead of sending a message to a session whose pull request is behind its base:
/// Jules would revert the work merged since.
fn stale_base(behind: &StaleBase, prefix: &str) -> String {
    let commits = if behind.commits == 1 {
        "1 commit".to_owned()
    } else {
        format!("{} commits", behind.commits)
    };
    format!(
        "Not sent to Jules: its pull request branch {} is {commits} behind {} (work merged since the session started). Jules never rebases a session, so if it writes again its branch would revert that work.\n\n\
         - `{prefix} new <task>` starts a fresh session from the current {} (this one is archived);\n\
         - repeat your command with `--anyway` at its end to send it to this session regardless.",
        escape::inline(&behind.head),
        escape::inline(&behind.base),
        escape::inline(&behind.base),
    )
}

/// The last line of a "queued" comment, so the comment is found and turned into the status
/// comment when the session starts.
pub const QUEUED_MARKER: &str = "<!-- jules-bridge:queued -->";

/// A request that waits for a free slot.
fn queued_comment(position: i64, reason: &str, requester: Option<&str>) -> String {
    let requested = requester
        .map(|login| format!(" · requested by @{login}"))
        .unwrap_or_default();
    format!(
        "⏳ **Queued** (position {position}){requested}\n\n{}. Jules will start as soon as a slot frees; this comment will show the session then.\n\n{QUEUED_MARKER}",
        one_line(reason)
    )
}

/// The reply to `/jules help` and to a malformed command.
fn help(prefix: &str, trigger_label: &str) -> String {
    format!(
        "**jules-bridge** starts and steers [Jules](https://jules.google) sessions from this conversation.\n\n\
         | command | what it does |\n|---|---|\n\
         | `{prefix} <text>` | start a session with `<text>` as the task (the issue is the context), or send `<text>` to the running session |\n\
         | `{prefix} approve [PLAN]` | approve the pending plan; with `PLAN` (the id shown in the status comment) only if it is still that plan |\n\
         | `{prefix} new <text>` | start a fresh session with `<text>`, from the current branch head; the running one is archived |\n\
         | `{prefix} status` | refresh the status comment now |\n\
         | `{prefix} stop` | stop the running session (it is archived; its history stays in Jules) |\n\
         | `{prefix} help` | this help |\n\n\
         Adding the label `{trigger_label}` to an issue or same-repository pull request also starts a session. \
         Only people with write access to the repository can use these commands."
    )
}

/// The reply to a command the bridge could not read. The line is the person's own text, so
/// it is echoed escaped, never inside a code span it could close.
fn malformed_command(line: &str, reason: &str, prefix: &str, trigger_label: &str) -> String {
    format!(
        "I could not read this command: {}\n\n{reason}\n\n{}",
        escape::inline(&truncate_chars(line, 200)),
        help(prefix, trigger_label)
    )
}

fn truncate_chars(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// The one polite reply to someone without write access.
fn refused(login: &str, permission: &str) -> String {
    format!(
        "Sorry @{login}, only people with write access to this repository can start or steer Jules sessions (you have {permission} access). \
         A maintainer can add the trigger label or comment the command instead."
    )
}

fn fork_pull_request(head_repo: Option<&str>) -> String {
    format!(
        "Jules can only work on branches of this repository, and this pull request comes from {}. \
         A maintainer can push the branch here and label that pull request, or open an issue and label it.",
        head_repo
            .map(|repo| format!("the fork {}", escape::inline(repo)))
            .unwrap_or_else(|| "a deleted fork".to_owned())
    )
}

fn nothing_to_approve(view: &SessionView, prefix: &str) -> String {
    format!(
        "There is no plan waiting for approval in [session {}]({}) (it is {}). Reply `{prefix} status` to refresh the status comment.",
        short_session(&view.id),
        view.url,
        state_words(&view.state)
    )
}

fn no_session(prefix: &str) -> String {
    format!(
        "There is no Jules session for this conversation yet. Start one with `{prefix} <what to do>`."
    )
}

/// A bare `/jules approve` while the status comment did not show the pending plan (it was
/// revised, or had not been shown yet): the comment now shows it.
fn plan_not_shown_yet(pending: &str, prefix: &str) -> String {
    format!(
        "Not approved yet: the plan waiting now (`{pending}`) is not the one the status comment showed when you replied. \
         The status comment shows it now; read it, then reply `{prefix} approve {pending}`."
    )
}

/// A trusted pointer of this issue names a session of another repository.
fn foreign_session() -> String {
    "I did not act: the session this conversation points at does not belong to this repository. \
     Nothing was sent to it. A maintainer can start a new session with the trigger label or a command."
        .to_owned()
}

fn plan_mismatch(given: &str, pending: &str, prefix: &str) -> String {
    format!(
        "Not approved: you approved plan {}, but the plan waiting now is `{pending}` (Jules revised it). \
         Read the plan in the status comment, then reply `{prefix} approve {pending}`.",
        escape::inline(given)
    )
}

/// An error a person must know about, in plain words. Jules' own error text is not
/// posted (it can name internals and is not written for the people on a public issue):
/// the operator finds it in the logs or the delivery.
fn error_comment(what: &str, next: &str) -> String {
    format!("⚠️ **{what}**\n\n{next}")
}

/// `@login ` for a GitHub login (letters, digits and hyphens, or an App's `name[bot]`);
/// nothing for anything else, so a stored requester can never inject Markdown.
fn mention(requester: Option<&str>) -> String {
    let valid = |login: &str| {
        let name = login.strip_suffix("[bot]").unwrap_or(login);
        !name.is_empty()
            && name.len() <= 39
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    requester
        .filter(|login| valid(login))
        .map(|login| format!("@{login} "))
        .unwrap_or_default()
}

fn minutes_words(minutes: u32) -> String {
    if minutes == 1 {
        "1 minute".to_owned()
    } else {
        format!("{minutes} minutes")
    }
}

fn hours_words(hours: u32) -> String {
    if hours == 1 {
        "1 hour".to_owned()
    } else {
        format!("{hours} hours")
    }
}

/// The status comment's line while a working session shows no new activity (the stall
/// watchdog; an edit notifies nobody, the [`Reply::Stalled`] comment does).
pub fn stall_notice(since: chrono::DateTime<chrono::Utc>, minutes: u32, prefix: &str) -> String {
    format!(
        "No new activity from Jules for {} or more (the last was at {} UTC): it may be stuck. Open the session to look, send it a message with `{prefix} <message>`, or stop it with `{prefix} stop`.",
        minutes_words(minutes),
        since.format("%Y-%m-%d %H:%M"),
    )
}

/// The stall watchdog's one comment: the mention notifies the requester.
fn stalled_comment(
    view: &SessionView,
    minutes: u32,
    requester: Option<&str>,
    prefix: &str,
) -> String {
    format!(
        "{}Jules has shown no new activity in [session {}]({}) for {} while working: it may be stuck. \
         Open the session to look, send it a message with `{prefix} <message>`, or stop it with `{prefix} stop`.",
        mention(requester),
        short_session(&view.id),
        view.url,
        minutes_words(minutes),
    )
}

/// The one reminder of a plan or a question nobody answered.
fn reminder_comment(
    view: &SessionView,
    waiting_for: &crate::jules::State,
    hours: u32,
    requester: Option<&str>,
    prefix: &str,
) -> String {
    let session = format!("[session {}]({})", short_session(&view.id), view.url);
    let waited = hours_words(hours);
    let what = match waiting_for {
        crate::jules::State::AwaitingPlanApproval => format!(
            "the plan of {session} has waited {waited} for approval. Read it in the status comment, then reply `{prefix} approve`, or `{prefix} <what to change>` to revise it."
        ),
        _ => format!(
            "Jules' question in {session} has waited {waited} for an answer. Reply `{prefix} <your answer>`, or `{prefix} stop` if it is no longer needed."
        ),
    };
    format!("{}Reminder: {what}", mention(requester))
}
