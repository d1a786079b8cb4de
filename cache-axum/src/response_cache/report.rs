//! What the cache tells clients about how it handled a request: the status field (`x-cache`:
//! `HIT`, `MISS`, ...) and, when enabled, `Cache-Status` (RFC 9211) with the reason a request
//! went to the inner service, whether the response was stored, its remaining freshness and
//! its key.

use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::StatusCode;

use super::config::Config;

/// What the status field reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Status {
    Hit,
    Miss,
    Stale,
    Bypass,
    Revalidated,
}

impl Status {
    pub(super) fn value(self) -> HeaderValue {
        // Constants: `from_static` checks its bytes when called at run time.
        const HIT: HeaderValue = HeaderValue::from_static("HIT");
        const MISS: HeaderValue = HeaderValue::from_static("MISS");
        const STALE: HeaderValue = HeaderValue::from_static("STALE");
        const BYPASS: HeaderValue = HeaderValue::from_static("BYPASS");
        const REVALIDATED: HeaderValue = HeaderValue::from_static("REVALIDATED");
        match self {
            Status::Hit => HIT,
            Status::Miss => MISS,
            Status::Stale => STALE,
            Status::Bypass => BYPASS,
            Status::Revalidated => REVALIDATED,
        }
    }
}

/// Why a request went to the inner service (RFC 9211 §2.2, `fwd`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Fwd {
    /// Not for this cache: a predicate said no, no key, a precondition it does not evaluate.
    Bypass,
    /// A method this cache does not answer.
    Method,
    /// Nothing stored for the URI.
    UriMiss,
    /// Responses stored for the URI, none for this request's `Vary` values.
    VaryMiss,
    /// A usable stored response, but the request did not allow its use (its directives, or
    /// `Authorization` on a response that may not answer it).
    Request,
    /// The stored response was stale (or must be revalidated before every use).
    Stale,
    /// A range not stored: the inner service answered it.
    Partial,
}

impl Fwd {
    fn token(self) -> &'static str {
        match self {
            Fwd::Bypass => "bypass",
            Fwd::Method => "method",
            Fwd::UriMiss => "uri-miss",
            Fwd::VaryMiss => "vary-miss",
            Fwd::Request => "request",
            Fwd::Stale => "stale",
            Fwd::Partial => "partial",
        }
    }
}

/// How one request was handled, for the status field and `Cache-Status`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Report<'a> {
    pub(super) status: Status,
    /// Answered from the cache without the inner service.
    pub(super) hit: bool,
    pub(super) fwd: Option<Fwd>,
    /// The inner service's status, when it differs from the response's (a 304 on
    /// revalidation, an error answered with a stale response).
    pub(super) fwd_status: Option<StatusCode>,
    pub(super) stored: bool,
    /// Remaining freshness in seconds (negative: stale).
    pub(super) ttl_s: Option<i64>,
    pub(super) key: Option<&'a str>,
    pub(super) detail: Option<&'static str>,
}

impl<'a> Report<'a> {
    /// Served from the cache (fresh, or stale when allowed).
    pub(super) fn hit(status: Status) -> Self {
        Self::new(status, true, None)
    }

    /// Sent to the inner service, for `why`.
    pub(super) fn forwarded(status: Status, why: Fwd) -> Self {
        Self::new(status, false, Some(why))
    }

    /// Neither served from the cache nor sent on (a 504 for `only-if-cached`): `detail` says
    /// why.
    pub(super) fn unanswered(detail: &'static str) -> Self {
        Self::new(Status::Miss, false, None).detail(detail)
    }

    fn new(status: Status, hit: bool, fwd: Option<Fwd>) -> Self {
        Self {
            status,
            hit,
            fwd,
            fwd_status: None,
            stored: false,
            ttl_s: None,
            key: None,
            detail: None,
        }
    }

    pub(super) fn stored(mut self, stored: bool) -> Self {
        self.stored = stored;
        self
    }

    pub(super) fn fwd_status(mut self, status: StatusCode) -> Self {
        self.fwd_status = Some(status);
        self
    }

    pub(super) fn key(mut self, key: &'a str) -> Self {
        self.key = Some(key);
        self
    }

    pub(super) fn detail(mut self, detail: &'static str) -> Self {
        self.detail = Some(detail);
        self
    }

