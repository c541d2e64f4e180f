//! Every text the bridge posts on GitHub. Comments are values: built here, posted elsewhere.
//!
//! The status comment's first line always answers "what is happening now" with an emoji and a
//! state word; every state that waits for a person says exactly what to type; the hidden
//! marker is the last line.

use super::escape;
use super::marker::Marker;
use super::status::{Approval, Changes, SessionView};
use crate::jules::State;

/// What the status comment needs besides the session.
#[derive(Debug, Clone, Default)]
pub struct StatusContext<'a> {
    pub requester: Option<&'a str>,
    /// The command prefix (`/jules`).
    pub prefix: &'a str,
    /// The workflow run that last updated the comment (Action mode).
    pub run_url: Option<&'a str>,
    /// A plain-words note: an error, a wait, why updates stopped.
    pub notice: Option<&'a str>,
    /// The signed marker line ([`crate::engine::marker::MarkerKey::sign`] of
    /// [`status_marker`]), the comment's last line.
    pub marker: &'a str,
}

/// What the status comment's marker records for `view`.
pub fn status_marker(view: &SessionView, requester: Option<&str>) -> Marker {
    Marker {
        session: view.name.clone(),
        requester: requester.map(str::to_owned),
        plan: view.shown_plan().map(|plan| plan.short_id().to_owned()),
    }
}

/// The status comment for a session.
pub fn status_comment(view: &SessionView, ctx: &StatusContext<'_>) -> String {
    let session_link = format!("[session {}]({})", short_session(&view.id), view.url);
    let requested = ctx
        .requester
        .map(|login| format!(" · requested by @{login}"))
        .unwrap_or_default();
    let prefix = ctx.prefix;
    let mut lines: Vec<String> = Vec::new();

    match &view.state {
        State::AwaitingPlanApproval => {
            let plan = view.shown_plan();
            let plan_id = plan
                .map(|plan| format!(" (plan `{}`)", plan.short_id()))
                .unwrap_or_default();
            lines.push(format!(
                "📝 **Plan ready for review**{plan_id} · {session_link}{requested}"
            ));
            if let Some(plan) = plan {
                lines.push(String::new());
                lines.extend(checklist(&plan.steps, false));
                lines.push(String::new());
                lines.push(format!(
                    "Reply `{prefix} approve {}` to start, or `{prefix} <what to change>` to ask for a new plan.",
                    plan.short_id()
                ));
            }
        }
        State::AwaitingUserFeedback => {
            let who = ctx
                .requester
                .map(|login| format!(" for @{login}"))
                .unwrap_or_default();
            lines.push(format!("❓ **Jules has a question**{who} · {session_link}"));
            if let Some(question) = &view.question {
                lines.push(String::new());
                lines.push(escape::quoted(question));
            }
            lines.push(String::new());
            lines.push(format!("Reply `{prefix} <your answer>`."));
        }
        State::InProgress => {
            let how = match view.plan.as_ref().and_then(|plan| plan.approval) {
                Some(Approval::CarriedForward) => " — approved earlier",
                Some(Approval::ByJules) => " — plan approved automatically by Jules",
                _ => "",
            };
            lines.push(format!(
                "🔨 **Jules is working**{how} · {session_link}{requested}"
            ));
            push_plan_and_progress(&mut lines, view, false);
            if let Some(note) = approval_note(view) {
                lines.push(String::new());
                lines.push(note);
            }
        }
        State::Completed => match (&view.pull_request, &view.changes) {
            (Some((url, title)), _) => {
                lines.push(format!(
                    "✅ **Done** · [pull request]({url}) · {session_link}{requested}"
                ));
                push_plan_and_progress(&mut lines, view, true);
                lines.push(String::new());
                lines.push(if title.is_empty() {
                    format!("Jules opened a pull request: {url}")
                } else {
                    format!("Jules opened **{}**: {url}", escape::inline(title))
                });
            }
            (None, Some(changes)) => {
                lines.push(format!(
                    "📦 **Changes ready, no pull request** · {session_link}{requested}"
                ));
                push_plan_and_progress(&mut lines, view, true);
                lines.push(String::new());
                lines.push(changes_summary(changes));
                lines.push(String::new());
                lines.push(format!(
                    "Jules did not open a pull request. Open the [session]({}) to review the changes and publish them as a branch or pull request from there; reply `{prefix} <text>` to continue the work.",
                    view.url
                ));
            }
            (None, None) => {
                lines.push(format!(
                    "☑️ **Finished, no changes** · {session_link}{requested}"
                ));
                push_plan_and_progress(&mut lines, view, true);
                lines.push(String::new());
                lines.push(format!(
                    "Jules finished without changing any file or opening a pull request; the session may explain why. Reply `{prefix} <text>` to continue."
                ));
            }
        },
        State::Failed => {
            lines.push(format!(
                "❌ **Jules could not finish** · {session_link}{requested}"
            ));
            lines.push(String::new());
            lines.push(match &view.failure {
                Some(reason) if !reason.trim().is_empty() => {
                    format!("Reason: {}", escape::inline(reason))
                }
                _ => "Jules did not say why.".to_owned(),
            });
            lines.push(String::new());
            lines.push(format!(
                "Reply `{prefix} <text>` to try again in the same session."
            ));
        }
        State::Paused => {
            lines.push(format!("⏸️ **Paused** · {session_link}{requested}"));
            lines.push(String::new());
            lines.push("The session was paused in the Jules web app; resume it there.".into());
        }
        State::Planning => {
            lines.push(format!(
                "⏳ **Jules is planning** · {session_link}{requested}"
            ));
            lines.push(String::new());
            lines.push("Jules is reading the repository and drafting a plan.".into());
        }
        State::Queued | State::Unspecified => {
            lines.push(format!("⏳ **Queued** · {session_link}{requested}"));
            lines.push(String::new());
            lines.push("Jules has the task and will start shortly.".into());
        }
        State::Unknown(state) => {
            lines.push(format!("ℹ️ **{state}** · {session_link}{requested}"));
        }
    }

    if let Some(notice) = ctx.notice {
        lines.push(String::new());
        lines.push(format!("> [!NOTE]\n> {}", one_line(notice)));
    }
    let mut footer = format!("<sub>jules-bridge · `{prefix} help` for commands");
    if let Some(run) = ctx.run_url {
        footer.push_str(&format!(" · [workflow run]({run})"));
    }
    footer.push_str("</sub>");
    lines.push(String::new());
    lines.push(footer);
    lines.push(ctx.marker.to_owned());
    lines.join("\n")
}

