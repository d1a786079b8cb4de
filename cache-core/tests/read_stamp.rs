//! `ReadStamp`s: a stamp from a memory-store read stays current until its key changes in any
//! way, and stores that cannot vouch for a copy give none.
//! Run with: cargo test -p cache-core --test read_stamp

use std::time::Duration;

use bytes::Bytes;
use cache_core::store::MemoryStore;
use cache_core::testing::RedisServer;
use cache_core::{Cache, ReadStamp, SetOptions};

fn cache_on(store: &MemoryStore) -> Cache {
    Cache::builder()
        .store(store.clone())
        .prefix("stamp")
        .build_now()
        .unwrap()
}

/// Writes `key` and reads it back with a stamp, which must be current.
async fn stamped(cache: &Cache, key: &str, opts: SetOptions) -> ReadStamp {
    cache
        .set_bytes(key, Bytes::from_static(b"value"), opts)
        .await
        .unwrap();
    let (bytes, stamp) = cache.get_bytes_stamped(key).await.unwrap().unwrap();
    assert_eq!(&bytes[..], b"value");
    let stamp = stamp.expect("memory reads are stamped");
    assert!(stamp.is_current(), "fresh stamp of {key} not current");
    stamp
}

#[tokio::test]
async fn every_kind_of_change_ends_a_stamp() {
    let store = MemoryStore::new();
    let cache = cache_on(&store);
    let tagged = || SetOptions::new().tag("t");

    let s = stamped(&cache, "k", tagged()).await;
    cache
        .set_bytes("k", Bytes::from_static(b"same bytes, new write"), ())
        .await
        .unwrap();
    assert!(!s.is_current(), "overwrite");

    let s = stamped(&cache, "k", tagged()).await;
    cache.delete("k").await.unwrap();
    assert!(!s.is_current(), "delete");

    let s = stamped(&cache, "k", tagged()).await;
    let _: Option<Bytes> = cache.get_bytes("k").await.unwrap();
    assert!(s.is_current(), "a read is not a change");
    cache.invalidate_tags(["t"]).await.unwrap();
    assert!(!s.is_current(), "tag invalidation");

    let s = stamped(&cache, "k", tagged()).await;
    cache.delete_pattern("k*").await.unwrap();
    assert!(!s.is_current(), "pattern delete");

    let s = stamped(&cache, "k", tagged()).await;
    cache.clear().await.unwrap();
    assert!(!s.is_current(), "namespace clear");

    let s = stamped(&cache, "k", tagged()).await;
    cache
        .expire("k", Some(Duration::from_secs(600)))
        .await
        .unwrap();
    assert!(!s.is_current(), "TTL change");

    let s = stamped(&cache, "k", tagged()).await;
    cache.bump_version().await.unwrap();
    assert!(!s.is_current(), "version bump");

    let s = stamped(&cache, "k", tagged()).await;
    store.clear_all();
    assert!(!s.is_current(), "store cleared");
}

#[tokio::test]
async fn a_stamp_ends_with_its_ttl_before_the_store_sweeps() {
    let cache = cache_on(&MemoryStore::new());
    let s = stamped(
        &cache,
        "short",
        SetOptions::new().ttl(Duration::from_millis(50)),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(80)).await;
    assert!(!s.is_current());
}

#[tokio::test]
async fn an_evicted_value_ends_its_stamp() {
    let store = MemoryStore::builder().max_entries(10).build();
    let cache = cache_on(&store);
    let s = stamped(&cache, "first", SetOptions::new()).await;
    // Keys read more often than `first`, so the bound admits them and evicts it.
    for i in 0..100 {
        let key = format!("other:{i}");
        cache
            .set_bytes(&key, Bytes::from_static(b"x"), ())
            .await
            .unwrap();
        for _ in 0..3 {
            let _ = cache.get_bytes(&key).await.unwrap();
        }
    }
    store.run_pending_tasks().await;
    assert!(cache.stats().evictions > 0, "{:?}", cache.stats());
    assert_eq!(cache.get_bytes("first").await.unwrap(), None, "not evicted");
    assert!(!s.is_current(), "evicted value still stamped current");
}

#[tokio::test]
async fn serving_a_copy_counts_a_hit() {
    let cache = cache_on(&MemoryStore::new());
    let s = stamped(&cache, "k", SetOptions::new()).await;
    let before = cache.stats().hits;
    s.record_hit();
    s.record_hit();
    assert_eq!(cache.stats().hits, before + 2);
}

#[tokio::test]
async fn stores_shared_across_processes_give_no_stamp() {
    let server = RedisServer::start();
    let cache = Cache::from_url(&server.url()).await.unwrap();
    cache
        .set_bytes("k", Bytes::from_static(b"v"), ())
        .await
        .unwrap();
    let (bytes, stamp) = cache.get_bytes_stamped("k").await.unwrap().unwrap();
    assert_eq!(&bytes[..], b"v");
    assert!(stamp.is_none(), "a Redis read cannot vouch for a copy");
}
