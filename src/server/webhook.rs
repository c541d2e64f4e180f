//! `POST /webhook`: verify, persist, acknowledge. Nothing here calls GitHub or Jules: a
//! delivery is stored (unique on hook id + delivery id) before the 2xx, and workers do the
//! rest, so a slow Jules never makes GitHub time out and a crash loses nothing acknowledged.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use hmac::{Hmac, KeyInit, Mac};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use sha2::Sha256;

use super::AppState;
use crate::engine::event::EventKind;
use crate::engine::triage::{triage, Triage};
use crate::payload::parse_event;
use crate::store::{DeliveryStatus, Inserted, NewDelivery};

/// GitHub never sends more than 25 MB.
pub const MAX_BODY: usize = 25 * 1024 * 1024;

/// True when `signature` (`sha256=<hex>`) is the HMAC-SHA256 of `body` under any of
/// `secrets` (several at once during a rotation). The comparison is constant-time.
pub fn verify_signature(secrets: &[SecretString], body: &[u8], signature: Option<&str>) -> bool {
    let Some(hex_digest) = signature.and_then(|s| s.trim().strip_prefix("sha256=")) else {
        return false;
    };
    let Ok(expected) = hex::decode(hex_digest) else {
        return false;
    };
    secrets.iter().any(|secret| {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.expose_secret().as_bytes()) else {
            return false;
        };
        mac.update(body);
        mac.verify_slice(&expected).is_ok()
    })
}

/// The payload's top-level `action`, for the delivery list: one scan that skips everything
/// else without building it (a `serde_json::Value` of a 13 KB payload was a third of the
/// handler's time).
fn action_of(body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Action<'a> {
        #[serde(borrow)]
        action: Option<std::borrow::Cow<'a, str>>,
    }
    serde_json::from_slice::<Action>(body)
        .ok()?
        .action
        .map(std::borrow::Cow::into_owned)
}

