//! Behaviours of `#[cache_invalidate(recache = ..)]`, `#[cache_put]` and resources, each an
//! async fn over a `Cache`, so the same checks run on every store: `write_macros_memory.rs` on
//! the memory store, `write_macros_redis.rs` on Redis and on the tiered store.

#![allow(dead_code, unreachable_pub)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cache_core::{cache_invalidate, cache_put, cached, Cache, KeyTtl};
use serde::{Deserialize, Serialize};
use tokio::sync::Barrier;

/// Every behaviour, by name.
#[macro_export]
macro_rules! write_macro_tests {
    (guard: $start:expr, cache: $make:path) => {
        write_macro_tests!(@guarded $start, $make;
            recache_makes_the_next_read_a_hit, recache_concurrency_bounds_the_calls,
            failing_recache_does_not_fail_the_write_and_is_counted,
            background_recache_eventually_makes_the_next_read_a_hit,
            recache_skipped_when_the_write_fails, cache_put_makes_the_next_read_a_hit,
            cache_put_stores_nothing_on_err, cache_put_key_from_the_result,
            resource_invalidation_drops_every_function_of_the_entity);
    };
    (@guarded $start:expr, $make:path; $($name:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let guard = $start;
                write_macros_common::$name($make(&guard).await).await;
            }
        )*
    };
    ($make:expr) => {
        write_macro_tests!(@each $make;
            recache_makes_the_next_read_a_hit, recache_concurrency_bounds_the_calls,
            failing_recache_does_not_fail_the_write_and_is_counted,
            background_recache_eventually_makes_the_next_read_a_hit,
            recache_skipped_when_the_write_fails, cache_put_makes_the_next_read_a_hit,
            cache_put_stores_nothing_on_err, cache_put_key_from_the_result,
            resource_invalidation_drops_every_function_of_the_entity);
    };
    (@each $make:expr; $($name:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                write_macros_common::$name($make).await;
            }
        )*
    };
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct User {
    pub id: u64,
    pub name: String,
}

// The entity `user`, keyed by `user_id`: `resource = user` below.
cache_core::resource!(user, id = user_id);

/// A user service over a "database" (a map), whose reads are cached in `self.cache` and count
/// how often their bodies run.
pub struct Users {
    pub cache: Cache,
    pub db: Mutex<HashMap<u64, String>>,
    pub loads: AtomicUsize,
    pub in_flight: AtomicUsize,
    pub max_in_flight: AtomicUsize,
    pub pairs: Barrier,
}

impl Users {
    pub fn new(cache: Cache) -> Self {
        Self {
            cache,
            db: Mutex::new(HashMap::from([
                (1, "Ada".to_owned()),
                (2, "Alan".to_owned()),
            ])),
            loads: AtomicUsize::new(0),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
            pairs: Barrier::new(2),
        }
    }

    pub fn loads(&self) -> usize {
        self.loads.load(SeqCst)
    }

    fn name(&self, id: u64) -> Option<String> {
        self.loads.fetch_add(1, SeqCst);
        self.db.lock().unwrap().get(&id).cloned()
    }

    #[cached(key = "user:{id}", tags = ["user:{id}"], cache = self.cache)]
    pub async fn get_user(&self, id: u64) -> Option<String> {
        self.name(id)
    }

    #[cached(key = "org:{org}:user:{id}", tags = ["user:{id}"], cache = self.cache)]
    pub async fn get_org_user(&self, org: u64, id: u64) -> Option<String> {
        self.name(id).map(|n| format!("{org}/{n}"))
    }

    /// The same key as `get_user`, for a recache run in a spawned task (`'static`).
    #[cached(key = "user:{id}", tags = ["user:{id}"], cache = self.cache)]
    pub async fn get_user_owned(self: Arc<Self>, id: u64) -> Option<String> {
        self.name(id)
    }

