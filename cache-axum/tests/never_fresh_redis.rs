//! Never-fresh responses on Redis (one real `redis-server` per test): the writes are counted by
//! the server itself (`INFO commandstats`), so a `SET` per request cannot hide.
//! Run with: cargo test -p cache-axum --test never_fresh_redis

mod never_fresh;
mod support;

use std::sync::Arc;

use cache_core::testing::RedisServer;
use cache_core::Cache;

use never_fresh::Writes;

/// The commands by which the store writes: values, deletes, expiries, hashes and scripts.
const WRITES: [&str; 13] = [
    "set", "setex", "psetex", "setnx", "mset", "del", "unlink", "expire", "pexpire", "persist",
    "hset", "eval", "evalsha",
];

/// How many write commands `server` has run, from `INFO commandstats`
/// (`cmdstat_set:calls=3,usec=…`).
fn write_commands(server: &RedisServer) -> u64 {
    let info = server.cli(&["INFO", "commandstats"]);
    info.lines()
        .filter_map(|line| {
            let (name, rest) = line.trim().strip_prefix("cmdstat_")?.split_once(':')?;
            let calls = rest.strip_prefix("calls=")?.split(',').next()?;
            WRITES.contains(&name).then(|| calls.parse::<u64>().ok())?
        })
        .sum()
}

async fn redis() -> (Arc<RedisServer>, Cache, Writes) {
    let server = Arc::new(RedisServer::start());
    let cache = Cache::from_url(&server.url())
        .await
        .expect("connect to the test redis-server");
    let counted = Arc::clone(&server);
    (server, cache, Box::new(move || write_commands(&counted)))
}

never_fresh_scenarios!(redis);
