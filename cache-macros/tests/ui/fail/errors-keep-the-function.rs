//! A rejected attribute still emits the function: its callers, and the items only it uses,
//! add no errors or warnings of their own (one error per attribute below, nothing else).
#![deny(unused)]

use cache_core::{cache_invalidate, cache_put, cached, memoize};

struct Db;

impl Db {
    fn count(&self) -> u64 {
        1
    }
}

#[cached(key = "count:{table}", expire = 60)]
async fn count(db: &Db, table: String) -> u64 {
    let _ = table;
    db.count()
}

#[cached(key = "user:{user_id}")]
async fn user(id: u64) -> u64 {
    id
}

#[cached(key = "slow:{id}", ttl = "5 parsecs")]
async fn slow(id: u64) -> u64 {
    id
}

#[cache_invalidate(key = ["user:{id}"])]
async fn rename(id: u64) {
    let _ = id;
}

#[cache_put(key = "user:{id}", ttl_secs = 60)]
async fn save(id: u64) -> u64 {
    id
}

#[memoize(size = 10)]
fn square(n: u64) -> u64 {
    n * n
}

pub async fn callers() -> u64 {
    rename(1).await;
    let memo = square_memo().len() as u64;
    count(&Db, "users".into()).await + user(1).await + slow(2).await + save(3).await + square(4) + memo
}

fn main() {}
