use cache_core::cache_invalidate;

#[cache_invalidate(keys = ["user:{id}"], recache_concurrency = 2)]
async fn update(id: u64) {}

#[cache_invalidate(keys = ["user:{id}"], recache = [5])]
async fn update_again(id: u64) {}

fn main() {}
