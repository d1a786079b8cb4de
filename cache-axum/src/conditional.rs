//! Conditional requests (RFC 9110 §13): entity-tag lists, comparison and 304 responses.
//! Shared by [`EtagLayer`](crate::EtagLayer) and [`ResponseCacheLayer`](crate::ResponseCacheLayer).

use http::header::{self, HeaderMap, HeaderName};
use http::{Method, StatusCode};

/// A parsed `If-None-Match` or `If-Match` field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum EtagList {
    /// `*`
    Any,
    /// Entity-tags as sent, e.g. `"abc"` or `W/"abc"`.
    Tags(Vec<String>),
}

/// Parses every field of `name` into one list. `None` if absent; `Err(())` if malformed.
pub(crate) fn parse_list(headers: &HeaderMap, name: &HeaderName) -> Option<Result<EtagList, ()>> {
    let mut values = headers.get_all(name).iter().peekable();
    values.peek()?;
    let mut tags = Vec::new();
    for v in values {
        let Ok(s) = v.to_str() else {
            return Some(Err(()));
        };
        if s.trim() == "*" {
            return Some(Ok(EtagList::Any));
        }
        if parse_tags(s, &mut tags).is_err() {
            return Some(Err(()));
        }
    }
    Some(Ok(EtagList::Tags(tags)))
}

/// Parses `#entity-tag` (commas may appear inside a quoted tag).
fn parse_tags(s: &str, out: &mut Vec<String>) -> Result<(), ()> {
    let mut rest = s.trim_start_matches([' ', '\t', ',']);
    while !rest.is_empty() {
        let (weak, body) = match rest.strip_prefix("W/") {
            Some(b) => (true, b),
            None => (false, rest),
        };
        let body = body.strip_prefix('"').ok_or(())?;
        let end = body.find('"').ok_or(())?;
        let opaque = &body[..end];
        if !opaque
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x7E).contains(&b) || b >= 0x80)
        {
            return Err(());
        }
        out.push(format!("{}\"{opaque}\"", if weak { "W/" } else { "" }));
        rest = body[end + 1..].trim_start_matches([' ', '\t']);
        match rest.strip_prefix(',') {
            Some(r) => rest = r.trim_start_matches([' ', '\t', ',']),
            None if rest.is_empty() => {}
            None => return Err(()),
        }
    }
    Ok(())
}

fn opaque(tag: &str) -> (bool, &str) {
    match tag.strip_prefix("W/") {
        Some(t) => (true, t),
        None => (false, tag),
    }
}

/// Weak comparison: the opaque tags match, weak or not.
pub(crate) fn weak_eq(a: &str, b: &str) -> bool {
    opaque(a).1 == opaque(b).1
}

/// Strong comparison: both strong and the opaque tags match.
pub(crate) fn strong_eq(a: &str, b: &str) -> bool {
    let (wa, ta) = opaque(a);
    let (wb, tb) = opaque(b);
    !wa && !wb && ta == tb
}

impl EtagList {
    /// `If-None-Match` matches (so the condition is false): weak comparison (§13.1.2).
    pub(crate) fn none_match_hits(&self, current: Option<&str>) -> bool {
        match (self, current) {
            (EtagList::Any, Some(_)) => true,
            (EtagList::Tags(tags), Some(cur)) => tags.iter().any(|t| weak_eq(t, cur)),
            (_, None) => false,
        }
    }

    /// `If-Match` holds: strong comparison (§13.1.1).
    pub(crate) fn match_holds(&self, current: Option<&str>) -> bool {
        match (self, current) {
            (EtagList::Any, Some(_)) => true,
            (EtagList::Tags(tags), Some(cur)) => tags.iter().any(|t| strong_eq(t, cur)),
            (_, None) => false,
        }
    }
}

/// Whether a `GET`/`HEAD` request's conditions are met by a 200 response with these headers, so
/// it can be answered `304 Not Modified` (§13.1.2, §13.1.3, in the order of §13.2.2).
pub(crate) fn is_not_modified(method: &Method, req: &HeaderMap, res: &HeaderMap) -> bool {
    not_modified_since(method, req, res, false)
}

/// [`is_not_modified`] for a response a cache stored: one without `Last-Modified` is dated by
/// its `Date` for `If-Modified-Since` (RFC 9111 §4.3.2).
pub(crate) fn is_not_modified_stored(method: &Method, req: &HeaderMap, res: &HeaderMap) -> bool {
    not_modified_since(method, req, res, true)
}

fn not_modified_since(
    method: &Method,
    req: &HeaderMap,
    res: &HeaderMap,
    date_fallback: bool,
) -> bool {
    if method != Method::GET && method != Method::HEAD {
        return false;
    }
    let etag = res.get(header::ETAG).and_then(|v| v.to_str().ok());
    match parse_list(req, &header::IF_NONE_MATCH) {
        Some(Ok(list)) => list.none_match_hits(etag),
        // A malformed If-None-Match: answer in full, never a wrong 304.
        Some(Err(())) => false,
        None => {
            let date = |h: &HeaderMap, n: &HeaderName| {
                h.get(n)
                    .and_then(|v| v.to_str().ok())
                    .and_then(crate::date::parse)
            };
            let modified = date(res, &header::LAST_MODIFIED).or_else(|| {
                (date_fallback && !res.contains_key(header::LAST_MODIFIED))
                    .then(|| date(res, &header::DATE))
                    .flatten()
            });
            match (date(req, &header::IF_MODIFIED_SINCE), modified) {
                (Some(since), Some(modified)) => modified <= since,
                _ => false,
            }
        }
    }
}

