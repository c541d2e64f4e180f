//! The relay: Jules has no push, so the server polls it and keeps GitHub up to date.
//!
//! Cost per tick is constant in the number of idle sessions: one `sessions.list` page
//! (newest first, 100 per page) tells which tracked sessions changed (`updateTime`);
//! activities are fetched only for those, and only the new ones
//! (`filter=create_time>"<last relayed>"`). Tracked sessions older than the first page are
//! found by a sweep: each tick also reads ONE older page, the next one each tick, starting
//! over once every tracked session was seen (so at most two list calls per tick, and an old
//! session is looked at every `tracked / 100` ticks). A tracked session the sweep did not
//! find (deleted, archived) is checked on its own at most every tenth tick; a new one not on
//! the first page, at once. One that Jules no longer has (404) stops being relayed, and its
//! status comment says so. What was relayed is stored, so a restart neither repeats nor
//! skips a question comment. With PostgreSQL and several replicas, one of them
//! holds the relay lease at a time, so each session is relayed by one process.
//!
//! The stall watchdog (`engine::decide::watchdog`) needs no call of its own: a session that
//! stalled is one whose `updateTime` does not move, and whether it is due is decided from
//! what the list page and the store already say (its state, its newest activity's time).
//! A due session is read once, like a changed one, so the status comment shows the line and
//! the mention is posted (recorded in the store first: once per session, across restarts and
//! replicas); after that the process remembers it and reads it no more than before.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::watch;

use super::AppState;
use crate::engine::decide::{progress, watchdog};
use crate::engine::event::RepoName;
use crate::engine::status::SessionView;
use crate::handler::{Handler, Report};
use crate::jules::{Activity, JulesError, Session, State};
use crate::store::TrackedSession;

const LEASE_KEY: &str = "relay";

/// Tracked sessions the sweep over older pages did not find are checked on their own at
/// most every this many ticks.
const LONE_CHECK_EVERY: u64 = 10;

/// `sessions.list` page size (the API's maximum).
const PAGE_SIZE: u32 = 100;

/// A working session not read for this many slow intervals (2 minutes by default) is read
/// again even when its `updateTime` did not move: that it moves with every activity is not
/// documented, and a relay that depended on it would never show the progress of a session
/// whose state stays `IN_PROGRESS`. One such read a tick, after those of changed sessions.
const WORKING_SWEEP_SLOW_INTERVALS: u32 = 4;

/// The activities seen per session, so a changed session costs one filtered list.
type Seen = HashMap<String, Vec<Activity>>;

/// The watchdog's nudges (session, key) this process has carried out, so a session stays
/// unread while its stall lasts (the store has the last word on what was posted).
type Watched = HashSet<(String, &'static str)>;

/// The walk over the `sessions.list` pages after the first, one page per tick.
#[derive(Default)]
struct Sweep {
    /// The page to read next; `None`: the one after the first page.
    token: Option<String>,
    /// Tracked sessions found on older pages since the walk started over.
    found: HashSet<String>,
    /// The tick of the last one-by-one check of tracked sessions the sweep did not find.
    last_lone_check: Option<u64>,
}

pub async fn run(state: Arc<AppState>, owner: String, mut shutdown: watch::Receiver<bool>) {
    let mut seen = Seen::new();
    let mut watched = Watched::new();
    let mut sweep = Sweep::default();
    let mut tick: u64 = 0;
    let lease = state.config.relay_slow + Duration::from_secs(30);
    loop {
        if *shutdown.borrow() {
            let _ = state.store.release_lease(LEASE_KEY, &owner).await;
            return;
        }
        let busy = match state.store.try_lease(LEASE_KEY, &owner, lease).await {
            Ok(true) => {
                let busy = match relay_tick(&state, &mut seen, &mut watched, &mut sweep, tick).await
                {
                    Ok(busy) => busy,
                    Err(error) => {
                        tracing::warn!(%error, "relay tick failed; trying again next tick");
                        true
                    }
                };
                if let Err(error) = drain_queues(&state, tick).await {
                    tracing::warn!(%error, "cannot start queued requests");
                }
                busy
            }
            // Another replica relays; look again later in case it goes away.
            Ok(false) => false,
            Err(error) => {
                tracing::warn!(%error, "cannot take the relay lease");
                false
            }
        };
        tick += 1;
        let interval = if busy {
            state.config.relay_fast
        } else {
            state.config.relay_slow
        };
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = state.relay_wake.notified() => {}
            _ = shutdown.changed() => {}
        }
    }
}

