//! Filling the cache on a miss: the inner call, the storability plan, buffering the body up to
//! the bound, and the write behind the response.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use bytes::{Bytes, BytesMut};
use cache_core::SetOptions;
use futures_util::{StreamExt as _, TryStreamExt};
use http::header::{self, HeaderMap, HeaderName};
use http::request::Parts;
use http::{Method, Request, Response, StatusCode};
use http_body::Frame;
use http_body_util::{BodyExt as _, BodyStream, StreamBody};
use tower_service::Service;

use super::config::Config;
use super::context::{BoxError, Ctx, Status};
use super::control::CacheOptions;
use super::decide::now_ms;
use super::entry::{self, Entry, AUTH_OK, EXPLICIT_REVALIDATE, FORBIDS_STALE, NO_CACHE};
use super::flight::{Join, Leader};
use super::keys::{field_value, hash_fields, Keys};
use super::policy::{self, CacheControl, FreshnessOptions, Storable};
use super::respond::{connection_listed, hidden_field, serve_fetched, stored_field, RetainFields};
use crate::conditional;

/// Removes the tag header and returns its tags with those of the typed extension.
pub(super) fn take_tags(
    cfg: &Config,
    headers: &mut HeaderMap,
    opts: Option<&CacheOptions>,
) -> Vec<String> {
    let mut tags = Vec::new();
    // `entry` would reserve room in the map even when the field is absent.
    if let Some(name) = cfg.tag_header.as_ref().filter(|n| headers.contains_key(*n)) {
        if let header::Entry::Occupied(e) = headers.entry(name) {
            for v in e.remove_entry_mult().1 {
                if let Ok(s) = v.to_str() {
                    tags.extend(
                        s.split(',')
                            .map(str::trim_ascii)
                            .filter(|t| !t.is_empty())
                            .map(str::to_owned),
                    );
                }
            }
        }
    }
    if let Some(o) = opts {
        tags.extend(o.tags.iter().filter(|t| !t.is_empty()).cloned());
    }
    tags
}

/// The timing and flags of a storable response, and how long to keep it.
pub(super) struct Plan {
    pub(super) lifetime_ms: u64,
    pub(super) initial_age_ms: u64,
    pub(super) swr_ms: u64,
    pub(super) sie_ms: u64,
    pub(super) flags: u8,
    pub(super) ttl: Duration,
}

#[allow(clippy::too_many_arguments)]
pub(super) fn plan(
    cfg: &Config,
    req_headers: &HeaderMap,
    req_cc: &CacheControl,
    status: StatusCode,
    headers: &HeaderMap,
    age_headers: &HeaderMap,
    opts: Option<&CacheOptions>,
    request_time_ms: u64,
    response_time_ms: u64,
) -> Option<Plan> {
    if opts.is_some_and(|o| o.no_store) {
        return None;
    }
    // A targeted field (RFC 9213) replaces Cache-Control and Expires for this cache.
    let targeted = (cfg.targeted.as_ref()).and_then(|n| CacheControl::parse_targeted(headers, n));
    let without_expires;
    let (cc, headers) = match targeted {
        Some(cc) => {
            without_expires = {
                let mut h = headers.clone();
                h.remove(header::EXPIRES);
                h
            };
            (cc, &without_expires)
        }
        None => (CacheControl::parse(headers), headers),
    };
    if let Storable::No(reason) = policy::storable(
        req_headers,
        req_cc,
        status,
        headers,
        &cc,
        cfg.store_set_cookie,
    ) {
        tracing::trace!(target: "cache_axum", reason, "response not stored");
        return None;
    }
    let fopts = FreshnessOptions {
        default_ttl: cfg.default_ttl,
        last_modified_heuristic: cfg.heuristic,
    };
    let mut fr = policy::freshness(status, headers, &cc, response_time_ms, fopts);
    if let Some(ttl) = opts.and_then(|o| o.ttl) {
        fr.lifetime_ms = Some(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX));
    }
    let has_validator =
        headers.contains_key(header::ETAG) || headers.contains_key(header::LAST_MODIFIED);
    let lifetime_ms = match fr.lifetime_ms {
        Some(l) => l,
        // No freshness, but storable (§3) and revalidatable: keep it for conditional requests.
        None if has_validator && (policy::heuristically_cacheable(status) || cc.public) => 0,
        None => return None,
    };
    let keep_ms = if has_validator {
        u64::try_from(cfg.keep_stale.as_millis()).unwrap_or(u64::MAX)
    } else {
        0
    };
    let initial_age_ms = policy::initial_age_ms(age_headers, request_time_ms, response_time_ms);
    let ttl_ms = lifetime_ms
        .saturating_add(fr.swr_ms.max(fr.sie_ms).max(keep_ms))
        .saturating_sub(initial_age_ms);
    if ttl_ms == 0 {
        return None;
    }
    let mut flags = 0;
    if cc.no_cache {
        flags |= NO_CACHE;
    }
    if cc.forbids_stale() {
        flags |= FORBIDS_STALE;
    }
    if cc.must_revalidate || cc.proxy_revalidate || cc.no_cache {
        flags |= EXPLICIT_REVALIDATE;
    }
    if policy::auth_ok(&cc) {
        flags |= AUTH_OK;
    }
    Some(Plan {
        lifetime_ms,
        initial_age_ms,
        swr_ms: fr.swr_ms,
        sie_ms: fr.sie_ms,
        flags,
        ttl: Duration::from_millis(ttl_ms),
    })
}

