//! Cache URLs (`CACHE_URL`): every scheme's parser (memory, Redis, Memcached, SQL, `tiered+`,
//! `tiers:`), the frame options and the redaction of passwords in messages. No input may
//! panic; nothing connects.
#![no_main]

use cache_core::__fuzz;
use libfuzzer_sys::fuzz_target;

const SCHEMES: [&str; 10] = [
    "mem://",
    "redis://",
    "rediss-cluster://",
    "redis-sentinel://",
    "memcached://",
    "postgres://",
    "mariadb://",
    "sqlite://",
    "tiered+redis://",
    "tiers:mem://|",
];

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // As it is, and behind each scheme (most inputs would otherwise die at the scheme).
    let (first, rest) = match text.split_first_char() {
        Some((c, rest)) => (usize::from(c as u8) % (SCHEMES.len() + 1), rest),
        None => (SCHEMES.len(), text),
    };
    let url = match SCHEMES.get(first) {
        Some(s) => format!("{s}{rest}"),
        None => text.to_owned(),
    };
    let _ = __fuzz::parse_cache_url(&url);
    let redacted = __fuzz::redact_url(&url);
    // A password is never shown: the user information reads `user:***`.
    let authority = |s: &str| -> Option<(String, bool)> {
        let (_, after) = s.split_once("://")?;
        let authority = &after[..after.find(['/', '?']).unwrap_or(after.len())];
        let (userinfo, _) = authority.rsplit_once('@')?;
        Some((userinfo.to_owned(), userinfo.contains(':')))
    };
    if let Some((_, true)) = authority(&url) {
        let (shown, _) = authority(&redacted).expect("the redacted URL keeps its user");
        assert!(shown.ends_with(":***"), "{redacted}");
    }
});

trait SplitFirst {
    fn split_first_char(&self) -> Option<(char, &str)>;
}

impl SplitFirst for str {
    fn split_first_char(&self) -> Option<(char, &str)> {
        let c = self.chars().next()?;
        Some((c, &self[c.len_utf8()..]))
    }
}
