//! The one error type of the Jules client.
//!
//! It keeps what a caller branches on (HTTP status, Google `status`, the `reason` from
//! `details`) and what a person needs to read (the server's message). It never holds the API
//! key: the key travels only in a header, and transport errors are stored without their URL.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;

/// A Google-style error answer: `{"error": {"code", "message", "status", "details"}}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status code.
    pub http_status: u16,
    /// The canonical Google status (`NOT_FOUND`, `RESOURCE_EXHAUSTED`, ...); empty if the
    /// body was not a Google error.
    pub status: String,
    /// `details[].reason` of the `ErrorInfo` detail (`CREDENTIALS_MISSING`, ...), if any.
    pub reason: Option<String>,
    /// The server's message, as sent.
    pub message: String,
    /// How long the server asked us to wait (`Retry-After`).
    pub retry_after: Option<Duration>,
}

impl ApiError {
    /// Builds the error from a non-2xx answer. Bodies that are not Google errors (a proxy's
    /// HTML page, say) keep a short excerpt as the message.
    pub fn from_response(http_status: u16, body: &[u8], retry_after: Option<Duration>) -> Self {
        #[derive(Deserialize)]
        struct Envelope {
            error: Body,
        }
        #[derive(Deserialize)]
        struct Body {
            #[serde(default)]
            message: String,
            #[serde(default)]
            status: String,
            #[serde(default)]
            details: Vec<Detail>,
        }
        #[derive(Deserialize)]
        struct Detail {
            #[serde(default)]
            reason: Option<String>,
        }

        match serde_json::from_slice::<Envelope>(body) {
            Ok(Envelope { error }) => ApiError {
                http_status,
                status: error.status,
                reason: error.details.into_iter().find_map(|detail| detail.reason),
                message: error.message,
                retry_after,
            },
            Err(_) => ApiError {
                http_status,
                status: String::new(),
                reason: None,
                message: excerpt(body),
                retry_after,
            },
        }
    }

    pub fn is_not_found(&self) -> bool {
        self.http_status == 404 || self.status == "NOT_FOUND"
    }

    /// Jules is at a plan limit (tasks per day, concurrent tasks) or rate limiting: retry later.
    pub fn is_at_limit(&self) -> bool {
        self.http_status == 429 || self.status == "RESOURCE_EXHAUSTED"
    }

    pub fn is_unauthenticated(&self) -> bool {
        self.http_status == 401 || self.status == "UNAUTHENTICATED"
    }

    pub fn is_failed_precondition(&self) -> bool {
        self.status == "FAILED_PRECONDITION"
    }

    /// A server-side failure that the official clients retry (500, 502, 503, 504).
    pub fn is_server_error(&self) -> bool {
        matches!(self.http_status, 500 | 502 | 503 | 504)
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.http_status)?;
        if !self.status.is_empty() {
            write!(f, " {}", self.status)?;
        }
        if let Some(reason) = &self.reason {
            write!(f, " ({reason})")?;
        }
        if !self.message.is_empty() {
            write!(f, ": {}", self.message)?;
        }
        Ok(())
    }
}

