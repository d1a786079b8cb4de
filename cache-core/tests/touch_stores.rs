//! `touch` re-arms a key to its own TTL (the one it was written with) and never makes a key
//! permanent: on memory, Redis and SQLite, with and without a default TTL.

use std::time::Duration;

use bytes::Bytes;
use cache_core::{Cache, KeyTtl, SetOptions};

const HOUR: Duration = Duration::from_secs(3600);

fn secs(t: KeyTtl) -> Option<u64> {
    t.remaining().map(|d| d.as_secs())
}

/// Remaining lifetime of `key`, in whole seconds (`None`: persistent or missing).
async fn left(cache: &Cache, key: &str) -> Option<u64> {
    secs(cache.ttl(key).await.unwrap())
}

/// `cache` has no default TTL.
async fn touch_without_a_default_ttl(cache: &Cache) {
    assert!(!cache.touch("missing").await.unwrap());
    assert_eq!(cache.ttl("missing").await.unwrap(), KeyTtl::Missing);

    // Written with a TTL: shortened, then touched back to its whole TTL.
    cache
        .set_with("session", &1, SetOptions::new().ttl(HOUR))
        .await
        .unwrap();
    cache
        .expire("session", Some(Duration::from_secs(5)))
        .await
        .unwrap();
    assert!(left(cache, "session").await.unwrap() <= 5);
    assert!(cache.touch("session").await.unwrap());
    let l = left(cache, "session").await.expect("still expires");
    assert!(l > 3000 && l <= 3600, "{l}");
    assert_eq!(cache.get::<i32>("session").await.unwrap(), Some(1));

    // Written with a TTL and a stale window: the whole stored lifetime comes back.
    cache
        .set_with(
            "page",
            &2,
            SetOptions::new().ttl(HOUR).stale(Duration::from_secs(1800)),
        )
        .await
        .unwrap();
    cache
        .expire("page", Some(Duration::from_secs(5)))
        .await
        .unwrap();
    assert!(cache.touch("page").await.unwrap());
    let l = left(cache, "page").await.expect("still expires");
    assert!(l > 5000 && l <= 5400, "{l}");

    // Raw bytes carry their TTL too.
    cache
        .set_bytes(
            "raw",
            Bytes::from_static(b"abc"),
            SetOptions::new().ttl(HOUR),
        )
        .await
        .unwrap();
    cache
        .expire("raw", Some(Duration::from_secs(5)))
        .await
        .unwrap();
    assert!(cache.touch("raw").await.unwrap());
    assert!(left(cache, "raw").await.unwrap() > 3000);
    let big = vec![b'x'; 4096];
    cache
        .set_bytes_with(
            "raw-big",
            big.len(),
            |b| b.extend_from_slice(&big),
            SetOptions::new().ttl(HOUR),
        )
        .await
        .unwrap();
    cache
        .expire("raw-big", Some(Duration::from_secs(5)))
        .await
        .unwrap();
    assert!(cache.touch("raw-big").await.unwrap());
    assert!(left(cache, "raw-big").await.unwrap() > 3000);
    assert_eq!(
        cache.get_bytes("raw-big").await.unwrap().as_deref(),
        Some(&big[..])
    );

    // Written without a TTL: stays persistent; given one since, keeps it. Never made permanent.
    cache.set("forever", &3).await.unwrap();
    assert!(cache.touch("forever").await.unwrap());
    assert_eq!(cache.ttl("forever").await.unwrap(), KeyTtl::Persistent);
    cache
        .expire("forever", Some(Duration::from_secs(60)))
        .await
        .unwrap();
    assert!(cache.touch("forever").await.unwrap());
    let l = left(cache, "forever").await.expect("not made permanent");
    assert!(l <= 60, "{l}");

    // A counter has no recorded TTL: its TTL is left as it is.
    assert_eq!(cache.incr("hits", 1).await.unwrap(), 1);
    cache
        .expire("hits", Some(Duration::from_secs(60)))
        .await
        .unwrap();
    assert!(cache.touch("hits").await.unwrap());
    let l = left(cache, "hits").await.expect("not made permanent");
    assert!(l <= 60, "{l}");
    assert_eq!(cache.get::<i64>("hits").await.unwrap(), Some(1));
}

/// `cache` has a default TTL of 60 s.
async fn touch_with_a_default_ttl(cache: &Cache) {
    // Its own TTL, not the default.
    cache
        .set_with("long", &1, SetOptions::new().ttl(HOUR))
        .await
        .unwrap();
    cache
        .expire("long", Some(Duration::from_secs(5)))
        .await
        .unwrap();
    assert!(cache.touch("long").await.unwrap());
    assert!(left(cache, "long").await.unwrap() > 3000);

    // Written with the default: back to the default.
    cache.set("short", &2).await.unwrap();
    cache
        .expire("short", Some(Duration::from_secs(5)))
        .await
        .unwrap();
    assert!(cache.touch("short").await.unwrap());
    let l = left(cache, "short").await.unwrap();
    assert!(l > 5 && l <= 60, "{l}");

    // Written with no expiry on purpose: stays so.
    cache
        .set_with("kept", &3, SetOptions::new().no_expiry())
        .await
        .unwrap();
    assert!(cache.touch("kept").await.unwrap());
    assert_eq!(cache.ttl("kept").await.unwrap(), KeyTtl::Persistent);
}

async fn with_default(url: &str) -> Cache {
    Cache::builder()
        .url(url)
        .prefix("touch-default")
        .default_ttl(Duration::from_secs(60))
        .build()
        .await
        .unwrap()
}

#[tokio::test]
async fn memory_touch_re_arms_the_own_ttl() {
    touch_without_a_default_ttl(&Cache::memory()).await;
    touch_with_a_default_ttl(&with_default("mem://").await).await;
}

#[cfg(feature = "redis")]
#[tokio::test]
async fn redis_touch_re_arms_the_own_ttl() {
    let server = cache_core::testing::RedisServer::start();
    let cache = Cache::from_url(&server.url()).await.unwrap();
    touch_without_a_default_ttl(&cache).await;
    touch_with_a_default_ttl(&with_default(&server.url()).await).await;
}

#[cfg(feature = "sqlite")]
#[tokio::test]
async fn sqlite_touch_re_arms_the_own_ttl() {
    let file = cache_core::testing::SqliteFile::new();
    let cache = Cache::from_url(&file.url()).await.unwrap();
    touch_without_a_default_ttl(&cache).await;
    touch_with_a_default_ttl(&with_default(&file.url()).await).await;
}
