//! A session's state as a GitHub check run named `Jules` on its pull request's head commit,
//! so that branch protection can require it and the state shows where reviewers look.

use super::escape;
use super::render::state_words;
use super::status::SessionView;
use crate::jules::State;

/// The check run's name: what branch protection rules require.
pub const NAME: &str = "Jules";

/// GitHub's check run status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckStatus {
    Queued,
    InProgress,
    Completed,
}

/// GitHub's check run conclusion (only with `Completed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conclusion {
    Success,
    Failure,
    /// Waiting for a person: a plan to approve, a question to answer.
    ActionRequired,
    /// Finished without changes, or paused.
    Neutral,
}

/// What the check run shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckRun {
    pub status: CheckStatus,
    pub conclusion: Option<Conclusion>,
    pub title: String,
    /// Markdown: the plan and the latest progress, the pull request, or the reason.
    pub summary: String,
    /// The session in Jules' web app.
    pub details_url: String,
}

/// The check run mirroring `view`.
pub fn check_run(view: &SessionView, prefix: &str) -> CheckRun {
    use CheckStatus::*;
    let (status, conclusion) = match &view.state {
        State::Queued | State::Unspecified => (Queued, None),
        State::Planning | State::InProgress => (InProgress, None),
        State::AwaitingPlanApproval | State::AwaitingUserFeedback => {
            (Completed, Some(Conclusion::ActionRequired))
        }
        State::Completed if view.pull_request.is_some() || view.changes.is_some() => {
            (Completed, Some(Conclusion::Success))
        }
        State::Failed => (Completed, Some(Conclusion::Failure)),
        State::Completed | State::Paused | State::Unknown(_) => {
            (Completed, Some(Conclusion::Neutral))
        }
    };
    let title = match &view.state {
        State::AwaitingPlanApproval => "Waiting for plan approval".to_owned(),
        State::AwaitingUserFeedback => "Jules has a question".to_owned(),
        State::Completed if view.pull_request.is_some() => "Done: pull request opened".to_owned(),
        State::Completed if view.changes.is_some() => "Done: changes ready".to_owned(),
        State::Completed => "Finished, no changes".to_owned(),
        other => {
            let words = state_words(other);
            let mut chars = words.chars();
            chars
                .next()
                .map(|first| first.to_uppercase().chain(chars).collect())
                .unwrap_or_default()
        }
    };
    let mut summary = Vec::new();
    if let Some(plan) = &view.plan {
        let steps: Vec<String> = plan
            .steps
            .iter()
            .enumerate()
            .map(|(n, step)| format!("{}. {}", n + 1, escape::inline(step)))
            .collect();
        summary.push(format!(
            "**Plan** `{}`\n\n{}",
            plan.short_id(),
            steps.join("\n")
        ));
    }
    match &view.state {
        State::AwaitingPlanApproval => {
            if let Some(plan) = view.pending_plan() {
                summary.push(format!(
                    "Reply `{prefix} approve {}` on the conversation to start.",
                    plan.short_id()
                ));
            }
        }
        State::AwaitingUserFeedback => {
            if let Some(question) = &view.question {
                summary.push(format!(
                    "{}\n\nReply `{prefix} <your answer>` on the conversation.",
                    escape::quoted(question)
                ));
            }
        }
        State::Failed => summary.push(
            view.failure
                .as_deref()
                .map(escape::quoted)
                .unwrap_or_else(|| "Jules reported a failure.".to_owned()),
        ),
        _ => {
            if let Some(progress) = &view.latest_progress {
                summary.push(format!("**Latest:** {}", escape::inline(progress)));
            }
        }
    }
    if let Some((url, title)) = &view.pull_request {
        summary.push(format!("Pull request: [{}]({url})", escape::inline(title)));
    }
    CheckRun {
        status,
        conclusion,
        title,
        summary: summary.join("\n\n"),
        details_url: view.url.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jules::{ActivityPage, Session};
    use serde_json::json;

    fn view(state: &str, activities: usize) -> SessionView {
        let session: Session = serde_json::from_value(json!({
            "name": "sessions/7", "id": "7", "state": state,
            "url": "https://jules.google.com/session/7"
        }))
        .unwrap();
        let page: ActivityPage = serde_json::from_str(include_str!(
            "../../tests/fixtures/jules/dg-activities-list-response.json"
        ))
        .unwrap();
        let activities: Vec<_> = page.activities.into_iter().take(activities).collect();
        SessionView::new(&session, &activities)
    }

    #[test]
    fn the_check_run_mirrors_the_session() {
        let queued = check_run(&view("QUEUED", 0), "/jules");
        assert_eq!(
            (queued.status, queued.conclusion),
            (CheckStatus::Queued, None)
        );

        let waiting = check_run(&view("AWAITING_PLAN_APPROVAL", 1), "/jules");
        assert_eq!(
            (waiting.status, waiting.conclusion),
            (CheckStatus::Completed, Some(Conclusion::ActionRequired))
        );
        assert!(waiting.summary.contains("**Plan**"), "{}", waiting.summary);
        assert!(
            waiting.summary.contains("Reply `/jules approve "),
            "{}",
            waiting.summary
        );

        let working = check_run(&view("IN_PROGRESS", 3), "/jules");
        assert_eq!(
            (working.status, working.conclusion),
            (CheckStatus::InProgress, None)
        );

        let failed = check_run(&view("FAILED", 0), "/jules");
        assert_eq!(failed.conclusion, Some(Conclusion::Failure));

        // The docs' completed session reported changes: success.
        let done = check_run(&view("COMPLETED", 99), "/jules");
        assert_eq!(done.conclusion, Some(Conclusion::Success), "{done:?}");
        assert_eq!(done.details_url, "https://jules.google.com/session/7");
        let nothing = check_run(&view("COMPLETED", 0), "/jules");
        assert_eq!(nothing.conclusion, Some(Conclusion::Neutral));
        assert_eq!(nothing.title, "Finished, no changes");
    }
}