fn reply(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "message": message }))).into_response()
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get(name)
        .and_then(|value| value.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

pub async fn receive(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let event = header(&headers, "x-github-event").unwrap_or("").to_owned();

    // Until the signature is verified the headers are anyone's: nothing from them goes into
    // a metric label (each value would be a new series).
    if !verify_signature(
        &state.secrets,
        &body,
        header(&headers, "x-hub-signature-256"),
    ) {
        state.metrics.unverified_delivery("rejected");
        return reply(
            StatusCode::UNAUTHORIZED,
            "missing or invalid X-Hub-Signature-256",
        );
    }
    // Verified: known event names label the counts, any other name counts as `other`.
    let outcome = |label: &'static str| state.metrics.delivery(&event, label);
    if event.is_empty() {
        outcome("rejected");
        return reply(StatusCode::BAD_REQUEST, "missing X-GitHub-Event");
    }
    let Some(delivery_id) = header(&headers, "x-github-delivery").map(str::to_owned) else {
        outcome("rejected");
        return reply(StatusCode::BAD_REQUEST, "missing X-GitHub-Delivery");
    };
    let hook_id = header(&headers, "x-github-hook-id")
        .unwrap_or("")
        .to_owned();

    // A hook can be configured to send form-encoded bodies with the JSON in `payload`.
    let json_body = match header(&headers, "content-type") {
        Some(kind) if kind.starts_with("application/x-www-form-urlencoded") => {
            match url::form_urlencoded::parse(&body).find(|(key, _)| key == "payload") {
                Some((_, payload)) => Bytes::from(payload.into_owned().into_bytes()),
                None => {
                    outcome("rejected");
                    return reply(
                        StatusCode::BAD_REQUEST,
                        "form-encoded delivery without a `payload` field",
                    );
                }
            }
        }
        _ => body,
    };

    if event == "ping" {
        outcome("ping");
        return reply(StatusCode::OK, "pong");
    }

    // What needs no worker is stored finished, in the same commit that makes it durable:
    // events the bridge does not act on as `ignored`, comments that hold no command under any
    // prefix as `done` (engine::triage says why that never drops one).
    let (status, note, parsed) = match parse_event(&event, &json_body) {
        Ok(parsed) => match (&parsed.kind, triage(&parsed)) {
            (EventKind::Ignored { reason }, _) => {
                (DeliveryStatus::Ignored, Some(reason.clone()), Some(parsed))
            }
            (_, Triage::NoWork(reason)) => (
                DeliveryStatus::Done,
                Some(format!("ignored: {reason}")),
                Some(parsed),
            ),
            (_, Triage::Work) => (DeliveryStatus::Pending, None, Some(parsed)),
        },
        // Kept for the operator (nothing is lost), answered 400 so GitHub shows the failure.
        Err(error) => (DeliveryStatus::Ignored, Some(error.to_string()), None),
    };
    let action = action_of(&json_body);
    let repo = parsed
        .as_ref()
        .and_then(|p| p.repo.as_ref())
        .map(|r| r.name.to_string());
    let issue_key = parsed.as_ref().and_then(|p| {
        let issue = p.kind.issue()?;
        Some(format!("{}#{}", p.repo.as_ref()?.name, issue.number))
    });
    let delivery = NewDelivery {
        hook_id,
        delivery_id,
        event: event.clone(),
        action,
        installation_id: parsed
            .as_ref()
            .and_then(|p| p.installation_id)
            .map(|id| id as i64),
        repo,
        issue_key,
        body: json_body.to_vec(),
        status,
        note: note.clone(),
    };
    // Through the group-commit writer: durable (committed) once this returns.
    match state.ingest.insert(delivery).await {
        Ok(Inserted::Duplicate(id)) => {
            outcome("duplicate");
            (
                StatusCode::OK,
                Json(json!({"message": "already received", "id": id})),
            )
                .into_response()
        }
        Ok(Inserted::New(id)) if parsed.is_none() => {
            outcome("malformed");
            let message = note.unwrap_or_default();
            (
                StatusCode::BAD_REQUEST,
                Json(json!({"message": message, "id": id})),
            )
                .into_response()
        }
        Ok(Inserted::New(id)) if status == DeliveryStatus::Ignored => {
            outcome("ignored");
            (
                StatusCode::ACCEPTED,
                Json(json!({"message": "ignored", "reason": note, "id": id})),
            )
                .into_response()
        }
        Ok(Inserted::New(id)) if status == DeliveryStatus::Done => {
            outcome("done_at_ingest");
            (
                StatusCode::ACCEPTED,
                Json(json!({"message": "done", "reason": note, "id": id})),
            )
                .into_response()
        }
        Ok(Inserted::New(id)) => {
            outcome("accepted");
            state.work.notify_one();
            (
                StatusCode::ACCEPTED,
                Json(json!({"message": "accepted", "id": id})),
            )
                .into_response()
        }
        Err(error) => {
            tracing::error!(%error, "cannot store a delivery");
            outcome("error");
            reply(
                StatusCode::SERVICE_UNAVAILABLE,
                "cannot store the delivery; redeliver it later",
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_action_is_read_without_building_the_payload() {
        assert_eq!(
            action_of(br#"{"zen":"x","action":"cr\u0065ated","issue":{"n":[1,2]}}"#).as_deref(),
            Some("created")
        );
        assert_eq!(action_of(br#"{"zen":"no action"}"#), None);
        assert_eq!(action_of(b"not json"), None);
    }

    #[test]
    fn githubs_published_test_vector() {
        let secrets = vec![SecretString::from("It's a Secret to Everybody".to_owned())];
        let signature = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        assert!(verify_signature(
            &secrets,
            b"Hello, World!",
            Some(signature)
        ));
        assert!(!verify_signature(
            &secrets,
            b"Hello, World?",
            Some(signature)
        ));
        assert!(!verify_signature(&secrets, b"Hello, World!", None));
        assert!(!verify_signature(
            &secrets,
            b"Hello, World!",
            Some("sha1=757107ea")
        ));
    }

    #[test]
    fn any_configured_secret_verifies_during_a_rotation() {
        let secrets = vec![
            SecretString::from("new-secret".to_owned()),
            SecretString::from("It's a Secret to Everybody".to_owned()),
        ];
        let signature = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        assert!(verify_signature(
            &secrets,
            b"Hello, World!",
            Some(signature)
        ));
    }
}
