//! A namespace version bump made in one process reaches another, through every public path
//! that bumps it: `Cache::bump_version`, and `Store::publish_version` on the cache's store or on
//! a store of its own (it used to be shadowed on `RedisStore` by an inherent method that raised
//! the version in Redis without announcing it).

use std::time::{Duration, Instant};

use cache_core::store::{RedisStore, Store};
use cache_core::testing::RedisServer;
use cache_core::Cache;
use cache_e2e::Peer;

/// Waits until the peer sees `version`.
async fn peer_sees(peer: &mut Peer, version: u64, path: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let got = peer.ask("version").await;
        if got == format!("version {version}") {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{path}: the peer still says {got:?}, expected version {version}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn every_path_reaches_the_peer(url: &str) {
    let mut peer = Peer::spawn(env!("CARGO_BIN_EXE_peer"), url, "vb").await;
    let cache = Cache::builder()
        .url(url)
        .prefix("vb")
        .build()
        .await
        .unwrap();
    assert_eq!(peer.ask("version").await, "version 1");

    let v = cache.bump_version().await.unwrap();
    peer_sees(&mut peer, v, "Cache::bump_version").await;

    cache.store().publish_version("vb", v + 1).await.unwrap();
    peer_sees(
        &mut peer,
        v + 1,
        "Store::publish_version on the cache's store",
    )
    .await;

    let own = RedisStore::connect(url.trim_start_matches("tiered+"))
        .await
        .unwrap();
    own.publish_version("vb", v + 2).await.unwrap();
    peer_sees(
        &mut peer,
        v + 2,
        "Store::publish_version on a RedisStore of its own",
    )
    .await;
    // And this process's cache, which did not make the last two bumps, follows too.
    let deadline = Instant::now() + Duration::from_secs(5);
    while cache.version() != v + 2 {
        assert!(
            Instant::now() < deadline,
            "this process stays at {}",
            cache.version()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_bump_through_any_public_path_reaches_a_second_process_on_redis() {
    let server = RedisServer::start();
    every_path_reaches_the_peer(&server.url()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_bump_through_any_public_path_reaches_a_second_process_on_tiers() {
    let server = RedisServer::start();
    every_path_reaches_the_peer(&format!("tiered+{}", server.url())).await;
}
