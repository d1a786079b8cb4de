//! RFC 9111/9110 scenarios for `ResponseCacheLayer`, each over real TCP with a real client,
//! each taking the `Cache` to store in, so the same list runs on every store.
#![allow(dead_code, unreachable_pub)]

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use cache_axum::{CacheOptions, LayerCache, ResponseCacheLayer};
use cache_core::store::Store;
use cache_core::Cache;

use crate::support::{eventually, http_date, serve, Client, Setup, Spec};

/// Runs every scenario against the cache `$make` builds: `$make` is an async fn returning
/// `(guard, Cache)`, where the guard (a Redis server, say) lives as long as the test.
#[macro_export]
macro_rules! all_scenarios {
    ($make:path) => {
        $crate::all_scenarios!(@ $make;
            fresh_max_age_is_served_from_cache, s_maxage_overrides_max_age, expires_in_future_is_fresh,
            expires_in_past_or_invalid_is_stale, no_freshness_information_is_not_cached,
            default_ttl_caches_responses_without_freshness, default_ttl_skips_non_heuristic_status,
            last_modified_heuristic_gives_freshness, heuristic_off_leaves_last_modified_without_freshness,
            age_on_every_served_response, upstream_age_counts_against_freshness, age_grows_while_stored,
            request_no_cache_revalidates_with_etag, request_no_cache_without_validator_refetches,
            pragma_no_cache_revalidates, request_no_store_is_not_stored, request_no_store_may_use_stored,
            request_max_age_zero_revalidates, request_max_stale_accepts_stale,
            request_max_stale_too_small_revalidates, request_min_fresh_rejects_nearly_stale,
            only_if_cached_miss_is_504, only_if_cached_hit_is_served,
            response_no_store_is_not_stored, response_private_is_not_stored,
            response_no_cache_is_revalidated_every_time, must_revalidate_blocks_max_stale,
            proxy_revalidate_blocks_max_stale, s_maxage_blocks_max_stale,
            vary_match_hits, vary_mismatch_stores_each_variant, vary_star_is_never_cached,
            vary_absent_header_matches_only_absent, vary_by_option_separates_entries,
            head_is_answered_from_stored_get, head_miss_is_forwarded_and_not_stored,
            revalidation_304_updates_stored_headers, revalidation_uses_if_modified_since,
            revalidation_200_replaces_entry, post_invalidates_target_uri, post_invalidates_location,
            put_invalidates_content_location, absolute_location_on_same_host_invalidates,
            location_on_other_host_is_ignored, failed_unsafe_method_does_not_invalidate,
            delete_invalidates_every_variant, invalidation_is_not_overtaken_by_a_fetch_in_flight,
            fills_are_not_lost_to_unrelated_invalidations,
            fields_named_in_connection_are_not_stored, age_lists_and_garbage_are_read_conservatively,
            vary_values_match_across_white_space_case_and_meaningless_order,
            obsolete_and_mistaken_expires_dates_are_read,
            if_modified_since_uses_the_date_of_a_response_without_last_modified,
            cdn_cache_control_takes_precedence_for_this_cache,
            targeted_field_can_be_renamed_and_forwarded,
            ranges_are_answered_from_a_stored_response, a_range_on_a_miss_goes_to_the_origin,
            invalidation_is_not_overtaken_by_another_vary_by_fetch,
            stale_while_revalidate_serves_stale_then_refreshes,
            stale_while_revalidate_window_exceeded_revalidates, stale_if_error_serves_stale_on_500,
            stale_if_error_window_exceeded_passes_error, no_stale_if_error_passes_error,
            authorization_response_is_not_stored, authorization_request_skips_unshared_entry,
            authorization_with_public_is_shared, authorization_with_s_maxage_is_shared,
            authorization_with_must_revalidate_is_shared, set_cookie_is_not_stored,
            set_cookie_is_stored_when_allowed, oversized_body_streams_through_unstored,
            oversized_stream_without_length_streams_through, small_stream_is_stored,
            a_slow_storable_response_streams_while_it_is_stored,
            a_stream_that_outgrows_max_body_streams_on_unstored,
            a_client_that_leaves_mid_stream_stores_nothing,
            an_invalidation_does_not_wait_for_a_streaming_fill,
            cache_status_reports_hits_and_why_requests_went_on,
            cache_status_is_off_by_default_and_hides_keys_unless_asked,
            hundred_concurrent_misses_call_origin_once, tag_header_is_stripped_and_purgeable,
            cache_options_extension_sets_ttl_and_tags, cache_options_no_store,
            predicate_bypasses, key_fn_replaces_the_key, status_header_can_be_renamed,
            route_layer_caches_one_route_only, client_if_none_match_is_answered_from_cache,
            client_if_modified_since_is_answered_from_cache, corrupt_entry_is_a_miss,
            malformed_headers_never_fail, state_and_layer_cache_extractors,
        );
    };
    (@ $make:path; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let (_guard, cache) = $make().await;
                $crate::scenarios::$name(cache).await;
            }
        )*
    };
}

const A: &str = "payload A";

// ---- freshness -------------------------------------------------------------------------

pub async fn fresh_max_age_is_served_from_cache(cache: Cache) {
    let t = Setup::new(cache).await;
    t.origin.get("/a", Spec::ok(A).cc("max-age=60"));
    let r1 = t.client.get("/a").await;
    assert_eq!(
        (r1.status, r1.x_cache(), r1.text().as_str()),
        (200, "MISS", A)
    );
    let r2 = t.client.get("/a").await;
    assert_eq!(
        (r2.status, r2.x_cache(), r2.text().as_str()),
        (200, "HIT", A)
    );
    assert_eq!(r2.h("cache-control"), Some("max-age=60"));
    assert_eq!(t.origin.gets("/a"), 1);
}

/// RFC 9111 §5.1: a list-based `Age` counts its first member; an unreadable one is not taken
/// as 0 (the response is revalidated, not served as fresh).
pub async fn age_lists_and_garbage_are_read_conservatively(cache: Cache) {
    let t = Setup::new(cache).await;
    t.origin.get(
        "/age-list",
        Spec::ok(A).cc("max-age=3600").header("age", "7200, 0"),
    );
    t.origin.get(
        "/age-bad",
        Spec::ok(A).cc("max-age=60").header("age", "soon"),
    );
    t.origin.get(
        "/age-ok",
        Spec::ok(A).cc("max-age=3600").header("age", "10"),
    );
    for path in ["/age-list", "/age-bad", "/age-ok"] {
        assert_eq!(t.client.get(path).await.x_cache(), "MISS", "{path}");
    }
    for path in ["/age-list", "/age-bad"] {
        let r = t.client.get(path).await;
        assert_ne!(r.x_cache(), "HIT", "{path}: served as fresh");
        assert_eq!(t.origin.gets(path), 2, "{path}");
    }
    let r = t.client.get("/age-ok").await;
    assert_eq!(r.x_cache(), "HIT");
    assert!(r.age() >= 10, "the stored age counts: {}", r.age());
}

/// RFC 9110 §7.6.1: fields a response's `Connection` names are hop-by-hop: not stored, so never
/// replayed to another client.
pub async fn fields_named_in_connection_are_not_stored(cache: Cache) {
    let t = Setup::new(cache).await;
    t.origin.get(
        "/conn",
        Spec::ok(A)
            .cc("max-age=60")
            .header("connection", "x-hop, keep-alive")
            .header("x-hop", "for the first hop only")
            .header("x-kept", "yes"),
    );
    assert_eq!(t.client.get("/conn").await.x_cache(), "MISS");
    let r = t.client.get("/conn").await;
    assert_eq!(r.x_cache(), "HIT");
    assert_eq!(r.h("x-kept"), Some("yes"));
    assert_eq!(
        r.h("x-hop"),
        None,
        "a field named in Connection was replayed"
    );
}

/// `Vary` compares request values normalized: white space and the case of `Accept-*` tokens
/// never matter, the order of `Accept-Encoding` members neither; the order of
/// `Accept-Language` (the client's preference) does.
pub async fn vary_values_match_across_white_space_case_and_meaningless_order(cache: Cache) {
    let t = Setup::new(cache).await;
    t.origin.get(
        "/negotiated",
        Spec::ok(A)
            .cc("max-age=60")
            .header("vary", "accept-language, accept-encoding"),
    );
    let first = [
        ("accept-language", "en, fr"),
        ("accept-encoding", "gzip, br"),
    ];
    assert_eq!(
        t.client.get_with("/negotiated", &first).await.x_cache(),
        "MISS"
    );
    let same = [("Accept-Language", "EN,fr"), ("accept-encoding", "br,gzip")];
    assert_eq!(
        t.client.get_with("/negotiated", &same).await.x_cache(),
        "HIT"
    );
    let other = [
        ("accept-language", "fr, en"),
        ("accept-encoding", "gzip, br"),
    ];
    assert_eq!(
        t.client.get_with("/negotiated", &other).await.x_cache(),
        "MISS"
    );
    assert_eq!(t.origin.gets("/negotiated"), 2);
}

pub async fn s_maxage_overrides_max_age(cache: Cache) {
    let t = Setup::new(cache).await;
    t.origin.get("/s", Spec::ok(A).cc("max-age=0, s-maxage=60"));
    t.client.get("/s").await;
    assert_eq!(t.client.get("/s").await.x_cache(), "HIT");
    assert_eq!(t.origin.gets("/s"), 1);
}

pub async fn expires_in_future_is_fresh(cache: Cache) {
    let t = Setup::new(cache).await;
    t.origin.get(
        "/e",
        Spec::ok(A)
            .header("date", &http_date(0))
            .header("expires", &http_date(120)),
    );
    t.client.get("/e").await;
    assert_eq!(t.client.get("/e").await.x_cache(), "HIT");
    assert_eq!(t.origin.gets("/e"), 1);
}

