use cache_core::memoize;

#[memoize]
fn describe<T: ToString>(value: T) -> String {
    value.to_string()
}

fn main() {}
