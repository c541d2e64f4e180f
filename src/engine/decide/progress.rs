//! A session's progress as people should see it, for both relays: the server's (which polls
//! every tracked session) and the Action's `wait` (which follows the one it started).

use crate::engine::comment::Reply;
use crate::engine::event::RepoName;
use crate::engine::status::SessionView;
use crate::jules::{Activity, ActivityKind, Session, State};

/// What to show for a session's progress.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    /// The status comment shows this (edited in place: an edit notifies nobody).
    pub view: SessionView,
    /// Jules asks something: a new comment that mentions the requester, once per question.
    pub question: Option<Question>,
    /// The pull request Jules opened in this repository for a session of another issue (or
    /// none): it gets its own status comment once, whose signed marker links it to the
    /// session, so its reviews and its closing reach the session.
    pub pull: Option<u64>,
    /// The pull request whose `Jules` check run mirrors the session: the one it was started
    /// on, else the one it opened.
    pub check_on: Option<u64>,
    /// Whether the session still needs following. A finished one needs none until a message
    /// wakes it (`COMPLETED` is not final in Jules).
    pub keep_following: bool,
}

/// A question of Jules' to post as its own comment.
#[derive(Debug, Clone, PartialEq)]
pub struct Question {
    /// The activity that asked: the shell posts the question only if it has not posted this
    /// one before (the server records it in the store, so a restart does not repeat it).
    pub activity: String,
    pub reply: Reply,
}

/// The progress of `session`, given all its activities so far.
pub fn progress(
    session: &Session,
    activities: &[Activity],
    requester: Option<&str>,
    prefix: &str,
    reported_on: Option<(&RepoName, u64, bool)>,
) -> Progress {
    let view = SessionView::new(session, activities);
    let question = (view.state == State::AwaitingUserFeedback)
        .then(|| {
            activities
                .iter()
                .rev()
                .find(|activity| matches!(activity.kind, ActivityKind::AgentMessaged(_)))
        })
        .flatten()
        .map(|asked| Question {
            activity: asked.id.clone(),
            reply: Reply::Question {
                view: Box::new(view.clone()),
                requester: requester.map(str::to_owned),
                prefix: prefix.to_owned(),
            },
        });
    let own_pull = reported_on.and_then(|(repo, _, _)| {
        session
            .pull_request()
            .and_then(|pr| super::pull_number_in(repo, &pr.url))
    });
    let pull = own_pull.filter(|&number| Some(number) != reported_on.map(|(_, issue, _)| issue));
    // The check run is on the pull request the session was started on, else on its own.
    let check_on = reported_on
        .filter(|&(_, _, on_pull)| on_pull)
        .map(|(_, issue, _)| issue)
        .or(own_pull);
    Progress {
        pull,
        check_on,
        keep_following: !view.state.is_finished(),
        question,
        view,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn session(state: &str) -> Session {
        serde_json::from_value(json!({"name": "sessions/7", "id": "7", "state": state})).unwrap()
    }

    fn asked(id: &str, text: &str) -> Activity {
        serde_json::from_value(json!({
            "name": format!("sessions/7/activities/{id}"), "id": id,
            "originator": "agent", "agentMessaged": {"agentMessage": text}
        }))
        .unwrap()
    }

    #[test]
    fn a_question_is_asked_once_per_activity_and_mentions_the_requester() {
        let activities = [
            asked("a1", "Which database?"),
            asked("a2", "Postgres or SQLite?"),
        ];
        let waiting = progress(
            &session("AWAITING_USER_FEEDBACK"),
            &activities,
            Some("alice"),
            "/jules",
            Some((&repo(), 1, false)),
        );
        let question = waiting.question.unwrap();
        assert_eq!(question.activity, "a2", "the newest question");
        let body = question.reply.body();
        assert!(body.starts_with("@alice "), "{body}");
        assert!(body.contains("Postgres or SQLite?"), "{body}");
        assert!(waiting.keep_following);
        // Working again: nothing to ask; finished: nothing more to follow.
        let here = Some((&repo(), 1, false));
        assert!(
            progress(&session("IN_PROGRESS"), &activities, None, "/jules", here)
                .question
                .is_none()
        );
        assert!(!progress(&session("COMPLETED"), &activities, None, "/jules", here).keep_following);
    }

    fn repo() -> RepoName {
        RepoName::parse("octo/app").unwrap()
    }

    #[test]
    fn a_pull_request_jules_opened_here_for_another_issue_is_linked() {
        let with_pr = |url: &str| -> Session {
            serde_json::from_value(json!({
                "name": "sessions/7", "id": "7", "state": "COMPLETED",
                "outputs": [{"pullRequest": {"url": url, "title": "Fix"}}]
            }))
            .unwrap()
        };
        let repo = repo();
        let here = with_pr("https://github.com/octo/app/pull/12");
        assert_eq!(
            progress(&here, &[], None, "/jules", Some((&repo, 3, false))).pull,
            Some(12)
        );
        // The session's own pull request, or one in another repository: nothing to link.
        assert_eq!(
            progress(&here, &[], None, "/jules", Some((&repo, 12, false))).pull,
            None
        );
        let elsewhere = with_pr("https://github.com/octo/other/pull/12");
        assert_eq!(
            progress(&elsewhere, &[], None, "/jules", Some((&repo, 3, false))).pull,
            None
        );
        assert_eq!(progress(&here, &[], None, "/jules", None).pull, None);
    }
}
