//! Every function shape `#[memoize]` accepts.
use std::time::Duration;

use cache_core::memoize;

#[memoize]
fn no_args() -> u32 {
    1
}

#[memoize(capacity = 50, ttl = 30)]
pub fn one(n: u64) -> u64 {
    n
}

#[memoize(ttl = "5m")]
pub(crate) fn refs<'a>(s: &'a str, bytes: &[u8], v: &Vec<u8>) -> usize {
    s.len() + bytes.len() + v.len()
}

#[memoize(ttl = Duration::from_secs(5))]
fn pattern((a, b): (u32, u32), mut c: u8) -> Result<u32, String> {
    c += 1;
    Ok(a + b + u32::from(c))
}

#[memoize(key = n % 10)]
fn keyed(n: u64, _ignored: &std::sync::Mutex<u8>) -> Option<u64> {
    Some(n)
}

#[memoize]
async fn async_one(n: u64) -> u64 {
    n
}

#[memoize]
async fn async_result(s: String) -> Result<usize, std::io::Error> {
    Ok(s.len())
}

#[derive(Clone, Hash, PartialEq, Eq)]
pub struct Money(u64);

impl Money {
    /// Receiver by reference: part of the key.
    #[memoize]
    pub fn split(&self, parts: u64) -> Vec<u64> {
        vec![self.0 / parts; parts as usize]
    }

    #[memoize]
    fn owned(self) -> u64 {
        self.0
    }

    #[memoize(key = self.0)]
    async fn async_method(&self) -> u64 {
        self.0
    }

    #[memoize]
    fn zero() -> Self {
        Money(0)
    }

    #[memoize]
    fn assoc_with_self_arg(other: Self) -> u64 {
        other.0
    }
}

fn main() {
    let _ = (no_args(), one(1), refs("a", b"b", &vec![]), pattern((1, 2), 3), keyed(1, &Default::default()));
    let _ = (async_one(1), async_result(String::new()));
    let m = Money(10);
    let _ = (m.split(2), m.clone().owned(), m.async_method(), Money::zero(), Money::assoc_with_self_arg(Money(1)));
    let _ = (no_args_memo().stats(), one_memo().len(), Money::split_memo().clear(), Money::zero_memo().is_empty());
    let _ = (refs_memo(), pattern_memo(), keyed_memo(), async_one_memo(), async_result_memo());
    let _ = (Money::owned_memo(), Money::async_method_memo(), Money::assoc_with_self_arg_memo());
}
