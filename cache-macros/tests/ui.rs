//! Compile tests of the attribute macros: every supported shape compiles (`ui/pass`), and every
//! misuse is an error pointing at the user's tokens (`ui/fail/*.rs` with `.stderr`).
//!
//! Refresh the expected output with `TRYBUILD=overwrite cargo test -p cache-macros --test ui`, then
//! read every changed `.stderr`.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass/*.rs");
    t.compile_fail("tests/ui/fail/*.rs");
}
