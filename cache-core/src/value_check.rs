//! The check `#[cached]` makes of the value it stores, so that a type it cannot store is one
//! error at the user's return type, in the user's words, rather than one error per missing
//! bound at every generated call (several of them naming `__private`).
//!
//! The generated code asks a [`ValueProbe`] for a verdict by method resolution: each level of
//! references tries a weaker set of bounds, so the first level that holds names the first bound
//! that is missing (`Serialize`, then `Deserialize`, `Clone`, `Send`, `Sync`). A type that has
//! them all gets [`Storable`], whose methods call the cache; any other gets an [`Unstorable`],
//! whose `check` requires exactly the missing bound through a trait with a
//! `#[diagnostic::on_unimplemented]` message (the one error), and whose other methods have no
//! value bounds at all, so nothing else fails. Method resolution sees the function's `where`
//! clauses, so a generic value type bounded by the caller is [`Storable`] too.
//!
//! Not a public API: reached only through `cache_core::__private`.

use std::future::Future;
use std::marker::PhantomData;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::private::Shape;
use crate::stats::FnSite;
use crate::warm::registration::{WarmShape, WarmSlot};
use crate::{Cache, CacheValue, SetOptions};

/// Asks, by method resolution, whether `T` can be cached: call
/// `(&&&&&&ValueProbe::<T>::new()).verdict()` with the `Probe*` traits in scope.
#[derive(Debug)]
pub struct ValueProbe<T: ?Sized>(PhantomData<T>);

impl<T: ?Sized> ValueProbe<T> {
    /// A probe for `T`.
    pub const fn new() -> Self {
        Self(PhantomData)
    }
}

impl<T: ?Sized> Default for ValueProbe<T> {
    fn default() -> Self {
        Self::new()
    }
}

/// The verdict for a type with every bound a cached value needs.
#[derive(Debug, Clone, Copy)]
pub struct Storable;

/// The verdict for a type that misses a bound; `W` names the first one missing.
#[derive(Debug)]
pub struct Unstorable<W>(PhantomData<W>);

impl<W> Unstorable<W> {
    const fn new() -> Self {
        Self(PhantomData)
    }
}

/// `Unstorable<NoSerialize>`: the value is not `Serialize`.
#[derive(Debug)]
pub enum NoSerialize {}
/// `Unstorable<NoDeserialize>`: the value is not `DeserializeOwned`.
#[derive(Debug)]
pub enum NoDeserialize {}
/// `Unstorable<NoClone>`: the value is not `Clone`.
#[derive(Debug)]
pub enum NoClone {}
/// `Unstorable<NoSend>`: the value is not `Send`.
#[derive(Debug)]
pub enum NoSend {}
/// `Unstorable<NoSync>`: the value is not `Sync`.
#[derive(Debug)]
pub enum NoSync {}

/// Level 0 (the receiver itself): every bound holds.
pub trait ProbeStorable {
    /// The verdict.
    fn verdict(&self) -> Storable {
        Storable
    }
}
impl<T: Serialize + DeserializeOwned + Clone + Send + Sync + 'static> ProbeStorable
    for &&&&&ValueProbe<T>
{
}

/// Level 1: all but `Sync`.
pub trait ProbeNoSync {
    /// The verdict.
    fn verdict(&self) -> Unstorable<NoSync> {
        Unstorable::new()
    }
}
impl<T: Serialize + DeserializeOwned + Clone + Send> ProbeNoSync for &&&&ValueProbe<T> {}

/// Level 2: all but `Send`.
pub trait ProbeNoSend {
    /// The verdict.
    fn verdict(&self) -> Unstorable<NoSend> {
        Unstorable::new()
    }
}
impl<T: Serialize + DeserializeOwned + Clone> ProbeNoSend for &&&ValueProbe<T> {}

/// Level 3: serializable both ways, not `Clone`.
pub trait ProbeNoClone {
    /// The verdict.
    fn verdict(&self) -> Unstorable<NoClone> {
        Unstorable::new()
    }
}
impl<T: Serialize + DeserializeOwned> ProbeNoClone for &&ValueProbe<T> {}

/// Level 4: `Serialize` only.
pub trait ProbeNoDeserialize {
    /// The verdict.
    fn verdict(&self) -> Unstorable<NoDeserialize> {
        Unstorable::new()
    }
}
impl<T: Serialize> ProbeNoDeserialize for &ValueProbe<T> {}

/// Level 5: nothing holds.
pub trait ProbeNoSerialize {
    /// The verdict.
    fn verdict(&self) -> Unstorable<NoSerialize> {
        Unstorable::new()
    }
}
impl<T: ?Sized> ProbeNoSerialize for ValueProbe<T> {}

