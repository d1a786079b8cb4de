//! The in-process hit path: a decoded value kept beside its bytes is served until the value
//! changes in any way, and never after; another type, another codec or a tampered entry is
//! decoded afresh.
//! Run with: cargo test -p cache-core --test typed_hit_memory

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use cache_core::store::{MemoryStore, Store, TieredStore};
use cache_core::{Cache, SetOptions};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct User {
    id: u64,
    name: String,
}

fn user(name: &str) -> User {
    User {
        id: 1,
        name: name.into(),
    }
}

fn cache_on(store: impl Store) -> Cache {
    Cache::builder()
        .store(store)
        .prefix("hit")
        .build_now()
        .unwrap()
}

/// Writes `name` under `k` and reads it twice (the second read is served from the slot).
async fn cached(cache: &Cache, name: &str, opts: SetOptions) {
    cache.set_with("k", &user(name), opts).await.unwrap();
    for _ in 0..2 {
        assert_eq!(cache.get::<User>("k").await.unwrap(), Some(user(name)));
    }
}

#[tokio::test]
async fn no_kind_of_change_is_hidden_by_a_decoded_copy() {
    let store = MemoryStore::new();
    let cache = cache_on(store.clone());
    let tagged = || SetOptions::new().tag("t");

    cached(&cache, "a", tagged()).await;
    cache.set("k", &user("b")).await.unwrap();
    assert_eq!(
        cache.get::<User>("k").await.unwrap(),
        Some(user("b")),
        "overwrite"
    );

    for (what, change) in [
        ("delete", 0),
        ("tag invalidation", 1),
        ("pattern delete", 2),
        ("namespace clear", 3),
        ("version bump", 4),
        ("take", 5),
    ] {
        cached(&cache, what, tagged()).await;
        match change {
            0 => drop(cache.delete("k").await.unwrap()),
            1 => drop(cache.invalidate_tags(["t"]).await.unwrap()),
            2 => drop(cache.delete_pattern("k*").await.unwrap()),
            3 => drop(cache.clear().await.unwrap()),
            4 => drop(cache.bump_version().await.unwrap()),
            _ => drop(cache.take::<User>("k").await.unwrap()),
        }
        assert_eq!(cache.get::<User>("k").await.unwrap(), None, "{what}");
    }

    cached(
        &cache,
        "ttl",
        SetOptions::new().ttl(Duration::from_millis(50)),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(80)).await;
    assert_eq!(cache.get::<User>("k").await.unwrap(), None, "expired");

    cached(
        &cache,
        "stale",
        SetOptions::new()
            .ttl(Duration::from_millis(50))
            .stale(Duration::from_secs(60)),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(80)).await;
    assert_eq!(
        cache.get::<User>("k").await.unwrap(),
        None,
        "stale is not fresh"
    );
}

#[tokio::test]
async fn an_evicted_value_is_not_served_from_its_copy() {
    let store = MemoryStore::builder().max_entries(10).build();
    let cache = cache_on(store.clone());
    cached(&cache, "first", SetOptions::new()).await;
    // Keys read more often than `k`, so the bound admits them and evicts it.
    for i in 0..100 {
        let key = format!("other:{i}");
        cache.set(&key, &i).await.unwrap();
        for _ in 0..3 {
            let _ = cache.get::<i32>(&key).await.unwrap();
        }
    }
    store.run_pending_tasks();
    assert!(cache.stats().evictions > 0, "{:?}", cache.stats());
    assert_eq!(cache.get::<User>("k").await.unwrap(), None, "evicted");
}

#[tokio::test]
async fn another_type_or_another_codec_decodes_afresh() {
    let store = MemoryStore::new();
    let cache = cache_on(store.clone());
    cached(&cache, "ada", SetOptions::new()).await;
    // The same bytes as JSON of another shape.
    let v: serde_json::Value = cache.get("k").await.unwrap().unwrap();
    assert_eq!(v["name"], "ada");
    assert_eq!(cache.get::<User>("k").await.unwrap(), Some(user("ada")));
    assert_eq!(
        cache.get::<u64>("k").await.unwrap(),
        None,
        "wrong type: a counted miss"
    );
    assert_eq!(cache.stats().decode_errors, 1);

    // Another cache on the same store that signs its values must not take the unsigned
    // copy decoded by the first.
    let signed = Cache::builder()
        .store(store)
        .prefix("hit")
        .signing_key([7; 32])
        .build_now()
        .unwrap();
    assert_eq!(signed.get::<User>("k").await.unwrap(), None);
    assert_eq!(signed.stats().decode_errors, 1);
}

#[tokio::test]
async fn raw_values_are_decoded_once_per_write() {
    let cache = cache_on(MemoryStore::new());
    let decodes = std::sync::atomic::AtomicUsize::new(0);
    let parse = |b: &Bytes| {
        decodes.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Some(Arc::new(b.to_vec()))
    };
    cache
        .set_bytes("page", Bytes::from_static(b"v1"), ())
        .await
        .unwrap();
    for _ in 0..3 {
        let v = cache.get_bytes_as("page", parse).await.unwrap().unwrap();
        assert_eq!(&v[..], b"v1");
    }
    cache
        .set_bytes("page", Bytes::from_static(b"v2"), ())
        .await
        .unwrap();
    let v = cache.get_bytes_as("page", parse).await.unwrap().unwrap();
    assert_eq!(&v[..], b"v2");
    assert_eq!(decodes.load(std::sync::atomic::Ordering::Relaxed), 2);
    let none = cache.get_bytes_as("page", |_| None::<Arc<Vec<u8>>>).await;
    assert_eq!(
        none.unwrap().map(|v| v.len()),
        Some(2),
        "kept copy, decode not called"
    );
    assert_eq!(cache.stats().hits, 5);
}

#[tokio::test]
async fn a_tiered_first_tier_serves_the_same_way() {
    let l2 = Arc::new(MemoryStore::new());
    let tiered = TieredStore::builder(l2.clone()).build();
    let cache = cache_on(tiered.clone());
    cached(&cache, "ada", SetOptions::new()).await;
    let tiers = tiered.stats().tiers;
    assert_eq!((tiers[0].hits, tiers[1].hits), (2, 0));
    // A change made below (by another process, as the bus would tell) is seen once L1 drops it.
    cache.delete("k").await.unwrap();
    assert_eq!(cache.get::<User>("k").await.unwrap(), None);
}
