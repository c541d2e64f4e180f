//! Finding an issue's session, proving it belongs to this repository, and keeping its one
//! status comment.
//!
//! Where the session of an issue comes from:
//! - server mode: the store's issue -> session mapping (the source of truth); a status
//!   comment with a valid signed marker only when the store has nothing yet (a crash between
//!   posting the status comment and recording the session);
//! - Action mode (stateless): the newest status comment whose last line is a marker signed
//!   for this repository and issue; failing that, a marker the bridge cannot verify (signed
//!   with a rotated key, or by an older version) is adopted only when the session itself
//!   proves it belongs here — its source is this repository and the request tag the bridge
//!   put in its prompt names this issue — and then a freshly signed status comment is posted.
//!
//! Whatever the way, the session is read from Jules and its `sourceContext.source` must be
//! this repository's source before anything is done with it.

use super::{Handler, HandlerError};
use crate::engine::decide::{belongs_to, Found, IssueSession, StatusComment};
use crate::engine::event::RepoName;
use crate::engine::marker::{Marker, MarkerCheck};
use crate::engine::render::{self, StatusContext};
use crate::engine::request_tag;
use crate::engine::status::SessionView;
use crate::github::IssueComment;
use crate::jules::{request_tag_of, Session};

/// How many unverifiable markers (newest first) are checked against Jules at most: each
/// costs one `sessions.get`, and anyone can post one.
const UNVERIFIED_CANDIDATES: usize = 3;

/// The issue thread as one comment listing gives it.
pub(super) struct Thread {
    pub comments: Vec<IssueComment>,
}

impl Thread {
    /// The bridge's own "queued" comment, if any.
    pub fn queued_comment(&self, own_logins: &[String]) -> Option<u64> {
        self.comments
            .iter()
            .rev()
            .filter(|c| {
                own_logins
                    .iter()
                    .any(|own| own.eq_ignore_ascii_case(&c.author.login))
            })
            .find(|c| {
                c.body
                    .trim_end()
                    .ends_with(crate::engine::comment::QUEUED_MARKER)
            })
            .map(|c| c.id)
    }

    fn comment(&self, id: u64) -> Option<StatusComment> {
        self.comments
            .iter()
            .find(|comment| comment.id == id)
            .map(|comment| StatusComment {
                id: comment.id,
                body: comment.body.clone(),
            })
    }
}

/// True when the request tag the bridge put in the session's prompt names issue `issue` of
/// `repo` (tags start with `OWNER/REPO#N:`, or a hash of a long name, see
/// `engine::request_tag`).
fn tagged_for(session: &Session, repo: &RepoName, issue: u64) -> bool {
    let Some(tag) = request_tag_of(&session.prompt) else {
        return false;
    };
    let expected = request_tag::issue_prefix(repo, issue);
    tag.len() > expected.len()
        && tag.is_char_boundary(expected.len())
        && tag[..expected.len()].eq_ignore_ascii_case(&expected)
}

