//! Measures what an outage costs a caller: for each remote store, with default options, the
//! latency of `get_or_set` calls on cold keys right after the server is killed and while it is
//! paused (SIGSTOP), and how long after the restart (SIGCONT) hits resume. A measurement, not a
//! test; run with
//!
//! ```text
//! cargo run --release -p cache-core --example outage_latency --features memcached,postgres
//! ```

use std::time::{Duration, Instant};

use cache_core::testing::{MemcachedServer, PostgresServer, RedisServer};
use cache_core::Cache;

/// Calls measured after the fault.
const CALLS: usize = 6;

fn signal(pid: u32, sig: &str) {
    let ok = std::process::Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(ok, "kill {sig} {pid}");
}

/// The PIDs of `pid` and its children (a Postgres server is a tree of processes).
fn tree(pid: u32) -> Vec<u32> {
    let mut out = vec![pid];
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for e in dir.flatten() {
            let Some(child) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
                continue;
            };
            let stat = std::fs::read_to_string(format!("/proc/{child}/stat")).unwrap_or_default();
            // pid (comm) state ppid …
            let ppid = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                .and_then(|p| p.parse::<u32>().ok());
            if ppid == Some(pid) {
                out.push(child);
            }
        }
    }
    out
}

/// Latencies of `CALLS` cold `get_or_set` calls, one after another.
async fn cold_calls(cache: &Cache, tag: &str) -> Vec<Duration> {
    let mut out = Vec::new();
    for i in 0..CALLS {
        let t = Instant::now();
        let v: u64 = cache
            .get_or_set(&format!("{tag}:{i}"), (), || async move { i as u64 })
            .await;
        assert_eq!(v, i as u64);
        out.push(t.elapsed());
    }
    out
}

/// Time until a stored value is read back (a hit), calling every 10 ms.
async fn until_hits(cache: &Cache, tag: &str) -> Duration {
    let t = Instant::now();
    let mut n = 0u64;
    loop {
        n += 1;
        let key = format!("{tag}:after:{n}");
        let _: u64 = cache.get_or_set(&key, (), || async { 1 }).await;
        let mut loaded = false;
        let _: u64 = cache
            .get_or_set(&key, (), || async {
                loaded = true;
                1
            })
            .await;
        if !loaded && cache.get::<u64>(&key).await.is_ok_and(|v| v.is_some()) {
            return t.elapsed();
        }
        assert!(t.elapsed() < Duration::from_secs(60), "hits never resumed");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn ms(d: &[Duration]) -> String {
    d.iter()
        .map(|d| format!("{:.0}", d.as_secs_f64() * 1000.0))
        .collect::<Vec<_>>()
        .join(" ")
}

trait Server {
    fn url(&self) -> String;
    fn pid(&self) -> u32;
    fn kill(&mut self);
    fn restart(&mut self);
}

impl Server for RedisServer {
    fn url(&self) -> String {
        RedisServer::url(self)
    }
    fn pid(&self) -> u32 {
        RedisServer::pid(self).unwrap()
    }
    fn kill(&mut self) {
        RedisServer::kill(self)
    }
    fn restart(&mut self) {
        RedisServer::restart(self)
    }
}

impl Server for MemcachedServer {
    fn url(&self) -> String {
        MemcachedServer::url(self)
    }
    fn pid(&self) -> u32 {
        MemcachedServer::pid(self).unwrap()
    }
    fn kill(&mut self) {
        MemcachedServer::kill(self)
    }
    fn restart(&mut self) {
        MemcachedServer::restart(self)
    }
}

impl Server for PostgresServer {
    fn url(&self) -> String {
        PostgresServer::url(self)
    }
    fn pid(&self) -> u32 {
        PostgresServer::pid(self).unwrap()
    }
    fn kill(&mut self) {
        PostgresServer::kill(self)
    }
    fn restart(&mut self) {
        PostgresServer::restart(self)
    }
}

async fn measure(name: &str, server: &mut dyn Server, scheme_prefix: &str) {
    let cache = Cache::builder()
        .url(format!("{scheme_prefix}{}", server.url()))
        .prefix("m")
        .build()
        .await
        .unwrap();
    let _ = cold_calls(&cache, "warm").await;

    server.kill();
    let killed = cold_calls(&cache, "killed").await;
    server.restart();
    let t = until_hits(&cache, "killed").await;
    println!(
        "{name:<14} kill : calls (ms) {:<28} hits resume {:.0} ms after the restart",
        ms(&killed),
        t.as_secs_f64() * 1000.0
    );

    let _ = until_hits(&cache, "settle").await;
    let pids = tree(server.pid());
    for p in &pids {
        signal(*p, "-STOP");
    }
    let paused = cold_calls(&cache, "paused").await;
    for p in &pids {
        signal(*p, "-CONT");
    }
    let t = until_hits(&cache, "paused").await;
    println!(
        "{name:<14} pause: calls (ms) {:<28} hits resume {:.0} ms after SIGCONT",
        ms(&paused),
        t.as_secs_f64() * 1000.0
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let only = std::env::args().nth(1).unwrap_or_default();
    if only.is_empty() || only == "redis" {
        measure("redis", &mut RedisServer::start(), "").await;
    }
    if only.is_empty() || only == "tiered" {
        measure("tiered+redis", &mut RedisServer::start(), "tiered+").await;
    }
    if only.is_empty() || only == "memcached" {
        measure("memcached", &mut MemcachedServer::start(), "").await;
    }
    if only.is_empty() || only == "postgres" {
        measure("postgres", &mut PostgresServer::start(), "").await;
    }
}
