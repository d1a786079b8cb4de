//! The registry of namespace version cells: every [`Cache`](crate::Cache) handle on a store
//! registers the cell holding its version, and the store raises the cells of a prefix when it
//! learns (from another process, or a resync) that the namespace moved on.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Mutex, Weak};

/// Version cells by namespace prefix; dead cells (dropped caches) are pruned as they are met.
#[derive(Debug, Default)]
pub(crate) struct VersionCells {
    cells: Mutex<HashMap<String, Vec<Weak<AtomicU64>>>>,
}

impl VersionCells {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<Weak<AtomicU64>>>> {
        self.cells
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Registers a cache's version cell under `prefix`.
    pub(crate) fn watch(&self, prefix: &str, cell: Weak<AtomicU64>) {
        self.lock().entry(prefix.to_owned()).or_default().push(cell);
    }

    /// Raises every live cell of `prefix` to at least `version`.
    pub(crate) fn raise(&self, prefix: &str, version: u64) {
        let mut cells = self.lock();
        if let Some(list) = cells.get_mut(prefix) {
            list.retain(|c| match c.upgrade() {
                Some(cell) => {
                    cell.fetch_max(version, Relaxed);
                    true
                }
                None => false,
            });
            if list.is_empty() {
                cells.remove(prefix);
            }
        }
    }

    /// The prefixes with live cells.
    pub(crate) fn prefixes(&self) -> Vec<String> {
        self.lock().keys().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn raising_reaches_live_cells_of_the_prefix_only_and_never_lowers() {
        let cells = VersionCells::default();
        let a = Arc::new(AtomicU64::new(1));
        let b = Arc::new(AtomicU64::new(5));
        let other = Arc::new(AtomicU64::new(1));
        cells.watch("app", Arc::downgrade(&a));
        cells.watch("app", Arc::downgrade(&b));
        cells.watch("other", Arc::downgrade(&other));
        cells.raise("app", 3);
        assert_eq!((a.load(Relaxed), b.load(Relaxed)), (3, 5));
        assert_eq!(other.load(Relaxed), 1);
        drop((a, b));
        cells.raise("app", 9);
        assert_eq!(cells.prefixes(), ["other"]);
    }
}
