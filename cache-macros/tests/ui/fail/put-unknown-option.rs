use cache_core::cache_put;

#[cache_put(key = "user:{id}", ttl_secs = 60)]
async fn save(id: u64) -> u64 {
    id
}

fn main() {}
