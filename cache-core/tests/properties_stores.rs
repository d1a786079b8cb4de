//! Properties of what the stores read back from servers: invalidation bus messages (Redis
//! pub/sub) and Memcached items. Any payload is an event or ignored, never a panic; an
//! instance's own messages are ignored and another's delivered as sent; what the Memcached
//! store writes reads back with its lifetime. Bounded case counts for CI; the fuzz targets
//! `bus_messages` and `stored_frames` go further.

use cache_core::__fuzz;
use cache_core::store::Invalidation;
use proptest::prelude::*;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn invalidation() -> impl Strategy<Value = Invalidation> {
    prop_oneof![
        proptest::collection::vec(".{0,12}", 0..4).prop_map(Invalidation::Keys),
        ".{0,12}".prop_map(Invalidation::Pattern),
        proptest::collection::vec(".{0,12}", 0..4).prop_map(Invalidation::Tags),
        (".{0,12}", any::<u64>())
            .prop_map(|(prefix, version)| Invalidation::Version { prefix, version }),
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn any_json_is_an_invalidation_or_not(bytes in proptest::collection::vec(any::<u8>(), 0..100)) {
        let _ = __fuzz::invalidation_from_json(&bytes);
    }

    #[test]
    fn invalidations_roundtrip_as_json(m in invalidation()) {
        let json = serde_json::to_vec(&m).unwrap();
        prop_assert_eq!(__fuzz::invalidation_from_json(&json), Some(m));
    }
}

#[cfg(feature = "redis")]
mod bus {
    use cache_core::__fuzz;
    use cache_core::store::BusEvent;
    use proptest::prelude::*;

    use super::{config, invalidation};

    proptest! {
        #![proptest_config(config())]

        #[test]
        fn any_payload_is_an_event_or_ignored(
            bytes in proptest::collection::vec(any::<u8>(), 0..200),
            me in any::<u64>(),
        ) {
            let _ = __fuzz::bus_decode(&bytes, me);
        }

        #[test]
        fn messages_reach_every_other_instance_as_sent(
            m in invalidation(),
            origin in any::<u64>(),
            me in any::<u64>(),
        ) {
            let payload = __fuzz::bus_encode(origin, &m).unwrap();
            prop_assert_eq!(__fuzz::bus_decode(payload.as_bytes(), origin), None);
            let got = __fuzz::bus_decode(payload.as_bytes(), me);
            prop_assert_eq!(got, (me != origin).then_some(BusEvent::Message(m)));
        }

        #[test]
        fn mangled_payloads_are_ignored_or_events(
            m in invalidation(),
            at in any::<prop::sample::Index>(),
            byte in any::<u8>(),
        ) {
            let mut payload = __fuzz::bus_encode(1, &m).unwrap().into_bytes();
            let i = at.index(payload.len());
            payload[i] = byte;
            let _ = __fuzz::bus_decode(&payload, 2);
            payload.truncate(i);
            prop_assert_eq!(__fuzz::bus_decode(&payload, 2), None);
        }
    }
}

#[cfg(feature = "memcached")]
mod memcached {
    use std::time::Duration;

    use cache_core::{__fuzz, KeyTtl};
    use proptest::prelude::*;

    use super::config;

    proptest! {
        #![proptest_config(config())]

        #[test]
        fn any_item_reads_without_a_panic(
            data in proptest::collection::vec(any::<u8>(), 0..40),
            flags in prop_oneof![Just(0x00c4_0001u32), any::<u32>()],
            now in any::<u64>(),
        ) {
            let _ = __fuzz::memcached_read(&data, flags, now);
        }

        #[test]
        fn items_read_back_until_their_deadline(
            value in proptest::collection::vec(any::<u8>(), 0..40),
            ttl_ms in proptest::option::of(1u64..10_000_000_000),
            now in 0u64..4_000_000_000_000,
            later in 0u64..20_000_000_000,
        ) {
            let ttl = ttl_ms.map(Duration::from_millis);
            let (data, flags, exptime) = __fuzz::memcached_item(&value, ttl, now);
            prop_assert!(exptime >= 0);
            let read = __fuzz::memcached_read(&data, flags, now + later);
            match ttl_ms {
                None => prop_assert_eq!(read, Some((value, KeyTtl::Persistent))),
                Some(ms) if later < ms => prop_assert_eq!(
                    read,
                    Some((value, KeyTtl::Expires(Duration::from_millis(ms - later))))
                ),
                Some(_) => prop_assert_eq!(read, None),
            }
        }

        #[test]
        fn wire_keys_are_what_the_protocol_allows(key in ".{0,300}") {
            let w = __fuzz::memcached_wire_key(&key);
            prop_assert!(!w.is_empty() && w.len() <= 250);
            prop_assert!(w.bytes().all(|b| (0x21..=0x7e).contains(&b)), "{}", w);
        }
    }
}
