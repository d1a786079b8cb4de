//! The loaders a [`Warmer`](super::Warmer) refreshes through: per key template, type-erased.

use std::fmt::Display;
use std::future::Future;
use std::sync::Arc;

use futures_util::future::BoxFuture;
use serde::Serialize;

use super::report::Outcome;
use super::template::{KeyTemplate, WarmArgs};
use crate::options::SetOptions;
use crate::Cache;

type ErasedLoad = Arc<dyn Fn(Cache, WarmArgs) -> BoxFuture<'static, Outcome> + Send + Sync>;

/// A loader registered for a key template, with the write options of what it loads.
#[derive(Clone)]
pub(crate) struct TemplateLoader {
    template: KeyTemplate,
    load: ErasedLoad,
}

impl std::fmt::Debug for TemplateLoader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("TemplateLoader")
            .field(&self.template.text())
            .finish()
    }
}

impl TemplateLoader {
    pub(crate) fn new<T, E, F, Fut>(template: &str, opts: SetOptions, loader: F) -> Self
    where
        T: Serialize + Send + Sync + 'static,
        E: Display + Send + 'static,
        F: Fn(WarmArgs) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Option<T>, E>> + Send + 'static,
    {
        let template = KeyTemplate::parse(template);
        let opts = Arc::new(opts);
        let load: ErasedLoad = Arc::new(move |cache: Cache, args: WarmArgs| {
            let opts = Arc::clone(&opts);
            let key = args.key().to_owned();
            let fut = loader(args);
            Box::pin(async move { cache.warm_one(&key, &opts, fut).await })
        });
        Self { template, load }
    }

    /// The refresh of `key` if the template matches it.
    pub(crate) fn refresh(&self, cache: &Cache, key: &str) -> Option<BoxFuture<'static, Outcome>> {
        let args = self.template.matches(key)?;
        Some((self.load)(cache.clone(), args))
    }
}
