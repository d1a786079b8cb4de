//! Keys and `Vary`: where a request's responses live (its resource id, `vary_by` fields and
//! variants), and the lookup of a stored response that matches the request.

use std::borrow::Cow;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::request::Parts;

use super::config::Config;
use super::entry::{Entry, Record};
use super::replicas::Decoded;

/// Where a request's responses live.
#[derive(Debug, Clone)]
pub(super) struct Keys {
    /// The primary key: a response, or the variants record of a URI with `Vary`.
    pub(super) base: String,
    /// `base[..id_end]` is `rc:` and the escaped resource identity (path and query, or the
    /// key function's result).
    pub(super) id_end: usize,
}

pub(super) fn resource_id<'a>(cfg: &Config, parts: &'a Parts) -> Option<Cow<'a, str>> {
    match &cfg.key_fn {
        Some(f) => f(parts).map(Cow::Owned),
        None => Some(Cow::Borrowed(
            parts.uri.path_and_query().map_or("/", |p| p.as_str()),
        )),
    }
}

impl Keys {
    /// `rc:` and the escaped resource identity.
    pub(super) fn resource(&self) -> &str {
        &self.base[..self.id_end]
    }

    /// The tag every stored response of this resource carries, so invalidating the resource
    /// drops all its variants in one call. Computed only when writing or invalidating.
    pub(super) fn resource_tag(&self) -> String {
        let hash = blake3::hash(self.resource().as_bytes());
        format!("rc-uri:{}", &hash.to_hex()[..32])
    }
}

/// The normalized value of a request field for `Vary` matching: all its lines, comma-joined.
pub(super) fn field_value(headers: &HeaderMap, name: &HeaderName) -> Option<HeaderValue> {
    let mut values = headers.get_all(name).iter();
    let first = values.next()?;
    let Some(second) = values.next() else {
        return Some(first.clone());
    };
    let mut joined = BytesMut::from(first.as_bytes());
    for v in std::iter::once(second).chain(values) {
        joined.extend_from_slice(b", ");
        joined.extend_from_slice(v.as_bytes());
    }
    HeaderValue::from_maybe_shared(joined.freeze()).ok()
}

/// A digest of field names and values (`None`: the field is absent).
pub(super) fn hash_fields<'a>(
    fields: impl Iterator<Item = (&'a HeaderName, Option<HeaderValue>)>,
) -> String {
    let mut h = blake3::Hasher::new();
    for (name, value) in fields {
        h.update(name.as_str().as_bytes());
        match value {
            Some(v) => {
                h.update(&[1]);
                h.update(&(v.len() as u64).to_be_bytes());
                h.update(v.as_bytes());
            }
            None => {
                h.update(&[0]);
            }
        }
    }
    h.finalize().to_hex()[..32].to_owned()
}

/// `hash_fields` over a request's values for `names`.
pub(super) fn hash_request_fields<'a>(
    names: impl Iterator<Item = &'a HeaderName>,
    headers: &HeaderMap,
) -> String {
    hash_fields(names.map(|n| (n, field_value(headers, n))))
}

/// Runs `f` on a request's base key (and where its resource identity ends), built in a buffer
/// this thread reuses: a hit answered from it allocates no key. `None` when the key function
/// declines the request.
pub(super) fn with_base_key<R>(
    cfg: &Config,
    parts: &Parts,
    f: impl FnOnce(&str, usize) -> R,
) -> Option<R> {
    thread_local! {
        static KEY: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
    }
    let mut f = Some(f);
    let reused = KEY.try_with(|key| {
        let mut key = key.try_borrow_mut().ok()?;
        key.clear();
        let done = write_key(cfg, parts, &mut key).map(|id_end| f.take().map(|f| f(&key, id_end)));
        Some(done)
    });
    match (reused, f) {
        (Ok(Some(done)), _) => done.flatten(),
        // Re-entered (from a key function), or the thread is being torn down: a key of its own.
        (_, Some(f)) => keys_for(cfg, parts).map(|k| f(&k.base, k.id_end)),
        (_, None) => None,
    }
}

pub(super) fn keys_for(cfg: &Config, parts: &Parts) -> Option<Keys> {
    let mut base = String::new();
    let id_end = write_key(cfg, parts, &mut base)?;
    Some(Keys { base, id_end })
}

/// Appends a request's base key (see [`Keys`]) to `key`, returning where its resource identity
/// ends; `None` when the key function declines the request.
pub(super) fn write_key(cfg: &Config, parts: &Parts, key: &mut String) -> Option<usize> {
    let id = resource_id(cfg, parts)?;
    key.reserve(id.len() + 48);
    key.push_str("rc:");
    cache_core::key::escape_into(key, &id);
    let id_end = key.len();
    if !cfg.vary_by.is_empty() {
        key.push_str(":vb:");
        key.push_str(&hash_request_fields(cfg.vary_by.iter(), &parts.headers));
    }
    Some(id_end)
}

pub(super) fn variant_key(base: &str, names: &[HeaderName], headers: &HeaderMap) -> String {
    format!("{base}:var:{}", hash_request_fields(names.iter(), headers))
}

pub(super) fn vary_matches(entry: &Entry, headers: &HeaderMap) -> bool {
    entry
        .vary
        .iter()
        .all(|(name, stored)| field_value(headers, name).as_ref() == stored.as_ref())
}

/// Looks the request up: `Ok(Some((entry, variant key)))` on a matching stored response (no
/// variant key: it is under the base key), `Err(())` when the cache failed (already logged and
/// counted by the `Cache`).
pub(super) async fn lookup(
    cfg: &Arc<Config>,
    keys: &Keys,
    headers: &HeaderMap,
) -> Result<Option<(Arc<Entry>, Option<String>)>, ()> {
    let found = cfg
        .cache
        .get_bytes_as(&keys.base, decode_record)
        .await
        .map_err(drop)?;
    match found.as_deref().map(|d| &d.record) {
        Some(Record::Response(e)) => Ok(vary_matches(e, headers).then(|| (Arc::clone(e), None))),
        Some(Record::Variants(names)) => {
            let key = variant_key(&keys.base, names, headers);
            let found = cfg
                .cache
                .get_bytes_as(&key, decode_record)
                .await
                .map_err(drop)?;
            match found.as_deref().map(|d| &d.record) {
                Some(Record::Response(e)) if vary_matches(e, headers) => {
                    Ok(Some((Arc::clone(e), Some(key))))
                }
                _ => Ok(None),
            }
        }
        // Absent, or unreadable (counted and logged by the cache as a miss).
        None => Ok(None),
    }
}

/// Decodes a stored record (kept beside its bytes by the cache when the store is in process).
pub(super) fn decode_record(bytes: &Bytes) -> Option<Arc<Decoded>> {
    Decoded::decode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ResponseCacheLayer;
    use cache_core::Cache;
    use http::Request;

    #[test]
    fn keys_escape_the_uri_so_it_cannot_forge_another_key() {
        let cfg = tower_layer::Layer::layer(&ResponseCacheLayer::new(Cache::memory()), ()).cfg;
        let parts =
            |uri: &'static str| Request::builder().uri(uri).body(()).unwrap().into_parts().0;
        let a = keys_for(&cfg, &parts("/a:vb:x")).unwrap();
        assert!(a.base.starts_with("rc:/a%3Avb%3Ax"), "{}", a.base);
        assert_ne!(
            keys_for(&cfg, &parts("/a?x=1")).unwrap().base,
            keys_for(&cfg, &parts("/a?x=2")).unwrap().base
        );
    }
}
