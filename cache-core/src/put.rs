//! Runtime support for `#[cache_put]` (write-through): stores a function's successful result
//! with [`Cache::set_with`], the encoding a `#[cached]` reader of the same key decodes.

use crate::private::{OptionShape, PlainShape, ResultShape};
use crate::value_check::PutValue;
use crate::{Cache, Error, SetOptions};

/// The part of a return value that `#[cache_put]` stores, by reference: the `Ok` of a
/// `Result`, the `Some` of an `Option`, any other value whole.
pub trait Stored<R> {
    /// What is stored.
    type Value: ?Sized;
    /// The value to store, or `None` when the function failed.
    fn stored(r: &R) -> Option<&Self::Value>;
}

impl<T, E> Stored<Result<T, E>> for ResultShape {
    type Value = T;
    fn stored(r: &Result<T, E>) -> Option<&T> {
        r.as_ref().ok()
    }
}

impl<T> Stored<Option<T>> for OptionShape {
    type Value = T;
    fn stored(r: &Option<T>) -> Option<&T> {
        r.as_ref()
    }
}

impl<T> Stored<T> for PlainShape {
    type Value = T;
    fn stored(r: &T) -> Option<&T> {
        Some(r)
    }
}

/// Stores `value` under `key`. A failure is logged and counted, never returned. The bound is
/// [`PutValue`] (`Serialize`), so a value that is not serializable reads as `#[cache_put]`'s error.
pub async fn put<T: PutValue + ?Sized>(cache: &Cache, key: &str, value: &T, opts: SetOptions) {
    if let Err(e) = cache.set_with(key, value, opts).await {
        if !matches!(e, Error::Backend(_) | Error::Timeout(_)) {
            // Backend errors are counted by the cache itself.
            cache.count_error();
        }
        tracing::warn!(target: "cache", key, error = %e, "cache_put: the result was not stored");
    }
}
