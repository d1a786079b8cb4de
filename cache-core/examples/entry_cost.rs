//! What a memory-store entry costs in resident memory, against what the store counts for it.
//!
//! Run: `cargo run --release -p cache-core --example entry_cost -- [entries] [tags] [value bytes]`
//! (defaults 200000, 2, 250: the demo's cached HTTP responses). Inserts the entries into a
//! store bounded far above them, in one thread, and prints the growth of VmRSS per entry beside
//! the store's counted bytes per entry (`StoreStats::bytes`). Run it once per shape (a fresh
//! process each time, so no freed memory is reused across shapes); the per-entry overheads of
//! `store/memory.rs` come from these figures.

use bytes::Bytes;
use cache_core::store::{MemoryStore, Store, WriteOptions};

fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").parse::<u64>().ok())
        .expect("VmRSS")
        * 1024
}

fn main() {
    let mut args = std::env::args()
        .skip(1)
        .map(|a| a.parse::<usize>().expect("a number"));
    let n = args.next().unwrap_or(200_000);
    let tags = args.next().unwrap_or(2);
    let value_len = args.next().unwrap_or(250);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let store = MemoryStore::builder().max_bytes(1 << 40).build();
    let opts = WriteOptions {
        ttl: Some(std::time::Duration::from_secs(3600)),
        tags: (0..tags).map(|t| format!("cache:t:tag{t}")).collect(),
    };
    // Keys like the response cache's under a cardinality attack (about 40 bytes).
    let key = |i: usize| format!("cache:v1:rc:/users/1?q={i:016x}");
    let value = |i: usize| {
        // Built like the response cache's values: a vector with a little spare capacity.
        let mut v = Vec::with_capacity(value_len + 32);
        v.extend(std::iter::repeat_n((i % 251) as u8, value_len));
        Bytes::from(v)
    };
    rt.block_on(async {
        // Warm the allocator and the store with a few entries, then measure.
        for i in 0..1000 {
            store.set(&key(i), value(i), &opts).await.unwrap();
        }
        let (before, counted_before) = (rss(), store.stats().bytes);
        for i in 1000..n + 1000 {
            store.set(&key(i), value(i), &opts).await.unwrap();
        }
        let stats = store.stats();
        let grown = rss().saturating_sub(before) as f64 / n as f64;
        let counted = (stats.bytes - counted_before) as f64 / n as f64;
        println!(
            "{n} entries, {tags} tags, {value_len}-byte values, {}-byte keys: resident {grown:.0} B \
             per entry, counted {counted:.0} B per entry (resident/counted {:.3}); {} entries",
            key(0).len(),
            grown / counted,
            stats.entries,
        );
    });
}
