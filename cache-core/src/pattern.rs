//! Glob patterns over keys, with the semantics of Redis `KEYS`/`SCAN MATCH`, and [`Pattern`],
//! the builder that makes them safely from user input.
//!
//! `*` matches any run of characters, `?` any one character, `[abc]`, `[a-z]` and `[^a]` a
//! class, and `\x` the character `x` literally. Patterns given to the [`Cache`](crate::Cache) are
//! always anchored inside its namespace: the namespace is prepended as an escaped literal, so a
//! pattern can never reach into another prefix or version.
//!
//! A pattern that contains anything a user typed must be built with [`Pattern`]: its
//! [`arg`](Pattern::arg) and [`lit`](Pattern::lit) escape what they are given, so `*`, `?` or
//! `[` in the input match only themselves. A pattern written as a plain string
//! (`cache.delete_pattern("user:*")`) is for patterns written in the code, literals only:
//! `format!("user:{input}*")` lets `input = "*"` delete every user.
//!
//! Every store matches the same glob: the memory store with [`matches()`], Redis with `SCAN MATCH`
//! (the same syntax, `\` escapes included), SQL stores with an escaped `LIKE` (`%`, `_` and the
//! escape character are escaped) then [`matches()`]; Memcached cannot list keys and refuses
//! patterns (`Error::Unsupported`).

use std::fmt;

use crate::error::{Error, Result};

/// A glob pattern over keys, built from parts: literal text and interpolated values are escaped,
/// and only [`any`](Pattern::any) and [`one`](Pattern::one) add wildcards. Input from a user can
/// never widen it. Pass it to [`Cache::delete_pattern`](crate::Cache::delete_pattern) or
/// [`Cache::keys`](crate::Cache::keys).
///
/// - [`arg`](Pattern::arg) interpolates a value escaped exactly as a key template
///   (`#[cached(key = "user:{id}")]`, [`KeyBuf::arg`](crate::key::KeyBuf::arg)) escapes it, so
///   the pattern finds the keys those templates wrote for that value;
/// - [`lit`](Pattern::lit) (and [`Pattern::new`]) match text exactly as it is, for keys
///   written as plain strings.
///
/// ```
/// use cache_core::pattern::Pattern;
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let cache = cache_core::Cache::memory();
/// cache.set("user:7:posts:1", &1).await?;
/// cache.set("user:7:posts:2", &2).await?;
/// cache.set("user:8:posts:1", &3).await?;
///
/// let id = "7"; // from the request
/// assert_eq!(cache.delete_pattern(Pattern::new("user:").arg(id).lit(":posts:").any()).await?, 2);
///
/// // Input full of wildcards matches only itself: nothing here.
/// let id = "*";
/// let p = Pattern::new("user:").arg(id).lit(":posts:").any();
/// assert_eq!(p.as_str(), "user:%2A:posts:*");
/// assert_eq!(cache.delete_pattern(&p).await?, 0);
/// assert_eq!(cache.keys("*").await?, ["user:8:posts:1"]);
/// # Ok::<(), cache_core::Error>(()) }).unwrap();
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Pattern {
    glob: String,
}

impl Pattern {
    /// A pattern that starts with `literal`, matched exactly (wildcards in it are escaped).
    ///
    /// ```
    /// let p = cache_core::pattern::Pattern::new("user:").any();
    /// assert_eq!(p.as_str(), "user:*");
    /// assert_eq!(cache_core::pattern::Pattern::new("a*").as_str(), "a\\*");
    /// ```
    #[must_use]
    pub fn new(literal: &str) -> Self {
        Self::default().lit(literal)
    }

    /// Appends literal text, matched exactly: `*`, `?`, `[`, `]`, `\` and `^` in it are escaped.
    /// Use it for keys written as plain strings (`cache.set("user:*", ..)`).
    ///
    /// ```
    /// use cache_core::pattern::{matches, Pattern};
    /// let p = Pattern::new("user:").lit("[a]");
    /// assert!(matches(p.as_str(), "user:[a]"));
    /// assert!(!matches(p.as_str(), "user:a"));
    /// ```
    #[must_use]
    pub fn lit(mut self, literal: &str) -> Self {
        push_escaped(&mut self.glob, literal);
        self
    }

