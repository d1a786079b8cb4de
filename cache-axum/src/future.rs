//! The response future both middlewares return.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::Body;
use http::Response;
use pin_project_lite::pin_project;

/// The boxed work of one request (store lookups, preconditions, the inner call, digests and
/// writes are sequential awaits), which a boxed `async` block expresses far more clearly than a
/// hand-written state machine, at the cost of one allocation per request.
pub(crate) type BoxFuture<E> = Pin<Box<dyn Future<Output = Result<Response<Body>, E>> + Send>>;

pin_project! {
    /// Response future of [`ResponseCache`](crate::ResponseCache) and [`Etag`](crate::Etag).
    pub struct ResponseFuture<E> {
        #[pin]
        kind: Kind<E>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<E> {
        /// Answered when called (a hit served from this thread's copy).
        Ready { res: std::future::Ready<Result<Response<Body>, E>> },
        Boxed { #[pin] inner: BoxFuture<E> },
    }
}

impl<E> ResponseFuture<E> {
    pub(crate) fn new(inner: BoxFuture<E>) -> Self {
        Self {
            kind: Kind::Boxed { inner },
        }
    }

    pub(crate) fn ready(res: Response<Body>) -> Self {
        Self {
            kind: Kind::Ready {
                res: std::future::ready(Ok(res)),
            },
        }
    }
}

impl<E> Future for ResponseFuture<E> {
    type Output = Result<Response<Body>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Ready { res } => Pin::new(res).poll(cx),
            KindProj::Boxed { inner } => inner.poll(cx),
        }
    }
}

impl<E> std::fmt::Debug for ResponseFuture<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
