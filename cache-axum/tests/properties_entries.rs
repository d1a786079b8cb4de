//! Properties of the response cache's stored entries (`src/response_cache/entry.rs`): any bytes
//! decode to a record or nothing, never a panic; responses and variants records round-trip;
//! every truncation or extension of a record is refused. Bounded case counts for CI; the fuzz
//! target `stored_http_entries` goes further.

use bytes::Bytes;
use cache_axum::__fuzz::{self, StoredRecord, StoredResponse};
use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::StatusCode;
use proptest::prelude::*;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn name() -> impl Strategy<Value = HeaderName> {
    "[a-z][a-z0-9-]{0,12}".prop_map(|n| HeaderName::from_bytes(n.as_bytes()).unwrap())
}

fn value() -> impl Strategy<Value = HeaderValue> {
    proptest::collection::vec(
        prop_oneof![0x20u8..=0x7e, Just(b'\t'), 0x80u8..=0xff],
        0..24,
    )
    .prop_map(|v| HeaderValue::from_bytes(&v).unwrap())
}

fn response() -> impl Strategy<Value = StoredResponse> {
    (
        100u16..1000,
        proptest::collection::vec((name(), value()), 0..6),
        proptest::collection::vec(any::<u8>(), 0..200),
        any::<[u64; 5]>(),
        any::<u8>(),
        proptest::collection::vec((name(), proptest::option::of(value())), 0..3),
    )
        .prop_map(|(status, fields, body, times, flags, vary)| {
            let mut headers = HeaderMap::new();
            for (n, v) in fields {
                headers.append(n, v);
            }
            StoredResponse {
                status: StatusCode::from_u16(status).unwrap(),
                headers,
                body: Bytes::from(body),
                response_time_ms: times[0],
                initial_age_ms: times[1],
                lifetime_ms: times[2],
                swr_ms: times[3],
                sie_ms: times[4],
                flags,
                vary,
            }
        })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn any_bytes_decode_to_a_record_or_nothing(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = __fuzz::decode_record(Bytes::from(bytes.clone()));
        let mut behind_magic = b"RC\x01".to_vec();
        behind_magic.extend_from_slice(&bytes);
        let _ = __fuzz::decode_record(Bytes::from(behind_magic));
    }

    #[test]
    fn responses_roundtrip(r in response()) {
        let bytes = __fuzz::encode_response(&r);
        prop_assert_eq!(__fuzz::decode_record(bytes), Some(StoredRecord::Response(r)));
    }

    #[test]
    fn variants_roundtrip(names in proptest::collection::vec(name(), 0..6)) {
        let bytes = __fuzz::encode_variants(&names);
        prop_assert_eq!(__fuzz::decode_record(bytes), Some(StoredRecord::Variants(names)));
    }

    #[test]
    fn truncated_extended_or_flipped_records_never_panic(
        r in response(),
        at in any::<prop::sample::Index>(),
        byte in any::<u8>(),
    ) {
        let bytes = __fuzz::encode_response(&r);
        let i = at.index(bytes.len());
        prop_assert_eq!(__fuzz::decode_record(bytes.slice(..i)), None);
        let mut longer = bytes.to_vec();
        longer.push(byte);
        prop_assert_eq!(__fuzz::decode_record(Bytes::from(longer)), None);
        let mut flipped = bytes.to_vec();
        flipped[i] = byte;
        if let Some(StoredRecord::Response(d)) = __fuzz::decode_record(Bytes::from(flipped)) {
            // Whatever a corrupt record decodes to encodes and decodes to itself.
            let again = __fuzz::encode_response(&d);
            prop_assert_eq!(__fuzz::decode_record(again), Some(StoredRecord::Response(d)));
        }
    }
}
