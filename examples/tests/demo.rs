//! The demo service as a new user meets it: started as a process, driven over TCP through the
//! README's walk-through (MISS, HIT, 304, an invalidation), on the in-memory store, on a
//! tiered Redis store and on three tiers (memory → SQLite → Redis), then stopped with Ctrl-C
//! (SIGINT) or SIGTERM.

use std::process::Stdio;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{HeaderMap, Method, Request, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

struct Demo {
    child: Child,
    base: String,
}

async fn start(cache_url: Option<&str>) -> Demo {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_demo"));
    cmd.env("BIND", "127.0.0.1:0")
        .env("SLOW_MS", "50")
        .env_remove("CACHE_URL")
        .env_remove("CACHE_DASHBOARD_TOKEN")
        .stdout(Stdio::piped())
        .kill_on_drop(true);
    if let Some(url) = cache_url {
        cmd.env("CACHE_URL", url);
    }
    let mut child = cmd.spawn().expect("starting the demo");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .expect("the demo did not start within 30 s")
        .expect("reading the demo's output")
        .expect("the demo exited");
    let base = line
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line: {line}"))
        .to_string();
    Demo { child, base }
}

async fn call(
    method: Method,
    url: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (StatusCode, HeaderMap, String) {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut req = Request::builder().method(method).uri(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = client
        .request(req.body(Full::new(Bytes::from(body.to_owned()))).unwrap())
        .await
        .expect("request to the demo");
    let (parts, body) = res.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    (
        parts.status,
        parts.headers,
        String::from_utf8_lossy(&body).into_owned(),
    )
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> &'a str {
    h.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
}

async fn walk_through(demo: &Demo) {
    let user = format!("{}/users/1", demo.base);
    // First request: computed by the slow data source, stored.
    let (status, h, body) = call(Method::GET, &user, &[], "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(header(&h, "x-cache"), "MISS");
    assert_eq!(
        body,
        r#"{"id":1,"name":"Ada Lovelace","email":"ada@example.com"}"#
    );
    let etag = header(&h, "etag").to_string();
    assert!(etag.starts_with('"') && etag.len() > 10, "etag {etag:?}");
    // Second: from the cache.
    let (status, h, body2) = call(Method::GET, &user, &[], "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(header(&h, "x-cache"), "HIT");
    assert!(h.contains_key("age"));
    assert_eq!(body2, body);
    // Conditional: 304 with no body.
    let (status, h, body) = call(Method::GET, &user, &[("if-none-match", &etag)], "").await;
    assert_eq!(status, StatusCode::NOT_MODIFIED);
    assert_eq!(header(&h, "etag"), etag);
    assert!(body.is_empty());
    // A write invalidates the cached data and the cached response.
    let (status, _, body) = call(
        Method::PUT,
        &user,
        &[("content-type", "application/json")],
        r#"{"name":"Ada King"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, h, body) = call(Method::GET, &user, &[], "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(header(&h, "x-cache"), "MISS");
    assert!(body.contains("Ada King"), "{body}");
    assert_ne!(header(&h, "etag"), etag);
    // A write based on what was read before that one would lose it: 412, and nothing changes
    // (a 2xx would have dropped the cached response).
    let (status, _, _) = call(
        Method::PUT,
        &user,
        &[("content-type", "application/json"), ("if-match", &etag)],
        r#"{"name":"Ada Byron"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::PRECONDITION_FAILED);
    let (_, _, body) = call(Method::GET, &user, &[], "").await;
    assert!(body.contains("Ada King"), "{body}");
    // An unknown user is a 404, not cached as a value.
    let (status, _, _) = call(Method::GET, &format!("{}/users/99", demo.base), &[], "").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Purge by tag through State<Cache>.
    let (status, _, body) = call(
        Method::POST,
        &format!("{}/admin/purge", demo.base),
        &[("content-type", "application/json")],
        r#"{"tag":"users"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let purged: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(purged["deleted"].as_u64().unwrap() >= 1, "{body}");
    let (_, h, _) = call(Method::GET, &user, &[], "").await;
    assert_eq!(header(&h, "x-cache"), "MISS", "purged response served");
    // Memoized pure function.
    let (status, _, body) = call(Method::GET, &format!("{}/fib/80", demo.base), &[], "").await;
    assert_eq!(status, StatusCode::OK);
    let fib: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(fib["fib"], 23_416_728_348_467_685u64);
    assert!(fib["memo_hits"].as_u64().unwrap() > 0, "{body}");
    // Health and stats.
    let (status, _, body) = call(Method::GET, &format!("{}/health", demo.base), &[], "").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _, body) = call(Method::GET, &format!("{}/cache/stats", demo.base), &[], "").await;
    assert_eq!(status, StatusCode::OK);
    let stats: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(stats["cache"]["hits"].as_u64().unwrap() >= 1, "{body}");
    assert!(
        body.contains("/users/{id}"),
        "per-route stats missing: {body}"
    );
    assert!(
        body.contains("find_user"),
        "per-function stats missing: {body}"
    );
    // Resetting the stats needs CACHE_DASHBOARD_TOKEN, which this demo runs without.
    let (status, _, body) = call(
        Method::POST,
        &format!("{}/cache/stats/reset", demo.base),
        &[],
        "",
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body.contains("resetting stats is disabled"), "{body}");
    let (status, _, body) = call(Method::GET, &format!("{}/metrics", demo.base), &[], "").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("cache_hits_total"), "{body}");
    assert!(body.contains("cache_http_responses_total"), "{body}");
    let (status, _, body) = call(
        Method::GET,
        &format!("{}/cache/dashboard", demo.base),
        &[],
        "",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("id=\"chart\""), "dashboard page: {body}");
}

async fn ctrl_c(demo: Demo) {
    stop_with(demo, "-INT").await;
}

/// Sends the demo a signal (`-INT`, `-TERM`) and waits for it to exit successfully.
async fn stop_with(mut demo: Demo, signal: &str) {
    let pid = demo.child.id().expect("demo pid").to_string();
    let status = std::process::Command::new("kill")
        .args([signal, &pid])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = tokio::time::timeout(Duration::from_secs(10), demo.child.wait())
        .await
        .unwrap_or_else(|_| panic!("the demo did not stop within 10 s of kill {signal}"))
        .unwrap();
    assert!(exit.success(), "the demo exited with {exit:?} on {signal}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_walk_through_on_the_memory_store() {
    let demo = start(None).await;
    walk_through(&demo).await;
    ctrl_c(demo).await;
}

/// A purge while Redis is down is not lost, and the answer says so: 202 with the number of
/// invalidations queued; once Redis is back the queue is replayed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purge_during_an_outage_is_queued_and_says_so() {
    let mut server = cache_core::testing::RedisServer::start();
    let demo = start(Some(&format!("{}?timeout_ms=500", server.url()))).await;
    let purge = |base: String| async move {
        call(
            Method::POST,
            &format!("{base}/admin/purge"),
            &[("content-type", "application/json")],
            r#"{"tag":"users"}"#,
        )
        .await
    };
    let (status, _, body) = purge(demo.base.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    server.kill();
    let (status, _, body) = purge(demo.base.clone()).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert!(body.contains("\"queued\":1"), "{body}");
    server.restart();
    // Back: the queue is replayed before anything else reaches Redis, and purges answer 200.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (status, _, body) = purge(demo.base.clone()).await;
        if status == StatusCode::OK {
            assert!(body.contains("\"deleted\""), "{body}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never answered 200 again: {body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    ctrl_c(demo).await;
}

/// SIGTERM, what container runtimes send, is a graceful shutdown as Ctrl-C is: a write still
/// held by a write-behind tier reaches Redis before the process ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_shuts_down_gracefully_and_flushes_pending_writes() {
    let server = cache_core::testing::RedisServer::start();
    // Pending writes would wait a minute: only the shutdown's flush can send them in time.
    let demo = start(Some(&format!("tiered+{}?write_behind=60s", server.url()))).await;
    let (status, _, body) = call(
        Method::PUT,
        &format!("{}/users/2", demo.base),
        &[("content-type", "application/json")],
        r#"{"name":"Alan M. Turing"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let key = "cache:v1:user:2";
    let before = server.cli(&["GET", key]);
    assert!(
        !before.contains("Alan M. Turing"),
        "the recached value reached Redis before the shutdown: {before:?}"
    );
    stop_with(demo, "-TERM").await;
    let after = server.cli(&["GET", key]);
    assert!(
        after.contains("Alan M. Turing"),
        "the recached value did not reach Redis on SIGTERM: {after:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_walk_through_on_tiered_redis() {
    let server = cache_core::testing::RedisServer::start();
    let demo = start(Some(&format!("tiered+{}", server.url()))).await;
    walk_through(&demo).await;
    ctrl_c(demo).await;
}

/// The seeds' three levels, memory → SQLite file → Redis, by changing `CACHE_URL` only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_walk_through_on_memory_sqlite_redis() {
    let server = cache_core::testing::RedisServer::start();
    let file = cache_core::testing::SqliteFile::new();
    let url = format!("tiers:mem://|{}|{}", file.url(), server.url());
    let demo = start(Some(&url)).await;
    walk_through(&demo).await;
    ctrl_c(demo).await;
    // The SQLite tier is a real file the demo wrote.
    assert!(
        file.path().exists(),
        "no SQLite file at {}",
        file.path().display()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_routes_answer_correctly_through_a_redis_outage() {
    let mut server = cache_core::testing::RedisServer::start();
    let url = format!(
        "tiered+{}?timeout_ms=250&breaker_threshold=3&breaker_cooldown=300ms",
        server.url()
    );
    let demo = start(Some(&url)).await;
    let names = [
        "Ada Lovelace",
        "Alan Turing",
        "Grace Hopper",
        "Edsger Dijkstra",
    ];
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let workers: Vec<_> = (0..4u64)
        .map(|w| {
            let (base, stop) = (demo.base.clone(), stop.clone());
            tokio::spawn(async move {
                let (mut n, mut latencies) = (0u64, Vec::new());
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let id = (n + w) % 4 + 1;
                    let t = std::time::Instant::now();
                    let (status, h, body) =
                        call(Method::GET, &format!("{base}/users/{id}"), &[], "").await;
                    latencies.push(t.elapsed());
                    assert_eq!(status, StatusCode::OK, "user {id}: {body}");
                    assert!(
                        body.contains(names[(id - 1) as usize]),
                        "user {id}: wrong body {body}"
                    );
                    assert!(!header(&h, "x-cache").is_empty());
                    n += 1;
                }
                latencies
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    server.kill();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.restart();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut latencies = Vec::new();
    for w in workers {
        latencies.extend(w.await.expect("a request failed or got a wrong answer"));
    }
    latencies.sort();
    println!(
        "demo through a Redis outage: {} requests, all 200 with the right body; p50 {:?}, p99 {:?}, max {:?}",
        latencies.len(),
        latencies[latencies.len() / 2],
        latencies[latencies.len() * 99 / 100],
        latencies[latencies.len() - 1]
    );
    // Back to normal: the health check sees the store again.
    let (status, _, body) = call(Method::GET, &format!("{}/health", demo.base), &[], "").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    ctrl_c(demo).await;
}
