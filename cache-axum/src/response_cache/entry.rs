//! The compact binary form of a stored response.
//!
//! ```text
//! record   = "RC" format:u8 kind:u8 (response | variants)
//! response = status:u16 response_time:u64 initial_age:u64 lifetime:u64 swr:u64 sie:u64 flags:u8
//!            n:u16 (name:str16 present:u8 value:bytes32)*    -- the request's Vary values
//!            n:u16 (name:str16 value:bytes32)*                -- response headers
//!            body:bytes32
//! variants = n:u16 name:str16*                                -- the field names a URI varies on
//! ```
//!
//! Integers are big-endian, times are Unix milliseconds and durations milliseconds. The body is
//! the tail of the stored bytes, so a hit hands it out without a copy. Decoding checks every
//! length: bytes that do not parse are a miss, never a panic.

use std::sync::{Arc, OnceLock};

use bytes::{BufMut, Bytes, BytesMut};
use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::StatusCode;

const MAGIC: &[u8; 2] = b"RC";
const FORMAT: u8 = 1;
const KIND_RESPONSE: u8 = 0;
const KIND_VARIANTS: u8 = 1;

/// Flag: `no-cache` — revalidate before every use.
pub(crate) const NO_CACHE: u8 = 1;
/// Flag: never serve stale without revalidation (`must-revalidate`, `proxy-revalidate`,
/// `s-maxage`, `no-cache`).
pub(crate) const FORBIDS_STALE: u8 = 1 << 1;
/// Flag: may answer requests that carry `Authorization` (RFC 9111 §3.5).
pub(crate) const AUTH_OK: u8 = 1 << 2;
/// Flag: an explicit `must-revalidate`/`proxy-revalidate`/`no-cache`, which also overrides the
/// origin's own `stale-while-revalidate`/`stale-if-error`.
pub(crate) const EXPLICIT_REVALIDATE: u8 = 1 << 3;

/// A stored response.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
    pub(crate) response_time_ms: u64,
    pub(crate) initial_age_ms: u64,
    pub(crate) lifetime_ms: u64,
    pub(crate) swr_ms: u64,
    pub(crate) sie_ms: u64,
    pub(crate) flags: u8,
    /// The Vary field names and the values the original request had for them.
    pub(crate) vary: Vec<(HeaderName, Option<HeaderValue>)>,
    /// `headers` plus placeholders for the fields added when serving (see
    /// [`Entry::served_headers`]); built on first use. Reset it when changing `headers`.
    pub(crate) served: OnceLock<(Option<HeaderName>, Option<HeaderName>, HeaderMap)>,
}

/// What a key holds: a response, or the Vary names of a URI whose responses live under
/// per-variant keys. Shared, so a decoded record can be kept beside its stored bytes and
/// reused by later hits.
#[derive(Debug, Clone)]
pub(crate) enum Record {
    Response(Arc<Entry>),
    Variants(Arc<[HeaderName]>),
}

impl Entry {
    pub(crate) fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }

    /// Age at `now_ms` (RFC 9111 §4.2.3).
    pub(crate) fn age_ms(&self, now_ms: u64) -> u64 {
        self.initial_age_ms
            .saturating_add(now_ms.saturating_sub(self.response_time_ms))
    }

    /// The response fields to serve a shared entry with: a copy of `headers` with `Age` and
    /// the status field (`status`, when given) already in place as its first fields, so setting
    /// their values replaces them without growing or even searching the map.
    ///
    /// `hidden` is a stored field clients do not get (a targeted cache-control field meant for
    /// this cache).
    pub(crate) fn served_headers(
        &self,
        status: Option<&HeaderName>,
        hidden: Option<&HeaderName>,
    ) -> HeaderMap {
        let (name, hid, headers) = self.served.get_or_init(|| {
            let mut h = HeaderMap::try_with_capacity(self.headers.len() + 2).unwrap_or_default();
            h.insert(http::header::AGE, HeaderValue::from_static("0"));
            if let Some(n) = status {
                h.insert(n.clone(), HeaderValue::from_static(""));
            }
            // Stored responses hold neither field; were one there, serving replaces it anyway.
            for (n, v) in &self.headers {
                if n != http::header::AGE && Some(n) != status && Some(n) != hidden {
                    // A map already full to the limit loses what does not fit, not the request.
                    let _ = h.try_append(n.clone(), v.clone());
                }
            }
            (status.cloned(), hidden.cloned(), h)
        });
        if name.as_ref() == status && hid.as_ref() == hidden {
            headers.clone()
        } else {
            // Another layer configuration shares this entry: no placeholders to reuse.
            let mut h = self.headers.clone();
            if let Some(n) = hidden {
                h.remove(n);
            }
            h
        }
    }

    #[cfg(test)]
    pub(crate) fn encode(&self) -> Bytes {
        let mut b = Vec::with_capacity(self.encoded_len());
        self.encode_into(&mut b);
        Bytes::from(b)
    }

    /// The size of the encoded entry, or a little more.
    pub(crate) fn encoded_len(&self) -> usize {
        let fields = |(n, v): (&HeaderName, Option<&HeaderValue>)| {
            7 + n.as_str().len() + v.map_or(0, HeaderValue::len)
        };
        let headers: usize = self.headers.iter().map(|(n, v)| fields((n, Some(v)))).sum();
        let vary: usize = self.vary.iter().map(|(n, v)| fields((n, v.as_ref()))).sum();
        64 + headers + vary + self.body.len()
    }

    /// Appends the encoded entry to `b`.
    pub(crate) fn encode_into(&self, b: &mut Vec<u8>) {
        b.put_slice(MAGIC);
        b.put_u8(FORMAT);
        b.put_u8(KIND_RESPONSE);
        b.put_u16(self.status.as_u16());
        for t in [
            self.response_time_ms,
            self.initial_age_ms,
            self.lifetime_ms,
            self.swr_ms,
            self.sie_ms,
        ] {
            b.put_u64(t);
        }
        b.put_u8(self.flags);
        put_len16(b, self.vary.len());
        for (name, value) in &self.vary {
            put_str16(b, name.as_str().as_bytes());
            b.put_u8(u8::from(value.is_some()));
            put_bytes32(b, value.as_ref().map_or(&[][..], HeaderValue::as_bytes));
        }
        put_len16(b, self.headers.len());
        for (name, value) in &self.headers {
            put_str16(b, name.as_str().as_bytes());
            put_bytes32(b, value.as_bytes());
        }
        put_bytes32(b, &self.body);
    }
}

