//! Run with: cargo run --release -p cache-core --example hit_profile -- VARIANT N
//!
//! Runs N typed hits of one variant, for instruction counts under callgrind
//! (`scripts/bench.d/15-hit-instructions.sh` runs it with N and with 0, and divides the
//! difference by N, so set-up is not counted):
//! - `raw`: a `moka::sync::Cache::get` plus a clone, moka as it comes (the target's baseline);
//! - `raw-store`: the same on a moka configured as the memory store configures it (per-entry
//!   expiry, ahash, a byte weigher), to tell the map's cost from the cache's;
//! - `memory`: a typed `Cache::get` on the memory store;
//! - `tiered`: a typed `Cache::get` answered by a tiered store's first tier;
//! - `three-tier`: the same on `tiers:mem://|sqlite://…|redis://…` (memory over a SQLite file
//!   over a `redis-server` it starts; needs the `sqlite` feature), as a user builds it from a URL;
//! - `cached`: a `#[cached]` function hit;
//! - `get`: the hand-written `Cache::get` that `#[cached]` is compared with.

use std::hint::black_box;
use std::sync::{Arc, OnceLock};

use cache_core::key::KeyBuf;
use cache_core::store::{MemoryStore, TieredStore};
use cache_core::{cached, Cache};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct User {
    id: u64,
    name: String,
    email: String,
    active: bool,
}

fn user(id: u64) -> User {
    User {
        id,
        name: "Ada Lovelace".into(),
        email: "ada@example.com".into(),
        active: true,
    }
}

static CACHE: OnceLock<Cache> = OnceLock::new();

#[cached(key = "user:{id}", cache = CACHE.get_or_init(Cache::memory))]
async fn load_user(id: u64) -> User {
    user(id)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let variant = args.next().unwrap_or_default();
    let n: u64 = args.next().and_then(|n| n.parse().ok()).unwrap_or(0);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        match variant.as_str() {
            "raw" => {
                let raw: moka::sync::Cache<String, User> = moka::sync::Cache::new(10_000);
                raw.insert("cache:v1:user:42".into(), user(42));
                for _ in 0..n {
                    black_box(raw.get(black_box("cache:v1:user:42")).map(|u| u.id));
                }
            }
            "raw-store" => {
                struct PerEntry;
                impl moka::Expiry<String, User> for PerEntry {
                    fn expire_after_create(
                        &self,
                        _: &String,
                        _: &User,
                        _: std::time::Instant,
                    ) -> Option<std::time::Duration> {
                        None
                    }
                }
                let raw: moka::sync::Cache<String, User, ahash::RandomState> =
                    moka::sync::Cache::builder()
                        .expire_after(PerEntry)
                        .max_capacity(64 << 20)
                        .weigher(|k: &String, _: &User| {
                            u32::try_from(k.len() + 128).unwrap_or(u32::MAX)
                        })
                        .build_with_hasher(ahash::RandomState::new());
                raw.insert("cache:v1:user:42".into(), user(42));
                for _ in 0..n {
                    black_box(raw.get(black_box("cache:v1:user:42")).map(|u| u.id));
                }
            }
            "memory" | "tiered" => {
                let cache = if variant == "memory" {
                    Cache::memory()
                } else {
                    let l2 = Arc::new(MemoryStore::new());
                    Cache::builder()
                        .store(TieredStore::builder(l2).build())
                        .build_now()
                        .expect("cache")
                };
                cache.set("user:42", &user(42)).await.expect("set");
                // The first read decodes and keeps the value; the ones counted are hits.
                let _: Option<User> = cache.get("user:42").await.expect("get");
                for _ in 0..n {
                    let u: Option<User> = cache.get(black_box("user:42")).await.expect("get");
                    black_box(u.map(|u| u.id));
                }
            }
            #[cfg(feature = "sqlite")]
            "three-tier" => {
                let redis = cache_core::testing::RedisServer::start();
                let file = cache_core::testing::SqliteFile::new();
                let url = format!("tiers:mem://|{}|{}", file.url(), redis.url());
                let cache = Cache::from_url(&url).await.expect("three tiers");
                cache.set("user:42", &user(42)).await.expect("set");
                let _: Option<User> = cache.get("user:42").await.expect("get");
                for _ in 0..n {
                    let u: Option<User> = cache.get(black_box("user:42")).await.expect("get");
                    black_box(u.map(|u| u.id));
                }
                assert_eq!(cache.store().stats().tiers[0].hits, n + 1, "not L1 hits");
            }
            "cached" => {
                black_box(load_user(42).await);
                for _ in 0..n {
                    black_box(load_user(black_box(42)).await.id);
                }
            }
            "get" => {
                let cache = CACHE.get_or_init(Cache::memory);
                black_box(load_user(42).await);
                for _ in 0..n {
                    // What `#[cached]` does by hand: the key from the template, then a read.
                    let id = black_box(42u64);
                    let key = KeyBuf::new().lit("user:").arg(&id).finish();
                    let u: Option<User> = cache.get(&key).await.expect("get");
                    black_box(u.map(|u| u.id));
                }
            }
            other => eprintln!("unknown variant {other:?}: raw, raw-store, memory, tiered, three-tier, cached or get"),
        }
    });
}
