//! The hit path: a typed `Cache::get` of a small struct, on the memory store and on the first
//! tier of a tiered store, vs a raw `moka::sync::Cache::get` (the map under the memory store)
//! plus a clone of the same value, measured in the same run.
//!
//! Run with: cargo bench -p cache-core --bench hit_path
//!
//! Prints criterion's report, then one line with the ratio of the medians.
#![allow(missing_docs)]

use std::hint::black_box;
use std::path::PathBuf;

use cache_core::Cache;
use criterion::Criterion;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct User {
    id: u64,
    name: String,
    email: String,
    active: bool,
}

fn user() -> User {
    User {
        id: 42,
        name: "Ada Lovelace".into(),
        email: "ada@example.com".into(),
        active: true,
    }
}

fn out_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("criterion")
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let cache = Cache::memory();
    let tiered = Cache::builder()
        .store(
            cache_core::store::TieredStore::builder(std::sync::Arc::new(
                cache_core::store::MemoryStore::new(),
            ))
            .build(),
        )
        .build_now()
        .unwrap();
    let raw: moka::sync::Cache<String, User> = moka::sync::Cache::new(10_000);
    rt.block_on(async {
        cache.set("user:42", &user()).await.unwrap();
        tiered.set("user:42", &user()).await.unwrap();
        raw.insert("cache:v1:user:42".to_string(), user());
    });

    let mut g = c.benchmark_group("hit_path");
    g.bench_function("raw_moka_get_clone", |b| {
        b.to_async(&rt).iter(|| async {
            let u = raw.get(black_box("cache:v1:user:42")).unwrap();
            black_box(u)
        })
    });
    g.bench_function("cache_get_typed", |b| {
        b.to_async(&rt).iter(|| async {
            let u: User = cache.get(black_box("user:42")).await.unwrap().unwrap();
            black_box(u)
        })
    });
    g.bench_function("tiered_get_typed", |b| {
        b.to_async(&rt).iter(|| async {
            let u: User = tiered.get(black_box("user:42")).await.unwrap().unwrap();
            black_box(u)
        })
    });
    g.finish();
}

fn median_ns(group: &str, id: &str) -> Option<f64> {
    let path = out_dir().join(group).join(id).join("new/estimates.json");
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
    json["median"]["point_estimate"].as_f64()
}

fn main() {
    let mut c = Criterion::default()
        .output_directory(&out_dir())
        .configure_from_args();
    bench(&mut c);
    c.final_summary();
    let Some(raw) = median_ns("hit_path", "raw_moka_get_clone") else {
        return;
    };
    for (id, what, target) in [
        ("cache_get_typed", "memory hit: typed Cache::get", 1.2),
        ("tiered_get_typed", "tiered L1 hit: typed Cache::get", 1.3),
    ] {
        if let Some(ours) = median_ns("hit_path", id) {
            let ratio = ours / raw;
            let met = if ratio <= target { "met" } else { "NOT met" };
            println!(
                "RESULT | {what} vs raw moka get+clone | {ours:.0} ns | {raw:.0} ns | {ratio:.2}x | <= {target:.2}x | {met}"
            );
        }
    }
}
