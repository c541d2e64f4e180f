//! Repository limits (`max_concurrent_sessions`, `daily_session_budget`) and the queue of
//! requests waiting for a slot. A queued request keeps its delivery; the relay replays it when
//! the repository has room again (and, for Jules' own "at limit", after a pause).

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{Timelike, Utc};

use crate::engine::event::RepoName;
use crate::handler::{Admission, CreateGate, HandlerError, Settings, TrackedRef};
use crate::store::{Store, StoreError};

/// The gate for one delivery.
pub struct RepoGate {
    pub store: Arc<dyn Store>,
    pub delivery_id: i64,
}

fn store_error(error: StoreError) -> HandlerError {
    HandlerError::Store(error.to_string())
}

/// Why the repository is full, or `None` when it has room.
pub async fn over_limits(
    store: &dyn Store,
    repo: &str,
    settings: &Settings,
) -> Result<Option<String>, StoreError> {
    if let Some(max) = settings.max_concurrent_sessions {
        let running = store.count_running(repo).await?;
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
        let today = store.count_created_since(repo, midnight).await?;
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
        match over_limits(self.store.as_ref(), &repo.to_string(), settings)
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
