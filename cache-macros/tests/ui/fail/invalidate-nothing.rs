use cache_core::cache_invalidate;

#[cache_invalidate()]
async fn update(id: u64) {
    let _ = id;
}

fn main() {}
