//! A conformance suite any [`Store`] runs to prove it behaves like the built-in stores.
//!
//! Each check works in a namespace of its own (a random prefix), so the suite can run against a
//! shared server. A failing check panics with the check's name and what it saw.
//!
//! ```
//! use std::sync::Arc;
//! use cache_core::{store::MemoryStore, testing};
//!
//! # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
//! testing::conformance(Arc::new(MemoryStore::new())).await;
//! # });
//! ```

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use crate::store::{Capability, KeyTtl, Store, WriteOptions};
use crate::{Cache, SetOptions};

mod limited;
#[cfg(feature = "mysql")]
pub mod mariadb;
#[cfg(feature = "memcached")]
pub mod memcached;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(any(
    feature = "redis",
    feature = "memcached",
    feature = "postgres",
    feature = "mysql",
    feature = "sqlite"
))]
mod process;
#[cfg(feature = "redis")]
pub mod redis;
#[cfg(feature = "sqlite")]
pub mod sqlite;

pub use limited::Limited;
#[cfg(feature = "mysql")]
pub use mariadb::MariadbServer;
#[cfg(feature = "memcached")]
pub use memcached::MemcachedServer;
#[cfg(feature = "postgres")]
pub use postgres::PostgresServer;
#[cfg(feature = "redis")]
pub use redis::{RedisCluster, RedisSentinel, RedisServer};
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteFile;
/// The `sqlx` this build of cache-core uses, for tests that look at the SQL store's tables
/// directly (with the same driver and version as the store).
#[cfg(any(feature = "postgres", feature = "mysql", feature = "sqlite"))]
pub use sqlx;

/// Sets, for this process, how often a load waiting on another process's
/// [distributed lock](crate::Lock::Distributed) polls the store: first after `first`, then
/// at doubling intervals up to `max` (by default 10 ms and 200 ms). Tests set long intervals to
/// show that waiters are woken by the holder's message rather than by polling.
///
/// ```
/// use std::time::Duration;
/// cache_core::testing::set_lease_poll(Duration::from_millis(10), Duration::from_millis(200));
/// ```
pub fn set_lease_poll(first: Duration, max: Duration) {
    crate::cache::lease::set_poll(first, max);
}

/// Runs every check that applies to `store`, as its [`capabilities`](Store::capabilities) say,
/// and returns the names of those that ran. A capability the store does not declare is checked
/// to be refused with [`Error::Unsupported`](crate::Error::Unsupported), never pretended.
pub async fn conformance(store: Arc<dyn Store>) -> Vec<&'static str> {
    let caps = store.capabilities();
    let mut ran = vec![
        "roundtrip",
        "ttl",
        "add",
        "batches",
        "versions",
        "corrupt",
        "single_flight",
        "loader_errors",
        "panicking_loader",
        "dropped_leader",
        "stale_while_refresh",
        "large",
    ];
    roundtrip(&store).await;
    ttl_expiry(&store).await;
    add_exists(&store).await;
    batches(&store).await;
    versions(&store).await;
    corrupt_values(&store).await;
    single_flight(&store).await;
    loader_errors(&store).await;
    panicking_loader(&store).await;
    dropped_leader(&store).await;
    stale_while_refresh(&store).await;
    large_and_odd_values(&store).await;
    let c = cache_on(&store);
    if caps.has(Capability::Take) {
        take(&store).await;
        ran.push("take");
    } else {
        refused("take", c.take::<i32>("k").await);
    }
    if caps.has(Capability::PatternScan) {
        patterns(&store).await;
        ran.push("patterns");
    } else {
        refused("patterns", c.keys("*").await);
        refused("patterns", c.delete_pattern("*").await);
        refused("patterns", c.clear().await);
    }
    if caps.has(Capability::NativeTags) {
        tags(&store).await;
        ran.push("tags");
    } else {
        tags_emulated(&store).await;
        ran.push("tags_emulated");
    }
    if caps.has(Capability::PatternScan) {
        namespaces(&store).await;
        ran.push("namespaces");
    }
    if caps.has(Capability::AtomicCounters) {
        counters(&store).await;
        ran.push("counters");
    } else {
        refused("counters", c.incr("n", 1).await);
    }
    if caps.has(Capability::TtlRead) && caps.has(Capability::Expire) {
        expire_and_ttl(&store).await;
        ran.push("expire");
    } else if !caps.has(Capability::TtlRead) {
        refused("ttl", c.ttl("k").await);
    } else {
        refused("expire", c.expire("k", None).await);
    }
    store
        .ping()
        .await
        .expect("conformance/ping: store does not answer");
    ran
}

