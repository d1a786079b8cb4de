use cache_core::memoize;

#[memoize(capacity = 10, tags = ["x"])]
fn one(n: u64) -> u64 {
    n
}

fn main() {}
