//! Fault injection, configured through `POST /_fake/faults`: random or scripted transient
//! errors, added latency, the "activities 404 right after create" window, and create
//! responses that are lost after the session was committed.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::api::METHOD_NAMES;
use crate::errors::ApiError;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct FaultConfig {
    /// Probability (0..=1) that a matching request is answered with `error_status`.
    pub error_rate: f64,
    /// 429, 500, 503 or 504 for injected transient errors; 400, 401, 403 or 404 for
    /// permanent answers.
    pub error_status: u16,
    /// The next N matching requests fail with `error_status` (before `error_rate` applies).
    pub fail_next: u32,
    /// Adds `Retry-After: N` to injected errors.
    pub retry_after_seconds: Option<u64>,
    /// Delay before every /v1alpha answer.
    pub latency_ms: u64,
    /// activities.list/get answer 404 for this long after a session's creation.
    pub activities_not_found_ms: u64,
    /// The next N successful sessions.create calls commit, then drop the connection.
    pub drop_create_responses: u32,
    /// Restricts `error_rate` and `fail_next` to these methods (default: all).
    pub methods: Option<Vec<String>>,
}

impl Default for FaultConfig {
    fn default() -> Self {
        Self {
            error_rate: 0.0,
            error_status: 503,
            fail_next: 0,
            retry_after_seconds: None,
            latency_ms: 0,
            activities_not_found_ms: 0,
            drop_create_responses: 0,
            methods: None,
        }
    }
}

impl FaultConfig {
    pub fn validate(&self) -> Result<(), String> {
        if !(0.0..=1.0).contains(&self.error_rate) {
            return Err(format!(
                "errorRate must be between 0 and 1, got {}",
                self.error_rate
            ));
        }
        if ApiError::injectable(self.error_status).is_none() {
            return Err(format!(
                "errorStatus must be 400, 401, 403, 404, 429, 500, 503 or 504, got {}",
                self.error_status
            ));
        }
        for method in self.methods.iter().flatten() {
            if !METHOD_NAMES.contains(&method.as_str()) {
                return Err(format!(
                    "unknown method \"{method}\"; expected one of {METHOD_NAMES:?}"
                ));
            }
        }
        Ok(())
    }
}

/// The live fault state; the counters in the config count down as faults fire.
#[derive(Debug, Default)]
pub struct Faults {
    pub config: FaultConfig,
}

impl Faults {
    pub fn latency(&self) -> Duration {
        Duration::from_millis(self.config.latency_ms)
    }

    fn applies_to(&self, method: &str) -> bool {
        self.config
            .methods
            .as_ref()
            .is_none_or(|methods| methods.iter().any(|m| m == method))
    }

    /// Decides whether this request is answered with an injected error.
    pub fn injected_error(&mut self, method: &str) -> Option<ApiError> {
        if !self.applies_to(method) {
            return None;
        }
        let fire = if self.config.fail_next > 0 {
            self.config.fail_next -= 1;
            true
        } else {
            self.config.error_rate > 0.0 && rand::random::<f64>() < self.config.error_rate
        };
        if !fire {
            return None;
        }
        let mut error = ApiError::injectable(self.config.error_status)?;
        error.retry_after_seconds = self.config.retry_after_seconds;
        Some(error)
    }

    /// Whether the response of a create that just committed must be lost.
    pub fn take_dropped_create(&mut self) -> bool {
        if self.config.drop_create_responses == 0 {
            return false;
        }
        self.config.drop_create_responses -= 1;
        true
    }

    pub fn activities_hidden(&self, session_age: Duration) -> bool {
        session_age < Duration::from_millis(self.config.activities_not_found_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fail_next_counts_down_and_respects_methods() {
        let mut faults = Faults {
            config: FaultConfig {
                fail_next: 2,
                error_status: 429,
                retry_after_seconds: Some(3),
                methods: Some(vec!["sessions.create".into()]),
                ..FaultConfig::default()
            },
        };
        assert!(faults.injected_error("sessions.get").is_none());
        let error = faults
            .injected_error("sessions.create")
            .expect("first scripted failure");
        assert_eq!(error.status, "RESOURCE_EXHAUSTED");
        assert_eq!(error.retry_after_seconds, Some(3));
        assert!(faults.injected_error("sessions.create").is_some());
        assert!(faults.injected_error("sessions.create").is_none());
    }

    #[test]
    fn permanent_answers_can_be_injected_with_googles_status() {
        for (code, status) in [
            (400, "INVALID_ARGUMENT"),
            (401, "UNAUTHENTICATED"),
            (403, "PERMISSION_DENIED"),
            (404, "NOT_FOUND"),
        ] {
            let config = FaultConfig {
                fail_next: 1,
                error_status: code,
                ..FaultConfig::default()
            };
            assert!(config.validate().is_ok(), "{code}");
            let mut faults = Faults { config };
            let error = faults.injected_error("sessions.create").expect("injected");
            assert_eq!((error.code.as_u16(), error.status), (code, status));
            assert!(faults.injected_error("sessions.create").is_none());
        }
    }

    #[test]
    fn validation_rejects_nonsense() {
        let bad_rate = FaultConfig {
            error_rate: 2.0,
            ..FaultConfig::default()
        };
        assert!(bad_rate.validate().is_err());
        let bad_status = FaultConfig {
            error_status: 418,
            ..FaultConfig::default()
        };
        assert!(bad_status.validate().is_err());
        let bad_method = FaultConfig {
            methods: Some(vec!["sessions.patch".into()]),
            ..FaultConfig::default()
        };
        assert!(bad_method.validate().is_err());
        assert!(FaultConfig::default().validate().is_ok());
    }
}
