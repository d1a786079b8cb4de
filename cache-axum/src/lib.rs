//! HTTP caching for axum on the cache-rs [`Cache`](cache_core::Cache):
//!
//! - [`ResponseCacheLayer`]: a shared HTTP cache (RFC 9111) for `GET`/`HEAD` responses, stored
//!   in the `Cache`, so it is shared by every instance on one Redis;
//! - [`EtagLayer`]: strong ETags, `304 Not Modified`, and `412 Precondition Failed` for
//!   writes whose `If-Match` no longer holds (added with [`EtagLayer::wrap`]);
//! - [`LayerCache`]: the layer's cache in handlers (`State<Cache>` works as usual);
//! - [`observe`]: per-route stats, stats JSON and Prometheus text; [`Dashboard`]: a browser
//!   dashboard to nest in your app.
//!
//! ```
//! use std::time::Duration;
//! use axum::{extract::State, routing::{get, post}, Router};
//! use cache_axum::{CacheOptions, EtagLayer, ResponseCacheLayer};
//! use cache_core::Cache;
//!
//! async fn list(State(cache): State<Cache>) -> (CacheOptions, [(&'static str, &'static str); 1], String) {
//!     let n: u64 = cache.get_or_set("count", (), || async { 3 }).await;
//!     (CacheOptions::new().tag("posts"), [("cache-control", "max-age=60")], format!("{n} posts"))
//! }
//!
//! async fn create(State(cache): State<Cache>) -> &'static str {
//!     // POST /posts already drops the cached GET /posts; the tag drops the rest.
//!     let _ = cache.invalidate_tags(["posts"]).await;
//!     "created"
//! }
//!
//! let cache = Cache::memory();
//! let routes = Router::new()
//!     .route("/posts", get(list).post(create))
//!     .with_state(cache.clone());
//! // `wrap` (not `.layer`) so that `If-Match` on a write is checked: see `cache_axum::etag`.
//! let app: Router = EtagLayer::new()
//!     .wrap(routes)
//!     .layer(ResponseCacheLayer::new(cache).default_ttl(Duration::from_secs(10)));
//! ```
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

#[doc(hidden)]
#[path = "fuzz_api.rs"]
pub mod __fuzz;
mod conditional;
mod dashboard;
mod date;
pub mod etag;
mod extract;
mod future;
mod inner;
pub mod observe;
pub mod response_cache;

pub use dashboard::{dashboard, Dashboard};
pub use etag::{Etag, EtagLayer};
pub use extract::LayerCache;
pub use response_cache::{CacheOptions, ResponseCache, ResponseCacheLayer};