/// RFC 9110 §5.6.7: the obsolete date formats are accepted, and so are names in another case
/// and a weekday that does not match the date (they used to read as already expired).
pub async fn obsolete_and_mistaken_expires_dates_are_read(cache: Cache) {
    let t = Setup::new(cache).await;
    let imf = http_date(3600);
    // "Sun, 06 Nov 1994 08:49:37 GMT" -> its parts
    let p: Vec<&str> = imf.split(' ').collect();
    let (day, d, mon, year, time) = (p[0].trim_end_matches(','), p[1], p[2], p[3], p[4]);
    let day_n: u32 = d.parse().unwrap();
    let other_day = if day == "Mon" { "Tue" } else { "Mon" };
    let forms = [
        ("asctime", format!("{day} {mon} {day_n:>2} {time} {year}")),
        ("lower case", imf.to_lowercase()),
        ("wrong weekday", imf.replacen(day, other_day, 1)),
    ];
    for (i, (what, expires)) in forms.iter().enumerate() {
        let path = format!("/expires/{i}");
        t.origin.get(
            &path,
            Spec::ok(A)
                .header("date", &http_date(0))
                .header("expires", expires),
        );
        assert_eq!(t.client.get(&path).await.x_cache(), "MISS", "{what}");
        assert_eq!(
            t.client.get(&path).await.x_cache(),
            "HIT",
            "{what}: {expires}"
        );
        assert_eq!(t.origin.gets(&path), 1, "{what}");
    }
}

/// RFC 9111 §4.3.2: a stored response without `Last-Modified` answers `If-Modified-Since` by
/// its `Date`.
pub async fn if_modified_since_uses_the_date_of_a_response_without_last_modified(cache: Cache) {
    let t = Setup::new(cache).await;
    t.origin.get(
        "/dated",
        Spec::ok(A).cc("max-age=60").header("date", &http_date(-30)),
    );
    assert_eq!(t.client.get("/dated").await.x_cache(), "MISS");
    let since_after = [("if-modified-since", http_date(0))];
    let since_after: Vec<(&str, &str)> =
        since_after.iter().map(|(n, v)| (*n, v.as_str())).collect();
    let r = t.client.get_with("/dated", &since_after).await;
    assert_eq!((r.status, r.x_cache()), (304, "HIT"));
    let since_before = [("if-modified-since", http_date(-120))];
    let since_before: Vec<(&str, &str)> =
        since_before.iter().map(|(n, v)| (*n, v.as_str())).collect();
    let r = t.client.get_with("/dated", &since_before).await;
    assert_eq!((r.status, r.x_cache(), r.text().as_str()), (200, "HIT", A));
    assert_eq!(t.origin.gets("/dated"), 1);
}

/// RFC 9213: `CDN-Cache-Control` decides storage and freshness here, in place of
/// `Cache-Control` and `Expires` (which still reach clients); it is not passed on.
pub async fn cdn_cache_control_takes_precedence_for_this_cache(cache: Cache) {
    let t = Setup::new(cache).await;
    t.origin.get(
        "/cdn-fresh",
        Spec::ok(A)
            .cc("no-store")
            .header("cdn-cache-control", "max-age=60"),
    );
    t.origin.get(
        "/cdn-no-store",
        Spec::ok(A)
            .cc("public, max-age=60")
            .header("cdn-cache-control", "no-store"),
    );
    t.origin.get(
        "/cdn-expires",
        Spec::ok(A)
            .header("date", &http_date(0))
            .header("expires", &http_date(-60))
            .header("cdn-cache-control", "max-age=60"),
    );
    for path in ["/cdn-fresh", "/cdn-no-store", "/cdn-expires"] {
        let r = t.client.get(path).await;
        assert_eq!(r.x_cache(), "MISS", "{path}");
        assert_eq!(r.h("cdn-cache-control"), None, "{path}: passed on");
    }
    let r = t.client.get("/cdn-fresh").await;
    assert_eq!(r.x_cache(), "HIT");
    assert_eq!(
        r.h("cache-control"),
        Some("no-store"),
        "Cache-Control still reaches clients"
    );
    assert_eq!(r.h("cdn-cache-control"), None);
    assert_eq!(
        t.client.get("/cdn-expires").await.x_cache(),
        "HIT",
        "Expires ignored"
    );
    assert_eq!(t.client.get("/cdn-no-store").await.x_cache(), "MISS");
    assert_eq!(t.origin.gets("/cdn-no-store"), 2);
}

/// The targeted field's name is an option, and so is passing it on.
pub async fn targeted_field_can_be_renamed_and_forwarded(cache: Cache) {
    let t = Setup::with(cache, |l| {
        l.targeted_field(Some("Acme-Cache-Control"))
            .forward_targeted_field(true)
    })
    .await;
    t.origin.get(
        "/acme",
        Spec::ok(A)
            .cc("no-store")
            .header("acme-cache-control", "max-age=60")
            .header("cdn-cache-control", "no-store"),
    );
    assert_eq!(t.client.get("/acme").await.x_cache(), "MISS");
    let r = t.client.get("/acme").await;
    assert_eq!(
        r.x_cache(),
        "HIT",
        "the renamed field decides, CDN-Cache-Control does not"
    );
    assert_eq!(r.h("acme-cache-control"), Some("max-age=60"), "forwarded");
}

/// RFC 9110 §14 / RFC 9111 §3.4: single, open-ended and suffix ranges of a stored complete
/// response are answered 206 with `Content-Range`; `If-Range` with the stored strong `ETag` or
/// exact `Last-Modified` allows them, another validator gets the whole 200; a range past the end
/// is a 416; several ranges get the whole 200. The origin is asked once.
pub async fn ranges_are_answered_from_a_stored_response(cache: Cache) {
    let t = Setup::new(cache).await;
    let modified = http_date(-3600);
    t.origin.get(
        "/file",
        Spec::ok("0123456789")
            .cc("max-age=60")
            .header("etag", "\"v1\"")
            .header("last-modified", &modified),
    );
    assert_eq!(t.client.get("/file").await.x_cache(), "MISS");
    let get = |range: &'static str, if_range: Option<&str>| {
        let mut h = vec![("range", range.to_owned())];
        if let Some(v) = if_range {
            h.push(("if-range", v.to_owned()));
        }
        let client = t.client.clone();
        async move {
            let h: Vec<(&str, &str)> = h.iter().map(|(n, v)| (*n, v.as_str())).collect();
            client.get_with("/file", &h).await
        }
    };
    for (range, status, content_range, body) in [
        ("bytes=2-4", 206, Some("bytes 2-4/10"), "234"),
        ("bytes=7-", 206, Some("bytes 7-9/10"), "789"),
        ("bytes=-2", 206, Some("bytes 8-9/10"), "89"),
        ("bytes=10-", 416, Some("bytes */10"), ""),
        ("bytes=0-1,5-6", 200, None, "0123456789"),
        ("lines=1-2", 200, None, "0123456789"),
    ] {
        let r = get(range, None).await;
        assert_eq!(
            (
                r.status,
                r.h("content-range"),
                r.text().as_str(),
                r.x_cache()
            ),
            (status, content_range, body, "HIT"),
            "{range}"
        );
    }
    let r = get("bytes=0-1", Some("\"v1\"")).await;
    assert_eq!(
        (r.status, r.text().as_str()),
        (206, "01"),
        "If-Range: the stored ETag"
    );
    let r = get("bytes=0-1", Some(&modified)).await;
    assert_eq!(
        (r.status, r.text().as_str()),
        (206, "01"),
        "If-Range: Last-Modified"
    );
    for other in ["\"v0\"", "W/\"v1\"", &http_date(-10)] {
        let r = get("bytes=0-1", Some(other)).await;
        assert_eq!(
            (r.status, r.text().as_str()),
            (200, "0123456789"),
            "If-Range {other}"
        );
    }
    let head = t
        .client
        .send("HEAD", "/file", &[("range", "bytes=0-1")])
        .await;
    assert_eq!(head.status, 200, "HEAD ignores Range");
    assert_eq!(t.origin.gets("/file"), 1);
}

/// Without a complete stored response, the origin answers the range itself and its partial
/// response is not stored: the next full request is a miss.
pub async fn a_range_on_a_miss_goes_to_the_origin(cache: Cache) {
    let t = Setup::new(cache).await;
    t.origin
        .get("/partial", Spec::ok("from the origin").cc("max-age=60"));
    let r = t
        .client
        .get_with("/partial", &[("range", "bytes=0-3")])
        .await;
    assert_eq!(r.status, 200, "the test origin ignores Range");
    let seen = t.origin.last_headers("GET", "/partial");
    assert_eq!(
        seen.get("range").map(|v| v.to_str().unwrap()),
        Some("bytes=0-3")
    );
    assert_eq!(t.client.get("/partial").await.x_cache(), "MISS");
    let r = t
        .client
        .get_with("/partial", &[("range", "bytes=0-3")])
        .await;
    assert_eq!(
        (r.status, r.text().as_str(), r.x_cache()),
        (206, "from", "HIT")
    );
}

pub async fn expires_in_past_or_invalid_is_stale(cache: Cache) {
    let t = Setup::new(cache).await;
    t.origin.get(
        "/past",
        Spec::ok(A)
            .header("date", &http_date(0))
            .header("expires", &http_date(-60)),
    );
    t.origin.get("/bad", Spec::ok(A).header("expires", "0"));
    for path in ["/past", "/bad"] {
        t.client.get(path).await;
        assert_eq!(t.client.get(path).await.x_cache(), "MISS", "{path}");
        assert_eq!(t.origin.gets(path), 2, "{path}");
    }
}

