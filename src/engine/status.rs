//! A session as people need to see it, computed from the session and its activities.

use crate::jules::{
    Activity, ActivityKind, Artifact, ChangeSet, Originator, Session, SessionOutput, State,
};

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
    /// The work so far, when Jules reported changes (the newest `changeSet`: they are
    /// cumulative). Often the only trace of the work: `outputs` stays empty unless a pull
    /// request was opened.
    pub changes: Option<Changes>,
    pub failure: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PlanView {
    pub id: String,
    pub steps: Vec<String>,
    /// How this plan came to run; `None` while nobody approved it.
    pub approval: Option<Approval>,
}

/// Who let a plan run. The status comment must not imply a person approved what Jules let
/// through on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Approval {
    /// Approved by a person (through the bridge, the web app or the API).
    ByPerson,
    /// Approved by Jules itself: its timer approves a plan left unattended.
    ByJules,
    /// Never approved itself: an earlier plan of the session was, and Jules carries that
    /// approval forward to the plans that follow a message.
    CarriedForward,
}

/// What Jules changed, from its newest `changeSet`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Changes {
    /// Files the patch touches, in patch order (empty when the patch was not sent).
    pub files: Vec<String>,
    pub suggested_commit_message: Option<String>,
}

impl Changes {
    fn from_change_set(change_set: &ChangeSet) -> Changes {
        let patch = change_set.git_patch.as_ref();
        let mut files: Vec<String> = Vec::new();
        for line in patch
            .map(|p| p.unidiff_patch.as_str())
            .unwrap_or("")
            .lines()
        {
            let path = line
                .strip_prefix("diff --git ")
                .and_then(|paths| paths.rsplit_once(" b/").map(|(_, new)| new))
                .or_else(|| line.strip_prefix("+++ b/"));
            if let Some(path) = path.map(str::trim).filter(|p| !p.is_empty()) {
                if !files.iter().any(|known| known == path) {
                    files.push(path.to_owned());
                }
            }
        }
        Changes {
            files,
            suggested_commit_message: patch
                .map(|p| p.suggested_commit_message.trim())
                .filter(|message| !message.is_empty())
                .map(str::to_owned),
        }
    }
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
        // Whether some plan of the session was approved before the current one was made.
        let mut approved_before = false;
        let mut latest_progress = None;
        let mut last_agent_message = None;
        let mut failure = None;
        let mut changes = None;
        for activity in activities {
            for artifact in &activity.artifacts {
                if let Artifact::ChangeSet(change_set) = artifact {
                    changes = Some(Changes::from_change_set(change_set));
                }
            }
            match &activity.kind {
                ActivityKind::PlanGenerated(generated) => {
                    approved_before |= plan.as_ref().is_some_and(|p| p.approval.is_some());
                    plan = Some(PlanView {
                        id: generated.plan.id.clone(),
                        steps: generated
                            .plan
                            .steps
                            .iter()
                            .map(|step| step.title.clone())
                            .collect(),
                        approval: None,
                    });
                }
                ActivityKind::PlanApproved(approved) => {
                    if let Some(plan) = plan.as_mut() {
                        if approved.plan_id.is_empty() || approved.plan_id == plan.id {
                            plan.approval = Some(match activity.originator {
                                Originator::Agent | Originator::System => Approval::ByJules,
                                // A person, or a record that does not say: nobody is
                                // credited with more than the API says.
                                _ => Approval::ByPerson,
                            });
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
        let changes = changes.or_else(|| {
            session.outputs.iter().find_map(|output| match output {
                SessionOutput::ChangeSet(change_set) => Some(Changes::from_change_set(change_set)),
                _ => None,
            })
        });
        // Activities may lag the session's state by a moment; the state decides.
        let state = match &session.state {
            State::Unspecified => State::Queued,
            state => state.clone(),
        };
        // A plan that went past approval without one: Jules carried an earlier one forward.
        if let Some(plan) = plan.as_mut() {
            let past_approval = !matches!(
                state,
                State::Queued | State::Planning | State::AwaitingPlanApproval
            );
            if plan.approval.is_none() && approved_before && past_approval {
                plan.approval = Some(Approval::CarriedForward);
            }
        }
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
            changes,
            state,
            plan,
            latest_progress,
        }
    }

    /// True when some plan of this session was approved: Jules then runs the plans that
    /// follow a message without asking again (approval carries forward).
    pub fn approval_carries_forward(&self) -> bool {
        self.plan
            .as_ref()
            .is_some_and(|plan| plan.approval.is_some())
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
            self.plan.as_ref().filter(|plan| plan.approval.is_none())
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jules::ActivityPage;
    use serde_json::{json, Value};

    /// The official quickstart's activity list: a plan, its approval by the user, progress
    /// with change sets, completion.
    fn official_activities() -> Vec<Value> {
        let page: Value = serde_json::from_str(include_str!(
            "../../tests/fixtures/jules/dg-activities-list-response.json"
        ))
        .unwrap();
        page["activities"].as_array().unwrap().clone()
    }

    fn parse(activities: Vec<Value>) -> Vec<Activity> {
        serde_json::from_value::<ActivityPage>(json!({ "activities": activities }))
            .unwrap()
            .activities
    }

    fn session(state: &str) -> Session {
        serde_json::from_value(json!({"name": "sessions/1", "id": "1", "state": state})).unwrap()
    }

    fn kind(activity: &Value) -> &str {
        [
            "planGenerated",
            "planApproved",
            "progressUpdated",
            "sessionCompleted",
        ]
        .into_iter()
        .find(|key| activity.get(*key).is_some())
        .unwrap_or("other")
    }

    #[test]
    fn a_plan_the_user_approved_is_credited_to_a_person() {
        let view = SessionView::new(&session("IN_PROGRESS"), &parse(official_activities()));
        assert_eq!(view.plan.unwrap().approval, Some(Approval::ByPerson));
    }

    #[test]
    fn a_plan_jules_approved_on_its_timer_is_not_credited_to_anyone_here() {
        let mut activities = official_activities();
        activities[1]["originator"] = json!("system");
        let view = SessionView::new(&session("IN_PROGRESS"), &parse(activities));
        assert_eq!(view.plan.unwrap().approval, Some(Approval::ByJules));
    }

    #[test]
    fn a_revised_plan_after_an_approval_runs_on_the_carried_approval() {
        // Approved plan, then a message, a new plan that runs straight through (live API).
        let mut activities: Vec<Value> = official_activities().into_iter().take(2).collect();
        let mut revised = official_activities()[0].clone();
        revised["planGenerated"]["plan"]["id"] = json!("99aa");
        activities.push(revised);
        let running = SessionView::new(&session("IN_PROGRESS"), &parse(activities.clone()));
        assert_eq!(
            running.plan.as_ref().unwrap().approval,
            Some(Approval::CarriedForward)
        );
        assert!(running.approval_carries_forward());
        // While the revised plan waits, it is pending, not carried.
        let waiting = SessionView::new(&session("AWAITING_PLAN_APPROVAL"), &parse(activities));
        assert_eq!(waiting.pending_plan().unwrap().id, "99aa");
        assert!(!waiting.approval_carries_forward());
    }

    #[test]
    fn the_newest_change_set_says_what_changed() {
        let mut activities = official_activities();
        let last_change = activities
            .iter()
            .rposition(|a| kind(a) == "sessionCompleted")
            .unwrap();
        activities[last_change]["artifacts"][0]["changeSet"]["gitPatch"]["unidiffPatch"] = json!(
            "diff --git a/src/App.js b/src/App.js\n--- a/src/App.js\n+++ b/src/App.js\n@@ -1 +1 @@\n-a\n+b\n\
             diff --git a/src/App.css b/src/App.css\n+++ b/src/App.css\n"
        );
        let view = SessionView::new(&session("COMPLETED"), &parse(activities));
        let changes = view.changes.unwrap();
        assert_eq!(changes.files, ["src/App.js", "src/App.css"]);
        assert_eq!(
            changes
                .suggested_commit_message
                .as_deref()
                .map(|m| m.lines().next().unwrap()),
            Some("feat: Create simple Boba App")
        );
    }

    #[test]
    fn no_change_set_means_no_changes() {
        let activities: Vec<Value> = official_activities()
            .into_iter()
            .filter(|a| a.get("artifacts").is_none())
            .collect();
        let view = SessionView::new(&session("COMPLETED"), &parse(activities));
        assert_eq!(view.changes, None);
    }
}