/// Says how the running plan came to run when nobody here approved it.
fn approval_note(view: &SessionView) -> Option<String> {
    match view.plan.as_ref()?.approval? {
        Approval::ByPerson => None,
        Approval::CarriedForward => Some(
            "Jules revised the plan after a message and runs it without asking again: an earlier plan of this session was approved, and Jules carries that approval forward.".into(),
        ),
        Approval::ByJules => Some(
            "Nobody approved this plan here: Jules approved it on its own after it waited unattended.".into(),
        ),
    }
}

/// The files a change set touches, at most ten named.
fn changes_summary(changes: &Changes) -> String {
    const SHOWN: usize = 10;
    let mut text = match changes.files.len() {
        0 => "Jules has changes ready.".to_owned(),
        1 => "Jules changed 1 file:".to_owned(),
        n => format!("Jules changed {n} files:"),
    };
    for file in changes.files.iter().take(SHOWN) {
        text.push_str(&format!("\n- {}", escape::inline(file)));
    }
    if changes.files.len() > SHOWN {
        text.push_str(&format!("\n- … and {} more", changes.files.len() - SHOWN));
    }
    if let Some(message) = &changes.suggested_commit_message {
        let subject = message.lines().next().unwrap_or_default();
        text.push_str(&format!(
            "\n\nSuggested commit message: *{}*",
            escape::inline(subject)
        ));
    }
    text
}

fn push_plan_and_progress(lines: &mut Vec<String>, view: &SessionView, done: bool) {
    if let Some(plan) = &view.plan {
        lines.push(String::new());
        lines.extend(checklist(&plan.steps, done));
    }
    if let Some(progress) = &view.latest_progress {
        lines.push(String::new());
        lines.push(format!("Latest: *{}*", escape::inline(progress)));
    }
}

