//! Namespace versions shared through the meta table: `load_version`, `publish_version` (raised,
//! never lowered) and the poll that raises the caches watching a namespace.

use sqlx::Row;

use super::{version_name, Inner, Pool};
use crate::error::Result;

impl Inner {
    pub(super) async fn load_version(&self, prefix: &str) -> Result<Option<u64>> {
        let name = version_name(prefix);
        let name = name.as_str();
        self.run("load_version", move || async move {
            with_pool!(&self.pool, p, K => {
                let row = sqlx::query(&self.q.load_version).bind(name).fetch_optional(p).await?;
                match row {
                    None => Ok(None),
                    // A negative value is not ours: ignored rather than trusted.
                    Some(row) => Ok(u64::try_from(row.try_get::<i64, _>(0)?).ok()),
                }
            })
        })
        .await
    }

    pub(super) async fn publish_version(&self, prefix: &str, version: u64) -> Result<()> {
        let name = version_name(prefix);
        let name = name.as_str();
        let value = i64::try_from(version).unwrap_or(i64::MAX);
        self.run("publish_version", move || async move {
            with_pool!(&self.pool, p, K => {
                sqlx::query(&self.q.raise_version).bind(name).bind(value).execute(p).await?;
                Ok(())
            })
        })
        .await?;
        self.versions.raise(prefix, version);
        Ok(())
    }

    /// Reads the versions of the namespaces watched here and raises their cells.
    pub(super) async fn poll_versions(&self) -> Result<()> {
        for prefix in self.versions.prefixes() {
            if let Some(v) = self.load_version(&prefix).await? {
                self.versions.raise(&prefix, v);
            }
        }
        Ok(())
    }
}
