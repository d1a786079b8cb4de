//! Writes: `set` (and `set_many`, in one transaction), `add`, `delete`, `take`, `incr` and
//! `expire`. Every write that replaces a row replaces its tag rows in the same transaction.

use std::time::Duration;

use bytes::Bytes;
use sqlx::Row;

use std::borrow::Cow;

use super::{deadline, full_key, key_id, now_ms, parse_int, Inner, Pool};
use crate::error::{Error, Result};
use crate::store::WriteOptions;

/// Entries per multi-row statement of `set_many` (four parameters each).
const ROWS: usize = 100;

impl Inner {
    /// Writes one entry, replacing its value, TTL and tags, in one transaction.
    pub(super) async fn set(&self, key: &str, value: &[u8], opts: &WriteOptions) -> Result<()> {
        let q = &self.q;
        let id = key_id(key);
        let id = &id;
        let tags: Vec<_> = opts.tags.iter().map(|t| key_id(t)).collect();
        let tags = &tags;
        self.run("set", move || async move {
            let at = deadline(now_ms(), opts.ttl);
            with_pool!(&self.pool, p, K => {
                let mut tx = p.begin_with(q.begin).await?;
                sqlx::query(&q.upsert)
                    .bind(id.as_ref())
                    .bind(full_key(key))
                    .bind(value)
                    .bind(at)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(&q.clear_tags).bind(id.as_ref()).execute(&mut *tx).await?;
                for tag in tags {
                    sqlx::query(&q.add_tag)
                        .bind(tag.as_ref())
                        .bind(id.as_ref())
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(())
            })
        })
        .await
    }

    /// Writes entries with the same options in one transaction, replacing values, TTLs and
    /// tags, with multi-row statements of [`ROWS`] entries. A key given twice keeps its last
    /// value.
    pub(super) async fn set_many(
        &self,
        entries: &[(String, Bytes)],
        opts: &WriteOptions,
    ) -> Result<()> {
        let q = &self.q;
        // The last write of a key wins (and a statement may touch a row only once).
        let mut seen = std::collections::HashSet::new();
        let mut rows: Vec<(Cow<'_, str>, Option<&str>, &[u8])> = Vec::with_capacity(entries.len());
        for (key, value) in entries.iter().rev() {
            if seen.insert(key.as_str()) {
                rows.push((key_id(key), full_key(key), value.as_ref()));
            }
        }
        rows.reverse();
        let rows = &rows;
        let tags: Vec<_> = opts.tags.iter().map(|t| key_id(t)).collect();
        let tags = &tags;
        self.run("set_many", move || async move {
            let at = deadline(now_ms(), opts.ttl);
            with_pool!(&self.pool, p, K => {
                let mut tx = p.begin_with(q.begin).await?;
                for chunk in rows.chunks(ROWS) {
                    let sql = q.upsert_many(chunk.len());
                    let mut query = sqlx::query(&sql).persistent(false);
                    for (id, full, value) in chunk {
                        query = query.bind(id.as_ref()).bind(*full).bind(*value).bind(at);
                    }
                    query.execute(&mut *tx).await?;
                    let sql = q.clear_tags_many(chunk.len());
                    let mut query = sqlx::query(&sql).persistent(false);
                    for (id, _, _) in chunk {
                        query = query.bind(id.as_ref());
                    }
                    query.execute(&mut *tx).await?;
                    if tags.is_empty() {
                        continue;
                    }
                    let links: Vec<(&str, &str)> = chunk
                        .iter()
                        .flat_map(|(id, _, _)| tags.iter().map(move |t| (t.as_ref(), id.as_ref())))
                        .collect();
                    for links in links.chunks(ROWS * 4) {
                        let sql = q.add_tags_many(links.len());
                        let mut query = sqlx::query(&sql).persistent(false);
                        for (tag, id) in links {
                            query = query.bind(*tag).bind(*id);
                        }
                        query.execute(&mut *tx).await?;
                    }
                }
                tx.commit().await?;
                Ok(())
            })
        })
        .await
    }

    /// Writes `value` only if `key` is absent or expired, or (`counter`) makes sure a counter
    /// row exists outside any transaction; returns whether it wrote.
    pub(super) async fn add(&self, key: &str, value: &[u8], opts: &WriteOptions) -> Result<bool> {
        let q = &self.q;
        let id = key_id(key);
        let id = &id;
        let tags: Vec<_> = opts.tags.iter().map(|t| key_id(t)).collect();
        let tags = &tags;
        self.run("add", move || async move {
            let now = now_ms();
            let at = deadline(now, opts.ttl);
            with_pool!(&self.pool, p, K => {
                let mut tx = p.begin_with(q.begin).await?;
                let inserted = sqlx::query(&q.insert_new)
                    .bind(id.as_ref())
                    .bind(full_key(key))
                    .bind(value)
                    .bind(at)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected()
                    > 0;
                let wrote = inserted
                    || sqlx::query(&q.replace_expired)
                        .bind(full_key(key))
                        .bind(value)
                        .bind(at)
                        .bind(id.as_ref())
                        .bind(now)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected()
                        > 0;
                if wrote {
                    sqlx::query(&q.clear_tags).bind(id.as_ref()).execute(&mut *tx).await?;
                    for tag in tags {
                        sqlx::query(&q.add_tag)
                            .bind(tag.as_ref())
                            .bind(id.as_ref())
                            .execute(&mut *tx)
                            .await?;
                    }
                }
                tx.commit().await?;
                Ok(wrote)
            })
        })
        .await
    }

    pub(super) async fn delete(&self, key: &str) -> Result<bool> {
        let q = &self.q;
        let id = key_id(key);
        let id = &id;
        self.run("delete", move || async move {
            with_pool!(&self.pool, p, K => {
                let n = sqlx::query(&q.delete_live)
                    .bind(id.as_ref())
                    .bind(now_ms())
                    .execute(p)
                    .await?
                    .rows_affected();
                if n > 0 {
                    // Guarded by "no entry": a concurrent re-write keeps its tags.
                    sqlx::query(&q.drop_orphan_tags).bind(id.as_ref()).execute(p).await?;
                }
                Ok(n > 0)
            })
        })
        .await
    }

    pub(super) async fn take(&self, key: &str) -> Result<Option<Bytes>> {
        let q = &self.q;
        let id = key_id(key);
        let id = &id;
        self.run("take", move || async move {
            let now = now_ms();
            with_pool!(&self.pool, p, K => {
                let row = match &q.take_returning {
                    Some(sql) => sqlx::query(sql).bind(id.as_ref()).fetch_optional(p).await?,
                    None => {
                        let mut tx = p.begin_with(q.begin).await?;
                        let row = sqlx::query(&q.lock_row)
                            .bind(id.as_ref())
                            .fetch_optional(&mut *tx)
                            .await?;
                        if row.is_some() {
                            sqlx::query(&q.delete_one).bind(id.as_ref()).execute(&mut *tx).await?;
                        }
                        tx.commit().await?;
                        row
                    }
                };
                let Some(row) = row else { return Ok(None) };
                sqlx::query(&q.drop_orphan_tags).bind(id.as_ref()).execute(p).await?;
                let at: Option<i64> = row.try_get(1)?;
                if at.is_some_and(|at| at <= now) {
                    return Ok(None);
                }
                Ok(row.try_get::<Option<Vec<u8>>, _>(0)?.map(Bytes::from))
            })
        })
        .await
    }

    pub(super) async fn incr(&self, key: &str, delta: i64) -> Result<i64> {
        let q = &self.q;
        let id = key_id(key);
        let id = &id;
        self.run("incr", move || async move {
            // A row that vanishes between the two steps (a concurrent delete) is created again.
            loop {
                let now = now_ms();
                with_pool!(&self.pool, p, K => {
                    // Make sure the row exists, outside the transaction: the locked read below
                    // then always finds a row to lock, and never takes a gap lock.
                    sqlx::query(&q.insert_new)
                        .bind(id.as_ref())
                        .bind(full_key(key))
                        .bind(&b"0"[..])
                        .bind(None::<i64>)
                        .execute(p)
                        .await?;
                    let mut tx = p.begin_with(q.begin).await?;
                    let row = sqlx::query(&q.lock_row)
                        .bind(id.as_ref())
                        .fetch_optional(&mut *tx)
                        .await?;
                    let Some(row) = row else { continue };
                    let value: Option<Vec<u8>> = row.try_get(0)?;
                    let at: Option<i64> = row.try_get(1)?;
                    let expired = at.is_some_and(|at| at <= now);
                    let current = if expired { 0 } else { parse_int(key, value.as_deref())? };
                    let new = current.checked_add(delta).ok_or_else(|| {
                        Error::Decode(format!("incr {key:?}: {current} + {delta} overflows"))
                    })?;
                    let text = new.to_string();
                    if expired {
                        sqlx::query(&q.reset_value)
                            .bind(text.as_bytes())
                            .bind(id.as_ref())
                            .execute(&mut *tx)
                            .await?;
                        sqlx::query(&q.clear_tags).bind(id.as_ref()).execute(&mut *tx).await?;
                    } else {
                        sqlx::query(&q.set_value)
                            .bind(text.as_bytes())
                            .bind(id.as_ref())
                            .execute(&mut *tx)
                            .await?;
                    }
                    tx.commit().await?;
                    return Ok(new);
                })
            }
        })
        .await
    }

    pub(super) async fn expire(&self, key: &str, ttl: Option<Duration>) -> Result<bool> {
        let id = key_id(key);
        let id = &id;
        self.run("expire", move || async move {
            let now = now_ms();
            with_pool!(&self.pool, p, K => {
                let n = sqlx::query(&self.q.expire)
                    .bind(deadline(now, ttl))
                    .bind(id.as_ref())
                    .bind(now)
                    .execute(p)
                    .await?
                    .rows_affected();
                Ok(n > 0)
            })
        })
        .await
    }
}
