//! Properties of conditional requests: `If-None-Match` and `If-Match` lists (and
//! `If-Modified-Since`) parse without a panic; lists written out are read back; weak and strong
//! comparison follow RFC 9110 §8.8.3.2. Bounded case counts for CI; the fuzz target
//! `http_headers` goes further.

use cache_axum::__fuzz;
use http::header::{HeaderMap, HeaderValue, IF_MATCH, IF_NONE_MATCH};
use http::Method;
use proptest::prelude::*;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn value() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(
        prop_oneof![
            3 => proptest::sample::select(b"\"W/,* \tabc".to_vec()),
            1 => 0x20u8..=0x7e,
            1 => 0x80u8..=0xff,
        ],
        0..30,
    )
}

/// An entity-tag: `"opaque"` or `W/"opaque"`.
fn etag() -> impl Strategy<Value = String> {
    (any::<bool>(), "[a-zA-Z0-9!#-~]{0,8}").prop_map(|(weak, o)| {
        let o = o.replace('"', "");
        if weak {
            format!("W/\"{o}\"")
        } else {
            format!("\"{o}\"")
        }
    })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn any_list_parses_or_is_malformed(
        values in proptest::collection::vec(value(), 0..3),
        current in proptest::option::of(etag()),
        response in proptest::collection::vec((0usize..3, value()), 0..3),
    ) {
        let mut req = HeaderMap::new();
        for v in &values {
            let v = HeaderValue::from_bytes(v).unwrap();
            req.append(IF_NONE_MATCH, v.clone());
            req.append(IF_MATCH, v.clone());
            req.append("if-modified-since", v);
        }
        for name in [IF_NONE_MATCH, IF_MATCH] {
            if let Some(Ok(Some(tags))) = __fuzz::etag_list(&req, &name) {
                for t in tags {
                    prop_assert!(t.ends_with('"') && (t.starts_with('"') || t.starts_with("W/\"")), "{}", t);
                }
            }
        }
        let _ = __fuzz::etag_conditions(&req, current.as_deref());
        let mut res = HeaderMap::new();
        for (i, v) in response {
            let name = ["etag", "last-modified", "date"][i];
            res.append(name, HeaderValue::from_bytes(&v).unwrap());
        }
        let _ = __fuzz::is_not_modified(&Method::GET, &req, &res);
    }

    #[test]
    fn written_lists_are_read_back(tags in proptest::collection::vec(etag(), 1..5), sep in "[ \t]{0,2},[ \t]{0,2}") {
        let mut req = HeaderMap::new();
        req.insert(IF_NONE_MATCH, HeaderValue::from_str(&tags.join(&sep)).unwrap());
        prop_assert_eq!(__fuzz::etag_list(&req, &IF_NONE_MATCH), Some(Ok(Some(tags))));
        req.insert(IF_MATCH, HeaderValue::from_static(" * "));
        prop_assert_eq!(__fuzz::etag_list(&req, &IF_MATCH), Some(Ok(None)));
    }

    #[test]
    fn comparisons_follow_the_rfc(a in etag(), b in etag()) {
        let opaque = |t: &str| t.trim_start_matches("W/").to_owned();
        let (weak, strong) = __fuzz::etag_eq(&a, &b);
        prop_assert_eq!(weak, opaque(&a) == opaque(&b));
        prop_assert_eq!(strong, a == b && !a.starts_with("W/"));

        let mut req = HeaderMap::new();
        req.insert(IF_NONE_MATCH, HeaderValue::from_str(&a).unwrap());
        req.insert(IF_MATCH, HeaderValue::from_str(&a).unwrap());
        prop_assert_eq!(__fuzz::etag_conditions(&req, Some(&b)), (Some(weak), Some(strong)));
        let mut res = HeaderMap::new();
        res.insert("etag", HeaderValue::from_str(&b).unwrap());
        let mut get = HeaderMap::new();
        get.insert(IF_NONE_MATCH, HeaderValue::from_str(&a).unwrap());
        prop_assert_eq!(__fuzz::is_not_modified(&Method::GET, &get, &res), (weak, weak));
        prop_assert_eq!(__fuzz::is_not_modified(&Method::POST, &get, &res), (false, false));
    }
}
