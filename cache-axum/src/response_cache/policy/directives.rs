//! `Cache-Control` (and `Pragma`) parsing, and the targeted fields of RFC 9213.
//!
//! Malformed input is read conservatively: an unparsable `max-age` or `s-maxage` makes the
//! response stale (RFC 9111 §4.2.1), and a qualified `private="…"` or `no-cache="…"` is treated
//! as the unqualified directive.

use http::header::{self, HeaderMap, HeaderName};

/// Delta-seconds larger than this are clamped (RFC 9111 §1.2.2).
pub(crate) const MAX_DELTA: u64 = 1 << 31;

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
pub(super) fn delta(value: Option<&str>) -> Result<u64, ()> {
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
        // Most requests carry neither field: two probes instead of two iterations.
        if !headers.contains_key(header::CACHE_CONTROL) && !headers.contains_key(header::PRAGMA) {
            return Self::default();
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::response_cache::policy::tests_support::headers;

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
}