pub async fn no_freshness_information_is_not_cached(cache: Cache) {
    let t = Setup::new(cache).await;
    t.origin.get("/n", Spec::ok(A));
    t.client.get("/n").await;
    assert_eq!(t.client.get("/n").await.x_cache(), "MISS");
    assert_eq!(t.origin.gets("/n"), 2);
}

pub async fn default_ttl_caches_responses_without_freshness(cache: Cache) {
    let t = Setup::with(cache, |l| l.default_ttl(Duration::from_secs(60))).await;
    t.origin.get("/d", Spec::ok(A));
    t.client.get("/d").await;
    assert_eq!(t.client.get("/d").await.x_cache(), "HIT");
    assert_eq!(t.origin.gets("/d"), 1);
}

pub async fn default_ttl_skips_non_heuristic_status(cache: Cache) {
    let t = Setup::with(cache, |l| l.default_ttl(Duration::from_secs(60))).await;
    t.origin.get("/err", Spec::ok("boom").status(500));
    t.origin
        .get("/found", Spec::ok("").status(302).header("location", "/x"));
    for path in ["/err", "/found"] {
        t.client.get(path).await;
        t.client.get(path).await;
        assert_eq!(t.origin.gets(path), 2, "{path}");
    }
}

pub async fn last_modified_heuristic_gives_freshness(cache: Cache) {
    let t = Setup::new(cache).await;
    t.origin.get(
        "/lm",
        Spec::ok(A)
            .header("date", &http_date(0))
            .header("last-modified", &http_date(-10 * 86_400)),
    );
    t.client.get("/lm").await;
    assert_eq!(t.client.get("/lm").await.x_cache(), "HIT");
    assert_eq!(t.origin.gets("/lm"), 1);
}

/// Without the heuristic, a `Last-Modified` alone gives no freshness: the response could only
/// ever be revalidated, so it is not stored, and the next request goes to the origin as it is.
pub async fn heuristic_off_leaves_last_modified_without_freshness(cache: Cache) {
    let t = Setup::with(cache, |l| l.heuristic(false)).await;
    let lm = http_date(-10 * 86_400);
    t.origin.get(
        "/lm",
        Spec::ok(A).header("last-modified", &lm).revalidates(&[]),
    );
    assert_eq!(t.client.get("/lm").await.x_cache(), "MISS");
    let r = t.client.get("/lm").await;
    assert_eq!((r.status, r.x_cache(), r.text().as_str()), (200, "MISS", A));
    assert_eq!(r.h("last-modified"), Some(lm.as_str()));
    let sent = t.origin.last_headers("GET", "/lm");
    assert_eq!(
        sent.get("if-modified-since"),
        None,
        "nothing stored to revalidate"
    );
    assert_eq!(t.origin.gets("/lm"), 2);
}

pub async fn age_on_every_served_response(cache: Cache) {
    let t = Setup::new(cache).await;
    t.origin
        .get("/age", Spec::ok(A).cc("max-age=600").header("age", "30"));
    let r1 = t.client.get("/age").await;
    assert!(r1.age() >= 30, "{:?}", r1.h("age"));
    let r2 = t.client.get("/age").await;
    assert_eq!(r2.x_cache(), "HIT");
    assert!(r2.age() >= 30);
    t.origin.get("/zero", Spec::ok(A).cc("max-age=600"));
    assert_eq!(t.client.get("/zero").await.age(), 0);
}

pub async fn upstream_age_counts_against_freshness(cache: Cache) {
    let t = Setup::new(cache).await;
    t.origin
        .get("/old", Spec::ok(A).cc("max-age=60").header("age", "100"));
    t.client.get("/old").await;
    assert_eq!(t.client.get("/old").await.x_cache(), "MISS");
    assert_eq!(t.origin.gets("/old"), 2);
}

pub async fn age_grows_while_stored(cache: Cache) {
    let t = Setup::new(cache).await;
    t.origin.get("/grow", Spec::ok(A).cc("max-age=600"));
    t.client.get("/grow").await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let r = t.client.get("/grow").await;
    assert_eq!(r.x_cache(), "HIT");
    assert!(r.age() >= 1, "{:?}", r.h("age"));
}

// ---- request directives -----------------------------------------------------------------

pub async fn request_no_cache_revalidates_with_etag(cache: Cache) {
    let t = Setup::new(cache).await;
    t.origin.get(
        "/rnc",
        Spec::ok(A)
            .cc("max-age=60")
            .header("etag", "\"v1\"")
            .revalidates(&[]),
    );
    t.client.get("/rnc").await;
    let r = t
        .client
        .get_with("/rnc", &[("cache-control", "no-cache")])
        .await;
    assert_eq!(
        (r.status, r.x_cache(), r.text().as_str()),
        (200, "REVALIDATED", A)
    );
    assert_eq!(
        t.origin
            .last_headers("GET", "/rnc")
            .get("if-none-match")
            .unwrap(),
        "\"v1\""
    );
    assert_eq!(t.origin.gets("/rnc"), 2);
}

pub async fn request_no_cache_without_validator_refetches(cache: Cache) {
    let t = Setup::new(cache).await;
    t.origin.get("/rnc2", Spec::ok(A).cc("max-age=60"));
    t.client.get("/rnc2").await;
    let r = t
        .client
        .get_with("/rnc2", &[("cache-control", "no-cache")])
        .await;
    assert_eq!(r.x_cache(), "MISS");
    assert_eq!(t.origin.gets("/rnc2"), 2);
}

pub async fn pragma_no_cache_revalidates(cache: Cache) {
    let t = Setup::new(cache).await;
    t.origin.get(
        "/p",
        Spec::ok(A)
            .cc("max-age=60")
            .header("etag", "\"v1\"")
            .revalidates(&[]),
    );
    t.client.get("/p").await;
    assert_eq!(
        t.client
            .get_with("/p", &[("pragma", "no-cache")])
            .await
            .x_cache(),
        "REVALIDATED"
    );
    assert_eq!(t.origin.gets("/p"), 2);
}

pub async fn request_no_store_is_not_stored(cache: Cache) {
    let t = Setup::new(cache).await;
    t.origin.get("/rns", Spec::ok(A).cc("max-age=60"));
    t.client
        .get_with("/rns", &[("cache-control", "no-store")])
        .await;
    assert_eq!(t.client.get("/rns").await.x_cache(), "MISS");
    assert_eq!(t.origin.gets("/rns"), 2);
}

pub async fn request_no_store_may_use_stored(cache: Cache) {
    let t = Setup::new(cache).await;
    t.origin.get("/rns2", Spec::ok(A).cc("max-age=60"));
    t.client.get("/rns2").await;
    assert_eq!(
        t.client
            .get_with("/rns2", &[("cache-control", "no-store")])
            .await
            .x_cache(),
        "HIT"
    );
    assert_eq!(t.origin.gets("/rns2"), 1);
}

pub async fn request_max_age_zero_revalidates(cache: Cache) {
    let t = Setup::new(cache).await;
    t.origin.get(
        "/ma0",
        Spec::ok(A)
            .cc("max-age=60")
            .header("etag", "\"v1\"")
            .revalidates(&[]),
    );
    t.client.get("/ma0").await;
    assert_eq!(
        t.client
            .get_with("/ma0", &[("cache-control", "max-age=0")])
            .await
            .x_cache(),
        "REVALIDATED"
    );
    assert_eq!(t.origin.gets("/ma0"), 2);
}

/// A stored response that is 40 s stale and has a validator.
fn stale_spec(cc: &str) -> Spec {
    Spec::ok(A)
        .cc(cc)
        .header("age", "100")
        .header("etag", "\"v1\"")
}

pub async fn request_max_stale_accepts_stale(cache: Cache) {
    let t = Setup::new(cache).await;
    t.origin.get("/ms", stale_spec("max-age=60"));
    t.client.get("/ms").await;
    let r = t
        .client
        .get_with("/ms", &[("cache-control", "max-stale=3600")])
        .await;
    assert_eq!((r.x_cache(), r.text().as_str()), ("STALE", A));
    assert!(r.age() >= 100);
    assert_eq!(
        t.client
            .get_with("/ms", &[("cache-control", "max-stale")])
            .await
            .x_cache(),
        "STALE"
    );
    assert_eq!(t.origin.gets("/ms"), 1);
}

pub async fn request_max_stale_too_small_revalidates(cache: Cache) {
    let t = Setup::new(cache).await;
    t.origin
        .get("/ms2", stale_spec("max-age=60").revalidates(&[]));
    t.client.get("/ms2").await;
    let r = t
        .client
        .get_with("/ms2", &[("cache-control", "max-stale=10")])
        .await;
    assert_eq!(r.x_cache(), "REVALIDATED");
    assert_eq!(t.origin.gets("/ms2"), 2);
}

pub async fn request_min_fresh_rejects_nearly_stale(cache: Cache) {
    let t = Setup::new(cache).await;
    t.origin.get("/mf", Spec::ok(A).cc("max-age=60"));
    t.client.get("/mf").await;
    assert_eq!(
        t.client
            .get_with("/mf", &[("cache-control", "min-fresh=120")])
            .await
            .x_cache(),
        "MISS"
    );
    assert_eq!(
        t.client
            .get_with("/mf", &[("cache-control", "min-fresh=10")])
            .await
            .x_cache(),
        "HIT"
    );
    assert_eq!(t.origin.gets("/mf"), 2);
}

