//! The session's `Jules` check run on its pull request (`engine::checks` decides what it
//! shows).

use super::Handler;
use crate::engine::checks::{self, CheckStatus, Conclusion};
use crate::engine::event::RepoName;
use crate::engine::status::SessionView;
use crate::github::CheckRunState;

impl Handler<'_> {
    /// Creates or updates the session's check run on the pull request's head commit. A
    /// courtesy, like 👀: without the `checks: write` permission (an App installed before it
    /// asked for it, a workflow that did not grant it) it is logged and skipped.
    pub async fn publish_check(&self, repo: &RepoName, pull: u64, view: &SessionView) {
        let check = checks::check_run(view, &self.settings.command_prefix);
        let state = CheckRunState {
            status: match check.status {
                CheckStatus::Queued => "queued",
                CheckStatus::InProgress => "in_progress",
                CheckStatus::Completed => "completed",
            },
            conclusion: check.conclusion.map(|conclusion| match conclusion {
                Conclusion::Success => "success",
                Conclusion::Failure => "failure",
                Conclusion::ActionRequired => "action_required",
                Conclusion::Neutral => "neutral",
            }),
            title: check.title,
            summary: check.summary,
            details_url: (!check.details_url.is_empty()).then_some(check.details_url),
        };
        let result = async {
            let head = self.github.pull_head_sha(repo, pull).await?;
            self.github
                .upsert_check_run(repo, &head, checks::NAME, &view.name, &state)
                .await
        }
        .await;
        if let Err(error) = result {
            tracing::warn!(%error, pull, "could not update the Jules check run");
        }
    }
}
