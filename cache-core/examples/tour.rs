//! Run with: cargo run -p cache-core --example tour
//!
//! A tour of the `Cache` API on the store `CACHE_URL` names (in-memory by default): typed reads
//! and writes, TTLs, tags, patterns, counters, single-flight loads and stats. Prints each step.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use cache_core::{Cache, SetOptions};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct User {
    id: u64,
    name: String,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), cache_core::Error> {
    let cache = Cache::from_env().await?;
    println!("cache: {cache:?}");

    let ada = User {
        id: 1,
        name: "Ada".into(),
    };
    cache
        .set_with(
            "user:1",
            &ada,
            SetOptions::new().ttl(Duration::from_secs(60)).tag("users"),
        )
        .await?;
    println!("set user:1 (ttl 60s, tag users)");
    println!("get user:1 -> {:?}", cache.get::<User>("user:1").await?);
    println!("ttl user:1 -> {:?}", cache.ttl("user:1").await?);

    let loads = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let (cache, loads) = (cache.clone(), loads.clone());
            tokio::spawn(async move {
                cache
                    .get_or_set("report", Duration::from_secs(30), || async move {
                        loads.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(200)).await; // slow work
                        "expensive report".to_string()
                    })
                    .await
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("task");
    }
    println!(
        "100 concurrent get_or_set on a cold key -> loader ran {} time(s)",
        loads.load(Ordering::SeqCst)
    );

    for i in 2..=5 {
        cache
            .set(
                &format!("user:{i}"),
                &User {
                    id: i,
                    name: format!("user{i}"),
                },
            )
            .await?;
    }
    println!("keys user:* -> {:?}", cache.keys("user:*").await?);
    println!(
        "invalidate tag users -> {} deleted",
        cache.invalidate_tags(["users"]).await?
    );
    println!(
        "delete_pattern user:[2-3] -> {} deleted",
        cache.delete_pattern("user:[2-3]").await?
    );
    println!("incr visits -> {}", cache.incr("visits", 1).await?);
    println!("incr visits -> {}", cache.incr("visits", 1).await?);
    println!("clear -> {} deleted", cache.clear().await?);

    let s = cache.stats();
    println!(
        "stats: hits={} misses={} sets={} deletes={} hit_ratio={:.2}",
        s.hits,
        s.misses,
        s.sets,
        s.deletes,
        s.hit_ratio()
    );
    Ok(())
}
