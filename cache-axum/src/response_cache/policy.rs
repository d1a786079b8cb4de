//! RFC 9111 policy: `Cache-Control` parsing, storability, freshness and age.
//!
//! Malformed input is read conservatively: an unparsable `max-age` or `s-maxage` makes the
//! response stale (RFC 9111 §4.2.1), an unparsable `Expires` is already expired (§5.3), and a
//! qualified `private="…"` or `no-cache="…"` is treated as the unqualified directive.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::header::{self, HeaderMap, HeaderName};
use http::StatusCode;

/// Delta-seconds larger than this are clamped (RFC 9111 §1.2.2).
const MAX_DELTA: u64 = 1 << 31;
/// The heuristic lifetime from `Last-Modified` is capped at one day.
const MAX_HEURISTIC: Duration = Duration::from_secs(86_400);

/// The directives of all `Cache-Control` fields of a message.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct CacheControl {
    pub(crate) no_store: bool,
    pub(crate) no_cache: bool,
    pub(crate) private: bool,
    pub(crate) public: bool,
    pub(crate) must_revalidate: bool,
    pub(crate) proxy_revalidate: bool,
    pub(crate) only_if_cached: bool,
    pub(crate) max_age: Option<u64>,
    pub(crate) s_maxage: Option<u64>,
    /// `Some(None)`: `max-stale` without a value (any staleness).
    pub(crate) max_stale: Option<Option<u64>>,
    pub(crate) min_fresh: Option<u64>,
    pub(crate) stale_while_revalidate: Option<u64>,
    pub(crate) stale_if_error: Option<u64>,
}

/// A directive value: `Ok(n)`, or `Err(())` when absent or malformed.
fn delta(value: Option<&str>) -> Result<u64, ()> {
    let v = value.ok_or(())?.trim_matches('"');
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(());
    }
    // All digits: only overflow can fail, and that clamps.
    Ok(v.parse::<u64>().unwrap_or(MAX_DELTA).min(MAX_DELTA))
}

/// Keeps the smaller of two values: a repeated directive is read conservatively.
fn keep_min(slot: &mut Option<u64>, v: u64) {
    *slot = Some(slot.map_or(v, |old| old.min(v)));
}

impl CacheControl {
    /// Parses every `Cache-Control` field (and `Pragma: no-cache` when there is none).
    pub(crate) fn parse(headers: &HeaderMap) -> Self {
        Self::parse_field(headers, &header::CACHE_CONTROL)
    }

    /// The directives of a targeted cache-control field (RFC 9213, such as
    /// `CDN-Cache-Control`), when the response carries it with a non-empty value: they replace
    /// `Cache-Control` and `Expires` for this cache.
    pub(crate) fn parse_targeted(headers: &HeaderMap, name: &HeaderName) -> Option<Self> {
        let present = headers
            .get_all(name)
            .iter()
            .any(|v| !v.as_bytes().trim_ascii().is_empty());
        present.then(|| Self::parse_field(headers, name))
    }

    fn parse_field(headers: &HeaderMap, field: &HeaderName) -> Self {
        let mut cc = CacheControl::default();
        let mut any = false;
        for value in headers.get_all(field) {
            any = true;
            let Ok(s) = value.to_str() else {
                // Not visible ASCII: unreadable directives, so trust nothing.
                cc.no_cache = true;
                continue;
            };
            for part in split_directives(s) {
                // `=` is ASCII, so slicing around it keeps both sides valid.
                let (name, val) = match part.bytes().position(|b| b == b'=') {
                    Some(i) => (part[..i].trim_ascii(), Some(part[i + 1..].trim_ascii())),
                    None => (part.trim_ascii(), None),
                };
                let Some(d) = Directive::named(name) else {
                    continue;
                };
                match d {
                    Directive::NoStore => cc.no_store = true,
                    Directive::NoCache => cc.no_cache = true,
                    Directive::Private => cc.private = true,
                    Directive::Public => cc.public = true,
                    Directive::MustRevalidate => cc.must_revalidate = true,
                    Directive::ProxyRevalidate => cc.proxy_revalidate = true,
                    Directive::OnlyIfCached => cc.only_if_cached = true,
                    // A malformed lifetime means "stale" (§4.2.1).
                    Directive::MaxAge => keep_min(&mut cc.max_age, delta(val).unwrap_or(0)),
                    Directive::SMaxage => keep_min(&mut cc.s_maxage, delta(val).unwrap_or(0)),
                    Directive::MinFresh => {
                        if let Ok(v) = delta(val) {
                            keep_min(&mut cc.min_fresh, v);
                        }
                    }
                    Directive::MaxStale => {
                        cc.max_stale = match (val, delta(val)) {
                            (None, _) => Some(None),
                            (Some(_), Ok(v)) => Some(Some(v)),
                            // Malformed: grant no extra staleness.
                            (Some(_), Err(())) => Some(Some(0)),
                        }
                    }
                    Directive::StaleWhileRevalidate => {
                        if let Ok(v) = delta(val) {
                            keep_min(&mut cc.stale_while_revalidate, v);
                        }
                    }
                    Directive::StaleIfError => {
                        if let Ok(v) = delta(val) {
                            keep_min(&mut cc.stale_if_error, v);
                        }
                    }
                }
            }
        }
        if !any
            && headers.get_all(header::PRAGMA).iter().any(|v| {
                v.to_str()
                    .is_ok_and(|s| s.to_ascii_lowercase().contains("no-cache"))
            })
        {
            cc.no_cache = true;
        }
        cc
    }

