//! Many keys in one call: batches go to the store in as few round trips as it can make.

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::typed::Read;
use super::Cache;
use crate::error::Result;
use crate::options::SetOptions;
use crate::stats::InvalidationKind;

impl Cache {
    /// Deletes many keys; returns how many existed.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let cache = cache_core::Cache::memory();
    /// cache.set("a", &1).await?;
    /// assert_eq!(cache.delete_many(["a", "b"]).await?, 1);
    /// # Ok::<(), cache_core::Error>(()) }).unwrap();
    /// ```
    pub async fn delete_many<I, K>(&self, keys: I) -> Result<u64>
    where
        I: IntoIterator<Item = K>,
        K: AsRef<str>,
    {
        let keys: Vec<K> = keys.into_iter().collect();
        let full = self.full_keys(&keys)?;
        let n = self
            .call("delete_many", "", self.inner.store.delete_many(&full))
            .await?;
        self.count(|c| &c.deletes, n);
        self.log_invalidation(InvalidationKind::Keys, &keys, n);
        Ok(n)
    }

    /// Reads many values; one slot per key, in order.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let cache = cache_core::Cache::memory();
    /// cache.set("a", &1).await?;
    /// assert_eq!(cache.get_many::<i32, _, _>(["a", "b"]).await?, vec![Some(1), None]);
    /// # Ok::<(), cache_core::Error>(()) }).unwrap();
    /// ```
    pub async fn get_many<T, I, K>(&self, keys: I) -> Result<Vec<Option<T>>>
    where
        T: DeserializeOwned,
        I: IntoIterator<Item = K>,
        K: AsRef<str>,
    {
        let full = self.full_keys(keys)?;
        let values = self
            .call("get_many", "", self.inner.store.get_many(&full))
            .await?;
        let mut out = Vec::with_capacity(full.len());
        for (k, v) in full.iter().zip(values) {
            let value = match v {
                Some(b) => match self.decode_checked(k, &b).await? {
                    Read::Fresh(v) => Some(v),
                    Read::Stale(_) | Read::Miss => None,
                },
                None => None,
            };
            self.count_read(value.is_some());
            out.push(value);
        }
        Ok(out)
    }

    /// Writes many values with the same options.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let cache = cache_core::Cache::memory();
    /// cache.set_many([("a", &1), ("b", &2)], ()).await?;
    /// assert_eq!(cache.get::<i32>("b").await?, Some(2));
    /// # Ok::<(), cache_core::Error>(()) }).unwrap();
    /// ```
    pub async fn set_many<'v, T, I, K>(&self, entries: I, opts: impl Into<SetOptions>) -> Result<()>
    where
        T: Serialize + ?Sized + 'v,
        I: IntoIterator<Item = (K, &'v T)>,
        K: AsRef<str>,
    {
        let opts = opts.into();
        let tags = self.write_tags(&opts.tags).await?;
        let mut batch = Vec::new();
        let mut wopts = None;
        for (k, v) in entries {
            let full = self.full_key(k.as_ref())?;
            if let Some((bytes, w)) = self.encode(&full, v, &opts, &tags)? {
                batch.push((full, bytes));
                wopts = Some(w);
            }
        }
        let Some(wopts) = wopts else { return Ok(()) };
        self.call("set_many", "", self.inner.store.set_many(&batch, &wopts))
            .await?;
        self.count(|c| &c.sets, batch.len() as u64);
        Ok(())
    }
}
