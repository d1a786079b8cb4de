//! Codecs turn typed values into bytes and back.
//!
//! [`Json`] (`serde_json`) is the default: values stay readable in `redis-cli` and are shared
//! with services in other languages. A custom codec implements [`Codec`] over
//! [`erased_serde`], so a [`Cache`](crate::Cache) stays one concrete type whatever codec it uses.
//! The JSON codec is dispatched statically on the hot path.

use std::fmt;

use crate::error::{Error, Result};

/// A serialization format for cached values.
///
/// The [`id`](Codec::id) is written into every stored value's header; a value written by
/// another codec is a decode miss, never misread. Ids below 64 are reserved for built-in codecs.
///
/// ```
/// use cache_core::codec::{Codec, Json};
///
/// let bytes = Json.encode(&vec![1, 2, 3]).unwrap();
/// assert_eq!(bytes, b"[1,2,3]");
/// let mut out: Option<Vec<u32>> = None;
/// Json.decode_with(&bytes, &mut |de| {
///     out = Some(erased_serde::deserialize(de)?);
///     Ok(())
/// }).unwrap();
/// assert_eq!(out, Some(vec![1, 2, 3]));
/// ```
pub trait Codec: Send + Sync + fmt::Debug + 'static {
    /// The id stored in each value's header.
    fn id(&self) -> u8;

    /// A short name for logs and errors.
    fn name(&self) -> &'static str;

    /// Serializes `value`.
    fn encode(&self, value: &dyn erased_serde::Serialize) -> Result<Vec<u8>>;

    /// Builds a deserializer over `bytes` and hands it to `visit`, which deserializes the
    /// requested type from it.
    fn decode_with(
        &self,
        bytes: &[u8],
        visit: &mut dyn FnMut(
            &mut dyn erased_serde::Deserializer<'_>,
        ) -> Result<(), erased_serde::Error>,
    ) -> Result<()>;
}

/// The JSON codec (`serde_json`), the default.
///
/// ```
/// use cache_core::codec::{Codec, Json};
/// assert_eq!(Json.id(), cache_core::codec::JSON_ID);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Json;

/// The header id of [`Json`].
pub const JSON_ID: u8 = 1;

/// The header id of raw bytes written with [`Cache::set_bytes`](crate::Cache::set_bytes): no
/// codec, the payload is the caller's bytes as they are.
pub const RAW_ID: u8 = 0;

impl Codec for Json {
    fn id(&self) -> u8 {
        JSON_ID
    }

    fn name(&self) -> &'static str {
        "json"
    }

    fn encode(&self, value: &dyn erased_serde::Serialize) -> Result<Vec<u8>> {
        serde_json::to_vec(value).map_err(|e| Error::Encode(format!("json: {e}")))
    }

    fn decode_with(
        &self,
        bytes: &[u8],
        visit: &mut dyn FnMut(
            &mut dyn erased_serde::Deserializer<'_>,
        ) -> Result<(), erased_serde::Error>,
    ) -> Result<()> {
        let mut de = serde_json::Deserializer::from_slice(bytes);
        {
            let mut erased = <dyn erased_serde::Deserializer<'_>>::erase(&mut de);
            visit(&mut erased).map_err(|e| Error::Decode(format!("json: {e}")))?;
        }
        de.end().map_err(|e| Error::Decode(format!("json: {e}")))
    }
}

/// The codec a cache uses: JSON statically, anything else through the trait object.
#[derive(Debug, Clone)]
pub(crate) enum CodecImpl {
    Json,
    Custom(std::sync::Arc<dyn Codec>),
}

impl CodecImpl {
    pub(crate) fn from_codec<C: Codec>(codec: C) -> Self {
        if (&codec as &dyn std::any::Any).is::<Json>() {
            CodecImpl::Json
        } else {
            CodecImpl::Custom(std::sync::Arc::new(codec))
        }
    }

    pub(crate) fn id(&self) -> u8 {
        match self {
            CodecImpl::Json => JSON_ID,
            CodecImpl::Custom(c) => c.id(),
        }
    }

    pub(crate) fn name(&self) -> &'static str {
        match self {
            CodecImpl::Json => "json",
            CodecImpl::Custom(c) => c.name(),
        }
    }

    pub(crate) fn encode<T: serde::Serialize + ?Sized>(&self, value: &T) -> Result<Vec<u8>> {
        match self {
            CodecImpl::Json => {
                serde_json::to_vec(value).map_err(|e| Error::Encode(format!("json: {e}")))
            }
            CodecImpl::Custom(c) => c.encode(&value),
        }
    }

    pub(crate) fn decode<T: serde::de::DeserializeOwned>(&self, bytes: &[u8]) -> Result<T> {
        match self {
            CodecImpl::Json => {
                serde_json::from_slice(bytes).map_err(|e| Error::Decode(format!("json: {e}")))
            }
            CodecImpl::Custom(c) => {
                let mut out = None;
                c.decode_with(bytes, &mut |de| {
                    out = Some(erased_serde::deserialize::<T>(de)?);
                    Ok(())
                })?;
                out.ok_or_else(|| Error::Decode(format!("{}: codec produced no value", c.name())))
            }
        }
    }
}
