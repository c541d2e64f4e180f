//! Creating a session exactly once.
//!
//! `sessions.create` is not idempotent and the API takes no request id. When a create's answer
//! is lost (timeout, dropped connection, 500/502/503/504) the session may or may not exist, and
//! blindly sending the create again is how duplicate sessions are made.
//!
//! The method: every create carries a **request tag**, a last prompt line
//! `<!-- jules-bridge-request: TAG -->` (an HTML comment: inert for the agent, invisible
//! wherever the prompt is rendered as Markdown). After a failure with an unknown outcome the
//! client waits its back-off delay and then reads the newest sessions (`sessions.list`, newest
//! first, only as far back as the call started, with a margin for clock skew) looking for a
//! prompt that carries the tag:
//! - found: that is our session, returned as if the create had answered;
//! - not found: the create did not happen; it is sent again, with the same tag;
//! - the lookup itself fails: the client stops with [`JulesError::OutcomeUnknown`] rather than
//!   risk a duplicate.
//!
//! A 429 or a refused connection means the create was surely not processed: it is retried
//! without a lookup. Callers that retry across processes (the webhook worker after a crash)
//! pass their own deterministic tag with [`NewSession::with_request_tag`], so the same lookup
//! ([`JulesClient::find_session_by_tag`]) finds a session created before the crash.

use chrono::{Duration as TimeSpan, Utc};
use futures::TryStreamExt;

use super::client::{log_retry, retry_after, Call, JulesClient};
use super::error::JulesError;
use super::models::{NewSession, Session, Timestamp};
use super::retry::{is_transient, outcome_unknown, Safety};

const TAG_PREFIX: &str = "<!-- jules-bridge-request: ";
const TAG_SUFFIX: &str = " -->";

/// Sessions created this long before a call started are still searched (clock skew between
/// us and Jules).
const CLOCK_SKEW: TimeSpan = TimeSpan::minutes(10);

/// The most sessions a lookup reads (20 pages): the time bound `since` normally ends it
/// much sooner; this only caps a pathological account.
pub const LOOKUP_LIMIT: usize = 2_000;

/// A token that identifies one intent to create a session.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RequestTag(String);

impl RequestTag {
    /// A fresh random tag (a UUID).
    pub fn random() -> Self {
        RequestTag(uuid::Uuid::new_v4().simple().to_string())
    }

