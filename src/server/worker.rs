//! Delivery workers: claim a stored delivery under a lease, act on it with the shared
//! handler, and record the result. Transient failures are retried with back-off; after
//! `max_attempts` the delivery is dead-lettered with its error for an operator.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use tokio::sync::watch;
use tracing::Instrument;

use super::AppState;
use crate::engine::decide::{archive_when_issue_closed, housekeeping, Chore, CLOSED_WHILE_WAITING};
use crate::engine::event::Event;
use crate::handler::{Handler, HandlerError, Outcome};
use crate::payload::parse_event;
use crate::store::{Delivery, TrackedSession};

/// How long a claim lasts without renewal; renewed every third of it while working.
const LEASE: Duration = Duration::from_secs(60);

/// Why an attempt failed, and whether another attempt can help.
pub struct Failure {
    pub message: String,
    pub retry: bool,
}

impl From<HandlerError> for Failure {
    /// A delivery is tried again only when another attempt can help
    /// ([`HandlerError::worth_another_attempt`]).
    fn from(error: HandlerError) -> Self {
        Failure {
            retry: error.worth_another_attempt(),
            message: error.to_string(),
        }
    }
}

/// Runs one worker until `shutdown` turns true.
pub async fn run(state: Arc<AppState>, worker_id: String, mut shutdown: watch::Receiver<bool>) {
    // Acting without knowing who the bridge is would mean not recognising its own comments.
    if state.identity.wait(&mut shutdown).await.is_none() {
        return;
    }
    loop {
        if *shutdown.borrow() {
            return;
        }
        let claimed = match state.store.claim_delivery(&worker_id, LEASE).await {
            Ok(claimed) => claimed,
            Err(error) => {
                tracing::error!(%error, "cannot claim deliveries");
                None
            }
        };
        let Some(delivery) = claimed else {
            // Nothing to do: wait for a new delivery, a retry coming due, or shutdown.
            tokio::select! {
                _ = state.work.notified() => {}
                _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                _ = shutdown.changed() => {}
            }
            continue;
        };
        let span = tracing::info_span!(
            "delivery",
            id = delivery.id,
            guid = %delivery.delivery_id,
            event = %delivery.event,
            repo = delivery.repo.as_deref().unwrap_or(""),
            issue = delivery.issue_key.as_deref().unwrap_or(""),
        );
        handle_claimed(&state, &worker_id, delivery)
            .instrument(span)
            .await;
    }
}

async fn handle_claimed(state: &Arc<AppState>, worker_id: &str, delivery: Delivery) {
    let started = Instant::now();

    // Keep the lease while working, so a long Jules call is not mistaken for a dead worker.
    let renewer = {
        let store = Arc::clone(&state.store);
        let (id, worker) = (delivery.id, worker_id.to_owned());
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(LEASE / 3).await;
                if !matches!(store.renew_delivery(id, &worker, LEASE).await, Ok(true)) {
                    return;
                }
            }
        })
    };
    let result = process(state, &delivery).await;
    renewer.abort();
    state
        .metrics
        .job_seconds
        .observe(started.elapsed().as_secs_f64());

    let stored = match result {
        Ok(note) => {
            tracing::info!(%note, "delivery handled");
            state.metrics.delivery(&delivery.event, "done");
            state
                .store
                .complete_delivery(delivery.id, worker_id, &note)
                .await
        }
        Err(failure) => {
            let exhausted = delivery.attempts >= state.config.max_attempts;
            let retry_at = (failure.retry && !exhausted).then(|| {
                let backoff = state.config.retry_base
                    * 2u32.saturating_pow((delivery.attempts - 1).max(0) as u32);
                Utc::now()
                    + chrono::Duration::from_std(backoff.min(Duration::from_secs(3600)))
                        .unwrap_or_default()
            });
            if retry_at.is_some() {
                tracing::warn!(error = %failure.message, attempt = delivery.attempts, "delivery failed; will retry");
                state.metrics.delivery(&delivery.event, "failed");
            } else {
                tracing::error!(error = %failure.message, attempt = delivery.attempts, "delivery dead-lettered");
                state.metrics.delivery(&delivery.event, "dead");
            }
            state
                .store
                .fail_delivery(delivery.id, worker_id, &failure.message, retry_at)
                .await
        }
    };
    if let Err(error) = stored {
        tracing::error!(%error, "cannot record the delivery's result; its lease will expire and it will be retried");
    }
}

/// Acts on one delivery; the note says what was done.
async fn process(state: &Arc<AppState>, delivery: &Delivery) -> Result<String, Failure> {
    let event = parse_event(&delivery.event, &delivery.body).map_err(|err| Failure {
        message: err.to_string(),
        retry: false,
    })?;
    match housekeeping(&event) {
        Some(chore) => carry_out(state, chore).await,
        None => handle_with_engine(state, delivery, &event).await,
    }
}

