//! The Jules account's limits (`JULES_PLAN`), the repository's limits
//! (`max_concurrent_sessions`, `daily_session_budget`) and the queue of
//! requests waiting for a slot. A queued request keeps its delivery; the relay replays it when
//! the repository has room again (and, for Jules' own "at limit", after a pause).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{Timelike, Utc};

use crate::engine::event::RepoName;
use crate::handler::{Admission, CreateGate, HandlerError, Settings, TrackedRef};
use crate::store::{Store, StoreError};

/// The gate for one delivery.
///
/// Admission counts the sessions the store tracks, and a session is tracked only once its
/// status comment is posted: two workers admitting at once would both see room. Under limits
/// the gate therefore holds a store lease from the count until the worker has tracked what it
/// started ([`RepoGate::release`]), so admissions take turns, across replicas too; the lease
/// runs out by itself if the worker dies.
pub struct RepoGate {
    pub store: Arc<dyn Store>,
    pub delivery_id: i64,
    /// The Jules account's limits (`JULES_PLAN`), if known.
    pub account: Option<AccountLimits>,
    /// The admission lease this gate holds, if any.
    held: std::sync::Mutex<Option<String>>,
}

/// How long an admission lease lasts at most (a create and a status comment take seconds).
const ADMISSION_LEASE: Duration = Duration::from_secs(120);
/// How long a worker waits for another's admission before its delivery is retried later.
const ADMISSION_WAIT: Duration = Duration::from_secs(60);

impl RepoGate {
    pub fn new(store: Arc<dyn Store>, delivery_id: i64, account: Option<AccountLimits>) -> Self {
        RepoGate {
            store,
            delivery_id,
            account,
            held: std::sync::Mutex::new(None),
        }
    }

    fn owner(&self) -> String {
        format!("delivery-{}", self.delivery_id)
    }

    /// Takes the admission lease of `key`, waiting for another worker's admission to end.
    async fn take_turn(&self, key: String) -> Result<(), HandlerError> {
        let started = std::time::Instant::now();
        let mut pause = Duration::from_millis(20);
        loop {
            if self
                .store
                .try_lease(&key, &self.owner(), ADMISSION_LEASE)
                .await
                .map_err(store_error)?
            {
                *self.held.lock().unwrap_or_else(|p| p.into_inner()) = Some(key);
                return Ok(());
            }
            if started.elapsed() > ADMISSION_WAIT {
                return Err(HandlerError::Store(format!(
                    "another request held `{key}` for over {} s",
                    ADMISSION_WAIT.as_secs()
                )));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(500));
        }
    }

    /// Gives the admission lease back, if this gate took one: called once the worker has
    /// tracked the session it started (or failed).
    pub async fn release(&self) {
        let held = self.held.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(key) = held {
            if let Err(error) = self.store.release_lease(&key, &self.owner()).await {
                tracing::warn!(%error, %key, "cannot release the admission lease; it will expire");
            }
        }
    }
}

fn store_error(error: StoreError) -> HandlerError {
    HandlerError::Store(error.to_string())
}

/// The session limits of the Jules account behind the bridge's API key (`JULES_PLAN`). Jules
/// counts them per Google account: sessions at once, and sessions started in a rolling 24
/// hours. Known ahead, a request beyond them waits in the queue with its position instead of
/// failing at Jules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountLimits {
    /// The plan's name for messages (`Pro`), or `None` for numbers given directly.
    pub plan: Option<&'static str>,
    pub concurrent: u32,
    pub per_24_hours: u32,
}

impl AccountLimits {
    /// `free`, `pro`, `ultra` (Jules' published plan limits) or `CONCURRENT/PER_24H` such as
    /// `5/50`; empty or `none`: no limit known ahead.
    pub fn parse(text: &str) -> Result<Option<AccountLimits>, String> {
        let plan = |plan, concurrent, per_24_hours| {
            Ok(Some(AccountLimits {
                plan: Some(plan),
                concurrent,
                per_24_hours,
            }))
        };
        match text.trim().to_ascii_lowercase().as_str() {
            "" | "none" => Ok(None),
            "free" => plan("Free", 3, 15),
            "pro" => plan("Pro", 15, 100),
            "ultra" => plan("Ultra", 60, 300),
            numbers => {
                let parsed = numbers.split_once('/').and_then(|(concurrent, daily)| {
                    Some((
                        concurrent.trim().parse::<u32>().ok()?,
                        daily.trim().parse::<u32>().ok()?,
                    ))
                });
                match parsed {
                    Some((concurrent, per_24_hours)) if concurrent > 0 && per_24_hours > 0 => {
                        Ok(Some(AccountLimits {
                            plan: None,
                            concurrent,
                            per_24_hours,
                        }))
                    }
                    _ => Err(format!(
                        "JULES_PLAN {text:?} is not a plan: use free, pro, ultra, none, or \
                         CONCURRENT/PER_24H such as 5/50"
                    )),
                }
            }
        }
    }

    fn whose(&self) -> String {
        match self.plan {
            Some(plan) => format!("This Jules account ({plan} plan)"),
            None => "This Jules account".to_owned(),
        }
    }
}

