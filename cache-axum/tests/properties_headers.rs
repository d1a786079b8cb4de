//! Properties of the response cache's field parsers: `Cache-Control` (and `CDN-Cache-Control`,
//! `Pragma`), `Age`, HTTP dates, `Vary` and `Range`. Any field values parse without a panic;
//! directives written out are read back (with RFC 9111's clamping and conservative repeats);
//! dates format and parse back; a range answer is the slice of the body it names. Bounded case
//! counts for CI; the fuzz target `http_headers` goes further.

use std::time::{Duration, UNIX_EPOCH};

use bytes::Bytes;
use cache_axum::__fuzz::{self, Directives, RangeAnswer};
use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::Method;
use proptest::prelude::*;

/// Delta-seconds above 2^31 are clamped (RFC 9111 §1.2.2).
const MAX_DELTA: u64 = 1 << 31;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Field-value text rich in the characters the parsers split on, and any bytes a field may
/// hold (visible ASCII, tabs, spaces and obs-text).
fn value() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(
        prop_oneof![
            3 => proptest::sample::select(b",;=\"- \t*/W0123456789".to_vec()),
            2 => proptest::sample::select(b"max-agesno-cachpublicrvbyt".to_vec()),
            1 => 0x20u8..=0x7e,
            1 => 0x80u8..=0xff,
        ],
        0..40,
    )
}

fn headers(name: &'static str, values: &[Vec<u8>]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for v in values {
        h.append(name, HeaderValue::from_bytes(v).unwrap());
    }
    h
}

