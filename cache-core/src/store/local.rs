//! Entries kept in this process's memory, and the decoded value kept beside their bytes.
//!
//! A store that holds values in process (the [`MemoryStore`](super::MemoryStore), and the first
//! tier of a [`TieredStore`](super::TieredStore) built on one) answers
//! [`Store::get_local`](super::Store::get_local) synchronously with a shared [`LocalEntry`]. The
//! [`Cache`](crate::Cache) decodes an entry's bytes once and keeps the typed value in the
//! entry's slot, so the next typed read of the same entry is one lookup and a clone. The slot
//! lives and dies with the entry: any write, delete, invalidation, expiry or eviction replaces
//! or drops the entry, and with it the decoded value, so a decoded value can never outlive the
//! bytes it came from.

use std::any::Any;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use bytes::Bytes;

/// A value stored in this process: its bytes, expiry, and a slot for its decoded form.
///
/// ```
/// use bytes::Bytes;
/// use cache_core::store::LocalEntry;
/// let e = LocalEntry::new(Bytes::from_static(b"v"), None);
/// assert_eq!(e.bytes(), &Bytes::from_static(b"v"));
/// assert!(e.decoded().is_none());
/// assert!(e.set_decoded(std::sync::Arc::new(7u32)));
/// assert_eq!(e.decoded().unwrap().downcast_ref::<u32>(), Some(&7));
/// ```
pub struct LocalEntry {
    data: Bytes,
    expires_at: Option<Instant>,
    decoded: OnceLock<Arc<dyn Any + Send + Sync>>,
    /// The memory store's tag links and write id (see `memory.rs`).
    pub(crate) tags: Option<Box<[String]>>,
    pub(crate) id: u64,
    /// Set once the store has replaced or removed the entry (see `front.rs`).
    retired: AtomicBool,
}

impl std::fmt::Debug for LocalEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalEntry")
            .field("len", &self.data.len())
            .field("expires_at", &self.expires_at)
            .field("decoded", &self.decoded.get().is_some())
            .finish()
    }
}

impl LocalEntry {
    /// An entry holding `data` until `expires_at` (`None`: no expiry).
    pub fn new(data: Bytes, expires_at: Option<Instant>) -> Self {
        Self::with_tags(data, expires_at, None, 0)
    }

    pub(crate) fn with_tags(
        data: Bytes,
        expires_at: Option<Instant>,
        tags: Option<Box<[String]>>,
        id: u64,
    ) -> Self {
        Self {
            data,
            expires_at,
            decoded: OnceLock::new(),
            tags,
            id,
            retired: AtomicBool::new(false),
        }
    }

    /// Marks the entry as no longer the store's: readers that kept it must not serve it.
    pub(crate) fn retire(&self) {
        self.retired.store(true, Ordering::Release);
    }

    /// Whether the store has replaced or removed the entry.
    pub(crate) fn is_retired(&self) -> bool {
        self.retired.load(Ordering::Acquire)
    }

    /// The stored bytes.
    #[inline]
    pub fn bytes(&self) -> &Bytes {
        &self.data
    }

    /// When the entry expires.
    pub fn expires_at(&self) -> Option<Instant> {
        self.expires_at
    }

    /// The decoded value a reader put here, if any.
    #[inline]
    pub fn decoded(&self) -> Option<&Arc<dyn Any + Send + Sync>> {
        self.decoded.get()
    }

    /// Keeps `value` as the decoded form of these bytes; false when a value is already kept
    /// (the first one stays).
    pub fn set_decoded(&self, value: Arc<dyn Any + Send + Sync>) -> bool {
        self.decoded.set(value).is_ok()
    }
}

/// The answer of [`Store::get_local`](super::Store::get_local).
///
/// ```
/// use cache_core::store::LocalRead;
/// assert!(matches!(LocalRead::Unknown, LocalRead::Unknown));
/// ```
#[derive(Debug)]
pub enum LocalRead {
    /// Found in this process.
    Hit(Arc<LocalEntry>),
    /// Not stored, and no other place to look: the read is over.
    Miss,
    /// Not answered here: ask [`Store::get`](super::Store::get) (a store with no in-process
    /// part, or a tiered store whose first tier missed).
    Unknown,
}
