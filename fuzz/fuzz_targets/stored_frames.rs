//! Stored values: the frame every cache value is written in (header, soft expiry, tag stamps,
//! lz4, blake3 MAC) and the Memcached store's items (a deadline in front of the value). Any
//! bytes decode to a value or an error, never a panic; what is encoded decodes to itself.
#![no_main]

use std::time::Duration;

use arbitrary::Arbitrary;
use cache_core::__fuzz::{self, FrameOptions};
use cache_core::KeyTtl;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    compress_over: Option<u16>,
    signing_key: Option<[u8; 32]>,
    key: &'a str,
    codec_id: u8,
    fresh_until_ms: Option<u64>,
    stamps: Vec<(String, u64)>,
    payload: &'a [u8],
    stored: &'a [u8],
    flags: u32,
    ttl_ms: Option<u64>,
    now_ms: u64,
}

fuzz_target!(|input: Input<'_>| {
    let opts = FrameOptions {
        compress_over: input.compress_over.map(usize::from),
        signing_key: input.signing_key,
    };
    // Foreign or corrupt bytes: an error or a value, never a panic.
    let _ = __fuzz::frame_has_tag_stamps(input.stored);
    let _ = __fuzz::frame_decode(&opts, input.key, input.stored);
    let _ = __fuzz::frame_decode(&FrameOptions::default(), input.key, input.stored);

    // Round trip (at most 255 stamps: the cache refuses more tags).
    let stamps: Vec<(String, u64)> = input.stamps.into_iter().take(255).collect();
    let enc = __fuzz::frame_encode(
        &opts,
        input.key,
        input.codec_id,
        input.fresh_until_ms,
        input.ttl_ms,
        &stamps,
        input.payload,
    );
    let dec = __fuzz::frame_decode(&opts, input.key, &enc).expect("an encoded frame decodes");
    assert_eq!(dec.codec_id, input.codec_id);
    assert_eq!(dec.fresh_until_ms, input.fresh_until_ms);
    assert_eq!(dec.ttl_ms, input.ttl_ms);
    assert_eq!(dec.tag_stamps, stamps);
    assert_eq!(dec.payload, input.payload);
    assert_eq!(__fuzz::frame_has_tag_stamps(&enc), !stamps.is_empty());
    let with = __fuzz::frame_encode_with(
        &opts,
        input.key,
        input.codec_id,
        input.ttl_ms,
        &stamps,
        input.payload,
    );
    let dec = __fuzz::frame_decode(&opts, input.key, &with).expect("an encoded frame decodes");
    assert_eq!(
        (dec.payload.as_slice(), dec.tag_stamps),
        (input.payload, stamps)
    );

    // Memcached items: any stored data and flags read without a panic; what the store writes
    // reads back with its lifetime until its deadline.
    let _ = __fuzz::memcached_read(input.stored, input.flags, input.now_ms);
    let ttl = input.ttl_ms.map(Duration::from_millis);
    let (data, flags, exptime) = __fuzz::memcached_item(input.payload, ttl, input.now_ms);
    assert!(exptime >= 0);
    match (ttl, __fuzz::memcached_read(&data, flags, input.now_ms)) {
        (None, Some((v, KeyTtl::Persistent))) => assert_eq!(v, input.payload),
        (Some(ttl), Some((v, KeyTtl::Expires(left)))) => {
            assert_eq!(v, input.payload);
            assert!(left <= ttl);
        }
        // A zero TTL, or a deadline past u64::MAX ms, is already expired.
        (Some(ttl), None) => assert!(
            ttl.is_zero()
                || input
                    .now_ms
                    .checked_add(input.ttl_ms.unwrap_or(0))
                    .is_none()
        ),
        (ttl, read) => panic!("{ttl:?} read as {read:?}"),
    }
});
