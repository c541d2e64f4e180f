//! The live shell's reads: each answers one of the core's questions.

use super::{Handler, HandlerError};
use crate::engine::decide::{self, Admission, Facts, IssueFacts, Mode, Query, Request};
use crate::engine::event::RepoName;
use crate::github::GitHubClient;
use crate::jules::RequestTag;

impl Handler<'_> {
    pub(super) fn live_mode(&self) -> Mode {
        match self.gate {
            Some(_) => Mode::Server,
            None => Mode::Action,
        }
    }

    /// Learns what `query` asks into `facts`.
    pub(crate) async fn gather(
        &self,
        request: &Request<'_>,
        query: &Query,
        facts: &mut Facts,
    ) -> Result<(), HandlerError> {
        let repo = &request.repo.name;
        match query {
            Query::IssueSession { issue } => {
                let thread = self.thread(repo, *issue).await?;
                let found = self.find_session(repo, *issue, &thread).await?;
                let queued_comment = match self.gate {
                    Some(_) => thread.queued_comment(&self.settings.identity.own_logins),
                    None => None,
                };
                facts.issue = Some(IssueFacts {
                    found,
                    queued_comment,
                });
            }
            Query::Activities { session } => {
                let activities = self.jules.all_activities(session, None).await?;
                facts.activities.insert(session.clone(), activities);
            }
            Query::Reread { session } => {
                let read = self.jules.get_session(session).await?;
                let activities = self.jules.all_activities(session, None).await?;
                facts.reread.insert(session.clone(), (read, activities));
            }
            Query::EarlierAttempt { tag } => {
                let since = self
                    .settings
                    .attempt
                    .recheck_before_create
                    .unwrap_or_else(chrono::Utc::now);
                let earlier = match RequestTag::new(tag.clone()) {
                    Ok(tag) => self.jules.find_session_by_tag(&tag, since).await?,
                    Err(_) => None,
                };
                facts.earlier_attempt = Some(earlier);
            }
            Query::Admission { issue } => {
                let admission = match self.gate {
                    Some(gate) => gate.admit(repo, *issue, self.settings).await?,
                    None => Admission::Go,
                };
                facts.admission = Some(admission);
            }
            Query::SessionOfPull { pull } => {
                let since = chrono::Utc::now() - chrono::Duration::days(30);
                let opened = self
                    .jules
                    .sessions_since(since)
                    .await?
                    .into_iter()
                    .find(|session| {
                        decide::belongs_to(session, repo)
                            && session
                                .pull_request()
                                .and_then(|pr| decide::pull_number_in(repo, &pr.url))
                                == Some(*pull)
                    });
                facts.pull_session = Some(opened);
            }
            Query::FixerSessions => {
                let since = chrono::Utc::now() - chrono::Duration::hours(24);
                facts.fixer_sessions = Some(self.jules.sessions_since(since).await?);
            }
            github_query => learn_from_github(self.github, request, github_query, facts).await?,
        }
        Ok(())
    }
}

/// The facts GitHub alone answers (`simulate` can learn these with only a GitHub token).
pub(crate) async fn learn_from_github(
    github: &GitHubClient,
    request: &Request<'_>,
    query: &Query,
    facts: &mut Facts,
) -> Result<(), HandlerError> {
    let repo: &RepoName = &request.repo.name;
    match query {
        Query::Permission { login } => {
            facts.permission = Some(github.permission(repo, login).await?);
        }
        Query::PullBranches => {
            let number = request.issue.map_or(0, |issue| issue.number);
            facts.branches = Some(github.pull_branches(repo, number).await?);
        }
        Query::StaleBase { base, head } => {
            let behind = match github.behind_by(repo, base, head).await {
                Ok(commits) => commits,
                Err(error) => {
                    // A failed check must not block people: the message is sent.
                    tracing::warn!(%error, "could not compare the pull request with its base; sending anyway");
                    0
                }
            };
            facts.stale_base = Some(decide::stale_base_fact(base, head, behind));
        }
        Query::FixerIssue => facts.fixer_issue = Some(github.ci_fixer_issue(repo).await?),
        Query::ReviewComments { review } => {
            let pull = request.issue.map_or(0, |issue| issue.number);
            facts.review_comments = Some(github.review_comments(repo, pull, *review).await?);
        }
        Query::FailedJobs { run } => {
            let jobs = github
                .failed_jobs(repo, *run)
                .await
                .unwrap_or_else(|error| {
                    tracing::warn!(%error, "could not list the failed jobs");
                    Vec::new()
                });
            facts.failed_jobs = Some(jobs);
        }
        other => {
            return Err(HandlerError::Event(format!(
                "GitHub cannot answer {other:?}"
            )))
        }
    }
    Ok(())
}
