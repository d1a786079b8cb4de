use cache_core::memoize;

#[memoize]
const fn double(n: u64) -> u64 {
    n * 2
}

fn main() {}
