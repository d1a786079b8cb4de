use cache_core::cache_put;

#[cache_put(ttl = 60)]
async fn save(id: u64) -> u64 {
    id
}

#[cache_put(key = "user:{uid}")]
async fn save_other(id: u64) -> u64 {
    id
}

fn main() {}
