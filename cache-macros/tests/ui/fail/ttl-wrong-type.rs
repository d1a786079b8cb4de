use cache_core::cached;

const TTL: &str = "5m";

#[cached(key = "user:{id}", ttl = TTL)]
async fn user(id: u64) -> u64 {
    id
}

fn main() {}
