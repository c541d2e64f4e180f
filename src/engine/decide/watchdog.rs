//! The stall watchdog: a session that went quiet, or a person who has not answered.
//!
//! Pure: the relay gives it the session's state, when its newest activity was written (Jules'
//! `createTime`, so no extra call), the time now and the repository's settings. The relay
//! carries the answer out: the status comment shows [`Nudge::notice`] while it holds, and
//! [`Nudge::reply`] is posted once — recorded in the store under [`Nudge::key`] before it
//! is posted, so never more than one of each per session, across restarts and replicas.

use chrono::{DateTime, TimeDelta, Utc};

use crate::engine::comment::Reply;
use crate::engine::status::SessionView;
use crate::jules::State;

/// Something the watchdog wants people to know about a session.
#[derive(Debug, Clone, PartialEq)]
pub enum Nudge {
    /// `IN_PROGRESS` with no new activity for `minutes` (the setting `stall_minutes`).
    Stalled { since: DateTime<Utc>, minutes: u32 },
    /// A plan to approve or a question to answer, waiting for `hours` (`remind_hours`).
    Unanswered {
        since: DateTime<Utc>,
        hours: u32,
        waiting_for: State,
    },
}

/// What the watchdog looks at; `0` turns either check off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Watch {
    pub stall_minutes: u32,
    pub remind_hours: u32,
}

/// Whether a session in `state` whose newest activity was written at `last_activity` (or,
/// with none yet, when the session was created) deserves a nudge at `now`.
pub fn watchdog(
    state: &State,
    last_activity: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    watch: Watch,
) -> Option<Nudge> {
    let since = last_activity?;
    let quiet = now.signed_duration_since(since);
    match state {
        State::InProgress if watch.stall_minutes > 0 => (quiet
            >= TimeDelta::minutes(i64::from(watch.stall_minutes)))
        .then_some(Nudge::Stalled {
            since,
            minutes: watch.stall_minutes,
        }),
        State::AwaitingPlanApproval | State::AwaitingUserFeedback if watch.remind_hours > 0 => {
            (quiet >= TimeDelta::hours(i64::from(watch.remind_hours))).then(|| Nudge::Unanswered {
                since,
                hours: watch.remind_hours,
                waiting_for: state.clone(),
            })
        }
        _ => None,
    }
}

