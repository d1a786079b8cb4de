//! The response cache's parsers and stored-entry codec, reached from `cache_axum::__fuzz`
//! (see there). Not a public API.

use std::sync::OnceLock;

use bytes::Bytes;
use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::{Method, StatusCode};

use super::entry::{self, Entry, Record};
use super::policy::{self, CacheControl, FreshnessOptions};
use super::range::{self, Ranged};

/// The `Cache-Control` directives this cache acts on, as parsed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Directives {
    /// `no-store`
    pub no_store: bool,
    /// `no-cache`
    pub no_cache: bool,
    /// `private`
    pub private: bool,
    /// `public`
    pub public: bool,
    /// `must-revalidate`
    pub must_revalidate: bool,
    /// `proxy-revalidate`
    pub proxy_revalidate: bool,
    /// `only-if-cached`
    pub only_if_cached: bool,
    /// `max-age`
    pub max_age: Option<u64>,
    /// `s-maxage`
    pub s_maxage: Option<u64>,
    /// `max-stale` (`Some(None)`: without a value)
    pub max_stale: Option<Option<u64>>,
    /// `min-fresh`
    pub min_fresh: Option<u64>,
    /// `stale-while-revalidate`
    pub stale_while_revalidate: Option<u64>,
    /// `stale-if-error`
    pub stale_if_error: Option<u64>,
}

impl From<CacheControl> for Directives {
    fn from(c: CacheControl) -> Self {
        Self {
            no_store: c.no_store,
            no_cache: c.no_cache,
            private: c.private,
            public: c.public,
            must_revalidate: c.must_revalidate,
            proxy_revalidate: c.proxy_revalidate,
            only_if_cached: c.only_if_cached,
            max_age: c.max_age,
            s_maxage: c.s_maxage,
            max_stale: c.max_stale,
            min_fresh: c.min_fresh,
            stale_while_revalidate: c.stale_while_revalidate,
            stale_if_error: c.stale_if_error,
        }
    }
}

/// The `Cache-Control` (or `Pragma`) directives of a message.
pub fn cache_control(headers: &HeaderMap) -> Directives {
    CacheControl::parse(headers).into()
}

/// The directives of a targeted field (RFC 9213) such as `CDN-Cache-Control`, when present.
pub fn targeted_cache_control(headers: &HeaderMap, name: &HeaderName) -> Option<Directives> {
    CacheControl::parse_targeted(headers, name).map(Into::into)
}

/// The freshness of a response received at `response_time_ms`: lifetime (`None`: no freshness
/// information), stale-while-revalidate and stale-if-error windows, all in milliseconds; with
/// the `Last-Modified` heuristic on.
pub fn freshness(
    status: u16,
    headers: &HeaderMap,
    response_time_ms: u64,
) -> (Option<u64>, u64, u64) {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    let cc = CacheControl::parse(headers);
    let opts = FreshnessOptions {
        default_ttl: None,
        last_modified_heuristic: true,
    };
    let f = policy::freshness(status, headers, &cc, response_time_ms, opts);
    (f.lifetime_ms, f.swr_ms, f.sie_ms)
}

/// The corrected initial age (ms) of a response (RFC 9111 §4.2.3): reads `Age` and `Date`.
pub fn initial_age_ms(headers: &HeaderMap, request_time_ms: u64, response_time_ms: u64) -> u64 {
    policy::initial_age_ms(headers, request_time_ms, response_time_ms)
}

/// The field names a response varies on, and whether it varies on `*`.
pub fn vary(headers: &HeaderMap) -> (Vec<HeaderName>, bool) {
    (
        policy::vary_names(headers),
        policy::storable(
            &HeaderMap::new(),
            &CacheControl::default(),
            StatusCode::OK,
            headers,
            &CacheControl::default(),
            true,
        ) == policy::Storable::No("vary: *"),
    )
}

/// The normalized value of a request field for `Vary` matching.
pub fn vary_field_value(headers: &HeaderMap, name: &HeaderName) -> Option<HeaderValue> {
    super::keys::field_value(headers, name)
}

