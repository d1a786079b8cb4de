//! Responses that are never fresh: kept only where a stored copy can still be used without a
//! full fetch from the inner service.
//!
//! A response whose freshness lifetime is zero, or that has no freshness information at all
//! (no `s-maxage`, `max-age`, `Expires`, heuristic from `Last-Modified`, `default_ttl` or
//! [`CacheOptions`](crate::CacheOptions) TTL), is stale from the moment it arrives: every use
//! of a stored copy needs a revalidation, which calls the inner service (and, behind an
//! `EtagLayer` computing the ETag from the body, runs the handler) anyway. RFC 9111 never
//! requires a cache to store a response (§3), so such a response is stored only when the
//! stored copy is of use:
//!
//! - its origin grants stale windows this cache may use (`stale-while-revalidate`,
//!   `stale-if-error`, not overridden by `must-revalidate`, `proxy-revalidate` or `no-cache`):
//!   the copy answers while the refresh runs in the background, or when the inner service fails;
//! - or its origin asked for revalidation explicitly (`no-cache`, or a governing `max-age=0` /
//!   `s-maxage=0`) and gave a validator (`ETag` or `Last-Modified`): a `304` then saves sending
//!   the body again, and lets an inner service that answers conditional requests cheaply (an
//!   `EtagLayer` in validator mode) skip its handler.
//!
//! A `no-cache` response without a validator is never stored, whatever its lifetime: each use
//! would be a full fetch, whose response is served instead.

use super::directives::CacheControl;

/// Whether the stale windows the origin granted (`stale-while-revalidate`, `stale-if-error`)
/// may be used: an explicit `must-revalidate`, `proxy-revalidate` or `no-cache` overrides them.
fn stale_windows_apply(cc: &CacheControl, swr_ms: u64, sie_ms: u64) -> bool {
    (swr_ms > 0 || sie_ms > 0) && !explicitly_revalidated(cc)
}

/// `must-revalidate`, `proxy-revalidate` or `no-cache`.
pub(crate) fn explicitly_revalidated(cc: &CacheControl) -> bool {
    cc.must_revalidate || cc.proxy_revalidate || cc.no_cache
}

/// Whether the origin asked for revalidation before every use: `no-cache`, or a governing
/// `s-maxage=0` (or `max-age=0` without `s-maxage`).
fn revalidation_requested(cc: &CacheControl) -> bool {
    cc.no_cache || cc.s_maxage.or(cc.max_age) == Some(0)
}

/// Whether a storable response with freshness lifetime `lifetime_ms` (`0` also for one without
/// any freshness information) is worth storing; `Err` names why not. See the module docs.
pub(crate) fn worth_storing(
    cc: &CacheControl,
    lifetime_ms: u64,
    swr_ms: u64,
    sie_ms: u64,
    has_validator: bool,
) -> Result<(), &'static str> {
    if cc.no_cache && !has_validator {
        return Err("no-cache without a validator");
    }
    if lifetime_ms > 0 || stale_windows_apply(cc, swr_ms, sie_ms) {
        return Ok(());
    }
    if revalidation_requested(cc) && has_validator {
        return Ok(());
    }
    Err("never fresh")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::response_cache::policy::tests_support::headers;

    fn cc(s: &'static str) -> CacheControl {
        CacheControl::parse(&headers(&[("cache-control", s)]))
    }

    #[test]
    fn never_fresh_responses_are_kept_only_when_of_use() {
        let none = CacheControl::default();
        // Fresh for a while: stored, validator or not.
        assert_eq!(worth_storing(&none, 1, 0, 0, false), Ok(()));
        // No freshness and no opt-in: not stored, even with a validator.
        assert_eq!(worth_storing(&none, 0, 0, 0, true), Err("never fresh"));
        assert_eq!(
            worth_storing(&cc("public"), 0, 0, 0, true),
            Err("never fresh")
        );
        assert_eq!(
            worth_storing(&cc("must-revalidate"), 0, 0, 0, true),
            Err("never fresh")
        );
        // Revalidation asked for, with a validator: stored.
        assert_eq!(worth_storing(&cc("no-cache"), 0, 0, 0, true), Ok(()));
        assert_eq!(worth_storing(&cc("max-age=0"), 0, 0, 0, true), Ok(()));
        assert_eq!(
            worth_storing(&cc("s-maxage=0, max-age=60"), 0, 0, 0, true),
            Ok(())
        );
        // ... but not without one.
        assert_eq!(
            worth_storing(&cc("max-age=0"), 0, 0, 0, false),
            Err("never fresh")
        );
        assert_eq!(
            worth_storing(&cc("no-cache, max-age=60"), 60_000, 0, 0, false),
            Err("no-cache without a validator")
        );
        // A governing s-maxage > 0 is freshness, not a request to revalidate.
        assert_eq!(
            worth_storing(&cc("s-maxage=5, max-age=0"), 5_000, 0, 0, false),
            Ok(())
        );
        // Stale windows: of use unless overridden.
        assert_eq!(worth_storing(&none, 0, 30_000, 0, false), Ok(()));
        assert_eq!(worth_storing(&none, 0, 0, 30_000, true), Ok(()));
        assert_eq!(
            worth_storing(&cc("must-revalidate"), 0, 30_000, 0, false),
            Err("never fresh")
        );
    }
}
