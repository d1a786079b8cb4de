use cache_core::cached;

#[cached(key = "user:{id}", ttl = 60, background = true)]
async fn user(id: u64) -> u64 {
    id
}

fn main() {}
