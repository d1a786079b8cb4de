use cache_core::cache_invalidate;

#[cache_invalidate(keys = ["user:{id}"])]
fn update(id: u64) {
    let _ = id;
}

fn main() {}
