use cache_core::cached;

#[cached(key = "user:{}")]
async fn user(id: u64) -> u64 {
    id
}

fn main() {}
