//! Keys: namespacing, key templates and escaping of interpolated values.
//!
//! Every key a [`Cache`](crate::Cache) touches lives inside its namespace:
//! `{prefix}:v{version}:{key}`. Values interpolated into a template are escaped so that a value
//! can never forge another key or widen a pattern: the characters `:`, `*`, `?`, `[`, `]`, `{`,
//! `}`, `\`, `%`, space and every control character become `%XX`. Because `%` itself is escaped,
//! the escaping is injective: two different values always give two different keys.
//!
//! Keys longer than [`MAX_KEY_LEN`] keep a readable head and end in a blake3 digest of the whole
//! key, so they stay unique and bounded.

use std::fmt::{self, Write as _};

use crate::error::{Error, Result};

/// Keys (after namespacing) longer than this many bytes are shortened with a blake3 digest.
pub const MAX_KEY_LEN: usize = 250;

/// How many bytes of a long key are kept readable before the digest.
const LONG_KEY_HEAD: usize = MAX_KEY_LEN - 1 - 64;

/// Returns true if `c` must be escaped when it is interpolated into a key.
#[inline]
fn needs_escape(c: char) -> bool {
    matches!(
        c,
        ':' | '*' | '?' | '[' | ']' | '{' | '}' | '\\' | '%' | ' '
    ) || c.is_control()
}

/// Appends `value` to `out`, escaped for use inside a key.
///
/// ```
/// let mut key = String::from("user:");
/// cache_core::key::escape_into(&mut key, "a:b*");
/// assert_eq!(key, "user:a%3Ab%2A");
/// ```
pub fn escape_into(out: &mut String, value: &str) {
    if !value.chars().any(needs_escape) {
        out.push_str(value);
        return;
    }
    for c in value.chars() {
        if needs_escape(c) {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                // Writing to a String cannot fail.
                let _ = write!(out, "%{b:02X}");
            }
        } else {
            out.push(c);
        }
    }
}

/// Returns `value` escaped for use inside a key.
///
/// ```
/// assert_eq!(cache_core::key::escape("50% off"), "50%25%20off");
/// assert_eq!(cache_core::key::escape("plain"), "plain");
/// ```
pub fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    escape_into(&mut out, value);
    out
}

/// Builds a key piece by piece: literal parts are copied, interpolated values are escaped.
///
/// The `#[cached]` family of macros generates calls to this type; it is also the runtime API for
/// building keys by hand.
///
/// ```
/// use cache_core::key::KeyBuf;
///
/// let key = KeyBuf::new().lit("user:").arg(&42).lit(":posts:").arg(&"a*b").finish();
/// assert_eq!(key, "user:42:posts:a%2Ab");
/// ```
#[derive(Debug, Default, Clone)]
pub struct KeyBuf {
    buf: String,
}

impl KeyBuf {
    /// An empty key.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty key with room for `capacity` bytes.
    #[must_use]
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            buf: String::with_capacity(capacity),
        }
    }

    /// Appends a literal part of a template, unescaped.
    #[must_use]
    pub fn lit(mut self, s: &str) -> Self {
        self.buf.push_str(s);
        self
    }

    /// Appends a value, escaped.
    #[must_use]
    pub fn arg<T: fmt::Display + ?Sized>(mut self, value: &T) -> Self {
        self.push_arg(value);
        self
    }

    /// Appends a value, escaped, in place.
    pub fn push_arg<T: fmt::Display + ?Sized>(&mut self, value: &T) {
        let mut w = EscapeWriter(&mut self.buf);
        // Display impls of std types do not fail; a failing user impl leaves a partial value,
        // which is still escaped and so still cannot collide with a literal part.
        let _ = write!(w, "{value}");
    }

    /// Appends a literal part in place.
    pub fn push_lit(&mut self, s: &str) {
        self.buf.push_str(s);
    }

    /// The key built so far.
    #[must_use]
    pub fn finish(self) -> String {
        self.buf
    }
}

/// A `fmt::Write` that escapes what is written through it.
struct EscapeWriter<'a>(&'a mut String);

impl fmt::Write for EscapeWriter<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        escape_into(self.0, s);
        Ok(())
    }
}

/// One part of a parsed [`Template`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// Text copied as it is.
    Literal(String),
    /// A `{name}` or `{a.b}` placeholder: the dotted path, split.
    Placeholder(Vec<String>),
}

