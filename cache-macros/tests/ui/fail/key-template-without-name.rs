use cache_core::cached;

#[cached("user:{id}")]
async fn user(id: u64) -> u64 {
    id
}

fn main() {}
