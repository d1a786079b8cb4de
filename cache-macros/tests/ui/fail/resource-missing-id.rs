use cache_core::{cache_invalidate, cached, resource};

resource!(user, id = user_id);

#[cached(resource = user, suffix = "profile")]
async fn profile(id: u64) -> u64 {
    id
}

#[cache_invalidate(resource = user)]
async fn forget(org: u64) {}

fn main() {}
