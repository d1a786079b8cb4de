//! The attribute macros of the cache-rs toolkit: [`cached`], [`cache_invalidate`],
//! [`cache_put`] and [`memoize`].
//!
//! | attribute | on | does |
//! |---|---|---|
//! | [`cached`] | `async fn` | serves it from the cache; a miss runs the body and stores its value |
//! | [`cache_invalidate`] | `async fn` | after it succeeds, drops keys, tags and patterns, and runs `recache` calls again |
//! | [`cache_put`] | `async fn` | after it succeeds, stores its result under a key (write-through) |
//! | [`memoize`] | `fn` or `async fn` | an in-process memo table, no serialization |
//!
//! Use them through `cache_core` (`use cache_core::{cached, cache_invalidate, memoize};`): the
//! code they generate calls into `cache_core::__private`, so this crate is of no use alone.
//!
//! Key templates such as `"user:{id}"` are checked when the function compiles: each `{name}`
//! must be a parameter, a name bound by a parameter pattern (`Path(id): Path<u64>` binds `id`),
//! or a field path (`{user.id}`, `{self.tenant}`). Interpolated values are escaped
//! ([`KeyBuf`](https://docs.rs/cache-core/latest/cache_core/key/struct.KeyBuf.html)), so a value
//! can never forge another key or widen a pattern.

mod attr;
mod default_key;
mod expand;
mod lock;
mod put;
mod recache;
mod resource;
mod template;
mod unknown;
mod value_check;
mod warm;

use proc_macro::TokenStream;
use syn::parse_macro_input;

