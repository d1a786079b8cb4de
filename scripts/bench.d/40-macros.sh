# #[cached] hit vs a hand-written Cache::get; #[memoize] hit vs the `cached` crate on 1 and 2
# threads (ratios are medians of 31 alternating batches in the same run).
cargo bench -q -p cache-core --bench macros -- --warm-up-time 1 --measurement-time 2
