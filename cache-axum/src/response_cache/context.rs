//! What every stage of a request through the response cache shares: the inner service and the
//! configuration ([`Ctx`]), and the error type of bodies.

use std::future::poll_fn;
use std::sync::Arc;

use axum::body::Body;
use http::{Request, Response};
use tower_service::Service;

use super::config::Config;
use super::report::Report;
use crate::extract::LayerCache;

pub(super) type BoxError = Box<dyn std::error::Error + Send + Sync>;

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

    /// Adds the status field and `Cache-Status` for `report`.
    pub(super) fn label(&self, res: &mut Response<Body>, report: Report<'_>) {
        report.write(&self.cfg, res.headers_mut());
    }
}