    #[cache_invalidate(tags = ["user:{id}"], recache = [self.get_user(id), self.get_org_user(org, id)], cache = self.cache)]
    pub async fn update_user(&self, org: u64, id: u64, name: &str) -> Result<(), String> {
        if name.is_empty() {
            return Err("empty name".into());
        }
        self.db.lock().unwrap().insert(id, name.to_owned());
        Ok(())
    }

    #[cache_invalidate(tags = ["user:{id}"], recache = [self.clone().get_user_owned(id)], recache_background = true, cache = self.cache)]
    pub async fn update_user_later(self: Arc<Self>, id: u64, name: String) -> Result<(), String> {
        self.db.lock().unwrap().insert(id, name);
        Ok(())
    }

    /// Two at a time pass the barrier: with more running at once, `max_in_flight` shows it;
    /// with fewer, the barrier never opens (the test's deadline catches that).
    #[cached(key = "slow:{id}", cache = self.cache)]
    pub async fn slow(&self, id: u64) -> u64 {
        let now = self.in_flight.fetch_add(1, SeqCst) + 1;
        self.max_in_flight.fetch_max(now, SeqCst);
        self.pairs.wait().await;
        self.in_flight.fetch_sub(1, SeqCst);
        self.loads.fetch_add(1, SeqCst);
        id
    }

    #[cache_invalidate(patterns = ["slow:*"], recache_concurrency = 2, cache = self.cache,
        recache = [self.slow(1), self.slow(2), self.slow(3), self.slow(4), self.slow(5), self.slow(6)])]
    pub async fn reset_slow(&self) {}

    #[cached(key = "broken:{id}", cache = self.cache)]
    pub async fn broken(&self, id: u64) -> Result<u64, String> {
        self.loads.fetch_add(1, SeqCst);
        Err(format!("no user {id}"))
    }

    #[cached(key = "boom:{id}", cache = self.cache)]
    pub async fn boom(&self, id: u64) -> u64 {
        self.loads.fetch_add(1, SeqCst);
        panic!("recache of boom({id}) panicked on purpose")
    }

    #[cached(key = "profile:{id}", cache = self.cache)]
    pub async fn get_profile(&self, id: u64) -> Option<User> {
        self.name(id).map(|name| User { id, name })
    }

    #[cache_put(key = "profile:{user.id}", ttl = 60, tags = ["user:{user.id}"], cache = self.cache)]
    pub async fn save_profile(&self, user: User) -> Result<User, String> {
        if user.name.is_empty() {
            return Err("empty name".into());
        }
        self.db.lock().unwrap().insert(user.id, user.name.clone());
        Ok(user)
    }

    /// The key is known only after the write: the id the "database" assigned.
    #[cache_put(key = "profile:{result.id}", tags = ["user:{result.id}", "created-by:{by}"], cache = self.cache)]
    pub async fn create_profile(&self, name: String, by: &str) -> Option<User> {
        let mut db = self.db.lock().unwrap();
        let id = db.keys().max().map_or(1, |m| m + 1);
        db.insert(id, name.clone());
        Some(User { id, name })
    }

    #[cached(resource = user, suffix = "profile", cache = self.cache)]
    pub async fn res_profile(&self, user_id: u64) -> Option<String> {
        self.name(user_id)
    }

    #[cached(resource = user, suffix = "orgs:{page}", ttl = 60, cache = self.cache)]
    pub async fn res_orgs(&self, user_id: u64, page: u32) -> Vec<String> {
        self.loads.fetch_add(1, SeqCst);
        vec![format!("org {page} of {user_id}")]
    }

    #[cache_invalidate(resource = user, cache = self.cache)]
    pub async fn forget_user(&self, user_id: u64) {}

    #[cache_invalidate(resource = user, recache = [self.res_profile(user_id)], cache = self.cache)]
    pub async fn rename_user(&self, user_id: u64, name: String) -> Result<(), String> {
        self.db.lock().unwrap().insert(user_id, name);
        Ok(())
    }

    #[cache_invalidate(keys = ["user:{id}"], recache = [self.broken(id), self.boom(id), self.get_user(id)], cache = self.cache)]
    pub async fn touch_user(&self, id: u64) -> Result<&'static str, String> {
        Ok("written")
    }
}