/// Encodes a variants record.
pub(crate) fn encode_variants(names: &[HeaderName]) -> Bytes {
    let mut b =
        BytesMut::with_capacity(8 + names.iter().map(|n| 2 + n.as_str().len()).sum::<usize>());
    b.put_slice(MAGIC);
    b.put_u8(FORMAT);
    b.put_u8(KIND_VARIANTS);
    put_len16(&mut b, names.len());
    for n in names {
        put_str16(&mut b, n.as_str().as_bytes());
    }
    b.freeze()
}

// Header names are under 64 KiB and values under 4 GiB in practice; larger ones are truncated
// lengths the decoder rejects, so they are never misread.
fn put_len16(b: &mut impl BufMut, n: usize) {
    b.put_u16(u16::try_from(n).unwrap_or(u16::MAX));
}

fn put_str16(b: &mut impl BufMut, s: &[u8]) {
    put_len16(b, s.len());
    b.put_slice(s);
}

fn put_bytes32(b: &mut impl BufMut, s: &[u8]) {
    b.put_u32(u32::try_from(s.len()).unwrap_or(u32::MAX));
    b.put_slice(s);
}

/// A bounds-checked reader over the stored bytes.
struct Reader {
    buf: Bytes,
    pos: usize,
}

impl Reader {
    fn take(&mut self, n: usize) -> Option<Bytes> {
        let end = self.pos.checked_add(n)?;
        if end > self.buf.len() {
            return None;
        }
        let out = self.buf.slice(self.pos..end);
        self.pos = end;
        Some(out)
    }
    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        let end = self.pos.checked_add(N)?;
        let out = self.buf.get(self.pos..end)?.try_into().ok()?;
        self.pos = end;
        Some(out)
    }
    fn u8(&mut self) -> Option<u8> {
        self.array::<1>().map(|[b]| b)
    }
    fn u16(&mut self) -> Option<u16> {
        self.array().map(u16::from_be_bytes)
    }
    fn u32(&mut self) -> Option<u32> {
        self.array().map(u32::from_be_bytes)
    }
    fn u64(&mut self) -> Option<u64> {
        self.array().map(u64::from_be_bytes)
    }
    fn name(&mut self) -> Option<HeaderName> {
        let n = self.u16()?;
        let raw = self.take(usize::from(n))?;
        HeaderName::from_bytes(&raw).ok()
    }
    fn bytes32(&mut self) -> Option<Bytes> {
        let n = usize::try_from(self.u32()?).ok()?;
        self.take(n)
    }
    fn value(&mut self) -> Option<HeaderValue> {
        HeaderValue::from_maybe_shared(self.bytes32()?).ok()
    }
}

/// Decodes a record; `None` for anything that is not one.
pub(crate) fn decode(buf: Bytes) -> Option<Record> {
    let mut r = Reader { buf, pos: 0 };
    if r.array::<2>()? != *MAGIC || r.u8()? != FORMAT {
        return None;
    }
    match r.u8()? {
        KIND_RESPONSE => decode_response(&mut r).map(|e| Record::Response(Arc::new(e))),
        KIND_VARIANTS => {
            let n = r.u16()?;
            let names = (0..n).map(|_| r.name()).collect::<Option<Arc<[_]>>>()?;
            Some(Record::Variants(names))
        }
        _ => None,
    }
}

