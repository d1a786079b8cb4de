//! Key templates, key escaping, warmer templates, glob patterns, namespace prefixes, long keys,
//! TTL strings, the SQL store's LIKE patterns and the Memcached store's wire keys. No input may
//! panic; an escaped value never widens a key or a pattern and comes back through a template.
#![no_main]

use arbitrary::Arbitrary;
use cache_core::key::{self, Template};
use cache_core::{__fuzz, pattern, WarmArgs};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    template: &'a str,
    value: &'a str,
    pattern: &'a str,
    text: &'a str,
}

fuzz_target!(|input: Input<'_>| {
    // Key templates: any text parses or is an error; a parsed one renders with any values.
    if let Ok(t) = Template::parse(input.template) {
        let rendered = t.render(|_| Some(input.value.to_owned()));
        assert!(rendered.is_ok());
    }

    // Escaping: no special character survives, and the value comes back through a template.
    let escaped = key::escape(input.value);
    assert!(!escaped.contains([':', '*', '?', '[', ']', '{', '}', ' ', '\\']));
    let k = format!("user:{escaped}:x");
    let args = WarmArgs::from_template("user:{id}:x", &k).expect("an escaped value matches");
    assert_eq!(args.get("id"), Some(input.value));
    // Any template against any key: a match or not, no panic. (Bounded: templates are the
    // developer's, keys come from the store.)
    if input.template.len() <= 64 && input.text.len() <= 256 {
        let _ = WarmArgs::from_template(input.template, input.text);
    }

    // Globs.
    let _ = pattern::validate(input.pattern);
    let _ = pattern::matches(input.pattern, input.text);
    let lit = pattern::escape_literal(input.value);
    assert!(pattern::validate(&lit).is_ok());
    assert!(pattern::matches(&lit, input.value));
    let prefixed = format!("{lit}*");
    assert!(pattern::matches(
        &prefixed,
        &format!("{}{}", input.value, input.text)
    ));
    for backend in ["postgres", "mysql", "sqlite"] {
        let _ = __fuzz::sql_like_pattern(backend, input.pattern);
    }

    // Prefixes, long keys, wire keys, TTLs.
    let _ = __fuzz::validate_prefix(input.text);
    let short = key::shorten(input.text);
    assert!(short.len() <= key::MAX_KEY_LEN);
    let wire = __fuzz::memcached_wire_key(input.text);
    assert!(wire.len() <= 250 && wire.bytes().all(|b| (0x21..=0x7e).contains(&b)));
    let _ = __fuzz::parse_ttl(input.text);
});
