use cache_core::cached;

#[cached(key = "user:{id}", lease = "30s")]
async fn user(id: u64) -> u64 {
    id
}

fn main() {}
