//! Runnable programs of the cache-rs toolkit. The demo service is `src/bin/demo.rs`:
//! `cargo run -p cache-examples --bin demo`.
//!
//! This library target exists to compile the README's examples as doc tests, since this crate
//! depends on every crate of the workspace.

#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;
