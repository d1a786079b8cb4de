//! What a [`Store`](super::Store) declares it can do, so that the [`Cache`](crate::Cache) and
//! the conformance suite know what to ask of it.
//!
//! A store declares only what it does natively and soundly. What it does not declare is either
//! emulated by the cache for every store alike (tags become per-tag version stamps checked on
//! read, when the store has atomic counters) or refused with
//! [`Error::Unsupported`](crate::Error::Unsupported): never done in a way that is silently wrong.

use std::fmt;

/// One thing a store may be able to do beyond the required core (get, set, add, delete, ping).
///
/// ```
/// use cache_core::store::{Capabilities, Capability};
/// let caps = Capabilities::NONE.with(Capability::PatternScan);
/// assert!(caps.has(Capability::PatternScan));
/// assert!(!caps.has(Capability::NativeTags));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Capability {
    /// Lists and deletes keys by glob pattern (`scan`, `delete_pattern`, `clear`).
    PatternScan,
    /// Keeps a tag index itself (`set` honours `WriteOptions::tags`, `invalidate_tags`).
    NativeTags,
    /// Atomic `incr` on integer values.
    AtomicCounters,
    /// Reads a key's remaining lifetime (`ttl`, `get_with_ttl`).
    TtlRead,
    /// Changes a key's lifetime (`expire`).
    Expire,
    /// Reads and deletes a key in one atomic step (`take`).
    Take,
    /// Answers `get_many`/`set_many`/`delete_many` in fewer round trips than one per key.
    Batches,
    /// Is shared by several processes (what one writes, the others read).
    Shared,
    /// Keeps its data across restarts of the process and of the server.
    Persistent,
}

impl Capability {
    /// Every capability, in declaration order.
    pub const ALL: [Capability; 9] = [
        Capability::PatternScan,
        Capability::NativeTags,
        Capability::AtomicCounters,
        Capability::TtlRead,
        Capability::Expire,
        Capability::Take,
        Capability::Batches,
        Capability::Shared,
        Capability::Persistent,
    ];

    /// A short name, for logs and errors.
    ///
    /// ```
    /// assert_eq!(cache_core::store::Capability::PatternScan.name(), "pattern scan");
    /// ```
    pub const fn name(self) -> &'static str {
        match self {
            Capability::PatternScan => "pattern scan",
            Capability::NativeTags => "native tags",
            Capability::AtomicCounters => "atomic counters",
            Capability::TtlRead => "TTL read-back",
            Capability::Expire => "expire",
            Capability::Take => "take",
            Capability::Batches => "batches",
            Capability::Shared => "shared across processes",
            Capability::Persistent => "persistent",
        }
    }

    const fn bit(self) -> u16 {
        1 << self as u16
    }
}

/// The set of [`Capability`]s a store declares, from [`Store::capabilities`](super::Store::capabilities).
///
/// ```
/// use cache_core::store::{Capabilities, Capability};
/// let caps = Capabilities::NONE.with(Capability::TtlRead).with(Capability::Expire);
/// assert_eq!(caps.iter().count(), 2);
/// assert_eq!(caps.to_string(), "TTL read-back, expire");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Capabilities(u16);

impl Capabilities {
    /// Only the required core.
    pub const NONE: Capabilities = Capabilities(0);

    /// Every capability.
    ///
    /// ```
    /// use cache_core::store::{Capabilities, Capability};
    /// assert!(Capabilities::ALL.has(Capability::Persistent));
    /// assert_eq!(Capabilities::ALL.iter().count(), Capability::ALL.len());
    /// ```
    pub const ALL: Capabilities = Capabilities((1 << Capability::ALL.len()) - 1);

    /// This set and `cap`.
    #[must_use]
    pub const fn with(self, cap: Capability) -> Self {
        Capabilities(self.0 | cap.bit())
    }

    /// This set without `cap`.
    #[must_use]
    pub const fn without(self, cap: Capability) -> Self {
        Capabilities(self.0 & !cap.bit())
    }

    /// Whether `cap` is in the set.
    pub const fn has(self, cap: Capability) -> bool {
        self.0 & cap.bit() != 0
    }

    /// The capabilities in the set.
    pub fn iter(self) -> impl Iterator<Item = Capability> {
        Capability::ALL.into_iter().filter(move |c| self.has(*c))
    }

    /// What both sets have.
    #[must_use]
    pub const fn and(self, other: Capabilities) -> Self {
        Capabilities(self.0 & other.0)
    }
}

impl FromIterator<Capability> for Capabilities {
    fn from_iter<I: IntoIterator<Item = Capability>>(iter: I) -> Self {
        iter.into_iter()
            .fold(Capabilities::NONE, Capabilities::with)
    }
}

impl fmt::Display for Capabilities {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for c in self.iter() {
            if !std::mem::take(&mut first) {
                f.write_str(", ")?;
            }
            f.write_str(c.name())?;
        }
        if first {
            f.write_str("none")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Capabilities {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Capabilities({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_hold_what_was_added_and_nothing_else() {
        let all: Capabilities = Capability::ALL.into_iter().collect();
        assert_eq!(all, Capabilities::ALL);
        for c in Capability::ALL {
            assert!(all.has(c));
            assert!(!Capabilities::NONE.has(c));
            assert!(!all.without(c).has(c));
            assert_eq!(Capabilities::NONE.with(c).iter().collect::<Vec<_>>(), [c]);
        }
        assert_eq!(Capabilities::NONE.to_string(), "none");
    }
}
