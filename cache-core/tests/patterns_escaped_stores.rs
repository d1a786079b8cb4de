//! Patterns built with `Pattern` from user input delete only the keys they name, on every store
//! that lists keys: memory, Redis (`SCAN MATCH`) and SQLite (an escaped `LIKE`, then the glob).
//! Inputs full of glob and `LIKE` metacharacters (`*`, `?`, `[`, `]`, `\`, `%`, `_`) match only
//! themselves.

use std::collections::BTreeSet;

use cache_core::key::KeyBuf;
use cache_core::{Cache, Pattern};

/// Keys written as plain strings, wildcards in them included.
const RAW: [&str; 7] = [
    "user:1", "user:2", "user:*", "user:?x", "user:[a]", "user:%", "user:_x",
];

/// What a user might type.
const INPUTS: [&str; 8] = ["*", "?", "[", "[a]", "]", "\\", "%", "_"];

/// The key a template `user:{id}` writes for `id`.
fn templated(id: &str) -> String {
    KeyBuf::new().lit("user:").arg(id).finish()
}

fn all_keys() -> BTreeSet<String> {
    RAW.iter()
        .map(|k| (*k).to_owned())
        .chain(INPUTS.iter().map(|i| templated(i)))
        .collect()
}

async fn fill(cache: &Cache) {
    cache.delete_pattern("*").await.unwrap();
    for (i, k) in all_keys().iter().enumerate() {
        cache.set(k, &i).await.unwrap();
    }
    let listed: BTreeSet<String> = cache.keys("*").await.unwrap().into_iter().collect();
    assert_eq!(listed, all_keys());
}

/// `pattern` lists exactly `expected`, deletes exactly them, and leaves every other key.
async fn deletes_exactly(cache: &Cache, pattern: Pattern, expected: &[String]) {
    fill(cache).await;
    let expected: BTreeSet<String> = expected.iter().cloned().collect();
    let listed: BTreeSet<String> = cache.keys(&pattern).await.unwrap().into_iter().collect();
    assert_eq!(listed, expected, "keys({pattern})");
    let n = cache.delete_pattern(&pattern).await.unwrap();
    assert_eq!(n, expected.len() as u64, "delete_pattern({pattern})");
    let left: BTreeSet<String> = cache.keys("*").await.unwrap().into_iter().collect();
    let want: BTreeSet<String> = all_keys().difference(&expected).cloned().collect();
    assert_eq!(left, want, "after delete_pattern({pattern})");
}

async fn user_input_never_widens_a_pattern(cache: &Cache) {
    // `arg`: escaped as templates escape, so it finds the key `user:{id}` wrote for that input
    // and nothing else.
    for input in INPUTS {
        let p = Pattern::new("user:").arg(input);
        deletes_exactly(cache, p, &[templated(input)]).await;
        // With a wildcard after it: the keys that start with that key (`user:%5B*` finds
        // `user:%5B` and `user:%5Ba%5D`), never more.
        let p = Pattern::new("user:").arg(input).any();
        let starts: Vec<String> = all_keys()
            .into_iter()
            .filter(|k| k.starts_with(&templated(input)))
            .collect();
        deletes_exactly(cache, p, &starts).await;
    }
    // `lit`: the text itself, for keys written as plain strings.
    let s = |k: &str| vec![k.to_owned()];
    for (input, expected) in [
        ("*", s("user:*")),
        ("?", vec![]),
        ("[", vec![]),
        ("[a]", s("user:[a]")),
        ("]", vec![]),
        ("\\", vec![]),
        ("%", s("user:%")),
        // `_` is no wildcard in a glob, and templates leave it as it is.
        ("_", s("user:_")),
    ] {
        deletes_exactly(cache, Pattern::new("user:").lit(input), &expected).await;
    }
    // Literal text then a wildcard the code chose: the keys that start with that text.
    for prefix in ["user:?", "user:_", "user:[", "user:%", "user:*", "user:\\"] {
        let starts: Vec<String> = all_keys()
            .into_iter()
            .filter(|k| k.starts_with(prefix))
            .collect();
        deletes_exactly(cache, Pattern::new(prefix).any(), &starts).await;
    }
    deletes_exactly(cache, Pattern::new("user:?").any(), &s("user:?x")).await;
    deletes_exactly(cache, Pattern::new("user:[").any(), &s("user:[a]")).await;
    // The wildcards the code adds still work.
    let ones: Vec<String> = all_keys()
        .into_iter()
        .filter(|k| k.len() == "user:1".len())
        .collect();
    deletes_exactly(cache, Pattern::new("user:").one(), &ones).await;
    let everything: Vec<String> = all_keys().into_iter().collect();
    deletes_exactly(cache, Pattern::new("user:").any(), &everything).await;
}

#[tokio::test]
async fn memory_user_input_never_widens_a_pattern() {
    user_input_never_widens_a_pattern(&Cache::memory()).await;
}

#[cfg(feature = "redis")]
#[tokio::test]
async fn redis_user_input_never_widens_a_pattern() {
    let server = cache_core::testing::RedisServer::start();
    let cache = Cache::from_url(&server.url()).await.unwrap();
    user_input_never_widens_a_pattern(&cache).await;
}

#[cfg(feature = "sqlite")]
#[tokio::test]
async fn sqlite_user_input_never_widens_a_pattern() {
    let file = cache_core::testing::SqliteFile::new();
    let cache = Cache::from_url(&file.url()).await.unwrap();
    user_input_never_widens_a_pattern(&cache).await;
}
