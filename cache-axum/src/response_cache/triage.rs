//! Request triage: what the response cache does with a request before any lookup (other
//! method, bypass, or a lookup under its keys), and the fresh hits it answers at once.

use axum::body::Body;
use cache_core::ReadNow;
use http::header::{self, HeaderMap};
use http::request::Parts;
use http::{Method, Response};

use super::config::Config;
use super::decide::{decide, now_ms, Use};
use super::entry::{Record, NO_CACHE};
use super::keys::{decode_record, keys_for, with_base_key, Keys};
use super::policy::CacheControl;
use super::report::{Report, Status};
use super::respond::serve;

/// What [`prepare`] made of a request.
pub(super) enum Prep {
    /// Answered from the response held in process.
    Served(Response<Body>),
    /// A method other than `GET`/`HEAD`.
    Other,
    /// Not looked up: vetoed by the predicate, a range or a precondition this cache does not
    /// evaluate, or no key.
    Bypass,
    /// To look up under `keys`. `absent`: the flights ended before a read that found nothing
    /// stored under the base key, for sure (an in-process store), so `handle` need not look
    /// again (see `Flights::ended`).
    Lookup(Keys, CacheControl, Option<u64>),
}

/// Sorts a request out before `handle` (which it spares the same work), and serves a fresh hit
/// on a response held in process without boxing a future or touching the inner service: the
/// response `handle` would give.
pub(super) fn prepare(cfg: &Config, parts: &mut Parts) -> Prep {
    if parts.method != Method::GET && parts.method != Method::HEAD {
        return Prep::Other;
    }
    if [header::IF_MATCH, header::IF_UNMODIFIED_SINCE]
        .iter()
        .any(|h| parts.headers.contains_key(h))
        || cfg.predicate.as_ref().is_some_and(|p| !p(parts))
    {
        return Prep::Bypass;
    }
    let req_cc = CacheControl::parse(&parts.headers);
    // With `Authorization`, shared only when the stored response allows it: `handle` checks.
    // A `Cache-Status` that shows keys needs the owned key `handle` has.
    if parts.headers.contains_key(header::AUTHORIZATION) || cfg.cache_status_key {
        return match keys_for(cfg, parts) {
            Some(keys) => Prep::Lookup(keys, req_cc, None),
            None => Prep::Bypass,
        };
    }
    let now = now_ms();
    let ended = cfg.flights.ended();
    // A fresh hit on a response held in process (decoded once, beside its stored bytes) is
    // answered here, without a future and without an owned key.
    let found = with_base_key(cfg, parts, |base, id_end| {
        let hit = cfg.cache.get_bytes_as_now(base, decode_record, |decoded| {
            let Record::Response(entry) = &decoded.record else {
                return None;
            };
            if !entry.vary.is_empty() || entry.has(NO_CACHE) {
                return None;
            }
            let status = match decide(entry, &req_cc, now) {
                Use::Fresh => Status::Hit,
                Use::Stale => Status::Stale,
                Use::StaleWhileRevalidate | Use::Revalidate => return None,
            };
            Some((decoded.for_this_thread(entry), status))
        });
        let keys = || Keys {
            base: base.to_owned(),
            id_end,
        };
        match hit {
            ReadNow::Served(hit) => Ok(hit),
            ReadNow::Absent => Err((keys(), Some(ended))),
            ReadNow::Unknown => Err((keys(), None)),
        }
    });
    match found {
        Some(Ok((entry, status))) => {
            let cond = take_conditionals(&mut parts.headers);
            Prep::Served(serve(
                cfg,
                entry,
                now,
                &parts.method,
                &cond,
                Report::hit(status),
            ))
        }
        Some(Err((keys, absent))) => Prep::Lookup(keys, req_cc, absent),
        None => Prep::Bypass,
    }
}

/// Moves the conditional fields this cache answers itself out of a request.
pub(super) fn take_conditionals(headers: &mut HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::new();
    // Most requests have none: `entry` would reserve room in the map each time.
    if !headers.contains_key(header::IF_NONE_MATCH)
        && !headers.contains_key(header::IF_MODIFIED_SINCE)
        && !headers.contains_key(header::RANGE)
    {
        return out;
    }
    // `Range` (and its `If-Range`) too: answered from a stored complete response, or put back
    // for the inner service (see `range.rs`).
    for name in [
        header::IF_NONE_MATCH,
        header::IF_MODIFIED_SINCE,
        header::RANGE,
        header::IF_RANGE,
    ] {
        if let header::Entry::Occupied(e) = headers.entry(&name) {
            for v in e.remove_entry_mult().1 {
                out.append(name.clone(), v);
            }
        }
    }
    out
}

pub(super) fn restore(headers: &mut HeaderMap, cond: HeaderMap) {
    let mut last = None;
    for (name, value) in cond {
        if let Some(n) = name {
            last = Some(n);
        }
        if let Some(n) = &last {
            headers.append(n.clone(), value);
        }
    }
}

/// Methods whose success invalidates stored responses (RFC 9111 §4.4).
pub(super) fn is_unsafe(method: &Method) -> bool {
    !matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    )
}
