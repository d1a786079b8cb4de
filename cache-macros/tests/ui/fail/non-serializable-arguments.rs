use std::sync::Arc;

use cache_core::cached;

pub struct Db;
pub struct Pool;

// Two handles: one error at each, each suggesting a key over the arguments that are data.
#[cached(ttl = "1m")]
async fn orders(pool: Arc<Pool>, db: &Db, customer: u64, status: String) -> Vec<u64> {
    let _ = (pool, db, customer, status);
    Vec::new()
}

fn main() {}
