//! [`InvalidationBus`]: how processes tell each other what to drop from their in-process tiers.
//!
//! A [`TieredStore`](super::TieredStore) publishes every change it makes to the shared tier and
//! applies what other processes publish to its upper tiers. The bus is any implementation of the
//! trait; a store that can carry one offers it through
//! [`Store::invalidation_bus`](super::Store::invalidation_bus) (the Redis store's is pub/sub).

use std::sync::Arc;

use super::BoxFuture;
use crate::error::Result;

/// What one instance tells the others to drop from their upper tiers.
///
/// ```
/// use cache_core::store::Invalidation;
/// let msg = Invalidation::Keys(vec!["app:v1:user:1".into()]);
/// let json = serde_json::to_string(&msg).unwrap();
/// assert_eq!(serde_json::from_str::<Invalidation>(&json).unwrap(), msg);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub enum Invalidation {
    /// These full keys changed or were deleted.
    Keys(Vec<String>),
    /// Every key matching this glob was deleted.
    Pattern(String),
    /// These full tag names were invalidated.
    Tags(Vec<String>),
    /// The namespace `prefix` moved to `version`.
    Version {
        /// The namespace prefix.
        prefix: String,
        /// The new version.
        version: u64,
    },
}

/// What a bus delivers to a subscriber.
///
/// ```
/// use cache_core::store::{BusEvent, Invalidation};
/// let ev = BusEvent::Message(Invalidation::Pattern("app:v1:*".into()));
/// assert!(matches!(ev, BusEvent::Message(_)));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BusEvent {
    /// An invalidation published by another instance.
    Message(Invalidation),
    /// The subscription was interrupted and is back: messages may have been missed.
    Resync,
}

/// Receives bus events; returns a future the bus awaits before the next event.
pub type BusSink = Arc<dyn Fn(BusEvent) -> BoxFuture<'static, ()> + Send + Sync>;

/// A channel over which processes tell each other what to drop from their upper tiers.
///
/// An implementation must not deliver an instance's own messages back to it, and must deliver
/// [`BusEvent::Resync`] after it re-subscribes following a disconnect.
///
/// ```
/// use std::sync::Arc;
/// use cache_core::store::{BoxFuture, BusSink, Invalidation, InvalidationBus};
///
/// /// A bus for a single process: nothing to tell anyone.
/// #[derive(Debug)]
/// struct Alone;
///
/// impl InvalidationBus for Alone {
///     fn publish<'a>(&'a self, _: &'a Invalidation) -> BoxFuture<'a, cache_core::Result<()>> {
///         Box::pin(async { Ok(()) })
///     }
///     fn subscribe(&self, _: BusSink) {}
/// }
/// # let _ = Arc::new(Alone);
/// ```
pub trait InvalidationBus: Send + Sync + std::fmt::Debug + 'static {
    /// Sends `message` to every other instance.
    fn publish<'a>(&'a self, message: &'a Invalidation) -> BoxFuture<'a, Result<()>>;

    /// Starts delivering other instances' messages to `sink`.
    fn subscribe(&self, sink: BusSink);
}
