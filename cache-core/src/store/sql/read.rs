//! Reads: `get`, `get_with_ttl`, `ttl`, `exists` and `get_many` (one `IN (…)` statement per
//! 500 keys). Every read honours expiry: `expires_at IS NULL OR expires_at > now`.

use bytes::Bytes;
use sqlx::Row;

use super::{key_id, now_ms, remaining, Inner, Pool, StoredKey, CHUNK};
use crate::error::Result;
use crate::store::KeyTtl;

impl Inner {
    pub(super) async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        let id = key_id(key);
        let id = &id;
        self.run("get", move || async move {
            with_pool!(&self.pool, p, K => {
                let row = sqlx::query(&self.q.get)
                    .bind(id.as_ref())
                    .bind(now_ms())
                    .fetch_optional(p)
                    .await?;
                match row {
                    None => Ok(None),
                    Some(row) => Ok(row.try_get::<Option<Vec<u8>>, _>(0)?.map(Bytes::from)),
                }
            })
        })
        .await
    }

    pub(super) async fn get_with_ttl(&self, key: &str) -> Result<Option<(Bytes, KeyTtl)>> {
        let id = key_id(key);
        let id = &id;
        self.run("get_with_ttl", move || async move {
            let now = now_ms();
            with_pool!(&self.pool, p, K => {
                let row = sqlx::query(&self.q.get_ttl)
                    .bind(id.as_ref())
                    .bind(now)
                    .fetch_optional(p)
                    .await?;
                let Some(row) = row else { return Ok(None) };
                let value: Option<Vec<u8>> = row.try_get(0)?;
                let at: Option<i64> = row.try_get(1)?;
                Ok(value.map(|v| (Bytes::from(v), remaining(now, at))))
            })
        })
        .await
    }

    pub(super) async fn ttl(&self, key: &str) -> Result<KeyTtl> {
        let id = key_id(key);
        let id = &id;
        self.run("ttl", move || async move {
            let now = now_ms();
            with_pool!(&self.pool, p, K => {
                let row = sqlx::query(&self.q.ttl)
                    .bind(id.as_ref())
                    .bind(now)
                    .fetch_optional(p)
                    .await?;
                match row {
                    None => Ok(KeyTtl::Missing),
                    Some(row) => Ok(remaining(now, row.try_get::<Option<i64>, _>(0)?)),
                }
            })
        })
        .await
    }

    pub(super) async fn exists(&self, key: &str) -> Result<bool> {
        let id = key_id(key);
        let id = &id;
        self.run("exists", move || async move {
            with_pool!(&self.pool, p, K => {
                let row = sqlx::query(&self.q.exists)
                    .bind(id.as_ref())
                    .bind(now_ms())
                    .fetch_optional(p)
                    .await?;
                Ok(row.is_some())
            })
        })
        .await
    }

    pub(super) async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Bytes>>> {
        let q = &self.q;
        let ids: Vec<_> = keys.iter().map(|k| key_id(k)).collect();
        let mut found = std::collections::HashMap::new();
        for chunk in ids.chunks(CHUNK) {
            let rows = self
                .run("get_many", move || async move {
                    let sql = q.get_many(chunk.len());
                    with_pool!(&self.pool, p, K => {
                        let mut query = sqlx::query(&sql).persistent(false);
                        for id in chunk {
                            query = query.bind(id.as_ref());
                        }
                        let rows = query.bind(now_ms()).fetch_all(p).await?;
                        let mut out = Vec::with_capacity(rows.len());
                        for row in rows {
                            let id = row.try_get::<K, _>(0)?.into_key()?;
                            if let Some(v) = row.try_get::<Option<Vec<u8>>, _>(1)? {
                                out.push((id, Bytes::from(v)));
                            }
                        }
                        Ok(out)
                    })
                })
                .await?;
            found.extend(rows);
        }
        Ok(ids
            .iter()
            .map(|id| found.get(id.as_ref()).cloned())
            .collect())
    }
}
