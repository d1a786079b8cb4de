//! Properties of keys and patterns: key templates parse or fail with an error (never a panic)
//! and render; escaping is injective, removes every character with a meaning in a key or a
//! glob, and is undone by a warmer's template; a literal escaped for a glob matches exactly
//! itself; globs, prefixes, long keys and TTL strings never panic. Bounded case counts for CI;
//! the fuzz target `keys_patterns` goes further.

use std::time::Duration;

use cache_core::key::{self, KeyBuf, Segment, Template};
use cache_core::{__fuzz, pattern, WarmArgs};
use proptest::prelude::*;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Text rich in the characters keys and globs give a meaning to.
fn tricky() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            3 => proptest::sample::select(vec![
                ':', '*', '?', '[', ']', '{', '}', '\\', '%', ' ', '^', '-', '.', '\n', '#', 'é', '_',
            ]),
            2 => proptest::char::range('a', 'e'),
            1 => any::<char>(),
        ],
        0..24,
    )
    .prop_map(|cs| cs.into_iter().collect())
}

fn identifier() -> impl Strategy<Value = String> {
    "[a-z_][a-z0-9_]{0,6}"
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn any_template_parses_or_is_an_error(text in tricky(), value in tricky()) {
        if let Ok(t) = Template::parse(&text) {
            let names: Vec<String> = t.placeholders().collect();
            let key = t.render(|_| Some(value.clone())).unwrap();
            // Every placeholder was filled with the escaped value.
            prop_assert!(names.is_empty() || key.contains(&key::escape(&value)));
        }
    }

    #[test]
    fn templates_built_from_parts_parse_back(
        parts in proptest::collection::vec(
            prop_oneof![
                "[a-z:/ -]{1,6}".prop_map(Segment::Literal),
                proptest::collection::vec(identifier(), 1..3).prop_map(Segment::Placeholder),
            ],
            0..6,
        ),
    ) {
        let mut text = String::new();
        let mut want: Vec<Segment> = Vec::new();
        for p in parts {
            match &p {
                Segment::Literal(l) => {
                    text.push_str(l);
                    if let Some(Segment::Literal(prev)) = want.last_mut() {
                        prev.push_str(l);
                        continue;
                    }
                }
                Segment::Placeholder(path) => text.push_str(&format!("{{{}}}", path.join("."))),
            }
            want.push(p);
        }
        let t = Template::parse(&text).unwrap();
        prop_assert_eq!(t.segments(), &want[..]);
    }

    #[test]
    fn escaping_removes_key_and_glob_characters(value in tricky(), other in tricky()) {
        let e = key::escape(&value);
        prop_assert!(!e.contains([':', '*', '?', '[', ']', '{', '}', '\\', ' ']), "{}", e);
        prop_assert!(!e.chars().any(char::is_control), "{}", e);
        // An escaped value never widens a glob: as a pattern, it matches only itself.
        prop_assert!(pattern::matches(&e, &e));
        prop_assert_eq!(pattern::matches(&e, &other), other == e);
    }

    #[test]
    fn escaping_is_injective(a in tricky(), b in tricky()) {
        prop_assume!(a != b);
        prop_assert_ne!(key::escape(&a), key::escape(&b));
        let k1 = KeyBuf::new().lit("u:").arg(&a).lit(":").arg(&b).finish();
        let k2 = KeyBuf::new().lit("u:").arg(&b).lit(":").arg(&a).finish();
        prop_assert_ne!(k1, k2);
    }

    #[test]
    fn escaped_values_come_back_through_a_warmer_template(a in tricky(), b in tricky()) {
        let key = KeyBuf::new().lit("user:").arg(&a).lit(":posts:").arg(&b).finish();
        let args = WarmArgs::from_template("user:{id}:posts:{page}", &key).unwrap();
        prop_assert_eq!(args.get("id"), Some(a.as_str()));
        prop_assert_eq!(args.get("page"), Some(b.as_str()));
    }

    #[test]
    fn any_warmer_template_against_any_key(template in tricky(), k in tricky()) {
        let _ = WarmArgs::from_template(&template, &k);
    }

    #[test]
    fn globs_never_panic(p in tricky(), text in tricky()) {
        let _ = pattern::validate(&p);
        let _ = pattern::matches(&p, &text);
        for backend in ["postgres", "mysql", "sqlite"] {
            let _ = __fuzz::sql_like_pattern(backend, &p);
        }
    }

    #[test]
    fn an_escaped_literal_matches_exactly_itself(lit in tricky(), other in tricky(), tail in tricky()) {
        let p = pattern::escape_literal(&lit);
        prop_assert!(pattern::validate(&p).is_ok());
        prop_assert!(pattern::matches(&p, &lit));
        prop_assert_eq!(pattern::matches(&p, &other), other == lit);
        let prefix = format!("{p}*");
        let longer = format!("{lit}{tail}");
        prop_assert!(pattern::matches(&prefix, &longer));
        prop_assert_eq!(pattern::matches(&prefix, &other), other.starts_with(&lit));
    }

    #[test]
    fn wildcards_match_what_they_stand_for(head in "[a-d:]{0,8}", mid in "[a-d:]{0,8}", c in proptest::char::range('a', 'z')) {
        let lit = pattern::escape_literal(&head);
        let (any_run, one) = (format!("{head}{mid}"), format!("{head}{c}"));
        let glob = |suffix: &str| format!("{lit}{suffix}");
        prop_assert!(pattern::matches(&glob("*"), &any_run));
        prop_assert!(pattern::matches(&glob("?"), &one));
        prop_assert!(pattern::matches(&glob("[a-z]"), &one));
        prop_assert!(!pattern::matches(&glob("[^a-z]"), &one));
    }

    #[test]
    fn long_keys_are_bounded_and_distinct(a in ".{0,400}", b in ".{0,400}") {
        let (sa, sb) = (key::shorten(&a), key::shorten(&b));
        prop_assert!(sa.len() <= key::MAX_KEY_LEN);
        prop_assert_eq!(a.len() <= key::MAX_KEY_LEN, sa == a);
        prop_assert!(a == b || sa != sb);
    }

    #[test]
    fn prefixes_are_checked_without_a_panic(p in tricky()) {
        let ok = __fuzz::validate_prefix(&p).is_ok();
        let valid = !p.is_empty()
            && p.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
        prop_assert_eq!(ok, valid);
    }

    #[test]
    fn ttl_strings_parse_or_are_errors(s in tricky(), secs in any::<u64>(), ms in 1u64..1_000_000) {
        let _ = __fuzz::parse_ttl(&s);
        prop_assert_eq!(__fuzz::parse_ttl(&secs.to_string()).unwrap(), Duration::from_secs(secs));
        prop_assert_eq!(__fuzz::parse_ttl(&format!(" {ms}ms ")).unwrap(), Duration::from_millis(ms));
    }
}
