//! Fault injection (scripted and random errors, latency, the activities 404 window, lost
//! create responses), the control API, shutdown on drop, and the binary's contract.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{Harness, KEY};
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn fail_next_answers_transient_errors_with_retry_after() {
    let fake = Harness::manual().await;
    let set = fake
        .control(
            Method::POST,
            "faults",
            Some(json!({"failNext": 2, "errorStatus": 429, "retryAfterSeconds": 1, "methods": ["sessions.create"]})),
        )
        .await;
    assert_eq!(set.status, StatusCode::OK);
    let listed = fake.api(Method::GET, "sessions", None).await;
    assert_eq!(listed.status, StatusCode::OK, "other methods are spared");
    for _ in 0..2 {
        let reply = fake
            .api(Method::POST, "sessions", Some(json!({"prompt": "x"})))
            .await;
        assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(
            reply.body,
            json!({"error": {"code": 429, "message": "Resource has been exhausted (e.g. check quota).", "status": "RESOURCE_EXHAUSTED"}})
        );
        assert_eq!(
            reply
                .headers
                .get("retry-after")
                .and_then(|v| v.to_str().ok()),
            Some("1")
        );
    }
    fake.create(json!({"prompt": "x"})).await;
    assert_eq!(fake.server.session_count(), 1);
    assert_eq!(fake.server.request_count("sessions.create"), 3);
    let current = fake.control(Method::GET, "faults", None).await;
    assert_eq!(current.body["failNext"], 0, "the counter ran down");

    // errorRate 1 with 503 hits everything; reset clears faults, sessions and stats.
    fake.control(Method::POST, "faults", Some(json!({"errorRate": 1.0})))
        .await;
    let unavailable = fake.api(Method::GET, "sessions", None).await;
    assert_eq!(unavailable.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(unavailable.body["error"]["status"], "UNAVAILABLE");
    assert!(unavailable.headers.get("retry-after").is_none());
    let stats = fake.control(Method::GET, "stats", None).await;
    assert_eq!(stats.body["requests"]["sessions.list"], 2);
    assert_eq!(stats.body["total"], 5);
    assert_eq!(stats.body["sessions"], 1);

    fake.control(Method::POST, "reset", None).await;
    assert_eq!(
        fake.api(Method::GET, "sessions", None).await.status,
        StatusCode::OK
    );
    assert_eq!(fake.server.session_count(), 0);
    let stats = fake.control(Method::GET, "stats", None).await;
    assert_eq!(stats.body["total"], 1);

    let invalid = fake
        .control(Method::POST, "faults", Some(json!({"errorStatus": 418})))
        .await;
    assert_eq!(invalid.status, StatusCode::BAD_REQUEST);
    let typo = fake
        .control(Method::POST, "faults", Some(json!({"failnext": 1})))
        .await;
    assert_eq!(typo.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn activities_are_not_found_right_after_create_when_asked() {
    let fake = Harness::manual().await;
    fake.control(
        Method::POST,
        "faults",
        Some(json!({"activitiesNotFoundMs": 400, "latencyMs": 20})),
    )
    .await;
    let started = tokio::time::Instant::now();
    let id = fake.create(json!({"prompt": "x"})).await;
    assert!(
        started.elapsed() >= Duration::from_millis(20),
        "latency applies"
    );
    let early = fake
        .api(Method::GET, &format!("sessions/{id}/activities"), None)
        .await;
    assert_eq!(early.status, StatusCode::NOT_FOUND);
    assert_eq!(
        early.body,
        json!({"error": {"code": 404, "message": "Requested entity was not found.", "status": "NOT_FOUND"}})
    );
    assert_eq!(
        fake.state(&id).await,
        "QUEUED",
        "the session itself is visible"
    );
    tokio::time::sleep(Duration::from_millis(450)).await;
    let later = fake
        .api(Method::GET, &format!("sessions/{id}/activities"), None)
        .await;
    assert_eq!(later.status, StatusCode::OK);
}

#[tokio::test]
async fn a_dropped_create_response_still_commits_the_session() {
    let fake = Harness::manual().await;
    fake.control(
        Method::POST,
        "faults",
        Some(json!({"dropCreateResponses": 1})),
    )
    .await;
    // Invalid creates do not use up the drop.
    let invalid = fake
        .api(Method::POST, "sessions", Some(json!({"prompt": ""})))
        .await;
    assert_eq!(invalid.status, StatusCode::BAD_REQUEST);

    let error = fake
        .client
        .post(fake.url("/v1alpha/sessions"))
        .header("X-Goog-Api-Key", KEY)
        .json(&json!({"prompt": "lost answer"}))
        .send()
        .await
        .expect_err("the connection dies without a response");
    assert!(error.status().is_none(), "no HTTP status at all: {error:?}");
    assert_eq!(fake.server.session_count(), 1, "but the session exists");
    let listed = fake.get("sessions").await;
    assert_eq!(listed["sessions"][0]["prompt"], "lost answer");

    // Byte-level check: the server closes without sending a single byte.
    fake.control(
        Method::POST,
        "faults",
        Some(json!({"dropCreateResponses": 1})),
    )
    .await;
    let body = r#"{"prompt":"raw"}"#;
    let request = format!(
        "POST /v1alpha/sessions HTTP/1.1\r\nHost: x\r\nX-Goog-Api-Key: {KEY}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let addr = fake.server.addr();
    let received = tokio::task::spawn_blocking(move || -> std::io::Result<Vec<u8>> {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(addr)?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        stream.write_all(request.as_bytes())?;
        let mut received = Vec::new();
        // EOF (Ok) or a reset both mean "closed"; a timeout would fail below.
        match stream.read_to_end(&mut received) {
            Err(error)
                if error.kind() == std::io::ErrorKind::WouldBlock
                    || error.kind() == std::io::ErrorKind::TimedOut =>
            {
                Err(error)
            }
            _ => Ok(received),
        }
    })
    .await
    .expect("joins")
    .expect("the server closes promptly");
    assert!(
        received.is_empty(),
        "got {:?}",
        String::from_utf8_lossy(&received)
    );
    assert_eq!(fake.server.session_count(), 2);

    // The next create is answered normally.
    fake.create(json!({"prompt": "answered"})).await;
    assert_eq!(fake.server.session_count(), 3);
}

#[tokio::test]
async fn dropping_the_server_stops_it() {
    let fake = Harness::manual().await;
    let addr = fake.server.addr();
    assert!(fake.server.url().starts_with("http://127.0.0.1:"));
    drop(fake);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn the_binary_announces_its_address_and_serves() {
    let (mut child, url) = common::spawn_binary(&[
        "--listen",
        "127.0.0.1:0",
        "--api-key",
        "k",
        "--step-ms",
        "0",
        "--source",
        "acme/app",
    ])
    .await;
    assert!(
        url.starts_with("http://127.0.0.1:") && !url.ends_with(":0"),
        "{url}"
    );

    let client = reqwest::Client::new();
    let source = client
        .get(format!("{url}/v1alpha/sources"))
        .header("X-Goog-Api-Key", "k")
        .send()
        .await
        .expect("request");
    assert_eq!(source.status(), StatusCode::OK);
    let body: serde_json::Value = source.json().await.expect("json");
    assert_eq!(body["sources"][0]["name"], "sources/github/acme/app");
    let wrong = client
        .get(format!("{url}/v1alpha/sources"))
        .header("X-Goog-Api-Key", "nope")
        .send()
        .await
        .expect("request");
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);

    // SIGTERM stops it cleanly (exit status 0).
    let pid = child.id().to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status();
    assert!(killed.is_ok_and(|status| status.success()));
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .expect("joins")
        .expect("exits");
    assert!(status.success(), "{status:?}");
}
