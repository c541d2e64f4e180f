//! Finding and keeping the one status comment per session.

use super::{Handler, HandlerError};
use crate::engine::event::RepoName;
use crate::engine::render::{self, StatusContext};
use crate::engine::status::{Marker, SessionView};
use crate::jules::Session;

/// The bridge's status comment on an issue, found through its hidden marker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusComment {
    pub id: u64,
    pub body: String,
    pub marker: Marker,
}

impl Handler<'_> {
    /// The newest status comment the bridge itself posted on this issue. Comments by anyone
    /// else are never trusted, even with a marker: a forged marker must not redirect commands
    /// to another session.
    pub(super) async fn find_status(
        &self,
        repo: &RepoName,
        issue: u64,
    ) -> Result<Option<StatusComment>, HandlerError> {
        let comments = self.github.comments(repo, issue).await?;
        Ok(comments
            .into_iter()
            .rev()
            .filter(|comment| {
                self.settings
                    .own_logins
                    .iter()
                    .any(|own| own.eq_ignore_ascii_case(&comment.author.login))
            })
            .find_map(|comment| {
                Marker::parse(&comment.body).map(|marker| StatusComment {
                    id: comment.id,
                    body: comment.body,
                    marker,
                })
            }))
    }

    /// Reads the session's activities, renders the status comment and posts it (first time)
    /// or edits it in place (only when the text changed).
    pub(super) async fn publish_status(
        &self,
        repo: &RepoName,
        issue: u64,
        session: &Session,
        requester: Option<&str>,
        existing: Option<&StatusComment>,
        notice: Option<&str>,
    ) -> Result<(SessionView, u64), HandlerError> {
        let activities = if session.create_time.is_some() {
            self.jules.all_activities(&session.name, None).await?
        } else {
            // A sparse create answer: the session has no activities yet.
            Vec::new()
        };
        let view = SessionView::new(session, &activities);
        let id = self
            .publish_view(repo, issue, &view, requester, existing, notice)
            .await?;
        Ok((view, id))
    }

    /// Renders `view` and posts or edits the status comment; returns its id.
    pub(super) async fn publish_view(
        &self,
        repo: &RepoName,
        issue: u64,
        view: &SessionView,
        requester: Option<&str>,
        existing: Option<&StatusComment>,
        notice: Option<&str>,
    ) -> Result<u64, HandlerError> {
        let body = render::status_comment(
            view,
            &StatusContext {
                requester,
                prefix: &self.settings.command_prefix,
                run_url: self.settings.run_url.as_deref(),
                notice,
            },
        );
        let id = match existing {
            Some(status) if status.body == body => status.id,
            Some(status) => {
                self.github.update_comment(repo, status.id, &body).await?;
                status.id
            }
            None => self.github.create_comment(repo, issue, &body).await?,
        };
        Ok(id)
    }
}

impl Handler<'_> {
    /// Renders the status comment of `report` from a view the caller already has (the
    /// relay keeps the activities it has seen) and edits it in place, or posts it when
    /// there is none yet; returns the comment id.
    pub async fn show_view(
        &self,
        view: &SessionView,
        report: &super::Report,
        notice: Option<&str>,
    ) -> Result<u64, HandlerError> {
        let existing = report.status_comment_id.map(|id| StatusComment {
            id,
            body: String::new(),
            marker: Marker {
                session: view.name.clone(),
                requester: report.requester.clone(),
            },
        });
        self.publish_view(
            &report.repo,
            report.issue,
            view,
            report.requester.as_deref(),
            existing.as_ref(),
            notice,
        )
        .await
    }
}