/// Writes an entry (and the variants record when it varies) behind the response: the client
/// waits neither for the store nor for encoding the entry. The leader guard, if any, is held
/// until the write lands, so requests of this process that miss meanwhile wait for it instead
/// of calling the inner service. A write that an invalidation of its resource overtook (the
/// [`Fence`](super::fence::Fence) mark `epoch` was taken before the inner service was called)
/// is not written, or is deleted again. Failures
/// are logged and counted by the `Cache`, never returned.
pub(super) fn store(
    cfg: &Arc<Config>,
    keys: &Keys,
    entry: Arc<Entry>,
    ttl: Duration,
    tags: Vec<String>,
    leader: Option<Leader>,
    epoch: u64,
) {
    // A request that did not lead a flight (one with `Authorization`, say) opens one for the
    // write, so the next request here waits for it rather than missing.
    let leader = leader.or_else(|| match cfg.flights.join(&keys.base) {
        Join::Leader(l) => Some(l),
        Join::Follower(_) => None,
    });
    let Ok(rt) = tokio::runtime::Handle::try_current() else {
        // No runtime to write from: the response is simply not stored.
        tracing::warn!(target: "cache_axum", "no tokio runtime; response not stored");
        return;
    };
    let cfg = Arc::clone(cfg);
    let keys = keys.clone();
    rt.spawn(async move {
        if cfg.fence.overtaken(epoch, keys.resource()) {
            // Invalidated since it was fetched: not written at all.
            return;
        }
        let mut opts = SetOptions::new().ttl(ttl).tags(tags);
        if !entry.vary.is_empty() || !cfg.vary_by.is_empty() {
            // A resource stored under several keys is invalidated through its tag; one stored
            // under its base key alone is simply deleted (a tag costs a write to the tag index).
            opts = opts.tag(keys.resource_tag());
        }
        let encode = |b: &mut Vec<u8>| entry.encode_into(b);
        let written = if entry.vary.is_empty() {
            (cfg.cache)
                .set_bytes_with(&keys.base, entry.encoded_len(), encode, opts)
                .await
                .map(|()| keys.base.clone())
        } else {
            let names: Vec<HeaderName> = entry.vary.iter().map(|(n, _)| n.clone()).collect();
            // The same digest `variant_key` takes of a later request's values.
            let variant = format!(
                "{}:var:{}",
                keys.base,
                hash_fields(entry.vary.iter().map(|(n, v)| (n, v.clone())))
            );
            match cfg
                .cache
                .set_bytes(&keys.base, entry::encode_variants(&names), opts.clone())
                .await
            {
                Ok(()) => (cfg.cache)
                    .set_bytes_with(&variant, entry.encoded_len(), encode, opts)
                    .await
                    .map(|()| variant),
                Err(e) => Err(e),
            }
        };
        match written {
            Ok(key) if cfg.fence.overtaken(epoch, keys.resource()) => {
                if let Err(e) = cfg.cache.delete(&key).await {
                    tracing::warn!(target: "cache_axum", key, error = %e, "response fetched before an invalidation not dropped");
                }
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(target: "cache_axum", key = keys.base, error = %e, "response not stored");
            }
        }
        drop(leader);
    });
}

/// Reads a body into memory up to `limit` bytes. A larger body (or one with trailers, or one
/// that fails) comes back as a body that replays what was read and streams the rest.
pub(super) async fn buffer<B>(body: B, limit: usize) -> Result<Bytes, Body>
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let mut body = Box::pin(body);
    if body.size_hint().lower() > limit as u64 {
        return Err(Body::new(body));
    }
    let mut frames: Vec<Frame<Bytes>> = Vec::new();
    let mut total = 0usize;
    while let Some(next) = body.frame().await {
        match next {
            Ok(frame) => {
                let trailers = frame.is_trailers();
                total = total.saturating_add(frame.data_ref().map_or(0, Bytes::len));
                frames.push(frame);
                if total > limit || trailers {
                    let prefix =
                        futures_util::stream::iter(frames.into_iter().map(Ok::<_, BoxError>));
                    let rest = TryStreamExt::map_err(BodyStream::new(body), Into::into);
                    return Err(Body::new(StreamBody::new(prefix.chain(rest))));
                }
            }
            Err(e) => {
                let prefix = futures_util::stream::iter(frames.into_iter().map(Ok::<_, BoxError>));
                let failed =
                    futures_util::stream::once(std::future::ready(Err::<Frame<Bytes>, BoxError>(
                        e.into(),
                    )));
                return Err(Body::new(StreamBody::new(prefix.chain(failed))));
            }
        }
    }
    let mut data = frames.into_iter().filter_map(|f| f.into_data().ok());
    Ok(match (data.next(), data.next()) {
        (None, _) => Bytes::new(),
        (Some(one), None) => one,
        (Some(a), Some(b)) => {
            let mut all = BytesMut::with_capacity(total);
            for chunk in [a, b].into_iter().chain(data) {
                all.extend_from_slice(&chunk);
            }
            all.freeze()
        }
    })
}