/// Serves an `async fn` from the cache: on a hit the body does not run; on a miss it runs once
/// and its value is stored.
///
/// ```
/// use cache_core::cached;
///
/// #[derive(Clone, serde::Serialize, serde::Deserialize)]
/// struct User { id: u64, name: String }
///
/// #[cached(key = "user:{id}", ttl = "5m", tags = ["users"])]
/// async fn load_user(id: u64) -> Result<User, std::io::Error> {
///     Ok(User { id, name: "Ada".into() }) // a database query in real life
/// }
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let user = load_user(7).await?; // miss: runs the body, stores the value
/// let again = load_user(7).await?; // hit: served from the cache
/// assert_eq!(again.name, user.name);
/// # Ok::<(), std::io::Error>(()) }).unwrap();
/// ```
///
/// # Options
///
/// | option | meaning |
/// |---|---|
/// | `key = "user:{id}"` | the key template; without it: the function's path plus a blake3 digest of its serialized arguments |
/// | `ttl = 300` / `"5m"` / `"1h30m"` / `"short"` / `"long"` / expr | time to live: seconds, a humantime string, the cache's presets, or any `Duration` expression; default: the cache's default TTL |
/// | `tags = ["users", "org:{org}"]` | tags (templates too) for `Cache::invalidate_tags` and `#[cache_invalidate(tags = ..)]` |
/// | `cache = expr` | the cache to use: anything that derefs to `Cache` (`self.cache`, `state.cache`, an `Arc<Cache>`); default `Cache::global()` |
/// | `condition = expr` | a `bool` over the arguments; `false` bypasses the cache (no read, no write) |
/// | `unless = \|v\| ..` | a predicate over the value about to be stored; `true` skips storing it (it is still returned) |
/// | `stale = "1m"` | after the TTL, keep serving the old value this long while one refresh runs |
/// | `background = true` | with `stale`: run that refresh in a spawned task, so no caller waits for it |
/// | `warm = true` | while a `cache_core::Warmer` runs, let it rerun the function to refresh the keys read often before they expire (see [Warming](#warming)) |
/// | `lock = false` | turn off single-flight (on by default: concurrent callers of one key run the body once) |
/// | `lock = "distributed"` | one run of the body for concurrent callers in every process sharing the store, through an expiring lease in it (see `cache_core::Lock::Distributed`); the local single flight on a store that is not shared |
/// | `lease = "30s"` | with `lock = "distributed"`: how long the lease lasts if its holder dies (default 10 s, `cache_core::DEFAULT_LEASE`) |
/// | `resource = user, suffix = "profile"` | the key `user:profile:{user_id}` and the tag `user:{user_id}` of a resource declared with [`resource!`](macro@resource) (instead of `key`) |
/// | `crate = path` | where `cache_core` is, if it was renamed |
///
/// # What is stored
///
/// - `Result<T, E>` (any type path ending in `Result`): only `Ok(T)` is stored; an `Err` is
///   returned as is and never cached.
/// - `Option<T>`: only `Some(T)` is stored.
/// - Anything else: every value.
///
/// The stored type needs `Clone + Serialize + DeserializeOwned + Send + Sync + 'static`. A
/// function without `key` also needs `Serialize` arguments; `State<_>` extractors and the receiver are left out of that digest, so
/// a method whose result depends on `self` names it in the key (`"{self.tenant}:{id}"`).
///
/// # Stale values
///
/// With `stale`, a value past its TTL is kept for the stale window, and one refresh runs while
/// every other caller gets the old value at once. Two ways to run that refresh:
///
/// - by default, inline: the first caller after the TTL runs the body and gets the new value.
///   No task is spawned, so the body may borrow its arguments (`&self`, `&str`).
/// - `background = true`: the caller that finds the stale value gets it at once too, and the
///   body runs in a task spawned on the current Tokio runtime (inline when there is none). The
///   body then owns its arguments and must be `Send + 'static`: take `self: Arc<Self>` or owned
///   arguments; borrowing `&self` in the body is a compile error ("borrowed data escapes").
///
/// ```
/// use std::sync::Arc;
/// use cache_core::cached;
///
/// struct Prices { cache: cache_core::Cache }
///
/// impl Prices {
///     #[cached(key = "price:{sku}", ttl = "30s", stale = "10m", background = true, cache = self.cache)]
///     async fn price(self: Arc<Self>, sku: String) -> u64 {
///         sku.len() as u64 * 100 // a slow upstream call in real life
///     }
/// }
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let prices = Arc::new(Prices { cache: cache_core::Cache::memory() });
/// assert_eq!(prices.clone().price("abc".into()).await, 300);
/// # });
/// ```
///
/// # Warming
///
/// With `warm = true`, while a `cache_core::Warmer` runs on the function's cache, each key the
/// function serves registers a refresh: the warmer reruns the function for the keys read often
/// whose TTL runs out soon, and stores the result with the same TTL and tags, so readers keep
/// hitting. The refresh owns clones of the arguments: `warm = true` needs a free function (no
/// `self`) with plain argument names whose types are `Clone + Send + Sync + 'static`, and a
/// `Send` body. Without a running warmer it costs one check per call.
///
/// ```
/// use std::time::Duration;
/// use cache_core::{cached, Cache, Warmer};
///
/// #[cached(key = "user:{id}", ttl = "5m", warm = true)]
/// async fn user_name(id: u64) -> String {
///     format!("user {id}") // a database query in real life
/// }
/// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
/// let warmer = Warmer::builder(Cache::global().clone())
///     .interval(Duration::from_secs(30))
///     .start();
/// assert_eq!(user_name(7).await, "user 7");
/// warmer.stop().await;
/// # });
/// ```
///
/// # Failures
///
/// Cache failures never fail the call: a backend error, an undecodable value, an argument that
/// does not serialize or an invalid key is logged with `tracing`, counted in `Cache::stats`, and
/// the body runs.
///
/// # Errors at compile time
///
/// An unknown placeholder, a malformed TTL, a repeated or unknown option (named, with the option
/// meant when it is a near miss: `expire` → `ttl`), a `const fn`, or a synchronous `fn` (use
/// [`memoize`](macro@memoize) there) are errors pointing at the tokens at fault. The function
/// is still emitted as written, so its callers add no errors of their own.
///
/// A return value that cannot be cached is one error at its type, naming the bound it misses
/// (`Serialize`, `Deserialize`, `Clone`, `Send`, `Sync`). Without `key`, an argument that is not
/// `Serialize`, such as a handle (`db: &Db`), is one error at that argument, suggesting a key
/// template over the other arguments (`key = "count:{table}"`).
#[proc_macro_attribute]
pub fn cached(args: TokenStream, item: TokenStream) -> TokenStream {
    let raw = proc_macro2::TokenStream::from(args.clone());
    let args = match syn::parse::<attr::CachedArgs>(args) {
        Ok(args) => args,
        Err(e) => return unchanged(e, item),
    };
    if let Some(r) = &args.resource {
        return resource::forward("cached", r, raw, item.into()).into();
    }
    match syn::parse::<syn::ItemFn>(item.clone()) {
        Ok(f) => expand::cached(args, f).into(),
        Err(e) => unchanged(e, item),
    }
}

