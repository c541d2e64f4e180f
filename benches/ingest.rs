//! Webhook ingest benchmark: `serve` (in this process, release build) against SQLite and
//! PostgreSQL, driven by `wrk` (`bench/wrk-signed.lua`) at a fixed concurrency with signed
//! real payloads, each a new delivery: a distinct body (the replay guard answers a body it has
//! stored as a duplicate) signed per request, with a fresh delivery id. Workers run during the load (against `jules-fake`
//! and `github-fake`), as in production.
//!
//! ```text
//! cargo bench --bench ingest                               # both engines, 3 runs, -c64
//! cargo bench --bench ingest -- --db sqlite --connections 16,64,256 --runs 3 --duration 10
//! ```
//!
//! Reports per run and the median over runs: deliveries/s (202s per second), p50/p99/max
//! latency of the 202, non-2xx answers, and how many deliveries were processed (left
//! pending) by the end of the load and after draining. Writes
//! `bench/results/ingest-<db>.json`. Needs `wrk` on PATH (Debian: `apt-get install wrk`) and,
//! for PostgreSQL, `DATABASE_URL_TEST` (default `postgres://postgres@127.0.0.1:5432/test`;
//! each run uses a fresh schema, dropped afterwards).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use github_fake::FakeGitHub;
use jules_bridge::jules::RetryPolicy;
use jules_bridge::server::config::{GitHubCredentials, ServerConfig};
use jules_bridge::server::{build_state, serve};
use jules_fake::{FakeConfig, FakeServer};
use secrecy::SecretString;
use serde_json::{json, Value};
use tokio::sync::oneshot;

const SECRET: &str = "bench-webhook-secret";
const JULES_KEY: &str = "bench-jules-key";
const APP_ID: u64 = 4242;
const INSTALLATION: u64 = 27216354;
const PRIVATE_KEY: &str =
    include_str!("../crates/github-fake/fixtures/test-only-app-key.private.pem");
const PUBLIC_KEY: &str =
    include_str!("../crates/github-fake/fixtures/test-only-app-key.public.pem");
const DEFAULT_PG: &str = "postgres://postgres@127.0.0.1:5432/test";

#[derive(Debug, Clone)]
struct Options {
    dbs: Vec<String>,
    connections: Vec<u32>,
    threads: u32,
    runs: usize,
    duration: u64,
    fixture: PathBuf,
    issues: usize,
    workers: usize,
    drain: u64,
    out: PathBuf,
}

fn usage() -> ! {
    eprintln!(
        "usage: cargo bench --bench ingest -- [--db sqlite,postgres] [--connections 64] \
         [--threads 1] [--runs 3] [--duration 10] [--fixture PATH] [--issues 16] \
         [--workers 4] [--drain 30] [--out bench/results]"
    );
    std::process::exit(2)
}

fn options() -> Options {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut o = Options {
        dbs: vec!["sqlite".into(), "postgres".into()],
        connections: vec![64],
        threads: 1,
        runs: 3,
        duration: 10,
        fixture: root.join("tests/fixtures/webhooks/issue_comment.created.json"),
        issues: 16,
        workers: 4,
        drain: 30,
        out: root.join("bench/results"),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| usage());
        let num = |v: String| v.parse::<u64>().unwrap_or_else(|_| usage());
        match arg.as_str() {
            // `cargo bench` passes `--bench` to every bench target.
            "--bench" => {}
            "--db" => o.dbs = value().split(',').map(str::to_owned).collect(),
            "--connections" | "-c" => {
                o.connections = value().split(',').map(|c| num(c.into()) as u32).collect()
            }
            "--threads" | "-t" => o.threads = num(value()) as u32,
            "--runs" => o.runs = num(value()) as usize,
            "--duration" | "-d" => o.duration = num(value()),
            "--fixture" => o.fixture = value().into(),
            "--issues" => o.issues = num(value()).max(1) as usize,
            "--workers" => o.workers = num(value()) as usize,
            "--drain" => o.drain = num(value()),
            "--out" => o.out = value().into(),
            "--help" | "-h" => usage(),
            _ => usage(),
        }
    }
    o
}