pub async fn only_if_cached_miss_is_504(cache: Cache) {
    let t = Setup::new(cache).await;
    t.origin.get("/oic", Spec::ok(A).cc("max-age=60"));
    let r = t
        .client
        .get_with("/oic", &[("cache-control", "only-if-cached")])
        .await;
    assert_eq!(r.status, 504);
    assert_eq!(t.origin.gets("/oic"), 0);
}

pub async fn only_if_cached_hit_is_served(cache: Cache) {
    let t = Setup::new(cache).await;
    t.origin.get("/oic2", Spec::ok(A).cc("max-age=60"));
    t.client.get("/oic2").await;
    let r = t
        .client
        .get_with("/oic2", &[("cache-control", "only-if-cached")])
        .await;
    assert_eq!((r.status, r.x_cache()), (200, "HIT"));
    assert_eq!(t.origin.gets("/oic2"), 1);
}

// ---- response directives ----------------------------------------------------------------

pub async fn response_no_store_is_not_stored(cache: Cache) {
    let t = Setup::new(cache).await;
    t.origin.get("/ns", Spec::ok(A).cc("no-store, max-age=60"));
    t.client.get("/ns").await;
    assert_eq!(t.client.get("/ns").await.x_cache(), "MISS");
    assert_eq!(t.origin.gets("/ns"), 2);
}

pub async fn response_private_is_not_stored(cache: Cache) {
    let t = Setup::new(cache).await;
    t.origin.get("/pv", Spec::ok(A).cc("private, max-age=60"));
    t.client.get("/pv").await;
    assert_eq!(t.client.get("/pv").await.x_cache(), "MISS");
    assert_eq!(t.origin.gets("/pv"), 2);
}

pub async fn response_no_cache_is_revalidated_every_time(cache: Cache) {
    let t = Setup::new(cache).await;
    t.origin.get(
        "/nc",
        Spec::ok(A)
            .cc("no-cache, max-age=60")
            .header("etag", "\"v1\"")
            .revalidates(&[]),
    );
    t.client.get("/nc").await;
    for n in 2..=3 {
        let r = t.client.get("/nc").await;
        assert_eq!((r.x_cache(), r.text().as_str()), ("REVALIDATED", A));
        assert_eq!(t.origin.gets("/nc"), n);
    }
}

async fn stale_forbidden(cache: Cache, cc: &str) {
    let t = Setup::new(cache).await;
    t.origin.get("/sf", stale_spec(cc).revalidates(&[]));
    t.client.get("/sf").await;
    let r = t
        .client
        .get_with("/sf", &[("cache-control", "max-stale=3600")])
        .await;
    assert_eq!(r.x_cache(), "REVALIDATED", "{cc}");
    assert_eq!(t.origin.gets("/sf"), 2);
}

pub async fn must_revalidate_blocks_max_stale(cache: Cache) {
    stale_forbidden(cache, "max-age=60, must-revalidate").await;
}

pub async fn proxy_revalidate_blocks_max_stale(cache: Cache) {
    stale_forbidden(cache, "max-age=60, proxy-revalidate").await;
}

pub async fn s_maxage_blocks_max_stale(cache: Cache) {
    stale_forbidden(cache, "s-maxage=60").await;
}

// ---- Vary -------------------------------------------------------------------------------

fn vary_spec() -> Spec {
    Spec::ok(A)
        .cc("max-age=60")
        .header("vary", "Accept-Language")
}

pub async fn vary_match_hits(cache: Cache) {
    let t = Setup::new(cache).await;
    t.origin.get("/v", vary_spec());
    let en = [("accept-language", "en")];
    assert_eq!(t.client.get_with("/v", &en).await.x_cache(), "MISS");
    assert_eq!(t.client.get_with("/v", &en).await.x_cache(), "HIT");
    assert_eq!(t.origin.gets("/v"), 1);
}

pub async fn vary_mismatch_stores_each_variant(cache: Cache) {
    let t = Setup::new(cache).await;
    t.origin.get("/v", vary_spec());
    let (en, fr) = ([("accept-language", "en")], [("accept-language", "fr")]);
    assert_eq!(t.client.get_with("/v", &en).await.x_cache(), "MISS");
    assert_eq!(t.client.get_with("/v", &fr).await.x_cache(), "MISS");
    assert_eq!(t.client.get_with("/v", &en).await.x_cache(), "HIT");
    assert_eq!(t.client.get_with("/v", &fr).await.x_cache(), "HIT");
    assert_eq!(t.origin.gets("/v"), 2);
}

pub async fn vary_star_is_never_cached(cache: Cache) {
    let t = Setup::new(cache).await;
    t.origin
        .get("/vs", Spec::ok(A).cc("max-age=60").header("vary", "*"));
    t.client.get("/vs").await;
    assert_eq!(t.client.get("/vs").await.x_cache(), "MISS");
    assert_eq!(t.origin.gets("/vs"), 2);
}

pub async fn vary_absent_header_matches_only_absent(cache: Cache) {
    let t = Setup::new(cache).await;
    t.origin.get("/v", vary_spec());
    t.client.get("/v").await;
    assert_eq!(t.client.get("/v").await.x_cache(), "HIT");
    assert_eq!(
        t.client
            .get_with("/v", &[("accept-language", "en")])
            .await
            .x_cache(),
        "MISS"
    );
    assert_eq!(t.origin.gets("/v"), 2);
}

pub async fn vary_by_option_separates_entries(cache: Cache) {
    let t = Setup::with(cache, |l| l.vary_by(["x-tenant"])).await;
    t.origin.get("/t", Spec::ok(A).cc("max-age=60"));
    let (a, b) = ([("x-tenant", "a")], [("x-tenant", "b")]);
    assert_eq!(t.client.get_with("/t", &a).await.x_cache(), "MISS");
    assert_eq!(t.client.get_with("/t", &b).await.x_cache(), "MISS");
    assert_eq!(t.client.get_with("/t", &a).await.x_cache(), "HIT");
    assert_eq!(t.origin.gets("/t"), 2);
}

// ---- HEAD -------------------------------------------------------------------------------

pub async fn head_is_answered_from_stored_get(cache: Cache) {
    let t = Setup::new(cache).await;
    t.origin.get("/h", Spec::ok(A).cc("max-age=60"));
    t.client.get("/h").await;
    let r = t.client.send("HEAD", "/h", &[]).await;
    assert_eq!((r.status, r.x_cache()), (200, "HIT"));
    assert!(r.body.is_empty());
    assert_eq!(r.h("content-length"), Some(A.len().to_string().as_str()));
    assert_eq!(t.origin.calls("HEAD", "/h"), 0);
    assert_eq!(t.origin.gets("/h"), 1);
}

pub async fn head_miss_is_forwarded_and_not_stored(cache: Cache) {
    let t = Setup::new(cache).await;
    t.origin.get("/h2", Spec::ok(A).cc("max-age=60"));
    let r = t.client.send("HEAD", "/h2", &[]).await;
    assert_eq!((r.status, r.x_cache()), (200, "MISS"));
    assert_eq!(t.origin.calls("HEAD", "/h2"), 1);
    assert_eq!(t.client.get("/h2").await.x_cache(), "MISS");
}

// ---- revalidation -----------------------------------------------------------------------

pub async fn revalidation_304_updates_stored_headers(cache: Cache) {
    let t = Setup::new(cache).await;
    t.origin.get(
        "/r",
        Spec::ok(A)
            .cc("max-age=0")
            .header("etag", "\"v1\"")
            .header("x-version", "1")
            .revalidates(&[("x-version", "2"), ("cache-control", "max-age=60")]),
    );
    let r1 = t.client.get("/r").await;
    assert_eq!((r1.x_cache(), r1.h("x-version")), ("MISS", Some("1")));
    let r2 = t.client.get("/r").await;
    assert_eq!(
        (r2.status, r2.x_cache(), r2.text().as_str()),
        (200, "REVALIDATED", A)
    );
    assert_eq!(
        (r2.h("x-version"), r2.h("cache-control")),
        (Some("2"), Some("max-age=60"))
    );
    assert_eq!(
        t.origin
            .last_headers("GET", "/r")
            .get("if-none-match")
            .unwrap(),
        "\"v1\""
    );
    let r3 = t.client.get("/r").await;
    assert_eq!((r3.x_cache(), r3.h("x-version")), ("HIT", Some("2")));
    assert_eq!(t.origin.gets("/r"), 2);
}

pub async fn revalidation_uses_if_modified_since(cache: Cache) {
    let t = Setup::new(cache).await;
    let lm = http_date(-3600);
    t.origin.get(
        "/rl",
        Spec::ok(A)
            .cc("max-age=0")
            .header("last-modified", &lm)
            .revalidates(&[]),
    );
    t.client.get("/rl").await;
    assert_eq!(t.client.get("/rl").await.x_cache(), "REVALIDATED");
    assert_eq!(
        t.origin
            .last_headers("GET", "/rl")
            .get("if-modified-since")
            .unwrap(),
        lm.as_str()
    );
}

pub async fn revalidation_200_replaces_entry(cache: Cache) {
    let t = Setup::new(cache).await;
    t.origin.get(
        "/rr",
        Spec::ok(A)
            .cc("max-age=0")
            .header("etag", "\"v1\"")
            .revalidates(&[]),
    );
    t.client.get("/rr").await;
    t.origin.get(
        "/rr",
        Spec::ok("B")
            .cc("max-age=60")
            .header("etag", "\"v2\"")
            .revalidates(&[]),
    );
    let r2 = t.client.get("/rr").await;
    assert_eq!(
        (r2.x_cache(), r2.text().as_str(), r2.h("etag")),
        ("MISS", "B", Some("\"v2\""))
    );
    let r3 = t.client.get("/rr").await;
    assert_eq!((r3.x_cache(), r3.text().as_str()), ("HIT", "B"));
    assert_eq!(t.origin.gets("/rr"), 2);
}