/// Deletes cache entries after an `async fn` succeeds: keys, tags and patterns, each a template
/// over the parameters.
///
/// "Succeeds" means the body returned `Ok` when the return type is a `Result`, `Some` when it
/// is an `Option` (nothing found, nothing changed), and always otherwise. The entries are computed from the arguments before the body runs, so the body may
/// consume them. Invalidation failures are logged and counted; they never fail the call.
///
/// ```
/// use cache_core::{cache_invalidate, cached};
///
/// #[cached(key = "user:{id}", tags = ["users"])]
/// async fn user_name(id: u64) -> String {
///     format!("user {id}")
/// }
///
/// #[cache_invalidate(keys = ["user:{id}"], tags = ["user-lists"], patterns = ["search:*"])]
/// async fn rename_user(id: u64, name: String) -> Result<(), std::io::Error> {
///     let _ = name; // write to the database
///     Ok(())
/// }
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// user_name(1).await;
/// rename_user(1, "Grace".into()).await?;
/// assert!(!cache_core::Cache::global().exists("user:1").await.unwrap());
/// # Ok::<(), std::io::Error>(()) }).unwrap();
/// ```
///
/// Options: `keys = [..]`, `tags = [..]`, `patterns = [..]` (globs: `*`, `?`, `[..]`; values
/// interpolated into them are escaped, so they cannot widen the pattern), `cache = expr` and
/// `crate = path` as for [`cached`](macro@cached), and the `recache` options below.
///
/// # Recache
///
/// `recache = [get_user(id), get_org_user(org, id)]` runs those calls again after the
/// invalidation, so the next reader hits instead of waiting for a load. Each call is an
/// ordinary expression over the parameters (rename, add or leave out arguments as you like),
/// evaluated after the body, and normally a call of a [`cached`](macro@cached) function: having
/// just been invalidated, it misses, loads and stores the fresh value.
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
/// use cache_core::{cache_invalidate, cached};
///
/// static LOADS: AtomicUsize = AtomicUsize::new(0);
///
/// #[cached(key = "user:{user_id}", tags = ["user:{user_id}"])]
/// async fn get_user(user_id: u64) -> Option<String> {
///     LOADS.fetch_add(1, SeqCst);
///     Some(format!("user {user_id}")) // a query in real life
/// }
///
/// #[cache_invalidate(tags = ["user:{user_id}"], recache = [get_user(user_id)])]
/// async fn update_user(user_id: u64, name: String) -> Result<(), std::io::Error> {
///     let _ = name; // an UPDATE in real life
///     Ok(())
/// }
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// get_user(1).await;
/// update_user(1, "Grace".into()).await?; // invalidates, then loads `get_user(1)` again
/// assert_eq!(LOADS.load(SeqCst), 2);
/// get_user(1).await; // a hit
/// assert_eq!(LOADS.load(SeqCst), 2);
/// # Ok::<(), std::io::Error>(()) }).unwrap();
/// ```
///
/// - The calls run only when the invalidation ran (the function succeeded), after it.
/// - `recache_concurrency = N`: at most `N` calls run at once (default 4).
/// - By default the function returns once every call has finished, so the caller's next read
///   hits. With `recache_background = true` the calls run in a task spawned on the current
///   Tokio runtime (inline when there is none) and the function returns at once. The call
///   expressions are still evaluated before the task is spawned, so their futures must own
///   what they use (`Send + 'static`): pass owned arguments, and for a method take
///   `self: Arc<Self>` and write `self.clone().get_user(id)`.
/// - Each call's future must be `Send` (the futures are boxed to run together).
/// - A call that fails (returns `Err` or `None`, or panics) is logged with `tracing` and
///   counted in [`Stats::recache_failures`]; it never fails the function. Every call is counted
///   in [`Stats::recaches`], on the cache the attribute invalidates.
///
/// [`Stats::recache_failures`]: https://docs.rs/cache-core/latest/cache_core/struct.Stats.html#structfield.recache_failures
/// [`Stats::recaches`]: https://docs.rs/cache-core/latest/cache_core/struct.Stats.html#structfield.recaches
#[proc_macro_attribute]
pub fn cache_invalidate(args: TokenStream, item: TokenStream) -> TokenStream {
    let raw = proc_macro2::TokenStream::from(args.clone());
    let args = match syn::parse::<attr::InvalidateArgs>(args) {
        Ok(args) => args,
        Err(e) => return unchanged(e, item),
    };
    if let Some(r) = &args.resource {
        return resource::forward("cache_invalidate", r, raw, item.into()).into();
    }
    match syn::parse::<syn::ItemFn>(item.clone()) {
        Ok(f) => expand::cache_invalidate(args, f).into(),
        Err(e) => unchanged(e, item),
    }
}

