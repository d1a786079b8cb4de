//! The cost the attribute macros add on a hit, as ratios against a baseline in the same run.
//!
//! Run with: `cargo bench -p cache-core --bench macros`
//!
//! - `cached_hit`: a `#[cached]` hit against the same read written by hand with `Cache::get`
//!   (target: at most 1.1x).
//! - `memoize_hit_1t` / `memoize_hit_2t`: a `#[memoize]` hit against a `#[cached]` hit of the
//!   `cached` crate (target: faster), on one thread and on two threads hitting one key.
//! - `table_hit_*`: the raw tables, `quick_cache::sync` (used by `#[memoize]`) against
//!   `moka::sync`, to show why `#[memoize]` is not built on moka.
//!
//! After criterion's own output the run prints the ratios, read back from criterion's
//! estimates of this run.

#![allow(missing_docs)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use cache_core::key::KeyBuf;
use cache_core::{cached, memoize, Cache};
use criterion::{criterion_group, Criterion};

#[derive(Clone, Copy, serde::Serialize, serde::Deserialize)]
struct Price {
    cents: u64,
    currency: [u8; 3],
}

fn price(id: u64) -> Price {
    Price {
        cents: id * 100,
        currency: *b"EUR",
    }
}

#[cached(key = "price:{id}", cache = cache)]
async fn cached_price(cache: &Cache, id: u64) -> Price {
    price(id)
}

async fn hand_price(cache: &Cache, id: u64) -> Price {
    let key = KeyBuf::new().lit("price:").arg(&id).finish();
    if let Ok(Some(p)) = cache.get::<Price>(&key).await {
        return p;
    }
    let p = price(id);
    let _ = cache.set(&key, &p).await;
    p
}

#[memoize(capacity = 10_000)]
fn memo_price(id: u64) -> Price {
    price(id)
}

/// A method: its table is found by type on each call (no typed shortcut).
#[derive(Clone, Hash, PartialEq, Eq)]
struct Catalog(u32);

impl Catalog {
    #[memoize(capacity = 10_000)]
    fn price(&self, id: u64) -> Price {
        price(id + u64::from(self.0))
    }
}

#[::cached::proc_macro::cached(size = 10_000)]
fn cached_crate_price(id: u64) -> Price {
    price(id)
}

fn bench_cached(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let cache = Cache::memory();
    rt.block_on(async {
        hand_price(&cache, 7).await;
        cached_price(&cache, 7).await;
    });
    let mut g = c.benchmark_group("cached_hit");
    g.bench_function("hand_get", |b| {
        b.to_async(&rt).iter(|| hand_price(&cache, black_box(7)))
    });
    g.bench_function("cached_macro", |b| {
        b.to_async(&rt).iter(|| cached_price(&cache, black_box(7)))
    });
    g.finish();
}

/// Runs `f` `iters` times on each of `threads` threads at once; the wall time over the calls of
/// one thread.
fn threaded(threads: usize, iters: u64, f: impl Fn(u64) + Sync) -> Duration {
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                for _ in 0..iters {
                    f(black_box(7));
                }
            });
        }
    });
    start.elapsed()
}

fn bench_memoize(c: &mut Criterion) {
    memo_price(7);
    cached_crate_price(7);
    let catalog = Catalog(0);
    catalog.price(7);
    let moka = moka::sync::Cache::<u64, Price>::new(10_000);
    moka.insert(7, price(7));
    let quick = quick_cache::sync::Cache::<u64, Price>::new(10_000);
    quick.insert(7, price(7));
    for threads in [1, 2] {
        let mut g = c.benchmark_group(format!("memoize_hit_{threads}t"));
        g.bench_function("cached_crate", |b| {
            b.iter_custom(|n| {
                threaded(threads, n, |k| {
                    let _ = black_box(cached_crate_price(k));
                })
            })
        });
        g.bench_function("memoize", |b| {
            b.iter_custom(|n| {
                threaded(threads, n, |k| {
                    let _ = black_box(memo_price(k));
                })
            })
        });
        g.bench_function("memoize_method", |b| {
            b.iter_custom(|n| {
                threaded(threads, n, |k| {
                    let _ = black_box(catalog.price(k));
                })
            })
        });
        g.finish();
        let mut g = c.benchmark_group(format!("table_hit_{threads}t"));
        g.bench_function("moka_sync", |b| {
            b.iter_custom(|n| {
                threaded(threads, n, |k| {
                    let _ = black_box(moka.get(&k));
                })
            })
        });
        g.bench_function("quick_cache", |b| {
            b.iter_custom(|n| {
                threaded(threads, n, |k| {
                    let _ = black_box(quick.get(&k));
                })
            })
        });
        g.finish();
    }
}

criterion_group!(benches, bench_cached, bench_memoize);

/// Criterion's mean estimate (ns) of `group/name` from this run.
fn mean_ns(dir: &std::path::Path, group: &str, name: &str) -> Option<f64> {
    let path = dir
        .join(group)
        .join(name)
        .join("new")
        .join("estimates.json");
    let text = std::fs::read_to_string(path).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    // The slope of a linear sampling is what criterion prints as "time"; else the mean.
    v["slope"]["point_estimate"]
        .as_f64()
        .or_else(|| v["mean"]["point_estimate"].as_f64())
}