/// Why a new session must wait, or `None` when there is room: the Jules account's limits
/// first (they hold for every repository), then the repository's own.
pub async fn over_limits(
    store: &dyn Store,
    repo: &str,
    settings: &Settings,
    account: Option<&AccountLimits>,
) -> Result<Option<String>, StoreError> {
    if let Some(account) = account {
        let running = store.count_running(None).await?;
        if running >= i64::from(account.concurrent) {
            return Ok(Some(format!(
                "{} runs at most {} Jules sessions at once, and {running} are running",
                account.whose(),
                account.concurrent
            )));
        }
        let started = store
            .count_created_since(None, Utc::now() - chrono::Duration::hours(24))
            .await?;
        if started >= i64::from(account.per_24_hours) {
            return Ok(Some(format!(
                "{} starts at most {} Jules sessions in 24 hours, and {started} were started",
                account.whose(),
                account.per_24_hours
            )));
        }
    }
    if let Some(max) = settings.max_concurrent_sessions {
        let running = store.count_running(Some(repo)).await?;
        if running >= i64::from(max) {
            return Ok(Some(format!("This repository runs at most {max} Jules sessions at once, and {running} are running")));
        }
    }
    if let Some(budget) = settings.daily_session_budget {
        let now = Utc::now();
        let midnight = now
            .with_hour(0)
            .and_then(|t| t.with_minute(0))
            .and_then(|t| t.with_second(0))
            .and_then(|t| t.with_nanosecond(0))
            .unwrap_or(now);
        let today = store.count_created_since(Some(repo), midnight).await?;
        if today >= i64::from(budget) {
            return Ok(Some(format!("This repository's budget of {budget} Jules sessions per day is used up (it resets at 00:00 UTC)")));
        }
    }
    Ok(None)
}

#[async_trait]
impl CreateGate for RepoGate {
    async fn admit(
        &self,
        repo: &RepoName,
        issue: u64,
        settings: &Settings,
    ) -> Result<Admission, HandlerError> {
        let repo_limited =
            settings.max_concurrent_sessions.is_some() || settings.daily_session_budget.is_some();
        let turn = match (self.account.is_some(), repo_limited) {
            (true, _) => Some("admit:account".to_owned()),
            (false, true) => Some(format!("admit:{repo}")),
            (false, false) => None,
        };
        if let Some(key) = turn {
            self.take_turn(key).await?;
        }
        match over_limits(
            self.store.as_ref(),
            &repo.to_string(),
            settings,
            self.account.as_ref(),
        )
        .await
        .map_err(store_error)?
        {
            None => Ok(Admission::Go),
            Some(reason) => {
                let position = self.queue(repo, issue).await?;
                Ok(Admission::Queued { position, reason })
            }
        }
    }

    async fn first_reply(&self, key: &str) -> Result<bool, HandlerError> {
        self.store
            .record_reply(self.delivery_id, key)
            .await
            .map_err(store_error)
    }

    async fn forget_reply(&self, key: &str) -> Result<(), HandlerError> {
        self.store
            .forget_reply(self.delivery_id, key)
            .await
            .map_err(store_error)
    }

    async fn tracked_session(
        &self,
        repo: &RepoName,
        issue: u64,
    ) -> Result<Option<TrackedRef>, HandlerError> {
        let tracked = self
            .store
            .session_for_issue(&repo.to_string(), issue as i64)
            .await
            .map_err(store_error)?;
        Ok(tracked.map(|tracked| TrackedRef {
            name: tracked.name,
            status_comment_id: tracked.status_comment_id.map(|id| id as u64),
            requester: tracked.requester,
        }))
    }

    async fn queue(&self, repo: &RepoName, issue: u64) -> Result<i64, HandlerError> {
        let queued = self
            .store
            .enqueue_request(&repo.to_string(), issue as i64, self.delivery_id)
            .await
            .map_err(store_error)?;
        Ok(self
            .store
            .queue_position(queued.id)
            .await
            .map_err(store_error)?
            .unwrap_or(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_name_jules_published_limits_or_numbers() {
        let pro = AccountLimits::parse("Pro").unwrap().unwrap();
        assert_eq!((pro.concurrent, pro.per_24_hours), (15, 100));
        let free = AccountLimits::parse("free").unwrap().unwrap();
        assert_eq!((free.concurrent, free.per_24_hours), (3, 15));
        let ultra = AccountLimits::parse(" ultra ").unwrap().unwrap();
        assert_eq!((ultra.concurrent, ultra.per_24_hours), (60, 300));
        let own = AccountLimits::parse("5/50").unwrap().unwrap();
        assert_eq!((own.plan, own.concurrent, own.per_24_hours), (None, 5, 50));
        assert_eq!(AccountLimits::parse("").unwrap(), None);
        assert_eq!(AccountLimits::parse("none").unwrap(), None);
        for bad in ["premium", "5", "0/10", "5/x", "-1/3"] {
            let error = AccountLimits::parse(bad).unwrap_err();
            assert!(error.contains("free, pro, ultra"), "{bad}: {error}");
        }
    }
}
