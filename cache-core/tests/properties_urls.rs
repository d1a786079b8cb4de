//! Properties of cache URLs (`CACHE_URL`): any text, and URLs assembled from realistic and
//! hostile parts for every scheme, parse or fail with an error, never a panic, and nothing
//! connects; well-formed ones are accepted; a password is never shown in messages. Bounded case
//! counts for CI; the fuzz target `cache_urls` goes further.

use cache_core::__fuzz;
use proptest::prelude::*;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn scheme() -> impl Strategy<Value = &'static str> {
    proptest::sample::select(vec![
        "mem://",
        "memory://",
        "redis://",
        "rediss://",
        "redis-cluster://",
        "redis-sentinel://",
        "memcached://",
        "postgres://",
        "mysql://",
        "mariadb://",
        "sqlite://",
        "tiered+redis://",
        "tiered+mem://",
        "tiers:mem://|",
        "tiers:mem://|redis://",
        "nope://",
        "",
    ])
}

/// URL text rich in the characters URL parsers split on.
fn piece() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            3 => proptest::sample::select(vec![
                ':', '@', '/', '?', '&', '=', '%', '[', ']', ',', '|', '+', '.', ' ', 'é', '0', '9',
            ]),
            2 => proptest::char::range('a', 'f'),
            1 => any::<char>(),
        ],
        0..16,
    )
    .prop_map(|cs| cs.into_iter().collect())
}

fn option() -> impl Strategy<Value = String> {
    (
        proptest::sample::select(vec![
            "pool",
            "timeout_ms",
            "connect_timeout_ms",
            "retry_ms",
            "service_name",
            "table",
            "purge_interval",
            "max_entries",
            "max_bytes",
            "l1_max_entries",
            "l1_ttl",
            "breaker_threshold",
            "breaker_cooldown",
            "write_behind",
            "write_behind_batch",
            "compress_over",
            "signing_key",
            "sslmode",
        ]),
        prop_oneof![
            "[0-9]{1,3}".boxed(),
            "[0-9]{1,3}(ms|s|m)".boxed(),
            "[0-9a-fA-F+]{64}".boxed(),
            piece().boxed(),
        ],
    )
        .prop_map(|(k, v)| format!("{k}={v}"))
}

fn url() -> impl Strategy<Value = String> {
    (
        scheme(),
        proptest::option::of((piece(), proptest::option::of(piece()))),
        proptest::collection::vec((piece(), proptest::option::of(0u32..70000)), 0..3),
        proptest::option::of(piece()),
        proptest::collection::vec(option(), 0..4),
    )
        .prop_map(|(scheme, user, hosts, path, options)| {
            let mut u = scheme.to_owned();
            if let Some((name, password)) = user {
                u.push_str(&name);
                if let Some(p) = password {
                    u.push(':');
                    u.push_str(&p);
                }
                u.push('@');
            }
            let hosts: Vec<String> = hosts
                .into_iter()
                .map(|(h, port)| match port {
                    Some(p) => format!("{h}:{p}"),
                    None => h,
                })
                .collect();
            u.push_str(&hosts.join(","));
            if let Some(p) = path {
                u.push('/');
                u.push_str(&p);
            }
            if !options.is_empty() {
                u.push('?');
                u.push_str(&options.join("&"));
            }
            u
        })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn any_text_is_a_url_or_an_error(text in ".{0,80}") {
        let _ = __fuzz::parse_cache_url(&text);
        let _ = __fuzz::redact_url(&text);
    }

    #[test]
    fn assembled_urls_parse_or_are_errors(u in url()) {
        let _ = __fuzz::parse_cache_url(&u);
    }

    #[test]
    fn well_formed_urls_are_accepted(
        host in "[a-z][a-z0-9-]{0,10}(\\.[a-z]{2,4})?",
        port in 1u16..,
        db in 0u8..16,
        pool in 1u32..=256,
        ms in 1u64..100_000,
        key in "[0-9a-f]{64}",
    ) {
        let redis = cfg!(feature = "redis");
        let memcached = cfg!(feature = "memcached");
        let sql = cfg!(any(feature = "postgres", feature = "mysql", feature = "sqlite"));
        for (u, compiled_in) in [
            (format!("mem://?max_entries={pool}"), true),
            (format!("redis://{host}:{port}/{db}?pool={pool}&timeout_ms={ms}"), redis),
            (format!("rediss://user:p%40ss@{host}?connect_timeout_ms={ms}&signing_key={key}"), redis),
            (format!("redis-cluster://{host}:{port},{host}:1?pool={pool}"), redis),
            (format!("redis-sentinel://{host}/{db}?service_name=primary"), redis),
            (format!("tiered+redis://{host}:{port}?l1_max_entries={pool}&l1_ttl={ms}ms"), redis),
            (format!("tiers:mem://|redis://{host}?write_behind={ms}ms&write_behind_batch={pool}"), redis),
            (format!("memcached://{host}:{port},[::1]:{port}?pool={pool}&retry_ms={ms}"), memcached),
            (format!("postgres://u:p@{host}:{port}/db?pool={pool}&table=t_{db}&purge_interval={ms}ms"), sql),
            (format!("mariadb://{host}/db?sslmode=disabled"), sql),
            (format!("sqlite://{host}.db?compress_over={ms}"), sql),
        ] {
            // A store compiled out is an error naming its feature, not a parse of its URL.
            let parsed = __fuzz::parse_cache_url(&u);
            prop_assert_eq!(parsed.is_ok(), compiled_in, "{} -> {:?}", u, parsed);
        }
    }

    #[test]
    fn passwords_are_never_shown(
        scheme in "(redis|rediss|memcached|postgres|mysql)",
        user in "[a-z]{0,6}",
        password in "[A-Z0-9]{6,12}",
        host in "[a-z]{1,8}",
        query in "[a-z=&]{0,10}",
    ) {
        let u = format!("{scheme}://{user}:{password}@{host}/0?{query}");
        let shown = __fuzz::redact_url(&u);
        prop_assert!(!shown.contains(&password), "{}", shown);
        if let Err(e) = __fuzz::parse_cache_url(&format!("{u}&pool=0")) {
            prop_assert!(!e.to_string().contains(&password), "{}", e);
        }
    }
}

/// Found by the `cache_urls` fuzz target: `tiered+` nested behind white space recursed once per
/// level until the stack overflowed. A tiered store's lower store cannot itself be tiered.
#[test]
fn nested_tiered_urls_are_refused_at_any_depth() {
    for depth in [2, 10, 20_000] {
        let url = format!("{}mem://", "tiered+\r".repeat(depth));
        let e = __fuzz::parse_cache_url(&url).unwrap_err().to_string();
        assert!(e.contains("cannot itself be tiered"), "{depth}: {e}");
    }
    assert!(__fuzz::parse_cache_url("tiered+mem://?l1_ttl=1s").is_ok());
}