/// Writes the body template wrk fills in per request: the fixture as GitHub sends it
/// (compact JSON) with an App installation, `@@N@@` (a unique number) at `comment.id` (else
/// `issue.id`) and `@@I@@` (one of `--issues` numbers) at `issue.number`. Returns (template,
/// repo, body size).
fn write_template(o: &Options, dir: &Path) -> (PathBuf, String, usize) {
    let text = std::fs::read_to_string(&o.fixture).expect("the fixture is readable");
    let mut body: Value = serde_json::from_str(&text).expect("the fixture is JSON");
    let repo = body["repository"]["full_name"]
        .as_str()
        .expect("the fixture has a repository")
        .to_owned();
    // Numbers the template fills in, first as unlikely literals so serde writes them.
    const UNIQUE: u64 = 918_273_645_546_372_819;
    const ISSUE: u64 = 918_273_645_546_372_818;
    if body.get("comment").is_some() {
        body["comment"]["id"] = json!(UNIQUE);
    } else if body.get("issue").is_some() {
        body["issue"]["id"] = json!(UNIQUE);
    }
    if body.get("issue").is_some() {
        body["issue"]["number"] = json!(ISSUE);
    }
    body["installation"] =
        json!({"id": INSTALLATION, "node_id": "MDIzOkludGVncmF0aW9uMjcyMTYzNTQ="});
    let text = serde_json::to_string(&body)
        .unwrap()
        .replace(&UNIQUE.to_string(), "@@N@@")
        .replace(&ISSUE.to_string(), "@@I@@");
    assert!(
        text.contains("@@N@@"),
        "the fixture has no comment or issue to vary"
    );
    let path = dir.join("template.json");
    std::fs::write(&path, &text).unwrap();
    (path, repo, text.len())
}

/// A database for one run, and how to clean it up.
enum Database {
    Sqlite {
        url: String,
        _dir: tempfile::TempDir,
    },
    Postgres {
        url: String,
        base: String,
        schema: String,
    },
}

impl Database {
    async fn fresh(kind: &str) -> Database {
        match kind {
            "sqlite" => {
                // Next to the project (the real disk), not a tmpfs: fsync must cost what it costs.
                let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("target");
                let dir = tempfile::tempdir_in(base).unwrap();
                Database::Sqlite {
                    url: format!("sqlite:{}", dir.path().join("bench.db").display()),
                    _dir: dir,
                }
            }
            "postgres" => {
                let base = std::env::var("DATABASE_URL_TEST").unwrap_or_else(|_| DEFAULT_PG.into());
                let schema = format!("bench_{}", uuid::Uuid::new_v4().simple());
                let pool = sqlx::PgPool::connect(&base)
                    .await
                    .expect("PostgreSQL is running (DATABASE_URL_TEST)");
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
                    .execute(&pool)
                    .await
                    .unwrap();
                pool.close().await;
                let separator = if base.contains('?') { '&' } else { '?' };
                Database::Postgres {
                    url: format!("{base}{separator}options=-c%20search_path%3D{schema}"),
                    base,
                    schema,
                }
            }
            other => panic!("unknown --db {other:?} (sqlite, postgres)"),
        }
    }

    fn url(&self) -> &str {
        match self {
            Database::Sqlite { url, .. } | Database::Postgres { url, .. } => url,
        }
    }

    /// Deliveries per status.
    async fn counts(&self) -> BTreeMap<String, i64> {
        let sql = "SELECT status, COUNT(*) FROM deliveries GROUP BY status";
        let rows: Vec<(String, i64)> = match self {
            Database::Sqlite { url, .. } => {
                let pool = sqlx::SqlitePool::connect(url).await.unwrap();
                let rows = sqlx::query_as(sql).fetch_all(&pool).await.unwrap();
                pool.close().await;
                rows
            }
            Database::Postgres { url, .. } => {
                let pool = sqlx::PgPool::connect(url).await.unwrap();
                let rows = sqlx::query_as(sql).fetch_all(&pool).await.unwrap();
                pool.close().await;
                rows
            }
        };
        rows.into_iter().collect()
    }

    async fn drop(self) {
        if let Database::Postgres { base, schema, .. } = self {
            let pool = sqlx::PgPool::connect(&base).await.unwrap();
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP SCHEMA IF EXISTS {schema} CASCADE"
            )))
            .execute(&pool)
            .await
            .unwrap();
            pool.close().await;
        }
    }
}

fn unfinished(counts: &BTreeMap<String, i64>) -> i64 {
    counts.get("pending").copied().unwrap_or(0) + counts.get("processing").copied().unwrap_or(0)
}

fn total(counts: &BTreeMap<String, i64>) -> i64 {
    counts.values().sum()
}