/// The fields a 304 carries from the 200 it stands for (RFC 9110 §15.4.5).
const NOT_MODIFIED_FIELDS: [HeaderName; 7] = [
    header::CACHE_CONTROL,
    header::CONTENT_LOCATION,
    header::DATE,
    header::ETAG,
    header::EXPIRES,
    header::VARY,
    header::LAST_MODIFIED,
];

/// Builds the headers of a 304 from those of the 200: the fields of §15.4.5, plus
/// `Last-Modified` when there is no `ETag`.
pub(crate) fn not_modified_headers(full: &HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::with_capacity(8);
    for name in NOT_MODIFIED_FIELDS {
        if name == header::LAST_MODIFIED && full.contains_key(header::ETAG) {
            continue;
        }
        for v in full.get_all(&name) {
            out.append(name.clone(), v.clone());
        }
    }
    out
}

/// Builds a 304 response from the headers of the 200 it stands for.
pub(crate) fn not_modified<B: Default>(full: &HeaderMap) -> http::Response<B> {
    let mut res = http::Response::new(B::default());
    *res.status_mut() = StatusCode::NOT_MODIFIED;
    *res.headers_mut() = not_modified_headers(full);
    res
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn req(name: &'static str, v: &'static str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(name, HeaderValue::from_static(v));
        h
    }

    #[test]
    fn parses_lists_star_weak_and_commas_inside_tags() {
        let h = req("if-none-match", r#"W/"a", "b,c" ,"d""#);
        let Some(Ok(EtagList::Tags(t))) = parse_list(&h, &header::IF_NONE_MATCH) else {
            panic!()
        };
        assert_eq!(t, [r#"W/"a""#, r#""b,c""#, r#""d""#]);
        assert_eq!(
            parse_list(&req("if-match", "*"), &header::IF_MATCH),
            Some(Ok(EtagList::Any))
        );
        assert_eq!(parse_list(&HeaderMap::new(), &header::IF_MATCH), None);
        for bad in ["abc", r#""unterminated"#, r#""a" "b""#, "W/abc"] {
            let h = req("if-none-match", bad);
            assert_eq!(
                parse_list(&h, &header::IF_NONE_MATCH),
                Some(Err(())),
                "{bad}"
            );
        }
    }

    #[test]
    fn weak_and_strong_comparison_follow_rfc_9110_table() {
        assert!(!strong_eq(r#"W/"1""#, r#"W/"1""#));
        assert!(weak_eq(r#"W/"1""#, r#"W/"1""#));
        assert!(!strong_eq(r#"W/"1""#, r#"W/"2""#));
        assert!(!weak_eq(r#"W/"1""#, r#"W/"2""#));
        assert!(!strong_eq(r#"W/"1""#, r#""1""#));
        assert!(weak_eq(r#"W/"1""#, r#""1""#));
        assert!(strong_eq(r#""1""#, r#""1""#));
    }

    #[test]
    fn not_modified_uses_etag_first_then_dates() {
        let res = {
            let mut h = req("etag", r#""v1""#);
            h.insert(
                "last-modified",
                HeaderValue::from_static("Sun, 06 Nov 1994 08:49:37 GMT"),
            );
            h
        };
        assert!(is_not_modified(
            &Method::GET,
            &req("if-none-match", r#"W/"v1""#),
            &res
        ));
        assert!(!is_not_modified(
            &Method::GET,
            &req("if-none-match", r#""v2""#),
            &res
        ));
        assert!(!is_not_modified(
            &Method::POST,
            &req("if-none-match", "*"),
            &res
        ));
        assert!(!is_not_modified(
            &Method::GET,
            &req("if-none-match", "garbage"),
            &res
        ));
        let ims = req("if-modified-since", "Sun, 06 Nov 1994 08:49:37 GMT");
        assert!(is_not_modified(&Method::GET, &ims, &res));
        let early = req("if-modified-since", "Sun, 06 Nov 1994 08:00:00 GMT");
        assert!(!is_not_modified(&Method::GET, &early, &res));
        assert!(!is_not_modified(
            &Method::GET,
            &req("if-modified-since", "yesterday"),
            &res
        ));
    }

    #[test]
    fn not_modified_keeps_only_the_listed_fields() {
        let mut full = req("etag", r#""v1""#);
        full.insert("cache-control", HeaderValue::from_static("max-age=5"));
        full.insert("content-type", HeaderValue::from_static("text/plain"));
        full.insert(
            "last-modified",
            HeaderValue::from_static("Sun, 06 Nov 1994 08:49:37 GMT"),
        );
        let h = not_modified_headers(&full);
        assert!(h.contains_key("etag") && h.contains_key("cache-control"));
        assert!(!h.contains_key("content-type") && !h.contains_key("last-modified"));
    }
}