/// A key template such as `user:{id}:posts:{page}`, parsed at run time.
///
/// `{{` and `}}` stand for literal braces. Placeholders are identifiers or dotted field paths
/// (`{user.id}`, `{self.tenant}`). The macros parse the same syntax at compile time.
///
/// ```
/// use cache_core::key::Template;
///
/// let t = Template::parse("user:{id}:posts:{page}")?;
/// assert_eq!(t.placeholders().collect::<Vec<_>>(), ["id", "page"]);
/// let key = t.render(|name| match name {
///     "id" => Some("7".to_string()),
///     "page" => Some("2".to_string()),
///     _ => None,
/// })?;
/// assert_eq!(key, "user:7:posts:2");
///
/// let err = Template::parse("user:{id").unwrap_err();
/// assert!(err.to_string().contains("byte 5"));
/// # Ok::<(), cache_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    segments: Vec<Segment>,
}

impl Template {
    /// Parses a template; the error says what is wrong and at which byte.
    pub fn parse(template: &str) -> Result<Self> {
        let mut segments = Vec::new();
        let mut lit = String::new();
        let bytes = template.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'{' if bytes.get(i + 1) == Some(&b'{') => {
                    lit.push('{');
                    i += 2;
                }
                b'}' if bytes.get(i + 1) == Some(&b'}') => {
                    lit.push('}');
                    i += 2;
                }
                b'{' => {
                    let start = i;
                    let end = template[i + 1..].find('}').map(|off| i + 1 + off).ok_or_else(|| {
                        Error::InvalidKey(format!(
                            "template {template:?}: unclosed '{{' at byte {start}"
                        ))
                    })?;
                    let inner = &template[i + 1..end];
                    let path = parse_placeholder(inner).map_err(|why| {
                        Error::InvalidKey(format!(
                            "template {template:?}: placeholder at byte {start}: {why}"
                        ))
                    })?;
                    if !lit.is_empty() {
                        segments.push(Segment::Literal(std::mem::take(&mut lit)));
                    }
                    segments.push(Segment::Placeholder(path));
                    i = end + 1;
                }
                b'}' => {
                    return Err(Error::InvalidKey(format!(
                        "template {template:?}: unmatched '}}' at byte {i} (write '}}}}' for a literal brace)"
                    )))
                }
                _ => {
                    // Copy one whole UTF-8 character.
                    let ch = template[i..].chars().next().unwrap_or('\u{FFFD}');
                    lit.push(ch);
                    i += ch.len_utf8();
                }
            }
        }
        if !lit.is_empty() {
            segments.push(Segment::Literal(lit));
        }
        Ok(Self { segments })
    }

    /// The parsed segments.
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// The placeholder names, dotted paths joined with `.`.
    pub fn placeholders(&self) -> impl Iterator<Item = String> + '_ {
        self.segments.iter().filter_map(|s| match s {
            Segment::Placeholder(path) => Some(path.join(".")),
            Segment::Literal(_) => None,
        })
    }

    /// Fills the template: `lookup` gets each placeholder's dotted name and returns its value,
    /// which is escaped. A placeholder without a value is an [`Error::InvalidKey`].
    pub fn render(&self, mut lookup: impl FnMut(&str) -> Option<String>) -> Result<String> {
        let mut key = KeyBuf::new();
        for seg in &self.segments {
            match seg {
                Segment::Literal(s) => key.push_lit(s),
                Segment::Placeholder(path) => {
                    let name = path.join(".");
                    let value = lookup(&name).ok_or_else(|| {
                        Error::InvalidKey(format!("no value for placeholder {{{name}}}"))
                    })?;
                    key.push_arg(&value);
                }
            }
        }
        Ok(key.finish())
    }
}

fn parse_placeholder(inner: &str) -> std::result::Result<Vec<String>, String> {
    if inner.trim().is_empty() {
        return Err("empty placeholder".into());
    }
    inner
        .split('.')
        .map(|part| {
            let part = part.trim();
            let mut chars = part.chars();
            let ok_start = chars
                .next()
                .is_some_and(|c| c.is_alphabetic() || c == '_' || c.is_ascii_digit());
            if ok_start && part.chars().all(|c| c.is_alphanumeric() || c == '_') {
                Ok(part.to_string())
            } else {
                Err(format!("{part:?} is not an identifier or field path"))
            }
        })
        .collect()
}

