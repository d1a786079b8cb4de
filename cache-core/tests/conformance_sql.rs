//! The store conformance suite on real databases: PostgreSQL and MariaDB servers started by
//! the test, and a SQLite file; and a memory tier over PostgreSQL.

use std::sync::Arc;

use cache_core::store::{Capabilities, SqlStore, Store};
use cache_core::testing::{self, MariadbServer, PostgresServer, SqliteFile};

async fn passes(url: &str) -> Vec<&'static str> {
    let store = SqlStore::connect(url).await.expect("connect");
    assert_eq!(store.capabilities(), Capabilities::ALL);
    let ran = testing::conformance(Arc::new(store) as Arc<dyn Store>).await;
    for check in [
        "patterns",
        "tags",
        "counters",
        "expire",
        "take",
        "namespaces",
    ] {
        assert!(ran.contains(&check), "{check} did not run: {ran:?}");
    }
    ran
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_passes_the_conformance_suite() {
    let server = PostgresServer::start();
    passes(&server.url()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_passes_the_conformance_suite() {
    let server = MariadbServer::start();
    passes(&server.url()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_passes_the_conformance_suite() {
    let file = SqliteFile::new();
    passes(&file.url()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_stores_with_other_table_prefixes_share_a_database_and_pass() {
    let server = PostgresServer::start();
    passes(&format!("{}?table=first", server.url())).await;
    passes(&format!("{}?table=second&pool=2", server.url())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tiered_over_sqlite_passes_the_conformance_suite() {
    let file = SqliteFile::new();
    let cache = cache_core::Cache::from_url(&format!("tiered+{}", file.url()))
        .await
        .expect("connect");
    assert_eq!(cache.store().name(), "tiered");
    let ran = testing::conformance(Arc::clone(cache.store())).await;
    assert!(ran.contains(&"patterns"), "{ran:?}");
}
