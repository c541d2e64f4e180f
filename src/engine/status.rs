//! A session as people need to see it, computed from the session and its activities.

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

    /// The plan the status comment shows for approval: the pending one, else the newest.
    pub fn shown_plan(&self) -> Option<&PlanView> {
        if self.state == State::AwaitingPlanApproval {
            self.pending_plan().or(self.plan.as_ref())
        } else {
            None
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
