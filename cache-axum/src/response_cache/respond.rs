//! Building the responses the cache sends: stored ones with `Age`, 304s, and the fields it
//! adds, keeps or drops (hop-by-hop fields are never stored or replayed).

use std::sync::Arc;

use axum::body::Body;
use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Response, StatusCode};

use super::config::Config;
use super::entry::Entry;
use super::range::{self, ranged};
use super::report::{Report, CACHE_STATUS};
use crate::conditional;

/// The `Age` value for `secs`: common ages come from a table built once, since formatting
/// a number into a `HeaderValue` allocates.
pub(super) fn age_value(secs: u64) -> HeaderValue {
    const TABLE: usize = 4096;
    static AGES: std::sync::OnceLock<Vec<HeaderValue>> = std::sync::OnceLock::new();
    match usize::try_from(secs) {
        Ok(i) if i < TABLE => {
            AGES.get_or_init(|| (0..TABLE as u64).map(HeaderValue::from).collect())[i].clone()
        }
        _ => HeaderValue::from(secs),
    }
}

/// Turns a stored response into the response for this request.
pub(super) fn serve(
    cfg: &Config,
    e: Arc<Entry>,
    now_ms: u64,
    method: &Method,
    cond: &HeaderMap,
    report: Report<'_>,
) -> Response<Body> {
    let age_ms = e.age_ms(now_ms);
    let report = report.ttl(e.lifetime_ms, age_ms);
    let age = age_value(age_ms / 1000);
    let range = ranged(&e, method, cond);
    let res = not_modified(&e, method, cond).unwrap_or_else(|| {
        // A record shared with the store's entry is copied (reference counts, no bytes).
        let (code, headers, body) = match Arc::try_unwrap(e) {
            Ok(e) => {
                let mut headers = e.headers;
                if let Some(n) = hidden_field(cfg) {
                    headers.remove(n);
                }
                (e.status, headers, e.body)
            }
            Err(e) => (
                e.status,
                e.served_headers(cfg.status_header.as_ref(), hidden_field(cfg)),
                e.body.clone(),
            ),
        };
        match range {
            Some(r) => {
                let (code, headers, body) = range::apply(r, headers, body);
                full(code, headers, body, method)
            }
            None => full(code, headers, body, method),
        }
    });
    labelled(cfg, res, age, report)
}

/// [`serve`] for the response just fetched, from its own fields (`e` is the copy to store).
pub(super) fn serve_fetched(
    cfg: &Config,
    e: &Entry,
    mut headers: HeaderMap,
    now_ms: u64,
    method: &Method,
    cond: &HeaderMap,
    report: Report<'_>,
) -> Response<Body> {
    if let Some(n) = hidden_field(cfg) {
        headers.remove(n);
    }
    let age_ms = e.age_ms(now_ms);
    let report = report.stored(true).ttl(e.lifetime_ms, age_ms);
    let age = age_value(age_ms / 1000);
    let res = not_modified(e, method, cond)
        .unwrap_or_else(|| full(e.status, headers, e.body.clone(), method));
    labelled(cfg, res, age, report)
}

/// The 304 for a conditional request that a stored 200 satisfies (`cond` holds the client's
/// own conditional fields: without any, `None`). A stored response without `Last-Modified` is
/// dated by its `Date` for `If-Modified-Since`.
pub(super) fn not_modified(e: &Entry, method: &Method, cond: &HeaderMap) -> Option<Response<Body>> {
    (e.status == StatusCode::OK
        && !cond.is_empty()
        && conditional::is_not_modified_stored(method, cond, &e.headers))
    .then(|| conditional::not_modified::<Body>(&e.headers))
}

/// A full response; a `HEAD` one without the body, but with its length.
pub(super) fn full(
    code: StatusCode,
    mut headers: HeaderMap,
    body: Bytes,
    method: &Method,
) -> Response<Body> {
    let body = if method == Method::HEAD {
        if !headers.contains_key(header::CONTENT_LENGTH) {
            headers.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
        }
        Body::empty()
    } else {
        Body::from(body)
    };
    let mut res = Response::new(body);
    *res.status_mut() = code;
    *res.headers_mut() = headers;
    res
}

/// Adds `Age`, the status field and `Cache-Status`.
pub(super) fn labelled(
    cfg: &Config,
    mut res: Response<Body>,
    age: HeaderValue,
    report: Report<'_>,
) -> Response<Body> {
    let status = cfg
        .status_header
        .as_ref()
        .map(|n| (n, report.status.value()));
    set_added(res.headers_mut(), age, status);
    report.write_cache_status(cfg, res.headers_mut());
    res
}

/// Sets `Age` and the status field. `Entry::served_headers` puts placeholders for them first,
/// which are overwritten in place without searching the map; other maps get them inserted.
pub(super) fn set_added(
    headers: &mut HeaderMap,
    age: HeaderValue,
    status: Option<(&HeaderName, HeaderValue)>,
) {
    let mut age = Some(age);
    let mut status = status;
    let mut fields = headers.iter_mut();
    if let Some((name, slot)) = fields.next() {
        if *name == header::AGE {
            if let Some(age) = age.take() {
                *slot = age;
            }
            if let (Some((want, _)), Some((name, slot))) = (&status, fields.next()) {
                if name == *want {
                    if let Some((_, value)) = status.take() {
                        *slot = value;
                    }
                }
            }
        }
    }
    if let Some(age) = age {
        headers.insert(header::AGE, age);
    }
    if let Some((name, value)) = status {
        headers.insert(name.clone(), value);
    }
}

pub(super) fn is_hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-connection"
            | "transfer-encoding"
            | "te"
            | "trailer"
            | "upgrade"
    ) || *name == header::PROXY_AUTHENTICATE
        || *name == header::PROXY_AUTHORIZATION
}

/// Whether a response header is kept in the stored response (`listed`: the fields the
/// response's `Connection` names, which are hop-by-hop too, RFC 9110 §7.6.1).
pub(super) fn stored_field(cfg: &Config, listed: &[HeaderName], name: &HeaderName) -> bool {
    !(is_hop_by_hop(name)
        || *name == header::AGE
        || cfg.status_header.as_ref() == Some(name)
        || cfg.tag_header.as_ref() == Some(name)
        || (cfg.cache_status.is_some() && *name == CACHE_STATUS)
        || listed.contains(name))
}

/// The stored field clients do not get: the targeted cache-control field, unless forwarded.
pub(super) fn hidden_field(cfg: &Config) -> Option<&HeaderName> {
    cfg.targeted.as_ref().filter(|_| !cfg.forward_targeted)
}

/// The field names a message's `Connection` fields list (`close` and the like included: they
/// name no field that is there).
pub(super) fn connection_listed(headers: &HeaderMap) -> Vec<HeaderName> {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect()
}

/// `HeaderMap::retain` for field names.
pub(super) trait RetainFields {
    fn retain_fields(&mut self, keep: impl Fn(&HeaderName) -> bool);
}

impl RetainFields for HeaderMap {
    fn retain_fields(&mut self, keep: impl Fn(&HeaderName) -> bool) {
        let drop: Vec<HeaderName> = self.keys().filter(|n| !keep(n)).cloned().collect();
        for name in drop {
            self.remove(&name);
        }
    }
}
