//! A loopback harness: a fake with manual stepping and a small JSON client.
#![allow(dead_code)]

use std::time::Duration;

use jules_fake::{FakeConfig, FakeServer};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

pub const KEY: &str = "test-key";

pub struct Harness {
    pub server: FakeServer,
    pub client: reqwest::Client,
}

/// A reply: status, headers and the JSON body (Null when the body is empty).
pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Harness {
    /// Manual stepping only, so tests decide when sessions move.
    pub async fn manual() -> Self {
        Self::with_config(FakeConfig {
            step: Duration::ZERO,
            ..FakeConfig::default()
        })
        .await
    }

    pub async fn with_config(config: FakeConfig) -> Self {
        let server = FakeServer::start(config).await.expect("fake starts");
        Self {
            server,
            client: reqwest::Client::new(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.url())
    }

    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        body: Option<&str>,
    ) -> Reply {
        let mut request = self.client.request(method, self.url(path));
        if let Some(key) = key {
            request = request.header("X-Goog-Api-Key", key);
        }
        if let Some(body) = body {
            request = request
                .header("Content-Type", "application/json")
                .body(body.to_string());
        }
        let response = request.send().await.expect("request completes");
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.expect("body reads");
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("JSON body, got {text:?}"))
        };
        Reply {
            status,
            headers,
            body,
        }
    }

    /// An authenticated API call under `/v1alpha`.
    pub async fn api(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        let body = body.map(|body| body.to_string());
        self.raw(
            method,
            &format!("/v1alpha/{path}"),
            Some(KEY),
            body.as_deref(),
        )
        .await
    }

    pub async fn get(&self, path: &str) -> Value {
        let reply = self.api(Method::GET, path, None).await;
        assert_eq!(reply.status, StatusCode::OK, "GET {path}: {}", reply.body);
        reply.body
    }

    pub async fn post(&self, path: &str, body: Value) -> Value {
        let reply = self.api(Method::POST, path, Some(body)).await;
        assert_eq!(reply.status, StatusCode::OK, "POST {path}: {}", reply.body);
        reply.body
    }

    pub async fn control(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        let body = body.map(|body| body.to_string());
        self.raw(method, &format!("/_fake/{path}"), None, body.as_deref())
            .await
    }

    pub async fn step(&self) -> u64 {
        let reply = self.control(Method::POST, "step", None).await;
        assert_eq!(reply.status, StatusCode::OK);
        reply.body["stepped"].as_u64().expect("stepped count")
    }

    /// Creates a session and returns its id.
    pub async fn create(&self, body: Value) -> String {
        let created = self.post("sessions", body).await;
        created["id"].as_str().expect("id").to_string()
    }

    pub async fn session(&self, id: &str) -> Value {
        self.get(&format!("sessions/{id}")).await
    }

    pub async fn state(&self, id: &str) -> String {
        self.session(id).await["state"]
            .as_str()
            .expect("state")
            .to_string()
    }

    /// All activities of a session, oldest first.
    pub async fn activities(&self, id: &str) -> Vec<Value> {
        let page = self
            .get(&format!("sessions/{id}/activities?pageSize=100"))
            .await;
        page["activities"].as_array().cloned().unwrap_or_default()
    }

    /// Steps until the session reaches `state` (at most `limit` steps).
    pub async fn step_until(&self, id: &str, state: &str, limit: usize) {
        for _ in 0..limit {
            if self.state(id).await == state {
                return;
            }
            self.step().await;
        }
        assert_eq!(
            self.state(id).await,
            state,
            "session {id} never reached {state}"
        );
    }
}

/// The one activity kind an activity carries.
pub fn kind(activity: &Value) -> &'static str {
    const KINDS: [&str; 7] = [
        "planGenerated",
        "planApproved",
        "userMessaged",
        "agentMessaged",
        "progressUpdated",
        "sessionCompleted",
        "sessionFailed",
    ];
    let present: Vec<&'static str> = KINDS
        .into_iter()
        .filter(|kind| activity.get(kind).is_some())
        .collect();
    assert_eq!(present.len(), 1, "exactly one kind in {activity}");
    present[0]
}

pub fn kinds(activities: &[Value]) -> Vec<&'static str> {
    activities.iter().map(kind).collect()
}

pub fn repo_session(repo: &str, prompt: &str) -> Value {
    json!({
        "prompt": prompt,
        "sourceContext": {"source": format!("sources/github/{repo}"), "githubRepoContext": {"startingBranch": "main"}},
        "automationMode": "AUTO_CREATE_PR",
    })
}

/// Starts the `jules-fake` binary with `args` and waits for its announcement line; returns the
/// child (stdout taken) and the URL it serves on.
pub async fn spawn_binary(args: &[&str]) -> (std::process::Child, String) {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_jules-fake"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("binary starts");
    let stdout = child.stdout.take().expect("stdout");
    let line = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).map(|_| line)
    })
    .await
    .expect("reader joins")
    .expect("a line");
    let url = line
        .trim_end()
        .strip_prefix("jules-fake listening on ")
        .unwrap_or_else(|| panic!("announcement, got {line:?}"))
        .to_string();
    (child, url)
}
