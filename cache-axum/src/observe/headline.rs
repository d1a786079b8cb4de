//! The headline hit ratio: the share of HTTP requests the response cache answered, and what it
//! counts, said in words.
//!
//! The cache's own lookup ratio (`hits / (hits + misses)` of every `Cache::get`) is not what a
//! user of an HTTP service means by "hit ratio": a response that can never be served without
//! running the handler still costs a lookup that finds it, so 10 requests all answered
//! `x-cache: MISS` can read as 90 % there. The headline counts requests instead, from the
//! `x-cache` header each response carried, and falls back to the lookup ratio (labelled as
//! such) only while no request went through a [`ResponseCacheLayer`](crate::ResponseCacheLayer).

use serde::Serialize;

use super::RouteStats;

/// HTTP requests through a [`ResponseCacheLayer`](crate::ResponseCacheLayer) as
/// [`StatsLayer`](super::StatsLayer) counted them, summed over every route, and the share the
/// cache answered.
///
/// - Answered from the cache: `HIT` and `STALE` (a stored response served, the handler not run).
/// - Not answered: `MISS`, and `REVALIDATED`, which ran the handler (conditionally) before the
///   stored response could be used.
/// - Not counted: `BYPASS` (methods such as `PUT`, ranges, requests the layer's predicate or
///   key function declines, a failing store): the cache was not asked, so they are reported
///   apart in [`bypassed`](HttpRatio::bypassed). Responses without an `x-cache` header did not
///   go through the response cache and are left out too.
///
/// ```
/// use cache_axum::observe::{HttpRatio, HttpStats};
/// let http = HttpStats::new();
/// http.record("/posts", Some("MISS"));
/// for _ in 0..9 {
///     http.record("/posts", Some("HIT"));
/// }
/// http.record("/posts", Some("BYPASS"));
/// let r = HttpRatio::from_routes(&http.routes());
/// assert_eq!((r.answered, r.requests, r.bypassed), (9, 10, 1));
/// assert_eq!(r.ratio, 0.9);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct HttpRatio {
    /// Requests answered from the cache: `hit + stale`.
    pub answered: u64,
    /// Requests the cache was asked about: `hit + stale + miss + revalidated`.
    pub requests: u64,
    /// `answered / requests` (0 when `requests` is 0).
    pub ratio: f64,
    /// `x-cache: HIT`.
    pub hit: u64,
    /// `x-cache: STALE`: a stale response served (allowed by `stale-while-revalidate`,
    /// `stale-if-error` or the request's `max-stale`).
    pub stale: u64,
    /// `x-cache: MISS`.
    pub miss: u64,
    /// `x-cache: REVALIDATED`: the handler ran with the stored validators.
    pub revalidated: u64,
    /// `x-cache: BYPASS`, not in `requests`.
    pub bypassed: u64,
}

impl HttpRatio {
    /// Sums the routes' counts.
    ///
    /// ```
    /// let r = cache_axum::observe::HttpRatio::from_routes(&[]);
    /// assert_eq!((r.requests, r.ratio), (0, 0.0));
    /// ```
    pub fn from_routes(routes: &[RouteStats]) -> Self {
        let mut r = Self::default();
        for route in routes {
            r.hit = r.hit.saturating_add(route.hit);
            r.stale = r.stale.saturating_add(route.stale);
            r.miss = r.miss.saturating_add(route.miss);
            r.revalidated = r.revalidated.saturating_add(route.revalidated);
            r.bypassed = r.bypassed.saturating_add(route.bypass);
        }
        r.answered = r.hit.saturating_add(r.stale);
        r.requests = r
            .answered
            .saturating_add(r.miss)
            .saturating_add(r.revalidated);
        r.ratio = ratio(r.answered, r.requests);
        r
    }
}

/// What the [`Headline`] ratio counts.
///
/// ```
/// use cache_axum::observe::HeadlineBasis;
/// assert_eq!(serde_json::to_string(&HeadlineBasis::CacheLookups).unwrap(), "\"cache_lookups\"");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum HeadlineBasis {
    /// HTTP requests through the response cache ([`HttpRatio`]).
    Http,
    /// The cache's lookups (`Cache::stats`' hits and misses): no HTTP request was counted yet.
    CacheLookups,
}

