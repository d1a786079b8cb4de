//! `rediss://` against a real TLS-only redis-server (certificate from a test CA).

use cache_core::testing::RedisServer;
use cache_core::Cache;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rediss_url_talks_tls_and_refuses_an_untrusted_certificate() {
    let server = RedisServer::start_tls();
    // Before the CA is trusted, the handshake must fail: the certificate is really checked.
    let err = Cache::from_url(&format!("{}?connect_timeout_ms=1000", server.url()))
        .await
        .unwrap_err();
    assert!(err.is_backend(), "{err:?}");

    // rustls-native-certs reads the trusted roots from SSL_CERT_FILE.
    std::env::set_var("SSL_CERT_FILE", server.ca_file());
    let cache = Cache::from_url(&server.url())
        .await
        .expect("TLS connection");
    cache.set("k", "over tls").await.unwrap();
    assert_eq!(
        cache.get::<String>("k").await.unwrap().as_deref(),
        Some("over tls")
    );
    assert!(server.cli(&["GET", "cache:v1:k"]).contains("over tls"));

    // A plain redis:// client cannot talk to the TLS port.
    let plain = format!(
        "redis://127.0.0.1:{}?connect_timeout_ms=500&timeout_ms=500",
        server.port()
    );
    assert!(Cache::from_url(&plain).await.is_err());
}