fn refused<T: std::fmt::Debug>(check: &str, r: crate::Result<T>) {
    assert!(
        matches!(r, Err(crate::Error::Unsupported { .. })),
        "conformance/{check}: an undeclared capability answered {r:?} instead of Unsupported"
    );
}

/// A cache on `store` in a fresh namespace.
pub fn cache_on(store: &Arc<dyn Store>) -> Cache {
    static N: AtomicUsize = AtomicUsize::new(0);
    let prefix = format!(
        "conf{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    Cache::builder()
        .store_arc(Arc::clone(store))
        .prefix(prefix)
        .build_now()
        .expect("conformance: building a cache on the store")
}

fn ctx(check: &str) -> impl Fn(crate::Error) -> String + '_ {
    move |e| format!("conformance/{check}: unexpected error: {e}")
}

macro_rules! ok {
    ($check:literal, $e:expr) => {
        $e.await
            .map_err(ctx($check))
            .unwrap_or_else(|m| panic!("{m}"))
    };
}

async fn roundtrip(store: &Arc<dyn Store>) {
    let c = cache_on(store);
    assert_eq!(
        ok!("roundtrip", c.get::<String>("k")),
        None,
        "conformance/roundtrip: fresh key"
    );
    ok!("roundtrip", c.set("k", "v1"));
    assert_eq!(
        ok!("roundtrip", c.get::<String>("k")).as_deref(),
        Some("v1")
    );
    ok!("roundtrip", c.set("k", "v2"));
    assert_eq!(
        ok!("roundtrip", c.get::<String>("k")).as_deref(),
        Some("v2"),
        "conformance/roundtrip: overwrite"
    );
    assert!(
        ok!("roundtrip", c.delete("k")),
        "conformance/roundtrip: delete existing"
    );
    assert!(
        !ok!("roundtrip", c.delete("k")),
        "conformance/roundtrip: delete missing"
    );
    assert_eq!(ok!("roundtrip", c.get::<String>("k")), None);
}

async fn ttl_expiry(store: &Arc<dyn Store>) {
    let c = cache_on(store);
    ok!("ttl", c.set_with("short", &1, Duration::from_millis(150)));
    ok!("ttl", c.set_with("long", &2, Duration::from_secs(60)));
    assert_eq!(
        ok!("ttl", c.get::<i32>("short")),
        Some(1),
        "conformance/ttl: before expiry"
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        ok!("ttl", c.get::<i32>("short")),
        None,
        "conformance/ttl: after expiry"
    );
    assert!(
        !ok!("ttl", c.exists("short")),
        "conformance/ttl: expired key exists"
    );
    assert_eq!(ok!("ttl", c.get::<i32>("long")), Some(2));
}

async fn add_exists(store: &Arc<dyn Store>) {
    let c = cache_on(store);
    assert!(
        ok!("add", c.add("a", &1, ())),
        "conformance/add: absent key"
    );
    assert!(
        !ok!("add", c.add("a", &2, ())),
        "conformance/add: present key"
    );
    assert_eq!(
        ok!("add", c.get::<i32>("a")),
        Some(1),
        "conformance/add: value kept"
    );
    assert!(ok!("exists", c.exists("a")));
    assert!(ok!("exists", c.delete("a")));
    assert!(!ok!("exists", c.exists("a")));
}

async fn take(store: &Arc<dyn Store>) {
    let c = cache_on(store);
    ok!("take", c.set("a", &1));
    assert_eq!(ok!("take", c.take::<i32>("a")), Some(1));
    assert_eq!(
        ok!("take", c.take::<i32>("a")),
        None,
        "conformance/take: second take"
    );
    assert!(!ok!("take", c.exists("a")));
}

