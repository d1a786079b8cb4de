//! Freshness (RFC 9111 §4.2): the lifetime of a response, heuristics where they are allowed,
//! and its age. An unparsable `Expires` is already expired (§5.3); an unreadable `Age` makes
//! the response stale.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::header::{self, HeaderMap, HeaderName};
use http::StatusCode;

use super::directives::{delta, CacheControl, MAX_DELTA};

/// The heuristic lifetime from `Last-Modified` is capped at one day.
const MAX_HEURISTIC: Duration = Duration::from_secs(86_400);

/// Milliseconds since the Unix epoch.
pub(crate) fn unix_ms(t: SystemTime) -> u64 {
    // Whole milliseconds without `as_millis`' 128-bit arithmetic (on every request).
    t.duration_since(UNIX_EPOCH).map_or(0, |d| {
        d.as_secs()
            .saturating_mul(1000)
            .saturating_add(u64::from(d.subsec_millis()))
    })
}

/// A date header as Unix milliseconds; `Err(())` if present but malformed.
fn date_ms(headers: &HeaderMap, name: &HeaderName) -> Result<Option<u64>, ()> {
    match headers.get(name) {
        None => Ok(None),
        Some(v) => {
            let s = v.to_str().map_err(|_| ())?;
            crate::date::parse(s).map(|t| Some(unix_ms(t))).ok_or(())
        }
    }
}

/// Status codes cacheable by heuristic (RFC 9110 §15.1), minus 206 (no range support).
pub(crate) fn heuristically_cacheable(status: StatusCode) -> bool {
    matches!(
        status.as_u16(),
        200 | 203 | 204 | 300 | 301 | 308 | 404 | 405 | 410 | 414 | 501
    )
}

/// The options that shape the freshness of a response.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct FreshnessOptions {
    /// Lifetime of responses with no freshness information (where a heuristic is allowed).
    pub(crate) default_ttl: Option<Duration>,
    /// Use the `Last-Modified` heuristic (10 % of the resource's age, capped at a day).
    pub(crate) last_modified_heuristic: bool,
}

/// How long a response stays fresh, with the stale windows granted by its origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Freshness {
    /// `None`: no explicit or heuristic freshness at all.
    pub(crate) lifetime_ms: Option<u64>,
    pub(crate) swr_ms: u64,
    pub(crate) sie_ms: u64,
}

/// The freshness lifetime of a response (RFC 9111 §4.2.1), as seen by a shared cache.
pub(crate) fn freshness(
    status: StatusCode,
    headers: &HeaderMap,
    cc: &CacheControl,
    response_time_ms: u64,
    opts: FreshnessOptions,
) -> Freshness {
    let secs = |s: u64| s.saturating_mul(1000);
    let date = date_ms(headers, &header::DATE)
        .ok()
        .flatten()
        .unwrap_or(response_time_ms);
    let lifetime_ms = if let Some(s) = cc.s_maxage {
        Some(secs(s))
    } else if let Some(m) = cc.max_age {
        Some(secs(m))
    } else if headers.contains_key(header::EXPIRES) {
        // A malformed Expires means already expired (§5.3).
        Some(match date_ms(headers, &header::EXPIRES) {
            Ok(Some(exp)) => exp.saturating_sub(date),
            _ => 0,
        })
    } else if heuristically_cacheable(status) || cc.public {
        // Heuristic freshness is allowed here (§4.2.2).
        if let Some(ttl) = opts.default_ttl {
            Some(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX))
        } else if opts.last_modified_heuristic {
            match date_ms(headers, &header::LAST_MODIFIED) {
                Ok(Some(lm)) if lm < date => {
                    let h = (date - lm) / 10;
                    Some(h.min(u64::try_from(MAX_HEURISTIC.as_millis()).unwrap_or(u64::MAX)))
                }
                _ => None,
            }
        } else {
            None
        }
    } else {
        None
    };
    Freshness {
        lifetime_ms,
        swr_ms: cc.stale_while_revalidate.map_or(0, secs),
        sie_ms: cc.stale_if_error.map_or(0, secs),
    }
}

/// A response's `Age` in seconds (RFC 9111 §5.1): of a list, its first member; a value too large
/// to represent, [`MAX_DELTA`]. An invalid value is not ignored, as §5.1 allows, but read as
/// [`MAX_DELTA`]: the response is then stale and revalidated, never served as fresh on an age
/// this cache could not read.
pub(crate) fn age_secs(headers: &HeaderMap) -> u64 {
    let Some(v) = headers.get(header::AGE) else {
        return 0;
    };
    let first = v
        .to_str()
        .ok()
        .and_then(|s| s.split(',').next())
        .map(str::trim);
    match first {
        Some(s) => delta(Some(s)).unwrap_or(MAX_DELTA),
        None => MAX_DELTA,
    }
}

