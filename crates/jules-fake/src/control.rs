//! The `/_fake/` control API (no auth): fault injection, stats, manual stepping, reset.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::errors::ApiError;
use crate::faults::FaultConfig;
use crate::lifecycle;
use crate::state::{App, Quirks, Store};

pub fn router() -> Router<Arc<App>> {
    Router::new()
        .route("/faults", get(get_faults).post(set_faults))
        .route("/stats", get(stats))
        .route("/requests", get(requests).delete(clear_requests))
        .route("/step", post(step))
        .route("/reset", post(reset))
        .route("/quirks", get(get_quirks).post(set_quirks))
        .route("/clock", get(get_clock).post(move_clock))
}

async fn get_faults(State(app): State<Arc<App>>) -> Json<FaultConfig> {
    Json(app.store().faults.config.clone())
}

/// Replaces the whole fault configuration; omitted fields take their defaults.
async fn set_faults(
    State(app): State<Arc<App>>,
    body: Bytes,
) -> Result<Json<FaultConfig>, ApiError> {
    let config: FaultConfig = if body.iter().all(u8::is_ascii_whitespace) {
        FaultConfig::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|error| ApiError::invalid_argument(format!("Invalid fault config: {error}")))?
    };
    config.validate().map_err(ApiError::invalid_argument)?;
    app.store().faults.config = config.clone();
    tracing::info!(?config, "fault config replaced");
    Ok(Json(config))
}

async fn stats(State(app): State<Arc<App>>) -> Json<Value> {
    let store = app.store();
    let total: u64 = store.requests.values().sum();
    Json(json!({
        "requests": store.requests,
        "total": total,
        "sessions": store.sessions.len(),
    }))
}

/// The request log: `{"requests": [{"time", "method", "path"}]}`, oldest first.
async fn requests(State(app): State<Arc<App>>) -> Json<Value> {
    let store = app.store();
    let requests: Vec<Value> = store
        .request_log
        .iter()
        .map(|record| {
            json!({
                "time": crate::clock::format_timestamp(&record.time),
                "method": record.method,
                "path": record.path,
            })
        })
        .collect();
    Json(json!({ "requests": requests }))
}

async fn clear_requests(State(app): State<Arc<App>>) -> Json<Value> {
    app.store().request_log.clear();
    Json(json!({}))
}

/// Advances every session that has work by one step, now. Answers how many moved.
async fn step(State(app): State<Arc<App>>) -> Json<Value> {
    let stepped = lifecycle::step_all(&mut app.store());
    Json(json!({ "stepped": stepped }))
}

async fn reset(State(app): State<Arc<App>>) -> Json<Value> {
    app.store().reset();
    Json(json!({}))
}

async fn get_quirks(State(app): State<Arc<App>>) -> Json<Quirks> {
    Json(app.store().quirks.clone())
}

/// Replaces the quirk switches; omitted fields are off, an empty body turns all off.
async fn set_quirks(State(app): State<Arc<App>>, body: Bytes) -> Result<Json<Quirks>, ApiError> {
    let quirks: Quirks = if body.iter().all(u8::is_ascii_whitespace) {
        Quirks::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|error| ApiError::invalid_argument(format!("Invalid quirks: {error}")))?
    };
    app.store().quirks = quirks.clone();
    tracing::info!(?quirks, "quirks replaced");
    Ok(Json(quirks))
}

async fn get_clock(State(app): State<Arc<App>>) -> Json<Value> {
    let now = app.store().clock.current();
    Json(json!({ "now": crate::clock::format_timestamp(&now) }))
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ClockMove {
    advance_ms: u64,
}

/// `{"advanceMs": N}`: moves the fake's time forward (quota windows, auto-approve timers).
async fn move_clock(State(app): State<Arc<App>>, body: Bytes) -> Result<Json<Value>, ApiError> {
    let request: ClockMove = serde_json::from_slice(&body)
        .map_err(|error| ApiError::invalid_argument(format!("Invalid clock move: {error}")))?;
    let mut store = app.store();
    advance_clock(
        &mut store,
        std::time::Duration::from_millis(request.advance_ms),
    );
    let now = store.clock.current();
    Ok(Json(json!({ "now": crate::clock::format_timestamp(&now) })))
}

/// Moves time, then lets timers that fell due fire, so a test sees their effect at once.
pub fn advance_clock(store: &mut Store, by: std::time::Duration) {
    let by = chrono::TimeDelta::from_std(by).unwrap_or(chrono::TimeDelta::days(36_500));
    store.clock.advance(by);
    lifecycle::fire_timers(store);
}
