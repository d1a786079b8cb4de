//! A stored response as it is kept decoded beside its bytes in the store's entry, with a copy
//! per worker thread for the hit path.
//!
//! Serving a hit clones the response's header values and body: reference counts on the decoded
//! bytes. When every worker thread serves the same hot response from one decoded copy, those
//! counts are one cache line that bounces between cores on every request. Each thread therefore
//! serves from a copy of its own, decoded from its own copy of the bytes on its first hit; the
//! copies live in the same entry slot as the shared decoding, so any write, delete,
//! invalidation, expiry, eviction or version bump drops them with it. Responses above
//! [`MAX_REPLICATED`] bytes are served from the shared copy.

use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, OnceLock};

use bytes::Bytes;

use super::entry::{self, Entry, Record};

/// Copies one entry keeps at most (threads beyond share them in turn).
const REPLICAS: usize = 8;
/// The largest stored response that is copied per thread.
pub(super) const MAX_REPLICATED: usize = 64 * 1024;

/// A stored record, decoded, and its per-thread copies.
pub(crate) struct Decoded {
    pub(super) record: Record,
    bytes: Bytes,
    replicas: [OnceLock<Arc<Entry>>; REPLICAS],
}

impl Decoded {
    /// Decodes stored bytes.
    pub(super) fn decode(bytes: &Bytes) -> Option<Arc<Self>> {
        Some(Arc::new(Self {
            record: entry::decode(bytes.clone())?,
            bytes: bytes.clone(),
            replicas: Default::default(),
        }))
    }

    /// The response to serve on this thread: its own copy of `shared` (this record's response).
    pub(super) fn for_this_thread(&self, shared: &Arc<Entry>) -> Arc<Entry> {
        if self.bytes.len() > MAX_REPLICATED {
            return Arc::clone(shared);
        }
        let copy = self.replicas[stripe()].get_or_init(|| {
            // Its own bytes, so the reference counts its hits touch are this thread's.
            match entry::decode(Bytes::copy_from_slice(&self.bytes)) {
                Some(Record::Response(e)) => e,
                _ => Arc::clone(shared),
            }
        });
        Arc::clone(copy)
    }
}

/// This thread's replica index: threads take them in turn as they first serve.
fn stripe() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static STRIPE: Cell<usize> = const { Cell::new(usize::MAX) };
    }
    STRIPE
        .try_with(|s| {
            if s.get() == usize::MAX {
                s.set(NEXT.fetch_add(1, Relaxed) % REPLICAS);
            }
            s.get()
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{HeaderMap, HeaderValue, StatusCode};

    fn stored(body_len: usize) -> Bytes {
        let mut headers = HeaderMap::new();
        headers.insert("content-type", HeaderValue::from_static("text/plain"));
        Entry {
            status: StatusCode::OK,
            headers,
            body: Bytes::from(vec![7u8; body_len]),
            response_time_ms: 1,
            initial_age_ms: 0,
            lifetime_ms: 60_000,
            swr_ms: 0,
            sie_ms: 0,
            flags: 0,
            vary: Vec::new(),
            served: OnceLock::new(),
        }
        .encode()
    }

    #[test]
    fn threads_serve_their_own_copies_of_a_small_response() {
        let stored = stored(10);
        let d = Decoded::decode(&stored).unwrap();
        let Record::Response(shared) = &d.record else {
            panic!("a response")
        };
        let here = d.for_this_thread(shared);
        assert!(
            !Arc::ptr_eq(&here, shared),
            "a copy, not the shared decoding"
        );
        assert!(
            Arc::ptr_eq(&here, &d.for_this_thread(shared)),
            "the same copy again"
        );
        let there = std::thread::scope(|s| s.spawn(|| d.for_this_thread(shared)).join().unwrap());
        assert!(!Arc::ptr_eq(&here, &there), "another thread, another copy");
        assert_eq!(here.body, shared.body);
        // The copy's body bytes are not the stored ones.
        assert_ne!(here.body.as_ptr(), shared.body.as_ptr());
    }

    #[test]
    fn large_responses_are_served_from_the_shared_copy() {
        let stored = stored(MAX_REPLICATED + 1);
        let d = Decoded::decode(&stored).unwrap();
        let Record::Response(shared) = &d.record else {
            panic!("a response")
        };
        assert!(Arc::ptr_eq(&d.for_this_thread(shared), shared));
    }
}