impl Nudge {
    /// The once-only key of the nudge in the store (`relayed`, per session): one of each
    /// kind per session, whatever happens after. A session that stalls, recovers and stalls
    /// again shows the line on its status comment again (an edit notifies nobody), but its
    /// requester is not mentioned twice.
    pub fn key(&self) -> &'static str {
        match self {
            Nudge::Stalled { .. } => "watchdog:stall",
            Nudge::Unanswered { .. } => "watchdog:remind",
        }
    }

    /// The line the status comment shows while the nudge holds, if any.
    pub fn notice(&self, prefix: &str) -> Option<String> {
        match self {
            Nudge::Stalled { since, minutes } => Some(crate::engine::comment::stall_notice(
                *since, *minutes, prefix,
            )),
            // The status comment already says what the session waits for.
            Nudge::Unanswered { .. } => None,
        }
    }

    /// The comment that mentions the requester (the mention is what notifies).
    pub fn reply(&self, view: &SessionView, requester: Option<&str>, prefix: &str) -> Reply {
        match self {
            Nudge::Stalled { minutes, .. } => Reply::Stalled {
                view: Box::new(view.clone()),
                minutes: *minutes,
                requester: requester.map(str::to_owned),
                prefix: prefix.to_owned(),
            },
            Nudge::Unanswered {
                hours, waiting_for, ..
            } => Reply::Reminder {
                view: Box::new(view.clone()),
                waiting_for: waiting_for.clone(),
                hours: *hours,
                requester: requester.map(str::to_owned),
                prefix: prefix.to_owned(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WATCH: Watch = Watch {
        stall_minutes: 30,
        remind_hours: 24,
    };

    fn at(minutes: i64) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-01-17T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
            + TimeDelta::minutes(minutes)
    }

    #[test]
    fn a_working_session_quiet_for_stall_minutes_is_stalled() {
        assert_eq!(
            watchdog(&State::InProgress, Some(at(0)), at(29), WATCH),
            None
        );
        assert_eq!(
            watchdog(&State::InProgress, Some(at(0)), at(30), WATCH),
            Some(Nudge::Stalled {
                since: at(0),
                minutes: 30
            })
        );
        // Still stalled later: the same key, so still one mention.
        let later = watchdog(&State::InProgress, Some(at(0)), at(600), WATCH).unwrap();
        assert_eq!(later.key(), "watchdog:stall");
        assert!(later.notice("/jules").unwrap().contains("30 minutes"));
    }

    #[test]
    fn a_plan_or_question_unanswered_for_remind_hours_gets_a_reminder() {
        for state in [State::AwaitingPlanApproval, State::AwaitingUserFeedback] {
            assert_eq!(watchdog(&state, Some(at(0)), at(24 * 60 - 1), WATCH), None);
            let nudge = watchdog(&state, Some(at(0)), at(24 * 60), WATCH).unwrap();
            assert_eq!(
                nudge,
                Nudge::Unanswered {
                    since: at(0),
                    hours: 24,
                    waiting_for: state.clone()
                }
            );
            assert_eq!(nudge.key(), "watchdog:remind");
            assert_eq!(nudge.notice("/jules"), None, "the status comment says it");
        }
        // A waiting session is not "stalled" after 30 minutes: a person is the one to act.
        assert_eq!(
            watchdog(&State::AwaitingPlanApproval, Some(at(0)), at(60), WATCH),
            None
        );
    }

    #[test]
    fn zero_turns_each_check_off() {
        let off = Watch {
            stall_minutes: 0,
            remind_hours: 0,
        };
        assert_eq!(
            watchdog(&State::InProgress, Some(at(0)), at(9999), off),
            None
        );
        assert_eq!(
            watchdog(&State::AwaitingUserFeedback, Some(at(0)), at(99999), off),
            None
        );
        // Each on its own.
        let stall_only = Watch {
            stall_minutes: 30,
            remind_hours: 0,
        };
        assert!(watchdog(&State::InProgress, Some(at(0)), at(31), stall_only).is_some());
        assert_eq!(
            watchdog(
                &State::AwaitingUserFeedback,
                Some(at(0)),
                at(99999),
                stall_only
            ),
            None
        );
    }

    #[test]
    fn other_states_and_unknown_times_get_nothing() {
        for state in [
            State::Queued,
            State::Planning,
            State::Paused,
            State::Completed,
            State::Failed,
        ] {
            assert_eq!(
                watchdog(&state, Some(at(0)), at(99999), WATCH),
                None,
                "{state:?}"
            );
        }
        assert_eq!(watchdog(&State::InProgress, None, at(99999), WATCH), None);
        // A clock behind Jules' timestamps is not a stall.
        assert_eq!(
            watchdog(&State::InProgress, Some(at(60)), at(0), WATCH),
            None
        );
    }

    #[test]
    fn the_replies_mention_the_requester() {
        let view = SessionView {
            name: "sessions/1234567890".into(),
            id: "1234567890".into(),
            url: "https://jules.google.com/session/1234567890".into(),
            state: State::InProgress,
            plan: None,
            latest_progress: None,
            question: None,
            pull_request: None,
            changes: None,
            failure: None,
        };
        let stalled = Nudge::Stalled {
            since: at(0),
            minutes: 30,
        }
        .reply(&view, Some("alice"), "/jules");
        assert_eq!(stalled.kind(), "stalled");
        let body = stalled.body();
        assert!(body.starts_with("@alice "), "{body}");
        assert!(body.contains("30 minutes"), "{body}");
        assert!(body.contains("`/jules stop`"), "{body}");

        let plan = Nudge::Unanswered {
            since: at(0),
            hours: 24,
            waiting_for: State::AwaitingPlanApproval,
        }
        .reply(&view, Some("alice"), "/jules");
        assert_eq!(plan.kind(), "reminder");
        let body = plan.body();
        assert!(body.starts_with("@alice "), "{body}");
        assert!(body.contains("24 hours for approval"), "{body}");
        assert!(body.contains("`/jules approve`"), "{body}");

        let question = Nudge::Unanswered {
            since: at(0),
            hours: 1,
            waiting_for: State::AwaitingUserFeedback,
        }
        .reply(&view, None, "/jules");
        let body = question.body();
        assert!(body.starts_with("Reminder:"), "nobody to mention: {body}");
        assert!(body.contains("1 hour for an answer"), "{body}");
    }
}
