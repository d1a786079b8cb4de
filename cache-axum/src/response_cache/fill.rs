//! Filling the cache on a miss: the inner call, the storability plan, buffering the body up to
//! the bound, and the write behind the response.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use cache_core::SetOptions;
use futures_util::FutureExt as _;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::request::Parts;
use http::{Method, Request, Response, StatusCode};
use http_body_util::BodyExt as _;
use tower_service::Service;

use super::config::Config;
use super::context::{BoxError, Ctx};
use super::control::CacheOptions;
use super::decide::now_ms;
use super::entry::{self, Entry, AUTH_OK, EXPLICIT_REVALIDATE, FORBIDS_STALE, NO_CACHE};
use super::flight::{Join, Leader};
use super::keys::{field_value, hash_fields, Keys};
use super::policy::{self, CacheControl, FreshnessOptions, Storable};
use super::report::{Fwd, Report, Status};
use super::respond::{connection_listed, hidden_field, serve_fetched, stored_field, RetainFields};
use super::tee::{self, Pending, Read, Tee};
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
        // No freshness, but storable (§3) and revalidatable: never fresh, see below.
        None if has_validator && (policy::heuristically_cacheable(status) || cc.public) => 0,
        None => return None,
    };
    // A response that is never fresh is kept only where its stored copy is of use without a
    // full fetch (see `policy::never_fresh`).
    if let Err(reason) =
        policy::worth_storing(&cc, lifetime_ms, fr.swr_ms, fr.sie_ms, has_validator)
    {
        tracing::trace!(target: "cache_axum", reason, "response not stored");
        return None;
    }
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
    if policy::explicitly_revalidated(&cc) {
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

/// Writes an entry (and the variants record when it varies): at once when the store answers
/// without waiting (an in-process store: a few microseconds of work, less than handing it to a
/// task), and otherwise behind the response, so the client never waits for a network store.
/// The leader guard, if any, is held until the write lands, so requests of this process that
/// miss meanwhile wait for it instead of calling the inner service. A write that an
/// invalidation of its resource overtook (the [`Fence`](super::fence::Fence) mark `epoch` was
/// taken before the inner service was called) is not written, or is deleted again. Failures
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
    if let Some(l) = &leader {
        l.writing();
    }
    let cfg = Arc::clone(cfg);
    let keys = keys.clone();
    let mut write = Box::pin(async move {
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
    let Ok(rt) = tokio::runtime::Handle::try_current() else {
        // No runtime to write from (a network store's timers need one): not stored.
        tracing::warn!(target: "cache_axum", "no tokio runtime; response not stored");
        return;
    };
    // A write that completes without waiting (an in-process store) is done now: cheaper than a
    // task, and the requests waiting for it go on at once. One that waits (a network store)
    // goes on behind the response.
    if write.as_mut().now_or_never().is_none() {
        drop(rt.spawn(write));
    }
}

/// Gives a complete response the `Content-Length` of its body if it has none (a status that has
/// a body): every later hit then comes with it, rather than having it worked out again.
pub(super) fn with_length(headers: &mut HeaderMap, status: StatusCode, len: usize) {
    let bodiless = status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED;
    if !bodiless && !headers.contains_key(header::CONTENT_LENGTH) {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    }
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
    /// Why the request goes to the inner service (for `Cache-Status`).
    pub(super) fwd: Fwd,
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
    let times = (request_time, response_time);
    Ok(take_response(&ctx.cfg, &mut job, &req_headers, res, times, None).0)
}

/// Stores a response from the inner service if it may be, and answers the client. Also returns
/// whether it is stored (or, streaming, is to be once its body has ended). `replaces` is the
/// key of a stale response this one replaces, dropped if a streamed body cannot be stored.
pub(super) fn take_response<ResBody>(
    cfg: &Arc<Config>,
    job: &mut Job,
    req_headers: &HeaderMap,
    res: Response<ResBody>,
    times: (u64, u64),
    replaces: Option<&str>,
) -> (Response<Body>, bool)
where
    ResBody: http_body::Body<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<BoxError>,
{
    let (request_time, response_time) = times;
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
    let report = Report::forwarded(Status::Miss, job.fwd).key(&job.keys.base);
    let label = |res: &mut Response<Body>| report.write(cfg, res.headers_mut());
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
    // What the body has ready now is read; a body that has ended by then (a handler's
    // in-memory body, typically) is stored whole, and any other streams to the client while
    // its copy is kept, to be stored once it ends.
    let (bytes, rest) = match tee::read_ready(body, cfg.max_body) {
        Read::Whole(bytes) => (bytes, None),
        Read::Started(read, rest) => (Bytes::new(), Some((read, rest))),
        Read::Unstorable(streamed) => return (unstored(head, streamed), false),
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
    let had_length = headers.contains_key(header::CONTENT_LENGTH);
    if rest.is_none() {
        with_length(&mut headers, head.status, bytes.len());
    }
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
    let now = now_ms();
    let mut res = serve_fetched(cfg, &entry, headers, now, &job.method, &job.cond, report);
    let Some((read, rest)) = rest else {
        store(
            cfg,
            &job.keys,
            Arc::new(entry),
            plan.ttl,
            tags,
            job.leader.take(),
            job.epoch,
        );
        return (res, true);
    };
    let pending = Pending {
        cfg: Arc::clone(cfg),
        keys: job.keys.clone(),
        entry,
        ttl: plan.ttl,
        tags,
        leader: job.leader.take(),
        epoch: job.epoch,
        replaces: replaces.map(str::to_owned),
    };
    let tee = Tee::new(read, rest, pending);
    if res.status() == StatusCode::NOT_MODIFIED || job.method == Method::HEAD {
        if !had_length {
            // `serve_fetched` gave a HEAD the length of the part read so far.
            res.headers_mut().remove(header::CONTENT_LENGTH);
        }
        // The client gets no body: the copy is read to its end behind the response (without
        // a runtime to do it, it is dropped, and not stored).
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                let mut tee = std::pin::pin!(tee);
                while let Some(Ok(_)) = tee.frame().await {}
            });
        }
        return (res, true);
    }
    let (head, _) = res.into_parts();
    (Response::from_parts(head, Body::new(tee)), true)
}
