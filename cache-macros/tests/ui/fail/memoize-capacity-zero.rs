use cache_core::memoize;

#[memoize(capacity = 0)]
fn one(n: u64) -> u64 {
    n
}

fn main() {}
