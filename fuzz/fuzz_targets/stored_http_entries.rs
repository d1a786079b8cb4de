//! Stored HTTP responses and variants records (the response cache's binary entry format). Any
//! bytes decode to a record or `None`, never a panic; a decoded record encodes to bytes that
//! decode to the same record.
#![no_main]

use bytes::Bytes;
use cache_axum::__fuzz::{self, StoredRecord};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Fuzz inputs rarely start with the magic and format: try them as they are and behind it.
    for bytes in [data.to_vec(), [b"RC\x01".as_slice(), data].concat()] {
        let Some(record) = __fuzz::decode_record(Bytes::from(bytes)) else {
            continue;
        };
        let again = match &record {
            StoredRecord::Response(r) => __fuzz::encode_response(r),
            StoredRecord::Variants(names) => __fuzz::encode_variants(names),
        };
        assert_eq!(__fuzz::decode_record(again), Some(record));
    }
});
