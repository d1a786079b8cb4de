//! RedisStore operations beyond the base trait: one-round-trip reads with TTL, tag
//! invalidation that names the deleted keys, and a shared namespace version.

use std::time::Duration;

use bytes::Bytes;
use cache_core::store::{RedisStore, Store, WriteOptions};
use cache_core::testing::{RedisCluster, RedisServer};
use cache_core::KeyTtl;

async fn extras(store: &RedisStore) {
    let ttl = WriteOptions {
        ttl: Some(Duration::from_secs(60)),
        tags: vec!["x:t:a".into()],
    };
    store
        .set("x:v1:k", Bytes::from_static(b"v"), &ttl)
        .await
        .unwrap();
    store
        .set("x:v1:p", Bytes::from_static(b"w"), &WriteOptions::default())
        .await
        .unwrap();
    let (v, t) = store.get_with_ttl("x:v1:k").await.unwrap().unwrap();
    assert_eq!(v, "v", "tag marker not stripped");
    assert!(
        matches!(t, KeyTtl::Expires(d) if d <= Duration::from_secs(60)),
        "{t:?}"
    );
    assert_eq!(
        store.get_with_ttl("x:v1:p").await.unwrap().unwrap().1,
        KeyTtl::Persistent
    );
    assert!(store.get_with_ttl("x:v1:none").await.unwrap().is_none());

    for i in 0..30 {
        store
            .set(&format!("x:v1:m{i}"), Bytes::from_static(b"1"), &ttl)
            .await
            .unwrap();
    }
    // Re-written without the tag: must not be reported or deleted.
    store
        .set(
            "x:v1:m0",
            Bytes::from_static(b"2"),
            &WriteOptions::default(),
        )
        .await
        .unwrap();
    let mut keys = store.invalidate_tags(&["x:t:a".into()]).await.unwrap();
    keys.sort();
    let mut expected: Vec<String> = (1..30).map(|i| format!("x:v1:m{i}")).collect();
    expected.push("x:v1:k".into());
    expected.sort();
    assert_eq!(keys, expected);
    assert_eq!(
        store.get("x:v1:m0").await.unwrap().as_deref(),
        Some(&b"2"[..])
    );

    assert_eq!(store.load_version("x").await.unwrap(), None);
    store.publish_version("x", 5).await.unwrap();
    store.publish_version("x", 3).await.unwrap();
    assert_eq!(
        store.load_version("x").await.unwrap(),
        Some(5),
        "a version went down"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extras_on_a_standalone_server() {
    let server = RedisServer::start();
    extras(&RedisStore::connect(&server.url()).await.unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extras_on_a_cluster() {
    let cluster = RedisCluster::start(3);
    extras(&RedisStore::connect(&cluster.url()).await.unwrap()).await;
}