    /// The remaining freshness of a response of `lifetime_ms` that is `age_ms` old, in whole
    /// seconds as `Age` shows them: `max-age=60` with `Age: 1` has `ttl=59`.
    pub(super) fn ttl(mut self, lifetime_ms: u64, age_ms: u64) -> Self {
        let secs = |v: u64| i64::try_from(v / 1000).unwrap_or(i64::MAX);
        self.ttl_s = Some(secs(lifetime_ms) - secs(age_ms));
        self
    }

    /// Adds the status field and `Cache-Status` as configured.
    pub(super) fn write(&self, cfg: &Config, headers: &mut HeaderMap) {
        if let Some(name) = &cfg.status_header {
            headers.insert(name.clone(), self.status.value());
        }
        self.write_cache_status(cfg, headers);
    }

    /// Adds `Cache-Status` if enabled: this cache's member, after those of the caches behind it.
    pub(super) fn write_cache_status(&self, cfg: &Config, headers: &mut HeaderMap) {
        let Some(name) = &cfg.cache_status else {
            return;
        };
        let key = self.key.filter(|_| cfg.cache_status_key);
        if let Ok(v) = HeaderValue::from_str(&self.member(name, key)) {
            headers.append(CACHE_STATUS, v);
        }
    }

    /// The list member (RFC 9211 §2): the cache's name and the parameters that apply.
    fn member(&self, name: &str, key: Option<&str>) -> String {
        use std::fmt::Write as _;
        let mut m = String::with_capacity(64);
        m.push_str(name);
        if self.hit {
            m.push_str("; hit");
        }
        if let Some(fwd) = self.fwd {
            let _ = write!(m, "; fwd={}", fwd.token());
        }
        if let Some(code) = self.fwd_status {
            let _ = write!(m, "; fwd-status={}", code.as_u16());
        }
        if self.stored {
            m.push_str("; stored");
        }
        if let Some(secs) = self.ttl_s {
            let _ = write!(m, "; ttl={secs}");
        }
        if let Some(k) = key {
            m.push_str("; key=");
            push_sf_string(&mut m, k);
        }
        if let Some(d) = self.detail {
            let _ = write!(m, "; detail={d}");
        }
        m
    }
}

/// `Cache-Status` (RFC 9211).
pub(super) const CACHE_STATUS: HeaderName = HeaderName::from_static("cache-status");

/// The cache's name as a list member: a structured-field token as it is, anything else as a
/// string (RFC 8941); `None` when it cannot be written in a field (control characters or
/// non-ASCII).
pub(super) fn member_name(name: &str) -> Option<String> {
    let first_ok = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '*');
    let token_ok = first_ok
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~:/".contains(c));
    if token_ok {
        return Some(name.to_owned());
    }
    if !name.chars().all(|c| (' '..='~').contains(&c)) {
        return None;
    }
    let mut s = String::with_capacity(name.len() + 2);
    push_sf_string(&mut s, name);
    Some(s)
}

/// Appends `s` as a structured-field string; characters a string cannot hold become `?`.
fn push_sf_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            ' '..='~' => out.push(c),
            _ => out.push('?'),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_carry_the_parameters_that_apply() {
        let hit = Report::hit(Status::Hit).ttl(60_000, 1_500);
        assert_eq!(hit.member("edge", None), "edge; hit; ttl=59");
        let stale = Report::hit(Status::Stale).ttl(1_000, 3_500);
        assert_eq!(stale.member("edge", None), "edge; hit; ttl=-2");
        let miss = Report::forwarded(Status::Miss, Fwd::VaryMiss)
            .stored(true)
            .ttl(10_000, 0)
            .key("rc:/a\"b");
        assert_eq!(
            miss.member("edge", miss.key),
            "edge; fwd=vary-miss; stored; ttl=10; key=\"rc:/a\\\"b\""
        );
        let revalidated = Report::forwarded(Status::Revalidated, Fwd::Stale)
            .fwd_status(StatusCode::NOT_MODIFIED)
            .stored(true);
        assert_eq!(
            revalidated.member("edge", None),
            "edge; fwd=stale; fwd-status=304; stored"
        );
        let refused = Report::unanswered("only-if-cached");
        assert_eq!(refused.member("edge", None), "edge; detail=only-if-cached");
    }

    #[test]
    fn names_are_tokens_or_strings() {
        assert_eq!(member_name("cache-axum").as_deref(), Some("cache-axum"));
        assert_eq!(member_name("my cache").as_deref(), Some("\"my cache\""));
        assert_eq!(member_name("1st").as_deref(), Some("\"1st\""));
        assert_eq!(member_name("bad\nname"), None);
        assert_eq!(member_name("café"), None);
    }
}