/// Everything that can go wrong talking to Jules.
#[derive(Debug, thiserror::Error)]
pub enum JulesError {
    /// Jules answered with an error.
    #[error("Jules API error {0}")]
    Api(ApiError),
    /// The request never got an answer (connection refused, reset, TLS, ...).
    #[error("could not reach the Jules API ({method}): {}", network_words(.detail))]
    Transport {
        method: &'static str,
        detail: String,
        /// The connection was never made, so the request surely was not processed.
        connect: bool,
    },
    /// No answer within the request timeout: the request may or may not have been processed.
    #[error("the Jules API did not answer {method} in time")]
    Timeout { method: &'static str },
    /// A 2xx answer whose body is not what the contract says.
    #[error("unexpected answer from the Jules API to {method}: {detail}")]
    Decode {
        method: &'static str,
        detail: String,
    },
    /// A non-idempotent call whose outcome could not be learnt; it was not repeated.
    #[error("the outcome of {method} is unknown (it may have gone through): {cause}")]
    OutcomeUnknown {
        method: &'static str,
        cause: Box<JulesError>,
    },
    /// Jules answered with a redirect that was not followed: one to another origin (the API
    /// key is only ever sent to the configured origin), or one past the redirect limit.
    #[error("the Jules API answered {method} with a redirect ({status}) that was not followed: {detail}")]
    Redirect {
        method: &'static str,
        status: u16,
        detail: String,
    },
    /// Looking for the session an earlier attempt may have created read `read` sessions (the
    /// lookup's limit) without reaching the attempt's time: whether it exists is unknown, so
    /// the request stops here rather than risk a duplicate session.
    #[error("cannot tell whether an earlier attempt created this session: more than {read} sessions were created since, beyond what one lookup reads")]
    LookupLimit { read: usize },
    /// Not sent: the bridge's own request budget for this method is spent for now (Jules'
    /// quotas, `budget.rs`). The caller tries again later; nothing reached Jules.
    #[error("not sent: the request budget for {method} is spent for now")]
    OverBudget { method: &'static str },
    /// Rejected before sending: a missing key, a bad base URL, ...
    #[error("{0}")]
    Config(String),
}

impl JulesError {
    /// The Google error, if Jules answered with one.
    pub fn api(&self) -> Option<&ApiError> {
        match self {
            JulesError::Api(api) => Some(api),
            JulesError::OutcomeUnknown { cause, .. } => cause.api(),
            _ => None,
        }
    }

    pub fn is_not_found(&self) -> bool {
        self.api().is_some_and(ApiError::is_not_found)
    }

    pub fn is_at_limit(&self) -> bool {
        self.api().is_some_and(ApiError::is_at_limit)
    }

    /// Converts a reqwest error without its URL (which could carry credentials if an operator
    /// put them in `JULES_API_URL`) and with the API method for context.
    pub(crate) fn from_reqwest(method: &'static str, err: reqwest::Error) -> Self {
        if err.is_timeout() {
            return JulesError::Timeout { method };
        }
        let connect = err.is_connect();
        let err = err.without_url();
        let mut detail = err.to_string();
        let mut source = std::error::Error::source(&err);
        while let Some(cause) = source {
            detail.push_str(": ");
            detail.push_str(&cause.to_string());
            source = cause.source();
        }
        JulesError::Transport {
            method,
            detail,
            connect,
        }
    }
}

/// A transport error in the words a person needs: "connection refused" or "unknown host"
/// rather than the HTTP stack's chain of causes, which is kept for everything else.
fn network_words(detail: &str) -> String {
    use super::retry::{fault_in, NetworkFault};
    match fault_in(detail) {
        Some(NetworkFault::ConnectionRefused) => "connection refused".to_owned(),
        Some(NetworkFault::UnknownHost) => {
            let cause = detail.rsplit(": ").next().unwrap_or(detail).trim();
            format!("unknown host (DNS: {cause})")
        }
        None => detail.to_owned(),
    }
}

fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    match text.char_indices().nth(200) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/jules");

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(format!("{FIXTURES}/{name}")).expect("fixture")
    }

    #[test]
    fn keeps_status_reason_and_message_of_a_google_error() {
        let error =
            ApiError::from_response(401, &fixture("err-401-credentials-missing.json"), None);
        assert_eq!(error.status, "UNAUTHENTICATED");
        assert_eq!(error.reason.as_deref(), Some("CREDENTIALS_MISSING"));
        assert!(error.is_unauthenticated());
        assert!(error
            .to_string()
            .starts_with("401 UNAUTHENTICATED (CREDENTIALS_MISSING): Request is missing"));
    }

    #[test]
    fn classifies_by_status_not_message() {
        let error = ApiError::from_response(
            400,
            &fixture("err-400-failed-precondition-create-session.json"),
            None,
        );
        assert!(error.is_failed_precondition());
        let error = ApiError::from_response(
            404,
            &fixture("err-404-not-found-activities-new-session.json"),
            None,
        );
        assert!(error.is_not_found());
    }

    #[test]
    fn network_faults_read_as_what_happened() {
        let refused = JulesError::Transport {
            method: "sessions.list",
            detail: "error sending request: client error (Connect): tcp connect error: Connection refused (os error 111)".into(),
            connect: true,
        };
        assert_eq!(
            refused.to_string(),
            "could not reach the Jules API (sessions.list): connection refused"
        );
        let unknown = JulesError::Transport {
            method: "sessions.list",
            detail: "error sending request: client error (Connect): dns error: failed to lookup address information: Name or service not known".into(),
            connect: true,
        };
        assert_eq!(
            unknown.to_string(),
            "could not reach the Jules API (sessions.list): unknown host (DNS: Name or service not known)"
        );
    }

    #[test]
    fn a_non_google_body_becomes_a_short_message() {
        let html = format!("<html>{}</html>", "x".repeat(1000));
        let error = ApiError::from_response(502, html.as_bytes(), None);
        assert!(error.is_server_error());
        assert!(error.message.chars().count() <= 201);
    }
}