/// The median over `rounds` of time(a) / time(b), each round timing a batch of `a` then a batch
/// of `b` (in alternating order). Pairing adjacent batches cancels the slow swings in load that
/// a shared machine has between criterion's back-to-back groups.
/// Returns the median ratio and the median batch times of `a` and `b`.
fn paired(
    rounds: usize,
    mut a: impl FnMut() -> Duration,
    mut b: impl FnMut() -> Duration,
) -> (f64, Duration, Duration) {
    let (mut tas, mut tbs) = (Vec::new(), Vec::new());
    let mut ratios: Vec<f64> = (0..rounds)
        .map(|r| {
            let (ta, tb) = if r % 2 == 0 {
                let ta = a();
                (ta, b())
            } else {
                let tb = b();
                (a(), tb)
            };
            tas.push(ta);
            tbs.push(tb);
            ta.as_secs_f64() / tb.as_secs_f64()
        })
        .collect();
    ratios.sort_by(f64::total_cmp);
    tas.sort();
    tbs.sort();
    (ratios[rounds / 2], tas[rounds / 2], tbs[rounds / 2])
}

/// One line for `scripts/bench.sh`; times per operation from the median batches.
fn result(name: &str, (ratio, ta, tb): (f64, Duration, Duration), ops: f64, target: f64) {
    let ns = |d: Duration| d.as_secs_f64() * 1e9 / ops;
    let met = if ratio <= target { "met" } else { "NOT met" };
    println!(
        "RESULT | {name} | {:.1} ns | {:.1} ns | {ratio:.2}x | <= {target:.2}x | {met}",
        ns(ta),
        ns(tb)
    );
}

fn paired_ratios() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let cache = Cache::memory();
    let timed_async = |macro_path: bool| {
        let start = Instant::now();
        rt.block_on(async {
            for _ in 0..20_000 {
                if macro_path {
                    black_box(cached_price(&cache, black_box(7)).await);
                } else {
                    black_box(hand_price(&cache, black_box(7)).await);
                }
            }
        });
        start.elapsed()
    };
    timed_async(true);
    timed_async(false);
    let catalog = Catalog(0);
    println!("\npaired ratios (median of 31 alternating batches, this run):");
    let p = paired(31, || timed_async(true), || timed_async(false));
    println!("  #[cached] hit / hand-written Cache::get: {:.2}", p.0);
    result(
        "#[cached] hit vs hand-written Cache::get (median of 31 paired batches)",
        p,
        20_000.0,
        1.10,
    );
    for threads in [1, 2] {
        let memo = || {
            threaded(threads, 500_000, |k| {
                let _ = black_box(memo_price(k));
            })
        };
        let method = || {
            threaded(threads, 500_000, |k| {
                let _ = black_box(catalog.price(k));
            })
        };
        let crate_ = || {
            threaded(threads, 500_000, |k| {
                let _ = black_box(cached_crate_price(k));
            })
        };
        let p = paired(31, memo, crate_);
        println!(
            "  #[memoize] hit / cached crate hit, {threads} thread(s): {:.2}",
            p.0
        );
        // Per call on each thread: a batch runs 500,000 calls per thread.
        result(
            &format!("#[memoize] hit vs `cached` crate #[cached] hit, {threads} thread(s) (median of 31 paired batches)"),
            p,
            500_000.0,
            1.0,
        );
        let p = paired(31, method, crate_);
        println!(
            "  #[memoize] method hit / cached crate hit, {threads} thread(s): {:.2}",
            p.0
        );
    }
}

fn main() {
    benches();
    paired_ratios();
    Criterion::default().configure_from_args().final_summary();
    let target = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into());
    let dir = std::path::Path::new(&target).join("criterion");
    let rows = [
        (
            "cached_hit",
            "cached_macro",
            "hand_get",
            "#[cached] hit / hand-written Cache::get (target <= 1.10)",
        ),
        (
            "memoize_hit_1t",
            "memoize",
            "cached_crate",
            "#[memoize] hit / cached crate hit, 1 thread (target < 1)",
        ),
        (
            "memoize_hit_1t",
            "memoize_method",
            "cached_crate",
            "#[memoize] method hit / cached crate hit, 1 thread",
        ),
        (
            "memoize_hit_2t",
            "memoize",
            "cached_crate",
            "#[memoize] hit / cached crate hit, 2 threads (target < 1)",
        ),
        (
            "memoize_hit_2t",
            "memoize_method",
            "cached_crate",
            "#[memoize] method hit / cached crate hit, 2 threads",
        ),
        (
            "table_hit_1t",
            "quick_cache",
            "moka_sync",
            "quick_cache get / moka::sync get, 1 thread",
        ),
        (
            "table_hit_2t",
            "quick_cache",
            "moka_sync",
            "quick_cache get / moka::sync get, 2 threads",
        ),
    ];
    println!("\nratios (this run):");
    for (group, a, b, what) in rows {
        match (mean_ns(&dir, group, a), mean_ns(&dir, group, b)) {
            (Some(x), Some(y)) => println!("  {what}: {:.2}  ({x:.1} ns / {y:.1} ns)", x / y),
            _ => println!(
                "  {what}: not measured (filtered out, or no estimates under {})",
                dir.display()
            ),
        }
    }
}
