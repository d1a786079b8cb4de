//! Messages received on the invalidation bus (Redis pub/sub): any payload is an event or
//! ignored, never a panic; an instance's own messages are ignored, another's delivered as sent.
#![no_main]

use arbitrary::Arbitrary;
use cache_core::__fuzz;
use cache_core::store::{BusEvent, Invalidation};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum Message {
    Keys(Vec<String>),
    Pattern(String),
    Tags(Vec<String>),
    Version(String, u64),
}

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    payload: &'a [u8],
    origin: u64,
    me: u64,
    message: Message,
}

fuzz_target!(|input: Input<'_>| {
    let _ = __fuzz::bus_decode(input.payload, input.me);
    let _ = __fuzz::invalidation_from_json(input.payload);

    let message = match input.message {
        Message::Keys(k) => Invalidation::Keys(k),
        Message::Pattern(p) => Invalidation::Pattern(p),
        Message::Tags(t) => Invalidation::Tags(t),
        Message::Version(prefix, version) => Invalidation::Version { prefix, version },
    };
    let payload = __fuzz::bus_encode(input.origin, &message).expect("a message encodes");
    let got = __fuzz::bus_decode(payload.as_bytes(), input.me);
    if input.origin == input.me {
        assert_eq!(got, None);
    } else {
        assert_eq!(got, Some(BusEvent::Message(message)));
    }
});