pub async fn recache_makes_the_next_read_a_hit(cache: Cache) {
    let users = Users::new(cache.clone());
    assert_eq!(users.get_user(1).await.as_deref(), Some("Ada"));
    assert_eq!(users.get_org_user(7, 1).await.as_deref(), Some("7/Ada"));
    assert_eq!(users.loads(), 2);
    users.update_user(7, 1, "Grace").await.unwrap();
    assert_eq!(users.loads(), 4, "both recache calls loaded again");
    assert_eq!(cache.stats().recaches, 2);
    assert_eq!(cache.stats().recache_failures, 0);
    // The next readers hit the new values: no body runs.
    assert_eq!(users.get_user(1).await.as_deref(), Some("Grace"));
    assert_eq!(users.get_org_user(7, 1).await.as_deref(), Some("7/Grace"));
    assert_eq!(users.loads(), 4, "the reads after the recache were hits");
    assert_eq!(
        cache.get::<String>("user:1").await.unwrap().as_deref(),
        Some("Grace")
    );
}

pub async fn recache_skipped_when_the_write_fails(cache: Cache) {
    let users = Users::new(cache.clone());
    users.get_user(1).await;
    assert_eq!(users.update_user(7, 1, "").await, Err("empty name".into()));
    assert_eq!(cache.stats().recaches, 0, "a failed write recaches nothing");
    assert_eq!(users.get_user(1).await.as_deref(), Some("Ada"));
    assert_eq!(users.loads(), 1, "nor does it invalidate");
}

pub async fn recache_concurrency_bounds_the_calls(cache: Cache) {
    let users = Users::new(cache.clone());
    tokio::time::timeout(Duration::from_secs(10), users.reset_slow())
        .await
        .expect("the recache calls never ran two at a time");
    assert_eq!(users.loads(), 6, "every recache call loaded");
    assert_eq!(
        users.max_in_flight.load(SeqCst),
        2,
        "recache_concurrency = 2"
    );
    assert_eq!(cache.stats().recaches, 6);
    for id in 1..=6 {
        assert_eq!(users.slow(id).await, id);
    }
    assert_eq!(users.loads(), 6, "each value was stored by its recache");
}

pub async fn failing_recache_does_not_fail_the_write_and_is_counted(cache: Cache) {
    let users = Users::new(cache.clone());
    assert_eq!(users.touch_user(1).await, Ok("written"));
    let s = cache.stats();
    assert_eq!(
        (s.recaches, s.recache_failures),
        (3, 2),
        "an Err and a panic are counted failures: {s:?}"
    );
    assert_eq!(users.loads(), 3);
    assert_eq!(users.get_user(1).await.as_deref(), Some("Ada"));
    assert_eq!(users.loads(), 3, "the call that succeeded was stored");
    assert!(
        !cache.exists("broken:1").await.unwrap(),
        "an Err is not stored"
    );
}

