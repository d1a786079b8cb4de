//! ETags and conditional requests (RFC 9110 §8.8.3, §13).
//!
//! [`EtagLayer`] gives `200` responses to `GET`/`HEAD` a strong ETag — the handler's own if it
//! set one, else a blake3 digest of the body when the body's size is known and under the bound
//! (streaming and oversized bodies pass through untouched) — and answers a matching
//! `If-None-Match` (weak comparison, lists, `*`) or `If-Modified-Since` with `304 Not
//! Modified` carrying the fields RFC 9110 §15.4.5 requires.
//!
//! On unsafe methods (`PUT`, `POST`, `PATCH`, `DELETE`, …) it evaluates `If-Match` (strong
//! comparison), `If-Unmodified-Since` and `If-None-Match` against the current representation of
//! the target and answers a failed precondition `412 Precondition Failed` without running the
//! handler: a client that sends the ETag it read cannot overwrite a change made since (a lost
//! update), and `If-None-Match: *` cannot overwrite what exists. Add the layer with
//! [`EtagLayer::wrap`] for that:
//!
//! ```
//! use std::time::Duration;
//! use axum::{routing::get, Router};
//! use cache_axum::{EtagLayer, ResponseCacheLayer};
//! use cache_core::Cache;
//!
//! let cache = Cache::memory();
//! let routes = Router::new()
//!     .route("/doc", get(|| async { "v1" }).put(|| async { "saved" }))
//!     .with_state(cache.clone());
//! let app: Router = EtagLayer::new()
//!     .wrap(routes)
//!     .layer(ResponseCacheLayer::new(cache).default_ttl(Duration::from_secs(10)));
//! # async {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
//! axum::serve(listener, app).await.unwrap();
//! # };
//! ```
//!
//! Why `wrap`: axum gives each method of each route its own copy of a layer added with
//! `Router::layer`, so the copy that sees a `PUT` cannot `GET` the current representation —
//! the only service it can call is the `PUT` handler. `wrap` adds the layer to every route as
//! `Router::layer` does and hands each copy the whole router, through which it sends that
//! `GET` (see [`EtagLayer::wrap`]). Added with `Router::layer` instead, the layer still adds
//! ETags and answers `304`, but a precondition on an unsafe request that it cannot evaluate
//! is not enforced: the request runs, and a `warn` log (target `cache_axum`) names the method,
//! the path, the field and this fix, once per route and layer (later ones at `debug`). As a
//! `tower` [`Layer`](tower_layer::Layer) around a whole service (served with
//! `into_make_service`), the layer sends the `GET` through that service.
//!
//! In **validator mode** the ETag comes from a key of the [`Cache`](cache_core::Cache) rather
//! than from the body: it is a digest of the value stored there (for example the `#[cached]`
//! entry `user:{id}` the handler reads through). Every invalidation of that key or of its tags
//! removes the value and so changes the ETag, and a matching `If-None-Match` is answered `304`
//! without running the handler at all. `If-Match` is checked against that digest too, without a
//! `GET`, wherever the layer sits.
//!
//! Put the [`ResponseCacheLayer`](crate::ResponseCacheLayer) outside the `EtagLayer` (a
//! `.layer(..)` after `wrap`): cached responses keep the ETag computed once on the miss, and the
//! cache answers `If-None-Match` from the stored ETag without recomputing it.

mod current;
mod layer;
mod precondition;
mod service;
mod unevaluated;

pub use crate::future::ResponseFuture;
pub use layer::{EtagLayer, DEFAULT_MAX_ETAG_BODY};
pub use service::Etag;
