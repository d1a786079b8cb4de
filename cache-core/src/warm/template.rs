//! Key templates of warmer loaders (`user:{id}`), matched against keys, and [`WarmArgs`]: what
//! a match captured.
//!
//! Values that `#[cached]` and [`KeyBuf`](crate::key::KeyBuf) interpolate are escaped
//! ([`crate::key`]): they never hold `:` (nor `*`, `{`, `%`…), which appear as `%XX`. So a
//! `{name}` part matches a run of characters without `:` and is un-escaped before the loader
//! sees it; a key whose captured part is not a valid escaping does not match.

use std::collections::HashSet;
use std::str::FromStr;

/// One part of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Lit(String),
    Capture(String),
}

/// A parsed key template such as `user:{id}:posts:{page}`.
#[derive(Debug, Clone)]
pub(crate) struct KeyTemplate {
    text: String,
    parts: Vec<Part>,
}

impl KeyTemplate {
    /// Parses a template. Never fails: a `{` without its `}` is literal text.
    pub(crate) fn parse(text: &str) -> Self {
        let mut parts = Vec::new();
        let mut lit = String::new();
        let mut rest = text;
        while let Some(open) = rest.find('{') {
            let Some(close) = rest[open..].find('}') else {
                break;
            };
            lit.push_str(&rest[..open]);
            if !lit.is_empty() {
                parts.push(Part::Lit(std::mem::take(&mut lit)));
            }
            parts.push(Part::Capture(
                rest[open + 1..open + close].trim().to_owned(),
            ));
            rest = &rest[open + close + 1..];
        }
        lit.push_str(rest);
        if !lit.is_empty() {
            parts.push(Part::Lit(lit));
        }
        Self {
            text: text.to_owned(),
            parts,
        }
    }

    pub(crate) fn text(&self) -> &str {
        &self.text
    }

    /// The captured values if `key` matches, un-escaped.
    pub(crate) fn matches(&self, key: &str) -> Option<WarmArgs> {
        let mut captures = Vec::new();
        if !match_parts(&self.parts, key, &mut captures) {
            return None;
        }
        let values = captures
            .into_iter()
            .map(|(name, raw)| Some((name, unescape(raw)?)))
            .collect::<Option<Vec<_>>>()?;
        Some(WarmArgs {
            key: key.to_owned(),
            values,
        })
    }
}

/// Matches `parts` against `key`, backtracking over where each capture ends.
fn match_parts<'k>(parts: &[Part], key: &'k str, out: &mut Vec<(String, &'k str)>) -> bool {
    match_rest(parts, key, out, &mut HashSet::new())
}

/// [`match_parts`], remembering in `failed` which (parts left, key bytes left) cannot match:
/// success depends on nothing else, so adjacent captures (`{a}{b}{c}`) cost polynomial time
/// instead of trying every split of the key again and again (exponential, found by fuzzing).
fn match_rest<'k>(
    parts: &[Part],
    key: &'k str,
    out: &mut Vec<(String, &'k str)>,
    failed: &mut HashSet<(usize, usize)>,
) -> bool {
    if failed.contains(&(parts.len(), key.len())) {
        return false;
    }
    let matched = match parts.split_first() {
        None => key.is_empty(),
        Some((Part::Lit(l), rest)) => key
            .strip_prefix(l.as_str())
            .is_some_and(|k| match_rest(rest, k, out, failed)),
        Some((Part::Capture(name), rest)) => {
            // A value never holds `:`: the capture ends at the first one, or sooner.
            let limit = key.find(':').unwrap_or(key.len());
            let mut ends: Vec<usize> = key[..limit].char_indices().map(|(i, _)| i).collect();
            ends.push(limit);
            ends.into_iter().rev().any(|end| {
                out.push((name.clone(), &key[..end]));
                let ok = match_rest(rest, &key[end..], out, failed);
                if !ok {
                    out.pop();
                }
                ok
            })
        }
    };
    if !matched {
        failed.insert((parts.len(), key.len()));
    }
    matched
}

