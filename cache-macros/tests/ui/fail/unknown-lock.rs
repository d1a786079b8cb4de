use cache_core::cached;

#[cached(key = "user:{id}", lock = "yes")]
async fn user(id: u64) -> u64 {
    id
}

fn main() {}
