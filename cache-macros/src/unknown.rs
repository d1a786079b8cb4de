//! The error for an option an attribute does not take: it names the option, the attribute and
//! the options it does take, and suggests the near miss (`expire` → `ttl`, `tag` → `tags`).

use syn::ext::IdentExt;
use syn::parse::ParseStream;
use syn::{Ident, LitStr};

/// The options of `#[cached]`, in the order its docs list them.
pub(crate) const CACHED: &[&str] = &[
    "key",
    "ttl",
    "tags",
    "cache",
    "condition",
    "unless",
    "stale",
    "background",
    "warm",
    "lock",
    "lease",
    "resource",
    "suffix",
    "crate",
];

/// The options of `#[cache_invalidate]`.
pub(crate) const INVALIDATE: &[&str] = &[
    "keys",
    "tags",
    "patterns",
    "cache",
    "recache",
    "recache_concurrency",
    "recache_background",
    "resource",
    "crate",
];

/// The options of `#[cache_put]`.
pub(crate) const PUT: &[&str] = &["key", "ttl", "tags", "cache", "crate"];

/// The options of `#[memoize]`.
pub(crate) const MEMOIZE: &[&str] = &["capacity", "ttl", "key", "crate"];

const ATTRIBUTES: &[(&str, &[&str])] = &[
    ("cached", CACHED),
    ("cache_invalidate", INVALIDATE),
    ("cache_put", PUT),
    ("memoize", MEMOIZE),
];

/// Names people reach for, and the option that does it.
const ALIASES: &[(&str, &str)] = &[
    ("expire", "ttl"),
    ("expires", "ttl"),
    ("expiry", "ttl"),
    ("expiration", "ttl"),
    ("expire_after", "ttl"),
    ("ttl_secs", "ttl"),
    ("ttl_seconds", "ttl"),
    ("time_to_live", "ttl"),
    ("max_age", "ttl"),
    ("lifetime", "ttl"),
    ("duration", "ttl"),
    ("seconds", "ttl"),
    ("secs", "ttl"),
    ("keys", "key"),
    ("key", "keys"),
    ("name", "key"),
    ("tag", "tags"),
    ("pattern", "patterns"),
    ("size", "capacity"),
    ("max_size", "capacity"),
    ("max_capacity", "capacity"),
    ("max_entries", "capacity"),
    ("cap", "capacity"),
    ("limit", "capacity"),
    ("when", "condition"),
    ("only_if", "condition"),
    ("cond", "condition"),
    ("stale_while_revalidate", "stale"),
    ("swr", "stale"),
    ("grace", "stale"),
    ("krate", "crate"),
    ("cache_core", "crate"),
    ("store", "cache"),
    ("backend", "cache"),
    ("single_flight", "lock"),
    ("singleflight", "lock"),
    ("refresh", "recache"),
    ("reload", "recache"),
];

/// The error for the option at `input`, which is none of `known`.
pub(crate) fn error(input: ParseStream<'_>, attr: &str, known: &[&str]) -> syn::Error {
    let list = known
        .iter()
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ");
    if let Ok(ident) = input.fork().call(Ident::parse_any) {
        let name = ident.unraw().to_string();
        let mut msg = format!("unknown option `{name}` for `#[{attr}]`");
        if let Some(near) = near_miss(&name, known) {
            msg.push_str(&format!(" (did you mean `{near}`?)"));
        } else if let Some(elsewhere) = elsewhere(&name, attr) {
            msg.push_str(&format!(" (`{name}` is an option of {elsewhere})"));
        }
        msg.push_str(&format!("; expected one of: {list}"));
        return syn::Error::new(ident.span(), msg);
    }
    if input.peek(LitStr) && known.contains(&"key") {
        let lit: LitStr = input
            .fork()
            .parse()
            .unwrap_or_else(|_| LitStr::new("", input.span()));
        return syn::Error::new(
            lit.span(),
            format!(
                "`#[{attr}]` takes `name = value` options: write the key template as `key = {:?}`",
                lit.value()
            ),
        );
    }
    syn::Error::new(
        input.span(),
        format!("`#[{attr}]` takes `name = value` options; expected one of: {list}"),
    )
}

/// The option `name` was probably meant as: an alias, or one or two typos away.
fn near_miss<'a>(name: &str, known: &[&'a str]) -> Option<&'a str> {
    let lower = name.to_ascii_lowercase();
    if let Some(k) = known
        .iter()
        .find(|k| ALIASES.iter().any(|(from, to)| *from == lower && to == *k))
    {
        return Some(k);
    }
    let budget = if lower.len() <= 4 { 1 } else { 2 };
    known
        .iter()
        .map(|k| (distance(&lower, k), *k))
        .filter(|(d, _)| *d <= budget)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// The other attributes that take `name`, as "`#[a]` and `#[b]`".
fn elsewhere(name: &str, attr: &str) -> Option<String> {
    let hits: Vec<String> = ATTRIBUTES
        .iter()
        .filter(|(a, opts)| *a != attr && opts.contains(&name))
        .map(|(a, _)| format!("`#[{a}]`"))
        .collect();
    match hits.len() {
        0 => None,
        1 => Some(hits[0].clone()),
        n => Some(format!("{} and {}", hits[..n - 1].join(", "), hits[n - 1])),
    }
}

/// Levenshtein distance, over bytes (option names are ASCII).
fn distance(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let swap = usize::from(ca != cb);
            cur[j + 1] = (prev[j] + swap).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_and_typos_find_the_option() {
        assert_eq!(near_miss("expire", CACHED), Some("ttl"));
        assert_eq!(near_miss("ttl_secs", PUT), Some("ttl"));
        assert_eq!(near_miss("keys", CACHED), Some("key"));
        assert_eq!(near_miss("key", INVALIDATE), Some("keys"));
        assert_eq!(near_miss("tag", CACHED), Some("tags"));
        assert_eq!(near_miss("Expires", MEMOIZE), Some("ttl"));
        assert_eq!(near_miss("conditon", CACHED), Some("condition"));
        assert_eq!(near_miss("max_size", MEMOIZE), Some("capacity"));
    }

    #[test]
    fn no_suggestion_for_an_option_of_another_attribute() {
        assert_eq!(near_miss("tags", MEMOIZE), None);
        assert_eq!(near_miss("stale", PUT), None);
        assert_eq!(near_miss("tag", MEMOIZE), None);
        assert_eq!(
            elsewhere("tags", "memoize").as_deref(),
            Some("`#[cached]`, `#[cache_invalidate]` and `#[cache_put]`")
        );
        assert_eq!(elsewhere("frobnicate", "cached"), None);
    }

    #[test]
    fn distance_counts_edits() {
        assert_eq!(distance("ttl", "ttl"), 0);
        assert_eq!(distance("tll", "ttl"), 1);
        assert_eq!(distance("stael", "stale"), 2);
        assert_eq!(distance("", "key"), 3);
    }
}
