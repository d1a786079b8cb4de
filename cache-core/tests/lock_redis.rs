//! The lock across processes (`Lock::Distributed`) on real Redis and on a memory tier over
//! Redis: concurrent cold calls of one key in two OS processes run the loader once; a holder
//! killed mid-load does not block the others past its lease; waiters are woken by the holder's
//! message, not only by polling.
//!
//! The second process is this test binary again, running the `#[ignore]`d `lock_child` test
//! with the Redis URL and what to do in environment variables.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use cache_core::testing::{set_lease_poll, RedisServer};
use cache_core::{Cache, SetOptions, Stats};

const URL: &str = "CACHE_RS_LOCK_URL";
const MODE: &str = "CACHE_RS_LOCK_MODE";
/// A guard against hangs only: nothing here is timed.
const GUARD: Duration = Duration::from_secs(30);
const CALLERS: usize = 50;

async fn cache(url: &str) -> Cache {
    Cache::builder()
        .url(url)
        .prefix("lock")
        .build()
        .await
        .unwrap_or_else(|e| panic!("a cache on {url}: {e}"))
}

/// This test binary again, running `lock_child` in `mode`.
fn spawn_child(mode: &str, url: &str) -> Child {
    let exe = std::env::current_exe().expect("current_exe");
    Command::new(exe)
        .args(["--exact", "lock_child", "--ignored", "--nocapture"])
        .env(URL, url)
        .env(MODE, mode)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawning the second process")
}

/// What one process saw in a storm.
#[derive(Debug)]
struct Seen {
    values: Vec<u32>,
    stats: Stats,
}

impl Seen {
    fn print(&self) {
        let s = &self.stats;
        println!(
            "SEEN values={:?} acquired={} waits={} wakeups={}",
            self.values, s.leases_acquired, s.lease_waits, s.lease_wakeups
        );
    }

    fn parse(out: &str) -> (Vec<u32>, [u64; 3]) {
        let line = out
            .lines()
            .find_map(|l| l.strip_prefix("SEEN "))
            .unwrap_or_else(|| panic!("no SEEN line in the child's output:\n{out}"));
        let (values, rest) = line
            .strip_prefix("values=[")
            .and_then(|l| l.split_once("] "))
            .expect("values");
        let values = values
            .split(", ")
            .map(|v| v.parse().expect("a value"))
            .collect();
        let mut n = rest
            .split(' ')
            .map(|kv| kv.split_once('=').expect("k=v").1.parse().expect("a count"));
        let mut next = || n.next().expect("a count");
        (values, [next(), next(), next()])
    }
}

