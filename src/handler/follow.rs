//! Following a session after acting on it (the Action's `wait` input): the status comment is
//! kept current, and a question from Jules gets its own comment so the requester is notified.

use std::time::Duration;

use futures::StreamExt;

use super::{Handler, HandlerError, Report};
use crate::engine::decide::progress;
use crate::engine::status::SessionView;
use crate::jules::{Session, State, WatchEvent, WatchOptions};

/// When following stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Until {
    /// The plan exists (the session waits for approval, or went past it).
    Plan,
    /// The session completed or failed.
    Done,
}

/// How following ended.
#[derive(Debug, Clone)]
pub enum Followed {
    Reached(Box<(Session, SessionView)>),
    /// The time ran out first; the last state seen.
    TimedOut(Option<Box<Session>>),
}

impl Handler<'_> {
    /// Follows `session` until `until` or `timeout`, editing the status comment of `report`
    /// whenever the session moves.
    pub async fn follow(
        &self,
        session: &str,
        report: Option<&Report>,
        until: Until,
        timeout: Duration,
        poll: Duration,
    ) -> Result<Followed, HandlerError> {
        let mut last: Option<Box<Session>> = None;
        // The questions already posted during this run, by activity.
        let mut asked = std::collections::HashSet::new();
        // The pull requests this run linked to the session.
        let mut linked = std::collections::HashSet::new();
        let mut plan_seen = false;
        let watching = async {
            let events = self
                .jules
                .watch(session, WatchOptions::with_fast_interval(poll));
            futures::pin_mut!(events);
            while let Some(event) = events.next().await {
                match event? {
                    WatchEvent::Activity(activity) => {
                        plan_seen |= activity.kind.name() == "planGenerated";
                    }
                    WatchEvent::State(current) => {
                        let view = self
                            .report_progress(&current, report, &mut asked, &mut linked)
                            .await?;
                        let reached = match until {
                            Until::Done => current.state.is_finished(),
                            Until::Plan => {
                                current.state.is_finished()
                                    || current.state.awaits_human()
                                    || (plan_seen && current.state == State::InProgress)
                            }
                        };
                        last = Some(current.clone());
                        if reached {
                            return Ok::<_, HandlerError>(Some((current, view)));
                        }
                    }
                }
            }
            Ok(None)
        };
        match tokio::time::timeout(timeout, watching).await {
            Ok(Ok(Some((session, view)))) => Ok(Followed::Reached(Box::new((*session, view)))),
            Ok(Ok(None)) => Ok(Followed::TimedOut(last)),
            Ok(Err(error)) => Err(error),
            Err(_elapsed) => Ok(Followed::TimedOut(last)),
        }
    }

    /// Shows the session's progress on the status comment of `report`, and Jules'
    /// question (once per question) as its own comment: the same step the server's relay
    /// takes (`engine::decide::progress`).
    async fn report_progress(
        &self,
        session: &Session,
        report: Option<&Report>,
        asked: &mut std::collections::HashSet<String>,
        linked: &mut std::collections::HashSet<u64>,
    ) -> Result<SessionView, HandlerError> {
        let activities = self.jules.all_activities(&session.name, None).await?;
        let requester = report.and_then(|report| report.requester.as_deref());
        let progress = progress(
            session,
            &activities,
            requester,
            &self.settings.command_prefix,
            report.map(|report| (&report.repo, report.issue, report.on_pull)),
        );
        let Some(report) = report else {
            return Ok(progress.view);
        };
        self.show_view(&progress.view, report, None).await?;
        if let Some(pull) = progress.check_on.filter(|_| self.settings.check_runs) {
            self.publish_check(&report.repo, pull, &progress.view).await;
        }
        if let Some(pull) = progress.pull {
            if linked.insert(pull) {
                self.link_pull_request(&progress.view, report, pull).await?;
            }
        }
        if let Some(question) = progress.question {
            if asked.insert(question.activity) {
                self.github
                    .create_comment(&report.repo, report.issue, &question.reply.body())
                    .await?;
            }
        }
        Ok(progress.view)
    }
}