/// `Serialize`, with the message the user sees when it is missing.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be cached: `#[cached]` stores the function's value serialized, and `{Self}` is not `Serialize`",
    label = "the value `#[cached]` stores",
    note = "a cached value is `Clone + Serialize + Deserialize + Send + Sync + 'static`: for your own type, `#[derive(Clone, serde::Serialize, serde::Deserialize)]`; a handle (a connection, a pool, a client) is not a value: cache what the function reads through it"
)]
pub trait CachedSerialize {}
impl<T: Serialize + ?Sized> CachedSerialize for T {}

/// `DeserializeOwned`, with the message the user sees when it is missing.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be cached: `#[cached]` reads the stored value back, and `{Self}` is not `Deserialize` (for any lifetime: `DeserializeOwned`)",
    label = "the value `#[cached]` stores",
    note = "a cached value is `Clone + Serialize + Deserialize + Send + Sync + 'static`: for your own type, `#[derive(Clone, serde::Serialize, serde::Deserialize)]`; a type that borrows (`&str`, `Cow<'a, _>`) cannot be read back: return an owned one"
)]
pub trait CachedDeserialize {}
impl<T: DeserializeOwned> CachedDeserialize for T {}

/// `Clone`, with the message the user sees when it is missing.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be cached: `#[cached]` keeps the value in memory and hands out copies, and `{Self}` is not `Clone`",
    label = "the value `#[cached]` stores",
    note = "a cached value is `Clone + Serialize + Deserialize + Send + Sync + 'static`: add `Clone` to its derives, or return an `Arc` of it"
)]
pub trait CachedClone {}
impl<T: Clone> CachedClone for T {}

/// `Send`, with the message the user sees when it is missing.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be cached: the cache shares values between threads, and `{Self}` is not `Send`",
    label = "the value `#[cached]` stores",
    note = "a cached value is `Clone + Serialize + Deserialize + Send + Sync + 'static`: use `Arc` rather than `Rc`, and owned data rather than raw pointers"
)]
pub trait CachedSend {}
impl<T: Send + ?Sized> CachedSend for T {}

/// `Sync`, with the message the user sees when it is missing.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be cached: the cache shares values between threads, and `{Self}` is not `Sync`",
    label = "the value `#[cached]` stores",
    note = "a cached value is `Clone + Serialize + Deserialize + Send + Sync + 'static`: use a `Mutex` rather than a `RefCell` or `Cell`"
)]
pub trait CachedSync {}
impl<T: Sync + ?Sized> CachedSync for T {}

impl Storable {
    /// Nothing to check.
    #[inline(always)]
    pub fn check<V: ?Sized>(&self, _value: PhantomData<V>) {}

    /// [`cached`](crate::private::cached).
    ///
    /// Returns the call's own future, not one wrapping it: the hit path pays for no extra state
    /// machine.
    #[inline]
    pub fn cached<'a, S, R, Fut, U>(
        self,
        site: &'static FnSite,
        cache: &'a Cache,
        key: Option<String>,
        opts: SetOptions,
        body: Fut,
        unless: U,
    ) -> impl Future<Output = R> + use<'a, S, R, Fut, U>
    where
        S: Shape<R>,
        S::Value: Serialize + CacheValue,
        Fut: Future<Output = R>,
        U: FnOnce(&S::Value) -> bool,
    {
        crate::private::cached::<S, R, Fut, U>(site, cache, key, opts, body, unless)
    }

    /// [`cached_background`](crate::private::cached_background).
    #[inline]
    pub fn cached_background<S, R, Fut, U>(
        self,
        site: &'static FnSite,
        cache: Cache,
        key: Option<String>,
        opts: SetOptions,
        body: Fut,
        unless: U,
    ) -> impl Future<Output = R> + use<S, R, Fut, U>
    where
        S: Shape<R> + 'static,
        R: Send + 'static,
        S::Value: Serialize + CacheValue,
        Fut: Future<Output = R> + Send + 'static,
        U: FnOnce(&S::Value) -> bool + Send + 'static,
    {
        crate::private::cached_background::<S, R, Fut, U>(site, cache, key, opts, body, unless)
    }

    /// [`WarmSlot::register`].
    #[inline]
    pub fn register<S, R, F, Fut, U>(self, slot: WarmSlot<'_>, make: F, opts: SetOptions, unless: U)
    where
        S: Shape<R> + WarmShape + 'static,
        S::Value: Serialize + Send + Sync + 'static,
        R: Send + 'static,
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = R> + Send + 'static,
        U: Fn(&S::Value) -> bool + Send + Sync + 'static,
    {
        slot.register::<S, R, F, Fut, U>(make, opts, unless);
    }
}