async fn batches(store: &Arc<dyn Store>) {
    let c = cache_on(store);
    let values: Vec<(String, u32)> = (0..50).map(|i| (format!("b:{i}"), i)).collect();
    ok!(
        "set_many",
        c.set_many(values.iter().map(|(k, v)| (k.as_str(), v)), ())
    );
    let mut keys: Vec<String> = values.iter().map(|(k, _)| k.clone()).collect();
    keys.push("b:missing".into());
    let got = ok!("get_many", c.get_many::<u32, _, _>(&keys));
    assert_eq!(got.len(), 51);
    for (i, v) in got.iter().take(50).enumerate() {
        assert_eq!(*v, Some(i as u32), "conformance/get_many: slot {i}");
    }
    assert_eq!(got[50], None);
    assert_eq!(
        ok!("delete_many", c.delete_many(&keys)),
        50,
        "conformance/delete_many: count"
    );
    assert!(ok!("get_many", c.get_many::<u32, _, _>(&keys))
        .iter()
        .all(Option::is_none));
}

async fn patterns(store: &Arc<dyn Store>) {
    let c = cache_on(store);
    for k in [
        "user:1",
        "user:2",
        "user:10",
        "user:1:posts",
        "post:1",
        "user*",
        "user:[x]",
    ] {
        ok!("patterns", c.set(k, &1));
    }
    let mut got = ok!("keys", c.keys("user:?"));
    got.sort();
    assert_eq!(got, ["user:1", "user:2"], "conformance/keys: '?'");
    assert_eq!(
        ok!("keys", c.keys("user:[0-1]")),
        ["user:1"],
        "conformance/keys: class"
    );
    assert_eq!(
        ok!("keys", c.keys("user\\*")),
        ["user*"],
        "conformance/keys: escaped '*'"
    );
    assert_eq!(
        ok!("keys", c.keys("user:\\[x\\]")),
        ["user:[x]"],
        "conformance/keys: escaped class"
    );
    assert!(
        c.keys("user:[0-").await.is_err(),
        "conformance/keys: malformed pattern accepted"
    );
    assert_eq!(
        ok!("delete_pattern", c.delete_pattern("user:*")),
        5,
        "conformance/delete_pattern: count"
    );
    assert_eq!(ok!("keys", c.keys("*")), ["post:1", "user*"]);
}

async fn namespaces(store: &Arc<dyn Store>) {
    let a = cache_on(store);
    let b = cache_on(store);
    ok!("namespaces", a.set("k", &"a"));
    ok!("namespaces", b.set("k", &"b"));
    ok!(
        "namespaces",
        a.set_with("t", &1, SetOptions::new().tag("shared"))
    );
    ok!(
        "namespaces",
        b.set_with("t", &2, SetOptions::new().tag("shared"))
    );
    assert_eq!(
        ok!("namespaces", a.delete_pattern("*")),
        2,
        "conformance/namespaces: pattern crossed namespaces"
    );
    assert_eq!(
        ok!("namespaces", b.get::<String>("k")).as_deref(),
        Some("b")
    );
    assert_eq!(ok!("namespaces", a.invalidate_tags(["shared"])), 0);
    assert_eq!(
        ok!("namespaces", b.get::<i32>("t")),
        Some(2),
        "conformance/namespaces: tag crossed namespaces"
    );
    assert_eq!(ok!("namespaces", b.keys("*")).len(), 2);
}

async fn versions(store: &Arc<dyn Store>) {
    let b = cache_on(store);
    // Versions: a bump hides old entries, and clear/patterns never reach the old version.
    ok!("versions", b.set("old", &1));
    b.bump_version().await.expect("conformance/versions: bump");
    assert_eq!(
        ok!("versions", b.get::<i32>("old")),
        None,
        "conformance/versions: bump"
    );
    ok!("versions", b.set("new", &1));
    if store.capabilities().has(Capability::PatternScan) {
        assert_eq!(
            ok!("versions", b.clear()),
            1,
            "conformance/versions: clear reached another version"
        );
        assert_eq!(ok!("versions", b.keys("*")).len(), 0);
    }
}

/// What both tag checks start from: `u1` (tags `users`, `user:1`), `u2` (`users`), `p1`
/// (`posts`) and `plain` (no tag), holding 1 to 4.
async fn tagged_values(c: &Cache) {
    ok!(
        "tags",
        c.set_with("u1", &1, SetOptions::new().tags(["users", "user:1"]))
    );
    ok!(
        "tags",
        c.set_with("u2", &2, SetOptions::new().tags(["users"]))
    );
    ok!(
        "tags",
        c.set_with("p1", &3, SetOptions::new().tags(["posts"]))
    );
    ok!("tags", c.set("plain", &4));
}