/// Write-through, as Spring's `@CachePut`: after an `async fn` succeeds, its result is stored
/// under a key, so the next read of that key (a [`cached`](macro@cached) function with the same
/// key template) hits the new value without running its body.
///
/// "Succeeds" and "result" follow the return type as for [`cached`](macro@cached): the `Ok`
/// value of a `Result`, the `Some` value of an `Option`, any other value whole. An `Err` or a
/// `None` stores nothing. The value is written with `Cache::set_with`, the same encoding a
/// `#[cached]` function writes and reads, so the two share keys freely (the stored type must
/// match the reader's). A failing write is logged and counted, never returned.
///
/// ```
/// use cache_core::{cache_put, cached};
///
/// #[derive(Clone, serde::Serialize, serde::Deserialize)]
/// struct User { id: u64, name: String }
///
/// #[cached(key = "user:{id}", ttl = "5m")]
/// async fn get_user(id: u64) -> Option<User> {
///     unreachable!("not called in this example: the value was put") // a query in real life
/// }
///
/// #[cache_put(key = "user:{user.id}", ttl = "5m", tags = ["users"])]
/// async fn save_user(user: User) -> Result<User, std::io::Error> {
///     Ok(user) // written to the database in real life
/// }
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// save_user(User { id: 7, name: "Grace".into() }).await?;
/// assert_eq!(get_user(7).await.unwrap().name, "Grace"); // a hit: the body did not run
/// # Ok::<(), std::io::Error>(()) }).unwrap();
/// ```
///
/// # Options
///
/// | option | meaning |
/// |---|---|
/// | `key = "user:{id}"` | required: the key template, over the parameters (and their fields) and over `result` |
/// | `ttl = ..` | as for [`cached`](macro@cached); default: the cache's default TTL |
/// | `tags = [..]` | tags (templates), as for [`cached`](macro@cached) |
/// | `cache = expr` | the cache to write to; default `Cache::global()` |
/// | `crate = path` | where `cache_core` is, if it was renamed |
///
/// # Templates over the result
///
/// `{result}` and `{result.field}` read the stored value (the `Ok` part), for keys known only
/// after the write, such as an id the database assigned: `key = "user:{result.id}"`.
/// Templates over parameters are computed before the body runs, so the body may consume its
/// arguments; templates that read `result` are computed after it. (A parameter named `result`
/// takes precedence.)
///
/// ```
/// use cache_core::cache_put;
///
/// #[derive(serde::Serialize)]
/// struct Created { id: u64 }
///
/// #[cache_put(key = "user:{result.id}")]
/// async fn create_user(name: String) -> Option<Created> {
///     let _ = name;
///     Some(Created { id: 42 }) // an INSERT .. RETURNING id in real life
/// }
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// create_user("Ada".into()).await;
/// assert!(cache_core::Cache::global().exists("user:42").await.unwrap());
/// # });
/// ```
#[proc_macro_attribute]
pub fn cache_put(args: TokenStream, item: TokenStream) -> TokenStream {
    let args = match syn::parse::<put::PutArgs>(args) {
        Ok(args) => args,
        Err(e) => return unchanged(e, item),
    };
    match syn::parse::<syn::ItemFn>(item.clone()) {
        Ok(f) => put::cache_put(args, f).into(),
        Err(e) => unchanged(e, item),
    }
}

