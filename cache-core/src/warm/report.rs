//! [`WarmReport`]: what a preload did, key by key.

/// What happened to one key a loader was asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The loader gave a value and it was stored.
    Loaded,
    /// The loader said there is no value (`Ok(None)`), or the value was not to be stored.
    Absent,
    /// The loader, or the write of its value, failed with this error text.
    Failed(String),
}

/// What [`Cache::warm`](crate::Cache::warm) did: how many keys were loaded and stored, how many
/// the loader had no value for, and which failed with which error.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let cache = cache_core::Cache::memory();
/// let report = cache
///     .warm(["a", "b", "c"], (), |key: String| async move {
///         match key.as_str() {
///             "a" => Ok(Some(1u32)),
///             "b" => Ok(None),
///             _ => Err("db down"),
///         }
///     })
///     .await;
/// assert_eq!((report.loaded(), report.absent()), (1, 1));
/// assert_eq!(report.failed(), [("c".to_string(), "db down".to_string())]);
/// assert_eq!(report.total(), 3);
/// assert!(!report.is_complete());
/// # });
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WarmReport {
    loaded: usize,
    absent: usize,
    failed: Vec<(String, String)>,
}

impl WarmReport {
    /// Keys whose value was loaded and stored.
    pub fn loaded(&self) -> usize {
        self.loaded
    }

    /// Keys the loader had no value for (`Ok(None)`); nothing was stored for them.
    pub fn absent(&self) -> usize {
        self.absent
    }

    /// Keys that failed, each with its error text (from the loader or from the store), in the
    /// order they finished.
    pub fn failed(&self) -> &[(String, String)] {
        &self.failed
    }

    /// Every key the loader was asked for.
    pub fn total(&self) -> usize {
        self.loaded + self.absent + self.failed.len()
    }

    /// True when no key failed.
    pub fn is_complete(&self) -> bool {
        self.failed.is_empty()
    }

    pub(crate) fn add(&mut self, key: String, outcome: Outcome) {
        match outcome {
            Outcome::Loaded => self.loaded += 1,
            Outcome::Absent => self.absent += 1,
            Outcome::Failed(e) => self.failed.push((key, e)),
        }
    }
}
