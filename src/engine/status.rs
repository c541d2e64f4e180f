//! A session as people need to see it, computed from the session and its activities; and the
//! hidden marker that ties a status comment to its session.

use crate::jules::{Activity, ActivityKind, Session, State};

/// What the status comment shows.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionView {
    pub name: String,
    pub id: String,
    pub url: String,
    pub state: State,
    /// The newest plan, and whether it was approved.
    pub plan: Option<PlanView>,
    pub latest_progress: Option<String>,
    /// The agent's last message while the session waits for an answer.
    pub question: Option<String>,
    pub pull_request: Option<(String, String)>,
    pub failure: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PlanView {
    pub id: String,
    pub steps: Vec<String>,
    pub approved: bool,
}

impl PlanView {
    /// The short id people type in `/jules approve ID`.
    pub fn short_id(&self) -> &str {
        self.id.get(..6).unwrap_or(&self.id)
    }
}

impl SessionView {
    pub fn new(session: &Session, activities: &[Activity]) -> SessionView {
        let mut plan: Option<PlanView> = None;
        let mut latest_progress = None;
        let mut last_agent_message = None;
        let mut failure = None;
        for activity in activities {
            match &activity.kind {
                ActivityKind::PlanGenerated(generated) => {
                    plan = Some(PlanView {
                        id: generated.plan.id.clone(),
                        steps: generated
                            .plan
                            .steps
                            .iter()
                            .map(|step| step.title.clone())
                            .collect(),
                        approved: false,
                    });
                }
                ActivityKind::PlanApproved(approved) => {
                    if let Some(plan) = plan.as_mut() {
                        if approved.plan_id.is_empty() || approved.plan_id == plan.id {
                            plan.approved = true;
                        }
                    }
                }
                ActivityKind::ProgressUpdated(progress) => {
                    let text = if progress.title.is_empty() {
                        &progress.description
                    } else {
                        &progress.title
                    };
                    if !text.trim().is_empty() {
                        latest_progress = Some(text.trim().to_owned());
                    }
                }
                ActivityKind::AgentMessaged(message) => {
                    last_agent_message = Some(message.agent_message.trim().to_owned());
                }
                ActivityKind::UserMessaged(_) => last_agent_message = None,
                ActivityKind::SessionFailed(failed) => failure = Some(failed.reason.clone()),
                _ => {}
            }
        }
        // Activities may lag the session's state by a moment; the state decides.
        let state = match (&session.state, &plan) {
            (State::Unspecified, _) => State::Queued,
            (state, _) => state.clone(),
        };
        SessionView {
            name: session.name.clone(),
            id: session.session_id().to_owned(),
            url: if session.url.is_empty() {
                format!("https://jules.google.com/session/{}", session.session_id())
            } else {
                session.url.clone()
            },
            question: (state == State::AwaitingUserFeedback)
                .then_some(last_agent_message)
                .flatten(),
            failure: (state == State::Failed).then_some(failure).flatten(),
            pull_request: session
                .pull_request()
                .map(|pr| (pr.url.clone(), pr.title.clone())),
            state,
            plan,
            latest_progress,
        }
    }

    /// The plan waiting for approval, if the session waits for one.
    pub fn pending_plan(&self) -> Option<&PlanView> {
        if self.state == State::AwaitingPlanApproval {
            self.plan.as_ref().filter(|plan| !plan.approved)
        } else {
            None
        }
    }
}

/// The hidden marker, the last line of every status comment:
/// `<!-- jules-bridge:session=sessions/ID requester=LOGIN -->`. Its shape never changes, so
/// any later run (a stateless Action run, a restarted server) finds the session from GitHub.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Marker {
    pub session: String,
    pub requester: Option<String>,
}

const MARKER_START: &str = "<!-- jules-bridge:session=";

impl Marker {
    pub fn render(&self) -> String {
        match &self.requester {
            Some(requester) => format!("{MARKER_START}{} requester={requester} -->", self.session),
            None => format!("{MARKER_START}{} -->", self.session),
        }
    }

    /// Finds the marker in a comment body.
    pub fn parse(body: &str) -> Option<Marker> {
        let start = body.rfind(MARKER_START)? + MARKER_START.len();
        let rest = &body[start..];
        let inner = &rest[..rest.find("-->")?];
        let mut fields = inner.split_whitespace();
        let session = fields.next()?.to_owned();
        let valid = session
            .strip_prefix("sessions/")
            .is_some_and(|id| !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric()));
        if !valid {
            return None;
        }
        let requester = fields
            .find_map(|field| field.strip_prefix("requester="))
            .map(str::to_owned);
        Some(Marker { session, requester })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_marker_round_trips_and_rejects_junk() {
        let marker = Marker {
            session: "sessions/123".into(),
            requester: Some("alice".into()),
        };
        let body = format!("status\n\n{}", marker.render());
        assert_eq!(Marker::parse(&body), Some(marker));
        assert_eq!(
            Marker::parse("<!-- jules-bridge:session=sessions/9 -->")
                .unwrap()
                .session,
            "sessions/9"
        );
        assert!(Marker::parse("<!-- jules-bridge:session=../x -->").is_none());
        assert!(Marker::parse("no marker").is_none());
    }
}
