//! The README's way of adding `EtagLayer` protects writes, and the way that cannot says so in the
//! log. Run with: cargo test -p cache-axum --test etag_readme_memory
//!
//! `readme_app` holds the README's snippet between two markers; a test reads this file and
//! checks that README.md shows exactly those lines, so the code served here is the code users
//! copy.

mod support;

use std::io;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::routing::get;
use axum::Router;
use cache_axum::EtagLayer;
use support::{serve, Client, Resp};

#[rustfmt::skip]
fn readme_app() -> Router {
    // README begin
    use std::time::Duration;
    use axum::{extract::State, http::StatusCode, routing::get, Router};
    use cache_axum::{CacheOptions, EtagLayer, ResponseCacheLayer};
    use cache_core::Cache;

    async fn posts(State(cache): State<Cache>) -> (CacheOptions, [(&'static str, &'static str); 1], String) {
        let n: u64 = cache.get_or_set("posts:count", (), || async { 3 }).await;
        (CacheOptions::new().tag("posts"), [("cache-control", "public, max-age=60")], format!("{n} posts"))
    }

    async fn set_posts(State(cache): State<Cache>, body: String) -> StatusCode {
        let Ok(n) = body.trim().parse::<u64>() else { return StatusCode::BAD_REQUEST };
        match cache.set("posts:count", &n).await {
            Ok(()) => StatusCode::NO_CONTENT,
            Err(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    let cache = Cache::memory();
    let routes = Router::new()
        .route("/posts", get(posts).put(set_posts))
        .with_state(cache.clone());
    // `wrap`, not `.layer`: a PUT whose If-Match is stale gets 412 and never reaches `set_posts`.
    let app: Router = EtagLayer::new()
        .wrap(routes)
        .layer(ResponseCacheLayer::new(cache).default_ttl(Duration::from_secs(10)));
    // README end
    app
}

/// The snippet's lines as README.md shows them (this file's lines between the markers,
/// unindented).
fn snippet() -> String {
    let source = include_str!("etag_readme_memory.rs");
    let (_, rest) = source
        .split_once("// README begin\n")
        .expect("begin marker");
    let (body, _) = rest.split_once("    // README end\n").expect("end marker");
    body.lines()
        .map(|l| l.strip_prefix("    ").unwrap_or(l))
        .map(|l| format!("{l}\n"))
        .collect()
}

#[test]
fn the_readme_shows_this_snippet_verbatim() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
        .expect("README.md");
    let block = format!("```rust\n{}", snippet());
    assert!(
        readme.contains(&block),
        "README.md no longer shows the snippet of this test; update one or the other:\n{block}"
    );
}

/// Log lines written while `f` runs on this thread, at every level.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Logs {
    /// Captures this thread's logs until the guard drops (the tests run on a current-thread
    /// runtime, so the server's tasks log on this thread too).
    fn capture(&self) -> tracing::subscriber::DefaultGuard {
        let logs = self.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || logs.clone())
            .with_ansi(false)
            .with_max_level(tracing::Level::DEBUG)
            .finish();
        tracing::subscriber::set_default(subscriber)
    }
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
    fn count(&self, needle: &str) -> usize {
        self.text().lines().filter(|l| l.contains(needle)).count()
    }
}

async fn put(c: &Client, headers: &[(&str, &str)], body: &str) -> Resp {
    c.send_body("PUT", "/posts", headers, body).await
}

/// The posts as the handler has them now (past the response cache).
async fn posts_now(c: &Client) -> String {
    c.get_with("/posts", &[("cache-control", "no-cache")])
        .await
        .text()
}