/// Memoizes a function in process: a bounded table per function, keyed by the arguments, with
/// no serialization.
///
/// Works on sync and async functions and on inherent methods. Arguments must be
/// `Hash + Eq + Clone + Send + Sync + 'static` once owned (`&str` is kept as `String`, `&T` as
/// `T`), and the stored value `Clone + Send + Sync + 'static`. As for [`cached`](macro@cached),
/// a `Result` stores only `Ok` and an `Option` only `Some`. Async calls are single-flight:
/// concurrent callers of one key run the body once (if that run fails or is cancelled, a waiter
/// runs its own). Sync calls never block on each other: two threads missing the same key at
/// once both run the body, and one value is kept.
///
/// ```
/// use cache_core::memoize;
///
/// #[memoize(capacity = 1000)]
/// fn fib(n: u64) -> u64 {
///     if n < 2 { n } else { fib(n - 1) + fib(n - 2) }
/// }
///
/// assert_eq!(fib(80), 23_416_728_348_467_685);
/// let memo = fib_memo(); // the accessor generated beside `fib`
/// assert!(memo.stats().hits > 0);
/// assert!(memo.invalidate(&80u64)); // drop one entry; the key is the argument
/// memo.clear(); // drop them all
/// assert_eq!(memo.len(), 0);
/// ```
///
/// # Options
///
/// - `capacity = N`: the most entries kept (default 10 000); the table evicts by recency and
///   frequency (`quick_cache`, S3-FIFO).
/// - `ttl = 300` / `"5m"` / expr: entries expire this long after they were stored (an
///   expression is evaluated once, when the table is made on the first call).
/// - `key = expr`: the key, an owned value computed from the arguments, instead of all of them.
/// - `crate = path`: where `cache_core` is.
///
/// # The accessor
///
/// Beside `fn name` the macro emits `fn name_memo() -> MemoHandle` with the same visibility
/// (`Self::name_memo()` for a method), to [`clear`], [`invalidate`] one entry (the key is the
/// single argument, or the tuple of the arguments, receiver first) and read [`stats`].
///
/// [`clear`]: https://docs.rs/cache-core/latest/cache_core/memo/struct.MemoHandle.html#method.clear
/// [`invalidate`]: https://docs.rs/cache-core/latest/cache_core/memo/struct.MemoHandle.html#method.invalidate
/// [`stats`]: https://docs.rs/cache-core/latest/cache_core/memo/struct.MemoHandle.html#method.stats
///
/// # Methods
///
/// The receiver is part of the key: `&self` and `self` need `Self: Hash + Eq + Clone`, so two
/// values never share an entry by accident. `&mut self` is refused (a memoized method must not
/// change its receiver). To key on part of `self` only, say so: `key = (self.id, n)`. The
/// accessor is an associated function, so `#[memoize]` goes on inherent impls, not trait
/// impls; an associated function without `self` is recognised when its signature names `Self`.
///
/// ```
/// use cache_core::memoize;
///
/// #[derive(Clone, Hash, PartialEq, Eq)]
/// struct Rate { percent: u32 }
///
/// impl Rate {
///     #[memoize]
///     fn apply(&self, cents: u64) -> u64 {
///         cents * u64::from(self.percent) / 100
///     }
/// }
///
/// assert_eq!(Rate { percent: 10 }.apply(500), 50);
/// assert_eq!(Rate { percent: 20 }.apply(500), 100); // another receiver, another entry
/// assert!(Rate::apply_memo().invalidate(&(Rate { percent: 10 }, 500u64)));
/// ```
#[proc_macro_attribute]
pub fn memoize(args: TokenStream, item: TokenStream) -> TokenStream {
    let f = match syn::parse::<syn::ItemFn>(item.clone()) {
        Ok(f) => f,
        Err(e) => return unchanged(e, item),
    };
    match syn::parse::<attr::MemoizeArgs>(args) {
        Ok(args) => expand::memoize(args, f).into(),
        // The function and its `_memo` accessor, so calls of either add no errors.
        Err(e) => expand::memoize_unchanged(e, &f).into(),
    }
}

