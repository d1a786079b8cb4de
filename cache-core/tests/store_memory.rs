//! What only the in-memory store does, through the `Cache` handle: expiry and eviction counts,
//! byte and entry bounds, TTLs beyond the clock, escaping, signing and compression, and the
//! tag-index race. What every store does (namespaces, single flight, corrupt values, stale
//! values) is in the conformance suite (`conformance_memory.rs`).

use std::time::Duration;

use bytes::Bytes;
use cache_core::key::KeyBuf;
use cache_core::store::{MemoryStore, Store, WriteOptions};
use cache_core::{Cache, Error, SetOptions};

fn cache_on(store: &MemoryStore, prefix: &str, version: u64) -> Cache {
    Cache::builder()
        .store(store.clone())
        .prefix(prefix)
        .version(version)
        .build_now()
        .unwrap()
}

#[tokio::test]
async fn ttl_expiry_removes_the_value_and_counts_it() {
    let store = MemoryStore::new();
    let cache = cache_on(&store, "t", 1);
    cache
        .set_with("a", &1, Duration::from_millis(100))
        .await
        .unwrap();
    cache
        .set_with("b", &2, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(cache.get::<i32>("a").await.unwrap(), Some(1));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(cache.get::<i32>("a").await.unwrap(), None);
    assert_eq!(cache.get::<i32>("b").await.unwrap(), Some(2));
    // moka's timer wheel sweeps expired entries at about one-second granularity (reads see the
    // expiry exactly, as asserted above); poll its maintenance until the sweep has run.
    for _ in 0..100 {
        store.run_pending_tasks();
        if cache.stats().expirations == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(cache.stats().expirations, 1);
    assert_eq!(cache.stats().entries, 1);
}

#[tokio::test]
async fn a_ttl_beyond_the_clock_means_never_not_a_panic() {
    let cache = Cache::memory();
    cache
        .set_with("k", &1, SetOptions::new().ttl(Duration::MAX))
        .await
        .unwrap();
    assert_eq!(cache.get::<i32>("k").await.unwrap(), Some(1));
    assert!(cache.expire("k", Some(Duration::MAX)).await.unwrap());
    assert_eq!(cache.get::<i32>("k").await.unwrap(), Some(1));
    assert_eq!(
        cache.ttl("k").await.unwrap(),
        cache_core::KeyTtl::Persistent
    );
}

#[tokio::test]
async fn default_ttl_applies_when_a_write_names_none() {
    let cache = Cache::builder()
        .default_ttl(Duration::from_millis(100))
        .build_now()
        .unwrap();
    cache.set("a", &1).await.unwrap();
    cache
        .set_with("b", &1, SetOptions::new().no_expiry())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(cache.get::<i32>("a").await.unwrap(), None);
    assert_eq!(cache.get::<i32>("b").await.unwrap(), Some(1));
}

#[tokio::test]
async fn byte_bound_holds_after_inserting_ten_times_the_bound() {
    const BOUND: u64 = 1 << 20;
    let store = MemoryStore::builder().max_bytes(BOUND).build();
    let cache = cache_on(&store, "bytes", 1);
    let value = "x".repeat(1000);
    // ~1.1 KB per entry: 10,000 entries is ~10x the bound.
    for i in 0..10_000 {
        cache.set(&format!("k{i}"), &value).await.unwrap();
    }
    store.run_pending_tasks();
    let stats = cache.stats();
    assert!(
        stats.bytes <= BOUND + BOUND / 10,
        "stored {} bytes with a bound of {BOUND}",
        stats.bytes
    );
    assert!(
        stats.bytes >= BOUND / 2,
        "store kept too little: {} bytes",
        stats.bytes
    );
    assert!(stats.evictions > 0, "nothing was evicted");
}

#[tokio::test]
async fn entry_bound_holds() {
    let store = MemoryStore::builder().max_entries(100).build();
    let cache = cache_on(&store, "n", 1);
    for i in 0..1000 {
        cache.set(&format!("k{i}"), &i).await.unwrap();
    }
    store.run_pending_tasks();
    assert!(cache.stats().entries <= 100, "{}", cache.stats().entries);
}

#[tokio::test]
async fn escaped_values_cannot_collide_with_or_widen_other_keys() {
    let cache = Cache::memory();
    let key = |id: &str| KeyBuf::new().lit("user:").arg(id).lit(":profile").finish();
    // Values that try to forge `user:1:profile`'s neighbours or to widen a pattern.
    let hostile = [
        "1:profile",
        "1",
        "*",
        "?",
        "[1]",
        "{id}",
        "%31",
        "1%3Aprofile",
        "1 ",
        "1\n",
    ];
    for (i, v) in hostile.iter().enumerate() {
        cache.set(&key(v), &i).await.unwrap();
    }
    for (i, v) in hostile.iter().enumerate() {
        assert_eq!(
            cache.get::<usize>(&key(v)).await.unwrap(),
            Some(i),
            "value {v:?}"
        );
    }
    assert_eq!(
        cache.keys("*").await.unwrap().len(),
        hostile.len(),
        "two values collided"
    );
    // Deleting the pattern built from "*" removes only that user's key, not everyone's.
    let pattern = KeyBuf::new().lit("user:").arg("*").lit(":profile").finish();
    assert_eq!(cache.delete_pattern(&pattern).await.unwrap(), 1);
    assert_eq!(cache.keys("*").await.unwrap().len(), hostile.len() - 1);
    let pattern = KeyBuf::new().lit("user:").arg("?").lit(":*").finish();
    assert_eq!(cache.delete_pattern(&pattern).await.unwrap(), 1);
}

#[tokio::test]
async fn version_bump_hides_every_older_entry_for_every_clone() {
    let cache = Cache::memory();
    let clone = cache.clone();
    for i in 0..10 {
        cache.set(&format!("k{i}"), &i).await.unwrap();
    }
    assert_eq!(clone.bump_version().await.unwrap(), 2);
    for i in 0..10 {
        assert_eq!(cache.get::<i32>(&format!("k{i}")).await.unwrap(), None);
    }
    cache.set("k0", &100).await.unwrap();
    assert_eq!(clone.get::<i32>("k0").await.unwrap(), Some(100));
}

#[tokio::test]
async fn bad_input_gets_errors_that_say_what_and_where() {
    let cache = Cache::memory();
    let e = cache.keys("user:[1-").await.unwrap_err();
    assert!(matches!(e, Error::InvalidPattern(_)));
    assert!(e.to_string().contains("byte 5"), "{e}");
    let e = cache.get::<u8>("").await.unwrap_err();
    assert!(matches!(e, Error::InvalidKey(_)), "{e}");
    let e = Cache::from_url("mem://?max_bytes=-3").await.unwrap_err();
    assert!(
        e.to_string().contains("max_bytes") && e.to_string().contains("-3"),
        "{e}"
    );
    let e = Cache::from_url("redis://user:hunter2@localhost")
        .await
        .unwrap_err();
    assert!(!e.to_string().contains("hunter2"), "password leaked: {e}");
    let e = cache_core::ttl::parse("10 fortnights").unwrap_err();
    assert!(e.to_string().contains("fortnights"), "{e}");
}

#[tokio::test]
async fn signed_and_compressed_values_roundtrip_and_reject_tampering() {
    let store = MemoryStore::new();
    let signed = Cache::builder()
        .store(store.clone())
        .signing_key([9; 32])
        .compress_over(64)
        .build_now()
        .unwrap();
    let big = "abc".repeat(1000);
    signed.set("k", &big).await.unwrap();
    assert_eq!(signed.get::<String>("k").await.unwrap(), Some(big));
    // A cache without the key (or with another key) refuses the value.
    let other = Cache::builder()
        .store(store.clone())
        .signing_key([1; 32])
        .build_now()
        .unwrap();
    assert_eq!(other.get::<String>("k").await.unwrap(), None);
    assert_eq!(other.stats().decode_errors, 1);
    // A value copied under another key does not verify either.
    let raw = store
        .get(&signed.full_key("k").unwrap())
        .await
        .unwrap()
        .unwrap();
    store
        .set(
            &signed.full_key("k2").unwrap(),
            raw,
            &WriteOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(signed.get::<String>("k2").await.unwrap(), None);
}

/// A write with a tag racing an invalidation of that tag: whichever wins, the entry stays
/// linked to its tag, so a later invalidation of the tag removes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_racing_its_tags_invalidation_stays_reachable_by_the_tag() {
    let store = MemoryStore::new();
    let opts = WriteOptions {
        ttl: None,
        tags: vec!["t".to_owned()],
    };
    let tags = ["t".to_owned()];
    for round in 0..3000 {
        let (writer, invalidator) = (store.clone(), store.clone());
        let opts = opts.clone();
        let write = tokio::spawn(async move {
            writer
                .set("k", Bytes::from_static(b"v"), &opts)
                .await
                .unwrap();
        });
        let invalidate = tokio::spawn(async move {
            invalidator
                .invalidate_tags(&["t".to_owned()])
                .await
                .unwrap();
        });
        write.await.unwrap();
        invalidate.await.unwrap();
        store.invalidate_tags(&tags).await.unwrap();
        assert_eq!(
            store.get("k").await.unwrap(),
            None,
            "round {round}: the entry escaped its tag"
        );
    }
}

/// Reads are answered from a per-thread front once an entry has been read (see
/// `store/front.rs`): every way the store changes an entry must reach readers that kept it.
#[tokio::test]
async fn an_entry_read_before_is_never_served_after_it_changed() {
    use cache_core::store::LocalRead;
    let store = MemoryStore::new();
    let local = |key: &str| match store.get_local(key) {
        LocalRead::Hit(e) => Some(e.bytes().clone()),
        LocalRead::Miss | LocalRead::Unknown => None,
    };
    let write = |ttl: Option<Duration>, tags: &[&str]| WriteOptions {
        ttl,
        tags: tags.iter().map(|t| (*t).to_owned()).collect(),
    };
    let v = |s: &'static str| Bytes::from_static(s.as_bytes());
    // Read twice (the second from the front), then overwritten.
    store.set("k", v("1"), &write(None, &[])).await.unwrap();
    assert_eq!((local("k"), local("k")), (Some(v("1")), Some(v("1"))));
    store.set("k", v("2"), &write(None, &["t"])).await.unwrap();
    assert_eq!(local("k"), Some(v("2")));
    // Invalidated by its tag.
    assert_eq!(local("k"), Some(v("2")));
    store.invalidate_tags(&["t".to_owned()]).await.unwrap();
    assert_eq!(local("k"), None);
    // Deleted, taken.
    store.set("k", v("3"), &write(None, &[])).await.unwrap();
    assert_eq!(local("k"), Some(v("3")));
    store.delete("k").await.unwrap();
    assert_eq!(local("k"), None);
    store.set("k", v("4"), &write(None, &[])).await.unwrap();
    assert_eq!(local("k"), Some(v("4")));
    assert_eq!(store.take("k").await.unwrap(), Some(v("4")));
    assert_eq!(local("k"), None);
    // The whole store cleared (moka drops those entries lazily).
    store.set("k", v("5"), &write(None, &[])).await.unwrap();
    assert_eq!(local("k"), Some(v("5")));
    store.clear("*").await.unwrap();
    assert_eq!(local("k"), None);
    // Expired while kept.
    let ttl = Some(Duration::from_millis(50));
    store.set("k", v("6"), &write(ttl, &[])).await.unwrap();
    assert_eq!(local("k"), Some(v("6")));
    tokio::time::sleep(Duration::from_millis(80)).await;
    assert_eq!(local("k"), None);
    // Its TTL changed, its value counted up.
    store.set("n", v("1"), &write(None, &[])).await.unwrap();
    assert_eq!(local("n"), Some(v("1")));
    assert_eq!(store.incr("n", 2).await.unwrap(), 3);
    assert_eq!(local("n"), Some(v("3")));
    store
        .expire("n", Some(Duration::from_millis(50)))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(80)).await;
    assert_eq!(local("n"), None);
    // Another store's entry under the same key is its own.
    let other = MemoryStore::new();
    other.set("n", v("x"), &write(None, &[])).await.unwrap();
    assert!(matches!(other.get_local("n"), LocalRead::Hit(_)));
    assert_eq!(local("n"), None);
}
