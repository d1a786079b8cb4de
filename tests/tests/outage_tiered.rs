//! Redis dies under continuous use of a tiered cache, then comes back: calls keep returning
//! correct values, the breaker bounds how often the dead server is tried, and nothing
//! invalidated during the outage is served from memory afterwards (in either process).

use std::time::{Duration, Instant};

use cache_core::store::BreakerState;
use cache_core::testing::RedisServer;
use cache_core::Cache;
use cache_e2e::Peer;

/// The counters of the shared (Redis) tier.
#[derive(Debug, Clone, Copy)]
struct Shared {
    l2_hits: u64,
    l2_errors: u64,
    breaker_open: u64,
    breaker_opens: u64,
    pending: u64,
}

fn tier(cache: &Cache) -> Shared {
    let stats = cache.store().stats();
    let t = stats.tiers.last().expect("a tiered store");
    Shared {
        l2_hits: t.hits,
        l2_errors: t.errors,
        breaker_open: u64::from(t.breaker == BreakerState::Open),
        breaker_opens: t.breaker_opens,
        pending: t.pending,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_outage_is_absorbed_and_recovery_drops_what_may_be_stale() {
    let mut server = RedisServer::start();
    let url = format!(
        "tiered+{}?timeout_ms=250&breaker_threshold=3&breaker_cooldown=300ms",
        server.url()
    );
    let local = Cache::builder()
        .url(&url)
        .prefix("out")
        .build()
        .await
        .unwrap();
    let mut peer = Peer::spawn(env!("CARGO_BIN_EXE_peer"), &url, "out").await;

    for i in 0..10 {
        local.set(&format!("k{i}"), &i).await.unwrap();
    }
    // The peer holds k0 in memory.
    let mut promoted = false;
    for _ in 0..50 {
        assert_eq!(peer.ask("get k0").await, "value 0");
        if peer.ask("l1 k0").await == "yes" {
            promoted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(promoted);

    server.kill();

    // Continuous calls during the outage: every one answers correctly, none is an error.
    let mut latencies = Vec::new();
    let mut loads = 0;
    for round in 0..50 {
        for i in 0..10 {
            let t = Instant::now();
            assert_eq!(
                local.get::<i32>(&format!("k{i}")).await.unwrap(),
                Some(i),
                "memory tier value"
            );
            latencies.push(t.elapsed());
        }
        let t = Instant::now();
        assert_eq!(
            local.get::<i32>(&format!("missing{round}")).await.unwrap(),
            None
        );
        let v = local
            .get_or_set(&format!("loaded{round}"), (), || async {
                loads += 1;
                round
            })
            .await;
        assert_eq!(v, round);
        local.set(&format!("written{round}"), &round).await.unwrap();
        assert_eq!(
            local.get::<i32>(&format!("written{round}")).await.unwrap(),
            Some(round)
        );
        latencies.push(t.elapsed());
    }
    assert_eq!(loads, 50, "misses fell through to the loader");
    let during = tier(&local);
    assert!(
        during.breaker_opens >= 1,
        "the breaker never opened: {during:?}"
    );
    // 50 rounds make ~150 L2 attempts without a breaker; with it, a handful plus probes.
    assert!(
        during.l2_errors < 30,
        "the dead server was tried too often: {during:?}"
    );
    assert_eq!(local.stats().errors, during.l2_errors, "errors are counted");

    // Invalidate during the outage: kept locally, queued for L2.
    assert!(local.delete("k0").await.unwrap());
    assert_eq!(local.get::<i32>("k0").await.unwrap(), None);
    assert!(tier(&local).pending >= 1);

    server.restart();

    // Hits resume without restarting anything; the queued delete is replayed.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        local.set("probe", &1).await.unwrap();
        let s = tier(&local);
        if s.breaker_open == 0 && s.pending == 0 && local.store().ping().await.is_ok() {
            break;
        }
        assert!(Instant::now() < deadline, "never recovered: {s:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    local.set("after", &7).await.unwrap();
    assert_eq!(
        peer.ask("get after").await,
        "value 7",
        "the peer does not see new writes"
    );
    // The peer's memory copy of k0 may have missed the delete: it is dropped on reconnect.
    let deadline = Instant::now() + Duration::from_secs(20);
    while peer.ask("l1 k0").await == "yes" {
        assert!(
            Instant::now() < deadline,
            "the peer still serves k0 from memory"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(peer.ask("get k0").await, "none");

    latencies.sort();
    let p99 = latencies[latencies.len() * 99 / 100];
    let max = latencies[latencies.len() - 1];
    println!(
        "outage: {} calls, p99 {p99:?}, max {max:?}, L2 attempts that failed: {}",
        latencies.len(),
        during.l2_errors
    );
}

static PRICE_CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

#[cache_core::cached(key = "price:{id}", ttl = 60, cache = cache)]
async fn price(cache: &Cache, id: u64) -> u64 {
    PRICE_CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(1)).await; // the "real work"
    id * 10
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_function_returns_correct_values_through_a_redis_outage() {
    let mut server = RedisServer::start();
    let url = format!(
        "tiered+{}?timeout_ms=250&breaker_threshold=3&breaker_cooldown=300ms&l1_ttl=200ms",
        server.url()
    );
    let cache = Cache::builder()
        .url(&url)
        .prefix("fn")
        .build()
        .await
        .unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    // Continuous calls from 4 tasks; each call must return the right value.
    let workers: Vec<_> = (0..4)
        .map(|w| {
            let (cache, stop) = (cache.clone(), stop.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut n = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let id = (n * 7 + w) % 50;
                    let t = Instant::now();
                    assert_eq!(price(&cache, id).await, id * 10, "wrong value for {id}");
                    latencies.push(t.elapsed());
                    n += 1;
                    tokio::task::yield_now().await;
                }
                latencies
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    server.kill();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let during = tier(&cache);
    server.restart();
    // Wait for hits to resume from Redis without restarting anything.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let s = tier(&cache);
        if s.breaker_open == 0 && cache.store().ping().await.is_ok() && s.l2_hits > during.l2_hits {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "hits never resumed from Redis: {s:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut latencies: Vec<Duration> = Vec::new();
    for w in workers {
        latencies.extend(w.await.expect("a call failed or returned a wrong value"));
    }
    assert!(during.breaker_opens >= 1, "{during:?}");
    assert!(
        during.l2_errors < 40,
        "the dead server was tried too often: {during:?}"
    );
    latencies.sort();
    println!(
        "#[cached] through an outage: {} calls, all correct; p50 {:?}, p99 {:?}, max {:?}; body ran {} times; failed L2 attempts during the outage: {}",
        latencies.len(),
        latencies[latencies.len() / 2],
        latencies[latencies.len() * 99 / 100],
        latencies[latencies.len() - 1],
        PRICE_CALLS.load(std::sync::atomic::Ordering::Relaxed),
        during.l2_errors
    );
}

/// A tiered cache (`timeout_ms` per command, breaker opening after `threshold` errors in a
/// row) that deleted `k` while Redis was down, so the delete is queued; Redis is back, holding
/// `k` again (written there by another instance). Returns the server, the tiered cache and a
/// Redis-only cache on the same namespace.
async fn delete_queued_during_outage(
    timeout_ms: u64,
    threshold: u32,
) -> (RedisServer, Cache, Cache) {
    let mut server = RedisServer::start();
    let url = format!(
        "tiered+{}?timeout_ms={timeout_ms}&breaker_threshold={threshold}&breaker_cooldown=100ms",
        server.url()
    );
    let local = Cache::builder()
        .url(&url)
        .prefix("q")
        .build()
        .await
        .unwrap();
    local.set("k", &1).await.unwrap();
    server.kill();
    assert!(local.delete("k").await.unwrap());
    assert_eq!(tier(&local).pending, 1, "the delete is queued for Redis");
    server.restart();
    let direct = server.cache("q", "", "").await;
    direct.set("k", &2).await.unwrap();
    (server, local, direct)
}

/// Makes calls that reach Redis until nothing is queued any more, then checks the queued
/// delete of `k` reached Redis.
async fn queue_drains(local: &Cache, direct: &Cache) {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut n = 0;
    while tier(local).pending > 0 {
        assert!(
            Instant::now() < deadline,
            "the queued delete was never sent: {:?}",
            tier(local)
        );
        n += 1;
        assert!(!local.exists(&format!("drain{n}")).await.unwrap());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        direct.get::<i32>("k").await.unwrap(),
        None,
        "the replayed delete reached Redis"
    );
}

/// An invalidation queued during an outage whose replay fails once Redis is back (here Redis
/// refuses deletes for a while) stays queued and is sent by a later command, not forgotten.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queued_invalidation_whose_replay_fails_is_sent_later() {
    // A failed replay does not open this breaker: the next command that reaches Redis must
    // send the delete all the same.
    let (server, local, direct) = delete_queued_during_outage(250, 2).await;
    // Redis refuses deletes for now.
    server.cli(&["ACL", "SETUSER", "default", "-unlink", "-del"]);
    // Reads reach Redis without queueing anything of their own (a write made while the breaker
    // is open would be queued too).
    let deadline = Instant::now() + Duration::from_secs(20);
    for n in 0.. {
        assert!(!local.exists(&format!("probe{n}")).await.unwrap());
        // Redis logs the refused delete: the replay was tried, and failed.
        if server.cli(&["ACL", "LOG"]).contains("unlink") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no replay was tried: {:?}",
            tier(&local)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(tier(&local).pending, 1, "the failed replay stays queued");
    assert_eq!(direct.get::<i32>("k").await.unwrap(), Some(2));

    server.cli(&["ACL", "SETUSER", "default", "+@all"]);
    queue_drains(&local, &direct).await;
}

/// A caller that gives up while its call is the breaker's half-open probe (a timeout around
/// the call, a client gone) does not leave the breaker waiting for that probe forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abandoned_probe_does_not_keep_redis_out_of_use() {
    let server = RedisServer::start();
    let url = format!(
        "tiered+{}?timeout_ms=300&breaker_threshold=1&breaker_cooldown=100ms",
        server.url()
    );
    let local = Cache::builder()
        .url(&url)
        .prefix("ab")
        .build()
        .await
        .unwrap();
    let breaker = || local.store().stats().tiers[1].breaker;
    server.pause();
    // A call times out at Redis: the breaker opens. It still answers (from memory).
    assert_eq!(local.get::<i32>("a").await.unwrap(), None);
    assert_eq!(breaker(), BreakerState::Open);
    tokio::time::sleep(Duration::from_millis(150)).await;
    // The next call probes; its caller gives up before Redis answers.
    let gave_up = tokio::time::timeout(Duration::from_millis(50), local.get::<i32>("b")).await;
    assert!(gave_up.is_err(), "the probe was answered: {gave_up:?}");
    server.resume();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut n = 0;
    while breaker() != BreakerState::Closed {
        assert!(
            Instant::now() < deadline,
            "Redis is never used again: {:?}",
            tier(&local)
        );
        n += 1;
        assert_eq!(local.get::<i32>(&format!("c{n}")).await.unwrap(), None);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A caller that gives up while the invalidations queued during an outage are being replayed
/// (a timeout around its call) does not take them with it: a later call sends them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_whose_caller_gives_up_is_finished_later() {
    let (server, local, direct) = delete_queued_during_outage(2000, 1).await;
    // Plain reads are answered; writes (and scripts), the replayed delete among them, wait.
    server.cli(&["CLIENT", "PAUSE", "20000", "WRITE"]);
    let mut gave_up = false;
    for n in 0..100 {
        let key = format!("probe{n}");
        let call = local.exists(&key);
        if tokio::time::timeout(Duration::from_millis(200), call)
            .await
            .is_err()
        {
            gave_up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(gave_up, "no call ran into the replay: {:?}", tier(&local));
    assert_eq!(tier(&local).pending, 1, "the unsent delete is queued again");
    assert_eq!(direct.get::<i32>("k").await.unwrap(), Some(2));

    server.cli(&["CLIENT", "UNPAUSE"]);
    queue_drains(&local, &direct).await;
}

static ITEM_LOADS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

#[cache_core::cached(key = "item:{id}", ttl = 60, cache = cache)]
async fn item(cache: &Cache, id: u64) -> u64 {
    ITEM_LOADS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    id * 3
}

/// A guard against hangs only, far below the long `timeout_ms` of the kill test.
const HANG_GUARD: Duration = Duration::from_secs(10);

async fn within<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(HANG_GUARD, f)
        .await
        .expect("a call hung (or waited out a long timeout)")
}

/// With the default breaker options, a `#[cached]` function over `tiered+redis://` through a
/// fault: the first cold call makes one failing Redis command (not a read, a second read and a
/// write) and opens the breaker; later calls make at most one each; after the fault ends the
/// breaker closes, the queue drains and values reach Redis again.
async fn tiered_fault(
    options: &str,
    fault: impl FnOnce(&mut RedisServer),
    heal: impl FnOnce(&mut RedisServer),
) {
    let mut server = RedisServer::start();
    let cache = Cache::builder()
        .url(format!("tiered+{}?{options}", server.url()))
        .prefix("items")
        .build()
        .await
        .unwrap();
    assert_eq!(within(item(&cache, 1)).await, 3);
    fault(&mut server);
    let before = tier(&cache);
    assert_eq!(within(item(&cache, 2)).await, 6);
    let after = tier(&cache);
    assert_eq!(
        after.l2_errors - before.l2_errors,
        1,
        "the first cold call made more than one failing Redis command: {after:?}"
    );
    assert_eq!(after.breaker_open, 1, "the breaker did not open: {after:?}");
    for id in 3..8 {
        let before = tier(&cache);
        assert_eq!(within(item(&cache, id)).await, id * 3);
        assert!(tier(&cache).l2_errors - before.l2_errors <= 1);
    }
    assert_eq!(within(item(&cache, 1)).await, 3);
    heal(&mut server);
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut n = 100;
    loop {
        n += 1;
        assert_eq!(within(item(&cache, n)).await, n * 3);
        let s = tier(&cache);
        if s.breaker_open == 0
            && s.pending == 0
            && server
                .cli(&["EXISTS", &cache.full_key(&format!("item:{n}")).unwrap()])
                .trim()
                == "1"
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "Redis was never used again: {s:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_redis_under_a_tiered_cached_fn_costs_one_failing_command() {
    // A timeout half the hang guard: the first command may race the client's own detection of
    // the lost connection and wait it out once; none after it does.
    tiered_fault("timeout_ms=5000", RedisServer::kill, RedisServer::restart).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_redis_under_a_tiered_cached_fn_costs_one_timeout() {
    tiered_fault("timeout_ms=300", |s| s.pause(), |s| s.resume()).await;
}
