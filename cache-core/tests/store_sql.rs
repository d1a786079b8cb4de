//! The SQL store's edges on real databases: long keys and tags, table prefixes kept apart, a
//! schema from a newer release refused, and bad URLs refused with a clear error.

use std::time::Duration;

use bytes::Bytes;
use cache_core::store::{SqlStore, Store, WriteOptions};
use cache_core::testing::sqlx;
use cache_core::testing::{MariadbServer, PostgresServer, SqliteFile};
use cache_core::{Cache, Error};

async fn cache(url: &str) -> Cache {
    Cache::from_url(url)
        .await
        .unwrap_or_else(|e| panic!("a cache on {url}: {e}"))
}

/// Keys and tags far beyond the 512 bytes a key column holds as it is, through the store
/// itself (a `Cache` shortens long keys before they reach the store).
async fn long_keys_and_tags(url: &str) {
    let s = SqlStore::connect(url).await.expect("connect");
    let head = "long:".to_owned() + &"é".repeat(300); // 605 bytes
    let (a, b) = (format!("{head}a"), format!("{head}b"));
    let tag = "t".repeat(1000);
    let tagged = WriteOptions {
        ttl: None,
        tags: vec![tag.clone()],
    };
    s.set(&a, Bytes::from_static(b"1"), &tagged).await.unwrap();
    s.set(&b, Bytes::from_static(b"2"), &WriteOptions::default())
        .await
        .unwrap();
    assert_eq!(s.get(&a).await.unwrap().as_deref(), Some(&b"1"[..]));
    assert_eq!(
        s.get(&b).await.unwrap().as_deref(),
        Some(&b"2"[..]),
        "same head, other key"
    );
    assert_eq!(s.scan("long:*").await.unwrap(), [a.clone(), b.clone()]);
    assert_eq!(s.scan("long:*b").await.unwrap(), std::slice::from_ref(&b));
    let many = s.get_many(&[a.clone(), b.clone()]).await.unwrap();
    assert_eq!(many.iter().flatten().count(), 2);
    assert_eq!(
        s.invalidate_tags(&[tag]).await.unwrap(),
        std::slice::from_ref(&a)
    );
    assert_eq!(s.get(&a).await.unwrap(), None);
    assert_eq!(s.incr(&format!("{head}n"), 5).await.unwrap(), 5);
    assert!(s.delete(&b).await.unwrap());
    assert_eq!(s.get(&b).await.unwrap(), None);
    assert_eq!(s.delete_pattern("long:*").await.unwrap(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_long_keys_and_tags() {
    let server = PostgresServer::start();
    long_keys_and_tags(&server.url()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_long_keys_and_tags() {
    let server = MariadbServer::start();
    long_keys_and_tags(&server.url()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_long_keys_and_tags() {
    let file = SqliteFile::new();
    long_keys_and_tags(&file.url()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn table_prefixes_keep_caches_apart_in_one_file() {
    let file = SqliteFile::new();
    let one = cache(&format!("{}?table=one", file.url())).await;
    let two = cache(&format!("{}?table=two", file.url())).await;
    one.set("k", &1).await.unwrap();
    two.set("k", &2).await.unwrap();
    assert_eq!(one.clear().await.unwrap(), 1);
    assert_eq!(one.get::<i32>("k").await.unwrap(), None);
    assert_eq!(two.get::<i32>("k").await.unwrap(), Some(2));
    let store = SqlStore::connect(&format!("{}?table=two", file.url()))
        .await
        .unwrap();
    assert_eq!(store.tables()[0], "two_entries");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tables_from_a_newer_release_are_refused() {
    let server = PostgresServer::start();
    let url = server.url();
    drop(SqlStore::connect(&url).await.expect("first open"));
    let raw = sqlx::PgPool::connect(&url).await.unwrap();
    sqlx::query("UPDATE cache_meta SET value = 2 WHERE name = 'schema_version'")
        .execute(&raw)
        .await
        .unwrap();
    let e = SqlStore::connect(&url).await.unwrap_err();
    assert!(matches!(e, Error::Config(_)), "{e}");
    assert!(e.to_string().contains("newer release"), "{e}");
    // Another prefix in the same database is a fresh schema.
    SqlStore::connect(&format!("{url}?table=other"))
        .await
        .expect("another prefix");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_urls_are_clear_errors_without_credentials() {
    for (url, says) in [
        ("sqlite://:memory:", "in-memory"),
        ("sqlite://x.db?table=a-b", "table"),
        ("sqlite://x.db?purge_interval=never", "purge_interval"),
        ("postgres://u:secret@127.0.0.1:1/db?bogus=1", "bogus"),
        ("mysql://u:secret@127.0.0.1:1/db?pool=0", "pool"),
    ] {
        let e = Cache::from_url(url).await.map(|_| ()).unwrap_err();
        assert!(matches!(e, Error::Config(_)), "{url}: {e}");
        assert!(e.to_string().contains(says), "{url}: {e}");
        assert!(!e.to_string().contains("secret"), "{url}: {e}");
    }
    // Nothing listens on port 1: a backend error, named, bounded, without the password.
    for url in [
        "postgres://u:secret@127.0.0.1:1/db?connect_timeout_ms=300",
        "mariadb://u:secret@127.0.0.1:1/db?connect_timeout_ms=300",
    ] {
        let e = tokio::time::timeout(Duration::from_secs(20), Cache::from_url(url))
            .await
            .expect("connect hung")
            .map(|_| ())
            .unwrap_err();
        assert!(e.is_backend(), "{url}: {e}");
        assert!(!e.to_string().contains("secret"), "{url}: {e}");
    }
}

/// A namespace version bumped through one store reaches caches on another store of the same
/// database: at once for a cache built afterwards, within the version poll for a running one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_bump_reaches_other_stores_on_the_database() {
    let file = SqliteFile::new();
    let first = cache(&file.url()).await;
    let second = cache(&file.url()).await;
    first.set("k", &1).await.unwrap();
    assert_eq!(second.get::<i32>("k").await.unwrap(), Some(1));
    assert_eq!(first.bump_version().await.unwrap(), 2);
    assert_eq!(first.get::<i32>("k").await.unwrap(), None);
    let third = cache(&file.url()).await;
    assert_eq!(
        third.get::<i32>("k").await.unwrap(),
        None,
        "a new cache starts at the bumped version"
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while second.get::<i32>("k").await.unwrap().is_some() {
        assert!(
            std::time::Instant::now() < deadline,
            "the running cache never saw the bump"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// An increment that would overflow is an error and leaves the value as it was.
async fn counter_overflow(url: &str) {
    let c = cache(url).await;
    assert_eq!(c.incr("n", i64::MAX - 1).await.unwrap(), i64::MAX - 1);
    let e = c.incr("n", 5).await.unwrap_err();
    assert!(matches!(e, Error::Decode(_)), "{e}");
    assert_eq!(c.get::<i64>("n").await.unwrap(), Some(i64::MAX - 1));
    assert_eq!(c.incr("n", -1).await.unwrap(), i64::MAX - 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counters_refuse_to_overflow_on_every_backend() {
    let (pg, my, lite) = (
        PostgresServer::start(),
        MariadbServer::start(),
        SqliteFile::new(),
    );
    for url in [pg.url(), my.url(), lite.url()] {
        counter_overflow(&url).await;
    }
}

/// More expired rows than one purge batch (1000): all deleted, with their tag rows; live rows
/// and their tags kept.
async fn purge_in_batches(url: &str) {
    let s = SqlStore::connect(url).await.expect("connect");
    let brief = WriteOptions {
        ttl: Some(Duration::from_millis(1)),
        tags: vec!["t".into()],
    };
    let entries: Vec<(String, Bytes)> = (0..2500)
        .map(|i| (format!("old:{i}"), Bytes::from_static(b"x")))
        .collect();
    s.set_many(&entries, &brief).await.unwrap();
    let live = WriteOptions {
        ttl: None,
        tags: vec!["t".into()],
    };
    s.set("live", Bytes::from_static(b"y"), &live)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(s.purge_expired().await.unwrap(), 2500);
    assert_eq!(s.purge_expired().await.unwrap(), 0);
    assert_eq!(s.stats().expirations, 2500);
    // The tag index kept the live key only.
    assert_eq!(s.invalidate_tags(&["t".into()]).await.unwrap(), ["live"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_purge_works_in_batches() {
    let file = SqliteFile::new();
    purge_in_batches(&file.url()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_and_mariadb_purge_work_in_batches() {
    let (pg, my) = (PostgresServer::start(), MariadbServer::start());
    purge_in_batches(&pg.url()).await;
    purge_in_batches(&my.url()).await;
}
