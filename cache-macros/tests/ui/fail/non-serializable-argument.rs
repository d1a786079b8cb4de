use cache_core::cached;

pub struct Db;

#[cached]
async fn count(db: &Db, table: String) -> u64 {
    let _ = (db, table);
    1
}

fn main() {}
