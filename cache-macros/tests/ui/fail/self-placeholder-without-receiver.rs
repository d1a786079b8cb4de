use cache_core::cached;

#[cached(key = "{self.tenant}:{id}")]
async fn user(id: u64) -> u64 {
    id
}

fn main() {}