pub async fn background_recache_eventually_makes_the_next_read_a_hit(cache: Cache) {
    let users = Arc::new(Users::new(cache.clone()));
    assert_eq!(users.get_user(2).await.as_deref(), Some("Alan"));
    users
        .clone()
        .update_user_later(2, "Barbara".into())
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while cache.stats().recaches < 1 {
        assert!(
            Instant::now() < deadline,
            "the background recache never ran"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(users.loads(), 2, "the recache loaded once");
    assert_eq!(users.get_user(2).await.as_deref(), Some("Barbara"));
    assert_eq!(users.loads(), 2, "the read after the recache was a hit");
}

pub async fn cache_put_makes_the_next_read_a_hit(cache: Cache) {
    let users = Users::new(cache.clone());
    let ada = User {
        id: 1,
        name: "Ada".into(),
    };
    assert_eq!(users.get_profile(1).await, Some(ada));
    assert_eq!(users.loads(), 1);
    let grace = User {
        id: 1,
        name: "Grace".into(),
    };
    assert_eq!(users.save_profile(grace.clone()).await, Ok(grace.clone()));
    assert_eq!(
        users.get_profile(1).await,
        Some(grace),
        "the put value is read"
    );
    assert_eq!(users.loads(), 1, "without a load");
    assert!(
        matches!(cache.ttl("profile:1").await.unwrap(), KeyTtl::Expires(d) if d <= Duration::from_secs(60)),
        "the ttl option reached the store"
    );
    cache.invalidate_tags(["user:1"]).await.unwrap();
    assert!(!cache.exists("profile:1").await.unwrap(), "tagged user:1");
}

pub async fn cache_put_stores_nothing_on_err(cache: Cache) {
    let users = Users::new(cache.clone());
    let sets = cache.stats().sets;
    let nobody = User {
        id: 2,
        name: String::new(),
    };
    assert_eq!(users.save_profile(nobody).await, Err("empty name".into()));
    assert!(
        !cache.exists("profile:2").await.unwrap(),
        "an Err stores nothing"
    );
    assert_eq!(cache.stats().sets, sets);
    assert_eq!(
        users.get_profile(2).await.map(|u| u.name).as_deref(),
        Some("Alan"),
        "the reader loads the unchanged value"
    );
    assert_eq!(users.loads(), 1);
}

pub async fn cache_put_key_from_the_result(cache: Cache) {
    let users = Users::new(cache.clone());
    let hedy = users.create_profile("Hedy".into(), "admin").await.unwrap();
    assert_eq!(hedy.id, 3);
    assert_eq!(users.get_profile(3).await, Some(hedy));
    assert_eq!(
        users.loads(),
        0,
        "a hit on the key computed from the result"
    );
    cache.invalidate_tags(["created-by:admin"]).await.unwrap();
    assert!(
        !cache.exists("profile:3").await.unwrap(),
        "tagged from a parameter too"
    );
}

pub async fn resource_invalidation_drops_every_function_of_the_entity(cache: Cache) {
    let users = Users::new(cache.clone());
    assert_eq!(users.res_profile(1).await.as_deref(), Some("Ada"));
    assert_eq!(users.res_orgs(1, 3).await, ["org 3 of 1"]);
    assert_eq!(users.res_profile(2).await.as_deref(), Some("Alan"));
    assert_eq!(users.loads(), 3);
    for key in ["user:profile:1", "user:orgs:3:1", "user:profile:2"] {
        assert!(
            cache.exists(key).await.unwrap(),
            "{key} is the resource's key"
        );
    }
    assert!(matches!(
        cache.ttl("user:orgs:3:1").await.unwrap(),
        KeyTtl::Expires(_)
    ));

    // One invalidation of the entity drops every function's entry of that user only.
    users.forget_user(1).await;
    assert!(!cache.exists("user:profile:1").await.unwrap());
    assert!(!cache.exists("user:orgs:3:1").await.unwrap());
    assert!(
        cache.exists("user:profile:2").await.unwrap(),
        "another user"
    );
    assert_eq!(users.res_orgs(1, 3).await, ["org 3 of 1"]);
    assert_eq!(users.loads(), 4, "the read after the invalidation loaded");

    // The tag is `user:{user_id}`.
    cache.invalidate_tags(["user:2"]).await.unwrap();
    assert!(
        !cache.exists("user:profile:2").await.unwrap(),
        "tagged user:2"
    );

    // With recache: the profile is loaded again, the other entry stays dropped.
    users.res_profile(1).await;
    users.rename_user(1, "Grace".into()).await.unwrap();
    assert!(!cache.exists("user:orgs:3:1").await.unwrap());
    let loads = users.loads();
    assert_eq!(users.res_profile(1).await.as_deref(), Some("Grace"));
    assert_eq!(users.loads(), loads, "recached: a hit");
}
