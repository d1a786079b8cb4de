use cache_core::memoize;

#[derive(Clone, Hash, PartialEq, Eq)]
pub struct Counter(u64);

impl Counter {
    #[memoize]
    fn next(&mut self) -> u64 {
        self.0 += 1;
        self.0
    }
}

fn main() {}