// ---- invalidation by unsafe methods -----------------------------------------------------

async fn cached(t: &Setup, path: &str) {
    t.origin.get(path, Spec::ok(A).cc("max-age=60"));
    t.client.get(path).await;
    assert_eq!(
        t.client.get(path).await.x_cache(),
        "HIT",
        "{path} is cached"
    );
}

pub async fn post_invalidates_target_uri(cache: Cache) {
    let t = Setup::new(cache).await;
    cached(&t, "/items").await;
    t.origin
        .set("POST", "/items", Spec::ok("created").status(201));
    assert_eq!(t.client.send("POST", "/items", &[]).await.status, 201);
    assert_eq!(t.client.get("/items").await.x_cache(), "MISS");
}

pub async fn post_invalidates_location(cache: Cache) {
    let t = Setup::new(cache).await;
    cached(&t, "/items/1").await;
    t.origin.set(
        "POST",
        "/items",
        Spec::ok("").status(201).header("location", "/items/1"),
    );
    t.client.send("POST", "/items", &[]).await;
    assert_eq!(t.client.get("/items/1").await.x_cache(), "MISS");
}

pub async fn put_invalidates_content_location(cache: Cache) {
    let t = Setup::new(cache).await;
    cached(&t, "/items/2").await;
    t.origin.set(
        "PUT",
        "/x",
        Spec::ok("").header("content-location", "/items/2"),
    );
    t.client.send("PUT", "/x", &[]).await;
    assert_eq!(t.client.get("/items/2").await.x_cache(), "MISS");
}

pub async fn absolute_location_on_same_host_invalidates(cache: Cache) {
    let t = Setup::new(cache).await;
    cached(&t, "/items/3").await;
    let host = t.client.host();
    t.origin.set(
        "POST",
        "/items",
        Spec::ok("")
            .status(201)
            .header("location", &format!("http://{host}/items/3")),
    );
    t.client.send("POST", "/items", &[]).await;
    assert_eq!(t.client.get("/items/3").await.x_cache(), "MISS");
}

pub async fn location_on_other_host_is_ignored(cache: Cache) {
    let t = Setup::new(cache).await;
    cached(&t, "/items/4").await;
    t.origin.set(
        "POST",
        "/items",
        Spec::ok("")
            .status(201)
            .header("location", "http://elsewhere.example/items/4"),
    );
    t.client.send("POST", "/items", &[]).await;
    assert_eq!(t.client.get("/items/4").await.x_cache(), "HIT");
}

pub async fn failed_unsafe_method_does_not_invalidate(cache: Cache) {
    let t = Setup::new(cache).await;
    cached(&t, "/keep").await;
    t.origin.set("POST", "/keep", Spec::ok("nope").status(500));
    t.client.send("POST", "/keep", &[]).await;
    assert_eq!(t.client.get("/keep").await.x_cache(), "HIT");
}

pub async fn delete_invalidates_every_variant(cache: Cache) {
    let t = Setup::new(cache).await;
    t.origin.get("/v", vary_spec());
    let (en, fr) = ([("accept-language", "en")], [("accept-language", "fr")]);
    t.client.get_with("/v", &en).await;
    t.client.get_with("/v", &fr).await;
    t.origin.set("DELETE", "/v", Spec::ok("").status(204));
    t.client.send("DELETE", "/v", &[]).await;
    assert_eq!(t.client.get_with("/v", &en).await.x_cache(), "MISS");
    assert_eq!(t.client.get_with("/v", &fr).await.x_cache(), "MISS");
}

/// A GET fetched before a PUT's invalidation and answered after it: what it fetched must not
/// be served after the invalidation. `get` and `put` are the requests' extra headers; `layer`
/// configures the layer.
async fn fetch_overtaken(
    cache: Cache,
    layer: impl FnOnce(ResponseCacheLayer) -> ResponseCacheLayer,
    get: &[(&str, &str)],
    put: &[(&str, &str)],
) {
    let t = Setup::with(cache, layer).await;
    let gate = Arc::new(tokio::sync::Notify::new());
    t.origin.get(
        "/race",
        Spec::ok("old").cc("public, max-age=600").gate(&gate),
    );
    t.origin.set("PUT", "/race", Spec::ok("").status(204));
    let client = t.client.clone();
    let headers: Vec<(String, String)> = get
        .iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect();
    let slow = tokio::spawn(async move {
        let h: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (&**n, &**v)).collect();
        client.get_with("/race", &h).await
    });
    // The GET has reached the origin, which holds its answer: the PUT runs meanwhile.
    let origin = t.origin.clone();
    eventually(move || origin.gets("/race") == 1).await;
    t.origin
        .get("/race", Spec::ok("new").cc("public, max-age=600"));
    assert_eq!(t.client.send("PUT", "/race", put).await.status, 204);
    gate.notify_one();
    let old = slow.await.unwrap();
    assert_eq!((old.x_cache(), old.text().as_str()), ("MISS", "old"));
    let r = t.client.get_with("/race", get).await;
    assert_eq!(
        (r.x_cache(), r.text().as_str()),
        ("MISS", "new"),
        "the response fetched before the PUT outlived its invalidation"
    );
    assert_eq!(t.client.get_with("/race", get).await.x_cache(), "HIT");
}

/// Unsafe methods on some resources while many others fill the cache: every fill of a resource
/// nobody invalidated is stored (with invalidation counts shared by stripes of resources, 8-9 %
/// of them were dropped).
pub async fn fills_are_not_lost_to_unrelated_invalidations(cache: Cache) {
    const FILLS: usize = 2000;
    const GET_CONNS: usize = 8;
    let t = Setup::new(cache).await;
    for i in 0..FILLS {
        t.origin.get(
            &format!("/fill/{i}"),
            Spec::ok(&i.to_string()).cc("public, max-age=600"),
        );
    }
    for i in 0..16 {
        t.origin.set("PUT", &format!("/put/{i}"), Spec::ok("put"));
    }
    let filling = Arc::new(AtomicUsize::new(GET_CONNS));
    let putters: Vec<_> = (0..4)
        .map(|c| {
            // Concurrent requests on the pool: a connection each.
            let client = t.client.clone();
            let filling = Arc::clone(&filling);
            tokio::spawn(async move {
                let mut n = 0;
                while filling.load(SeqCst) > 0 {
                    let r = client
                        .send("PUT", &format!("/put/{}", (c + 4 * n) % 16), &[])
                        .await;
                    assert_eq!(r.status, 200);
                    n += 1;
                }
                n
            })
        })
        .collect();
    let getters: Vec<_> = (0..GET_CONNS)
        .map(|c| {
            let client = t.client.clone();
            let filling = Arc::clone(&filling);
            tokio::spawn(async move {
                for i in (c..FILLS).step_by(GET_CONNS) {
                    let r = client.get(&format!("/fill/{i}")).await;
                    assert_eq!((r.status, r.text()), (200, i.to_string()));
                }
                filling.fetch_sub(1, SeqCst);
            })
        })
        .collect();
    for g in getters {
        g.await.unwrap();
    }
    let mut puts = 0;
    for p in putters {
        puts += p.await.unwrap();
    }
    assert!(puts > 0, "no PUT ran while the cache filled");
    let mut missed = Vec::new();
    for i in 0..FILLS {
        let path = format!("/fill/{i}");
        if t.client.get(&path).await.x_cache() != "HIT" || t.origin.gets(&path) != 1 {
            missed.push(i);
        }
    }
    assert!(
        missed.is_empty(),
        "{} of {FILLS} fills were lost ({puts} PUTs to other paths ran meanwhile): {:?}",
        missed.len(),
        &missed[..missed.len().min(20)]
    );
}

/// A request with `Authorization` fetches without leading a flight, so the invalidation has no
/// flight to wait for.
pub async fn invalidation_is_not_overtaken_by_a_fetch_in_flight(cache: Cache) {
    fetch_overtaken(cache, |l| l, &AUTH, &[]).await;
}

/// With `vary_by`, the GET leads a flight under its own `vary_by` values, which are not the
/// PUT's.
pub async fn invalidation_is_not_overtaken_by_another_vary_by_fetch(cache: Cache) {
    fetch_overtaken(
        cache,
        |l| l.vary_by(["accept-language"]),
        &[("accept-language", "fr")],
        &[],
    )
    .await;
}

// ---- stale-while-revalidate, stale-if-error ---------------------------------------------

