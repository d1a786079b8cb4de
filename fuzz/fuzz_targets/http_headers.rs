//! HTTP request and response fields: `Cache-Control` (and `CDN-Cache-Control`, `Pragma`),
//! `Age`, `Date`/`Expires`/`Last-Modified`, `Vary`, `Range`/`If-Range`, `If-None-Match`,
//! `If-Match`, `If-Modified-Since`. No input may panic; a date that parses formats and parses
//! back to itself; a range answer is a slice of the body.
#![no_main]

use arbitrary::Arbitrary;
use bytes::Bytes;
use cache_axum::__fuzz::{self, RangeAnswer};
use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::Method;
use libfuzzer_sys::fuzz_target;

const NAMES: [&str; 17] = [
    "cache-control",
    "cdn-cache-control",
    "pragma",
    "age",
    "date",
    "expires",
    "last-modified",
    "vary",
    "range",
    "if-range",
    "if-none-match",
    "if-match",
    "if-modified-since",
    "etag",
    "accept",
    "accept-encoding",
    "accept-language",
];

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    response: Vec<(u8, &'a [u8])>,
    request: Vec<(u8, &'a [u8])>,
    status: u16,
    now_ms: u64,
    head: bool,
    body: &'a [u8],
    etag: Option<&'a str>,
    date: &'a str,
    tags: (&'a str, &'a str),
}

fn fields(pairs: &[(u8, &[u8])]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (n, v) in pairs {
        if let Ok(v) = HeaderValue::from_bytes(v) {
            h.append(NAMES[usize::from(*n) % NAMES.len()], v);
        }
    }
    h
}

fuzz_target!(|input: Input<'_>| {
    let res = fields(&input.response);
    let req = fields(&input.request);
    let now = input.now_ms;

    let _ = __fuzz::cache_control(&res);
    let _ = __fuzz::cache_control(&req);
    let _ = __fuzz::targeted_cache_control(&res, &HeaderName::from_static("cdn-cache-control"));
    let _ = __fuzz::freshness(input.status, &res, now);
    let _ = __fuzz::initial_age_ms(&res, now / 2, now);

    let (names, _star) = __fuzz::vary(&res);
    for name in &names {
        let _ = __fuzz::vary_field_value(&req, name);
    }

    let method = if input.head {
        Method::HEAD
    } else {
        Method::GET
    };
    let body = Bytes::copy_from_slice(input.body);
    match __fuzz::range(&method, &req, &res, body.clone()) {
        RangeAnswer::Whole => {}
        RangeAnswer::Partial(content_range, part) => {
            assert!(!part.is_empty() && part.len() <= body.len());
            assert!(content_range.starts_with("bytes "), "{content_range}");
        }
        RangeAnswer::Unsatisfiable(content_range) => {
            assert_eq!(content_range, format!("bytes */{}", body.len()));
        }
    }

    if let Some(t) = __fuzz::parse_date(input.date) {
        let text = __fuzz::format_date(t);
        assert_eq!(__fuzz::parse_date(&text), Some(t), "{text}");
    }

    for name in [http::header::IF_NONE_MATCH, http::header::IF_MATCH] {
        if let Some(Ok(Some(tags))) = __fuzz::etag_list(&req, &name) {
            for t in &tags {
                // Every tag parsed is a quoted tag, weak or strong.
                assert!(
                    t.ends_with('"') && (t.starts_with('"') || t.starts_with("W/\"")),
                    "{t}"
                );
            }
        }
    }
    let _ = __fuzz::etag_conditions(&req, input.etag);
    let _ = __fuzz::is_not_modified(&method, &req, &res);
    let (weak, strong) = __fuzz::etag_eq(input.tags.0, input.tags.1);
    assert!(!strong || weak);
});
