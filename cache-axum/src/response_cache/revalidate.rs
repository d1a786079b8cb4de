//! Revalidation of a stored response (RFC 9111 §4.3): conditional requests to the inner
//! service, 304 header updates, and background refreshes for `stale-while-revalidate`.

use std::sync::Arc;

use axum::body::Body;
use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName};
use http::request::Parts;
use http::{Method, Request, Response, StatusCode};
use tower_service::Service;

use super::config::Config;
use super::context::{BoxError, Ctx};
use super::control::CacheOptions;
use super::decide::now_ms;
use super::decide::{decide, stale_if_error_ok, Use};
use super::entry::{Entry, EXPLICIT_REVALIDATE, NO_CACHE};
use super::fill::{fetch, plan, store, take_response, take_tags, Job};
use super::flight::{self, Join, Leader};
use super::invalidate::drop_resources;
use super::keys::{lookup, Found, Keys};
use super::policy::CacheControl;
use super::report::{Fwd, Report, Status};
use super::respond::{connection_listed, serve, stored_field};
use crate::conditional;

/// Revalidates a stored response with a conditional request (RFC 9111 §4.3).
pub(super) async fn revalidate<S, ResBody>(
    mut ctx: Ctx<S>,
    mut job: Job,
    body: Body,
    entry: Arc<Entry>,
    key: String,
) -> Result<Response<Body>, S::Error>
where
    S: Service<Request<Body>, Response = Response<ResBody>>,
    ResBody: http_body::Body<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<BoxError>,
{
    let etag = entry.headers.get(header::ETAG).cloned();
    let last_modified = entry.headers.get(header::LAST_MODIFIED).cloned();
    // Without a validator this is a plain refetch, which still honours stale-if-error.
    let req_headers = job.parts.headers.clone();
    let mut parts = job.parts.clone();
    parts.method = Method::GET;
    if let Some(v) = &etag {
        parts.headers.insert(header::IF_NONE_MATCH, v.clone());
    }
    if let Some(v) = &last_modified {
        parts.headers.insert(header::IF_MODIFIED_SINCE, v.clone());
    }
    let request_time = now_ms();
    let res = match ctx.call(Request::from_parts(parts, body)).await {
        Ok(res) => res,
        Err(e) => {
            let now = now_ms();
            if stale_if_error_ok(&entry, &job.req_cc, now) {
                return Ok(serve(
                    &ctx.cfg,
                    entry,
                    now,
                    &job.method,
                    &job.cond,
                    Report::forwarded(Status::Stale, job.fwd)
                        .key(&job.keys.base)
                        .detail("stale-if-error"),
                ));
            }
            return Err(e);
        }
    };
    let response_time = now_ms();
    let status = res.status();
    if status == StatusCode::NOT_MODIFIED {
        let new_etag = res.headers().get(header::ETAG);
        let same = match (
            new_etag.and_then(|v| v.to_str().ok()),
            etag.as_ref().and_then(|v| v.to_str().ok()),
        ) {
            (Some(a), Some(b)) => conditional::weak_eq(a, b),
            _ => true,
        };
        if !same {
            // The 304 is for another representation than ours: ask again, unconditionally.
            return fetch(ctx, job, Body::empty()).await;
        }
        let updated = refresh(
            &ctx.cfg,
            &mut job,
            &req_headers,
            Arc::unwrap_or_clone(entry),
            res,
            request_time,
            response_time,
        )
        .await;
        return Ok(serve(
            &ctx.cfg,
            updated,
            now_ms(),
            &job.method,
            &job.cond,
            Report::forwarded(Status::Revalidated, job.fwd)
                .fwd_status(StatusCode::NOT_MODIFIED)
                .stored(true)
                .key(&job.keys.base),
        ));
    }
    if status.is_server_error() && stale_if_error_ok(&entry, &job.req_cc, response_time) {
        return Ok(serve(
            &ctx.cfg,
            entry,
            response_time,
            &job.method,
            &job.cond,
            Report::forwarded(Status::Stale, job.fwd)
                .fwd_status(status)
                .key(&job.keys.base)
                .detail("stale-if-error"),
        ));
    }
    let times = (request_time, response_time);
    let (res, stored) = take_response(&ctx.cfg, &mut job, &req_headers, res, times, Some(&key));
    if !stored && !status.is_server_error() {
        // The new response replaces the old one, which must not be served again.
        if let Err(e) = ctx.cfg.cache.delete(&key).await {
            tracing::warn!(target: "cache_axum", key, error = %e, "stale response not dropped");
        }
    }
    Ok(res)
}