/// The corrected initial age of a response (RFC 9111 §4.2.3), in milliseconds.
pub(crate) fn initial_age_ms(
    headers: &HeaderMap,
    request_time_ms: u64,
    response_time_ms: u64,
) -> u64 {
    let age_value = age_secs(headers).saturating_mul(1000);
    let date = date_ms(headers, &header::DATE)
        .ok()
        .flatten()
        .unwrap_or(response_time_ms);
    let apparent_age = response_time_ms.saturating_sub(date);
    let response_delay = response_time_ms.saturating_sub(request_time_ms);
    apparent_age.max(age_value.saturating_add(response_delay))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::response_cache::policy::tests_support::headers;

    #[test]
    fn age_takes_a_lists_first_member_and_reads_garbage_as_old() {
        let age = |v: &'static str| {
            let mut h = HeaderMap::new();
            h.insert(header::AGE, http::HeaderValue::from_static(v));
            age_secs(&h)
        };
        assert_eq!(age_secs(&HeaderMap::new()), 0);
        assert_eq!(age("7"), 7);
        assert_eq!(age("7200, 0"), 7200);
        assert_eq!(age(" 30 ,x"), 30);
        for bad in ["abc", "-1", "1.5", "", "99999999999999999999999"] {
            assert_eq!(age(bad), MAX_DELTA, "{bad:?}");
        }
    }

    #[test]
    fn freshness_prefers_s_maxage_then_max_age_then_expires() {
        let h = headers(&[
            ("date", "Sun, 06 Nov 1994 08:49:37 GMT"),
            ("expires", "Sun, 06 Nov 1994 08:50:37 GMT"),
        ]);
        let f = |extra: &[(&'static str, &'static str)]| {
            let mut h = h.clone();
            h.extend(headers(extra));
            let cc = CacheControl::parse(&h);
            freshness(StatusCode::OK, &h, &cc, 0, FreshnessOptions::default()).lifetime_ms
        };
        assert_eq!(f(&[]), Some(60_000));
        assert_eq!(f(&[("cache-control", "max-age=5")]), Some(5_000));
        assert_eq!(
            f(&[("cache-control", "max-age=5, s-maxage=7")]),
            Some(7_000)
        );
        let bad = headers(&[("expires", "0")]);
        let cc = CacheControl::parse(&bad);
        assert_eq!(
            freshness(StatusCode::OK, &bad, &cc, 0, FreshnessOptions::default()).lifetime_ms,
            Some(0)
        );
    }

    #[test]
    fn heuristics_only_for_heuristic_statuses_or_public() {
        let h = headers(&[
            ("date", "Sun, 06 Nov 1994 08:49:37 GMT"),
            ("last-modified", "Sun, 06 Nov 1994 07:49:37 GMT"),
        ]);
        let cc = CacheControl::parse(&h);
        let on = FreshnessOptions {
            default_ttl: None,
            last_modified_heuristic: true,
        };
        assert_eq!(
            freshness(StatusCode::OK, &h, &cc, 0, on).lifetime_ms,
            Some(360_000)
        );
        assert_eq!(
            freshness(StatusCode::OK, &h, &cc, 0, FreshnessOptions::default()).lifetime_ms,
            None
        );
        assert_eq!(
            freshness(StatusCode::FOUND, &h, &cc, 0, on).lifetime_ms,
            None
        );
        let ttl = FreshnessOptions {
            default_ttl: Some(Duration::from_secs(9)),
            last_modified_heuristic: false,
        };
        assert_eq!(
            freshness(StatusCode::INTERNAL_SERVER_ERROR, &h, &cc, 0, ttl).lifetime_ms,
            None
        );
        assert_eq!(
            freshness(StatusCode::NOT_FOUND, &h, &cc, 0, ttl).lifetime_ms,
            Some(9_000)
        );
    }

    #[test]
    fn initial_age_takes_the_larger_of_apparent_and_corrected_age() {
        let h = headers(&[("age", "10")]);
        assert_eq!(initial_age_ms(&h, 1_000, 3_000), 12_000);
        // An unreadable age is read as very old (issue #13), not as 0.
        let h = headers(&[("age", "bogus")]);
        assert_eq!(initial_age_ms(&h, 1_000, 1_000), MAX_DELTA * 1000);
    }
}