/// Waits until `children` processes are ready, then tells them to go.
async fn start_children(cache: &Cache, children: i64) {
    while cache.incr("ready", 0).await.unwrap() < children {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    cache.set("go", &true).await.unwrap();
}

/// Says this process is ready and waits for the word to go.
async fn wait_for_go(cache: &Cache) {
    cache.incr("ready", 1).await.unwrap();
    while cache.get::<bool>("go").await.unwrap().is_none() {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// 50 concurrent cold calls of one key whose loader counts its runs in Redis and takes `load`.
async fn storm(cache: &Cache, opts: SetOptions, load: Duration) -> Seen {
    let calls = (0..CALLERS).map(|_| {
        let cache = cache.clone();
        let opts = opts.clone();
        tokio::spawn(async move {
            cache
                .get_or_set("hot", opts, || async {
                    cache.incr("loads", 1).await.expect("counting a load");
                    tokio::time::sleep(load).await;
                    std::process::id()
                })
                .await
        })
    });
    let values = futures_util::future::join_all(calls)
        .await
        .into_iter()
        .map(|r| r.expect("a caller panicked"))
        .collect();
    Seen {
        values,
        stats: cache.stats(),
    }
}

/// Run by the tests below in a process of their own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run by the lock tests, in another process"]
async fn lock_child() {
    let url = std::env::var(URL).expect("the Redis URL");
    let cache = cache(&url).await;
    match std::env::var(MODE).expect("the mode").as_str() {
        "storm" => {
            wait_for_go(&cache).await;
            storm(&cache, lease(), Duration::from_millis(300))
                .await
                .print();
        }
        "wake" => {
            set_lease_poll(Duration::from_secs(600), Duration::from_secs(600));
            wait_for_go(&cache).await;
            storm(&cache, lease(), Duration::from_secs(1)).await.print();
        }
        "hold" => {
            let opts = SetOptions::new().lease(Duration::from_secs(2));
            let _: u32 = cache
                .get_or_set("held", opts, || async {
                    println!("holding");
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                    0
                })
                .await;
        }
        other => panic!("unknown mode {other:?}"),
    }
}

fn lease() -> SetOptions {
    SetOptions::new()
        .ttl(Duration::from_secs(60))
        .lease(Duration::from_secs(5))
}

/// What a child process saw: its values and its lease counts (acquired, waits, wakeups).
type ChildSeen = (Vec<u32>, [u64; 3]);

/// Runs a storm in child processes (`mode`) and, if `here`, in this one; checks that the
/// loader ran once in all and every caller got its value; returns what each process saw.
async fn storm_in_processes(url: &str, mode: &str, here: bool) -> Vec<ChildSeen> {
    let cache = cache(url).await;
    let children: Vec<Child> = (0..if here { 1 } else { 2 })
        .map(|_| spawn_child(mode, url))
        .collect();
    tokio::time::timeout(GUARD, start_children(&cache, children.len() as i64))
        .await
        .expect("the children never got ready");
    let mut seen = Vec::new();
    if here {
        let s = tokio::time::timeout(GUARD, storm(&cache, lease(), Duration::from_millis(300)))
            .await
            .expect("the storm hung");
        let st = s.stats;
        seen.push((
            s.values,
            [st.leases_acquired, st.lease_waits, st.lease_wakeups],
        ));
    }
    for child in children {
        let out = tokio::task::spawn_blocking(move || child.wait_with_output())
            .await
            .unwrap()
            .expect("the child's output");
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "a child failed:\n{text}");
        assert!(text.contains("1 passed"), "a child did not run:\n{text}");
        seen.push(Seen::parse(&text));
    }
    assert_eq!(
        cache.incr("loads", 0).await.unwrap(),
        1,
        "the loader ran more than once in two processes: {seen:?}"
    );
    let all: Vec<u32> = seen.iter().flat_map(|s| s.0.iter().copied()).collect();
    assert_eq!(all.len(), 2 * CALLERS);
    assert!(
        all.iter().all(|v| *v == all[0]),
        "different values: {all:?}"
    );
    // One lease taken in all; within a process, only the local leader competes for it.
    let total = |i: usize| seen.iter().map(|s| s.1[i]).sum::<u64>();
    assert_eq!(total(0), 1, "{seen:?}");
    assert!(seen.iter().all(|s| s.1[1] <= 1), "{seen:?}");
    seen
}

async fn runs_the_loader_once(scheme: &str) {
    let server = RedisServer::start();
    let url = format!("{scheme}{}", server.url());
    storm_in_processes(&url, "storm", true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_two_processes_run_the_loader_once() {
    runs_the_loader_once("").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tiered_two_processes_run_the_loader_once() {
    runs_the_loader_once("tiered+").await;
}

/// Two child processes whose polls are 10 minutes apart: only the holder's message can end
/// the other's wait before the guard.
async fn waiters_are_woken_by_the_holder(scheme: &str) {
    let server = RedisServer::start();
    let url = format!("{scheme}{}", server.url());
    let seen = storm_in_processes(&url, "wake", false).await;
    let total = |i: usize| seen.iter().map(|s| s.1[i]).sum::<u64>();
    assert_eq!(total(1), 1, "nobody waited: {seen:?}");
    assert!(total(2) >= 1, "the wait ended otherwise: {seen:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_waiters_are_woken_by_the_holder() {
    waiters_are_woken_by_the_holder("").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tiered_waiters_are_woken_by_the_holder() {
    waiters_are_woken_by_the_holder("tiered+").await;
}

/// The holder is killed mid-load: this process loads once its lease (2 s) expires.
async fn a_killed_holder_does_not_block(scheme: &str) {
    let server = RedisServer::start();
    let url = format!("{scheme}{}", server.url());
    let cache = cache(&url).await;
    let mut child = spawn_child("hold", &url);
    let stdout = child.stdout.take().expect("the child's stdout");
    let holding = tokio::task::spawn_blocking(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .any(|l| l.contains("holding"))
    });
    let holding = tokio::time::timeout(GUARD, holding)
        .await
        .expect("the child never held the lease")
        .unwrap();
    child.kill().expect("killing the holder");
    child.wait().expect("reaping the holder");
    assert!(holding, "the child exited without holding the lease");

    let loads = Arc::new(AtomicUsize::new(0));
    let opts = SetOptions::new().lease(Duration::from_secs(2));
    let calls = (0..CALLERS).map(|_| {
        let (cache, loads, opts) = (cache.clone(), Arc::clone(&loads), opts.clone());
        tokio::spawn(async move {
            cache
                .get_or_set("held", opts, || async {
                    loads.fetch_add(1, Ordering::SeqCst);
                    42u32
                })
                .await
        })
    });
    let values = tokio::time::timeout(GUARD, futures_util::future::join_all(calls))
        .await
        .expect("the waiters hung on a dead holder's lease");
    assert!(values.into_iter().all(|v| v.unwrap() == 42));
    assert_eq!(loads.load(Ordering::SeqCst), 1);
    let stats = cache.stats();
    // The dead holder's lease was in the way, and this process took it over once it expired.
    assert_eq!(
        (stats.lease_waits, stats.leases_acquired),
        (1, 1),
        "{stats:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_a_killed_holder_does_not_block() {
    a_killed_holder_does_not_block("").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tiered_a_killed_holder_does_not_block() {
    a_killed_holder_does_not_block("tiered+").await;
}

static BODY_RUNS: AtomicUsize = AtomicUsize::new(0);
static CACHES: std::sync::OnceLock<[Cache; 2]> = std::sync::OnceLock::new();

/// Each call goes through one of two caches on the same Redis; they share no single flight, so
/// only the lease keeps the body to one run.
#[cache_core::cached(key = "slow:{id}", cache = CACHES.get().expect("caches")[via], lock = "distributed", lease = "5s")]
async fn slow(via: usize, id: u32) -> u32 {
    let _ = via;
    BODY_RUNS.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(300)).await;
    id * 2
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cached_with_a_distributed_lock_runs_the_body_once_for_two_caches() {
    let server = RedisServer::start();
    let url = server.url();
    let both = [cache(&url).await, cache(&url).await];
    assert!(CACHES.set(both).is_ok(), "the caches were set before");
    let caches = CACHES.get().expect("caches");
    let calls = (0..CALLERS).map(|i| tokio::spawn(slow(i % 2, 21)));
    let values = tokio::time::timeout(GUARD, futures_util::future::join_all(calls))
        .await
        .expect("the calls hung");
    assert!(values.into_iter().all(|v| v.unwrap() == 42));
    assert_eq!(BODY_RUNS.load(Ordering::SeqCst), 1);
    let acquired: u64 = caches.iter().map(|c| c.stats().leases_acquired).sum();
    assert_eq!(acquired, 1);
}
