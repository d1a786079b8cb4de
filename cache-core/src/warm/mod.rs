//! Warming: filling the cache before readers ask, and keeping what they ask for often from
//! expiring.
//!
//! - [`Cache::warm`](crate::Cache::warm) preloads a list of keys through a loader, a bounded
//!   number at once, and returns a [`WarmReport`] (loaded, absent, failed with the error); a
//!   failure never stops the rest. Use it at start-up.
//! - A [`Warmer`] runs in the background: every interval it reloads the entries that readers
//!   asked for at least `min_reads` times lately and that are about to expire (or gone), through
//!   loaders registered per key template ([`WarmerBuilder::loader`], given the captured
//!   [`WarmArgs`]) or by `#[cached(key = "…", warm = true)]` functions, so that hot keys stay
//!   hits. Reads are counted in a bounded log (a moka cache of counters, halved every round)
//!   only while a warmer runs.
//!
//! ```
//! use std::time::Duration;
//! use cache_core::{Cache, WarmArgs, Warmer};
//!
//! # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
//! let cache = Cache::memory();
//! // At start-up: the 100 most popular products.
//! let report = cache
//!     .warm((1..=100).map(|id| format!("product:{id}")), Duration::from_secs(60), |key: String| async move {
//!         Ok::<_, std::convert::Infallible>(Some(format!("product {}", &key[8..])))
//!     })
//!     .await;
//! assert_eq!(report.loaded(), 100);
//!
//! // Then keep whatever is read often from expiring.
//! let warmer = Warmer::builder(cache.clone())
//!     .interval(Duration::from_secs(5))
//!     .loader("product:{id}", Duration::from_secs(60), |args: WarmArgs| async move {
//!         let id: u64 = args.parse("id")?;
//!         Ok::<_, cache_core::WarmArgError>(Some(format!("product {id}")))
//!     })
//!     .start();
//! # warmer.stop().await;
//! # });
//! ```

mod loaders;
mod options;
mod preload;
mod reads;
pub(crate) mod registration;
mod report;
mod template;
mod warmer;

pub use options::{WarmOptions, DEFAULT_WARM_CONCURRENCY};
pub(crate) use reads::ReadLog;
pub use report::WarmReport;
pub use template::{WarmArgError, WarmArgs};
pub use warmer::{Warmer, WarmerBuilder, WarmerStats};
