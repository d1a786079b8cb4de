//! Operations over many keys: pattern scans and deletes (an escaped `LIKE`, then the exact glob
//! in Rust), `delete_many` and tag invalidation.

use sqlx::Row;

use super::{key_id, like_pattern, now_ms, Inner, Pool, StoredKey, CHUNK};
use crate::error::Result;

impl Inner {
    /// The live keys matching `pattern`, with their stored form.
    pub(super) async fn matching(&self, pattern: &str) -> Result<Vec<(String, String)>> {
        crate::pattern::validate(pattern)?;
        let like = like_pattern(self.q.backend, pattern);
        let like = like.as_str();
        self.run("scan", move || async move {
            with_pool!(&self.pool, p, K => {
                let rows = sqlx::query(&self.q.scan)
                    .bind(like)
                    .bind(like)
                    .bind(now_ms())
                    .fetch_all(p)
                    .await?;
                let mut out = Vec::new();
                for row in rows {
                    let id = row.try_get::<K, _>(0)?.into_key()?;
                    let full = row.try_get::<Option<K>, _>(1)?.map(StoredKey::into_key).transpose()?;
                    let key = full.unwrap_or_else(|| id.clone());
                    if crate::pattern::matches(pattern, &key) {
                        out.push((key, id));
                    }
                }
                Ok(out)
            })
        })
        .await
    }

    pub(super) async fn scan(&self, pattern: &str) -> Result<Vec<String>> {
        let mut keys: Vec<String> = self
            .matching(pattern)
            .await?
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        keys.sort_unstable();
        keys.dedup();
        Ok(keys)
    }

    /// Deletes the rows stored under `ids` (and then their orphaned tag rows); `live_at` counts
    /// only the rows live at that time.
    pub(super) async fn delete_ids(&self, ids: &[String], live_at: Option<i64>) -> Result<u64> {
        let q = &self.q;
        let mut n = 0;
        for chunk in ids.chunks(CHUNK) {
            n += self
                .run("delete", move || async move {
                    let sql = match live_at {
                        Some(_) => q.delete_many(chunk.len()),
                        None => q.delete_keys(chunk.len()),
                    };
                    let tags = q.drop_orphan_tags_many(chunk.len());
                    with_pool!(&self.pool, p, K => {
                        let mut query = sqlx::query(&sql).persistent(false);
                        for id in chunk {
                            query = query.bind(id.as_str());
                        }
                        if let Some(now) = live_at {
                            query = query.bind(now);
                        }
                        let n = query.execute(p).await?.rows_affected();
                        let mut query = sqlx::query(&tags).persistent(false);
                        for id in chunk {
                            query = query.bind(id.as_str());
                        }
                        query.execute(p).await?;
                        Ok(n)
                    })
                })
                .await?;
        }
        Ok(n)
    }

    pub(super) async fn delete_pattern(&self, pattern: &str) -> Result<u64> {
        let ids: Vec<String> = self
            .matching(pattern)
            .await?
            .into_iter()
            .map(|(_, id)| id)
            .collect();
        self.delete_ids(&ids, None).await
    }

    pub(super) async fn delete_many(&self, keys: &[String]) -> Result<u64> {
        let ids: Vec<String> = keys.iter().map(|k| key_id(k).into_owned()).collect();
        self.delete_ids(&ids, Some(now_ms())).await
    }

    pub(super) async fn invalidate_tags(&self, tags: &[String]) -> Result<Vec<String>> {
        let q = &self.q;
        let mut tag_ids: Vec<String> = tags.iter().map(|t| key_id(t).into_owned()).collect();
        tag_ids.sort_unstable();
        tag_ids.dedup();
        let mut out = Vec::new();
        for tags in tag_ids.chunks(CHUNK) {
            let now = now_ms();
            let tagged = self
                .run("invalidate_tags", move || async move {
                    let sql = q.tagged(tags.len());
                    with_pool!(&self.pool, p, K => {
                        let mut query = sqlx::query(&sql).persistent(false);
                        for t in tags {
                            query = query.bind(t.as_str());
                        }
                        let mut out = Vec::new();
                        for row in query.fetch_all(p).await? {
                            let id = row.try_get::<K, _>(0)?.into_key()?;
                            let full = row.try_get::<Option<K>, _>(1)?.map(StoredKey::into_key).transpose()?;
                            let at: Option<i64> = row.try_get(2)?;
                            out.push((id, full, at.is_none_or(|at| at > now)));
                        }
                        Ok(out)
                    })
                })
                .await?;
            for ids in tagged.chunks(CHUNK) {
                self.run("invalidate_tags", move || async move {
                    // Only rows that still carry one of the tags: a key re-written without
                    // them since the read above is left alone.
                    let sql = q.delete_tagged(ids.len(), tags.len());
                    let orphans = q.drop_orphan_tags_many(ids.len());
                    with_pool!(&self.pool, p, K => {
                        let mut query = sqlx::query(&sql).persistent(false);
                        for (id, _, _) in ids {
                            query = query.bind(id.as_str());
                        }
                        for t in tags {
                            query = query.bind(t.as_str());
                        }
                        query.execute(p).await?;
                        let mut query = sqlx::query(&orphans).persistent(false);
                        for (id, _, _) in ids {
                            query = query.bind(id.as_str());
                        }
                        query.execute(p).await?;
                        Ok(())
                    })
                })
                .await?;
            }
            out.extend(
                tagged
                    .into_iter()
                    .filter(|(_, _, live)| *live)
                    .map(|(id, full, _)| full.unwrap_or(id)),
            );
        }
        out.sort_unstable();
        out.dedup();
        Ok(out)
    }
}
