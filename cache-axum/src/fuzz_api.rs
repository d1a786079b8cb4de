//! Entry points to the parsers and decoders that read untrusted input, for the property tests
//! (`tests/properties_*.rs`) and the `cargo fuzz` targets (`fuzz/`). **Not a public API**: it
//! is hidden from the docs and may change or go away in any release.
//!
//! Each function is a thin call of the crate's own code: HTTP dates, `If-None-Match` and
//! `If-Match` lists and the conditional checks here; `Cache-Control`, `Age`, freshness, `Vary`,
//! `Range` and the stored-entry codec from the response cache.
//!
//! ```
//! use cache_axum::__fuzz;
//! assert!(__fuzz::parse_date("Sun, 06 Nov 1994 08:49:37 GMT").is_some());
//! ```

use std::time::SystemTime;

use http::header::{HeaderMap, HeaderName};
use http::Method;

pub use crate::response_cache::fuzz_api::*;

/// Parses an HTTP date leniently (all three formats, common mistakes).
pub fn parse_date(s: &str) -> Option<SystemTime> {
    crate::date::parse(s)
}

/// Formats a time as an IMF-fixdate, as the layers write dates.
pub fn format_date(t: SystemTime) -> String {
    httpdate::fmt_http_date(t)
}

/// A parsed `If-None-Match`/`If-Match` field: `None` if absent, `Some(Err(()))` if malformed,
/// `Some(Ok(None))` for `*`, otherwise the entity-tags as sent.
#[allow(clippy::type_complexity, clippy::option_option)]
pub fn etag_list(
    headers: &HeaderMap,
    name: &HeaderName,
) -> Option<Result<Option<Vec<String>>, ()>> {
    Some(
        crate::conditional::parse_list(headers, name)?.map(|list| match list {
            crate::conditional::EtagList::Any => None,
            crate::conditional::EtagList::Tags(tags) => Some(tags),
        }),
    )
}

/// Whether `If-None-Match` matches the current entity-tag (weak comparison), and whether
/// `If-Match` holds for it (strong comparison): `None` when the field is absent or malformed.
pub fn etag_conditions(request: &HeaderMap, current: Option<&str>) -> (Option<bool>, Option<bool>) {
    let check = |name: &HeaderName, strong: bool| {
        let list = crate::conditional::parse_list(request, name)?.ok()?;
        Some(if strong {
            list.match_holds(current)
        } else {
            list.none_match_hits(current)
        })
    };
    (
        check(&http::header::IF_NONE_MATCH, false),
        check(&http::header::IF_MATCH, true),
    )
}

/// Whether a request is answered `304 Not Modified` by a `200` with `response` fields (as the
/// ETag layer decides, and as the response cache decides for a stored response).
pub fn is_not_modified(method: &Method, request: &HeaderMap, response: &HeaderMap) -> (bool, bool) {
    (
        crate::conditional::is_not_modified(method, request, response),
        crate::conditional::is_not_modified_stored(method, request, response),
    )
}

/// Weak and strong comparison of two entity-tags.
pub fn etag_eq(a: &str, b: &str) -> (bool, bool) {
    (
        crate::conditional::weak_eq(a, b),
        crate::conditional::strong_eq(a, b),
    )
}