async fn tags(store: &Arc<dyn Store>) {
    let c = cache_on(store);
    tagged_values(&c).await;
    assert_eq!(ok!("tags", c.invalidate_tags(["user:1"])), 1);
    assert_eq!(ok!("tags", c.get::<i32>("u1")), None);
    assert_eq!(ok!("tags", c.get::<i32>("u2")), Some(2));
    assert_eq!(ok!("tags", c.invalidate_tags(["users", "posts"])), 2);
    assert_eq!(ok!("tags", c.get::<i32>("p1")), None);
    assert_eq!(
        ok!("tags", c.get::<i32>("plain")),
        Some(4),
        "conformance/tags: untagged key deleted"
    );
    // A key re-written without the tag is not deleted by the tag.
    ok!("tags", c.set_with("re", &1, SetOptions::new().tag("t")));
    ok!("tags", c.set("re", &2));
    ok!("tags", c.invalidate_tags(["t"]));
    assert_eq!(
        ok!("tags", c.get::<i32>("re")),
        Some(2),
        "conformance/tags: re-written key deleted by an old tag"
    );
    // A tag can be used again after invalidation.
    ok!(
        "tags",
        c.set_with("again", &1, SetOptions::new().tag("users"))
    );
    assert_eq!(ok!("tags", c.invalidate_tags(["users"])), 1);
    assert!(
        c.invalidate_tags([""]).await.is_err(),
        "conformance/tags: empty tag accepted"
    );
}

/// Tags on a store without a tag index: the cache's stamps hide every value of an invalidated
/// tag (from reads, loads, batches, raw reads and `exists`), and only those.
async fn tags_emulated(store: &Arc<dyn Store>) {
    let c = cache_on(store);
    tagged_values(&c).await;
    ok!(
        "tags",
        c.set_bytes(
            "raw",
            Bytes::from_static(b"r"),
            SetOptions::new().tag("posts")
        )
    );
    ok!("tags", c.invalidate_tags(["user:1"]));
    assert_eq!(
        ok!("tags", c.get::<i32>("u1")),
        None,
        "conformance/tags: invalidated value served"
    );
    assert!(
        !ok!("tags", c.exists("u1")),
        "conformance/tags: invalidated value exists"
    );
    assert_eq!(
        ok!("tags", c.get::<i32>("u2")),
        Some(2),
        "conformance/tags: other tag hit"
    );
    ok!("tags", c.invalidate_tags(["users", "posts"]));
    assert_eq!(
        ok!("tags", c.get_many::<i32, _, _>(["u2", "p1", "plain"])),
        [None, None, Some(4)],
        "conformance/tags: batch read after invalidation"
    );
    assert_eq!(
        ok!("tags", c.get_bytes("raw")),
        None,
        "conformance/tags: raw value"
    );
    // Written again after the invalidation: served.
    ok!("tags", c.set_with("u1", &5, SetOptions::new().tag("users")));
    assert_eq!(ok!("tags", c.get::<i32>("u1")), Some(5));
    // A key re-written without the tag is not reached by it.
    ok!("tags", c.set_with("re", &1, SetOptions::new().tag("t")));
    ok!("tags", c.set("re", &2));
    ok!("tags", c.invalidate_tags(["t"]));
    assert_eq!(
        ok!("tags", c.get::<i32>("re")),
        Some(2),
        "conformance/tags: re-written key"
    );
    // Loads see the invalidation too.
    let opts = SetOptions::new().tag("g");
    assert_eq!(c.get_or_set("gs", opts.clone(), || async { 1 }).await, 1);
    ok!("tags", c.invalidate_tags(["g"]));
    assert_eq!(
        c.get_or_set("gs", opts, || async { 2 }).await,
        2,
        "conformance/tags: load"
    );
    assert!(
        c.invalidate_tags([""]).await.is_err(),
        "conformance/tags: empty tag accepted"
    );
}

