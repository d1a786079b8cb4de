//! The background tasks of a store: the purge, which deletes expired rows (and their tag rows)
//! at an interval, and the poll that reads back namespace versions other processes published.
//!
//! Each task holds only a [`Weak`] to the store's shared state, so it ends on its own once the
//! store is dropped (the store also aborts it when dropped, so it never outlives the store by a
//! tick). Reads never depend on it: an expired row is invisible whether or not it was purged.

use std::sync::atomic::Ordering;
use std::sync::Weak;
use std::time::Duration;

use sqlx::Row;
use tokio::task::AbortHandle;

use super::dialect::PURGE_BATCH;
use super::{now_ms, Inner, Pool, StoredKey};
use crate::error::Result;

impl Inner {
    /// Deletes the expired rows and their tag rows, [`PURGE_BATCH`] at a time (each batch under
    /// the store's timeout); returns how many entries it deleted.
    pub(super) async fn purge(&self) -> Result<u64> {
        let q = &self.q;
        let mut total = 0;
        loop {
            let now = now_ms();
            let (listed, deleted) = self
                .run("purge", move || async move {
                    with_pool!(&self.pool, p, K => {
                        let rows = sqlx::query(&q.expired_keys).bind(now).fetch_all(p).await?;
                        let mut ids = Vec::with_capacity(rows.len());
                        for row in rows {
                            ids.push(row.try_get::<K, _>(0)?.into_key()?);
                        }
                        if ids.is_empty() {
                            return Ok((0, 0));
                        }
                        let sql = q.delete_expired(ids.len());
                        let mut query = sqlx::query(&sql).persistent(false);
                        for id in &ids {
                            query = query.bind(id.as_str());
                        }
                        let deleted = query.bind(now).execute(p).await?.rows_affected();
                        let orphans = q.drop_orphan_tags_many(ids.len());
                        let mut query = sqlx::query(&orphans).persistent(false);
                        for id in &ids {
                            query = query.bind(id.as_str());
                        }
                        query.execute(p).await?;
                        Ok((ids.len(), deleted))
                    })
                })
                .await?;
            total += deleted;
            self.purged.fetch_add(deleted, Ordering::Relaxed);
            if listed < PURGE_BATCH {
                return Ok(total);
            }
        }
    }
}

/// Starts the purge of the store behind `inner` every `every`.
pub(super) fn spawn(inner: Weak<Inner>, every: Duration) -> Option<AbortHandle> {
    let rt = tokio::runtime::Handle::try_current().ok()?;
    let task = rt.spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The first tick completes at once: skip it, the store was just opened.
        tick.tick().await;
        loop {
            tick.tick().await;
            let Some(inner) = inner.upgrade() else {
                break;
            };
            if let Err(e) = inner.purge().await {
                tracing::warn!(target: "cache", store = %inner.url, error = %e, "purging expired rows failed");
            }
        }
    });
    Some(task.abort_handle())
}

/// Starts reading back, every `every`, the namespace versions other processes published for
/// the caches on this store. Nothing is read while no cache watches a namespace.
pub(super) fn spawn_version_poll(inner: Weak<Inner>, every: Duration) -> Option<AbortHandle> {
    let rt = tokio::runtime::Handle::try_current().ok()?;
    let task = rt.spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Some(inner) = inner.upgrade() else {
                break;
            };
            if let Err(e) = inner.poll_versions().await {
                tracing::debug!(target: "cache", store = %inner.url, error = %e, "reading namespace versions failed");
            }
        }
    });
    Some(task.abort_handle())
}