/// Undoes [`crate::key::escape`]: `%XX` back to bytes. `None` for a bad escape or bad UTF-8.
fn unescape(raw: &str) -> Option<String> {
    if !raw.contains('%') {
        return Some(raw.to_owned());
    }
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = raw.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// What a warmer loader's key template captured from a key: `user:{id}` matched against
/// `user:42` gives `id` = `"42"`. Values are un-escaped (see [`crate::key`]).
///
/// ```
/// use cache_core::WarmArgs;
///
/// let args = WarmArgs::from_template("user:{id}:posts:{page}", "user:42:posts:a%3Ab").unwrap();
/// assert_eq!(args.key(), "user:42:posts:a%3Ab");
/// assert_eq!(args.get("id"), Some("42"));
/// assert_eq!(args.parse::<u64>("id").unwrap(), 42);
/// assert_eq!(args.get("page"), Some("a:b"));
/// assert!(args.parse::<u64>("page").is_err());
/// assert!(args.parse::<u64>("nope").is_err());
/// assert!(WarmArgs::from_template("user:{id}", "org:1").is_none());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WarmArgs {
    key: String,
    values: Vec<(String, String)>,
}

/// Why [`WarmArgs::parse`] failed: the name was not captured, or its value did not parse.
///
/// ```
/// let args = cache_core::WarmArgs::from_template("user:{id}", "user:x").unwrap();
/// let err = args.parse::<u64>("id").unwrap_err();
/// assert!(err.to_string().contains("`id`"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("key {key:?}: `{name}` {problem}")]
pub struct WarmArgError {
    key: String,
    name: String,
    problem: String,
}

impl WarmArgs {
    /// Matches `key` (unprefixed, as given to [`Cache::get`](crate::Cache::get)) against a
    /// template; `None` if it does not match.
    pub fn from_template(template: &str, key: &str) -> Option<Self> {
        KeyTemplate::parse(template).matches(key)
    }

    /// The whole key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The value captured for `{name}`, un-escaped.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The value captured for `{name}`, parsed.
    pub fn parse<T: FromStr>(&self, name: &str) -> Result<T, WarmArgError>
    where
        T::Err: std::fmt::Display,
    {
        let err = |problem: String| WarmArgError {
            key: self.key.clone(),
            name: name.to_owned(),
            problem,
        };
        self.get(name)
            .ok_or_else(|| err("is not in the template".into()))?
            .parse()
            .map_err(|e: T::Err| err(format!("does not parse: {e}")))
    }

    /// Every captured name and value, in template order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.values.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_match_escaped_keys_only_where_the_escaping_allows() {
        let t = KeyTemplate::parse("user:{id}");
        assert_eq!(t.matches("user:7").unwrap().get("id"), Some("7"));
        assert_eq!(t.matches("user:").unwrap().get("id"), Some(""));
        assert!(t.matches("user:7:posts").is_none());
        assert!(t.matches("users:7").is_none());
        let t = KeyTemplate::parse("{a}-{b}:x");
        let m = t.matches("1-2-3:x").unwrap();
        assert_eq!((m.get("a"), m.get("b")), (Some("1-2"), Some("3")));
        let key = crate::key::KeyBuf::new()
            .lit("q:")
            .arg("50% off: *now*")
            .finish();
        let m = KeyTemplate::parse("q:{text}").matches(&key).unwrap();
        assert_eq!(m.get("text"), Some("50% off: *now*"));
        assert!(KeyTemplate::parse("q:{text}").matches("q:%zz").is_none());
        assert!(KeyTemplate::parse("q:{text}").matches("q:%").is_none());
        let t = KeyTemplate::parse("odd{");
        assert!(t.matches("odd{").is_some());
        let t = KeyTemplate::parse("é:{v}");
        assert_eq!(t.matches("é:ü").unwrap().get("v"), Some("ü"));
    }

    #[test]
    fn adjacent_captures_against_a_long_key_do_not_backtrack_for_ever() {
        // Found by the `keys_patterns` fuzz target: eight adjacent captures against 200 bytes
        // were 200^8 splits before failing states were remembered.
        let t = KeyTemplate::parse("{a}{b}{c}{d}{e}{f}{g}{h}x");
        assert!(t.matches(&"a".repeat(200)).is_none());
        let m = t.matches(&format!("{}x", "a".repeat(200))).unwrap();
        // Captures are greedy and may be empty.
        assert_eq!(m.get("a"), Some("a".repeat(200).as_str()));
        assert_eq!(m.get("h"), Some(""));
    }
}
