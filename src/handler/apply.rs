//! The live shell's effects: each carries out one of the core's decisions.

use super::{Handler, HandlerError, Record, Report};
use crate::engine::decide::{Attempt, CreateFailure, Effect, Facts, Request};
use crate::engine::event::RepoName;
use crate::engine::status::SessionView;

impl Handler<'_> {
    /// Posts a reply (not the status comment) at most once per request: in server mode the
    /// store records it before it is posted, and a retried delivery skips it.
    async fn reply(
        &self,
        repo: &RepoName,
        issue: u64,
        kind: &'static str,
        text: &str,
    ) -> Result<(), HandlerError> {
        let key = self.replies.next_key(kind);
        if let Some(gate) = self.gate {
            if !gate.first_reply(&key).await? {
                tracing::debug!(%key, "reply already posted by an earlier attempt");
                return Ok(());
            }
            if let Err(error) = self.github.create_comment(repo, issue, text).await {
                gate.forget_reply(&key).await?;
                return Err(error.into());
            }
            return Ok(());
        }
        self.github.create_comment(repo, issue, text).await?;
        Ok(())
    }

    /// Replies in a review thread, at most once per request (as [`Self::reply`]).
    async fn reply_in_thread(
        &self,
        request: &Request<'_>,
        comment: u64,
        reply: &crate::engine::comment::Reply,
    ) -> Result<(), HandlerError> {
        let repo = &request.repo.name;
        let pull = request.issue.map_or(0, |issue| issue.number);
        let key = self.replies.next_key(reply.kind());
        if let Some(gate) = self.gate {
            if !gate.first_reply(&key).await? {
                return Ok(());
            }
        }
        if let Err(error) = self
            .github
            .reply_to_review_comment(repo, pull, comment, &reply.body())
            .await
        {
            if let Some(gate) = self.gate {
                gate.forget_reply(&key).await?;
            }
            return Err(error.into());
        }
        Ok(())
    }

    /// Carries out an attempt and learns its result.
    pub(super) async fn carry_out(
        &self,
        request: &Request<'_>,
        attempt: &Attempt,
        facts: &mut Facts,
        record: &mut Record,
    ) -> Result<(), HandlerError> {
        let repo = &request.repo.name;
        match attempt {
            Attempt::CreateSession(plan) => {
                record.prompt = Some(plan.prompt.clone());
                match self.jules.create_session(&plan.new).await {
                    Ok(session) => {
                        record.view = Some(SessionView::new(&session, &[]));
                        record.session = Some(session.clone());
                        facts.created = Some(Ok(session));
                    }
                    Err(error) => {
                        // The people on the issue get plain words; Jules' own text goes to
                        // the log.
                        tracing::warn!(%error, "Jules could not start the session");
                        let error = HandlerError::from(error);
                        facts.created = Some(Err(create_failure(&error)));
                        record.last_error = Some(error);
                    }
                }
            }
            Attempt::SendMessage { session, text } => {
                self.jules.send_message(session, text).await?;
                facts.sent = true;
            }
            Attempt::ApprovePlan { session } => {
                self.jules.approve_plan(session).await?;
                facts.approved = true;
            }
            Attempt::Archive { session } => {
                self.jules.archive_session(session).await?;
                facts.archived = true;
                record.archived = Some(session.clone());
            }
            Attempt::Enqueue { issue } => {
                let gate = self.gate.ok_or_else(|| {
                    HandlerError::Event("no queue to wait in outside the server".into())
                })?;
                facts.enqueued = Some(gate.queue(repo, *issue).await?);
            }
            Attempt::OpenFixerIssue => {
                facts.fixer_issue = Some(Some(self.github.open_ci_fixer_issue(repo).await?));
            }
        }
        Ok(())
    }

    /// Carries out an effect of the final plan.
    pub(super) async fn apply_effect(
        &self,
        request: &Request<'_>,
        effect: &Effect,
        record: &mut Record,
    ) -> Result<(), HandlerError> {
        let repo = &request.repo.name;
        match effect {
            Effect::React { comment } => {
                let reacted = match (comment, request.issue) {
                    (Some(comment), _) => self.github.react_to_comment(repo, *comment).await,
                    (None, Some(issue)) => self.github.react_to_issue(repo, issue.number).await,
                    (None, None) => Ok(()),
                };
                if let Err(error) = reacted {
                    // 👀 is a courtesy: its failure must not stop the work, unless it is a
                    // 403 that is no rate limit: the token may not write here, and no session
                    // may start that could never be reported.
                    if error.status() == Some(403) && !error.is_transient() {
                        return Err(error.into());
                    }
                    tracing::warn!(%error, "could not add the reaction");
                }
            }
            Effect::Reply { issue, reply } => {
                self.reply(repo, *issue, reply.kind(), &reply.body())
                    .await?
            }
            Effect::PublishCheck { pull, view } => self.publish_check(repo, *pull, view).await,
            Effect::ReactToReviewComment { comment } => {
                if let Err(error) = self.github.react_to_review_comment(repo, *comment).await {
                    tracing::warn!(%error, "could not add the reaction");
                }
            }
            Effect::ReplyInThread { comment, reply } => {
                self.reply_in_thread(request, *comment, reply).await?
            }
            Effect::PublishStatus(update) => {
                let id = self
                    .publish_view(
                        repo,
                        update.issue,
                        &update.view,
                        update.requester.as_deref(),
                        update.existing.as_ref(),
                        update.notice.as_deref(),
                    )
                    .await?;
                record.session = Some(update.session.clone());
                record.view = Some(update.view.clone());
                record.report = Some(Report {
                    repo: repo.clone(),
                    issue: update.issue,
                    on_pull: request
                        .issue
                        .is_some_and(|issue| issue.is_pull_request && issue.number == update.issue),
                    status_comment_id: Some(id),
                    requester: update.requester.clone(),
                });
            }
            Effect::PublishQueued {
                issue,
                existing,
                text,
            } => match existing {
                Some(id) => self.github.update_comment(repo, *id, text).await?,
                None => self.reply(repo, *issue, "queued", text).await?,
            },
            Effect::Archive { session } => {
                // The new session exists either way, so a failure here is logged, not
                // retried (a retry would only find the new one).
                if let Err(error) = self.jules.archive_session(session).await {
                    tracing::warn!(%error, %session, "could not archive the replaced session");
                }
                record.archived = Some(session.clone());
            }
        }
        Ok(())
    }
}

/// What a failed create means for the people on the issue.
pub(crate) fn create_failure(error: &HandlerError) -> CreateFailure {
    let HandlerError::Jules(jules) = error else {
        return CreateFailure::Other {
            transient: error.worth_another_attempt(),
        };
    };
    if jules.is_at_limit() {
        return CreateFailure::AtLimit;
    }
    match jules.api() {
        Some(api) if api.is_unauthenticated() => CreateFailure::Unauthenticated,
        Some(api) if api.is_not_found() => CreateFailure::SourceNotFound,
        _ => CreateFailure::Other {
            transient: error.worth_another_attempt(),
        },
    }
}
