//! Starting, messaging, approving and refreshing sessions.

use super::status::{Found, IssueSession, StatusComment, Thread};
use super::{
    belongs_to, ActionTaken, Admission, Handler, HandlerError, Outcome, Report, Request, Trigger,
};
use crate::engine::ci_fixer;
use crate::engine::escape;
use crate::engine::event::{Actor, RepoName, Repository, WorkflowRun};
use crate::engine::prompt::{build_prompt, short_title, PromptParts};
use crate::engine::render::{self, StaleBase};
use crate::engine::request_tag;
use crate::engine::status::SessionView;
use crate::jules::{request_tag_of, JulesError, NewSession, RequestTag, Session};

impl Handler<'_> {
    /// Starts a session for the issue, or continues the one it has: a label never starts a
    /// second session while one is active; `/jules <text>` goes to the existing session;
    /// `/jules new <text>` archives it and starts another.
    pub(super) async fn start_or_continue(
        &self,
        request: &Request<'_>,
        instruction: Option<&str>,
        branch: &str,
        trigger: Trigger,
    ) -> Result<Outcome, HandlerError> {
        let repo = request.repo;
        let number = request.issue.number;
        let thread = self.thread(repo, number).await?;
        let mut replaced = None;
        match self.find_session(repo, number, &thread).await? {
            Found::Foreign { session, .. } => {
                return self.refuse_foreign(repo, number, &session).await;
            }
            Found::Session(found)
                if trigger == Trigger::Label && !found.session.state.is_finished() =>
            {
                let reason = format!(
                    "session {} is already {} for this issue",
                    found.session.name,
                    render::state_words(&found.session.state)
                );
                let session = found.session.clone();
                return self
                    .reported(ActionTaken::Status, reason, &found, session, repo, number)
                    .await;
            }
            Found::Session(found) if matches!(trigger, Trigger::Message { .. }) => {
                let anyway = trigger == Trigger::Message { anyway: true };
                if !anyway {
                    if let Some(behind) = self.stale_base(repo, &found.session).await {
                        let text = render::stale_base(&behind, &self.settings.command_prefix);
                        self.reply(repo, number, "stale-base", &text).await?;
                        return Ok(Outcome::new(
                            ActionTaken::Refused,
                            format!(
                                "not sent: the pull request is {} commits behind `{}`",
                                behind.commits, behind.base
                            ),
                        ));
                    }
                }
                let text = instruction.unwrap_or_default();
                self.jules.send_message(&found.session.name, text).await?;
                let session = self.jules.get_session(&found.session.name).await?;
                let activities = self.jules.all_activities(&session.name, None).await?;
                let view = SessionView::new(&session, &activities);
                // Jules will not stop for a revised plan once one was approved: say so now,
                // before it runs.
                let notice = view
                    .approval_carries_forward()
                    .then(|| render::message_after_approval(&self.settings.command_prefix));
                let requester = found.marker.requester.as_deref();
                let comment_id = self
                    .publish_view(
                        repo,
                        number,
                        &view,
                        requester,
                        found.comment.as_ref(),
                        notice.as_deref(),
                    )
                    .await?;
                let mut outcome = Outcome::new(
                    ActionTaken::Messaged,
                    format!("sent the message to {}", session.name),
                );
                outcome.fill(&found, comment_id, session, view, repo, number);
                return Ok(outcome);
            }
            // Replaced once the new one exists: a request that has to wait for a slot (or
            // fails) leaves the running session alone.
            Found::Session(found) if trigger == Trigger::Fresh => replaced = Some(found.session),
            // A finished session and a new label, or no session: start a new one.
            Found::Session(_) | Found::Nothing => {}
        }

        let prompt = build_prompt(&PromptParts {
            repo: Some(repo),
            issue: Some(request.issue),
            instruction,
            requester: Some(&request.sender.login),
            template: self.settings.prompt_template.as_deref(),
            ..PromptParts::default()
        });
        let title = self
            .settings
            .title
            .clone()
            .unwrap_or_else(|| short_title(&format!("#{number} {}", request.issue.title)));
        let trigger = request
            .comment
            .map(|comment| format!("c{}", comment.id))
            .unwrap_or_else(|| format!("label-{}", self.settings.trigger_id));
        let tag = RequestTag::new(request_tag::for_issue(repo, number, &trigger)).ok();
        let branch = self.settings.starting_branch.as_deref().unwrap_or(branch);
        let earlier = match (&tag, self.settings.recheck_before_create) {
            (Some(tag), Some(since)) => self.jules.find_session_by_tag(tag, since).await?,
            _ => None,
        };
        let requester = Some(request.sender.login.as_str());
        // A request queued earlier has a "queued" comment: it becomes the status comment.
        let queued_comment = match self.gate {
            Some(_) => self.find_queued(&thread),
            None => None,
        };
        if let (Some(gate), None) = (self.gate, &earlier) {
            if let Admission::Queued { position, reason } =
                gate.admit(repo, number, self.settings).await?
            {
                return self
                    .report_queued(repo, number, requester, queued_comment, position, &reason)
                    .await;
            }
        }
        let new = self.new_session(&prompt, repo, branch, title, tag);
        let session = match earlier {
            Some(session) => session,
            None => match self.jules.create_session(&new).await {
                Ok(session) => session,
                Err(error) if error.is_at_limit() && self.gate.is_some() => {
                    let Some(gate) = self.gate else {
                        return Err(error.into());
                    };
                    let position = gate.queue(repo, number).await?;
                    let reason = "Jules is at its plan limit (concurrent or daily sessions)";
                    return self
                        .report_queued(repo, number, requester, queued_comment, position, reason)
                        .await;
                }
                Err(error) => {
                    self.report_create_failure(repo, number, &error).await;
                    return Err(error.into());
                }
            },
        };
        // Archived, not deleted: its history stays in Jules, and Jules pauses a running
        // session it archives rather than ending it. The new session exists either way, so a
        // failure here is logged, not retried (a retry would only find the new one).
        let archived = replaced.map(|old| old.name);
        if let Some(old) = archived.as_deref() {
            if let Err(error) = self.jules.archive_session(old).await {
                tracing::warn!(%error, session = old, "could not archive the replaced session");
            }
        }
        let existing = queued_comment.map(|id| StatusComment {
            id,
            body: String::new(),
        });
        let (view, comment_id) = self
            .publish_status(repo, number, &session, requester, existing.as_ref(), None)
            .await?;
        let mut outcome = Outcome::new(ActionTaken::Created, format!("created {}", session.name));
        outcome.session = Some(session);
        outcome.view = Some(view);
        outcome.prompt = Some(prompt);
        outcome.archived = archived;
        outcome.report = Some(Report {
            repo: repo.clone(),
            issue: number,
            status_comment_id: Some(comment_id),
            requester: requester.map(str::to_owned),
        });
        Ok(outcome)
    }

    /// How far the session's pull request is behind its base branch, when it is: Jules never
    /// rebases a session, so work merged since would be reverted the next time it writes.
    /// `None` when there is no pull request of this repository, it is up to date, or GitHub
    /// could not tell (the message is then sent: a failed check must not block people).
    async fn stale_base(&self, repo: &RepoName, session: &Session) -> Option<StaleBase> {
        let pr = session.pull_request()?;
        if pr.base_ref.is_empty() || pr.head_ref.is_empty() || !pull_request_of(repo, &pr.url) {
            return None;
        }
        match self
            .github
            .behind_by(repo, &pr.base_ref, &pr.head_ref)
            .await
        {
            Ok(0) => None,
            Ok(commits) => Some(StaleBase {
                base: pr.base_ref.clone(),
                head: pr.head_ref.clone(),
                commits,
            }),
            Err(error) => {
                tracing::warn!(%error, "could not compare the pull request with its base; sending anyway");
                None
            }
        }
    }

    /// The issue's trusted pointer names another repository's session: one reply, nothing
    /// done with the session (the warning with the details is logged where it was found).
    async fn refuse_foreign(
        &self,
        repo: &RepoName,
        number: u64,
        session: &str,
    ) -> Result<Outcome, HandlerError> {
        let text = render::foreign_session();
        self.reply(repo, number, "foreign", &text).await?;
        Ok(Outcome::new(
            ActionTaken::Refused,
            format!("{session} does not belong to {repo}; nothing was done with it"),
        ))
    }

    /// Posts (or updates) the "queued" comment and reports the request as queued.
    async fn report_queued(
        &self,
        repo: &RepoName,
        number: u64,
        requester: Option<&str>,
        queued_comment: Option<u64>,
        position: i64,
        reason: &str,
    ) -> Result<Outcome, HandlerError> {
        let text = render::queued_comment(position, reason, requester);
        match queued_comment {
            Some(id) => self.github.update_comment(repo, id, &text).await?,
            None => {
                self.reply(repo, number, "queued", &text).await?;
            }
        }
        Ok(Outcome::new(
            ActionTaken::Queued,
            format!("queued at position {position}: {reason}"),
        ))
    }

    /// The bridge's own "queued" comment in the thread, if any.
    fn find_queued(&self, thread: &Thread) -> Option<u64> {
        thread
            .comments
            .iter()
            .rev()
            .filter(|c| {
                self.settings
                    .own_logins
                    .iter()
                    .any(|own| own.eq_ignore_ascii_case(&c.author.login))
            })
            .find(|c| c.body.trim_end().ends_with(render::QUEUED_MARKER))
            .map(|c| c.id)
    }

    /// `/jules approve [PLAN]`: approves only a pending plan, and only one the person can
    /// have read: the one they name, or without a name the one the status comment shows.
    pub(super) async fn approve(
        &self,
        request: &Request<'_>,
        plan_prefix: Option<&str>,
    ) -> Result<Outcome, HandlerError> {
        let (repo, number) = (request.repo, request.issue.number);
        let thread = self.thread(repo, number).await?;
        let found = match self.find_session(repo, number, &thread).await? {
            Found::Session(found) => found,
            Found::Foreign { session, .. } => {
                return self.refuse_foreign(repo, number, &session).await
            }
            Found::Nothing => {
                let text = render::no_session(&self.settings.command_prefix);
                self.reply(repo, number, "no-session", &text).await?;
                return Ok(Outcome::ignored("there is no session to approve"));
            }
        };
        let session = found.session.clone();
        let activities = self.jules.all_activities(&session.name, None).await?;
        let view = SessionView::new(&session, &activities);
        let requester = found.marker.requester.as_deref();
        let Some(plan) = view.pending_plan() else {
            let text = render::nothing_to_approve(&view, &self.settings.command_prefix);
            self.reply(repo, number, "nothing-to-approve", &text)
                .await?;
            let reason = format!(
                "no plan is waiting for approval ({})",
                render::state_words(&view.state)
            );
            let comment_id = self
                .publish_view(repo, number, &view, requester, found.comment.as_ref(), None)
                .await?;
            let mut outcome = Outcome::ignored(reason);
            outcome.fill(&found, comment_id, session, view, repo, number);
            return Ok(outcome);
        };
        let unseen = match plan_prefix {
            Some(prefix) if !plan.id.to_lowercase().starts_with(&prefix.to_lowercase()) => Some(
                render::plan_mismatch(prefix, plan.short_id(), &self.settings.command_prefix),
            ),
            Some(_) => None,
            // A bare approve stands for the plan the person saw in the status comment.
            None if found.marker.plan.as_deref() != Some(plan.short_id()) => Some(
                render::plan_not_shown_yet(plan.short_id(), &self.settings.command_prefix),
            ),
            None => None,
        };
        if let Some(text) = unseen {
            let reason = format!(
                "plan {} is not the plan the person approved",
                plan.short_id()
            );
            // Show the pending plan first, so the reply's pointer to it is true.
            let comment_id = self
                .publish_view(repo, number, &view, requester, found.comment.as_ref(), None)
                .await?;
            self.reply(repo, number, "not-approved", &text).await?;
            let mut outcome = Outcome::new(ActionTaken::Refused, reason);
            outcome.fill(&found, comment_id, session, view, repo, number);
            return Ok(outcome);
        }
        let plan_id = plan.id.clone();
        self.jules.approve_plan(&session.name).await?;
        let session = self.jules.get_session(&session.name).await?;
        let reason = format!("approved plan {plan_id}");
        self.reported(ActionTaken::Approved, reason, &found, session, repo, number)
            .await
    }

    /// `/jules status`: re-reads the session and edits the status comment now.
    pub(super) async fn refresh(&self, request: &Request<'_>) -> Result<Outcome, HandlerError> {
        let (repo, number) = (request.repo, request.issue.number);
        let thread = self.thread(repo, number).await?;
        match self.find_session(repo, number, &thread).await? {
            Found::Session(found) => {
                let session = found.session.clone();
                let reason = "refreshed the status comment".to_owned();
                self.reported(ActionTaken::Status, reason, &found, session, repo, number)
                    .await
            }
            Found::Foreign { session, .. } => self.refuse_foreign(repo, number, &session).await,
            Found::Nothing => {
                let text = render::no_session(&self.settings.command_prefix);
                self.reply(repo, number, "no-session", &text).await?;
                Ok(Outcome::ignored("there is no session for this issue"))
            }
        }
    }

    /// Re-renders the status comment for `session` and reports `action`.
    async fn reported(
        &self,
        action: ActionTaken,
        reason: String,
        found: &IssueSession,
        session: Session,
        repo: &RepoName,
        number: u64,
    ) -> Result<Outcome, HandlerError> {
        let requester = found.marker.requester.as_deref();
        let (view, comment_id) = self
            .publish_status(
                repo,
                number,
                &session,
                requester,
                found.comment.as_ref(),
                None,
            )
            .await?;
        let mut outcome = Outcome::new(action, reason);
        outcome.fill(found, comment_id, session, view, repo, number);
        Ok(outcome)
    }

    /// `workflow_dispatch` / `schedule`: a session from the configured prompt.
    pub(super) async fn dispatched(
        &self,
        repo: &Repository,
        sender: &Actor,
        scheduled: bool,
    ) -> Result<Outcome, HandlerError> {
        let Some(instruction) = self
            .settings
            .prompt
            .as_deref()
            .filter(|p| !p.trim().is_empty())
        else {
            return Err(HandlerError::Event(
                "a dispatch or schedule event needs the `prompt` input".into(),
            ));
        };
        let requester = (!scheduled && !sender.login.is_empty()).then_some(sender.login.as_str());
        let prompt = build_prompt(&PromptParts {
            repo: Some(&repo.name),
            instruction: Some(instruction),
            requester,
            template: self.settings.prompt_template.as_deref(),
            ..PromptParts::default()
        });
        let title = self
            .settings
            .title
            .clone()
            .unwrap_or_else(|| short_title(instruction));
        let tag = RequestTag::new(request_tag::for_repo(
            &repo.name,
            &format!(":run-{}", self.settings.trigger_id),
        ))
        .ok();
        let branch = self
            .settings
            .starting_branch
            .as_deref()
            .unwrap_or(&repo.default_branch);
        let new = self.new_session(&prompt, &repo.name, branch, title, tag);
        let session = self.jules.create_session(&new).await?;
        let mut outcome = Outcome::new(ActionTaken::Created, format!("created {}", session.name));
        outcome.prompt = Some(prompt);
        outcome.view = Some(crate::engine::status::SessionView::new(&session, &[]));
        outcome.session = Some(session);
        Ok(outcome)
    }

    /// A failed workflow run: a session that fixes it, on the failing branch, through the
    /// same checks as every other way to start a session (`engine::ci_fixer`).
    pub(super) async fn ci_failed(
        &self,
        repo: &Repository,
        run: &WorkflowRun,
    ) -> Result<Outcome, HandlerError> {
        if let Err(reason) = ci_fixer::check_run(run, &repo.name, self.settings.ci_fixer.as_ref()) {
            return Ok(Outcome::ignored(reason));
        }
        let Some(actor) = run.actor.as_ref() else {
            return Ok(Outcome::ignored("the run names no actor to authorize"));
        };
        if let Some(refusal) = self.authorize_quietly(&repo.name, actor).await? {
            return Ok(refusal);
        }
        let policy = self.settings.ci_fixer.clone().unwrap_or_default();
        let tag = ci_fixer::run_tag(&repo.name, run);
        let recent = self.recent_fixer_sessions(&repo.name).await?;
        if let Some(earlier) = recent
            .iter()
            .find(|session| request_tag_of(&session.prompt) == Some(tag.as_str()))
        {
            return Ok(Outcome::ignored(format!(
                "{} already fixes this commit of `{}`",
                earlier.name, run.name
            )));
        }
        let on_branch = recent
            .iter()
            .filter(|session| starting_branch(session) == Some(run.head_branch.as_str()))
            .count() as u32;

        // Where the session reports: the pull request, else the repository's CI-fixer issue.
        let target = match run.pull_requests.first() {
            Some(&pr) => pr,
            None => self.github.ci_fixer_issue(&repo.name).await?,
        };
        if on_branch >= policy.max_per_branch_per_day {
            let reason = format!(
                "the CI fixer already started {on_branch} sessions on `{}` in the last 24 hours (at most {})",
                run.head_branch, policy.max_per_branch_per_day
            );
            self.note_fixer_limit(&repo.name, target, &reason).await?;
            return Ok(Outcome::new(ActionTaken::Refused, reason));
        }
        if let Some(gate) = self.gate {
            if let Admission::Queued { position, reason } =
                gate.admit(&repo.name, target, self.settings).await?
            {
                return self
                    .report_queued(&repo.name, target, None, None, position, &reason)
                    .await;
            }
        }
        let failed_jobs = self
            .github
            .failed_jobs(&repo.name, run.id)
            .await
            .unwrap_or_else(|error| {
                tracing::warn!(%error, "could not list the failed jobs");
                Vec::new()
            });
        let prompt = build_prompt(&PromptParts {
            repo: Some(&repo.name),
            instruction: self.settings.prompt.as_deref(),
            failed_run: Some((run, &failed_jobs)),
            template: self.settings.prompt_template.as_deref(),
            ..PromptParts::default()
        });
        let title = self.settings.title.clone().unwrap_or_else(|| {
            short_title(&format!("Fix CI: {} on {}", run.name, run.head_branch))
        });
        let new = self.new_session(
            &prompt,
            &repo.name,
            &run.head_branch,
            title,
            RequestTag::new(tag).ok(),
        );
        let session = self.jules.create_session(&new).await?;
        let attempt = format!(
            "CI fix attempt {} of {} in 24 hours on `{}`, for the failed run [{}]({}).",
            on_branch + 1,
            policy.max_per_branch_per_day,
            escape::inline(&run.head_branch),
            escape::inline(&run.name),
            run.html_url
        );
        let (view, comment_id) = self
            .publish_status(&repo.name, target, &session, None, None, Some(&attempt))
            .await?;
        let mut outcome = Outcome::new(
            ActionTaken::Created,
            format!("created {} to fix run {}", session.name, run.id),
        );
        outcome.view = Some(view);
        outcome.report = Some(Report {
            repo: repo.name.clone(),
            issue: target,
            status_comment_id: Some(comment_id),
            requester: None,
        });
        outcome.prompt = Some(prompt);
        outcome.session = Some(session);
        Ok(outcome)
    }

    /// The CI fixer's sessions of `repo` created in the last 24 hours (newest first).
    async fn recent_fixer_sessions(&self, repo: &RepoName) -> Result<Vec<Session>, HandlerError> {
        let since = chrono::Utc::now() - chrono::Duration::hours(24);
        let prefix = ci_fixer::tag_prefix(repo);
        let sessions = self.jules.sessions_since(since).await?;
        Ok(sessions
            .into_iter()
            .filter(|session| belongs_to(session, repo))
            .filter(|session| {
                request_tag_of(&session.prompt).is_some_and(|tag| tag.starts_with(&prefix))
            })
            .collect())
    }

    /// At the limit: the newest fixer status comment on the target says so (an edit, so a
    /// run that keeps failing never adds a comment per failure).
    async fn note_fixer_limit(
        &self,
        repo: &RepoName,
        target: u64,
        reason: &str,
    ) -> Result<(), HandlerError> {
        let thread = self.thread(repo, target).await?;
        if let Found::Session(found) = self.find_session(repo, target, &thread).await? {
            let notice = format!("Not starting another fix: {reason}.");
            self.publish_status(
                repo,
                target,
                &found.session,
                found.marker.requester.as_deref(),
                found.comment.as_ref(),
                Some(&notice),
            )
            .await?;
        }
        tracing::info!(%reason, "CI fixer at its limit");
        Ok(())
    }

    fn new_session(
        &self,
        prompt: &str,
        repo: &RepoName,
        branch: &str,
        title: String,
        tag: Option<RequestTag>,
    ) -> NewSession {
        let mut new = NewSession::new(prompt)
            .with_source(&repo.jules_source(), Some(branch))
            .with_title(title)
            .with_plan_approval(self.settings.require_plan_approval)
            .with_automation_mode(self.settings.automation_mode.clone());
        if let Some(tag) = tag {
            new = new.with_request_tag(tag);
        }
        new
    }

    /// Tells the people on the issue that the session could not start, in plain words.
    /// Best effort: the error itself is returned to the caller either way.
    async fn report_create_failure(&self, repo: &RepoName, issue: u64, error: &JulesError) {
        let prefix = &self.settings.command_prefix;
        let will_get_better =
            crate::jules::retry::is_transient(error, crate::jules::retry::Safety::Idempotent);
        if will_get_better && !self.settings.final_attempt {
            // The server tries again; the people on the issue hear only the final answer.
            return;
        }
        let where_to_look = if self.settings.run_url.is_some() {
            "check the workflow run"
        } else {
            "an operator can see the error with `jules-bridge deliveries list`"
        };
        let (what, next) = match error.api() {
            Some(api) if api.is_at_limit() => (
                "Jules is at its session limit",
                format!("Nothing was started. Try again later with `{prefix} <task>` or by re-adding the label."),
            ),
            Some(api) if api.is_unauthenticated() => (
                "Jules rejected the API key",
                if self.settings.run_url.is_some() {
                    "A maintainer needs to update the Jules API key secret of this workflow.".to_owned()
                } else {
                    // Server mode: the key is the operator's, not this repository's.
                    "The operator of this jules-bridge installation needs to check its Jules API key; nothing in this repository can fix it.".to_owned()
                },
            ),
            Some(api) if api.is_not_found() => (
                "Jules cannot see this repository",
                "Connect the repository to Jules at jules.google.com, then try again.".to_owned(),
            ),
            _ => (
                "Jules could not start a session",
                format!("Nothing was started. Try again with `{prefix} <task>`; if it keeps failing, {where_to_look}."),
            ),
        };
        // The people on the issue get plain words; Jules' own text goes to the log.
        tracing::warn!(%error, "Jules could not start the session");
        let text = render::error_comment(what, &next);
        if let Err(report_error) = self.reply(repo, issue, "create-failure", &text).await {
            tracing::warn!(%report_error, "could not report the failure on the issue");
        }
    }
}

impl Outcome {
    fn fill(
        &mut self,
        found: &IssueSession,
        comment_id: u64,
        session: Session,
        view: SessionView,
        repo: &RepoName,
        issue: u64,
    ) {
        self.session = Some(session);
        self.view = Some(view);
        self.report = Some(Report {
            repo: repo.clone(),
            issue,
            status_comment_id: Some(comment_id),
            requester: found.marker.requester.clone(),
        });
    }
}

/// True when `url` is a pull request of `repo` (`https://HOST/OWNER/REPO/pull/N`).
fn pull_request_of(repo: &RepoName, url: &str) -> bool {
    let Some((path, number)) = url.trim_end_matches('/').rsplit_once("/pull/") else {
        return false;
    };
    let full = format!("/{}/{}", repo.owner, repo.name);
    number.chars().all(|c| c.is_ascii_digit())
        && path.len() >= full.len()
        && path[path.len() - full.len()..].eq_ignore_ascii_case(&full)
}

/// The branch a session started from.
fn starting_branch(session: &Session) -> Option<&str> {
    session
        .source_context
        .as_ref()?
        .github_repo_context
        .as_ref()
        .map(|context| context.starting_branch.as_str())
}
