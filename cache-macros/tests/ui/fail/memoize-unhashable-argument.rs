use cache_core::memoize;

#[memoize]
fn area(radius: f64) -> f64 {
    radius * radius * std::f64::consts::PI
}

fn main() {}
