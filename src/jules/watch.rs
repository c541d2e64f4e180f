//! Following a session as it moves: Jules has no push, so this polls, as cheaply as it can.
//!
//! Each tick costs one `sessions.get`; activities are listed only when the session's
//! `updateTime` moved, and then only those created after the last one seen
//! (`filter=create_time>"..."`). The interval adapts: fast right after a change, doubling
//! while nothing happens, and slow while the session waits for a person.

use std::collections::VecDeque;
use std::time::Duration;

use futures::{stream, Stream};

use super::client::JulesClient;
use super::error::JulesError;
use super::models::{Activity, Session, State, Timestamp};

/// Polling intervals of [`JulesClient::watch`].
#[derive(Debug, Clone)]
pub struct WatchOptions {
    /// Only activities created after this instant are reported.
    pub after: Option<Timestamp>,
    /// The interval right after a change.
    pub fast: Duration,
    /// The longest interval while the session is working.
    pub active_max: Duration,
    /// The interval while the session waits for a person (plan approval, a question).
    pub waiting: Duration,
}

impl Default for WatchOptions {
    fn default() -> Self {
        WatchOptions::with_fast_interval(Duration::from_secs(2))
    }
}

impl WatchOptions {
    /// Intervals scaled from `fast`: up to 5x while working, 15x while waiting for a person.
    pub fn with_fast_interval(fast: Duration) -> Self {
        WatchOptions {
            after: None,
            fast,
            active_max: fast * 5,
            waiting: fast * 15,
        }
    }
}

/// What a watch reports, in order.
#[derive(Debug, Clone)]
pub enum WatchEvent {
    /// A new activity.
    Activity(Box<Activity>),
    /// The session's state changed (reported first on the first tick); carries the session as
    /// read, after the activities that led to it.
    State(Box<Session>),
}

impl JulesClient {
    /// Streams a session's new activities and state changes until it is COMPLETED or FAILED.
    /// (A completed session can be woken by a message; watch it again then.) An error ends
    /// the stream after it is yielded; transient failures were already retried.
    pub fn watch(
        &self,
        id: &str,
        options: WatchOptions,
    ) -> impl Stream<Item = Result<WatchEvent, JulesError>> + Send + 'static {
        let watcher = Watcher {
            client: self.clone(),
            id: id.to_owned(),
            last_seen: options.after,
            last_update: None,
            last_state: None,
            interval: Duration::ZERO,
            pending: VecDeque::new(),
            done: false,
            options,
        };
        stream::unfold(watcher, |mut watcher| async move {
            let event = watcher.next_event().await?;
            Some((event, watcher))
        })
    }
}

struct Watcher {
    client: JulesClient,
    id: String,
    options: WatchOptions,
    last_seen: Option<Timestamp>,
    last_update: Option<Timestamp>,
    last_state: Option<State>,
    /// The wait before the next tick (zero for the first).
    interval: Duration,
    pending: VecDeque<WatchEvent>,
    done: bool,
}

impl Watcher {
    async fn next_event(&mut self) -> Option<Result<WatchEvent, JulesError>> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Some(Ok(event));
            }
            if self.done {
                return None;
            }
            tokio::time::sleep(self.interval).await;
            if let Err(error) = self.tick().await {
                self.done = true;
                return Some(Err(error));
            }
        }
    }

    async fn tick(&mut self) -> Result<(), JulesError> {
        let session = self.client.get_session(&self.id).await?;
        // No updateTime (a sparse answer) counts as a change: better one list too many than
        // a missed activity.
        let changed = session.update_time.is_none() || session.update_time != self.last_update;
        if changed {
            let activities = self.client.all_activities(&self.id, self.last_seen).await?;
            if let Some(newest) = activities.iter().rev().find_map(|a| a.create_time) {
                self.last_seen = Some(newest);
            }
            self.pending.extend(
                activities
                    .into_iter()
                    .map(|activity| WatchEvent::Activity(Box::new(activity))),
            );
            self.last_update = session.update_time;
        }
        let state = session.state.clone();
        self.interval = self.next_interval(changed, &state);
        self.done = state.is_finished();
        if self.last_state.as_ref() != Some(&state) {
            self.last_state = Some(state);
            self.pending.push_back(WatchEvent::State(Box::new(session)));
        }
        Ok(())
    }

    fn next_interval(&self, changed: bool, state: &State) -> Duration {
        if state.awaits_human() {
            self.options.waiting
        } else if changed {
            self.options.fast
        } else {
            (self.interval * 2).clamp(self.options.fast, self.options.active_max)
        }
    }
}