/// Declares a resource: an entity whose cached functions share a key scheme and one tag.
///
/// `resource!(user, id = user_id)` makes `user` usable as `resource = user` in
/// [`cached`](macro@cached) and [`cache_invalidate`](macro@cache_invalidate):
///
/// - `#[cached(resource = user, suffix = "profile")]` is keyed `user:profile:{user_id}` and
///   tagged `user:{user_id}` (without `suffix`: keyed `user:{user_id}`). The suffix may hold
///   placeholders of its own (`suffix = "posts:{page}"`); other options (`ttl`, more `tags`,
///   `cache`, ..) apply as usual, except `key`.
/// - `#[cache_invalidate(resource = user)]` drops the tag `user:{user_id}`, so every cached
///   entry of that user at once, and takes the other options as usual (`keys`, `tags`,
///   `recache`, ..).
///
/// The function must have a parameter named like the id (`user_id`); if it has not, the
/// attribute is a compile error pointing at `resource = user`. The declaration is a
/// `macro_rules!` macro imported under the resource's name, so it follows the rules of macros:
/// declare it at module level, before its uses or anywhere with a path (`resource =
/// crate::users::user`); a visibility before the name (`resource!(pub(crate) user, ..)`)
/// lets other modules use it (`pub` is not possible for a macro made by a macro).
///
/// ```
/// use cache_core::{cache_invalidate, cached, resource};
///
/// resource!(user, id = user_id);
///
/// #[cached(resource = user, suffix = "profile")]
/// async fn profile(user_id: u64) -> String {
///     format!("profile of {user_id}")
/// }
///
/// #[cached(resource = user, suffix = "settings", ttl = "1h")]
/// async fn settings(user_id: u64) -> Vec<String> {
///     vec!["dark mode".into()]
/// }
///
/// #[cache_invalidate(resource = user, recache = [profile(user_id)])]
/// async fn delete_settings(user_id: u64) {}
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let cache = cache_core::Cache::global();
/// profile(7).await;
/// settings(7).await;
/// assert!(cache.exists("user:settings:7").await.unwrap());
/// delete_settings(7).await; // drops both, then loads the profile again
/// assert!(!cache.exists("user:settings:7").await.unwrap());
/// assert!(cache.exists("user:profile:7").await.unwrap());
/// # });
/// ```
#[proc_macro]
pub fn resource(input: TokenStream) -> TokenStream {
    let decl = parse_macro_input!(input as resource::Declaration);
    resource::declare(decl).into()
}

/// Expands an attribute naming a resource, as that resource's macro asks. Not a public API.
#[doc(hidden)]
#[proc_macro]
pub fn __resource_apply(input: TokenStream) -> TokenStream {
    let apply = parse_macro_input!(input as resource::Apply);
    resource::apply(apply).into()
}

/// The error, then the item as written: a rejected attribute leaves the function in place, so
/// its callers and the items it uses add no errors or warnings of their own.
fn unchanged(e: syn::Error, item: TokenStream) -> TokenStream {
    let mut out = TokenStream::from(e.to_compile_error());
    out.extend(item);
    out
}