/// One measured run: a fresh database and server, wrk for `duration`, then a drain.
async fn run_once(
    o: &Options,
    db_kind: &str,
    connections: u32,
    template: &Path,
    repo: &str,
) -> Value {
    let db = Database::fresh(db_kind).await;
    let jules = FakeServer::start(FakeConfig {
        api_key: Some(JULES_KEY.into()),
        step: Duration::ZERO,
        sources: None,
        ..FakeConfig::default()
    })
    .await
    .expect("jules-fake starts");
    let github = FakeGitHub::start().await;
    github.set_app(APP_ID, "jules-bridge", Some(PUBLIC_KEY));
    github.set_installation(repo, INSTALLATION);
    // The issues bench/wrk-signed.lua spreads the comments over (1000, 1001, ...) exist.
    for n in 0..o.issues as u64 {
        github.add_issue_at(repo, 1000 + n);
    }

    let config = ServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        github: GitHubCredentials::App {
            app_id: APP_ID,
            private_key: SecretString::from(PRIVATE_KEY.to_owned()),
        },
        secrets: vec![SecretString::from(SECRET.to_owned())],
        jules_api_key: SecretString::from(JULES_KEY.to_owned()),
        database_url: db.url().to_owned(),
        github_api_url: github.url(),
        jules_api_url: jules.url(),
        workers: o.workers,
        max_attempts: 5,
        relay_fast: Duration::from_secs(5),
        relay_slow: Duration::from_secs(30),
        retry_base: Duration::from_secs(2),
        jules_retry: RetryPolicy::default(),
        jules_plan: None,
        jules_activities_per_minute: 100,
    };
    let state = build_state(config).await.expect("the server starts");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/webhook", listener.local_addr().unwrap());
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(serve(Arc::clone(&state), listener, async {
        let _ = stopped.await;
    }));

    let lua = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/wrk-signed.lua");
    let started = Instant::now();
    let mut command = std::process::Command::new("wrk");
    command
        .arg(format!("-t{}", o.threads))
        .arg(format!("-c{connections}"))
        .arg(format!("-d{}s", o.duration))
        .arg("--timeout")
        .arg("10s")
        .arg("--latency")
        .arg("-s")
        .arg(&lua)
        .arg(&url)
        .env("BODY_FILE", template)
        .env("SECRET", SECRET)
        .env("ISSUES", o.issues.to_string());
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .expect("wrk runs (apt-get install wrk)");
    let load_seconds = started.elapsed().as_secs_f64();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let wrk: Value = stdout
        .lines()
        .find_map(|line| line.strip_prefix("INGEST_RESULT "))
        .and_then(|json| serde_json::from_str(json).ok())
        .unwrap_or_else(|| {
            panic!(
                "no INGEST_RESULT from wrk:\n{stdout}\n{}",
                String::from_utf8_lossy(&output.stderr)
            )
        });

    let at_end = db.counts().await;
    let drain_started = Instant::now();
    let mut after = at_end.clone();
    while unfinished(&after) > 0 && drain_started.elapsed() < Duration::from_secs(o.drain) {
        tokio::time::sleep(Duration::from_millis(500)).await;
        after = db.counts().await;
    }
    let drain_seconds = drain_started.elapsed().as_secs_f64();
    let _ = stop.send(());
    let _ = tokio::time::timeout(Duration::from_secs(60), server).await;
    drop(state);
    db.drop().await;

    let requests = wrk["requests"].as_i64().unwrap_or(0);
    let failed = wrk["non_2xx"].as_i64().unwrap_or(0)
        + wrk["timeouts"].as_i64().unwrap_or(0)
        + wrk["read_errors"].as_i64().unwrap_or(0)
        + wrk["write_errors"].as_i64().unwrap_or(0);
    let seconds = wrk["duration_us"].as_f64().unwrap_or(1.0) / 1e6;
    let acknowledged = requests - wrk["non_2xx"].as_i64().unwrap_or(0);
    json!({
        "db": db_kind,
        "connections": connections,
        "threads": o.threads,
        "requests": requests,
        "acknowledged": acknowledged,
        "failed": failed,
        "deliveries_per_s": acknowledged as f64 / seconds,
        "p50_ms": wrk["p50_us"].as_f64().unwrap_or(0.0) / 1000.0,
        "p90_ms": wrk["p90_us"].as_f64().unwrap_or(0.0) / 1000.0,
        "p99_ms": wrk["p99_us"].as_f64().unwrap_or(0.0) / 1000.0,
        "p999_ms": wrk["p999_us"].as_f64().unwrap_or(0.0) / 1000.0,
        "max_ms": wrk["max_us"].as_f64().unwrap_or(0.0) / 1000.0,
        "stored": total(&at_end),
        "processed_at_end_of_load": total(&at_end) - unfinished(&at_end),
        "processed_after_drain": total(&after) - unfinished(&after),
        "unfinished_after_drain": unfinished(&after),
        "drain_s": drain_seconds,
        "load_s": load_seconds,
        "statuses_after_drain": after,
        "wrk": wrk,
    })
}