async fn counters(store: &Arc<dyn Store>) {
    let c = cache_on(store);
    assert_eq!(ok!("incr", c.incr("n", 1)), 1);
    assert_eq!(ok!("incr", c.incr("n", 10)), 11);
    assert_eq!(ok!("decr", c.decr("n", 12)), -1);
    assert_eq!(
        ok!("incr", c.get::<i64>("n")),
        Some(-1),
        "conformance/incr: counter readable"
    );
    let hits = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let c = c.clone();
            let hits = Arc::clone(&hits);
            tokio::spawn(async move {
                c.incr("par", 1).await.expect("conformance/incr: parallel");
                hits.fetch_add(1, Ordering::Relaxed);
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("conformance/incr: task");
    }
    assert_eq!(
        ok!("incr", c.get::<i64>("par")),
        Some(50),
        "conformance/incr: not atomic"
    );
    ok!("incr", c.set("text", "abc"));
    assert!(
        matches!(c.incr("text", 1).await, Err(crate::Error::Decode(_))),
        "conformance/incr: non-integer value must be a decode error"
    );
}

async fn expire_and_ttl(store: &Arc<dyn Store>) {
    let c = cache_on(store);
    assert_eq!(ok!("ttl", c.ttl("none")), KeyTtl::Missing);
    ok!("ttl", c.set("p", &1));
    assert_eq!(ok!("ttl", c.ttl("p")), KeyTtl::Persistent);
    assert!(ok!(
        "expire",
        c.expire("p", Some(Duration::from_millis(2500)))
    ));
    let left = ok!("ttl", c.ttl("p"))
        .remaining()
        .expect("conformance/ttl: expiry set");
    assert!(
        left <= Duration::from_millis(2500) && left > Duration::from_millis(1500),
        "conformance/ttl: remaining {left:?} after expire(2.5s)"
    );
    assert!(ok!("expire", c.expire("p", None)));
    assert_eq!(
        ok!("ttl", c.ttl("p")),
        KeyTtl::Persistent,
        "conformance/expire: persist"
    );
    assert!(!ok!(
        "expire",
        c.expire("none", Some(Duration::from_secs(1)))
    ));
    ok!("expire", c.expire("p", Some(Duration::from_millis(100))));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        ok!("ttl", c.ttl("p")),
        KeyTtl::Missing,
        "conformance/expire: shortened TTL ignored"
    );
}

async fn corrupt_values(store: &Arc<dyn Store>) {
    let c = cache_on(store);
    let full = c.full_key("bad").expect("key");
    for junk in [
        &b"not ours"[..],
        b"\xCA\x01\x01\x00{not json",
        b"\xCA\x07",
        b"",
    ] {
        store
            .set(
                &full,
                Bytes::copy_from_slice(junk),
                &WriteOptions::default(),
            )
            .await
            .expect("conformance/corrupt: raw set");
        let before = c.stats().decode_errors;
        assert_eq!(
            ok!("corrupt", c.get::<String>("bad")),
            None,
            "conformance/corrupt: {junk:?} decoded"
        );
        assert_eq!(
            c.stats().decode_errors,
            before + 1,
            "conformance/corrupt: not counted"
        );
    }
    // A load treats it as a miss, and overwrites it.
    let v = c
        .get_or_set("bad", (), || async { "fresh".to_string() })
        .await;
    assert_eq!(v, "fresh", "conformance/corrupt: get_or_set");
    ok!("corrupt", c.set("bad", "fine"));
    assert_eq!(
        ok!("corrupt", c.get::<String>("bad")).as_deref(),
        Some("fine"),
        "conformance/corrupt: not replaced"
    );
    // A value of the wrong type is a miss too.
    assert_eq!(ok!("corrupt", c.get::<u64>("bad")), None);
}

async fn single_flight(store: &Arc<dyn Store>) {
    let c = cache_on(store);
    let calls = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let c = c.clone();
            let calls = Arc::clone(&calls);
            tokio::spawn(async move {
                c.get_or_set("cold", (), || async move {
                    calls.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    7u32
                })
                .await
            })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.expect("conformance/single_flight: task"), 7);
    }
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "conformance/single_flight: loader ran more than once"
    );
    assert!(
        !c.__in_flight("cold"),
        "conformance/single_flight: flight left behind"
    );
}