fn decode_response(r: &mut Reader) -> Option<Entry> {
    let status = StatusCode::from_u16(r.u16()?).ok()?;
    let response_time_ms = r.u64()?;
    let initial_age_ms = r.u64()?;
    let lifetime_ms = r.u64()?;
    let swr_ms = r.u64()?;
    let sie_ms = r.u64()?;
    let flags = r.u8()?;
    let nvary = r.u16()?;
    let mut vary = Vec::with_capacity(usize::from(nvary));
    for _ in 0..nvary {
        let name = r.name()?;
        let present = r.u8()? != 0;
        let value = r.value()?;
        vary.push((name, present.then_some(value)));
    }
    let nheaders = r.u16()?;
    // Room for the `Age` and status fields added when it is served. The count is not trusted
    // for the allocation (corrupt bytes could ask for more fields than a map holds), and more
    // fields than a map holds are refused, not a panic.
    let mut headers = HeaderMap::with_capacity(usize::from(nheaders).min(64) + 2);
    for _ in 0..nheaders {
        let name = r.name()?;
        let value = r.value()?;
        headers.try_append(name, value).ok()?;
    }
    let body = r.bytes32()?;
    if r.pos != r.buf.len() {
        return None;
    }
    Some(Entry {
        status,
        headers,
        body,
        response_time_ms,
        initial_age_ms,
        lifetime_ms,
        swr_ms,
        sie_ms,
        flags,
        vary,
        served: OnceLock::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Entry {
        let mut headers = HeaderMap::new();
        headers.insert("content-type", HeaderValue::from_static("text/plain"));
        headers.append("x-multi", HeaderValue::from_static("a"));
        headers.append("x-multi", HeaderValue::from_static("b"));
        Entry {
            status: StatusCode::NOT_FOUND,
            headers,
            body: Bytes::from_static(b"\x00binary\xffbody"),
            response_time_ms: 1_700_000_000_000,
            initial_age_ms: 5,
            lifetime_ms: 60_000,
            swr_ms: 1,
            sie_ms: 2,
            flags: AUTH_OK | NO_CACHE,
            vary: vec![
                (
                    HeaderName::from_static("accept"),
                    Some(HeaderValue::from_static("text/html")),
                ),
                (HeaderName::from_static("x-absent"), None),
            ],
            served: OnceLock::new(),
        }
    }

    #[test]
    fn response_roundtrips_and_stays_compact() {
        let e = sample();
        let bytes = e.encode();
        // Framing overhead is a few dozen bytes, not a JSON/base64 blow-up.
        assert!(bytes.len() < e.body.len() + 150, "{}", bytes.len());
        // Written in one allocation.
        assert!(
            e.encoded_len() >= bytes.len(),
            "{} < {}",
            e.encoded_len(),
            bytes.len()
        );
        let Some(Record::Response(d)) = decode(bytes) else {
            panic!("not a response")
        };
        assert_eq!(d.status, e.status);
        assert_eq!(d.headers, e.headers);
        assert_eq!(d.body, e.body);
        assert_eq!(d.vary, e.vary);
        assert_eq!(
            (d.lifetime_ms, d.swr_ms, d.sie_ms, d.flags),
            (60_000, 1, 2, AUTH_OK | NO_CACHE)
        );
        assert_eq!(d.age_ms(1_700_000_001_000), 1_005);
    }

    #[test]
    fn served_headers_hold_placeholders_for_the_added_fields() {
        let e = sample();
        let status = HeaderName::from_static("x-cache");
        let h = e.served_headers(Some(&status), None);
        assert_eq!(h.len(), e.headers.len() + 2);
        assert!(h.contains_key(http::header::AGE) && h.contains_key(&status));
        // Another status field than the one cached: the plain fields.
        assert_eq!(e.served_headers(None, None), e.headers);
    }

    #[test]
    fn variants_roundtrip() {
        let names = vec![
            HeaderName::from_static("accept"),
            HeaderName::from_static("accept-language"),
        ];
        let Some(Record::Variants(d)) = decode(encode_variants(&names)) else {
            panic!()
        };
        assert_eq!(&d[..], &names[..]);
    }

    #[test]
    fn more_fields_than_a_header_map_holds_decode_to_none_not_a_panic() {
        let mut b = BytesMut::new();
        b.put_slice(MAGIC);
        b.put_u8(FORMAT);
        b.put_u8(KIND_RESPONSE);
        b.put_u16(200);
        for _ in 0..5 {
            b.put_u64(0);
        }
        b.put_u8(0);
        put_len16(&mut b, 0);
        put_len16(&mut b, usize::from(u16::MAX));
        for i in 0..u16::MAX {
            put_str16(&mut b, format!("h{i}").as_bytes());
            put_bytes32(&mut b, b"v");
        }
        put_bytes32(&mut b, b"");
        assert!(decode(b.freeze()).is_none());
    }

    #[test]
    fn garbage_and_every_truncation_decode_to_none() {
        let bytes = sample().encode();
        for cut in 0..bytes.len() {
            assert!(decode(bytes.slice(..cut)).is_none(), "cut at {cut}");
        }
        assert!(decode(Bytes::from_static(b"{\"json\":true}")).is_none());
        let mut extra = bytes.to_vec();
        extra.push(0);
        assert!(decode(Bytes::from(extra)).is_none());
    }
}