impl Handler<'_> {
    pub(super) async fn thread(&self, repo: &RepoName, issue: u64) -> Result<Thread, HandlerError> {
        Ok(Thread {
            comments: self.github.comments(repo, issue).await?,
        })
    }

    /// The issue's session, with the ownership check done.
    pub(super) async fn find_session(
        &self,
        repo: &RepoName,
        issue: u64,
        thread: &Thread,
    ) -> Result<Found, HandlerError> {
        if let Some(gate) = self.gate {
            if let Some(tracked) = gate.tracked_session(repo, issue).await? {
                let comment = tracked.status_comment_id.and_then(|id| thread.comment(id));
                let plan = comment.as_ref().and_then(|comment| {
                    match self
                        .settings
                        .identity
                        .marker_key
                        .check(&comment.body, repo, issue)
                    {
                        MarkerCheck::Verified(marker) if marker.session == tracked.name => {
                            marker.plan
                        }
                        _ => None,
                    }
                });
                let marker = Marker {
                    session: tracked.name,
                    requester: tracked.requester,
                    plan,
                };
                return self.trusted(repo, marker, comment).await;
            }
        }
        let mut unverified = Vec::new();
        for comment in thread.comments.iter().rev() {
            match self
                .settings
                .identity
                .marker_key
                .check(&comment.body, repo, issue)
            {
                MarkerCheck::Verified(marker) => {
                    let comment = StatusComment {
                        id: comment.id,
                        body: comment.body.clone(),
                    };
                    return self.trusted(repo, marker, Some(comment)).await;
                }
                // Only the stateless Action adopts; the server's store knows its sessions.
                MarkerCheck::Unverified(marker)
                    if self.gate.is_none()
                        && unverified.len() < UNVERIFIED_CANDIDATES
                        && !unverified
                            .iter()
                            .any(|m: &Marker| m.session == marker.session) =>
                {
                    unverified.push(marker);
                }
                _ => {}
            }
        }
        for marker in unverified {
            if let Some(found) = self.adopt(repo, issue, marker).await? {
                return Ok(found);
            }
        }
        Ok(Found::Nothing)
    }

    /// A session named by a trusted pointer: read it and check it is this repository's.
    async fn trusted(
        &self,
        repo: &RepoName,
        marker: Marker,
        comment: Option<StatusComment>,
    ) -> Result<Found, HandlerError> {
        let session = match self.jules.get_session(&marker.session).await {
            Ok(session) => session,
            // Deleted in Jules: the issue has no session any more.
            Err(error) if error.is_not_found() => return Ok(Found::Nothing),
            Err(error) => return Err(error.into()),
        };
        if !belongs_to(&session, repo) {
            let source = session
                .source_context
                .map(|context| context.source)
                .unwrap_or_default();
            tracing::warn!(
                session = %marker.session,
                %source,
                repository = %repo,
                "refused: the issue's session belongs to another source"
            );
            return Ok(Found::Foreign {
                session: marker.session,
                source,
            });
        }
        Ok(Found::Session(Box::new(IssueSession {
            session,
            marker,
            comment,
        })))
    }

    /// A marker the bridge cannot verify: its session is adopted only when it proves it
    /// belongs to this issue; otherwise the marker is ignored (and logged), never refused
    /// loudly, so that nobody can block an issue by posting a fake marker.
    async fn adopt(
        &self,
        repo: &RepoName,
        issue: u64,
        marker: Marker,
    ) -> Result<Option<Found>, HandlerError> {
        let session = match self.jules.get_session(&marker.session).await {
            Ok(session) => session,
            Err(error) if error.is_not_found() => return Ok(None),
            Err(error) => return Err(error.into()),
        };
        if belongs_to(&session, repo) && tagged_for(&session, repo, issue) {
            tracing::info!(session = %marker.session, "adopted a session from a status comment signed with another key; posting a freshly signed status comment");
            let marker = Marker {
                plan: None,
                ..marker
            };
            return Ok(Some(Found::Session(Box::new(IssueSession {
                session,
                marker,
                comment: None,
            }))));
        }
        tracing::warn!(session = %marker.session, repository = %repo, issue, "ignored an unverifiable status marker whose session is not this issue's");
        Ok(None)
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
        let marker = self.settings.identity.marker_key.sign(
            &render::status_marker(view, requester),
            repo,
            issue,
        );
        let body = render::status_comment(
            view,
            &StatusContext {
                requester,
                prefix: &self.settings.command_prefix,
                run_url: self.settings.attempt.run_url.as_deref(),
                notice,
                marker: &marker,
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
    /// Keeps the session's status comment on the pull request Jules opened for it: posted the
    /// first time, edited in place after (only when its text changed). Its signed marker is
    /// what links the pull request's reviews and closing to the session.
    pub async fn link_pull_request(
        &self,
        view: &SessionView,
        report: &super::Report,
        pull: u64,
    ) -> Result<(), HandlerError> {
        let thread = self.thread(&report.repo, pull).await?;
        let existing = thread.comments.iter().rev().find_map(|comment| {
            match self
                .settings
                .identity
                .marker_key
                .check(&comment.body, &report.repo, pull)
            {
                MarkerCheck::Verified(marker) if marker.session == view.name => {
                    Some(StatusComment {
                        id: comment.id,
                        body: comment.body.clone(),
                    })
                }
                _ => None,
            }
        });
        self.publish_view(
            &report.repo,
            pull,
            view,
            report.requester.as_deref(),
            existing.as_ref(),
            Some(&crate::engine::comment::opened_for(
                report.issue,
                &self.settings.command_prefix,
            )),
        )
        .await?;
        Ok(())
    }

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jules::NewSession;

    fn repo(full: &str) -> RepoName {
        let (owner, name) = full.split_once('/').unwrap();
        RepoName {
            owner: owner.into(),
            name: name.into(),
        }
    }

    fn session(source: Option<&str>, tag: Option<&str>) -> Session {
        let mut new = NewSession::new("Fix the parser");
        if let Some(source) = source {
            new = new.with_source(source, Some("main"));
        }
        let prompt = match tag {
            Some(tag) => format!("{}\n\n<!-- jules-bridge-request: {tag} -->", new.prompt),
            None => new.prompt.clone(),
        };
        Session {
            name: "sessions/1".into(),
            prompt,
            source_context: new.source_context.clone(),
            ..Session::default()
        }
    }

    #[test]
    fn a_session_belongs_only_to_its_own_repository() {
        let ours = session(Some("sources/github/octo/app"), None);
        assert!(belongs_to(&ours, &repo("octo/app")));
        assert!(belongs_to(&ours, &repo("Octo/App")));
        assert!(!belongs_to(&ours, &repo("octo/other")));
        assert!(!belongs_to(&ours, &repo("octo/ap")));
        assert!(!belongs_to(&session(None, None), &repo("octo/app")));
    }

    #[test]
    fn the_request_tag_proves_the_issue() {
        let tagged = session(Some("sources/github/octo/app"), Some("octo/app#12:c99"));
        assert!(tagged_for(&tagged, &repo("octo/app"), 12));
        assert!(!tagged_for(&tagged, &repo("octo/app"), 1));
        assert!(!tagged_for(&tagged, &repo("octo/app"), 123));
        assert!(!tagged_for(&tagged, &repo("octo/other"), 12));
        let untagged = session(Some("sources/github/octo/app"), None);
        assert!(!tagged_for(&untagged, &repo("octo/app"), 12));
    }
}
