//! A shared HTTP cache (RFC 9111) for `GET`/`HEAD` responses, stored in a [`Cache`].
//!
//! Because responses live in the [`Cache`], instances of a service on one Redis share them.
//! The layer behaves like a reverse-proxy cache running in-process:
//!
//! - **Freshness** from `s-maxage`, `max-age`, `Expires` (a bad date is already expired), and a
//!   heuristic only where RFC 9111 §4.2.2 allows one: `Last-Modified` (10 % of the age, at most
//!   a day) or the optional [`default_ttl`](ResponseCacheLayer::default_ttl). Every served
//!   response carries `Age`. A response that is never fresh is stored only where the stored
//!   copy is of use (see [what is stored](ResponseCacheLayer#what-is-stored)): a route without
//!   `Cache-Control` costs no store write.
//! - **Request directives** `no-store`, `no-cache` (and `Pragma: no-cache`), `max-age`,
//!   `max-stale`, `min-fresh`, `only-if-cached` (504 when nothing usable is stored).
//! - **Response directives** `no-store`, `private` (never stored here), `no-cache` (stored
//!   when it has a validator, revalidated before every use), `must-revalidate`,
//!   `proxy-revalidate`, `public`, and `stale-while-revalidate`/`stale-if-error` (RFC 5861). A targeted field (RFC 9213,
//!   `CDN-Cache-Control` unless [`targeted_field`](ResponseCacheLayer::targeted_field) names
//!   another) takes the place of `Cache-Control` and `Expires` for this cache, and is not passed
//!   on unless [`forward_targeted_field`](ResponseCacheLayer::forward_targeted_field).
//! - **Lenient where RFC 9110 asks for it**: dates in the obsolete formats, in another case or
//!   with a wrong weekday are read; a list-based `Age` counts its first member (an unreadable
//!   one makes the response stale); fields named in `Connection` are neither stored nor
//!   replayed.
//! - **`Vary`**: a URI whose responses vary keeps a small variants record under its key and
//!   each variant under `{key}:var:{digest of the request's values}`; `Vary: *` is never stored.
//!   Request values are compared normalized: white space, the case of `Accept-*` tokens and the
//!   order of `Accept-Encoding` members do not matter.
//! - **Privacy**: requests with `Authorization` only get and store responses marked `public`,
//!   `s-maxage` or `must-revalidate`; responses with `Set-Cookie` are not stored unless
//!   [`store_set_cookie`](ResponseCacheLayer::store_set_cookie).
//! - **Validation**: a stale response is revalidated with `If-None-Match`/`If-Modified-Since`;
//!   a 304 updates the stored fields and freshness (one that leaves a never-fresh response as
//!   it was is not written again). Clients' own `If-None-Match` and `If-Modified-Since` are
//!   answered by the cache with a 304 (against `Last-Modified`, or the stored response's
//!   `Date` when it has none).
//! - **Invalidation**: a successful unsafe method drops every stored variant of its target and
//!   of a same-origin `Location`/`Content-Location`; a response being fetched for one of those
//!   is not stored after it, while fills of other resources go on
//!   ([`skipped_fills`](ResponseCacheLayer::skipped_fills) counts the dropped ones). [`CacheOptions`] or the tag header tag a
//!   response for [`Cache::invalidate_tags`].
//! - **Coalescing**: concurrent misses on one key make one call to the inner service.
//! - **Streaming while storing**: a storable response goes to the client as it arrives, and a
//!   copy is stored once its body has ended, so a slow or long response reaches the client
//!   as fast as without the cache. The store write happens behind the response: the client
//!   never waits for the store. Requests of the same process that miss meanwhile (coalesced
//!   on the same key) wait for the stored copy rather than calling the inner service again,
//!   and an unsafe method waits for it before invalidating; other instances see it once it
//!   lands. A response fetched before an unsafe method's invalidation of its resource is not
//!   kept after it, whichever request fetched it.
//! - **Bounded**: a body that outgrows [`max_body`](ResponseCacheLayer::max_body) (or fails, or
//!   carries trailers, or whose client leaves before its end) streams on and is not stored;
//!   the requests waiting for it then call the inner service themselves.
//! - **Reporting**: the status field (`x-cache: HIT`, `MISS`, `STALE`, `REVALIDATED`,
//!   `BYPASS`) and, when enabled with [`cache_status`](ResponseCacheLayer::cache_status),
//!   `Cache-Status` (RFC 9211): `hit`, or why the request went on (`fwd=uri-miss`,
//!   `vary-miss`, `stale`, `request`, `partial`, `bypass`, `method`), `fwd-status`, `stored`,
//!   `ttl`, and the key when [`cache_status_key`](ResponseCacheLayer::cache_status_key) allows.
//! - **Decoded once** (on a store that holds values in process: the memory store, a tiered
//!   store's first tier): a stored response is decoded on its first hit and kept beside its
//!   bytes in the store's entry, so a fresh hit is one lookup and a reference count, answered
//!   without a boxed future. Any write, delete, invalidation, expiry, eviction or version bump
//!   replaces the entry, and with it the decoded response.
//!
//! Keys are `rc:{path and query}` inside the cache namespace, with the path escaped so a URL
//! can never forge another key. The host is not part of the default key (one service, one
//! site); use [`key_fn`](ResponseCacheLayer::key_fn) to add it. Every new query string is a
//! new entry: against clients sending random query strings, key routes on the parameters their
//! responses depend on ([`key_fn`](ResponseCacheLayer::key_fn)) and bypass the rest
//! ([`predicate`](ResponseCacheLayer::predicate)); see
//! [`ResponseCacheLayer`](ResponseCacheLayer#query-strings-and-the-caches-size). Cache failures never fail a
//! request: they are logged, counted in the cache's stats, and the inner service answers.
//! A `Range` request is answered from a stored complete response (206, `If-Range`, 416; several
//! ranges get the whole 200), and goes to the inner service with its `Range` when nothing
//! complete is stored. Requests with `If-Match` or `If-Unmodified-Since` go to the inner service
//! untouched.
//!
//! ```
//! use axum::{routing::get, Router};
//! use cache_axum::ResponseCacheLayer;
//! use cache_core::Cache;
//!
//! async fn page() -> ([(&'static str, &'static str); 1], &'static str) {
//!     ([("cache-control", "public, max-age=60, stale-while-revalidate=30")], "<h1>hi</h1>")
//! }
//!
//! let cache = Cache::memory();
//! let app: Router = Router::new()
//!     .route("/", get(page))
//!     .layer(ResponseCacheLayer::new(cache.clone()));
//! ```
//!
//! [`Cache`]: cache_core::Cache
//! [`Cache::invalidate_tags`]: cache_core::Cache::invalidate_tags

mod config;
mod context;
mod control;
mod decide;
mod entry;
mod fence;
mod fill;
mod flight;
#[doc(hidden)]
pub mod fuzz_api;
mod invalidate;
mod keys;
mod layer;
mod policy;
mod range;
mod replicas;
mod report;
mod respond;
mod revalidate;
mod service;
mod tee;
mod triage;

pub use crate::future::ResponseFuture;
pub use config::{DEFAULT_KEEP_STALE, DEFAULT_MAX_BODY};
pub use control::CacheOptions;
pub use layer::ResponseCacheLayer;
pub use service::ResponseCache;
