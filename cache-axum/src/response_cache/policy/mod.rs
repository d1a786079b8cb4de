//! RFC 9111 policy, a file per concern: `Cache-Control` parsing ([`directives`]), freshness
//! and age ([`freshness`]), storability ([`storability`]), and which never-fresh responses are
//! worth storing ([`never_fresh`]).

mod directives;
mod freshness;
mod never_fresh;
mod storability;

pub(crate) use directives::CacheControl;
pub(crate) use freshness::{
    freshness, heuristically_cacheable, initial_age_ms, unix_ms, FreshnessOptions,
};
pub(crate) use never_fresh::{explicitly_revalidated, worth_storing};
pub(crate) use storability::{auth_ok, storable, vary_names, Storable};

#[cfg(test)]
pub(crate) mod tests_support {
    use http::header::{HeaderMap, HeaderValue};

    /// A header map of `pairs`, in order.
    pub(crate) fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (n, v) in pairs {
            h.append(*n, HeaderValue::from_static(v));
        }
        h
    }
}