    /// Appends a value escaped as a key template escapes it (`:`, `*`, `?`, `[`, `]`, `{`, `}`,
    /// `\`, `%`, space and control characters become `%XX`, see [`crate::key`]), so it matches
    /// the keys `user:{id}` wrote for that value and can neither widen the pattern nor step
    /// over a `:` separator.
    ///
    /// ```
    /// use cache_core::key::KeyBuf;
    /// use cache_core::pattern::{matches, Pattern};
    /// let key = KeyBuf::new().lit("user:").arg("a:*").finish();
    /// let p = Pattern::new("user:").arg("a:*");
    /// assert_eq!(p.as_str(), "user:a%3A%2A");
    /// assert!(matches(p.as_str(), &key));
    /// assert!(!matches(p.as_str(), "user:a:b"));
    /// ```
    #[must_use]
    pub fn arg<T: fmt::Display + ?Sized>(self, value: &T) -> Self {
        let escaped = crate::key::KeyBuf::new().arg(value).finish();
        // A key-escaped value holds no wildcard; `lit` still escapes what is left (`^`).
        self.lit(&escaped)
    }

    /// Appends `*`: any run of characters (none included), `:` included.
    ///
    /// ```
    /// let p = cache_core::pattern::Pattern::new("session:").any();
    /// assert!(cache_core::pattern::matches(p.as_str(), "session:abc:1"));
    /// ```
    #[must_use]
    pub fn any(mut self) -> Self {
        self.glob.push('*');
        self
    }

    /// Appends `?`: any one character.
    ///
    /// ```
    /// let p = cache_core::pattern::Pattern::new("page:").one();
    /// assert!(cache_core::pattern::matches(p.as_str(), "page:7"));
    /// assert!(!cache_core::pattern::matches(p.as_str(), "page:12"));
    /// ```
    #[must_use]
    pub fn one(mut self) -> Self {
        self.glob.push('?');
        self
    }

    /// The glob, escaped.
    ///
    /// ```
    /// assert_eq!(cache_core::pattern::Pattern::new("a?").as_str(), "a\\?");
    /// ```
    pub fn as_str(&self) -> &str {
        &self.glob
    }

    /// The glob as a `String`.
    ///
    /// ```
    /// let s: String = cache_core::pattern::Pattern::new("k").any().into_string();
    /// assert_eq!(s, "k*");
    /// ```
    pub fn into_string(self) -> String {
        self.glob
    }
}

impl AsRef<str> for Pattern {
    fn as_ref(&self) -> &str {
        &self.glob
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.glob)
    }
}

impl From<Pattern> for String {
    fn from(p: Pattern) -> Self {
        p.glob
    }
}

fn push_escaped(out: &mut String, literal: &str) {
    for c in literal.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\' | '^') {
            out.push('\\');
        }
        out.push(c);
    }
}

/// Checks that `pattern` is well formed; the error says what is wrong and at which byte.
///
/// ```
/// use cache_core::pattern::validate;
/// assert!(validate("user:*:posts:[0-9]").is_ok());
/// let err = validate("user:[abc").unwrap_err();
/// assert!(err.to_string().contains("byte 5"));
/// ```
pub fn validate(pattern: &str) -> Result<()> {
    let b = pattern.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' => {
                if i + 1 >= b.len() {
                    return Err(Error::InvalidPattern(format!(
                        "pattern {pattern:?}: trailing '\\' at byte {i} escapes nothing"
                    )));
                }
                i += 2;
            }
            b'[' => {
                let start = i;
                i += 1;
                if b.get(i) == Some(&b'^') {
                    i += 1;
                }
                let mut closed = false;
                while i < b.len() {
                    match b[i] {
                        b'\\' => i += 2,
                        b']' => {
                            closed = true;
                            break;
                        }
                        _ => i += 1,
                    }
                }
                if !closed {
                    return Err(Error::InvalidPattern(format!(
                        "pattern {pattern:?}: '[' at byte {start} is never closed"
                    )));
                }
                i += 1;
            }
            _ => i += 1,
        }
    }
    Ok(())
}