pub async fn stale_while_revalidate_serves_stale_then_refreshes(cache: Cache) {
    let t = Setup::new(cache).await;
    // One second stale on arrival, within a minute of stale-while-revalidate.
    t.origin.get(
        "/swr",
        Spec::ok(A)
            .cc("max-age=1, stale-while-revalidate=60")
            .header("age", "2"),
    );
    t.client.get("/swr").await;
    t.origin.get("/swr", Spec::ok("B").cc("max-age=60"));
    let r = t.client.get("/swr").await;
    assert_eq!(
        (r.status, r.x_cache(), r.text().as_str()),
        (200, "STALE", A)
    );
    let origin = t.origin.clone();
    eventually(move || origin.gets("/swr") == 2).await;
    let mut last = None;
    for _ in 0..100 {
        let r = t.client.get("/swr").await;
        if r.x_cache() == "HIT" {
            last = Some(r);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(last.expect("refreshed entry").text(), "B");
    assert_eq!(t.origin.gets("/swr"), 2);
}

pub async fn stale_while_revalidate_window_exceeded_revalidates(cache: Cache) {
    let t = Setup::new(cache).await;
    t.origin.get(
        "/swr2",
        Spec::ok(A)
            .cc("max-age=1, stale-while-revalidate=1")
            .header("age", "10")
            .header("etag", "\"v1\""),
    );
    t.client.get("/swr2").await;
    let r = t.client.get("/swr2").await;
    assert_eq!(r.x_cache(), "MISS");
    assert_eq!(t.origin.gets("/swr2"), 2);
}

pub async fn stale_if_error_serves_stale_on_500(cache: Cache) {
    let t = Setup::new(cache).await;
    t.origin.get(
        "/sie",
        Spec::ok(A)
            .cc("max-age=1, stale-if-error=600")
            .header("age", "2"),
    );
    t.client.get("/sie").await;
    t.origin.get("/sie", Spec::ok("boom").status(500));
    let r = t.client.get("/sie").await;
    assert_eq!(
        (r.status, r.x_cache(), r.text().as_str()),
        (200, "STALE", A)
    );
    assert_eq!(t.origin.gets("/sie"), 2);
}

pub async fn stale_if_error_window_exceeded_passes_error(cache: Cache) {
    let t = Setup::new(cache).await;
    t.origin.get(
        "/sie2",
        Spec::ok(A)
            .cc("max-age=1, stale-if-error=1")
            .header("age", "10")
            .header("etag", "\"v1\""),
    );
    t.client.get("/sie2").await;
    t.origin.get("/sie2", Spec::ok("boom").status(500));
    let r = t.client.get("/sie2").await;
    assert_eq!((r.status, r.text().as_str()), (500, "boom"));
}

pub async fn no_stale_if_error_passes_error(cache: Cache) {
    let t = Setup::new(cache).await;
    t.origin.get(
        "/sie3",
        Spec::ok(A)
            .cc("max-age=1")
            .header("age", "2")
            .header("etag", "\"v1\""),
    );
    t.client.get("/sie3").await;
    t.origin.get("/sie3", Spec::ok("boom").status(503));
    assert_eq!(t.client.get("/sie3").await.status, 503);
}

// ---- Authorization, Set-Cookie ----------------------------------------------------------

const AUTH: [(&str, &str); 1] = [("authorization", "Bearer secret")];

pub async fn authorization_response_is_not_stored(cache: Cache) {
    let t = Setup::new(cache).await;
    t.origin.get("/me", Spec::ok(A).cc("max-age=60"));
    t.client.get_with("/me", &AUTH).await;
    assert_eq!(t.client.get_with("/me", &AUTH).await.x_cache(), "MISS");
    assert_eq!(t.client.get("/me").await.x_cache(), "MISS");
    assert_eq!(t.origin.gets("/me"), 3);
}

pub async fn authorization_request_skips_unshared_entry(cache: Cache) {
    let t = Setup::new(cache).await;
    t.origin.get("/doc", Spec::ok(A).cc("max-age=60"));
    t.client.get("/doc").await;
    assert_eq!(t.client.get_with("/doc", &AUTH).await.x_cache(), "MISS");
    assert_eq!(t.client.get("/doc").await.x_cache(), "HIT");
    assert_eq!(t.origin.gets("/doc"), 2);
}

async fn auth_shared(cache: Cache, cc: &str) {
    let t = Setup::new(cache).await;
    t.origin.get("/pub", Spec::ok(A).cc(cc));
    t.client.get_with("/pub", &AUTH).await;
    assert_eq!(
        t.client.get_with("/pub", &AUTH).await.x_cache(),
        "HIT",
        "{cc}"
    );
    assert_eq!(t.client.get("/pub").await.x_cache(), "HIT", "{cc}");
    assert_eq!(t.origin.gets("/pub"), 1);
}

pub async fn authorization_with_public_is_shared(cache: Cache) {
    auth_shared(cache, "public, max-age=60").await;
}

pub async fn authorization_with_s_maxage_is_shared(cache: Cache) {
    auth_shared(cache, "s-maxage=60").await;
}

pub async fn authorization_with_must_revalidate_is_shared(cache: Cache) {
    auth_shared(cache, "max-age=60, must-revalidate").await;
}

pub async fn set_cookie_is_not_stored(cache: Cache) {
    let t = Setup::new(cache).await;
    t.origin.get(
        "/ck",
        Spec::ok(A)
            .cc("max-age=60")
            .header("set-cookie", "session=abc"),
    );
    t.client.get("/ck").await;
    let r = t.client.get("/ck").await;
    assert_eq!(
        (r.x_cache(), r.h("set-cookie")),
        ("MISS", Some("session=abc"))
    );
    assert_eq!(t.origin.gets("/ck"), 2);
}

pub async fn set_cookie_is_stored_when_allowed(cache: Cache) {
    let t = Setup::with(cache, |l| l.store_set_cookie(true)).await;
    t.origin.get(
        "/ck",
        Spec::ok(A)
            .cc("max-age=60")
            .header("set-cookie", "theme=dark"),
    );
    t.client.get("/ck").await;
    assert_eq!(t.client.get("/ck").await.x_cache(), "HIT");
}

// ---- body bound -------------------------------------------------------------------------

pub async fn oversized_body_streams_through_unstored(cache: Cache) {
    let t = Setup::with(cache, |l| l.max_body(1024)).await;
    let big = Bytes::from(vec![b'x'; 4096]);
    t.origin
        .get("/big", Spec::ok("").cc("max-age=60").body(big.clone()));
    let r = t.client.get("/big").await;
    assert_eq!((r.status, r.x_cache()), (200, "MISS"));
    assert_eq!(r.body, big);
    assert_eq!(t.client.get("/big").await.x_cache(), "MISS");
    assert_eq!(t.origin.gets("/big"), 2);
}

pub async fn oversized_stream_without_length_streams_through(cache: Cache) {
    let t = Setup::with(cache, |l| l.max_body(1024)).await;
    let mut spec = Spec::ok("")
        .cc("max-age=60")
        .body(Bytes::from(vec![b'y'; 1000]));
    spec.stream_chunks = Some(8);
    t.origin.get("/stream", spec);
    let r = t.client.get("/stream").await;
    assert_eq!(r.body, Bytes::from(vec![b'y'; 8000]));
    assert_eq!(t.client.get("/stream").await.x_cache(), "MISS");
    assert_eq!(t.origin.gets("/stream"), 2);
}

pub async fn small_stream_is_stored(cache: Cache) {
    let t = Setup::with(cache, |l| l.max_body(1024)).await;
    let mut spec = Spec::ok("")
        .cc("max-age=60")
        .body(Bytes::from(vec![b'z'; 100]));
    spec.stream_chunks = Some(3);
    t.origin.get("/small", spec);
    t.client.get("/small").await;
    let r = t.client.get("/small").await;
    assert_eq!((r.x_cache(), r.body.len()), ("HIT", 300));
}

// ---- streaming while storing --------------------------------------------------------------

/// An origin route that sends its headers, then `chunks` chunks of `size` bytes, the first at
/// once and the next ones `every` apart; `sent` counts the chunks handed to the server.
fn slow_body(
    chunks: usize,
    size: usize,
    every: Duration,
    sent: Arc<AtomicUsize>,
    calls: Arc<AtomicUsize>,
) -> Router {
    Router::new().route(
        "/slow",
        get(move || {
            let sent = Arc::clone(&sent);
            calls.fetch_add(1, SeqCst);
            async move {
                let stream = futures_util::stream::unfold(0usize, move |i| {
                    let sent = Arc::clone(&sent);
                    async move {
                        if i == chunks {
                            return None;
                        }
                        if i > 0 {
                            tokio::time::sleep(every).await;
                        }
                        sent.fetch_add(1, SeqCst);
                        Some((
                            Ok::<_, std::io::Error>(Bytes::from(vec![b's'; size])),
                            i + 1,
                        ))
                    }
                });
                (
                    [("cache-control", "public, max-age=60")],
                    axum::body::Body::from_stream(stream),
                )
            }
        })
        .put(|| async { http::StatusCode::NO_CONTENT }),
    )
}

/// A client whose responses are read by hand (frame by frame, or abandoned).
fn raw_client() -> hyper_util::client::legacy::Client<
    hyper_util::client::legacy::connect::HttpConnector,
    http_body_util::Full<Bytes>,
> {
    hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build_http()
}

/// Sends `GET path` and reads the response frame by frame: the headers, the time from sending
/// to the first body bytes, what `sent` said then, and the whole body.
async fn get_streamed(
    addr: std::net::SocketAddr,
    path: &str,
    sent: &AtomicUsize,
) -> (http::HeaderMap, Duration, usize, Bytes) {
    use http_body_util::BodyExt as _;
    let client = raw_client();
    let started = std::time::Instant::now();
    let res = client
        .get(format!("http://{addr}{path}").parse().unwrap())
        .await
        .unwrap();
    let (head, mut body) = res.into_parts();
    let mut first = None;
    let mut all = Vec::new();
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame.unwrap().into_data() {
            if !data.is_empty() && first.is_none() {
                first = Some((started.elapsed(), sent.load(SeqCst)));
            }
            all.extend_from_slice(&data);
        }
    }
    let (elapsed, sent_then) = first.expect("a body");
    (head.headers, elapsed, sent_then, Bytes::from(all))
}

pub async fn a_slow_storable_response_streams_while_it_is_stored(cache: Cache) {
    // 1 MiB over 2 s: 16 chunks of 64 KiB, 125 ms apart.
    let (sent, calls) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let app = slow_body(
        16,
        64 << 10,
        Duration::from_millis(125),
        sent.clone(),
        calls.clone(),
    )
    .layer(ResponseCacheLayer::new(cache));
    let addr = serve(app).await;
    let first = tokio::spawn({
        let sent = sent.clone();
        async move { get_streamed(addr, "/slow", &sent).await }
    });
    // A second request for it while it streams waits for the stored copy.
    eventually(|| sent.load(SeqCst) >= 3).await;
    let waiter = Client::new(addr).get("/slow").await;
    let (headers, elapsed, sent_then, body) = first.await.unwrap();
    eprintln!("first body bytes after {elapsed:?}, with {sent_then} of 16 chunks sent");
    assert_eq!(headers["x-cache"], "MISS");
    // The client had bytes while the origin had sent the first chunk or two of sixteen (it
    // sends one every 125 ms): not after the origin was done, as when buffered.
    assert!(
        sent_then <= 2,
        "first bytes only after {sent_then} chunks ({elapsed:?})"
    );
    assert_eq!(body.len(), 1 << 20);
    assert_eq!((waiter.x_cache(), waiter.body.len()), ("HIT", 1 << 20));
    let again = Client::new(addr).get("/slow").await;
    assert_eq!((again.x_cache(), again.body.len()), ("HIT", 1 << 20));
    assert_eq!(calls.load(SeqCst), 1);
}

pub async fn a_stream_that_outgrows_max_body_streams_on_unstored(cache: Cache) {
    let (sent, calls) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let app = slow_body(
        8,
        1000,
        Duration::from_millis(20),
        sent.clone(),
        calls.clone(),
    )
    .layer(ResponseCacheLayer::new(cache).max_body(4000));
    let addr = serve(app).await;
    let (headers, _, _, body) = get_streamed(addr, "/slow", &sent).await;
    assert_eq!(
        (headers["x-cache"].to_str().unwrap(), body.len()),
        ("MISS", 8000)
    );
    let again = Client::new(addr).get("/slow").await;
    assert_eq!((again.x_cache(), again.body.len()), ("MISS", 8000));
    assert_eq!(calls.load(SeqCst), 2);
}

pub async fn an_invalidation_does_not_wait_for_a_streaming_fill(cache: Cache) {
    let (sent, calls) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let app = slow_body(
        16,
        1000,
        Duration::from_millis(100),
        sent.clone(),
        calls.clone(),
    )
    .layer(ResponseCacheLayer::new(cache));
    let addr = serve(app).await;
    let streaming = tokio::spawn({
        let sent = sent.clone();
        async move { get_streamed(addr, "/slow", &sent).await }
    });
    eventually(|| sent.load(SeqCst) >= 2).await;
    let put = Client::new(addr).send("PUT", "/slow", &[]).await;
    assert_eq!(put.status, 204);
    // Answered while the fill still streams (a chunk every 100 ms), not after it.
    let sent_then = sent.load(SeqCst);
    assert!(
        sent_then < 16,
        "the PUT waited for the stream ({sent_then} chunks)"
    );
    let (_, _, _, body) = streaming.await.unwrap();
    assert_eq!(body.len(), 16_000);
    // What was fetched before the PUT is not kept after it.
    let r = Client::new(addr).get("/slow").await;
    assert_eq!((r.x_cache(), r.body.len()), ("MISS", 16_000));
    assert_eq!(calls.load(SeqCst), 2);
}

pub async fn a_client_that_leaves_mid_stream_stores_nothing(cache: Cache) {
    use http_body_util::BodyExt as _;
    let (sent, calls) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let app = slow_body(
        20,
        1000,
        Duration::from_millis(50),
        sent.clone(),
        calls.clone(),
    )
    .layer(ResponseCacheLayer::new(cache));
    let addr = serve(app).await;
    {
        let client = raw_client();
        let res = client
            .get(format!("http://{addr}/slow").parse().unwrap())
            .await
            .unwrap();
        let mut body = res.into_body();
        body.frame().await.unwrap().unwrap();
        // Dropping the client and the body closes the connection mid-body.
    }
    // The next request neither waits for the abandoned fill nor gets a truncated copy.
    let r = Client::new(addr).get("/slow").await;
    assert_eq!((r.x_cache(), r.body.len()), ("MISS", 20_000));
    assert_eq!(calls.load(SeqCst), 2);
    assert_eq!(Client::new(addr).get("/slow").await.x_cache(), "HIT");
}

// ---- Cache-Status (RFC 9211) ----------------------------------------------------------------

pub async fn cache_status_reports_hits_and_why_requests_went_on(cache: Cache) {
    let t = Setup::with(cache, |l| {
        l.cache_status(Some("edge"))
            .cache_status_key(true)
            .status_header(None)
    })
    .await;
    let cs = |r: &crate::support::Resp| r.h("cache-status").unwrap_or("<none>").to_owned();
    t.origin.get("/a", Spec::ok(A).cc("max-age=60"));
    let miss = t.client.get("/a").await;
    assert_eq!(
        cs(&miss),
        "edge; fwd=uri-miss; stored; ttl=60; key=\"rc:/a\""
    );
    // Instead of the status field, not beside it.
    assert_eq!(miss.h("x-cache"), None);
    let hit = t.client.get("/a").await;
    assert!(cs(&hit).starts_with("edge; hit; ttl="), "{}", cs(&hit));
    assert!(cs(&hit).ends_with("; key=\"rc:/a\""), "{}", cs(&hit));
    // A fresh response the request's directives rule out.
    let forced = t
        .client
        .get_with("/a", &[("cache-control", "no-cache")])
        .await;
    assert!(
        cs(&forced).starts_with("edge; fwd=request; stored"),
        "{}",
        cs(&forced)
    );

    t.origin.get("/v", vary_spec());
    let en = t.client.get_with("/v", &[("accept-language", "en")]).await;
    assert!(
        cs(&en).starts_with("edge; fwd=uri-miss; stored"),
        "{}",
        cs(&en)
    );
    let fr = t.client.get_with("/v", &[("accept-language", "fr")]).await;
    assert!(
        cs(&fr).starts_with("edge; fwd=vary-miss; stored"),
        "{}",
        cs(&fr)
    );

    t.origin.get(
        "/r",
        Spec::ok(A)
            .cc("max-age=0")
            .header("etag", "\"v1\"")
            .revalidates(&[("cache-control", "max-age=60")]),
    );
    t.client.get("/r").await;
    let revalidated = t.client.get("/r").await;
    assert!(
        cs(&revalidated).starts_with("edge; fwd=stale; fwd-status=304; stored; ttl=60"),
        "{}",
        cs(&revalidated)
    );

    let only = t
        .client
        .get_with("/none", &[("cache-control", "only-if-cached")])
        .await;
    assert_eq!(
        (only.status, cs(&only).as_str()),
        (504, "edge; detail=only-if-cached")
    );
    t.origin.set("POST", "/a", Spec::ok("done"));
    let post = t.client.send("POST", "/a", &[]).await;
    assert_eq!(cs(&post), "edge; fwd=method");
    let precondition = t.client.get_with("/a", &[("if-match", "*")]).await;
    assert_eq!(cs(&precondition), "edge; fwd=bypass");
    t.origin.get("/p", Spec::ok(A).cc("private"));
    let private = t.client.get("/p").await;
    assert_eq!(cs(&private), "edge; fwd=uri-miss; key=\"rc:/p\"");
}

pub async fn cache_status_is_off_by_default_and_hides_keys_unless_asked(cache: Cache) {
    let t = Setup::new(cache.clone()).await;
    t.origin.get("/a", Spec::ok(A).cc("max-age=60"));
    let r = t.client.get("/a").await;
    assert_eq!((r.x_cache(), r.h("cache-status")), ("MISS", None));
    let t = Setup::with(cache, |l| l.cache_status(Some("my cache"))).await;
    t.origin.get("/b", Spec::ok(A).cc("max-age=60"));
    let r = t.client.get("/b").await;
    assert_eq!(
        (r.x_cache(), r.h("cache-status")),
        ("MISS", Some("\"my cache\"; fwd=uri-miss; stored; ttl=60"))
    );
    let r = t.client.get("/b").await;
    assert_eq!(r.x_cache(), "HIT");
    assert!(r
        .h("cache-status")
        .unwrap()
        .starts_with("\"my cache\"; hit; ttl="));
    assert!(!r.h("cache-status").unwrap().contains("key="));
}

// ---- coalescing -------------------------------------------------------------------------

pub async fn hundred_concurrent_misses_call_origin_once(cache: Cache) {
    let t = Setup::new(cache).await;
    t.origin.get(
        "/hot",
        Spec::ok(A)
            .cc("max-age=60")
            .delay(Duration::from_millis(300)),
    );
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let c = t.client.clone();
            tokio::spawn(async move { c.get("/hot").await })
        })
        .collect();
    for task in tasks {
        let r = task.await.unwrap();
        assert_eq!((r.status, r.text().as_str()), (200, A));
    }
    assert_eq!(t.origin.gets("/hot"), 1);
}

