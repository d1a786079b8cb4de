//! The value header on real Redis: foreign, corrupt and tampered bytes under our keys are
//! counted misses; compression and signing are configured from the URL query.

use cache_core::testing::RedisServer;
use cache_core::Cache;

const KEY_HEX: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_and_corrupt_bytes_written_with_redis_cli_are_counted_misses() {
    let server = RedisServer::start();
    let cache = Cache::from_url(&server.url()).await.unwrap();
    cache.set("k", "real").await.unwrap();
    let junk: [&[u8]; 4] = [
        b"hello from another app",
        b"\xCA\x01\x01\x00{broken json",
        b"\xCA\x09",
        b"\xCB0123456789abcdef\xCA",
    ];
    for (i, bytes) in junk.iter().enumerate() {
        server.cli_with_input(&["SET", "cache:v1:k"], bytes);
        assert_eq!(
            cache.get::<String>("k").await.unwrap(),
            None,
            "junk {i} decoded"
        );
        assert_eq!(
            cache.stats().decode_errors,
            i as u64 + 1,
            "junk {i} not counted"
        );
    }
    // get_or_set overwrites the bad value.
    let v: String = cache
        .get_or_set("k", (), || async { "fresh".to_owned() })
        .await;
    assert_eq!(v, "fresh");
    assert_eq!(
        cache.get::<String>("k").await.unwrap().as_deref(),
        Some("fresh")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_key_from_the_url_rejects_tampered_values() {
    let server = RedisServer::start();
    let url = format!("{}?signing_key={KEY_HEX}", server.url());
    let cache = Cache::from_url(&url).await.unwrap();
    cache.set("price", &100u32).await.unwrap();
    assert_eq!(cache.get::<u32>("price").await.unwrap(), Some(100));

    // Flip one payload byte of the stored value, keeping its header: the MAC no longer verifies.
    let stored = server.cli(&["--no-raw", "GET", "cache:v1:price"]);
    assert!(stored.contains("\\xca"), "value has no header: {stored}");
    server.cli(&["SETRANGE", "cache:v1:price", "4", "9"]);
    assert_eq!(
        cache.get::<u32>("price").await.unwrap(),
        None,
        "tampered value trusted"
    );
    assert_eq!(cache.stats().decode_errors, 1);

    // A valid value copied under another key does not verify either (the MAC covers the key).
    cache.set("a", &1u32).await.unwrap();
    server.cli(&["COPY", "cache:v1:a", "cache:v1:b"]);
    assert_eq!(
        cache.get::<u32>("b").await.unwrap(),
        None,
        "value moved to another key trusted"
    );
    assert_eq!(cache.stats().decode_errors, 2);

    // A cache without the key refuses signed values; one with another key too.
    let unsigned = Cache::from_url(&server.url()).await.unwrap();
    assert_eq!(unsigned.get::<u32>("a").await.unwrap(), None);
    let other = Cache::from_url(&format!("{}?signing_key={}", server.url(), "ff".repeat(32)))
        .await
        .unwrap();
    assert_eq!(other.get::<u32>("a").await.unwrap(), None);
    assert_eq!(cache.get::<u32>("a").await.unwrap(), Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compress_over_from_the_url_shrinks_large_values_in_redis() {
    let server = RedisServer::start();
    let plain = server.cache("plain", "", "").await;
    let packed = Cache::builder()
        .url(format!("{}?compress_over=1024&pool=2", server.url()))
        .prefix("packed")
        .build()
        .await
        .unwrap();
    let text = "all work and no play makes jack a dull boy ".repeat(1000);
    plain.set("doc", &text).await.unwrap();
    packed.set("doc", &text).await.unwrap();
    packed.set("small", "tiny").await.unwrap();
    let len = |k: &str| server.cli(&["STRLEN", k]).trim().parse::<usize>().unwrap();
    assert!(len("plain:v1:doc") > text.len(), "uncompressed value");
    assert!(
        len("packed:v1:doc") * 10 < text.len(),
        "compressed value is {} bytes",
        len("packed:v1:doc")
    );
    assert_eq!(
        packed.get::<String>("doc").await.unwrap().as_deref(),
        Some(text.as_str())
    );
    assert_eq!(
        packed.get::<String>("small").await.unwrap().as_deref(),
        Some("tiny")
    );
    // A reader without the option still reads compressed values (the header says so).
    let reader = server.cache("packed", "", "").await;
    assert_eq!(
        reader.get::<String>("doc").await.unwrap().as_deref(),
        Some(text.as_str())
    );

    let err = Cache::from_url(&format!("{}?compress_over=lots", server.url()))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("compress_over"), "{err}");
    let err = Cache::from_url(&format!("{}?signing_key=short", server.url()))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("signing_key"), "{err}");
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ttls_are_set_in_milliseconds() {
    use std::time::Duration;
    let server = RedisServer::start();
    let cache = Cache::from_url(&server.url()).await.unwrap();
    let expires_at = || {
        server
            .cli(&["PEXPIRETIME", "cache:v1:k"])
            .trim()
            .parse::<i64>()
            .unwrap()
    };
    // The absolute expiry lies between (before + ttl) and (after + ttl): a TTL rounded to
    // seconds would fall below that window.
    let before = now_ms();
    cache
        .set_with("k", &1, Duration::from_millis(86_400_999))
        .await
        .unwrap();
    let after = now_ms();
    let at = expires_at();
    assert!(
        (before + 86_400_999..=after + 86_400_999).contains(&at),
        "{before} {at} {after}"
    );

    let before = now_ms();
    assert!(cache
        .expire("k", Some(Duration::from_millis(5_000_777)))
        .await
        .unwrap());
    let after = now_ms();
    let at = expires_at();
    assert!(
        (before + 5_000_777..=after + 5_000_777).contains(&at),
        "{before} {at} {after}"
    );
    assert!(cache.ttl("k").await.unwrap().remaining().unwrap() <= Duration::from_millis(5_000_777));

    assert!(cache.expire("k", None).await.unwrap());
    assert_eq!(server.cli(&["PTTL", "cache:v1:k"]).trim(), "-1");
    assert!(
        !cache.expire("missing", None).await.unwrap(),
        "PERSIST on a missing key reported it"
    );
    assert_eq!(
        cache.ttl("missing").await.unwrap(),
        cache_core::KeyTtl::Missing
    );
}
