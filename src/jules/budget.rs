//! Request budgets: Jules enforces per-project request quotas (observed: `activities.list` at
//! 120 requests per minute) without announcing them in headers. A client given a budget asks
//! it before every request, so the caller slows down instead of collecting 429s.

use std::sync::Arc;

/// A shared allowance of API calls. `spend` answers whether the call may go out: a budget
/// may wait for room before saying yes (a person's command), or say no at once so the caller
/// tries again later (the relay's next tick). Calls it does not limit go through at once.
#[async_trait::async_trait]
pub trait RequestBudget: Send + Sync {
    async fn spend(&self, method: &'static str) -> bool;
}

/// A budget as [`super::ClientConfig`] holds it.
#[derive(Clone)]
pub struct SharedBudget(pub Arc<dyn RequestBudget>);

impl std::fmt::Debug for SharedBudget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SharedBudget")
    }
}

/// The methods under a known quota.
pub const QUOTA_LIMITED: &[&str] = &["activities.list"];