// ---- options ----------------------------------------------------------------------------

pub async fn tag_header_is_stripped_and_purgeable(cache: Cache) {
    let t = Setup::new(cache).await;
    t.origin.get(
        "/tagged",
        Spec::ok(A)
            .cc("max-age=60")
            .header("cache-tag", "users, admins"),
    );
    let r = t.client.get("/tagged").await;
    assert_eq!(r.h("cache-tag"), None);
    assert_eq!(t.client.get("/tagged").await.x_cache(), "HIT");
    assert!(t.cache.invalidate_tags(["admins"]).await.unwrap() >= 1);
    assert_eq!(t.client.get("/tagged").await.x_cache(), "MISS");
}

/// A counter-backed handler app for scenarios that need typed responses.
fn counted(calls: &Arc<AtomicUsize>) -> Arc<AtomicUsize> {
    Arc::clone(calls)
}

pub async fn cache_options_extension_sets_ttl_and_tags(cache: Cache) {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = counted(&calls);
    let app = Router::new()
        .route(
            "/ext",
            get(move || {
                let c = Arc::clone(&c);
                async move {
                    c.fetch_add(1, SeqCst);
                    (
                        CacheOptions::new().ttl(Duration::from_secs(60)).tag("ext"),
                        "typed",
                    )
                }
            }),
        )
        .layer(ResponseCacheLayer::new(cache.clone()));
    let client = Client::new(serve(app).await);
    client.get("/ext").await;
    assert_eq!(client.get("/ext").await.x_cache(), "HIT");
    cache.invalidate_tags(["ext"]).await.unwrap();
    assert_eq!(client.get("/ext").await.x_cache(), "MISS");
    assert_eq!(calls.load(SeqCst), 2);
}

