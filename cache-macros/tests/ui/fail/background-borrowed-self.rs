use cache_core::{cached, Cache};

pub struct Repo {
    cache: Cache,
}

impl Repo {
    #[cached(key = "user:{id}", ttl = 60, stale = 30, background = true, cache = self.cache)]
    async fn user(&self, id: u64) -> u64 {
        self.cache.prefix().len() as u64 + id
    }
}

fn main() {}
