//! The namespace: every key is `{prefix}:v{version}:{key}`, every tag `{prefix}:t:{tag}`, and
//! patterns are confined to the namespace.

use super::Cache;
use crate::error::{Error, Result};
use crate::{key, pattern};

/// Appends the decimal digits of `n` (without the `fmt` machinery: this is on the hit path).
fn push_u64(out: &mut String, mut n: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &b in &buf[i..] {
        out.push(char::from(b));
    }
}

impl Cache {
    /// The full store key for `key`: `{prefix}:v{version}:{key}`, shortened with a digest when
    /// longer than [`key::MAX_KEY_LEN`].
    ///
    /// ```
    /// let cache = cache_core::Cache::memory();
    /// assert_eq!(cache.full_key("user:1").unwrap(), "cache:v1:user:1");
    /// assert!(cache.full_key("").is_err());
    /// ```
    pub fn full_key(&self, key: &str) -> Result<String> {
        key::validate_key(key)?;
        let mut full = self.namespace_with_capacity(key.len());
        full.push_str(key);
        Ok(match key::shorten(&full) {
            std::borrow::Cow::Borrowed(_) => full,
            std::borrow::Cow::Owned(short) => short,
        })
    }

    /// Runs `f` on the full key of `key`, built in a buffer this thread reuses: the typed hit
    /// path allocates no key, and writes the namespace again only when the thread last built a
    /// key for another cache or version.
    #[inline]
    pub(super) fn with_full_key<R>(&self, key: &str, f: impl FnOnce(&str) -> R) -> Result<R> {
        thread_local! {
            static BUF: std::cell::RefCell<KeyBuffer> = const {
                std::cell::RefCell::new(KeyBuffer { owner: 0, version: 0, ns_len: 0, buf: String::new() })
            };
        }
        key::validate_key(key)?;
        let owner = self.inner.id;
        let version = self.version();
        let mut f = Some(f);
        let reused = BUF.try_with(|cell| {
            let mut b = cell.try_borrow_mut().ok()?;
            // Cache ids start at 1, so a new buffer is never taken for a built one.
            if b.owner != owner || b.version != version {
                b.buf.clear();
                self.push_namespace(&mut b.buf);
                (b.owner, b.version, b.ns_len) = (owner, version, b.buf.len());
            }
            let ns_len = b.ns_len;
            b.buf.truncate(ns_len);
            b.buf.push_str(key);
            let f = f.take()?;
            Some(f(&key::shorten(&b.buf)))
        });
        match (reused, f) {
            (Ok(Some(r)), _) => Ok(r),
            // Re-entered from `f`, or the thread is being torn down: a key of its own.
            (_, Some(f)) => Ok(f(&self.full_key(key)?)),
            (_, None) => Err(Error::InvalidKey(format!("{key:?}: no key buffer"))),
        }
    }

    /// `{prefix}:v{version}:`
    pub(super) fn namespace(&self) -> String {
        self.namespace_with_capacity(0)
    }

    fn namespace_with_capacity(&self, extra: usize) -> String {
        let mut ns = String::with_capacity(self.inner.prefix.len() + 24 + extra);
        self.push_namespace(&mut ns);
        ns
    }

    fn push_namespace(&self, out: &mut String) {
        out.push_str(&self.inner.prefix);
        out.push_str(":v");
        push_u64(out, self.version());
        out.push(':');
    }

    /// The glob that matches exactly this namespace's keys that match `pattern`.
    pub(super) fn full_pattern(&self, pattern: &str) -> Result<String> {
        pattern::validate(pattern)?;
        Ok(format!(
            "{}{pattern}",
            pattern::escape_literal(&self.namespace())
        ))
    }

    /// The store name of a tag: `{prefix}:t:{tag}`. Tags are not versioned.
    pub(crate) fn tag_key(&self, tag: &str) -> Result<String> {
        if tag.is_empty() {
            return Err(Error::InvalidKey("tag must not be empty".into()));
        }
        Ok(format!("{}:t:{tag}", self.inner.prefix))
    }

    pub(super) fn full_keys<I, K>(&self, keys: I) -> Result<Vec<String>>
    where
        I: IntoIterator<Item = K>,
        K: AsRef<str>,
    {
        keys.into_iter()
            .map(|k| self.full_key(k.as_ref()))
            .collect()
    }
}

/// A thread's buffer for full keys, holding the namespace of the cache (by its id: an address
/// could be reused by a cache made after this one is dropped) and version it was built for.
struct KeyBuffer {
    owner: u64,
    version: u64,
    ns_len: usize,
    buf: String,
}
