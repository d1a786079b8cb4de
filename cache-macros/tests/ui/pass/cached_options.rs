//! Every option of `#[cached]` and `#[cache_invalidate]`, and a renamed crate.
use std::time::Duration;

use cache_core as my_cache;
use cache_core::{cache_invalidate, cached, Cache};

fn ttl_from_config() -> Duration {
    Duration::from_secs(30)
}

#[cached(key = "a:{id}", ttl = 300)]
async fn ttl_secs(id: u64) -> u64 {
    id
}

#[cached(key = "b:{id}", ttl = "1h30m", stale = "5m")]
async fn ttl_string(id: u64) -> u64 {
    id
}

#[cached(key = "c:{id}", ttl = "short", stale = 10)]
async fn ttl_preset(id: u64) -> u64 {
    id
}

#[cached(key = "d:{id}", ttl = "long", lock = false)]
async fn ttl_long(id: u64) -> u64 {
    id
}

#[cached(key = "dl:{id}", lock = "distributed")]
async fn distributed(id: u64) -> u64 {
    id
}

#[cached(key = "dl2:{id}", lock = "distributed", lease = "30s")]
async fn distributed_lease(id: u64) -> u64 {
    id
}

#[cached(key = "ll:{id}", lock = "local")]
async fn local_lock(id: u64) -> u64 {
    id
}

#[cached(key = "bg:{id}", ttl = 60, stale = "10m", background = true)]
async fn background(id: u64, name: String) -> Result<String, String> {
    Ok(format!("{name}{id}"))
}

#[cached(key = "e:{id}", ttl = ttl_from_config(), stale = Duration::from_secs(1))]
async fn ttl_expr(id: u64) -> u64 {
    id
}

#[cached(
    key = "f:{org}:{id}",
    tags = ["orgs", "org:{org}"],
    condition = id > 0 && !org.is_empty(),
    unless = |v: &Vec<u64>| v.is_empty(),
    cache = Cache::global(),
    lock = true,
)]
async fn everything(org: &str, id: u64) -> Result<Vec<u64>, String> {
    Ok(vec![id; org.len()])
}

#[cached(key = "g:{id}", unless = Vec::is_empty)]
async fn unless_path(id: u64) -> Option<Vec<u8>> {
    Some(vec![id as u8])
}

#[cached(key = "h:{id}", crate = my_cache)]
async fn renamed(id: u64) -> u64 {
    id
}

#[cache_invalidate(keys = ["a:{id}", "b:{id}"], tags = ["org:{org}"], patterns = ["f:{org}:*"])]
async fn invalidate_all(org: String, id: u64) -> Result<(), String> {
    let _ = (org, id);
    Ok(())
}

#[cache_invalidate(tags = ["orgs"], cache = std::sync::Arc::new(Cache::memory()), crate = my_cache)]
pub async fn invalidate_plain() -> u32 {
    1
}

pub struct Svc {
    cache: Cache,
}

impl Svc {
    #[cache_invalidate(keys = ["x:{id}"], cache = self.cache)]
    async fn update(&self, id: u64) -> Option<u64> {
        Some(id)
    }

    #[cache_invalidate(keys = ["x:{id}"], cache = self.cache)]
    async fn consume(self, id: u64) -> impl Sized {
        drop(self);
        id
    }
}

fn main() {
    let svc = Svc { cache: Cache::memory() };
    let _ = background(1, String::new());
    let _ = (ttl_secs(1), ttl_string(1), ttl_preset(1), ttl_long(1), ttl_expr(1));
    let _ = (everything("o", 1), unless_path(1), renamed(1), invalidate_all(String::new(), 1));
    let _ = (invalidate_plain(), svc.update(1));
    let _ = svc.consume(1);
}