/// A request going to the inner service on a miss or for revalidation.
pub(super) struct Job {
    pub(super) parts: Parts,
    /// The client's method (`HEAD` is answered from a `GET`).
    pub(super) method: Method,
    /// The client's own conditional fields, answered by the cache.
    pub(super) cond: HeaderMap,
    pub(super) keys: Keys,
    pub(super) req_cc: CacheControl,
    /// Held until the response is stored: concurrent misses wait on it.
    pub(super) leader: Option<Leader>,
    /// The fence's mark before the inner service was called (see `Fence::mark`).
    pub(super) epoch: u64,
}

/// Fetches from the inner service, stores what may be stored, and answers.
pub(super) async fn fetch<S, ResBody>(
    mut ctx: Ctx<S>,
    mut job: Job,
    body: Body,
) -> Result<Response<Body>, S::Error>
where
    S: Service<Request<Body>, Response = Response<ResBody>>,
    ResBody: http_body::Body<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<BoxError>,
{
    let req_headers = job.parts.headers.clone();
    // The request goes to the inner service; only its headers are needed afterwards.
    let mut parts = std::mem::replace(&mut job.parts, Request::new(()).into_parts().0);
    parts.method = Method::GET;
    let request_time = now_ms();
    let res = ctx.call(Request::from_parts(parts, body)).await?;
    let response_time = now_ms();
    Ok(take_response(
        &ctx.cfg,
        &mut job,
        &req_headers,
        res,
        request_time,
        response_time,
    )
    .await
    .0)
}

/// Stores a response from the inner service if it may be, and answers the client. Also returns
/// whether it was stored.
pub(super) async fn take_response<ResBody>(
    cfg: &Arc<Config>,
    job: &mut Job,
    req_headers: &HeaderMap,
    res: Response<ResBody>,
    request_time: u64,
    response_time: u64,
) -> (Response<Body>, bool)
where
    ResBody: http_body::Body<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<BoxError>,
{
    let (mut head, body) = res.into_parts();
    let opts = head.extensions.get::<CacheOptions>();
    let tags = take_tags(cfg, &mut head.headers, opts);
    let plan = plan(
        cfg,
        req_headers,
        &job.req_cc,
        head.status,
        &head.headers,
        &head.headers,
        opts,
        request_time,
        response_time,
    );
    let label = |res: &mut Response<Body>| {
        if let Some(name) = &cfg.status_header {
            res.headers_mut().insert(name.clone(), Status::Miss.value());
        }
    };
    let unstored = |mut head: http::response::Parts, body: Body| {
        if let Some(n) = hidden_field(cfg) {
            head.headers.remove(n);
        }
        let mut res = if head.status == StatusCode::OK
            && !job.cond.is_empty()
            && conditional::is_not_modified(&job.method, &job.cond, &head.headers)
        {
            conditional::not_modified::<Body>(&head.headers)
        } else {
            Response::from_parts(head, body)
        };
        label(&mut res);
        res
    };
    let Some(plan) = plan else {
        return (unstored(head, Body::new(body)), false);
    };
    let bytes = match buffer(body, cfg.max_body).await {
        Ok(bytes) => bytes,
        Err(streamed) => return (unstored(head, streamed), false),
    };
    let vary = policy::vary_names(&head.headers)
        .into_iter()
        .map(|name| {
            let value = field_value(req_headers, &name);
            (name, value)
        })
        .collect();
    let mut headers = head.headers;
    let listed = connection_listed(&headers);
    headers.retain_fields(|n| stored_field(cfg, &listed, n));
    let entry = Entry {
        status: head.status,
        // The client gets the map as it came (it has room for the fields added when serving);
        // the stored copy has just the stored fields.
        headers: headers.clone(),
        body: bytes,
        response_time_ms: response_time,
        initial_age_ms: plan.initial_age_ms,
        lifetime_ms: plan.lifetime_ms,
        swr_ms: plan.swr_ms,
        sie_ms: plan.sie_ms,
        flags: plan.flags,
        vary,
        served: std::sync::OnceLock::new(),
    };
    let res = serve_fetched(cfg, &entry, headers, now_ms(), &job.method, &job.cond);
    store(
        cfg,
        &job.keys,
        Arc::new(entry),
        plan.ttl,
        tags,
        job.leader.take(),
        job.epoch,
    );
    (res, true)
}
