use cache_core::cached;

#[cached(key = "user:{id}", expire = 60)]
async fn user(id: u64) -> u64 {
    id
}

fn main() {}
