//! What every stage of a request through the response cache shares: the inner service and the
//! configuration ([`Ctx`]), the status it reports (`x-cache`), and the error type of bodies.

use std::future::poll_fn;
use std::sync::Arc;

use axum::body::Body;
use http::header::HeaderValue;
use http::{Request, Response};
use tower_service::Service;

use super::config::Config;
use crate::extract::LayerCache;

pub(super) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What the status header reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Status {
    Hit,
    Miss,
    Stale,
    Bypass,
    Revalidated,
}

impl Status {
    pub(super) fn value(self) -> HeaderValue {
        HeaderValue::from_static(match self {
            Status::Hit => "HIT",
            Status::Miss => "MISS",
            Status::Stale => "STALE",
            Status::Bypass => "BYPASS",
            Status::Revalidated => "REVALIDATED",
        })
    }
}

/// The inner service and the shared configuration, for one request.
pub(super) struct Ctx<S> {
    pub(super) svc: S,
    /// The first call uses the service `poll_ready` was called on.
    pub(super) ready: bool,
    pub(super) cfg: Arc<Config>,
}

impl<S, ResBody> Ctx<S>
where
    S: Service<Request<Body>, Response = Response<ResBody>>,
{
    pub(super) async fn call(
        &mut self,
        mut req: Request<Body>,
    ) -> Result<Response<ResBody>, S::Error> {
        req.extensions_mut()
            .insert(LayerCache(self.cfg.cache.clone()));
        if !std::mem::take(&mut self.ready) {
            poll_fn(|cx| self.svc.poll_ready(cx)).await?;
        }
        self.svc.call(req).await
    }

    pub(super) fn label(&self, res: &mut Response<Body>, status: Status) {
        if let Some(name) = &self.cfg.status_header {
            res.headers_mut().insert(name.clone(), status.value());
        }
    }
}