#[tokio::test]
async fn the_readme_snippet_refuses_writes_whose_preconditions_fail() {
    let logs = Logs::default();
    let _guard = logs.capture();
    let c = Client::new(serve(readme_app()).await);
    let first = c.get("/posts").await;
    assert_eq!(first.text(), "3 posts");
    let etag = first.h("etag").expect("an ETag").to_owned();

    // A made-up ETag: refused, and the handler did not run.
    let bogus = put(&c, &[("if-match", "\"bogus\"")], "4").await;
    assert_eq!(bogus.status, 412);
    assert_eq!(posts_now(&c).await, "3 posts");

    // If-None-Match: * means "only if it does not exist yet"; it exists.
    let create_only = put(&c, &[("if-none-match", "*")], "4").await;
    assert_eq!(create_only.status, 412);
    assert_eq!(posts_now(&c).await, "3 posts");

    // The ETag the client read: the write goes through.
    let ok = put(&c, &[("if-match", &etag)], "5").await;
    assert_eq!(ok.status, 204);
    let after = c.get("/posts").await;
    assert_eq!(after.text(), "5 posts");
    assert_ne!(after.h("etag"), Some(etag.as_str()));

    // A second client still holding the first ETag: its update would be lost, so it is refused.
    let stale = put(&c, &[("if-match", &etag)], "6").await;
    assert_eq!(stale.status, 412);
    assert_eq!(posts_now(&c).await, "5 posts");

    // Without a precondition a PUT is a plain write.
    assert_eq!(put(&c, &[], "7").await.status, 204);
    assert_eq!(posts_now(&c).await, "7 posts");
    assert_eq!(
        logs.count("not evaluated"),
        0,
        "every precondition was evaluated:\n{}",
        logs.text()
    );
}

async fn doc() -> &'static str {
    "v1"
}

async fn put_doc(State(writes): State<Arc<Mutex<u32>>>) -> &'static str {
    *writes.lock().unwrap() += 1;
    "written"
}

/// The start of the warning's line.
const WARNED: &str = "WARN cache_axum: If-";

#[tokio::test]
async fn behind_routing_a_precondition_passes_with_a_warning_once_per_route() {
    let logs = Logs::default();
    let _guard = logs.capture();
    let writes = Arc::new(Mutex::new(0));
    let app = Router::new()
        .route("/doc", get(doc).put(put_doc))
        .route("/other", get(doc).put(put_doc))
        .with_state(writes.clone())
        .layer(EtagLayer::new());
    let c = Client::new(serve(app).await);

    let r = c.send("PUT", "/doc", &[("if-match", "\"bogus\"")]).await;
    assert_eq!((r.status, r.text().as_str()), (200, "written"));
    assert_eq!(
        *writes.lock().unwrap(),
        1,
        "the handler ran: nothing was checked"
    );
    let text = logs.text();
    let warning = text
        .lines()
        .find(|l| l.contains("WARN") && l.contains("not evaluated"))
        .unwrap_or_else(|| panic!("no warning in:\n{text}"));
    for part in [
        "If-Match on PUT /doc not evaluated",
        "route=\"/doc\"",
        "`EtagLayer::new().wrap(router)`",
    ] {
        assert!(warning.contains(part), "{part:?} not in {warning}");
    }

    // Once per route: the next one on /doc is logged at debug level only.
    c.send("PUT", "/doc", &[("if-none-match", "*")]).await;
    assert_eq!(logs.count(WARNED), 1, "{}", logs.text());
    assert_eq!(
        logs.count("DEBUG cache_axum: precondition not evaluated"),
        1
    );

    // Another route warns on its own, naming the field it could not check.
    let date = support::http_date(-60);
    c.send("PUT", "/other", &[("if-unmodified-since", &date)])
        .await;
    assert_eq!(logs.count(WARNED), 2, "{}", logs.text());
    assert_eq!(
        logs.count("If-Unmodified-Since on PUT /other not evaluated"),
        1
    );
    assert_eq!(*writes.lock().unwrap(), 3);
}

#[tokio::test]
async fn a_get_that_fails_for_want_of_a_later_layer_is_logged() {
    let logs = Logs::default();
    let _guard = logs.capture();
    #[derive(Clone)]
    struct Greeting(&'static str);
    let routes = Router::new().route(
        "/doc",
        get(|axum::Extension(g): axum::Extension<Greeting>| async move { g.0 })
            .put(|| async { "written" }),
    );
    // The Extension is added after `wrap`: the GET for the preconditions runs without it.
    let app = EtagLayer::new()
        .wrap(routes)
        .layer(axum::Extension(Greeting("hello")));
    let c = Client::new(serve(app).await);
    assert_eq!(c.get("/doc").await.text(), "hello");
    let r = c.send("PUT", "/doc", &[("if-match", "*")]).await;
    assert_eq!(r.status, 412, "evaluated as if /doc had no representation");
    let warning = logs
        .text()
        .lines()
        .find(|l| l.contains("WARN cache_axum: the GET"))
        .map(str::to_owned)
        .unwrap_or_else(|| panic!("no warning in:\n{}", logs.text()));
    for part in ["answered 500", "add that layer to the router before `wrap`"] {
        assert!(warning.contains(part), "{part:?} not in {warning}");
    }
}
