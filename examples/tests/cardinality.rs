//! The demo under a cardinality attack: 100,000 requests to a cached route, each with a query
//! string never seen before, so each is a miss stored under a new key. The memory store's
//! `max_bytes` counts what its entries cost in memory (keys, values, tags and their index, moka's
//! bookkeeping), so the demo's resident memory stays within its bound plus 25 %, the runtime,
//! the binary and the allocator's slack included.

use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// The demo's bound: the default of `mem://` (`cache_core::store::memory::DEFAULT_MAX_BYTES`).
const MAX_BYTES: u64 = cache_core::store::memory::DEFAULT_MAX_BYTES;
const REQUESTS: u64 = 100_000;
const CONNECTIONS: u64 = 16;
/// Requests sent on one connection before the attack's figures are taken.
const WARM_UP: u64 = 1_024;

async fn start() -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_demo"))
        .env("BIND", "127.0.0.1:0")
        .env("SLOW_MS", "1")
        .env("RUST_LOG", "warn")
        .env_remove("CACHE_URL")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("starting the demo");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .expect("the demo did not start within 30 s")
        .expect("reading the demo's output")
        .expect("the demo exited");
    let addr = line
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("unexpected first line: {line}"))
        .to_string();
    (child, addr)
}

/// A field of `/proc/<pid>/status`, in bytes.
fn status_bytes(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    let kib = status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
        .trim()
        .trim_end_matches(" kB")
        .parse::<u64>()
        .expect("a number of kB");
    kib * 1024
}

/// One keep-alive connection sending `n` GETs of `/users/1?q=…`, each query new; counts the
/// responses that were not 200.
async fn attack(addr: String, worker: u64, n: u64, failures: Arc<AtomicU64>) {
    let stream = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(conn);
    for i in 0..n {
        let req = Request::get(format!("/users/1?q={worker}-{i}"))
            .header("host", &addr)
            .body(Empty::<Bytes>::new())
            .unwrap();
        sender.ready().await.expect("connection ready");
        let res = sender.send_request(req).await.expect("request");
        let ok = res.status() == StatusCode::OK;
        let body = res.into_body().collect().await.expect("body").to_bytes();
        if !ok || !body.starts_with(b"{\"id\":1,") {
            failures.fetch_add(1, Relaxed);
        }
    }
}

async fn stats(addr: &str) -> serde_json::Value {
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(conn);
    let req = Request::get("/cache/stats")
        .header("host", addr)
        .body(Empty::<Bytes>::new())
        .unwrap();
    let res = sender.send_request(req).await.expect("stats");
    let body = res.into_body().collect().await.unwrap().to_bytes();
    serde_json::from_slice(&body).expect("stats JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resident_memory_stays_within_max_bytes_under_random_query_strings() {
    let (mut child, addr) = start().await;
    let pid = child.id().expect("demo pid");
    let started = Instant::now();
    let failures = Arc::new(AtomicU64::new(0));
    // A warm-up of the same requests, so the code they run is mapped: the binary's pages are
    // file-backed memory, the same on every run, and not the cache's.
    attack(addr.clone(), CONNECTIONS, WARM_UP, Arc::clone(&failures)).await;
    let (baseline, binary) = (status_bytes(pid, "VmRSS"), status_bytes(pid, "RssFile"));
    // RssAnon sampled during the attack, for the report (VmHWM is the kernel's own peak).
    let peak_anon = Arc::new(AtomicU64::new(0));
    let sampler = tokio::spawn({
        let peak_anon = Arc::clone(&peak_anon);
        async move {
            loop {
                peak_anon.fetch_max(status_bytes(pid, "RssAnon"), Relaxed);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    });
    let per_connection = (REQUESTS - WARM_UP) / CONNECTIONS;
    let workers: Vec<_> = (0..CONNECTIONS)
        .map(|w| {
            tokio::spawn(attack(
                addr.clone(),
                w,
                per_connection,
                Arc::clone(&failures),
            ))
        })
        .collect();
    for w in workers {
        tokio::time::timeout(Duration::from_secs(600), w)
            .await
            .expect("the attack did not end within 10 minutes")
            .expect("a connection failed");
    }
    let elapsed = started.elapsed();
    let s = stats(&addr).await;
    let peak = status_bytes(pid, "VmHWM");
    sampler.abort();
    let sampled_anon = peak_anon.load(Relaxed).max(status_bytes(pid, "RssAnon"));
    let (entries, bytes, evictions) = (
        s["cache"]["entries"].as_u64().unwrap(),
        s["cache"]["bytes"].as_u64().unwrap(),
        s["cache"]["evictions"].as_u64().unwrap(),
    );
    // The peak of what is not the binary's pages: at the peak, at least the pages mapped after
    // the warm-up were mapped (mapped code stays resident), so this is an upper bound.
    let peak_memory = peak.saturating_sub(binary);
    let mib = |b: u64| b as f64 / f64::from(1 << 20);
    println!(
        "{} random-query requests in {elapsed:?}: VmRSS after warm-up {:.1} MiB (file-backed \
         {:.1} MiB), peak VmHWM {:.1} MiB, peak less file-backed {:.1} MiB, sampled peak RssAnon \
         {:.1} MiB; max_bytes {:.1} MiB (peak less file-backed / max_bytes {:.3}); store: \
         {entries} entries, {:.1} MiB counted, {evictions} evictions",
        WARM_UP + per_connection * CONNECTIONS,
        mib(baseline),
        mib(binary),
        mib(peak),
        mib(peak_memory),
        mib(sampled_anon),
        mib(MAX_BYTES),
        peak_memory as f64 / MAX_BYTES as f64,
        mib(bytes),
    );
    assert_eq!(
        failures.load(Relaxed),
        0,
        "requests that were not a 200 user"
    );
    // The attack filled the store to its bound: the bound, not the attack's size, held memory.
    assert!(
        evictions > 0,
        "nothing evicted: the bound was never reached"
    );
    assert!(bytes <= MAX_BYTES, "{bytes} counted bytes over the bound");
    assert!(
        peak_memory <= MAX_BYTES + MAX_BYTES / 4,
        "peak resident memory (less the binary's pages) {:.1} MiB over max_bytes + 25 % \
         ({:.1} MiB)",
        mib(peak_memory),
        mib(MAX_BYTES + MAX_BYTES / 4)
    );
    child.kill().await.unwrap();
}