    /// Whether a stale response must not be served without revalidation (§4.2.4, §5.2.2.2,
    /// §5.2.2.8; `s-maxage` implies `proxy-revalidate` in a shared cache).
    pub(crate) fn forbids_stale(&self) -> bool {
        self.must_revalidate || self.proxy_revalidate || self.no_cache || self.s_maxage.is_some()
    }
}

/// Splits a `Cache-Control` value on commas outside quoted strings.
fn split_directives(s: &str) -> impl Iterator<Item = &str> {
    // Lazily, without collecting: this runs on every request and every stored response.
    let mut rest = Some(s);
    std::iter::from_fn(move || {
        let s = rest?;
        let mut quoted = false;
        for (i, b) in s.bytes().enumerate() {
            match b {
                b'"' => quoted = !quoted,
                b',' if !quoted => {
                    rest = Some(&s[i + 1..]);
                    return Some(&s[..i]);
                }
                _ => {}
            }
        }
        rest = None;
        Some(s)
    })
    .filter(|p| !p.trim_ascii().is_empty())
}

/// The `Cache-Control` directives this cache acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Directive {
    NoStore,
    NoCache,
    Private,
    Public,
    MustRevalidate,
    ProxyRevalidate,
    OnlyIfCached,
    MaxAge,
    SMaxage,
    MinFresh,
    MaxStale,
    StaleWhileRevalidate,
    StaleIfError,
}

impl Directive {
    /// The directive `name` names, in any case (RFC 9111 §5.2: names are case-insensitive).
    /// Dispatches on the length first: this runs for every directive of every request and
    /// stored response.
    fn named(name: &str) -> Option<Self> {
        let is = |known: &str| name.eq_ignore_ascii_case(known);
        let d = match name.len() {
            6 if is("public") => Self::Public,
            7 if is("max-age") => Self::MaxAge,
            7 if is("private") => Self::Private,
            8 if is("no-cache") => Self::NoCache,
            8 if is("no-store") => Self::NoStore,
            8 if is("s-maxage") => Self::SMaxage,
            9 if is("min-fresh") => Self::MinFresh,
            9 if is("max-stale") => Self::MaxStale,
            14 if is("only-if-cached") => Self::OnlyIfCached,
            14 if is("stale-if-error") => Self::StaleIfError,
            15 if is("must-revalidate") => Self::MustRevalidate,
            16 if is("proxy-revalidate") => Self::ProxyRevalidate,
            22 if is("stale-while-revalidate") => Self::StaleWhileRevalidate,
            _ => return None,
        };
        Some(d)
    }
}

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