/// The one hit ratio to show first, with what it counts: the [`HttpRatio`] once a request went
/// through the response cache, the cache's lookup ratio before that.
///
/// ```
/// use cache_axum::observe::{Headline, HeadlineBasis, HttpStats, StatsReport};
/// let http = HttpStats::new();
/// http.record("/posts", Some("HIT"));
/// http.record("/posts", Some("MISS"));
/// let report = StatsReport::collect(&cache_core::Cache::memory(), &http);
/// assert_eq!(report.headline.basis, HeadlineBasis::Http);
/// assert_eq!(report.headline.ratio, 0.5);
/// assert_eq!(report.headline.label, "HTTP: 1 of 2 requests answered from the cache");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Headline {
    /// `answered / of` (0 when `of` is 0).
    pub ratio: f64,
    /// What is counted.
    pub basis: HeadlineBasis,
    /// Requests answered from the cache, or lookups that found an entry.
    pub answered: u64,
    /// Requests the cache was asked about, or lookups.
    pub of: u64,
    /// The same in words, for the line under the number: "HTTP: 42 of 50 requests answered
    /// from the cache", "cache lookups: 3 of 4 found in the cache (no HTTP request yet)".
    pub label: String,
}

impl Headline {
    /// The headline for these HTTP counts and cache lookup counts.
    ///
    /// ```
    /// use cache_axum::observe::{Headline, HeadlineBasis, HttpRatio};
    /// let h = Headline::new(&HttpRatio::default(), 3, 1);
    /// assert_eq!((h.basis, h.ratio), (HeadlineBasis::CacheLookups, 0.75));
    /// ```
    pub fn new(http: &HttpRatio, lookup_hits: u64, lookup_misses: u64) -> Self {
        if http.requests > 0 || http.bypassed > 0 {
            let mut label = format!(
                "HTTP: {} of {} requests answered from the cache",
                http.answered, http.requests
            );
            if http.bypassed > 0 {
                label.push_str(&format!(
                    " ({} more bypassed it and are not counted)",
                    http.bypassed
                ));
            }
            return Self {
                ratio: http.ratio,
                basis: HeadlineBasis::Http,
                answered: http.answered,
                of: http.requests,
                label,
            };
        }
        let of = lookup_hits.saturating_add(lookup_misses);
        let label = if of == 0 {
            "no requests yet".to_owned()
        } else {
            format!(
                "cache lookups: {lookup_hits} of {of} found in the cache (no HTTP request through the response cache yet)"
            )
        };
        Self {
            ratio: ratio(lookup_hits, of),
            basis: HeadlineBasis::CacheLookups,
            answered: lookup_hits,
            of,
            label,
        }
    }
}

fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(hit: u64, miss: u64, stale: u64, bypass: u64, revalidated: u64) -> RouteStats {
        RouteStats {
            hit,
            miss,
            stale,
            bypass,
            revalidated,
            ..RouteStats::default()
        }
    }

    #[test]
    fn stale_is_answered_revalidated_is_not_and_bypass_is_apart() {
        let r = HttpRatio::from_routes(&[route(2, 1, 1, 5, 0), route(0, 0, 0, 0, 4)]);
        assert_eq!((r.answered, r.requests, r.bypassed), (3, 8, 5));
        assert_eq!(r.ratio, 3.0 / 8.0);
        let h = Headline::new(&r, 100, 0);
        assert_eq!(h.basis, HeadlineBasis::Http);
        assert_eq!(
            h.label,
            "HTTP: 3 of 8 requests answered from the cache (5 more bypassed it and are not counted)"
        );
    }

    #[test]
    fn lookups_only_until_an_http_request_is_counted() {
        let h = Headline::new(&HttpRatio::default(), 9, 1);
        assert_eq!(
            (h.basis, h.answered, h.of, h.ratio),
            (HeadlineBasis::CacheLookups, 9, 10, 0.9)
        );
        assert!(h.label.starts_with("cache lookups: 9 of 10"), "{}", h.label);
        let none = Headline::new(&HttpRatio::default(), 0, 0);
        assert_eq!((none.ratio, none.label.as_str()), (0.0, "no requests yet"));
        // Only bypassed requests: the HTTP basis, at 0 of 0.
        let bypassed = Headline::new(&HttpRatio::from_routes(&[route(0, 0, 0, 2, 0)]), 5, 0);
        assert_eq!(
            (bypassed.basis, bypassed.of, bypassed.ratio),
            (HeadlineBasis::Http, 0, 0.0)
        );
    }

    #[test]
    fn huge_counts_saturate_instead_of_overflowing() {
        let r = HttpRatio::from_routes(&[route(u64::MAX, u64::MAX, 1, 0, 0), route(1, 0, 0, 0, 0)]);
        assert_eq!(r.requests, u64::MAX);
        assert!(r.ratio <= 1.0);
    }
}