/// Carries out the housekeeping the core asked for.
async fn carry_out(state: &Arc<AppState>, chore: Chore) -> Result<String, Failure> {
    match chore {
        Chore::ForgetInstallation {
            installation,
            action,
        } => {
            let installation = installation as i64;
            let dropped = state
                .store
                .drop_installation(installation)
                .await
                .map_err(store_failure)?;
            let stopped = state
                .store
                .deactivate_installation(installation)
                .await
                .map_err(store_failure)?;
            state.auth.forget(installation);
            tracing::info!(
                installation,
                dropped,
                stopped,
                "installation removed: its pending work was dropped"
            );
            Ok(format!(
                "installation {action}: dropped {dropped} deliveries, stopped {stopped} sessions"
            ))
        }
        Chore::ReloadConfig { repo } => {
            state.configs.invalidate(&repo);
            Ok("repository config changed: cache cleared".into())
        }
        Chore::StopRelay {
            repo,
            issue,
            notice,
        } => {
            let stopped = state
                .store
                .deactivate_issue(&repo, issue as i64)
                .await
                .map_err(store_failure)?;
            for tracked in &stopped {
                let mut said = notice;
                if archive_when_issue_closed(&tracked.state) {
                    match state.jules.archive_session(&tracked.name).await {
                        Ok(_) => said = CLOSED_WHILE_WAITING,
                        Err(error) => {
                            tracing::warn!(%error, session = %tracked.name, "could not archive the session of a closed issue");
                        }
                    }
                }
                super::relay::tell_stopped(state, tracked, said).await;
            }
            Ok(format!(
                "issue closed: stopped relaying {} sessions",
                stopped.len()
            ))
        }
        Chore::Nothing(reason) => Ok(reason),
    }
}

async fn handle_with_engine(
    state: &Arc<AppState>,
    delivery: &Delivery,
    event: &Event,
) -> Result<String, Failure> {
    let github = state
        .auth
        .client_for(delivery.installation_id)
        .map_err(|err| Failure {
            message: err.to_string(),
            retry: false,
        })?;
    let github = github.with_observer(state.metrics.github_observer());
    let mut settings = state.base_settings.clone();
    settings.identity.own_logins = state.identity.logins().unwrap_or_default();
    settings.attempt.trigger_id = format!("d{}", delivery.id);
    // A retry may follow a crash after the create: look for that session first (it cannot
    // be older than the delivery).
    settings.attempt.recheck_before_create =
        (delivery.attempts > 1).then(|| delivery.received_at - chrono::Duration::minutes(10));
    settings.attempt.final_attempt = delivery.attempts >= state.config.max_attempts;
    if let Some(repo) = &event.repo {
        settings = state
            .configs
            .settings_for(&github, &repo.name, &settings, event)
            .await;
    }
    let gate = super::limits::RepoGate::new(
        Arc::clone(&state.store),
        delivery.id,
        state.config.jules_plan,
    );
    let handler = Handler {
        github: &github,
        jules: &state.jules,
        settings: &settings,
        gate: Some(&gate),
        replies: Default::default(),
    };
    let outcome = handler.handle(event).await;
    let tracked = match &outcome {
        Ok(outcome) => track(state, delivery, outcome).await,
        Err(_) => Ok(()),
    };
    // Counted now (or nothing was started): the next admission may go.
    gate.release().await;
    let outcome = outcome?;
    tracked?;
    Ok(format!("{}: {}", outcome.action.as_str(), outcome.reason))
}

/// Records the session an outcome touched, so the relay keeps its issue up to date.
async fn track(
    state: &Arc<AppState>,
    delivery: &Delivery,
    outcome: &Outcome,
) -> Result<(), Failure> {
    if let Some(archived) = &outcome.archived {
        // Replaced by `/jules new`: its status comment stays as it was; nothing to relay.
        if let Some(old) = state
            .store
            .get_session(archived)
            .await
            .map_err(store_failure)?
        {
            let stopped = TrackedSession {
                active: false,
                ..old
            };
            state
                .store
                .upsert_session(&stopped)
                .await
                .map_err(store_failure)?;
        }
    }
    let (Some(session), Some(report)) = (&outcome.session, &outcome.report) else {
        return Ok(());
    };
    let existing = state
        .store
        .get_session(&session.name)
        .await
        .map_err(store_failure)?;
    if let Some(existing) = &existing {
        let same_issue = existing.repo.eq_ignore_ascii_case(&report.repo.to_string())
            && existing.issue == report.issue as i64;
        if !same_issue {
            // A session reports to the issue it was started for, whatever points at it later
            // (the pull request Jules opened, a review there): it stays tracked on that issue,
            // is relayed again after a message, and its issue hears when it was stopped.
            let stopped = outcome.archived.as_deref() == Some(session.name.as_str());
            let updated = TrackedSession {
                active: !stopped,
                ..existing.clone()
            };
            state
                .store
                .upsert_session(&updated)
                .await
                .map_err(store_failure)?;
            if stopped {
                let notice = crate::engine::comment::stopped_from(report.issue);
                super::relay::tell_stopped(state, &updated, &notice).await;
            } else {
                state.relay_wake.notify_one();
            }
            return Ok(());
        }
    }
    let state_word = outcome
        .view
        .as_ref()
        .map(|view| view.state.to_string())
        .unwrap_or_else(|| session.state.to_string());
    let tracked = TrackedSession {
        name: session.name.clone(),
        repo: report.repo.to_string(),
        issue: report.issue as i64,
        installation_id: delivery.installation_id,
        status_comment_id: report.status_comment_id.map(|id| id as i64),
        requester: report.requester.clone(),
        state: state_word,
        // Keep what the relay already relayed; a new session starts from nothing.
        update_time: existing.as_ref().and_then(|s| s.update_time),
        last_activity_time: existing.as_ref().and_then(|s| s.last_activity_time),
        // A session this request archived (`/jules stop`, its pull request closed) is no
        // longer relayed.
        active: outcome.archived.as_deref() != Some(session.name.as_str()),
        created_at: existing.as_ref().map_or_else(Utc::now, |s| s.created_at),
        checked_at: None,
        on_pull: report.on_pull,
    };
    state
        .store
        .upsert_session(&tracked)
        .await
        .map_err(store_failure)?;
    state.relay_wake.notify_one();
    Ok(())
}

fn store_failure(error: crate::store::StoreError) -> Failure {
    Failure {
        message: error.to_string(),
        retry: true,
    }
}
