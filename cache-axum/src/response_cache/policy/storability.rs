//! Storability (RFC 9111 §3, §3.5): whether a response may be stored by a shared cache for
//! the request it answers, and what it varies on.

use http::header::{self, HeaderMap, HeaderName};
use http::StatusCode;

use super::directives::CacheControl;

/// Whether this cache understands a status well enough to store it: final, not partial, not 304.
pub(crate) fn understood(status: StatusCode) -> bool {
    !(status.is_informational()
        || status == StatusCode::PARTIAL_CONTENT
        || status == StatusCode::NOT_MODIFIED)
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
    use crate::response_cache::policy::tests_support::headers;

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