/// Applies a 304 to a stored response: its fields replace the stored ones (RFC 9111 §3.2) and
/// the freshness starts over. Stores the result and returns it.
///
/// A response that stays never fresh (see `policy::never_fresh`), without stale windows to
/// restart, and whose fields the 304 leaves as they were (but `Date`), is not written again:
/// the stored copy still holds all a later request can use, since that request revalidates it
/// before use anyway. Only the copy returned, served to this request, has the new `Date` and
/// the age the 304 gives (§4.2.3); a stored copy served stale later (to a client's `max-stale`)
/// keeps the age of its last write, which only overstates it. The copy then expires
/// [`keep_stale`](super::ResponseCacheLayer::keep_stale) after that write, and the next
/// request stores the response afresh.
pub(super) async fn refresh<B>(
    cfg: &Arc<Config>,
    job: &mut Job,
    req_headers: &HeaderMap,
    mut entry: Entry,
    res: Response<B>,
    request_time: u64,
    response_time: u64,
) -> Arc<Entry> {
    let (mut head, _) = res.into_parts();
    let opts = head.extensions.get::<CacheOptions>();
    let tags = take_tags(cfg, &mut head.headers, opts);
    let names: Vec<HeaderName> = head.headers.keys().cloned().collect();
    let listed = connection_listed(&head.headers);
    // Whether the 304 changes a stored field other than `Date`.
    let mut changed = false;
    for name in names {
        if name == header::CONTENT_LENGTH || !stored_field(cfg, &listed, &name) {
            continue;
        }
        if name != header::DATE
            && !entry
                .headers
                .get_all(&name)
                .iter()
                .eq(head.headers.get_all(&name))
        {
            changed = true;
        }
        entry.headers.remove(&name);
        for v in head.headers.get_all(&name) {
            entry.headers.append(name.clone(), v.clone());
        }
    }
    entry.response_time_ms = response_time;
    // The fields changed: the copy kept for serving is out of date.
    entry.served = std::sync::OnceLock::new();
    match plan(
        cfg,
        req_headers,
        &job.req_cc,
        entry.status,
        &entry.headers,
        &head.headers,
        opts,
        request_time,
        response_time,
    ) {
        Some(p) => {
            // Never fresh before and after (a lifetime of 0, or `no-cache`), no stale window to
            // restart, nothing else changed.
            let never_fresh =
                |lifetime_ms: u64, flags: u8| lifetime_ms == 0 || flags & NO_CACHE != 0;
            let windows = (p.swr_ms > 0 || p.sie_ms > 0) && p.flags & EXPLICIT_REVALIDATE == 0;
            let same = !changed
                && tags.is_empty()
                && never_fresh(entry.lifetime_ms, entry.flags)
                && never_fresh(p.lifetime_ms, p.flags)
                && !windows
                && (entry.flags, entry.swr_ms, entry.sie_ms) == (p.flags, p.swr_ms, p.sie_ms);
            entry.lifetime_ms = p.lifetime_ms;
            entry.initial_age_ms = p.initial_age_ms;
            entry.swr_ms = p.swr_ms;
            entry.sie_ms = p.sie_ms;
            entry.flags = p.flags;
            let entry = Arc::new(entry);
            if same {
                tracing::trace!(target: "cache_axum", key = job.keys.base, "revalidated; stored response unchanged, not written again");
                // Ends this request's flight: the requests waiting on it look up the stored copy.
                drop(job.leader.take());
                return entry;
            }
            store(
                cfg,
                &job.keys,
                Arc::clone(&entry),
                p.ttl,
                tags,
                job.leader.take(),
                job.epoch,
            );
            return entry;
        }
        None => {
            // The origin no longer lets us keep it.
            entry.lifetime_ms = 0;
            entry.initial_age_ms = 0;
            let (bases, tags) = ([job.keys.base.clone()], [job.keys.resource_tag()]);
            if let Err(e) = drop_resources(cfg, &bases, &tags).await {
                tracing::warn!(target: "cache_axum", error = %e, "unstorable response not dropped");
            }
        }
    }
    Arc::new(entry)
}

/// Refreshes a stale response in the background (`stale-while-revalidate`), once per key.
/// `seen` is the count of ended flights taken before the lookup that found the entry stale.
pub(super) fn spawn_revalidation<S, ResBody>(
    ctx: &Ctx<S>,
    parts: &Parts,
    keys: &Keys,
    entry: Arc<Entry>,
    key: String,
    held: Option<Leader>,
    seen: u64,
) where
    S: Service<Request<Body>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ResBody: http_body::Body<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<BoxError>,
{
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let ctx = Ctx {
        svc: ctx.svc.clone(),
        ready: false,
        cfg: Arc::clone(&ctx.cfg),
    };
    let parts = parts.clone();
    let keys = keys.clone();
    runtime.spawn(async move {
        // This request may already lead the key's flight (it looked again after joining).
        let leader = match held {
            Some(leader) => leader,
            None => loop {
                match ctx.cfg.flights.join(&keys.base) {
                    Join::Leader(leader) => {
                        // Every write here holds the key's flight. If one ended since our
                        // lookup (a refresh, or the write that stored it, finishing while we
                        // looked), the entry may be fresh now: look again before calling the
                        // inner service a second time.
                        if ctx.cfg.flights.ended() != seen {
                            let fresh = matches!(
                                lookup(&ctx.cfg, &keys, &parts.headers).await,
                                Ok(Found::Response(e, _)) if decide(&e, &CacheControl::default(), now_ms()) == Use::Fresh
                            );
                            if fresh {
                                return;
                            }
                        }
                        break leader;
                    }
                    // Someone is refreshing or writing it already: wait for them.
                    Join::Follower(rx) => flight::wait(rx).await,
                }
            },
        };
        let job = Job {
            parts,
            method: Method::GET,
            cond: HeaderMap::new(),
            epoch: ctx.cfg.fence.mark(),
            keys,
            req_cc: CacheControl::default(),
            leader: Some(leader),
            fwd: Fwd::Stale,
        };
        let _ = revalidate(ctx, job, Body::empty(), entry, key).await;
    });
}
