//! Two caches with different prefixes on one Redis never see each other's keys, patterns or
//! tags; `clear` removes only its own namespace and version, never other data.

use std::time::Duration;

use cache_core::testing::{RedisCluster, RedisServer};
use cache_core::{Cache, SetOptions};

async fn two_prefixes_never_meet(url: &str) {
    let a = Cache::builder()
        .url(url)
        .prefix("app-a")
        .build()
        .await
        .expect("connect a");
    let b = Cache::builder()
        .url(url)
        .prefix("app-b")
        .build()
        .await
        .expect("connect b");
    for i in 0..20 {
        a.set_with(&format!("user:{i}"), &i, SetOptions::new().tag("users"))
            .await
            .unwrap();
        b.set_with(
            &format!("user:{i}"),
            &(i + 100),
            SetOptions::new().tag("users"),
        )
        .await
        .unwrap();
    }
    // A prefix that is a prefix of the other's must not match it either.
    let ab = Cache::builder()
        .url(url)
        .prefix("app")
        .build()
        .await
        .unwrap();
    ab.set("user:1", &-1).await.unwrap();

    assert_eq!(a.keys("*").await.unwrap().len(), 20);
    assert_eq!(ab.keys("*").await.unwrap(), ["user:1"]);
    assert_eq!(a.delete_pattern("user:*").await.unwrap(), 20);
    assert_eq!(
        b.keys("user:*").await.unwrap().len(),
        20,
        "a's pattern reached b"
    );
    assert_eq!(ab.get::<i32>("user:1").await.unwrap(), Some(-1));

    for i in 0..20 {
        a.set_with(&format!("user:{i}"), &i, SetOptions::new().tag("users"))
            .await
            .unwrap();
    }
    assert_eq!(a.invalidate_tags(["users"]).await.unwrap(), 20);
    assert_eq!(
        b.get::<i32>("user:3").await.unwrap(),
        Some(103),
        "a's tag reached b"
    );
    assert_eq!(b.invalidate_tags(["users"]).await.unwrap(), 20);

    // clear: only this namespace and version.
    b.set("kept-old-version", &1).await.unwrap();
    b.bump_version().await.unwrap();
    b.set("new", &1).await.unwrap();
    a.set("mine", &1).await.unwrap();
    assert_eq!(b.clear().await.unwrap(), 1);
    assert_eq!(
        a.get::<i32>("mine").await.unwrap(),
        Some(1),
        "b's clear reached a"
    );
    assert_eq!(ab.get::<i32>("user:1").await.unwrap(), Some(-1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prefixes_are_isolated_on_a_standalone_server() {
    let server = RedisServer::start();
    // Foreign data in the same database survives everything.
    server.cli(&["SET", "someone-else", "x"]);
    two_prefixes_never_meet(&server.url()).await;
    assert_eq!(
        server.cli(&["GET", "someone-else"]).trim(),
        "x",
        "foreign key deleted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prefixes_are_isolated_on_a_cluster() {
    let cluster = RedisCluster::start(3);
    two_prefixes_never_meet(&cluster.url()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tag_sets_expire_with_their_longest_member_and_stay_for_persistent_ones() {
    let server = RedisServer::start();
    let c = Cache::from_url(&server.url()).await.unwrap();
    let ttl = |tag: &str| {
        server
            .cli(&["PTTL", &format!("cache:t:{tag}")])
            .trim()
            .parse::<i64>()
            .unwrap()
    };

    let put = |key: &'static str, secs: u64, tag: &'static str| {
        let opts = SetOptions::new().ttl(Duration::from_secs(secs)).tag(tag);
        let c = &c;
        async move { c.set_with(key, &1, opts).await.unwrap() }
    };

    put("a", 100, "short-then-long").await;
    assert!(
        ttl("short-then-long") > 90_000,
        "tag expires with its member"
    );
    put("b", 1000, "short-then-long").await;
    assert!(
        ttl("short-then-long") > 900_000,
        "tag expiry not stretched to the longest member"
    );
    put("c", 10, "short-then-long").await;
    assert!(
        ttl("short-then-long") > 900_000,
        "a shorter member shortened the tag"
    );

    put("p", 10, "persist").await;
    c.set_with("q", &1, SetOptions::new().no_expiry().tag("persist"))
        .await
        .unwrap();
    assert_eq!(ttl("persist"), -1, "a persistent member must keep its tag");
    put("r", 10, "persist").await;
    assert_eq!(
        ttl("persist"),
        -1,
        "a later member put an expiry on a tag with a persistent member"
    );
    assert_eq!(c.invalidate_tags(["persist"]).await.unwrap(), 3);
    assert_eq!(ttl("persist"), -2, "tag left behind after invalidation");
}
