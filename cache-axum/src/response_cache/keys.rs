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
use super::report::Fwd;

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

/// The normalized value of a request field for `Vary` matching (RFC 9111 §4.1): all its lines
/// as one comma-separated list, each member trimmed, with no white space around `;` and `=`;
/// lowercased for the `Accept` fields, whose tokens are case-insensitive; and sorted for
/// `Accept-Encoding`, whose order carries no meaning (its q-values do). `Accept-Language` keeps
/// its order: clients list preferences in it. A value that is not visible ASCII is joined as it
/// came.
pub(super) fn field_value(headers: &HeaderMap, name: &HeaderName) -> Option<HeaderValue> {
    let mut values = headers.get_all(name).iter().peekable();
    values.peek()?;
    let fold = matches!(
        name.as_str(),
        "accept" | "accept-encoding" | "accept-language" | "accept-charset"
    );
    let mut members = Vec::new();
    for v in values {
        let Ok(v) = v.to_str() else {
            return raw_joined(headers, name);
        };
        members.extend(
            v.split(',')
                .map(|m| member(m, fold))
                .filter(|m| !m.is_empty()),
        );
    }
    if *name == http::header::ACCEPT_ENCODING {
        members.sort_unstable();
    }
    HeaderValue::from_str(&members.join(", ")).ok()
}

/// One list member, normalized (see [`field_value`]).
fn member(m: &str, fold: bool) -> String {
    let parts: Vec<String> = m
        .split(';')
        .map(|p| match p.split_once('=') {
            Some((k, v)) => format!("{}={}", k.trim(), v.trim()),
            None => p.trim().to_owned(),
        })
        .collect();
    let joined = parts.join(";");
    if fold {
        joined.to_ascii_lowercase()
    } else {
        joined
    }
}

fn raw_joined(headers: &HeaderMap, name: &HeaderName) -> Option<HeaderValue> {
    let mut joined = BytesMut::new();
    for (i, v) in headers.get_all(name).iter().enumerate() {
        if i > 0 {
            joined.extend_from_slice(b", ");
        }
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

/// What a lookup found: a response (with its variant key, when it varies), or nothing and why.
pub(super) enum Found {
    Response(Arc<Entry>, Option<String>),
    Missing(Fwd),
}

/// Looks the request up: [`Found::Response`] on a matching stored response (no variant key: it
/// is under the base key), [`Found::Missing`] with `vary-miss` when responses are stored for
/// the URI but none for this request's `Vary` values, `Err(())` when the cache failed (already
/// logged and counted by the `Cache`).
pub(super) async fn lookup(
    cfg: &Arc<Config>,
    keys: &Keys,
    headers: &HeaderMap,
) -> Result<Found, ()> {
    let found = cfg
        .cache
        .get_bytes_as(&keys.base, decode_record)
        .await
        .map_err(drop)?;
    match found.as_deref().map(|d| &d.record) {
        Some(Record::Response(e)) if vary_matches(e, headers) => {
            Ok(Found::Response(Arc::clone(e), None))
        }
        Some(Record::Response(_)) => Ok(Found::Missing(Fwd::VaryMiss)),
        Some(Record::Variants(names)) => {
            let key = variant_key(&keys.base, names, headers);
            let found = cfg
                .cache
                .get_bytes_as(&key, decode_record)
                .await
                .map_err(drop)?;
            match found.as_deref().map(|d| &d.record) {
                Some(Record::Response(e)) if vary_matches(e, headers) => {
                    Ok(Found::Response(Arc::clone(e), Some(key)))
                }
                _ => Ok(Found::Missing(Fwd::VaryMiss)),
            }
        }
        // Absent, or unreadable (counted and logged by the cache as a miss).
        None => Ok(Found::Missing(Fwd::UriMiss)),
    }
}

/// Decodes a stored record (kept beside its bytes by the cache when the store is in process).
pub(super) fn decode_record(bytes: &Bytes) -> Option<Arc<Decoded>> {
    Decoded::decode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vary_values_are_normalized_for_white_space_case_and_meaningless_order() {
        let v = |name: &'static str, values: &[&'static str]| {
            let mut h = HeaderMap::new();
            for value in values {
                h.append(name, HeaderValue::from_static(value));
            }
            field_value(&h, &HeaderName::from_static(name)).map(|v| v.to_str().unwrap().to_owned())
        };
        assert_eq!(
            v("accept-language", &["en, fr"]),
            v("accept-language", &["EN,fr"])
        );
        assert_eq!(
            v("accept-language", &["en", "fr"]),
            v("accept-language", &["en,fr"])
        );
        assert_ne!(
            v("accept-language", &["fr, en"]),
            v("accept-language", &["en, fr"])
        );
        assert_eq!(
            v("accept-encoding", &["gzip;q=1.0, br"]),
            v("accept-encoding", &["BR,gzip ; q = 1.0"])
        );
        assert_ne!(
            v("x-token", &["A"]),
            v("x-token", &["a"]),
            "other fields keep their case"
        );
        assert_eq!(v("accept", &[]), None);
    }
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