/// One pass over the tracked sessions; true while some session is working (poll fast).
async fn relay_tick(
    state: &Arc<AppState>,
    seen: &mut Seen,
    watched: &mut Watched,
    sweep: &mut Sweep,
    tick: u64,
) -> Result<bool, JulesError> {
    let tracked = match state.store.active_sessions().await {
        Ok(tracked) => tracked,
        Err(error) => {
            tracing::warn!(%error, "cannot read tracked sessions");
            return Ok(false);
        }
    };
    update_gauges(state, &tracked);
    let names: HashSet<&str> = tracked.iter().map(|s| s.name.as_str()).collect();
    watched.retain(|(name, _)| names.contains(name.as_str()));
    if tracked.is_empty() {
        return Ok(false);
    }
    let page = state
        .relay_jules
        .list_sessions_page(false, Some(PAGE_SIZE), None)
        .await?;
    let first_page = page.next_page_token.filter(|t| !t.is_empty());
    let mut listed: HashMap<String, Session> = page
        .sessions
        .into_iter()
        .map(|s| (s.name.clone(), s))
        .collect();

    // One older page per tick, while some tracked session is older than the first page.
    let older: Vec<&TrackedSession> = tracked
        .iter()
        .filter(|s| !listed.contains_key(&s.name))
        .collect();
    let mut walk_ended = false;
    if older.is_empty() {
        sweep.token = None;
        sweep.found.clear();
    } else if let Some(token) = sweep.token.clone().or(first_page) {
        match state
            .relay_jules
            .list_sessions_page(false, Some(PAGE_SIZE), Some(&token))
            .await
        {
            Ok(page) => {
                let wanted: HashSet<&str> = older.iter().map(|s| s.name.as_str()).collect();
                for session in page.sessions {
                    if wanted.contains(session.name.as_str()) {
                        sweep.found.insert(session.name.clone());
                        listed.insert(session.name.clone(), session);
                    }
                }
                sweep.token = page.next_page_token.filter(|t| !t.is_empty());
                let all_found = older.iter().all(|s| sweep.found.contains(&s.name));
                if sweep.token.is_none() || all_found {
                    walk_ended = !all_found;
                    sweep.token = None;
                    sweep.found.clear();
                }
            }
            Err(error) => {
                // A stale page token, or an outage: start the walk over next tick.
                tracing::warn!(%error, "cannot read an older sessions page; starting the sweep over");
                sweep.token = None;
                sweep.found.clear();
            }
        }
    } else {
        // Nothing older than the first page: the missing sessions are gone or archived.
        walk_ended = true;
    }
    let lone_check = walk_ended
        && sweep
            .last_lone_check
            .is_none_or(|last| tick >= last + LONE_CHECK_EVERY);
    if lone_check {
        sweep.last_lone_check = Some(tick);
    }

    // The request budget may not cover every changed session in one tick: those where a
    // person waits (a plan to approve, a question) go first, then the working ones.
    let mut tracked = tracked;
    tracked.sort_by_key(
        |session| match listed.get(&session.name).map(|s| &s.state) {
            Some(state) if state.awaits_human() => 0,
            Some(state) if state.is_finished() => 2,
            _ => 1,
        },
    );
    let mut busy = false;
    let sweep_after =
        chrono::Duration::from_std(state.config.relay_slow * WORKING_SWEEP_SLOW_INTERVALS)
            .unwrap_or(chrono::Duration::MAX);
    // Working sessions read again although unchanged: after every changed one.
    let mut sweeps: Vec<(TrackedSession, Session)> = Vec::new();
    // Unchanged sessions the watchdog has something to say about: read once each.
    let mut nudges: Vec<(TrackedSession, Session)> = Vec::new();
    let now = state.clock.now();
    for session in tracked {
        // The stored `updateTime` is the one the status comment was last rendered for
        // (recorded after the edit): equal means nothing to relay, also right after a
        // restart, when the relay remembers no activities yet. Re-reading every session
        // then would spend the request budget on the ones that did not change.
        let unchanged = |current: &Session| {
            session.update_time.is_some() && current.update_time == session.update_time
        };
        if let Some(listed) = listed.get(session.name.as_str()) {
            let working = !listed.state.awaits_human() && !listed.state.is_finished();
            if unchanged(listed) && nudge_due(state, &session, listed, now, watched) {
                busy |= working;
                nudges.push((session.clone(), listed.clone()));
                continue;
            }
            let unread = session
                .checked_at
                .is_none_or(|at| Utc::now() - at > sweep_after);
            if unchanged(listed) && working && unread {
                busy = true;
                sweeps.push((session.clone(), listed.clone()));
                continue;
            }
        }
        let current = match listed.get(session.name.as_str()) {
            Some(listed) => (!unchanged(listed)).then(|| listed.clone()),
            None if session.checked_at.is_none() || lone_check => {
                match state.relay_jules.get_session(&session.name).await {
                    Ok(current) => (!unchanged(&current)).then_some(current),
                    Err(error) if error.is_not_found() => {
                        tracing::info!(session = %session.name, "session deleted in Jules; stopping its relay");
                        let stopped = TrackedSession {
                            active: false,
                            ..session.clone()
                        };
                        if state.store.upsert_session(&stopped).await.is_ok() {
                            tell_deleted(state, &session).await;
                        }
                        continue;
                    }
                    Err(error) => return Err(error),
                }
            }
            None => None,
        };
        let state_now = current
            .as_ref()
            .map_or_else(|| State::from(session.state.as_str()), |s| s.state.clone());
        busy |= !state_now.awaits_human() && !state_now.is_finished();
        if let Some(current) = current {
            if !relay_or_defer(state, seen, watched, &session, &current).await {
                return Ok(false);
            }
        }
    }
    for (session, current) in nudges {
        if !relay_or_defer(state, seen, watched, &session, &current).await {
            return Ok(false);
        }
    }
    // One a tick, the longest unread first: a safety net must not eat the budget that
    // sessions known to have changed need.
    let swept = sweeps
        .into_iter()
        .min_by_key(|(session, _)| session.checked_at);
    if let Some((session, current)) = swept {
        if !relay_or_defer(state, seen, watched, &session, &current).await {
            return Ok(false);
        }
    }
    Ok(busy)
}

