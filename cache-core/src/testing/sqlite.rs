//! A SQLite database file for tests, in a temporary directory removed when dropped.
//!
//! ```no_run
//! use cache_core::{testing::SqliteFile, Cache};
//!
//! # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
//! let file = SqliteFile::new();
//! let cache = Cache::from_url(&file.url()).await?;
//! cache.set("k", &1).await?;
//! # Ok::<(), cache_core::Error>(()) }).unwrap();
//! ```

use std::path::{Path, PathBuf};

/// A path for a SQLite database in a fresh temporary directory (the file itself is created by
/// the store on first use). Dropping it removes the directory.
#[derive(Debug)]
pub struct SqliteFile {
    dir: PathBuf,
    keep: bool,
}

impl SqliteFile {
    /// A new, empty temporary directory for `cache.db`.
    ///
    /// ```
    /// let file = cache_core::testing::SqliteFile::new();
    /// assert!(file.url().starts_with("sqlite://") && file.url().ends_with("cache.db"));
    /// ```
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        SqliteFile {
            dir: super::process::temp_dir("sqlite", 0),
            keep: false,
        }
    }

    /// The file at `path`, which is left in place when dropped (for a second process opening
    /// the file a first one wrote).
    ///
    /// ```
    /// let file = cache_core::testing::SqliteFile::at("/tmp/shared-dir");
    /// assert_eq!(file.url(), "sqlite:///tmp/shared-dir/cache.db");
    /// ```
    pub fn at(dir: impl Into<PathBuf>) -> Self {
        SqliteFile {
            dir: dir.into(),
            keep: true,
        }
    }

    /// The database file.
    pub fn path(&self) -> PathBuf {
        self.dir.join("cache.db")
    }

    /// The directory holding the file.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `sqlite://<path>` (an absolute path gives `sqlite:///…`).
    pub fn url(&self) -> String {
        format!("sqlite://{}", self.path().display())
    }
}

impl Drop for SqliteFile {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}