fn secs() -> impl Strategy<Value = u64> {
    prop_oneof![0u64..1000, any::<u64>()]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn any_cache_control_parses(values in proptest::collection::vec(value(), 0..3)) {
        for name in ["cache-control", "pragma", "cdn-cache-control"] {
            let h = headers(name, &values);
            let cc = __fuzz::cache_control(&h);
            let _ = __fuzz::targeted_cache_control(&h, &HeaderName::from_static("cdn-cache-control"));
            for v in [cc.max_age, cc.s_maxage, cc.min_fresh, cc.stale_while_revalidate, cc.stale_if_error].into_iter().flatten() {
                prop_assert!(v <= MAX_DELTA);
            }
            let _ = __fuzz::freshness(200, &h, 1_700_000_000_000);
        }
    }

    #[test]
    fn written_directives_are_read_back(
        max_age in proptest::option::of(secs()),
        s_maxage in proptest::option::of(secs()),
        swr in proptest::option::of(secs()),
        flags in any::<[bool; 4]>(),
        upper in any::<bool>(),
        quoted in any::<bool>(),
        repeat in proptest::option::of(secs()),
    ) {
        let q = |n: u64| if quoted { format!("\"{n}\"") } else { n.to_string() };
        let mut parts = Vec::new();
        if let Some(n) = max_age { parts.push(format!("max-age={}", q(n))); }
        if let Some(n) = s_maxage { parts.push(format!("s-maxage = {}", q(n))); }
        if let Some(n) = swr { parts.push(format!("stale-while-revalidate={}", q(n))); }
        for (on, name) in flags.iter().zip(["no-store", "no-cache", "private=\"a, b\"", "public"]) {
            if *on { parts.push(name.to_owned()); }
        }
        let mut text = parts.join(", ");
        if upper { text = text.to_ascii_uppercase(); }
        let mut values = vec![text.into_bytes()];
        if let Some(n) = repeat { values.push(format!("max-age={n}").into_bytes()); }
        let cc = __fuzz::cache_control(&headers("cache-control", &values));
        let clamp = |n: u64| n.min(MAX_DELTA);
        let max_age = match (max_age, repeat) {
            (Some(a), Some(b)) => Some(clamp(a).min(clamp(b))),
            (a, b) => a.or(b).map(clamp),
        };
        let want = Directives {
            no_store: flags[0],
            no_cache: flags[1],
            private: flags[2],
            public: flags[3],
            max_age,
            s_maxage: s_maxage.map(clamp),
            stale_while_revalidate: swr.map(clamp),
            ..Directives::default()
        };
        prop_assert_eq!(cc, want);
    }

    #[test]
    fn age_is_read_or_taken_as_stale(v in value(), n in secs()) {
        let mut h = HeaderMap::new();
        h.insert("age", HeaderValue::from_bytes(&v).unwrap());
        let age = __fuzz::initial_age_ms(&h, 0, 0);
        prop_assert!(age <= MAX_DELTA * 1000);
        h.insert("age", HeaderValue::from_str(&n.to_string()).unwrap());
        prop_assert_eq!(__fuzz::initial_age_ms(&h, 0, 0), n.min(MAX_DELTA) * 1000);
    }

    #[test]
    fn any_date_text_parses_or_not(s in "[A-Za-z0-9 ,:-]{0,40}", v in value()) {
        let _ = __fuzz::parse_date(&s);
        let _ = __fuzz::parse_date(&String::from_utf8_lossy(&v));
    }

    #[test]
    fn dates_format_and_parse_back(secs in 0u64..253_402_300_799) {
        let t = UNIX_EPOCH + Duration::from_secs(secs);
        let text = __fuzz::format_date(t);
        prop_assert_eq!(__fuzz::parse_date(&text), Some(t));
        prop_assert_eq!(__fuzz::parse_date(&text.to_ascii_lowercase()), Some(t));
        // The obsolete formats are read too (RFC 9110 §5.6.7), whatever the weekday says.
        let wrong_day = format!("Mon{}", &text[3..]);
        prop_assert_eq!(__fuzz::parse_date(&wrong_day), Some(t));
    }

    #[test]
    fn expires_and_date_give_the_lifetime(date in 0u64..4_000_000_000, ahead in 0u64..1_000_000) {
        let at = |s: u64| __fuzz::format_date(UNIX_EPOCH + Duration::from_secs(s));
        let mut h = HeaderMap::new();
        h.insert("date", HeaderValue::from_str(&at(date)).unwrap());
        h.insert("expires", HeaderValue::from_str(&at(date + ahead)).unwrap());
        let (lifetime, _, _) = __fuzz::freshness(200, &h, 0);
        prop_assert_eq!(lifetime, Some(ahead * 1000));
    }

    #[test]
    fn any_vary_parses(values in proptest::collection::vec(value(), 0..3), request in proptest::collection::vec(value(), 0..3)) {
        let (names, _star) = __fuzz::vary(&headers("vary", &values));
        let mut sorted = names.clone();
        sorted.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        sorted.dedup();
        prop_assert_eq!(&sorted, &names);
        for name in ["accept", "accept-encoding", "accept-language", "x-tenant"] {
            let _ = __fuzz::vary_field_value(&headers(name, &request), &HeaderName::from_static(name));
        }
    }

    #[test]
    fn vary_names_and_star_are_read(names in proptest::collection::vec("[a-z][a-z-]{0,8}", 0..4), star in any::<bool>()) {
        let mut text = names.join(", ");
        if star { text.push_str(", *"); }
        let (got, got_star) = __fuzz::vary(&headers("vary", &[text.into_bytes()]));
        let mut want = names.clone();
        want.sort();
        want.dedup();
        // `*` is a token too; whether it is there is what `vary` reports beside the names.
        let got: Vec<String> = got.iter().map(|n| n.as_str().to_owned()).filter(|n| n != "*").collect();
        prop_assert_eq!(got, want);
        prop_assert_eq!(got_star, star);
    }

    #[test]
    fn equivalent_accept_values_match_one_variant(tokens in proptest::collection::vec("[a-z]{1,5}(;q=0\\.[0-9])?", 1..4)) {
        let name = HeaderName::from_static("accept-encoding");
        let plain = headers("accept-encoding", &[tokens.join(",").into_bytes()]);
        let mut reversed = tokens.clone();
        reversed.reverse();
        let spaced = headers("accept-encoding", &[reversed.join(" ,  ").to_ascii_uppercase().into_bytes()]);
        prop_assert_eq!(__fuzz::vary_field_value(&plain, &name), __fuzz::vary_field_value(&spaced, &name));
    }

    #[test]
    fn any_range_is_answered_in_bounds(v in value(), if_range in proptest::option::of(value()), len in 0usize..64) {
        let body = Bytes::from(vec![7u8; len]);
        let mut req = HeaderMap::new();
        req.insert("range", HeaderValue::from_bytes(&v).unwrap());
        if let Some(ir) = if_range {
            req.insert("if-range", HeaderValue::from_bytes(&ir).unwrap());
        }
        let mut stored = HeaderMap::new();
        stored.insert("etag", HeaderValue::from_static("\"x\""));
        match __fuzz::range(&Method::GET, &req, &stored, body) {
            RangeAnswer::Whole => {}
            RangeAnswer::Partial(_, part) => prop_assert!(!part.is_empty() && part.len() <= len),
            RangeAnswer::Unsatisfiable(cr) => prop_assert_eq!(cr, format!("bytes */{len}")),
        }
    }

    #[test]
    fn byte_ranges_give_the_bytes_they_name(body in proptest::collection::vec(any::<u8>(), 1..64), a in 0u64..80, b in 0u64..80, suffix in any::<bool>()) {
        let len = body.len() as u64;
        let spec = if suffix { format!("bytes=-{a}") } else { format!("bytes={}-{}", a.min(b), a.max(b)) };
        let mut req = HeaderMap::new();
        req.insert("range", HeaderValue::from_str(&spec).unwrap());
        let got = __fuzz::range(&Method::GET, &req, &HeaderMap::new(), Bytes::from(body.clone()));
        let (start, end) = if suffix { (len.saturating_sub(a), len - 1) } else { (a.min(b), a.max(b).min(len - 1)) };
        if (suffix && a == 0) || (!suffix && a.min(b) >= len) {
            prop_assert_eq!(got, RangeAnswer::Unsatisfiable(format!("bytes */{len}")));
        } else {
            prop_assert_eq!(got, RangeAnswer::Partial(
                format!("bytes {start}-{end}/{len}"),
                Bytes::copy_from_slice(&body[start as usize..=end as usize]),
            ));
        }
        // HEAD, or a weak If-Range, gets the whole response.
        prop_assert_eq!(__fuzz::range(&Method::HEAD, &req, &HeaderMap::new(), Bytes::from(body.clone())), RangeAnswer::Whole);
        req.insert("if-range", HeaderValue::from_static("W/\"x\""));
        prop_assert_eq!(__fuzz::range(&Method::GET, &req, &HeaderMap::new(), Bytes::from(body)), RangeAnswer::Whole);
    }
}

#[test]
fn the_epoch_and_the_last_representable_second_format() {
    for secs in [0, 253_402_300_799] {
        let t = UNIX_EPOCH + Duration::from_secs(secs);
        assert_eq!(__fuzz::parse_date(&__fuzz::format_date(t)), Some(t));
    }
}
