use cache_core::memoize;

#[memoize(ttl = "short")]
fn one(n: u64) -> u64 {
    n
}

fn main() {}