/// What a `Range` request gets from a stored `200` with `stored` fields and `body`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RangeAnswer {
    /// No range: the whole response.
    Whole,
    /// A `206` with its `Content-Range` and bytes.
    Partial(String, Bytes),
    /// A `416` with its `Content-Range`.
    Unsatisfiable(String),
}

/// Answers a request's `Range` (and `If-Range`) from a stored complete `200`.
pub fn range(method: &Method, request: &HeaderMap, stored: &HeaderMap, body: Bytes) -> RangeAnswer {
    let e = Entry {
        status: StatusCode::OK,
        headers: stored.clone(),
        body: body.clone(),
        response_time_ms: 0,
        initial_age_ms: 0,
        lifetime_ms: 0,
        swr_ms: 0,
        sie_ms: 0,
        flags: 0,
        vary: Vec::new(),
        served: OnceLock::new(),
    };
    let Some(r) = range::ranged(&e, method, request) else {
        return RangeAnswer::Whole;
    };
    let (status, headers, part) = range::apply(r, stored.clone(), body);
    let content_range = headers
        .get(http::header::CONTENT_RANGE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    match r {
        Ranged::Part(..) => {
            debug_assert_eq!(status, StatusCode::PARTIAL_CONTENT);
            RangeAnswer::Partial(content_range, part)
        }
        Ranged::Unsatisfiable => RangeAnswer::Unsatisfiable(content_range),
    }
}

/// A stored response, field by field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    /// Its status.
    pub status: StatusCode,
    /// Its fields.
    pub headers: HeaderMap,
    /// Its body.
    pub body: Bytes,
    /// When it was received (Unix ms).
    pub response_time_ms: u64,
    /// Its corrected initial age (ms).
    pub initial_age_ms: u64,
    /// Its freshness lifetime (ms).
    pub lifetime_ms: u64,
    /// Its stale-while-revalidate window (ms).
    pub swr_ms: u64,
    /// Its stale-if-error window (ms).
    pub sie_ms: u64,
    /// Its flags (bits of the stored format).
    pub flags: u8,
    /// The request's values of the fields it varies on.
    pub vary: Vec<(HeaderName, Option<HeaderValue>)>,
}

/// What stored bytes decode to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoredRecord {
    /// A response.
    Response(StoredResponse),
    /// The field names the responses of a URI vary on.
    Variants(Vec<HeaderName>),
}

/// Encodes a response as the cache stores it.
pub fn encode_response(r: &StoredResponse) -> Bytes {
    let e = Entry {
        status: r.status,
        headers: r.headers.clone(),
        body: r.body.clone(),
        response_time_ms: r.response_time_ms,
        initial_age_ms: r.initial_age_ms,
        lifetime_ms: r.lifetime_ms,
        swr_ms: r.swr_ms,
        sie_ms: r.sie_ms,
        flags: r.flags,
        vary: r.vary.clone(),
        served: OnceLock::new(),
    };
    let mut b = Vec::with_capacity(e.encoded_len());
    e.encode_into(&mut b);
    Bytes::from(b)
}

/// Encodes a variants record.
pub fn encode_variants(names: &[HeaderName]) -> Bytes {
    entry::encode_variants(names)
}

/// Decodes stored bytes; `None` for anything that is not a record. A decoded response is also
/// prepared for serving (its served fields built), as a hit does.
pub fn decode_record(bytes: Bytes) -> Option<StoredRecord> {
    Some(match entry::decode(bytes)? {
        Record::Response(e) => {
            let status = HeaderName::from_static("x-cache");
            let _ = e.served_headers(Some(&status), None);
            StoredRecord::Response(StoredResponse {
                status: e.status,
                headers: e.headers.clone(),
                body: e.body.clone(),
                response_time_ms: e.response_time_ms,
                initial_age_ms: e.initial_age_ms,
                lifetime_ms: e.lifetime_ms,
                swr_ms: e.swr_ms,
                sie_ms: e.sie_ms,
                flags: e.flags,
                vary: e.vary.clone(),
            })
        }
        Record::Variants(names) => StoredRecord::Variants(names.to_vec()),
    })
}