async fn large_and_odd_values(store: &Arc<dyn Store>) {
    let c = cache_on(store);
    let big: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
    ok!("large", c.set("big", &big));
    assert_eq!(
        ok!("large", c.get::<Vec<u8>>("big")).as_ref(),
        Some(&big),
        "conformance/large: 1 MB value"
    );
    for key in ["ключ:ü", "a b", "tab\there", "{x}", "%41"] {
        ok!("odd keys", c.set(key, key));
        assert_eq!(
            ok!("odd keys", c.get::<String>(key)).as_deref(),
            Some(key),
            "conformance/odd keys: {key:?}"
        );
    }
    let long = "k".repeat(5000);
    ok!("long key", c.set(&long, &1));
    assert_eq!(ok!("long key", c.get::<i32>(&long)), Some(1));
    assert!(
        c.get::<i32>("").await.is_err(),
        "conformance/keys: empty key accepted"
    );
}

async fn loader_errors(store: &Arc<dyn Store>) {
    let cache = cache_on(store);
    let calls = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let cache = cache.clone();
            let calls = calls.clone();
            tokio::spawn(async move {
                cache
                    .try_get_or_set::<u32, String, _, _>("k", (), || async move {
                        calls.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        Err("database down".to_string())
                    })
                    .await
            })
        })
        .collect();
    for t in tasks {
        assert_eq!(*t.await.expect("conformance").unwrap_err(), "database down");
    }
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "waiters ran their own loaders"
    );
    assert!(
        !cache.exists("k").await.expect("conformance"),
        "an error was cached"
    );
    // The key is not poisoned: the next load runs and succeeds.
    let v = cache
        .try_get_or_set::<u32, String, _, _>("k", (), || async { Ok(5) })
        .await
        .expect("conformance");
    assert_eq!(v, 5);
    assert_eq!(cache.get::<u32>("k").await.expect("conformance"), Some(5));
}
async fn panicking_loader(store: &Arc<dyn Store>) {
    let cache = cache_on(store);
    let leader = {
        let cache = cache.clone();
        tokio::spawn(async move {
            cache
                .get_or_set::<u32, _, _>("p", (), || async {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    panic!("loader bug");
                })
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(10)).await;
    // A waiter that joined the doomed flight takes over and loads the value itself.
    let waiter = {
        let cache = cache.clone();
        tokio::spawn(async move { cache.get_or_set("p", (), || async { 9u32 }).await })
    };
    assert!(leader.await.unwrap_err().is_panic());
    assert_eq!(waiter.await.expect("conformance"), 9);
    assert_eq!(cache.get_or_set("p", (), || async { 1u32 }).await, 9);
    assert!(!cache.__in_flight("p"));
}
async fn dropped_leader(store: &Arc<dyn Store>) {
    let cache = cache_on(store);
    let leader = {
        let cache = cache.clone();
        tokio::spawn(async move {
            cache
                .get_or_set("d", (), || async {
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                    0u32
                })
                .await
        })
    };
    // Wait until the leader's load is in flight, then start a waiter and drop the leader.
    while !cache.__in_flight("d") {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let waiter = {
        let cache = cache.clone();
        tokio::spawn(async move { cache.get_or_set("d", (), || async { 42u32 }).await })
    };
    tokio::time::sleep(Duration::from_millis(20)).await;
    leader.abort();
    // Bounded so a regression fails instead of hanging the suite.
    let got = tokio::time::timeout(Duration::from_secs(30), waiter)
        .await
        .expect("waiter hung after its leader was dropped")
        .expect("conformance");
    assert_eq!(got, 42);
}
async fn stale_while_refresh(store: &Arc<dyn Store>) {
    let cache = cache_on(store);
    let opts = SetOptions::new()
        .ttl(Duration::from_millis(100))
        .stale(Duration::from_secs(30));
    assert_eq!(
        cache.get_or_set("s", opts.clone(), || async { 1u32 }).await,
        1
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Past the TTL: a plain get sees nothing fresh...
    assert_eq!(cache.get::<u32>("s").await.expect("conformance"), None);
    // ...one caller refreshes while a concurrent caller is served the stale value.
    let (started_tx, started_rx) = tokio::sync::oneshot::channel();
    let refresher = {
        let cache = cache.clone();
        let opts = opts.clone();
        tokio::spawn(async move {
            cache
                .get_or_set("s", opts, || async move {
                    let _ = started_tx.send(());
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    2u32
                })
                .await
        })
    };
    started_rx.await.expect("conformance");
    assert_eq!(
        cache.get_or_set("s", opts.clone(), || async { 3u32 }).await,
        1
    );
    assert_eq!(refresher.await.expect("conformance"), 2);
    assert_eq!(cache.get::<u32>("s").await.expect("conformance"), Some(2));
}