/// Whether this cache understands a status well enough to store it: final, not partial, not 304.
pub(crate) fn understood(status: StatusCode) -> bool {
    !(status.is_informational()
        || status == StatusCode::PARTIAL_CONTENT
        || status == StatusCode::NOT_MODIFIED)
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

/// Whether a response may be stored, given the request it answers (RFC 9111 §3, §3.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Storable {
    Yes,
    No(&'static str),
}

/// Checks everything but the body size and the freshness outcome.
pub(crate) fn storable(
    req_headers: &HeaderMap,
    req_cc: &CacheControl,
    status: StatusCode,
    res_headers: &HeaderMap,
    res_cc: &CacheControl,
    store_set_cookie: bool,
) -> Storable {
    if !understood(status) {
        return Storable::No("status");
    }
    if req_cc.no_store || res_cc.no_store {
        return Storable::No("no-store");
    }
    if res_cc.private {
        return Storable::No("private");
    }
    if req_headers.contains_key(header::AUTHORIZATION) && !auth_ok(res_cc) {
        return Storable::No("authorization");
    }
    if !store_set_cookie && res_headers.contains_key(header::SET_COOKIE) {
        return Storable::No("set-cookie");
    }
    if vary_star(res_headers) {
        return Storable::No("vary: *");
    }
    Storable::Yes
}

/// Whether a response may be shared with requests that carry `Authorization` (§3.5).
pub(crate) fn auth_ok(cc: &CacheControl) -> bool {
    cc.public || cc.s_maxage.is_some() || cc.must_revalidate
}

/// The field names a response varies on, lowercased; `*` is reported by [`vary_star`].
pub(crate) fn vary_names(headers: &HeaderMap) -> Vec<HeaderName> {
    let mut names: Vec<HeaderName> = headers
        .get_all(header::VARY)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|s| s.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect();
    names.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    names.dedup();
    names
}

/// `Vary: *` (or an unreadable Vary, read the same way): never matches a later request.
pub(crate) fn vary_star(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::VARY)
        .iter()
        .any(|v| match v.to_str() {
            Ok(s) => s.split(',').any(|n| n.trim() == "*"),
            Err(_) => true,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

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
    use http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (n, v) in pairs {
            h.append(*n, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn parses_directives_with_quotes_case_and_repeats() {
        let cc = CacheControl::parse(&headers(&[
            ("cache-control", "Public, MAX-AGE=60, private=\"a, b\""),
            (
                "cache-control",
                "max-age=30, stale-while-revalidate=5, max-stale",
            ),
        ]));
        assert!(cc.public && cc.private);
        assert_eq!(cc.max_age, Some(30));
        assert_eq!(cc.stale_while_revalidate, Some(5));
        assert_eq!(cc.max_stale, Some(None));
    }

    #[test]
    fn malformed_lifetimes_are_stale_and_huge_ones_clamped() {
        let cc = CacheControl::parse(&headers(&[(
            "cache-control",
            "max-age=abc, s-maxage=99999999999999999999999",
        )]));
        assert_eq!(cc.max_age, Some(0));
        assert_eq!(cc.s_maxage, Some(MAX_DELTA));
        let cc = CacheControl::parse(&headers(&[("cache-control", "max-age=-5, min-fresh=x")]));
        assert_eq!(cc.max_age, Some(0));
        assert_eq!(cc.min_fresh, None);
    }

    #[test]
    fn pragma_no_cache_counts_only_without_cache_control() {
        assert!(CacheControl::parse(&headers(&[("pragma", "no-cache")])).no_cache);
        assert!(
            !CacheControl::parse(&headers(&[
                ("pragma", "no-cache"),
                ("cache-control", "max-age=1")
            ]))
            .no_cache
        );
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

    #[test]
    fn storability_rules() {
        let none = HeaderMap::new();
        let cc = |s: &'static str| CacheControl::parse(&headers(&[("cache-control", s)]));
        let plain = cc("max-age=60");
        assert_eq!(
            storable(&none, &plain, StatusCode::OK, &none, &plain, false),
            Storable::Yes
        );
        assert_eq!(
            storable(
                &none,
                &plain,
                StatusCode::OK,
                &none,
                &cc("private, max-age=60"),
                false
            ),
            Storable::No("private")
        );
        let auth = headers(&[("authorization", "Bearer x")]);
        assert_eq!(
            storable(&auth, &plain, StatusCode::OK, &none, &plain, false),
            Storable::No("authorization")
        );
        assert_eq!(
            storable(
                &auth,
                &plain,
                StatusCode::OK,
                &none,
                &cc("public, max-age=60"),
                false
            ),
            Storable::Yes
        );
        let cookie = headers(&[("set-cookie", "a=b")]);
        assert_eq!(
            storable(&none, &plain, StatusCode::OK, &cookie, &plain, false),
            Storable::No("set-cookie")
        );
        assert_eq!(
            storable(&none, &plain, StatusCode::OK, &cookie, &plain, true),
            Storable::Yes
        );
        let star = headers(&[("vary", "accept, *")]);
        assert_eq!(
            storable(&none, &plain, StatusCode::OK, &star, &plain, false),
            Storable::No("vary: *")
        );
        assert_eq!(
            storable(
                &none,
                &plain,
                StatusCode::PARTIAL_CONTENT,
                &none,
                &plain,
                false
            ),
            Storable::No("status")
        );
    }

    #[test]
    fn vary_names_are_lowercased_sorted_and_deduplicated() {
        let h = headers(&[("vary", "Accept-Encoding, accept"), ("vary", "ACCEPT")]);
        let names: Vec<_> = vary_names(&h)
            .iter()
            .map(|n| n.as_str().to_owned())
            .collect();
        assert_eq!(names, ["accept", "accept-encoding"]);
    }
}