pub async fn cache_options_no_store(cache: Cache) {
    let app = Router::new()
        .route(
            "/x",
            get(|| async {
                (
                    CacheOptions::new().no_store(),
                    [("cache-control", "max-age=60")],
                    "x",
                )
            }),
        )
        .layer(ResponseCacheLayer::new(cache));
    let client = Client::new(serve(app).await);
    client.get("/x").await;
    assert_eq!(client.get("/x").await.x_cache(), "MISS");
}

pub async fn predicate_bypasses(cache: Cache) {
    let t = Setup::with(cache, |l| {
        l.predicate(|req| !req.uri.path().starts_with("/admin"))
    })
    .await;
    t.origin.get("/admin/x", Spec::ok(A).cc("max-age=60"));
    assert_eq!(t.client.get("/admin/x").await.x_cache(), "BYPASS");
    assert_eq!(t.client.get("/admin/x").await.x_cache(), "BYPASS");
    assert_eq!(t.origin.gets("/admin/x"), 2);
}

pub async fn key_fn_replaces_the_key(cache: Cache) {
    let t = Setup::with(cache, |l| l.key_fn(|req| Some(req.uri.path().to_owned()))).await;
    t.origin.get("/q?x=1", Spec::ok(A).cc("max-age=60"));
    t.client.get("/q?x=1").await;
    let r = t.client.get("/q?x=2").await;
    assert_eq!((r.x_cache(), r.text().as_str()), ("HIT", A));
}

pub async fn status_header_can_be_renamed(cache: Cache) {
    let t = Setup::with(cache, |l| l.status_header(Some("x-cache-status"))).await;
    t.origin.get("/sh", Spec::ok(A).cc("max-age=60"));
    let r = t.client.get("/sh").await;
    assert_eq!(
        (r.h("x-cache-status"), r.h("x-cache")),
        (Some("MISS"), None)
    );
}

pub async fn route_layer_caches_one_route_only(cache: Cache) {
    let calls = Arc::new(AtomicUsize::new(0));
    let (c1, c2) = (counted(&calls), counted(&calls));
    let app = Router::new()
        .route(
            "/cached",
            get(move || {
                c1.fetch_add(1, SeqCst);
                async { ([("cache-control", "max-age=60")], "c") }
            }),
        )
        .route_layer(ResponseCacheLayer::new(cache))
        .route(
            "/plain",
            get(move || {
                c2.fetch_add(1, SeqCst);
                async { ([("cache-control", "max-age=60")], "p") }
            }),
        );
    let client = Client::new(serve(app).await);
    for _ in 0..3 {
        client.get("/cached").await;
    }
    assert_eq!(calls.load(SeqCst), 1);
    for _ in 0..3 {
        assert_eq!(client.get("/plain").await.h("x-cache"), None);
    }
    assert_eq!(calls.load(SeqCst), 4);
    assert_eq!(client.get("/nowhere").await.status, 404);
}

pub async fn client_if_none_match_is_answered_from_cache(cache: Cache) {
    let t = Setup::new(cache).await;
    t.origin.get(
        "/inm",
        Spec::ok(A)
            .cc("max-age=60")
            .header("etag", "\"v1\"")
            .header("content-type", "text/plain"),
    );
    let first = t
        .client
        .get_with("/inm", &[("if-none-match", "\"v1\"")])
        .await;
    assert_eq!((first.status, first.x_cache()), (304, "MISS"));
    let r = t
        .client
        .get_with("/inm", &[("if-none-match", "W/\"v0\", W/\"v1\"")])
        .await;
    assert_eq!(
        (r.status, r.x_cache(), r.h("etag")),
        (304, "HIT", Some("\"v1\""))
    );
    assert!(r.body.is_empty());
    assert_eq!(
        (r.h("cache-control"), r.h("content-type")),
        (Some("max-age=60"), None)
    );
    let full = t
        .client
        .get_with("/inm", &[("if-none-match", "\"other\"")])
        .await;
    assert_eq!((full.status, full.text().as_str()), (200, A));
    assert_eq!(t.origin.gets("/inm"), 1);
}

pub async fn client_if_modified_since_is_answered_from_cache(cache: Cache) {
    let t = Setup::new(cache).await;
    let lm = http_date(-3600);
    t.origin.get(
        "/ims",
        Spec::ok(A).cc("max-age=60").header("last-modified", &lm),
    );
    t.client.get("/ims").await;
    assert_eq!(
        t.client
            .get_with("/ims", &[("if-modified-since", &http_date(0))])
            .await
            .status,
        304
    );
    assert_eq!(
        t.client
            .get_with("/ims", &[("if-modified-since", &http_date(-7200))])
            .await
            .status,
        200
    );
    assert_eq!(t.origin.gets("/ims"), 1);
}

pub async fn corrupt_entry_is_a_miss(cache: Cache) {
    let t = Setup::new(cache.clone()).await;
    cache
        .set_bytes("rc:/corrupt", Bytes::from_static(b"RC\x01\x00garbage"), ())
        .await
        .unwrap();
    t.origin.get("/corrupt", Spec::ok(A).cc("max-age=60"));
    let r = t.client.get("/corrupt").await;
    assert_eq!((r.status, r.x_cache(), r.text().as_str()), (200, "MISS", A));
    assert_eq!(t.client.get("/corrupt").await.x_cache(), "HIT");
}

pub async fn malformed_headers_never_fail(cache: Cache) {
    let t = Setup::new(cache).await;
    t.origin.get(
        "/mal",
        Spec::ok(A)
            .cc("max-age=\"abc, ,,=, s-maxage=, no-store=")
            .header("expires", "not a date")
            .header("vary", ",,,")
            .header("age", "-3")
            .header("etag", "no quotes"),
    );
    let bad = [
        ("cache-control", "max-stale=abc, max-age=-1, min-fresh=\""),
        ("if-none-match", "\"unterminated"),
        ("if-modified-since", "yesterday"),
    ];
    for _ in 0..2 {
        let r = t.client.get_with("/mal", &bad).await;
        assert_eq!((r.status, r.text().as_str()), (200, A));
    }
}

pub async fn state_and_layer_cache_extractors(cache: Cache) {
    async fn write(State(cache): State<Cache>) -> &'static str {
        cache.set("from-state", &"yes").await.unwrap();
        "ok"
    }
    async fn read(LayerCache(cache): LayerCache) -> String {
        cache
            .get::<String>("from-state")
            .await
            .unwrap()
            .unwrap_or_default()
    }
    let app = Router::new()
        .route("/write", get(write))
        .route("/read", get(read))
        .layer(ResponseCacheLayer::new(cache.clone()))
        .with_state(cache.clone());
    let client = Client::new(serve(app).await);
    assert_eq!(client.get("/write").await.text(), "ok");
    assert_eq!(client.get("/read").await.text(), "yes");
    assert_eq!(
        cache.get::<String>("from-state").await.unwrap().as_deref(),
        Some("yes")
    );
}

// ---- two instances, one store -----------------------------------------------------------

/// Two app instances (two servers, two `Cache` handles) on one shared store: a response
/// cached by one is a hit on the other, and an unsafe method on one invalidates for both.
pub async fn two_instances_share_one_store(store: Arc<dyn Store>) {
    let handle = || {
        Cache::builder()
            .store_arc(Arc::clone(&store))
            .build_now()
            .unwrap()
    };
    let (a, b) = (Setup::new(handle()).await, Setup::new(handle()).await);
    for t in [&a, &b] {
        t.origin.get("/shared", Spec::ok(A).cc("max-age=60"));
        t.origin.set("POST", "/shared", Spec::ok("").status(204));
    }
    // Stores are written behind the response: another instance sees them once they land.
    let probe = handle();
    let landed = || async {
        for _ in 0..500 {
            if probe.get_bytes("rc:/shared").await.unwrap().is_some() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the write never landed");
    };
    assert_eq!(a.client.get("/shared").await.x_cache(), "MISS");
    landed().await;
    let rb = b.client.get("/shared").await;
    assert_eq!((rb.x_cache(), rb.text().as_str()), ("HIT", A));
    assert_eq!((a.origin.gets("/shared"), b.origin.gets("/shared")), (1, 0));
    b.client.send("POST", "/shared", &[]).await;
    assert_eq!(a.client.get("/shared").await.x_cache(), "MISS");
    landed().await;
    assert_eq!(b.client.get("/shared").await.x_cache(), "HIT");
    assert_eq!((a.origin.gets("/shared"), b.origin.gets("/shared")), (2, 0));
}
