//! One outage, the same on every remote store: a `#[cached]` function and a
//! `#[cache_invalidate]` one over a cache on the store, through a fault (kill or pause) and its
//! end (restart or resume).
//!
//! Asserted, by counts and states only (no timing): every call returns the right value; the
//! first cold call after the fault makes exactly one failing store call and opens the breaker;
//! every later call during the outage makes at most one (most are answered by the open breaker
//! without the server); an invalidation made during the outage is queued and replayed, so no
//! stale value is served afterwards; after the server is back the breaker closes and hits
//! resume. Every call runs under a hang guard far below the URL's `timeout_ms` where the test
//! sets a long one: a refused or reset connection must fail at once, not wait out the timeout.

#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::Duration;

use cache_core::store::BreakerState;
use cache_core::{cache_invalidate, cached, Cache, StoreStats};

/// A guard against hangs only, not a speed assertion.
pub(crate) const HANG_GUARD: Duration = Duration::from_secs(10);

/// A "database" of user names behind a cached read and an invalidating write.
pub(crate) struct Users {
    pub(crate) cache: Cache,
    names: Mutex<HashMap<u64, String>>,
    loads: AtomicUsize,
}

impl Users {
    pub(crate) fn new(cache: Cache) -> Self {
        Self {
            cache,
            names: Mutex::new(HashMap::new()),
            loads: AtomicUsize::new(0),
        }
    }

    pub(crate) fn loads(&self) -> usize {
        self.loads.load(Relaxed)
    }

    fn name_of(&self, id: u64) -> String {
        self.names
            .lock()
            .unwrap()
            .get(&id)
            .cloned()
            .unwrap_or_else(|| format!("user {id}"))
    }

    #[cached(key = "user:{id}", ttl = 600, cache = self.cache)]
    pub(crate) async fn user(&self, id: u64) -> String {
        self.loads.fetch_add(1, Relaxed);
        self.name_of(id)
    }

    #[cache_invalidate(keys = ["user:{id}"], cache = self.cache)]
    pub(crate) async fn rename(&self, id: u64, name: &str) -> Result<(), String> {
        self.names.lock().unwrap().insert(id, name.to_owned());
        Ok(())
    }
}

/// A call that must come back within the hang guard.
pub(crate) async fn guarded<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(HANG_GUARD, f)
        .await
        .unwrap_or_else(|_| panic!("{what} hung (or waited out a long timeout)"))
}

fn store(cache: &Cache) -> StoreStats {
    cache.store().stats()
}

/// Sends a signal to a process by its PID (the one the testing kit started).
pub(crate) fn signal(pid: u32, sig: &str) {
    let status = std::process::Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .expect("running kill");
    assert!(status.success(), "kill {sig} {pid} failed");
}

/// Runs the outage on `server`: `fault` starts it, `heal` ends it.
pub(crate) async fn through_an_outage<S>(
    users: &Users,
    server: &mut S,
    fault: impl FnOnce(&mut S),
    heal: impl FnOnce(&mut S),
) {
    let cache = &users.cache;
    assert_eq!(store(cache).breaker, Some(BreakerState::Closed));
    assert_eq!(guarded("warm", users.user(1)).await, "user 1");
    assert_eq!(guarded("hit", users.user(1)).await, "user 1");
    assert_eq!(users.loads(), 1, "the second call was a hit");

    fault(server);

    // The first cold call: one failing store call (the read), then no second read, no write.
    let errors = cache.stats().errors;
    assert_eq!(guarded("first call", users.user(2)).await, "user 2");
    assert_eq!(
        cache.stats().errors - errors,
        1,
        "the first call after the fault made more than one failing store call"
    );
    assert_eq!(
        store(cache).breaker,
        Some(BreakerState::Open),
        "the breaker did not open on the first failure"
    );

    // While it is open: the real work, at most one store call each, most without the server.
    let short = store(cache).short_circuited;
    for id in [1, 3, 2] {
        let errors = cache.stats().errors;
        assert_eq!(
            guarded("a call during the outage", users.user(id)).await,
            format!("user {id}")
        );
        assert_eq!(cache.stats().errors - errors, 1, "one store call at most");
    }
    assert!(
        store(cache).short_circuited > short,
        "every call reached the dead server: {:?}",
        store(cache)
    );

    // A change during the outage: its invalidation cannot reach the server, and is kept.
    guarded("rename", users.rename(1, "renamed")).await.unwrap();
    assert_eq!(guarded("read after rename", users.user(1)).await, "renamed");
    assert!(store(cache).pending >= 1, "{:?}", store(cache));

    heal(server);

    // Hits resume without any action: the breaker probes, closes, replays what is queued.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let _ = guarded("a call after the restart", users.user(4)).await;
        let loads = users.loads();
        assert_eq!(
            guarded("a call after the restart", users.user(4)).await,
            "user 4"
        );
        if users.loads() == loads {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "hits never resumed: {:?}",
            store(cache)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let s = store(cache);
    assert_eq!(s.breaker, Some(BreakerState::Closed), "{s:?}");
    assert_eq!(s.pending, 0, "queued invalidations not replayed: {s:?}");
    assert!(s.breaker_opens >= 1);
    // No value invalidated during the outage is served now.
    assert_eq!(
        guarded("read after recovery", users.user(1)).await,
        "renamed"
    );
    assert_eq!(
        guarded("read after recovery", users.user(2)).await,
        "user 2"
    );
}