fn checklist(steps: &[String], done: bool) -> Vec<String> {
    let mark = if done { "x" } else { " " };
    steps
        .iter()
        .enumerate()
        .map(|(n, step)| format!("- [{mark}] {}. {}", n + 1, escape::inline(step)))
        .collect()
}

/// A new comment when Jules asks something: it mentions the requester, so they are notified.
pub fn question_comment(view: &SessionView, requester: Option<&str>, prefix: &str) -> String {
    let mention = requester
        .map(|login| format!("@{login} "))
        .unwrap_or_default();
    let question = view
        .question
        .as_deref()
        .filter(|question| !question.trim().is_empty())
        .unwrap_or("Jules is waiting for your input.");
    format!(
        "{mention}Jules has a question in [session {}]({}):\n\n{}\n\nReply `{prefix} <your answer>`.",
        short_session(&view.id),
        view.url,
        escape::quoted(question)
    )
}

/// The notice on the status comment after a message to a session whose plan was approved:
/// Jules carries an approval forward, so a plan revised after the message will not wait.
pub fn message_after_approval(prefix: &str) -> String {
    format!(
        "Message sent. A plan of this session was already approved, and Jules carries that approval forward: if the message makes it revise the plan, the new plan runs without waiting for `{prefix} approve`."
    )
}

/// A state in words, for sentences.
pub fn state_words(state: &State) -> String {
    match state {
        State::Queued => "queued".into(),
        State::Planning => "planning".into(),
        State::AwaitingPlanApproval => "waiting for plan approval".into(),
        State::AwaitingUserFeedback => "waiting for an answer".into(),
        State::InProgress => "working".into(),
        State::Paused => "paused".into(),
        State::Failed => "failed".into(),
        State::Completed => "completed".into(),
        State::Unspecified => "starting".into(),
        State::Unknown(other) => other.to_lowercase(),
    }
}

pub(crate) fn short_session(id: &str) -> String {
    match id.char_indices().nth(6) {
        Some((cut, _)) => format!("{}…", &id[..cut]),
        None => id.to_owned(),
    }
}