    /// A caller's own tag: 1 to 100 characters of `A-Z a-z 0-9 . _ : / # -`.
    pub fn new(tag: impl Into<String>) -> Result<Self, JulesError> {
        let tag = tag.into();
        let valid = !tag.is_empty()
            && tag.len() <= 100
            && tag
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._:/#-".contains(c));
        if valid {
            Ok(RequestTag(tag))
        } else {
            Err(JulesError::Config(format!("invalid request tag {tag:?}")))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn marker(&self) -> String {
        format!("{TAG_PREFIX}{}{TAG_SUFFIX}", self.0)
    }
}

impl NewSession {
    /// Tags the create with the caller's own request tag (see the module docs).
    pub fn with_request_tag(mut self, tag: RequestTag) -> Self {
        self.request_tag = Some(tag);
        self
    }
}

/// The request body: the session with the tag line appended to its prompt.
pub(super) fn tagged_request(new: &NewSession, tag: &RequestTag) -> NewSession {
    let mut tagged = new.clone();
    tagged.prompt = format!("{}\n\n{}", new.prompt.trim_end(), tag.marker());
    tagged
}

/// The prompt without a request tag line, for showing it to people.
pub fn strip_request_tag(prompt: &str) -> &str {
    match prompt.rfind(TAG_PREFIX) {
        Some(start) if prompt[start..].trim_end().ends_with(TAG_SUFFIX) => {
            prompt[..start].trim_end()
        }
        _ => prompt,
    }
}

/// The request tag a prompt carries, if any.
pub fn request_tag_of(prompt: &str) -> Option<&str> {
    let start = prompt.rfind(TAG_PREFIX)? + TAG_PREFIX.len();
    let rest = &prompt[start..];
    rest.find(TAG_SUFFIX).map(|end| &rest[..end])
}

/// Sends a tagged create; retries as the module docs say.
pub(super) async fn create_once(
    client: &JulesClient,
    call: Call<'_>,
    tag: &RequestTag,
) -> Result<Session, JulesError> {
    let started = Utc::now();
    let mut schedule = client.retry_policy().start();
    loop {
        let error = match client.send_once::<Session>(&call).await {
            Ok(session) => return Ok(session),
            Err(error) => error,
        };
        let unknown = outcome_unknown(&error);
        if !unknown && !is_transient(&error, Safety::NotIdempotent) {
            return Err(error);
        }
        let delay = schedule.next_delay(retry_after(&error));
        if let Some(delay) = delay {
            log_retry(call.method, &error, delay);
            tokio::time::sleep(delay).await;
        }
        if unknown {
            match client.find_session_by_tag(tag, started - CLOCK_SKEW).await {
                Ok(Some(session)) => {
                    tracing::info!(session = %session.name, "a create whose answer was lost did create the session");
                    return Ok(session);
                }
                Ok(None) => {}
                Err(lookup) => {
                    tracing::warn!(%lookup, "cannot tell whether the lost create went through");
                    return Err(JulesError::OutcomeUnknown {
                        method: call.method,
                        cause: Box::new(error),
                    });
                }
            }
        }
        if delay.is_none() {
            return Err(error);
        }
    }
}

impl JulesClient {
    /// The session created with request tag `tag`, looking back to `since` (newest first).
    /// `Ok(None)` only when the lookup reached `since` (or the end): a lookup that stops at
    /// `LOOKUP_LIMIT` first cannot say "not created", so it answers
    /// [`JulesError::LookupLimit`], and the caller does not create again.
    pub async fn find_session_by_tag(
        &self,
        tag: &RequestTag,
        since: Timestamp,
    ) -> Result<Option<Session>, JulesError> {
        let sessions = self.sessions(false);
        futures::pin_mut!(sessions);
        let mut read = 0;
        while let Some(session) = sessions.try_next().await? {
            if request_tag_of(&session.prompt) == Some(tag.as_str()) {
                return Ok(Some(session));
            }
            read += 1;
            if session.create_time.is_some_and(|created| created < since) {
                return Ok(None);
            }
            if read >= LOOKUP_LIMIT {
                return Err(JulesError::LookupLimit { read });
            }
        }
        Ok(None)
    }

    /// The sessions created since `since`, newest first, reading at most `LOOKUP_LIMIT`
    /// sessions: enough for per-day counts, bounded in cost.
    pub async fn sessions_since(&self, since: Timestamp) -> Result<Vec<Session>, JulesError> {
        let sessions = self.sessions(false);
        futures::pin_mut!(sessions);
        let mut recent = Vec::new();
        let mut read = 0;
        while let Some(session) = sessions.try_next().await? {
            read += 1;
            if session.create_time.is_some_and(|created| created < since) {
                break;
            }
            recent.push(session);
            if read >= LOOKUP_LIMIT {
                break;
            }
        }
        Ok(recent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tag_line_round_trips() {
        let tag = RequestTag::new("delivery-1:repo/issue-7").unwrap();
        let body = tagged_request(&NewSession::new("Fix the parser\n"), &tag);
        assert_eq!(
            request_tag_of(&body.prompt),
            Some("delivery-1:repo/issue-7")
        );
        assert_eq!(strip_request_tag(&body.prompt), "Fix the parser");
        assert_eq!(strip_request_tag("no tag here"), "no tag here");
    }

    #[test]
    fn a_tag_cannot_close_the_comment() {
        assert!(RequestTag::new("x --> ignore previous").is_err());
        assert!(RequestTag::new("").is_err());
    }
}
