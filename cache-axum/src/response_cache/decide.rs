//! How a stored response may be used for a request (RFC 9111 §4.2, §4.2.4; RFC 5861):
//! fresh, stale but accepted, stale while revalidating, or to revalidate.

use std::time::SystemTime;

use super::entry::{Entry, EXPLICIT_REVALIDATE, FORBIDS_STALE, NO_CACHE};
use super::policy::{self, CacheControl};

/// How a stored response can be used for a request (RFC 9111 §4.2, §4.2.4, RFC 5861).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Use {
    Fresh,
    /// Stale, but the client accepts it (`max-stale`).
    Stale,
    /// Stale within `stale-while-revalidate`: serve it and refresh in the background.
    StaleWhileRevalidate,
    Revalidate,
}

pub(super) fn decide(e: &Entry, req: &CacheControl, now_ms: u64) -> Use {
    if e.has(NO_CACHE) || req.no_cache {
        return Use::Revalidate;
    }
    let age = e.age_ms(now_ms);
    let fresh = age < e.lifetime_ms;
    // `max-age=0` is how clients ask for revalidation, whatever the sub-second age.
    let within_max_age = req
        .max_age
        .is_none_or(|m| m > 0 && age <= m.saturating_mul(1000));
    let min_fresh_ok = req
        .min_fresh
        .is_none_or(|m| e.lifetime_ms.saturating_sub(age) >= m.saturating_mul(1000));
    if fresh && within_max_age && min_fresh_ok {
        return Use::Fresh;
    }
    if fresh {
        // Fresh, but not fresh enough for this client.
        return Use::Revalidate;
    }
    let staleness = age - e.lifetime_ms;
    if let Some(max_stale) = req.max_stale {
        if !e.has(FORBIDS_STALE)
            && within_max_age
            && max_stale.is_none_or(|s| staleness <= s.saturating_mul(1000))
        {
            return Use::Stale;
        }
    }
    if e.swr_ms > 0
        && !e.has(EXPLICIT_REVALIDATE)
        && staleness <= e.swr_ms
        && req.max_age.is_none()
        && req.min_fresh.is_none()
    {
        return Use::StaleWhileRevalidate;
    }
    Use::Revalidate
}

/// Whether a stale response may stand in for an error (RFC 5861 §4).
pub(super) fn stale_if_error_ok(e: &Entry, req: &CacheControl, now_ms: u64) -> bool {
    let window = e
        .sie_ms
        .max(req.stale_if_error.map_or(0, |s| s.saturating_mul(1000)));
    let staleness = e.age_ms(now_ms).saturating_sub(e.lifetime_ms);
    window > 0 && !e.has(EXPLICIT_REVALIDATE) && staleness <= window
}

pub(super) fn now_ms() -> u64 {
    policy::unix_ms(SystemTime::now())
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use http::header::{self, HeaderMap, HeaderValue};
    use http::StatusCode;

    fn entry(lifetime_ms: u64, age_ms: u64, flags: u8, swr_ms: u64) -> Entry {
        Entry {
            status: StatusCode::OK,
            headers: HeaderMap::new(),
            body: Bytes::new(),
            response_time_ms: 1_000_000,
            initial_age_ms: age_ms,
            lifetime_ms,
            swr_ms,
            sie_ms: 0,
            flags,
            vary: Vec::new(),
            served: std::sync::OnceLock::new(),
        }
    }

    fn cc(s: &'static str) -> CacheControl {
        let mut h = HeaderMap::new();
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static(s));
        CacheControl::parse(&h)
    }

    #[test]
    fn decide_follows_request_and_response_directives() {
        let now = 1_000_000;
        let none = CacheControl::default();
        assert_eq!(decide(&entry(60_000, 0, 0, 0), &none, now), Use::Fresh);
        assert_eq!(
            decide(&entry(60_000, 70_000, 0, 0), &none, now),
            Use::Revalidate
        );
        assert_eq!(
            decide(&entry(60_000, 0, NO_CACHE, 0), &none, now),
            Use::Revalidate
        );
        assert_eq!(
            decide(&entry(60_000, 0, 0, 0), &cc("no-cache"), now),
            Use::Revalidate
        );
        assert_eq!(
            decide(&entry(60_000, 30_000, 0, 0), &cc("max-age=10"), now),
            Use::Revalidate
        );
        assert_eq!(
            decide(&entry(60_000, 30_000, 0, 0), &cc("min-fresh=40"), now),
            Use::Revalidate
        );
        assert_eq!(
            decide(&entry(60_000, 70_000, 0, 0), &cc("max-stale=20"), now),
            Use::Stale
        );
        assert_eq!(
            decide(&entry(60_000, 70_000, 0, 0), &cc("max-stale=5"), now),
            Use::Revalidate
        );
        assert_eq!(
            decide(&entry(60_000, 70_000, 0, 0), &cc("max-stale"), now),
            Use::Stale
        );
        assert_eq!(
            decide(
                &entry(60_000, 70_000, FORBIDS_STALE, 0),
                &cc("max-stale"),
                now
            ),
            Use::Revalidate
        );
        assert_eq!(
            decide(&entry(60_000, 70_000, 0, 20_000), &none, now),
            Use::StaleWhileRevalidate
        );
        assert_eq!(
            decide(&entry(60_000, 90_000, 0, 20_000), &none, now),
            Use::Revalidate
        );
        assert_eq!(
            decide(
                &entry(60_000, 70_000, EXPLICIT_REVALIDATE, 20_000),
                &none,
                now
            ),
            Use::Revalidate
        );
    }
}
