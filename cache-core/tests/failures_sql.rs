//! PostgreSQL killed (an immediate shutdown, like a crash) and started again under a cache:
//! a cached function costs at most one failing call per call, a refused connection fails at
//! once (the timeout is set far above the hang guard), the breaker answers while the server
//! is down, and a change invalidated during the outage is not served from the table after it
//! (the table survives the restart, so the queued delete must be replayed).

#[path = "outage_common/mod.rs"]
mod outage_common;

use cache_core::store::BreakerState;
use cache_core::testing::{PostgresServer, SqliteFile};
use cache_core::Cache;
use outage_common::{through_an_outage, Users};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_postgres_costs_one_failing_call_and_its_missed_invalidations_are_replayed() {
    let mut server = PostgresServer::start();
    let cache = Cache::from_url(&format!("{}?timeout_ms=30000", server.url()))
        .await
        .unwrap();
    let users = Users::new(cache);
    through_an_outage(
        &users,
        &mut server,
        PostgresServer::kill,
        PostgresServer::restart,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_is_a_local_file_without_a_breaker() {
    let file = SqliteFile::new();
    let cache = Cache::from_url(&file.url()).await.unwrap();
    cache.set("k", &1).await.unwrap();
    assert_eq!(cache.store().stats().breaker, None::<BreakerState>);
}
