//! Properties of the stored-value frame (`cache_core::__fuzz`, see `src/frame.rs`): any bytes
//! decode to a value or an error, never a panic; what is encoded decodes to itself, under any
//! compression threshold and signing key; a frame read under another key or another signing
//! key is refused. Bounded case counts for CI; the fuzz target `stored_frames` goes further.

use cache_core::__fuzz::{self, FrameOptions};
use proptest::prelude::*;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn options() -> impl Strategy<Value = FrameOptions> {
    (
        proptest::option::of(0usize..64),
        proptest::option::of(any::<[u8; 32]>()),
    )
        .prop_map(|(compress_over, signing_key)| FrameOptions {
            compress_over,
            signing_key,
        })
}

fn payload() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..200),
        // Repetitive payloads, which lz4 does shrink.
        (any::<u8>(), 0usize..2000).prop_map(|(b, n)| vec![b; n]),
    ]
}

fn stamps() -> impl Strategy<Value = Vec<(String, u64)>> {
    proptest::collection::vec((".{0,20}", any::<u64>()), 0..5)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn any_bytes_decode_to_a_value_or_an_error(
        opts in options(),
        key in ".{0,10}",
        bytes in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        let _ = __fuzz::frame_has_tag_stamps(&bytes);
        let _ = __fuzz::frame_decode(&opts, &key, &bytes);
    }

    #[test]
    fn corrupt_headers_of_real_frames_are_errors_or_values(
        opts in options(),
        payload in payload(),
        stamps in stamps(),
        at in any::<prop::sample::Index>(),
        byte in any::<u8>(),
    ) {
        let mut enc = __fuzz::frame_encode(&opts, "k", 1, Some(5), None, &stamps, &payload);
        let i = at.index(enc.len());
        enc[i] = byte;
        let _ = __fuzz::frame_decode(&opts, "k", &enc);
        enc.truncate(i);
        let _ = __fuzz::frame_decode(&opts, "k", &enc);
    }

    #[test]
    fn frames_roundtrip(
        opts in options(),
        key in ".{0,40}",
        codec_id in any::<u8>(),
        fresh_until_ms in proptest::option::of(any::<u64>()),
        ttl_ms in proptest::option::of(any::<u64>()),
        stamps in stamps(),
        payload in payload(),
    ) {
        let enc = __fuzz::frame_encode(&opts, &key, codec_id, fresh_until_ms, ttl_ms, &stamps, &payload);
        prop_assert_eq!(__fuzz::frame_has_tag_stamps(&enc), !stamps.is_empty());
        let dec = __fuzz::frame_decode(&opts, &key, &enc).unwrap();
        prop_assert_eq!(dec.codec_id, codec_id);
        prop_assert_eq!(dec.fresh_until_ms, fresh_until_ms);
        prop_assert_eq!(dec.ttl_ms, ttl_ms);
        prop_assert_eq!(&dec.tag_stamps, &stamps);
        prop_assert_eq!(&dec.payload, &payload);

        let with = __fuzz::frame_encode_with(&opts, &key, codec_id, ttl_ms, &stamps, &payload);
        let dec = __fuzz::frame_decode(&opts, &key, &with).unwrap();
        prop_assert_eq!(dec.ttl_ms, ttl_ms);
        prop_assert_eq!((dec.tag_stamps, dec.payload), (stamps, payload));
    }

    #[test]
    fn a_signed_frame_is_bound_to_its_key_and_signing_key(
        signing_key in any::<[u8; 32]>(),
        other in any::<[u8; 32]>(),
        key in ".{0,20}",
        other_key in ".{0,20}",
        payload in payload(),
    ) {
        let opts = FrameOptions { compress_over: Some(16), signing_key: Some(signing_key) };
        let enc = __fuzz::frame_encode(&opts, &key, 1, None, None, &[], &payload);
        if other_key != key {
            prop_assert!(__fuzz::frame_decode(&opts, &other_key, &enc).is_err());
        }
        if other != signing_key {
            let wrong = FrameOptions { signing_key: Some(other), ..opts };
            prop_assert!(__fuzz::frame_decode(&wrong, &key, &enc).is_err());
        }
        prop_assert!(__fuzz::frame_decode(&FrameOptions::default(), &key, &enc).is_err());
    }

    #[test]
    fn bare_integers_are_counters(n in any::<i64>()) {
        let text = n.to_string();
        let dec = __fuzz::frame_decode(&FrameOptions::default(), "k", text.as_bytes()).unwrap();
        prop_assert_eq!(dec.payload, text.into_bytes());
    }
}