/// Checks a namespace prefix: non-empty, and only ASCII letters, digits, `_`, `-` and `.`, so that
/// a prefix can never contain a separator or glob character and collide with another namespace.
pub(crate) fn validate_prefix(prefix: &str) -> Result<()> {
    if prefix.is_empty() {
        return Err(Error::Config("prefix must not be empty".into()));
    }
    if let Some((pos, c)) = prefix
        .char_indices()
        .find(|(_, c)| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
    {
        return Err(Error::Config(format!(
            "prefix {prefix:?}: character {c:?} at byte {pos} is not allowed (use letters, digits, '_', '-' or '.')"
        )));
    }
    Ok(())
}

/// Checks a key given by the caller: it must not be empty.
#[inline]
pub(crate) fn validate_key(key: &str) -> Result<()> {
    if key.is_empty() {
        return Err(Error::InvalidKey("key must not be empty".into()));
    }
    Ok(())
}

/// Shortens `key` to at most [`MAX_KEY_LEN`] bytes: a readable head, `#`, and the blake3 digest
/// (hex) of the whole key. Short keys are returned unchanged.
///
/// ```
/// let long = "x".repeat(1000);
/// let short = cache_core::key::shorten(&long);
/// assert!(short.len() <= cache_core::key::MAX_KEY_LEN);
/// assert!(short.starts_with("xxxx"));
/// assert_ne!(short, cache_core::key::shorten(&"x".repeat(1001)));
/// ```
#[inline]
pub fn shorten(key: &str) -> std::borrow::Cow<'_, str> {
    if key.len() <= MAX_KEY_LEN {
        return std::borrow::Cow::Borrowed(key);
    }
    std::borrow::Cow::Owned(digest_key(key))
}

#[cold]
fn digest_key(key: &str) -> String {
    let mut head = LONG_KEY_HEAD;
    while !key.is_char_boundary(head) {
        head -= 1;
    }
    let digest = blake3::hash(key.as_bytes());
    let mut out = String::with_capacity(MAX_KEY_LEN);
    out.push_str(&key[..head]);
    out.push('#');
    out.push_str(digest.to_hex().as_str());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_is_injective_for_special_characters() {
        let values = [
            "a:b", "a%3Ab", "a*", "a?", "a[b]", "{x}", "a b", "a\\b", "a\nb", "%", "é:",
        ];
        let escaped: std::collections::HashSet<_> = values.iter().map(|v| escape(v)).collect();
        assert_eq!(escaped.len(), values.len());
        for e in &escaped {
            assert!(
                !e.contains([':', '*', '?', '[', ']', '{', '}', ' ', '\\', '\n']),
                "{e}"
            );
        }
    }

    #[test]
    fn escaped_value_cannot_forge_a_neighbour_key() {
        // "user:{a}:{b}" with a="1:2", b="3" must differ from a="1", b="2:3".
        let k1 = KeyBuf::new()
            .lit("user:")
            .arg("1:2")
            .lit(":")
            .arg("3")
            .finish();
        let k2 = KeyBuf::new()
            .lit("user:")
            .arg("1")
            .lit(":")
            .arg("2:3")
            .finish();
        assert_ne!(k1, k2);
    }

    #[test]
    fn template_errors_say_where() {
        let e = Template::parse("a:{}").unwrap_err().to_string();
        assert!(e.contains("byte 2") && e.contains("empty"), "{e}");
        let e = Template::parse("a}b").unwrap_err().to_string();
        assert!(e.contains("byte 1"), "{e}");
        let e = Template::parse("a:{x-y}").unwrap_err().to_string();
        assert!(e.contains("x-y"), "{e}");
    }

    #[test]
    fn template_supports_field_paths_and_escaped_braces() {
        let t = Template::parse("{{lit}}:{user.id}").unwrap();
        let k = t
            .render(|n| (n == "user.id").then(|| "5".to_string()))
            .unwrap();
        assert_eq!(k, "{lit}:5");
        assert!(t.render(|_| None).is_err());
    }

    #[test]
    fn prefix_rules() {
        assert!(validate_prefix("app-1.v_2").is_ok());
        assert!(validate_prefix("").is_err());
        let e = validate_prefix("a:b").unwrap_err().to_string();
        assert!(e.contains("byte 1"), "{e}");
    }

    #[test]
    fn long_keys_are_shortened_on_a_char_boundary() {
        let long = "é".repeat(400);
        let short = shorten(&long);
        assert!(short.len() <= MAX_KEY_LEN);
        assert!(short.contains('#'));
    }
}
