//! Byte ranges answered from a stored complete response (RFC 9110 §14, RFC 9111 §3.4).
//!
//! A `GET` with `Range` is looked up as usual. On a hit, the range is answered from the stored
//! complete response; on a miss (or a stale entry), the request goes to the inner service with
//! its `Range`, which answers it itself, and nothing is stored. A single range (`a-b`, `a-`, `-n`) of a stored `200` is
//! answered `206` with `Content-Range`, or `416` when it starts past the end. `If-Range` holding
//! a strong entity tag or the exact `Last-Modified` date allows the range; anything else gets
//! the whole `200`. Several ranges, another unit or a malformed field also get the whole `200`,
//! as RFC 9110 §14.2 lets a server do.

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, StatusCode};

use super::entry::Entry;

/// What a request's `Range` asks of a stored response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Ranged {
    /// Bytes `start..=end`.
    Part(u64, u64),
    /// Starts past the end: 416.
    Unsatisfiable,
}

/// The range to answer for `cond` (the client's conditional and range fields), if any.
pub(super) fn ranged(e: &Entry, method: &Method, cond: &HeaderMap) -> Option<Ranged> {
    if cond.is_empty() {
        // No conditional fields at all (most requests): not even a probe.
        return None;
    }
    let range = cond.get(header::RANGE)?;
    if *method != Method::GET || e.status != StatusCode::OK || !if_range_holds(e, cond) {
        return None;
    }
    parse(range.to_str().ok()?, e.body.len() as u64)
}

/// `If-Range` absent, or naming this response with a strong validator (RFC 9110 §13.1.5).
fn if_range_holds(e: &Entry, cond: &HeaderMap) -> bool {
    let Some(v) = cond.get(header::IF_RANGE) else {
        return true;
    };
    let Ok(v) = v.to_str() else {
        return false;
    };
    let v = v.trim();
    if v.starts_with('"') || v.starts_with("W/") {
        // Strong comparison: weak tags never match.
        let etag = e.headers.get(header::ETAG).and_then(|t| t.to_str().ok());
        return !v.starts_with("W/") && etag.is_some_and(|t| t.trim() == v);
    }
    let modified = e
        .headers
        .get(header::LAST_MODIFIED)
        .and_then(|d| d.to_str().ok());
    match (crate::date::parse(v), modified.and_then(crate::date::parse)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

/// Parses a `Range` value for a body of `len` bytes: one byte range, or `None` for anything
/// this cache answers with the whole response.
fn parse(v: &str, len: u64) -> Option<Ranged> {
    let (unit, set) = v.trim().split_once('=')?;
    if !unit.trim().eq_ignore_ascii_case("bytes") || set.contains(',') {
        return None;
    }
    let (first, last) = set.trim().split_once('-')?;
    let (first, last) = (first.trim(), last.trim());
    let num = |s: &str| -> Option<u64> {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    if first.is_empty() {
        // A suffix: the last `n` bytes.
        let n = num(last)?;
        if n == 0 || len == 0 {
            return Some(Ranged::Unsatisfiable);
        }
        return Some(Ranged::Part(len.saturating_sub(n), len - 1));
    }
    let start = num(first)?;
    let end = if last.is_empty() {
        None
    } else {
        Some(num(last)?)
    };
    if end.is_some_and(|end| end < start) {
        return None;
    }
    if start >= len {
        return Some(Ranged::Unsatisfiable);
    }
    Some(Ranged::Part(start, end.map_or(len - 1, |e| e.min(len - 1))))
}

/// The `206` or `416` parts of a response: its status, fields and body, from the whole one's.
pub(super) fn apply(
    range: Ranged,
    mut headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, HeaderMap, Bytes) {
    let len = body.len() as u64;
    headers.remove(header::CONTENT_LENGTH);
    match range {
        Ranged::Part(start, end) => {
            let value = format!("bytes {start}-{end}/{len}");
            if let Ok(v) = HeaderValue::from_str(&value) {
                headers.insert(header::CONTENT_RANGE, v);
            }
            // In range by construction: start <= end < len.
            let part = body.slice(start as usize..=end as usize);
            (StatusCode::PARTIAL_CONTENT, headers, part)
        }
        Ranged::Unsatisfiable => {
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{len}")) {
                headers.insert(header::CONTENT_RANGE, v);
            }
            (StatusCode::RANGE_NOT_SATISFIABLE, headers, Bytes::new())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_open_and_suffix_ranges_and_what_is_not_one() {
        use Ranged::*;
        assert_eq!(parse("bytes=0-4", 10), Some(Part(0, 4)));
        assert_eq!(parse("bytes=5-", 10), Some(Part(5, 9)));
        assert_eq!(parse("bytes=-3", 10), Some(Part(7, 9)));
        assert_eq!(parse("bytes=-30", 10), Some(Part(0, 9)));
        assert_eq!(parse("bytes=8-100", 10), Some(Part(8, 9)));
        assert_eq!(parse("Bytes = 1 - 2", 10), Some(Part(1, 2)));
        assert_eq!(parse("bytes=10-", 10), Some(Unsatisfiable));
        assert_eq!(parse("bytes=-0", 10), Some(Unsatisfiable));
        assert_eq!(parse("bytes=0-0", 0), Some(Unsatisfiable));
        for whole in [
            "bytes=0-1,3-4",
            "items=0-1",
            "bytes=5-2",
            "bytes=x-",
            "bytes=-",
            "bytes",
            "bytes=1-2-3",
            "bytes=99999999999999999999999-",
        ] {
            assert_eq!(parse(whole, 10), None, "{whole}");
        }
    }

    #[test]
    fn parts_carry_content_range_and_only_their_bytes() {
        let body = Bytes::from_static(b"0123456789");
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_LENGTH, HeaderValue::from_static("10"));
        let (s, h2, b) = apply(Ranged::Part(2, 4), h.clone(), body.clone());
        assert_eq!((s, &b[..]), (StatusCode::PARTIAL_CONTENT, &b"234"[..]));
        assert_eq!(h2.get(header::CONTENT_RANGE).unwrap(), "bytes 2-4/10");
        assert!(h2.get(header::CONTENT_LENGTH).is_none());
        let (s, h3, b) = apply(Ranged::Unsatisfiable, h, body);
        assert_eq!((s, b.len()), (StatusCode::RANGE_NOT_SATISFIABLE, 0));
        assert_eq!(h3.get(header::CONTENT_RANGE).unwrap(), "bytes */10");
    }
}
