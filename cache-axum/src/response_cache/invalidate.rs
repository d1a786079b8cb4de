//! Invalidation by unsafe methods (RFC 9111 §4.4): the request's resource and the same-origin
//! `Location`/`Content-Location` targets.

use http::header::{self, HeaderMap, HeaderValue};
use http::request::Parts;
use http::{Method, Uri};

use super::config::Config;
use super::keys::keys_for;

/// The URI of a `Location`/`Content-Location` value if it names a resource of this origin.
pub(super) fn same_origin(parts: &Parts, value: &HeaderValue) -> Option<Uri> {
    let s = value.to_str().ok()?.trim();
    let uri: Uri = s.parse().ok()?;
    match uri.authority() {
        None if s.starts_with('/') => Some(uri),
        None => None,
        Some(authority) => {
            let host = parts
                .headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .or_else(|| parts.uri.authority().map(|a| a.as_str()))?;
            if !authority.as_str().eq_ignore_ascii_case(host) {
                return None;
            }
            Uri::builder()
                .path_and_query(uri.path_and_query().map_or("/", |p| p.as_str()))
                .build()
                .ok()
        }
    }
}

/// Drops every stored response of the request's target and of same-origin `Location` and
/// `Content-Location` (all variants at once, through their resource tags).
pub(super) async fn invalidate(cfg: &Config, parts: &Parts, res_headers: &HeaderMap) {
    let mut tags = Vec::new();
    let mut bases = Vec::new();
    let mut targets = vec![parts.clone()];
    for name in [header::LOCATION, header::CONTENT_LOCATION] {
        if let Some(uri) = res_headers.get(&name).and_then(|v| same_origin(parts, v)) {
            let mut target = parts.clone();
            target.uri = uri;
            targets.push(target);
        }
    }
    for target in &mut targets {
        target.method = Method::GET;
        if let Some(keys) = keys_for(cfg, target) {
            // A fetch of this resource in flight here deletes what it writes; let the one
            // leading land first all the same, then drop it too.
            cfg.fence.invalidating(keys.resource());
            cfg.flights.settled(&keys.base).await;
            tags.push(keys.resource_tag());
            bases.push(keys.base);
        }
    }
    if let Err(e) = drop_resources(cfg, &bases, &tags).await {
        tracing::warn!(target: "cache_axum", error = %e, "invalidation after an unsafe method failed");
    }
}

/// Deletes resources: their base keys, and every key tagged with their resource tags.
pub(super) async fn drop_resources(
    cfg: &Config,
    bases: &[String],
    tags: &[String],
) -> cache_core::Result<()> {
    cfg.cache.delete_many(bases).await?;
    cfg.cache.invalidate_tags(tags).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::Request;

    #[test]
    fn same_origin_accepts_paths_and_own_host_only() {
        let req = Request::builder()
            .uri("/items")
            .header("host", "example.com")
            .body(())
            .unwrap();
        let (parts, ()) = req.into_parts();
        let v = |s: &'static str| HeaderValue::from_static(s);
        assert_eq!(
            same_origin(&parts, &v("/items/1?x=1")).unwrap(),
            "/items/1?x=1"
        );
        assert_eq!(
            same_origin(&parts, &v("http://EXAMPLE.com/a")).unwrap(),
            "/a"
        );
        assert!(same_origin(&parts, &v("http://evil.com/a")).is_none());
        assert!(same_origin(&parts, &v("relative")).is_none());
        assert!(same_origin(&parts, &v("::::")).is_none());
    }
}