/// Whether the watchdog has a nudge due for an unchanged session that this process has not
/// carried out yet. Decided from the list page and the store: no call. (Reading the session
/// then loads the repository's settings; if they say otherwise, nothing is carried out, and
/// the next tick decides with them.)
fn nudge_due(
    state: &AppState,
    tracked: &TrackedSession,
    listed: &Session,
    now: chrono::DateTime<Utc>,
    watched: &Watched,
) -> bool {
    if listed.state.is_finished() {
        return false;
    }
    // The repository's settings as last read (the relay reads them when it relays).
    let settings = state
        .configs
        .cached_settings(&tracked.repo, &state.base_settings);
    let watch = settings.as_ref().unwrap_or(&state.base_settings).watch();
    let last = tracked.last_activity_time.or(listed.create_time);
    watchdog(&listed.state, last, now, watch)
        .is_some_and(|nudge| !watched.contains(&(tracked.name.clone(), nudge.key())))
}

/// Relays one session; false when the request budget is spent (the rest waits for a later
/// tick, and the next tick for the slow interval: the budget frees up over the minute).
async fn relay_or_defer(
    state: &Arc<AppState>,
    seen: &mut Seen,
    watched: &mut Watched,
    session: &TrackedSession,
    current: &Session,
) -> bool {
    match relay_session(state, seen, watched, session, current).await {
        Ok(()) => true,
        Err(RelayError::Jules(JulesError::OverBudget { .. })) => {
            tracing::debug!(session = %session.name, "request budget spent; relaying the rest later");
            false
        }
        Err(error) => {
            tracing::warn!(session = %session.name, error = %error, "cannot relay the session; will retry");
            true
        }
    }
}

