//! The live service's limits, per API key (the fake has no projects or Google accounts, so a
//! key stands for both): `activities.list` at 120 requests per rolling minute, and the plan's
//! task limits on creation, concurrent sessions and sessions per rolling 24 hours.
//!
//! Windows are measured on the fake's clock, so a test moves past them with
//! `POST /_fake/clock` instead of waiting.

use std::collections::{HashMap, VecDeque};

use chrono::TimeDelta;
use serde_json::{json, Value};

use crate::clock::Timestamp;
use crate::errors::ApiError;

/// The quota Google names in its 429 for `activities.list`.
pub const LIST_ACTIVITIES_QUOTA: &str = "ListActivitiesRequestsPerMinutePerProject";

/// Limits the fake enforces; `None` means unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// `activities.list` requests per rolling minute and key (live: 120).
    pub list_activities_per_minute: Option<u32>,
    /// Sessions of one key still running (QUEUED, PLANNING, AWAITING_*, IN_PROGRESS) at once
    /// (Pro plan: 15). PAUSED, COMPLETED, FAILED and deleted sessions do not count.
    pub concurrent_sessions: Option<u32>,
    /// Sessions one key may create per rolling 24 hours, deleted ones included (Pro plan: 100).
    pub sessions_per_day: Option<u32>,
}

impl Default for Limits {
    /// The live service's numbers (the Pro plan's task limits).
    fn default() -> Self {
        Self {
            list_activities_per_minute: Some(120),
            concurrent_sessions: Some(15),
            sessions_per_day: Some(100),
        }
    }
}

impl Limits {
    /// No limits at all: for load tests and benchmarks that legitimately exceed the real ones.
    pub fn unlimited() -> Self {
        Self {
            list_activities_per_minute: None,
            concurrent_sessions: None,
            sessions_per_day: None,
        }
    }
}

/// What each key has used inside the current windows.
#[derive(Debug, Default)]
pub struct Quotas {
    list_activities: HashMap<String, VecDeque<Timestamp>>,
    creates: HashMap<String, VecDeque<Timestamp>>,
}

/// Keeps only the uses newer than `window` and says whether one more fits under `limit`.
fn fits(uses: &mut VecDeque<Timestamp>, now: Timestamp, window: TimeDelta, limit: u32) -> bool {
    while uses.front().is_some_and(|used| *used <= now - window) {
        uses.pop_front();
    }
    uses.len() < limit as usize
}

impl Quotas {
    /// Counts one `activities.list` call, or refuses it once the minute's quota is used up.
    /// Refused calls do not use quota, as with Google's rate quotas.
    pub fn admit_list_activities(
        &mut self,
        limits: &Limits,
        key: &str,
        now: Timestamp,
    ) -> Result<(), ApiError> {
        let Some(limit) = limits.list_activities_per_minute else {
            return Ok(());
        };
        let uses = self.list_activities.entry(key.to_owned()).or_default();
        if !fits(uses, now, TimeDelta::minutes(1), limit) {
            return Err(rate_limit_exceeded(limit));
        }
        uses.push_back(now);
        Ok(())
    }

    /// Whether one more session may be created by `key`, which has `running` sessions now.
    pub fn check_create(
        &mut self,
        limits: &Limits,
        key: &str,
        now: Timestamp,
        running: usize,
    ) -> Result<(), ApiError> {
        if let Some(limit) = limits.concurrent_sessions {
            if running >= limit as usize {
                return Err(plan_limit(
                    "concurrent sessions",
                    limit,
                    "sessions that are still running",
                ));
            }
        }
        if let Some(limit) = limits.sessions_per_day {
            let uses = self.creates.entry(key.to_owned()).or_default();
            if !fits(uses, now, TimeDelta::hours(24), limit) {
                return Err(plan_limit(
                    "sessions per day",
                    limit,
                    "sessions created in the last 24 hours",
                ));
            }
        }
        Ok(())
    }

    /// A session was committed for `key`.
    pub fn record_create(&mut self, key: &str, now: Timestamp) {
        self.creates
            .entry(key.to_owned())
            .or_default()
            .push_back(now);
    }
}

/// Google's rate-quota answer: the generic message shape of its front end, and an
/// `ErrorInfo` whose metadata names the quota (how clients recognise which limit it was).
fn rate_limit_exceeded(limit: u32) -> ApiError {
    let mut error = ApiError::resource_exhausted(format!(
        "Quota exceeded for quota metric 'List activities requests' and limit 'List activities requests per minute per project' of service 'jules.googleapis.com' for consumer 'project_number:{PROJECT_NUMBER}'."
    ));
    error.details.push(json!({
        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
        "reason": "RATE_LIMIT_EXCEEDED",
        "domain": "googleapis.com",
        "metadata": {
            "service": "jules.googleapis.com",
            "consumer": format!("projects/{PROJECT_NUMBER}"),
            "quota_metric": "jules.googleapis.com/list_activities_requests",
            "quota_limit": LIST_ACTIVITIES_QUOTA,
            "quota_limit_value": limit.to_string(),
            "quota_location": "global",
        },
    }));
    error
}

/// How the live service reports a plan limit is not documented; the contract only says to
/// expect 429 `RESOURCE_EXHAUSTED`. The `QuotaFailure` detail is the fake's, for humans.
fn plan_limit(name: &str, limit: u32, counted: &str) -> ApiError {
    let mut error = ApiError::resource_exhausted("Resource has been exhausted (e.g. check quota).");
    error.details.push(quota_failure(
        name,
        &format!("At most {limit} {counted}; try again later."),
    ));
    error
}

fn quota_failure(subject: &str, description: &str) -> Value {
    json!({
        "@type": "type.googleapis.com/google.rpc.QuotaFailure",
        "violations": [{"subject": subject, "description": description}],
    })
}

/// The fake's stand-in for the Cloud project number behind every key.
const PROJECT_NUMBER: u64 = 123_456_789_012;

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    #[test]
    fn the_minute_window_rolls() {
        let limits = Limits {
            list_activities_per_minute: Some(2),
            ..Limits::unlimited()
        };
        let mut quotas = Quotas::default();
        let start = Utc::now();
        assert!(quotas.admit_list_activities(&limits, "k", start).is_ok());
        assert!(quotas.admit_list_activities(&limits, "k", start).is_ok());
        let refused = quotas
            .admit_list_activities(&limits, "k", start + TimeDelta::seconds(59))
            .expect_err("third in the minute");
        assert_eq!(refused.status, "RESOURCE_EXHAUSTED");
        assert!(quotas
            .admit_list_activities(&limits, "other", start)
            .is_ok());
        assert!(quotas
            .admit_list_activities(&limits, "k", start + TimeDelta::seconds(60))
            .is_ok());
    }

    #[test]
    fn unlimited_never_refuses() {
        let mut quotas = Quotas::default();
        let now = Utc::now();
        for _ in 0..1000 {
            assert!(quotas
                .admit_list_activities(&Limits::unlimited(), "k", now)
                .is_ok());
            assert!(quotas
                .check_create(&Limits::unlimited(), "k", now, 10_000)
                .is_ok());
            quotas.record_create("k", now);
        }
    }
}