pub(crate) fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::status::PlanView;

    fn view(state: State) -> SessionView {
        SessionView {
            name: "sessions/1234567890".into(),
            id: "1234567890".into(),
            url: "https://jules.google.com/session/1234567890".into(),
            state,
            plan: Some(PlanView {
                id: "5103d604240042cd".into(),
                steps: vec!["Reproduce the crash".into(), "Fix it".into()],
                approval: None,
            }),
            latest_progress: Some("Added a guard".into()),
            question: Some("Should empty input be an error?".into()),
            pull_request: Some(("https://github.com/o/r/pull/35".into(), "Fix crash".into())),
            changes: None,
            failure: None,
        }
    }

    const MARKER: &str = "<!-- jules-bridge:session=sessions/1234567890 sig=00 -->";

    fn ctx() -> StatusContext<'static> {
        StatusContext {
            requester: Some("alice"),
            prefix: "/jules",
            marker: MARKER,
            ..StatusContext::default()
        }
    }

    #[test]
    fn a_pending_plan_says_exactly_what_to_type() {
        let text = status_comment(&view(State::AwaitingPlanApproval), &ctx());
        assert!(text.starts_with("📝 **Plan ready for review** (plan `5103d6`) · [session 123456…](https://jules.google.com/session/1234567890) · requested by @alice"));
        assert!(text.contains("- [ ] 1. Reproduce the crash\n- [ ] 2. Fix it"));
        assert!(text.contains("Reply `/jules approve 5103d6` to start"));
        assert!(text.ends_with(MARKER));
        let marker = status_marker(&view(State::AwaitingPlanApproval), Some("alice"));
        assert_eq!(marker.plan.as_deref(), Some("5103d6"));
        assert_eq!(status_marker(&view(State::InProgress), None).plan, None);
    }

    #[test]
    fn done_links_the_pull_request_and_a_question_mentions_the_requester() {
        let done = status_comment(&view(State::Completed), &ctx());
        assert!(done.starts_with("✅ **Done** · [pull request](https://github.com/o/r/pull/35)"));
        assert!(done.contains("- [x] 2. Fix it"));
        let asking = status_comment(&view(State::AwaitingUserFeedback), &ctx());
        assert!(asking.starts_with("❓ **Jules has a question** for @alice"));
        assert!(asking.contains("> Should empty input be an error?"));
        let comment = question_comment(&view(State::AwaitingUserFeedback), Some("alice"), "/jules");
        assert!(comment.starts_with("@alice Jules has a question"));
    }

    #[test]
    fn work_without_a_pull_request_is_never_just_done() {
        let mut ready = view(State::Completed);
        ready.pull_request = None;
        ready.changes = Some(Changes {
            files: vec!["src/parser.rs".into(), "tests/parser_*.rs".into()],
            suggested_commit_message: Some("Fix the parser crash\n\nDetails".into()),
        });
        let text = status_comment(&ready, &ctx());
        assert!(text.starts_with("📦 **Changes ready, no pull request** · [session 123456…]"));
        assert!(text.contains("Jules changed 2 files:\n- src/parser.rs\n- tests/parser\\_\\*.rs"));
        assert!(text.contains("Suggested commit message: *Fix the parser crash*"));
        assert!(text.contains(
            "Open the [session](https://jules.google.com/session/1234567890) to review the changes"
        ));
        assert!(!text.contains("✅"));

        ready.changes = None;
        let nothing = status_comment(&ready, &ctx());
        assert!(
            nothing.starts_with("☑️ **Finished, no changes**"),
            "{nothing}"
        );
    }

    #[test]
    fn a_plan_nobody_here_approved_is_not_shown_as_approved() {
        let mut carried = view(State::InProgress);
        carried.plan.as_mut().unwrap().approval = Some(Approval::CarriedForward);
        let text = status_comment(&carried, &ctx());
        assert!(text.starts_with("🔨 **Jules is working** — approved earlier · "));
        assert!(text.contains("Jules carries that approval forward"));

        let mut automatic = view(State::InProgress);
        automatic.plan.as_mut().unwrap().approval = Some(Approval::ByJules);
        let text = status_comment(&automatic, &ctx());
        assert!(
            text.starts_with("🔨 **Jules is working** — plan approved automatically by Jules · ")
        );
        assert!(text.contains("Nobody approved this plan here"));

        let mut approved = view(State::InProgress);
        approved.plan.as_mut().unwrap().approval = Some(Approval::ByPerson);
        let text = status_comment(&approved, &ctx());
        assert!(text.starts_with("🔨 **Jules is working** · "));
        assert!(!text.contains("approved"));
    }

    #[test]
    fn agent_text_cannot_ping_people() {
        let mut v = view(State::InProgress);
        v.latest_progress = Some("Thanks @everyone *really*".into());
        let text = status_comment(&v, &ctx());
        assert!(text.contains("Latest: *Thanks @\u{2060}everyone \\*really\\**"));
    }

    #[test]
    fn relayed_text_cannot_plant_markup_in_the_status_comment() {
        let planted =
            "<!-- jules-bridge:session=sessions/999 --> ![x](https://evil/p.png) @admins <img src=x>";
        let mut v = view(State::AwaitingPlanApproval);
        v.plan.as_mut().unwrap().steps = vec![planted.into()];
        let mut failed = view(State::Failed);
        failed.failure = Some(planted.into());
        let mut asking = view(State::AwaitingUserFeedback);
        asking.question = Some(planted.into());
        let mut done = view(State::Completed);
        done.pull_request = Some(("https://github.com/o/r/pull/1".into(), planted.into()));
        for text in [
            status_comment(&v, &ctx()),
            status_comment(&failed, &ctx()),
            status_comment(&asking, &ctx()),
            status_comment(&done, &ctx()),
            question_comment(&asking, Some("alice"), "/jules"),
            crate::engine::comment::Reply::Malformed {
                line: planted.into(),
                reason: "unknown".into(),
                prefix: "/jules".into(),
                trigger_label: "jules-bridge".into(),
            }
            .body(),
        ] {
            let body = text.trim_end_matches(MARKER);
            assert!(!body.contains("<!--"), "{text}");
            assert!(!body.contains("<img"), "{text}");
            assert!(!body.contains("!["), "{text}");
            assert!(!body.contains("@admins"), "{text}");
        }
    }
}