#[derive(Debug, thiserror::Error)]
enum RelayError {
    #[error("{0}")]
    Jules(#[from] JulesError),
    #[error("{0}")]
    Handler(#[from] crate::handler::HandlerError),
    #[error("{0}")]
    GitHub(#[from] crate::github::GitHubError),
    #[error("{0}")]
    Store(#[from] crate::store::StoreError),
}

async fn relay_session(
    state: &Arc<AppState>,
    seen: &mut Seen,
    watched: &mut Watched,
    tracked: &TrackedSession,
    session: &Session,
) -> Result<(), RelayError> {
    // New activities only; the first time after a start, all of them (to render the plan).
    let new: Vec<Activity> = match seen.get_mut(&tracked.name) {
        Some(known) => {
            let new = state
                .relay_jules
                .all_activities(&tracked.name, tracked.last_activity_time)
                .await?;
            known.extend(new.iter().cloned());
            new
        }
        None => {
            let all = state
                .relay_jules
                .all_activities(&tracked.name, None)
                .await?;
            let new = all
                .iter()
                .filter(|a| match (a.create_time, tracked.last_activity_time) {
                    (Some(created), Some(last)) => created > last,
                    _ => true,
                })
                .cloned()
                .collect();
            seen.insert(tracked.name.clone(), all);
            new
        }
    };
    let all = seen
        .get(&tracked.name)
        .map(Vec::as_slice)
        .unwrap_or_default();

    let repo = RepoName::parse(&tracked.repo).ok_or_else(|| {
        crate::store::StoreError::Invalid(format!(
            "tracked session with a bad repository {:?}",
            tracked.repo
        ))
    })?;
    let github = state
        .auth
        .client_for(tracked.installation_id)?
        .with_observer(state.metrics.github_observer());
    // The repository's own settings: its status comments name its own command prefix.
    let settings = state
        .configs
        .settings_quietly(&github, &repo, &state.base_settings)
        .await;
    let handler = Handler {
        github: &github,
        jules: &state.relay_jules,
        settings: &settings,
        gate: None,
        replies: Default::default(),
    };
    let report = Report {
        repo: repo.clone(),
        issue: tracked.issue as u64,
        on_pull: tracked.on_pull,
        status_comment_id: tracked.status_comment_id.map(|id| id as u64),
        requester: tracked.requester.clone(),
    };
    let progress = progress(
        session,
        all,
        tracked.requester.as_deref(),
        &settings.command_prefix,
        Some((&repo, report.issue, report.on_pull)),
    );
    let newest = new
        .iter()
        .filter_map(|a| a.create_time)
        .max()
        .or(tracked.last_activity_time);
    let nudge = watchdog(
        &progress.view.state,
        newest.or(session.create_time),
        state.clock.now(),
        settings.watch(),
    );
    let notice = nudge
        .as_ref()
        .and_then(|nudge| nudge.notice(&settings.command_prefix));
    let comment_id = handler
        .show_view(&progress.view, &report, notice.as_deref())
        .await?;
    if let Some(pull) = progress.check_on.filter(|_| settings.check_runs) {
        handler.publish_check(&repo, pull, &progress.view).await;
    }
    if let Some(pull) = progress.pull {
        // Idempotent (it looks for its marker on the pull request first), so a failure is
        // tried again the next time the session is relayed; never fatal to the relay.
        if let Err(error) = handler
            .link_pull_request(&progress.view, &report, pull)
            .await
        {
            tracing::warn!(%error, pull, "could not post the status comment on the pull request");
        }
    }
    if let Some(question) = progress.question {
        // Recorded before it is posted: a restart never asks the same question twice.
        if state
            .store
            .record_relayed(&tracked.name, &question.activity, "question")
            .await?
        {
            github
                .create_comment(&repo, report.issue, &question.reply.body())
                .await?;
        }
    }
    if let Some(nudge) = nudge {
        // Recorded before it is posted, like a question: one of each per session.
        let reply = nudge.reply(
            &progress.view,
            tracked.requester.as_deref(),
            &settings.command_prefix,
        );
        if state
            .store
            .record_relayed(&tracked.name, nudge.key(), reply.kind())
            .await?
        {
            github
                .create_comment(&repo, report.issue, &reply.body())
                .await?;
        }
        watched.insert((tracked.name.clone(), nudge.key()));
    }
    let view = progress.view;

    let updated = TrackedSession {
        state: view.state.to_string(),
        update_time: session.update_time,
        last_activity_time: newest,
        status_comment_id: Some(comment_id as i64),
        // COMPLETED is not final, but a finished session needs no polling until a message
        // wakes it (the handler marks it active again then).
        active: progress.keep_following,
        checked_at: Some(Utc::now()),
        ..tracked.clone()
    };
    // record_progress never re-activates: a deactivation made meanwhile (issue closed) stays.
    state.store.record_progress(&updated).await?;
    if !updated.active {
        seen.remove(&tracked.name);
    }
    Ok(())
}

/// Without repository limits, a queued request waits for Jules' own limit: it is tried again
/// every this many ticks.
const JULES_LIMIT_RETRY_EVERY: u64 = 10;

/// Starts queued requests of repositories that have room again, oldest first: the request's
/// delivery is replayed, and its "queued" comment becomes the status comment.
async fn drain_queues(state: &Arc<AppState>, tick: u64) -> Result<(), crate::store::StoreError> {
    for repo in state.store.queued_repos().await? {
        let settings = state
            .configs
            .cached_settings(&repo, &state.base_settings)
            .unwrap_or_else(|| state.base_settings.clone());
        let account = state.config.jules_plan.as_ref();
        let limited = account.is_some()
            || settings.max_concurrent_sessions.is_some()
            || settings.daily_session_budget.is_some();
        if !limited && !tick.is_multiple_of(JULES_LIMIT_RETRY_EVERY) {
            continue;
        }
        if super::limits::over_limits(state.store.as_ref(), &repo, &settings, account)
            .await?
            .is_some()
        {
            continue;
        }
        if let Some(queued) = state.store.pop_queued(&repo).await? {
            if state.store.retry_delivery(queued.delivery_id).await? {
                tracing::info!(repo = %repo, issue = queued.issue, "a slot is free: starting a queued request");
                state.work.notify_one();
            } else {
                // Its delivery is still being processed: keep the request queued.
                state
                    .store
                    .enqueue_request(&queued.repo, queued.issue, queued.delivery_id)
                    .await?;
            }
        }
    }
    Ok(())
}

fn update_gauges(state: &AppState, tracked: &[TrackedSession]) {
    state.metrics.tracked_sessions.clear();
    for session in tracked {
        state
            .metrics
            .tracked_sessions
            .get_or_create(&super::metrics::StateLabels {
                state: session.state.clone(),
            })
            .inc();
    }
}

/// Edits a stopped session's status comment to say why updates stopped (issue closed).
pub async fn tell_stopped(state: &Arc<AppState>, tracked: &TrackedSession, notice: &str) {
    let result: Result<(), RelayError> = async {
        let session = state.relay_jules.get_session(&tracked.name).await?;
        let activities = state
            .relay_jules
            .all_activities(&tracked.name, None)
            .await?;
        let view = SessionView::new(&session, &activities);
        let repo = RepoName::parse(&tracked.repo)
            .ok_or_else(|| crate::store::StoreError::Invalid("bad repository".into()))?;
        let github = state.auth.client_for(tracked.installation_id)?;
        let settings = state
            .configs
            .settings_quietly(&github, &repo, &state.base_settings)
            .await;
        let handler = Handler {
            github: &github,
            jules: &state.relay_jules,
            settings: &settings,
            gate: None,
            replies: Default::default(),
        };
        let report = Report {
            repo: repo.clone(),
            issue: tracked.issue as u64,
            on_pull: tracked.on_pull,
            status_comment_id: tracked.status_comment_id.map(|id| id as u64),
            requester: tracked.requester.clone(),
        };
        handler.show_view(&view, &report, Some(notice)).await?;
        Ok(())
    }
    .await;
    if let Err(error) = result {
        tracing::warn!(session = %tracked.name, %error, "cannot update the stopped session's status comment");
    }
}

/// Says on the status comment of a session Jules no longer has (deleted there) that its
/// updates stopped: the session cannot be read, so the comment keeps what it last showed,
/// with the note added. Best effort, like [`tell_stopped`].
async fn tell_deleted(state: &Arc<AppState>, tracked: &TrackedSession) {
    let result: Result<(), RelayError> = async {
        let Some(comment_id) = tracked.status_comment_id else {
            return Ok(());
        };
        let repo = RepoName::parse(&tracked.repo)
            .ok_or_else(|| crate::store::StoreError::Invalid("bad repository".into()))?;
        let github = state
            .auth
            .client_for(tracked.installation_id)?
            .with_observer(state.metrics.github_observer());
        let settings = state
            .configs
            .settings_quietly(&github, &repo, &state.base_settings)
            .await;
        let comments = github.comments(&repo, tracked.issue as u64).await?;
        let Some(comment) = comments.iter().find(|c| c.id == comment_id as u64) else {
            return Ok(());
        };
        let notice = format!(
            "Updates stopped: this session no longer exists in Jules (it was deleted there). \
             Start another with `{} <task>`.",
            settings.command_prefix
        );
        github
            .update_comment(&repo, comment.id, &with_notice(&comment.body, &notice))
            .await?;
        Ok(())
    }
    .await;
    if let Err(error) = result {
        tracing::warn!(session = %tracked.name, %error, "cannot say on the issue that the session was deleted");
    }
}

/// A status comment's `body` with `notice` as its note, just above the footer (as the status
/// comment renders notes); a note it had is replaced.
fn with_notice(body: &str, notice: &str) -> String {
    let mut lines: Vec<&str> = body.lines().collect();
    if let Some(at) = lines.iter().position(|line| *line == "> [!NOTE]") {
        let start = if at > 0 && lines[at - 1].is_empty() {
            at - 1
        } else {
            at
        };
        let end = (at + 2).min(lines.len());
        lines.drain(start..end);
    }
    let note = format!("> {notice}");
    let footer = lines
        .iter()
        .rposition(|line| line.starts_with("<sub>jules-bridge"))
        .unwrap_or(lines.len());
    let at = if footer > 0 && lines[footer - 1].is_empty() {
        footer - 1
    } else {
        footer
    };
    lines.splice(at..at, ["", "> [!NOTE]", note.as_str()]);
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::with_notice;

    #[test]
    fn a_notice_goes_above_the_footer_and_replaces_an_earlier_one() {
        let body = "⏳ **Jules is working**\n\nDetails.\n\n<sub>jules-bridge · `/jules help` for commands</sub>\n<!-- jules-bridge:session=sessions/1 sig=ab -->";
        let noted = with_notice(body, "Gone.");
        assert_eq!(
            noted,
            "⏳ **Jules is working**\n\nDetails.\n\n> [!NOTE]\n> Gone.\n\n<sub>jules-bridge · `/jules help` for commands</sub>\n<!-- jules-bridge:session=sessions/1 sig=ab -->"
        );
        let again = with_notice(&noted, "Gone again.");
        assert_eq!(again, noted.replace("> Gone.", "> Gone again."));
    }
}
