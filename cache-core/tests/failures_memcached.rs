//! One of three Memcached servers killed mid-run: keys on the other two are still served, calls
//! for keys on the dead one fall through to the loader within the timeout without an error to
//! the caller, and once the server is back it is used again. A hung server (SIGSTOP) is the
//! same, bounded by the command timeout. One server behind its breaker (a URL with one
//! server): a kill and a pause cost a cached function at most one failing command per call,
//! and nothing invalidated meanwhile is served after.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use cache_core::store::{MemcachedStore, Store};
use cache_core::testing::MemcachedServer;
use cache_core::Cache;

#[path = "outage_common/mod.rs"]
mod outage_common;
use outage_common::{signal, through_an_outage, Users};

/// A guard against hangs only (far above the configured timeouts), not a speed assertion.
const HANG_GUARD: Duration = Duration::from_secs(30);

struct Three {
    servers: Vec<MemcachedServer>,
    store: Arc<MemcachedStore>,
    cache: Cache,
}

async fn three(options: &str) -> Three {
    let servers: Vec<MemcachedServer> = (0..3).map(|_| MemcachedServer::start()).collect();
    let url = format!("{}?{options}", MemcachedServer::url_of(&servers));
    let store = Arc::new(MemcachedStore::connect(&url).await.expect("connect"));
    let cache = Cache::builder()
        .store_arc(Arc::clone(&store) as Arc<dyn Store>)
        .prefix("app")
        .build()
        .await
        .expect("cache");
    Three {
        servers,
        store,
        cache,
    }
}

impl Three {
    /// The index of the server holding a cache key.
    fn holder(&self, key: &str) -> usize {
        let at = self.store.server_for(&self.cache.full_key(key).unwrap());
        self.servers.iter().position(|s| s.addr() == at).unwrap()
    }

    /// 60 keys, `k0`…, with their values written; grouped by the server holding them.
    async fn fill(&self) -> [Vec<String>; 3] {
        let mut by: [Vec<String>; 3] = Default::default();
        for i in 0..60 {
            let k = format!("k{i}");
            self.cache.set(&k, &i).await.unwrap();
            by[self.holder(&k)].push(k);
        }
        assert!(by.iter().all(|v| !v.is_empty()), "a server holds no key");
        by
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_server_falls_through_to_the_loader_and_is_used_again_after_a_restart() {
    let mut t = three("timeout_ms=300&connect_timeout_ms=300&retry_ms=200").await;
    let by = t.fill().await;
    t.servers[1].kill();

    // Keys on the live servers are still served from the cache.
    for k in by[0].iter().chain(&by[2]) {
        let v = tokio::time::timeout(HANG_GUARD, t.cache.get::<i32>(k))
            .await
            .expect("hung")
            .unwrap();
        assert!(v.is_some(), "{k} on a live server was not served");
    }
    // Keys on the dead one: get_or_set runs the loader and returns its value, no error.
    let loads = AtomicUsize::new(0);
    for k in &by[1] {
        let v: i32 = tokio::time::timeout(
            HANG_GUARD,
            t.cache.get_or_set(k, (), || async {
                loads.fetch_add(1, Ordering::Relaxed);
                -1
            }),
        )
        .await
        .expect("get_or_set hung on a dead server");
        assert_eq!(v, -1, "{k}");
    }
    assert_eq!(loads.load(Ordering::Relaxed), by[1].len());
    // A plain read says what happened: a backend error, not a silent miss.
    let err = t.cache.get::<i32>(&by[1][0]).await.unwrap_err();
    assert!(err.is_backend(), "{err:?}");
    assert!(t.cache.stats().errors > 0);

    // Back up (empty): after the retry interval its keys are stored and served there again.
    t.servers[1].restart();
    let k = &by[1][0];
    let deadline = tokio::time::Instant::now() + HANG_GUARD;
    loop {
        let v: i32 = t.cache.get_or_set(k, (), || async { 41 }).await;
        if v == 41 && t.cache.get::<i32>(k).await.ok().flatten() == Some(41) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the restarted server was not used again"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The value is on the restarted server itself.
    let alone = MemcachedStore::connect(&t.servers[1].url()).await.unwrap();
    assert!(alone
        .get(&t.cache.full_key(k).unwrap())
        .await
        .unwrap()
        .is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_server_costs_one_timeout_then_is_passed_over() {
    let t = three("timeout_ms=200&connect_timeout_ms=200&retry_ms=60000").await;
    let by = t.fill().await;
    let pid = t.servers[2].pid().expect("running");
    let stop = |sig: &str| {
        let ok = std::process::Command::new("kill")
            .args([sig, &pid.to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill {sig} {pid}");
    };
    stop("-STOP");
    let first = tokio::time::timeout(HANG_GUARD, t.cache.get::<i32>(&by[2][0]))
        .await
        .expect("hung on a stopped server");
    assert!(
        matches!(first, Err(cache_core::Error::Timeout(_))),
        "{first:?}"
    );
    // Passed over now: the next calls fail at once with a backend error naming the server.
    let err = t.cache.get::<i32>(&by[2][0]).await.unwrap_err();
    assert!(err.to_string().contains("is down"), "{err}");
    let v: i32 = t.cache.get_or_set(&by[2][0], (), || async { 5 }).await;
    assert_eq!(v, 5);
    // The other servers are unaffected.
    assert!(t.cache.get::<i32>(&by[0][0]).await.unwrap().is_some());
    stop("-CONT");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_memcached_costs_one_failing_command_and_a_refused_one_does_not_wait() {
    let mut server = MemcachedServer::start();
    // Timeouts far above the hang guard: a refused connection must not wait them out.
    let cache = Cache::from_url(&format!(
        "{}?timeout_ms=30000&connect_timeout_ms=30000&retry_ms=100",
        server.url()
    ))
    .await
    .unwrap();
    let users = Users::new(cache);
    through_an_outage(
        &users,
        &mut server,
        MemcachedServer::kill,
        MemcachedServer::restart,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_memcached_costs_one_timeout_and_its_missed_invalidations_are_replayed() {
    let mut server = MemcachedServer::start();
    let cache = Cache::from_url(&format!(
        "{}?timeout_ms=300&connect_timeout_ms=300&retry_ms=100",
        server.url()
    ))
    .await
    .unwrap();
    let pid = server.pid().expect("running");
    let users = Users::new(cache);
    through_an_outage(
        &users,
        &mut server,
        |_| signal(pid, "-STOP"),
        |_| signal(pid, "-CONT"),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_servers_have_no_store_wide_breaker() {
    let servers: Vec<MemcachedServer> = (0..2).map(|_| MemcachedServer::start()).collect();
    let cache = Cache::from_url(&MemcachedServer::url_of(&servers))
        .await
        .unwrap();
    assert_eq!(cache.store().stats().breaker, None);
    let e = Cache::from_url(&format!(
        "{}?breaker_threshold=2",
        MemcachedServer::url_of(&servers)
    ))
    .await
    .unwrap_err()
    .to_string();
    assert!(e.contains("retry_ms"), "{e}");
}