/// Escapes `literal` so that it matches only itself inside a pattern.
///
/// ```
/// use cache_core::pattern::{escape_literal, matches};
/// let p = format!("{}*", escape_literal("a*b"));
/// assert!(matches(&p, "a*bc"));
/// assert!(!matches(&p, "axbc"));
/// ```
pub fn escape_literal(literal: &str) -> String {
    let mut out = String::with_capacity(literal.len() + 4);
    push_escaped(&mut out, literal);
    out
}

/// Returns true if `text` matches the glob `pattern` (Redis semantics, byte-wise).
///
/// ```
/// use cache_core::pattern::matches;
/// assert!(matches("user:*", "user:42"));
/// assert!(matches("user:?", "user:7"));
/// assert!(matches("user:[^0-4]", "user:7"));
/// assert!(!matches("user:[0-4]", "user:7"));
/// ```
pub fn matches(pattern: &str, text: &str) -> bool {
    match_bytes(pattern.as_bytes(), text.as_bytes())
}

fn match_bytes(p: &[u8], t: &[u8]) -> bool {
    // Iterative matcher with one backtrack point for the last `*` (linear in practice, never
    // exponential).
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() {
            match p[pi] {
                b'*' => {
                    while pi < p.len() && p[pi] == b'*' {
                        pi += 1;
                    }
                    if pi == p.len() {
                        return true;
                    }
                    star = Some((pi, ti));
                    continue;
                }
                b'?' => {
                    pi += 1;
                    ti += 1;
                    continue;
                }
                b'[' => {
                    if let Some((matched, next)) = match_class(p, pi, t[ti]) {
                        if matched {
                            pi = next;
                            ti += 1;
                            continue;
                        }
                    }
                }
                b'\\' if pi + 1 < p.len() => {
                    if p[pi + 1] == t[ti] {
                        pi += 2;
                        ti += 1;
                        continue;
                    }
                }
                c => {
                    if c == t[ti] {
                        pi += 1;
                        ti += 1;
                        continue;
                    }
                }
            }
        }
        match star {
            Some((sp, st)) => {
                pi = sp;
                ti = st + 1;
                star = Some((sp, st + 1));
            }
            None => return false,
        }
    }
    while pi < p.len() && p[pi] == b'*' {
        pi += 1;
    }
    pi == p.len()
}

/// Matches byte `c` against the class starting at `p[start] == b'['`. Returns whether it matched
/// and the index just past the class, or `None` for an unclosed class.
fn match_class(p: &[u8], start: usize, c: u8) -> Option<(bool, usize)> {
    let mut i = start + 1;
    let negate = p.get(i) == Some(&b'^');
    if negate {
        i += 1;
    }
    let mut hit = false;
    loop {
        let cur = *p.get(i)?;
        match cur {
            b']' => break,
            b'\\' => {
                let lit = *p.get(i + 1)?;
                hit |= lit == c;
                i += 2;
            }
            _ if p.get(i + 1) == Some(&b'-') && p.get(i + 2).is_some_and(|&e| e != b']') => {
                let (mut lo, mut hi) = (cur, p[i + 2]);
                if lo > hi {
                    std::mem::swap(&mut lo, &mut hi);
                }
                hit |= (lo..=hi).contains(&c);
                i += 3;
            }
            _ => {
                hit |= cur == c;
                i += 1;
            }
        }
    }
    Some((hit != negate, i + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(matches("*", ""));
        assert!(matches("a*c", "abbbc"));
        assert!(!matches("a*c", "abbbd"));
        assert!(matches("a*b*c", "axxbyyc"));
        assert!(matches("h?llo", "hello"));
        assert!(matches("h[ae]llo", "hallo"));
        assert!(!matches("h[ae]llo", "hillo"));
        assert!(matches("h\\*llo", "h*llo"));
        assert!(!matches("h\\*llo", "hello"));
        assert!(matches("[a-c]x", "bx"));
        assert!(matches("[\\]]", "]"));
    }

    #[test]
    fn escaped_literal_never_widens() {
        for lit in ["a*", "a?", "[x]", "a\\", "^"] {
            let p = escape_literal(lit);
            validate(&p).unwrap();
            assert!(matches(&p, lit));
            assert!(!matches(&p, "zzz"));
        }
    }

    #[test]
    fn pathological_pattern_is_fast() {
        let p = "a*a*a*a*a*a*a*a*a*b";
        let t = "a".repeat(200);
        assert!(!matches(p, &t));
    }
}
