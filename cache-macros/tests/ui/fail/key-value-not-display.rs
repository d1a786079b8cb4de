use cache_core::cached;

#[derive(Debug)]
pub struct Filter;

#[cached(key = "search:{filter}")]
async fn search(filter: Filter) -> u64 {
    let _ = filter;
    1
}

fn main() {}
