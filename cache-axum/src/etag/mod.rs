//! ETags and conditional requests (RFC 9110 §8.8.3, §13).
//!
//! [`EtagLayer`] gives `200` responses to `GET`/`HEAD` a strong ETag — the handler's own if it
//! set one, else a blake3 digest of the body when the body's size is known and under the bound
//! (streaming and oversized bodies pass through untouched) — and answers a matching
//! `If-None-Match` (weak comparison, lists, `*`) or `If-Modified-Since` with `304 Not
//! Modified` carrying the fields RFC 9110 §15.4.5 requires. On unsafe methods, `If-Match` (strong
//! comparison) and `If-None-Match` are checked against the current representation, found with a
//! `GET` through the same service, and a failed precondition is answered `412` without running
//! the handler. That `GET` needs the layer to wrap the whole `Router` (axum gives each method of
//! a route its own copy of a layer added with `Router::layer`, so behind routing it could only
//! reach the unsafe handler); there, without validator mode, preconditions pass through
//! unevaluated. Wrap a router like this:
//!
//! ```
//! use axum::{extract::Request, routing::get, Router, ServiceExt};
//! use cache_axum::EtagLayer;
//! use tower_layer::Layer;
//!
//! let router: Router = Router::new().route("/doc", get(|| async { "v1" }).put(|| async { "ok" }));
//! let app = EtagLayer::new().layer(router);
//! # async {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
//! axum::serve(listener, ServiceExt::<Request>::into_make_service(app)).await.unwrap();
//! # };
//! ```
//!
//! In **validator mode** the ETag comes from a key of the [`Cache`](cache_core::Cache) rather
//! than from the body: it is a digest of the value stored there (for example the `#[cached]`
//! entry `user:{id}` the handler reads through). Every invalidation of that key or of its tags
//! removes the value and so changes the ETag, and a matching `If-None-Match` is answered `304`
//! without running the handler at all.
//!
//! Put the [`ResponseCacheLayer`](crate::ResponseCacheLayer) outside the `EtagLayer`: cached
//! responses keep the ETag computed once on the miss, and the cache answers `If-None-Match`
//! from the stored ETag without recomputing it.
//!
//! ```
//! use axum::{routing::get, Router};
//! use cache_axum::{EtagLayer, ResponseCacheLayer};
//! use cache_core::Cache;
//!
//! let cache = Cache::memory();
//! let app: Router = Router::new()
//!     .route("/", get(|| async { "hello" }))
//!     .layer(EtagLayer::new())
//!     .layer(ResponseCacheLayer::new(cache));
//! ```

mod layer;
mod service;

pub use crate::future::ResponseFuture;
pub use layer::{EtagLayer, DEFAULT_MAX_ETAG_BODY};
pub use service::Etag;
