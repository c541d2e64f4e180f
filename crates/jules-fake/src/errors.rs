//! Google-style error bodies: `{"error":{"code":N,"message":"...","status":"...","details":[...]}}`.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

pub const NOT_FOUND_MESSAGE: &str = "Requested entity was not found.";
pub const PRECONDITION_MESSAGE: &str = "Precondition check failed.";

const CREDENTIALS_MISSING_MESSAGE: &str = "Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or other valid authentication credential.";
/// The real service answers a wrong API key with this (misleading) OAuth text.
const INVALID_KEY_MESSAGE: &str = "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.";

#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub code: StatusCode,
    pub status: &'static str,
    pub message: String,
    pub details: Vec<Value>,
    /// Sent as a `Retry-After` header (seconds) when set.
    pub retry_after_seconds: Option<u64>,
}

impl ApiError {
    fn new(code: StatusCode, status: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            status,
            message: message.into(),
            details: Vec::new(),
            retry_after_seconds: None,
        }
    }

    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "NOT_FOUND", NOT_FOUND_MESSAGE)
    }

    pub fn invalid_argument(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "INVALID_ARGUMENT", message)
    }

    /// A body that does not parse or names an unknown field.
    pub fn invalid_payload(detail: impl AsRef<str>) -> Self {
        Self::invalid_argument(format!(
            "Invalid JSON payload received. {}",
            detail.as_ref()
        ))
    }

    pub fn unknown_query_parameter(name: &str) -> Self {
        Self::invalid_payload(format!(
            "Unknown name \"{name}\": Cannot bind query parameter. Field '{name}' could not be found in request message."
        ))
    }

    pub fn failed_precondition() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "FAILED_PRECONDITION",
            PRECONDITION_MESSAGE,
        )
    }

    pub fn credentials_missing() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "UNAUTHENTICATED",
            CREDENTIALS_MISSING_MESSAGE,
        )
        .with_error_info("CREDENTIALS_MISSING")
    }

    pub fn invalid_api_key() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "UNAUTHENTICATED",
            INVALID_KEY_MESSAGE,
        )
        .with_error_info("ACCESS_TOKEN_TYPE_UNSUPPORTED")
    }

    /// 429, for quotas and plan limits.
    pub fn resource_exhausted(message: impl Into<String>) -> Self {
        Self::new(StatusCode::TOO_MANY_REQUESTS, "RESOURCE_EXHAUSTED", message)
    }

    /// The transient errors fault injection can produce, with the real service's texts.
    pub fn transient(code: u16) -> Option<Self> {
        let error = match code {
            429 => Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "RESOURCE_EXHAUSTED",
                "Resource has been exhausted (e.g. check quota).",
            ),
            500 => Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "INTERNAL",
                "Internal error encountered.",
            ),
            503 => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "UNAVAILABLE",
                "The service is currently unavailable.",
            ),
            504 => Self::new(
                StatusCode::GATEWAY_TIMEOUT,
                "DEADLINE_EXCEEDED",
                "The request timed out.",
            ),
            _ => return None,
        };
        Some(error)
    }

    /// Every error fault injection can produce: the transient ones, and the permanent answers
    /// a client must not retry (400 `INVALID_ARGUMENT`, 401 for a rejected key, 403
    /// `PERMISSION_DENIED`, 404 `NOT_FOUND`), with the real service's texts.
    pub fn injectable(code: u16) -> Option<Self> {
        let error = match code {
            400 => Self::invalid_argument("Request contains an invalid argument."),
            401 => Self::invalid_api_key(),
            403 => Self::new(
                StatusCode::FORBIDDEN,
                "PERMISSION_DENIED",
                "The caller does not have permission",
            ),
            404 => Self::not_found(),
            _ => return Self::transient(code),
        };
        Some(error)
    }

    fn with_error_info(mut self, reason: &str) -> Self {
        self.details.push(json!({
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": reason,
            "domain": "googleapis.com",
        }));
        self
    }

    pub fn body(&self) -> Value {
        let mut error = json!({
            "code": self.code.as_u16(),
            "message": self.message,
            "status": self.status,
        });
        if !self.details.is_empty() {
            error["details"] = Value::Array(self.details.clone());
        }
        json!({ "error": error })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.code, Json(self.body())).into_response();
        if let Some(seconds) = self.retry_after_seconds {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_credentials_body_matches_the_fixture() {
        let fixture = json!({
          "error": {
            "code": 401,
            "message": "Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or other valid authentication credential.",
            "status": "UNAUTHENTICATED",
            "details": [{
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "CREDENTIALS_MISSING",
                "domain": "googleapis.com"
            }]
          }
        });
        assert_eq!(ApiError::credentials_missing().body(), fixture);
    }

    #[test]
    fn precondition_body_matches_the_fixture() {
        let fixture = json!({"error": {"code": 400, "message": "Precondition check failed.", "status": "FAILED_PRECONDITION"}});
        assert_eq!(ApiError::failed_precondition().body(), fixture);
    }
}