impl Unstorable<NoSerialize> {
    /// The one error: the value is not `Serialize`.
    pub fn check<V: CachedSerialize + ?Sized>(&self, _value: PhantomData<V>) {}
}

impl Unstorable<NoDeserialize> {
    /// The one error: the value is not `DeserializeOwned`.
    pub fn check<V: CachedDeserialize>(&self, _value: PhantomData<V>) {}
}

impl Unstorable<NoClone> {
    /// The one error: the value is not `Clone`.
    pub fn check<V: CachedClone>(&self, _value: PhantomData<V>) {}
}

impl Unstorable<NoSend> {
    /// The one error: the value is not `Send`.
    pub fn check<V: CachedSend + ?Sized>(&self, _value: PhantomData<V>) {}
}

impl Unstorable<NoSync> {
    /// The one error: the value is not `Sync`.
    pub fn check<V: CachedSync + ?Sized>(&self, _value: PhantomData<V>) {}
}

// A program never runs these: `check` fails to compile first. They keep every bound of the
// real calls except the value's, so nothing but `check` reports an error.
impl<W> Unstorable<W> {
    /// Runs the body (never reached: `check` does not compile).
    pub async fn cached<S, R, Fut, U>(
        self,
        _site: &'static FnSite,
        _cache: &Cache,
        _key: Option<String>,
        _opts: SetOptions,
        body: Fut,
        _unless: U,
    ) -> R
    where
        S: Shape<R>,
        Fut: Future<Output = R>,
        U: FnOnce(&S::Value) -> bool,
    {
        body.await
    }

    /// Runs the body (never reached: `check` does not compile).
    pub async fn cached_background<S, R, Fut, U>(
        self,
        _site: &'static FnSite,
        _cache: Cache,
        _key: Option<String>,
        _opts: SetOptions,
        body: Fut,
        _unless: U,
    ) -> R
    where
        S: Shape<R> + 'static,
        R: Send + 'static,
        Fut: Future<Output = R> + Send + 'static,
        U: FnOnce(&S::Value) -> bool + Send + 'static,
    {
        body.await
    }

    /// Does nothing (never reached: `check` does not compile).
    pub fn register<S, R, F, Fut, U>(
        self,
        _slot: WarmSlot<'_>,
        _make: F,
        _opts: SetOptions,
        _unless: U,
    ) where
        S: Shape<R> + WarmShape + 'static,
        R: Send + 'static,
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = R> + Send + 'static,
        U: Fn(&S::Value) -> bool + Send + Sync + 'static,
    {
    }
}

/// What `#[cache_put]` stores: `Serialize`, with the message the user sees when it is missing.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be stored: `#[cache_put]` writes the function's value serialized, and `{Self}` is not `Serialize`",
    label = "the value `#[cache_put]` stores",
    note = "for your own type, `#[derive(serde::Serialize, serde::Deserialize)]` (the `#[cached]` function that reads the key needs `Deserialize` and `Clone` too)"
)]
pub trait PutValue: Serialize {}
impl<T: Serialize + ?Sized> PutValue for T {}

#[cfg(test)]
mod tests {
    use super::*;

    #[allow(unused_imports)]
    use super::{
        ProbeNoClone as _, ProbeNoDeserialize as _, ProbeNoSend as _, ProbeNoSerialize as _,
        ProbeNoSync as _, ProbeStorable as _,
    };

    #[derive(serde::Serialize)]
    struct OnlySerialize;

    #[derive(serde::Serialize, serde::Deserialize)]
    struct NotClone;

    #[derive(Clone, serde::Serialize, serde::Deserialize)]
    struct NotSync(std::cell::Cell<u8>);

    #[test]
    #[allow(clippy::needless_borrow)] // the borrows are the levels of the probe
    fn the_verdict_names_the_first_missing_bound() {
        let _: Storable = (&&&&&&ValueProbe::<String>::new()).verdict();
        let _: Storable = (&&&&&&ValueProbe::<Vec<u64>>::new()).verdict();
        let _: Unstorable<NoSerialize> = (&&&&&&ValueProbe::<std::fs::File>::new()).verdict();
        let _: Unstorable<NoDeserialize> = (&&&&&&ValueProbe::<OnlySerialize>::new()).verdict();
        let _: Unstorable<NoClone> = (&&&&&&ValueProbe::<NotClone>::new()).verdict();
        let _: Unstorable<NoSync> = (&&&&&&ValueProbe::<NotSync>::new()).verdict();
    }

    #[allow(clippy::needless_borrow)]
    fn generic<T: Serialize + DeserializeOwned + Clone + Send + Sync + 'static>() -> Storable {
        (&&&&&&ValueProbe::<T>::new()).verdict()
    }

    #[test]
    fn a_bounded_generic_is_storable() {
        let _: Storable = generic::<u8>();
    }
}
