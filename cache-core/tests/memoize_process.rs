//! `#[memoize]`: in-process tables for sync and async functions and methods.

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use cache_core::memoize;

static SQUARES: AtomicUsize = AtomicUsize::new(0);

#[memoize(capacity = 100)]
fn square(n: u64) -> u64 {
    SQUARES.fetch_add(1, SeqCst);
    n * n
}

#[test]
fn sync_hit_miss_invalidate_clear_and_stats() {
    assert_eq!(square(4), 16);
    assert_eq!(square(4), 16);
    assert_eq!(SQUARES.load(SeqCst), 1, "second call is a hit");
    assert_eq!(square(5), 25);
    assert_eq!(SQUARES.load(SeqCst), 2);
    let memo = square_memo();
    let s = memo.stats();
    assert_eq!(
        (s.hits, s.misses, s.entries, s.capacity),
        (1, 2, 2, 100),
        "{s:?}"
    );
    assert!(memo.invalidate(&4u64));
    assert!(!memo.invalidate(&4u64), "already gone");
    assert!(
        !memo.invalidate(&5i32),
        "a key of another type matches nothing"
    );
    square(4);
    assert_eq!(
        SQUARES.load(SeqCst),
        3,
        "the invalidated entry is computed again"
    );
    memo.clear();
    assert!(memo.is_empty());
    square(5);
    assert_eq!(SQUARES.load(SeqCst), 4, "cleared");
}

static CONCATS: AtomicUsize = AtomicUsize::new(0);

#[memoize]
fn concat(a: &str, b: &[u8], n: u32) -> String {
    CONCATS.fetch_add(1, SeqCst);
    format!("{a}{}{n}", b.len())
}

#[test]
fn reference_arguments_are_owned_in_the_key() {
    assert_eq!(concat("x", &[1, 2], 3), "x23");
    let (owned, bytes) = (String::from("x"), vec![1u8, 2]);
    assert_eq!(concat(&owned, &bytes, 3), "x23");
    assert_eq!(CONCATS.load(SeqCst), 1);
    assert_eq!(concat("x", &[1, 2], 4), "x24");
    assert_eq!(CONCATS.load(SeqCst), 2);
    assert!(concat_memo().invalidate(&("x".to_string(), vec![1u8, 2], 3u32)));
}

static FALLIBLE: AtomicUsize = AtomicUsize::new(0);

#[memoize]
fn parse_port(s: &str) -> Result<u16, std::num::ParseIntError> {
    FALLIBLE.fetch_add(1, SeqCst);
    s.parse()
}

#[memoize]
fn lookup(id: u32) -> Option<String> {
    FALLIBLE.fetch_add(1, SeqCst);
    (id > 0).then(|| format!("#{id}"))
}

#[test]
fn result_and_option_store_ok_and_some_only() {
    assert!(parse_port("x").is_err());
    assert!(parse_port("x").is_err());
    assert_eq!(parse_port("80"), Ok(80));
    assert_eq!(parse_port("80"), Ok(80));
    assert_eq!(FALLIBLE.load(SeqCst), 3, "errors run every time, Ok once");
    assert_eq!(lookup(0), None);
    assert_eq!(lookup(0), None);
    assert_eq!(lookup(1).as_deref(), Some("#1"));
    assert_eq!(lookup(1).as_deref(), Some("#1"));
    assert_eq!(FALLIBLE.load(SeqCst), 6, "None runs every time, Some once");
}

static EXPIRING: AtomicUsize = AtomicUsize::new(0);

#[memoize(ttl = Duration::from_millis(200))]
fn expiring(n: u8) -> usize {
    let _ = n;
    EXPIRING.fetch_add(1, SeqCst) + 1
}

#[memoize(ttl = "1h")]
fn long_lived(n: u8) -> u8 {
    n
}

#[test]
fn ttl_expires_entries() {
    assert_eq!(expiring(1), 1);
    assert_eq!(expiring(1), 1);
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(expiring(1), 2, "expired, so computed again");
    let s = expiring_memo().stats();
    assert_eq!(
        (s.hits, s.misses),
        (1, 2),
        "an expired read is a miss: {s:?}"
    );
    assert_eq!(long_lived(3), 3);
    assert_eq!(long_lived_memo().stats().entries, 1);
}

#[memoize(capacity = 10)]
fn bounded(n: u32) -> u32 {
    n
}

#[test]
fn capacity_bounds_the_table() {
    for n in 0..1000 {
        bounded(n);
    }
    let len = bounded_memo().len();
    assert!(len <= 10, "{len} entries kept with capacity 10");
}

#[derive(Clone, Hash, PartialEq, Eq)]
struct Rate {
    percent: u64,
    name: String,
}

static RATE_CALLS: AtomicUsize = AtomicUsize::new(0);

impl Rate {
    #[memoize]
    fn apply(&self, cents: u64) -> u64 {
        RATE_CALLS.fetch_add(1, SeqCst);
        cents * self.percent / 100
    }

    /// Keyed on the percentage only, on purpose: the name does not change the result.
    #[memoize(key = (self.percent, cents))]
    fn apply_by_percent(&self, cents: u64) -> u64 {
        RATE_CALLS.fetch_add(1, SeqCst);
        cents * self.percent / 100
    }

    #[memoize]
    fn standard() -> Self {
        Rate {
            percent: 20,
            name: "standard".into(),
        }
    }
}

