//! Glob patterns over keys, with the semantics of Redis `KEYS`/`SCAN MATCH`.
//!
//! `*` matches any run of characters, `?` any one character, `[abc]`, `[a-z]` and `[^a]` a
//! class, and `\x` the character `x` literally. Patterns given to the [`Cache`](crate::Cache) are
//! always anchored inside its namespace: the namespace is prepended as an escaped literal, so a
//! pattern can never reach into another prefix or version.

use crate::error::{Error, Result};

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
    for c in literal.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\' | '^') {
            out.push('\\');
        }
        out.push(c);
    }
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