fn median(runs: &[Value], key: &str) -> f64 {
    let mut values: Vec<f64> = runs.iter().filter_map(|r| r[key].as_f64()).collect();
    values.sort_by(|a, b| a.total_cmp(b));
    match values.len() {
        0 => 0.0,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

fn machine() -> Value {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_default();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    json!({
        "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "cpu_model": cpu,
        "loadavg_before": load.trim(),
    })
}

#[tokio::main]
async fn main() {
    let o = options();
    std::fs::create_dir_all(&o.out).unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let (template, repo, size) = write_template(&o, scratch.path());
    println!(
        "ingest bench: {} ({size} bytes, {} issues), wrk -t{} -d{}s, {} runs, {} workers",
        o.fixture.display(),
        o.issues,
        o.threads,
        o.duration,
        o.runs,
        o.workers
    );
    for db in &o.dbs {
        let mut summaries = Vec::new();
        let mut all_runs = Vec::new();
        for &connections in &o.connections {
            let mut runs = Vec::new();
            for n in 0..o.runs {
                let machine = machine();
                let mut result = run_once(&o, db, connections, &template, &repo).await;
                result["run"] = json!(n + 1);
                result["machine"] = machine;
                println!(
                    "{db:8} c={connections:<4} run {}: {:>8.0} deliveries/s  p50 {:>6.2} ms  \
                     p99 {:>6.2} ms  max {:>7.2} ms  failed {}  stored {}  processed {} \
                     (end of load) {} (after {:.1}s drain, {} unfinished)",
                    n + 1,
                    result["deliveries_per_s"].as_f64().unwrap_or(0.0),
                    result["p50_ms"].as_f64().unwrap_or(0.0),
                    result["p99_ms"].as_f64().unwrap_or(0.0),
                    result["max_ms"].as_f64().unwrap_or(0.0),
                    result["failed"],
                    result["stored"],
                    result["processed_at_end_of_load"],
                    result["processed_after_drain"],
                    result["drain_s"].as_f64().unwrap_or(0.0),
                    result["unfinished_after_drain"],
                );
                runs.push(result);
            }
            let keys = [
                "deliveries_per_s",
                "p50_ms",
                "p99_ms",
                "max_ms",
                "failed",
                "stored",
                "processed_at_end_of_load",
                "processed_after_drain",
                "unfinished_after_drain",
                "drain_s",
            ];
            let mut summary = json!({"db": db, "connections": connections, "runs": runs.len()});
            for key in keys {
                summary[format!("median_{key}")] = json!(median(&runs, key));
            }
            println!(
                "{db:8} c={connections:<4} MEDIAN: {:>8.0} deliveries/s  p50 {:.2} ms  p99 {:.2} ms  \
                 max {:.2} ms  processed {} by end of load, {} after drain",
                summary["median_deliveries_per_s"].as_f64().unwrap_or(0.0),
                summary["median_p50_ms"].as_f64().unwrap_or(0.0),
                summary["median_p99_ms"].as_f64().unwrap_or(0.0),
                summary["median_max_ms"].as_f64().unwrap_or(0.0),
                summary["median_processed_at_end_of_load"],
                summary["median_processed_after_drain"],
            );
            summaries.push(summary);
            all_runs.extend(runs);
        }
        let report = json!({
            "bench": "ingest",
            "fixture": o.fixture.strip_prefix(env!("CARGO_MANIFEST_DIR")).unwrap_or(&o.fixture).display().to_string(),
            "body_bytes": size,
            "issues": o.issues,
            "duration_s": o.duration,
            "workers": o.workers,
            "summaries": summaries,
            "runs": all_runs,
        });
        let path = o.out.join(format!("ingest-{db}.json"));
        std::fs::write(&path, serde_json::to_string_pretty(&report).unwrap()).unwrap();
        println!("wrote {}", path.display());
    }
}