#[test]
fn methods_key_on_the_receiver_unless_told_otherwise() {
    let a = Rate {
        percent: 10,
        name: "a".into(),
    };
    let b = Rate {
        percent: 20,
        name: "b".into(),
    };
    assert_eq!(a.apply(500), 50);
    assert_eq!(b.apply(500), 100, "another receiver must not get a's entry");
    assert_eq!(a.apply(500), 50);
    assert_eq!(RATE_CALLS.load(SeqCst), 2);
    assert!(Rate::apply_memo().invalidate(&(a.clone(), 500u64)));

    let a2 = Rate {
        percent: 10,
        name: "a2".into(),
    };
    let before = RATE_CALLS.load(SeqCst);
    assert_eq!(a.apply_by_percent(700), 70);
    assert_eq!(a2.apply_by_percent(700), 70);
    assert_eq!(
        RATE_CALLS.load(SeqCst),
        before + 1,
        "the explicit key leaves the name out"
    );
    assert!(Rate::apply_by_percent_memo().invalidate(&(10u64, 700u64)));

    assert_eq!(Rate::standard().name, "standard");
    assert_eq!(
        Rate::standard_memo().len(),
        1,
        "an associated fn naming Self works too"
    );
}

struct Wrapper<T>(T);

impl<T: Clone + std::hash::Hash + Eq + Send + Sync + 'static + ToString> Wrapper<T> {
    #[memoize]
    fn describe(&self) -> String
    where
        Self: Clone + std::hash::Hash + Eq,
    {
        self.0.to_string()
    }
}

impl<T: Clone> Clone for Wrapper<T> {
    fn clone(&self) -> Self {
        Wrapper(self.0.clone())
    }
}
impl<T: std::hash::Hash> std::hash::Hash for Wrapper<T> {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.0.hash(h)
    }
}
impl<T: PartialEq> PartialEq for Wrapper<T> {
    fn eq(&self, o: &Self) -> bool {
        self.0 == o.0
    }
}
impl<T: Eq> Eq for Wrapper<T> {}

#[test]
fn generic_impls_get_one_table_per_type() {
    assert_eq!(Wrapper(5u8).describe(), "5");
    assert_eq!(Wrapper(5u16).describe(), "5");
    assert_eq!(Wrapper("x".to_string()).describe(), "x");
    assert_eq!(
        Wrapper::<u8>::describe_memo().len(),
        3,
        "three instantiations, three tables"
    );
    assert!(Wrapper::<u8>::describe_memo().invalidate(&Wrapper(5u16)));
}

static SLOW_CALLS: AtomicUsize = AtomicUsize::new(0);

#[memoize]
async fn slow_double(n: u64) -> u64 {
    tokio::time::sleep(Duration::from_millis(50)).await;
    SLOW_CALLS.fetch_add(1, SeqCst);
    n * 2
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_thousand_concurrent_calls_run_once() {
    let tasks: Vec<_> = (0..1000).map(|_| tokio::spawn(slow_double(21))).collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), 42);
    }
    assert_eq!(
        SLOW_CALLS.load(SeqCst),
        1,
        "single-flight: one run for 1,000 callers"
    );
    assert_eq!(slow_double_memo().stats().entries, 1);
}

static FLAKY: AtomicUsize = AtomicUsize::new(0);

#[memoize]
async fn flaky(n: u32) -> Result<u32, String> {
    let k = FLAKY.fetch_add(1, SeqCst);
    tokio::task::yield_now().await;
    if k == 0 {
        Err("first call fails".into())
    } else {
        Ok(n)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_failure_is_not_shared_and_not_stored() {
    let (a, b) = tokio::join!(flaky(1), flaky(1));
    // One caller led and failed; the other ran its own body and succeeded.
    assert!(a.is_err() != b.is_err(), "{a:?} {b:?}");
    assert_eq!(flaky(1).await, Ok(1));
    assert_eq!(FLAKY.load(SeqCst), 2);
}

struct Service {
    id: u32,
}

impl Service {
    #[memoize(key = (self.id, n))]
    async fn fetch(&self, n: u32) -> u32 {
        self.id * 1000 + n
    }
}

#[tokio::test]
async fn async_methods_with_an_explicit_key() {
    let s = Service { id: 3 };
    assert_eq!(s.fetch(1).await, 3001);
    assert_eq!(s.fetch(1).await, 3001);
    assert_eq!(Service::fetch_memo().stats().hits, 1);
    Service::fetch_memo().clear();
    assert_eq!(Service::fetch_memo().len(), 0);
}

static HELD_RUNS: AtomicUsize = AtomicUsize::new(0);
static HELD_ENTERED: tokio::sync::Notify = tokio::sync::Notify::const_new();

/// Keyed on `n` only: the gate is how the test holds a run, not an input.
#[memoize(key = n)]
async fn held(n: u8, gate: Arc<tokio::sync::Notify>) -> u8 {
    HELD_RUNS.fetch_add(1, SeqCst);
    HELD_ENTERED.notify_one();
    gate.notified().await;
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_cancelled_leader_lets_a_waiter_run() {
    let never = Arc::new(tokio::sync::Notify::new());
    let leader = tokio::spawn(held(1, never));
    HELD_ENTERED.notified().await;
    let gate = Arc::new(tokio::sync::Notify::new());
    let follower = tokio::spawn(held(1, Arc::clone(&gate)));
    tokio::task::yield_now().await;
    leader.abort();
    HELD_ENTERED.notified().await; // the follower took over and runs its own body
    gate.notify_one();
    let v = tokio::time::timeout(Duration::from_secs(30), follower)
        .await
        .expect("a cancelled leader must not leave its waiters hanging")
        .unwrap();
    assert_eq!(v, 1);
    assert_eq!(HELD_RUNS.load(SeqCst), 2);
    assert_eq!(held_memo().len(), 1);
}
